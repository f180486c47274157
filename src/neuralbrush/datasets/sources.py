"""Walking the inputs of ``dataset build``: folders (recursive), zip files, single files.

Each candidate image becomes a :class:`SourceItem` that knows how to read its own bytes, so
the work of reading can happen in a worker process. Zip members are read in memory; their
nested paths are kept (``archive.zip:cats/indoor/a.jpg``) so labels can come from folders.
Files whose extension is not an image extension are not candidates (they are counted as
``ignored``); a text file *named* ``.png`` is a candidate and is rejected later by the loader.
"""

from __future__ import annotations

import functools
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Iterator, Sequence

from ..core.errors import ImageLoadError, UsageError
from ..core.imageio import is_image_file

MAX_MEMBER_BYTES = 1 << 30  # files (or zip members, uncompressed) over 1 GiB are refused unread
_JUNK_PARTS = ("__MACOSX",)


@dataclass(frozen=True)
class SourceItem:
    """One candidate input: ``path`` names it for people, ``rel`` is its path below its source root."""

    path: str  # e.g. "/data/cats/a.jpg" or "/data/pets.zip:cats/a.jpg"
    rel: str  # posix path relative to the source root, e.g. "cats/a.jpg"
    file: str  # the file on disk (the folder file itself, or the zip)
    member: str | None = None  # zip member name when the item lives in a zip

    def read_bytes(self, max_bytes: int = MAX_MEMBER_BYTES) -> bytes:
        """The raw bytes; raises :class:`ImageLoadError` (``unreadable``, ``too-large``, ``missing``)."""
        if self.member is None:
            try:
                size = os.stat(self.file).st_size
                if size > max_bytes:
                    raise ImageLoadError(self.path, "too-large", f"{size} bytes")
                return Path(self.file).read_bytes()
            except FileNotFoundError:
                raise ImageLoadError(self.path, "missing", "the file disappeared") from None
            except OSError as e:
                raise ImageLoadError(self.path, "unreadable", e.strerror or str(e)) from None
        try:
            st = os.stat(self.file)
            z = _open_zip(self.file, st.st_mtime_ns, st.st_size)
            info = z.getinfo(self.member)
            if info.file_size > max_bytes:
                raise ImageLoadError(self.path, "too-large", f"{info.file_size} bytes uncompressed")
            if info.flag_bits & 0x1:
                raise ImageLoadError(self.path, "unreadable", "encrypted zip member")
            return z.read(self.member)
        except ImageLoadError:
            raise
        except (zipfile.BadZipFile, zipfile.LargeZipFile, KeyError, OSError, EOFError, NotImplementedError,
                RuntimeError, ValueError) as e:
            raise ImageLoadError(self.path, "unreadable", str(e).splitlines()[0][:120] if str(e) else type(e).__name__) from None


@functools.lru_cache(maxsize=4)
def _open_zip(path: str, mtime_ns: int, size: int) -> zipfile.ZipFile:
    """An open handle per zip (and version of it) and process: re-reading the central directory
    for every member would make a big zip quadratic."""
    return zipfile.ZipFile(path)


def _hidden(parts: Sequence[str]) -> bool:
    return any(p.startswith(".") or p in _JUNK_PARTS for p in parts)


def iter_folder(root: Path) -> Iterator[SourceItem]:
    """Image candidates below ``root``, recursive, in sorted path order (deterministic)."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d not in _JUNK_PARTS)
        for fn in sorted(filenames):
            p = Path(dirpath) / fn
            rel = p.relative_to(root).as_posix()
            if fn.startswith(".") or not is_image_file(fn):
                continue
            yield SourceItem(path=str(p), rel=rel, file=str(p))


def iter_zip(path: Path) -> Iterator[SourceItem]:
    """Image candidates inside a zip file (members in sorted order)."""
    try:
        with zipfile.ZipFile(path) as z:
            names = sorted(i.filename for i in z.infolist() if not i.is_dir())
    except (zipfile.BadZipFile, OSError) as e:
        raise UsageError(f"{path} is not a readable zip file ({str(e)[:80]})") from None
    for name in names:
        posix = PurePosixPath(name.replace("\\", "/"))
        if _hidden(posix.parts) or not is_image_file(posix.name):
            continue
        yield SourceItem(path=f"{path}:{posix.as_posix()}", rel=posix.as_posix(), file=str(path), member=name)


def folder_labels(source: str | os.PathLike, items: Sequence[SourceItem]) -> list[str | None]:
    """Class names for ``--labels-from-folders``, one per item of one source.

    The ImageFolder convention: the top-level folder below the source root names the class.
    Two conveniences: a single folder wrapping everything (``pets.zip:pets/cats/a.jpg``) is
    looked through, and a source with no sub-folders at all (``cats/`` given on its own) is one
    class named after the source itself. In a source that has class folders, files lying at its
    root get no label (None).
    """
    parts = [PurePosixPath(it.rel).parts for it in items]
    if not parts:
        return []
    while all(len(p) >= 3 for p in parts) and len({p[0] for p in parts}) == 1:
        parts = [p[1:] for p in parts]
    if all(len(p) == 1 for p in parts):
        src = Path(source)
        name = src.stem if src.is_file() and src.suffix.lower() == ".zip" else (src.name if src.is_dir() else src.parent.name)
        return [name or "images"] * len(parts)
    return [p[0] if len(p) > 1 else None for p in parts]


def count_ignored(sources: Sequence[str | os.PathLike]) -> int:
    """How many non-image files the sources hold (reported, never read)."""
    n = 0
    for src in map(Path, sources):
        if src.is_dir():
            for dirpath, dirnames, filenames in os.walk(src):
                dirnames[:] = [d for d in dirnames if not d.startswith(".") and d not in _JUNK_PARTS]
                n += sum(1 for f in filenames if not f.startswith(".") and not is_image_file(f))
        elif src.is_file() and zipfile.is_zipfile(src):
            try:
                with zipfile.ZipFile(src) as z:
                    n += sum(1 for i in z.infolist() if not i.is_dir()
                             and not _hidden(PurePosixPath(i.filename).parts) and not is_image_file(i.filename))
            except (zipfile.BadZipFile, OSError):
                pass
    return n


def iter_sources(sources: Sequence[str | os.PathLike]) -> Iterator[SourceItem]:
    """All image candidates of ``sources`` (folders, zips or single image files), in order.

    A missing source, or a file that is neither a zip nor an image, is a usage error.
    """
    if not sources:
        raise UsageError("give at least one source folder or zip file")
    for src in map(Path, sources):
        if not src.exists():
            raise UsageError(f"source {src} does not exist")
    for src in map(Path, sources):
        if src.is_dir():
            yield from iter_folder(src)
        elif src.suffix.lower() == ".zip" or zipfile.is_zipfile(src):
            yield from iter_zip(src)
        elif is_image_file(src):
            yield SourceItem(path=str(src), rel=src.name, file=str(src))
        else:
            raise UsageError(f"source {src} is neither a folder, a zip file nor an image")
