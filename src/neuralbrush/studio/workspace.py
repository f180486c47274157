"""The studio's workspace: one folder holding everything the studio reads and writes.

::

    WORKSPACE/
      images/       source pictures (uploads, "Start with sample data": images/blooms, images/photos)
      datasets/     what `neuralbrush dataset build` / `dataset pairs` write
      runs/         what `neuralbrush train` / `pix2pix train` write (NNNNN-<name>-<cfg>/)
      art/          generated images, projections, videos, storyboards; art/tray/ the kept latents
      .studio/      the studio's own state: jobs/<id>.json, uploads, gradio's temporary files

The studio serves and reads files only inside this folder: :meth:`Workspace.resolve` turns a
user-given path into an absolute one and refuses anything that leaves the folder (``..``, an
absolute path elsewhere, a symlink pointing outside). Uploads are checked with the same image
validation as ``dataset build`` (:func:`neuralbrush.core.imageio.load_image` and its pixel limit)
and a size cap, and refused with one sentence a person can act on.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from ..core.errors import NeuralbrushError, UsageError

AREAS = ("images", "datasets", "runs", "art")
MAX_UPLOAD_BYTES = 200 * 1024 * 1024  # per file; a folder of photos comes as a zip or a workspace folder
MAX_UPLOAD_PIXELS = None  # None: dataset build's decompression-bomb limit (core.imageio.DEFAULT_MAX_PIXELS)


class OutsideWorkspace(UsageError):
    """A path that leaves the workspace (``..``, absolute elsewhere, a symlink escaping it)."""


class BadUpload(UsageError):
    """An uploaded file that is not a usable image (or too large); the message says why."""


class Workspace:
    """The folder the studio works in (created with its areas when missing)."""

    def __init__(self, root: str | os.PathLike) -> None:
        root = Path(root).expanduser()
        if root.exists() and not root.is_dir():
            raise UsageError(f"workspace {root} is a file, not a folder")
        root.mkdir(parents=True, exist_ok=True)
        self.root = root.resolve()
        for area in AREAS:
            (self.root / area).mkdir(exist_ok=True)
        self.state.mkdir(exist_ok=True)
        self.jobs_dir.mkdir(exist_ok=True)
        self.uploads.mkdir(exist_ok=True)

    def __repr__(self) -> str:
        return f"Workspace({str(self.root)!r})"

    # -------------------------------------------------------------------- areas
    @property
    def images(self) -> Path:
        return self.root / "images"

    @property
    def datasets(self) -> Path:
        return self.root / "datasets"

    @property
    def runs(self) -> Path:
        return self.root / "runs"

    @property
    def art(self) -> Path:
        return self.root / "art"

    @property
    def tray_dir(self) -> Path:
        """Kept latents (the CLI's .npz latent files) and tray.json, shared by the tabs."""
        return self.art / "tray"

    @property
    def state(self) -> Path:
        return self.root / ".studio"

    @property
    def jobs_dir(self) -> Path:
        return self.state / "jobs"

    @property
    def uploads(self) -> Path:
        return self.state / "uploads"

    @property
    def temp(self) -> Path:
        """Gradio's cache folder (GRADIO_TEMP_DIR): uploads land here, inside the workspace."""
        return self.state / "tmp"

    def is_empty(self) -> bool:
        """No dataset, run or art yet (what the "Start with sample data" offer looks at)."""
        return not any(any(p for p in (self.root / a).iterdir() if not p.name.startswith(".")) for a in AREAS)

    # -------------------------------------------------------------------- safe paths
    def contains(self, path: str | os.PathLike) -> bool:
        """Whether ``path`` (resolved: symlinks followed, ``..`` removed) lies inside the workspace."""
        try:
            real = Path(os.path.realpath(self.root / Path(path).expanduser()))
        except (OSError, ValueError):
            return False
        return real == self.root or self.root in real.parents

    def resolve(self, path: str | os.PathLike, *, must_exist: bool = False) -> Path:
        """``path`` (relative to the workspace, or absolute inside it) as an absolute real path;
        refuses a path outside the workspace, whichever way it gets there."""
        text = os.fspath(path).strip() if isinstance(path, str) else os.fspath(path)
        if not text or "\x00" in str(text):
            raise UsageError("no path given" if not text else "a path cannot contain NUL characters")
        if not self.contains(text):
            raise OutsideWorkspace(f"{text} is outside the workspace {self.root}; the studio only reads and "
                                   "writes inside it (copy the files into the workspace first)")
        real = Path(os.path.realpath(self.root / Path(text).expanduser()))
        if must_exist and not real.exists():
            raise UsageError(f"{text} does not exist in the workspace {self.root}")
        return real

    def relative(self, path: str | os.PathLike) -> str:
        """How the page names a workspace file: its path relative to the workspace."""
        real = self.resolve(path)
        return "." if real == self.root else real.relative_to(self.root).as_posix()

    # -------------------------------------------------------------------- uploads
    def check_upload(self, path: str | os.PathLike, *, name: str | None = None,
                     max_bytes: int = MAX_UPLOAD_BYTES, max_pixels: int | None = MAX_UPLOAD_PIXELS):
        """The uploaded image at ``path`` as an RGB PIL image, checked as ``dataset build`` checks its
        inputs (:func:`load_image` with a pixel limit) plus a size cap; :class:`BadUpload` with one
        sentence otherwise. ``name``: how to call the file in the message (the user's file name)."""
        from ..core.imageio import DEFAULT_MAX_PIXELS, load_image

        p = Path(path)
        label = name or p.name
        try:
            size = p.stat().st_size
        except OSError:
            raise BadUpload(f"{label}: the upload did not arrive; try again") from None
        if size > max_bytes:
            raise BadUpload(f"{label} is {size / 2**20:.0f} MB, more than the studio's upload limit of "
                            f"{max_bytes / 2**20:.0f} MB; put big files in the workspace folder instead")
        try:
            return load_image(p, name=label, max_pixels=max_pixels or DEFAULT_MAX_PIXELS)
        except NeuralbrushError as e:
            raise BadUpload(" ".join(str(e).split())) from None
        except MemoryError:
            raise BadUpload(f"{label} is too large to open") from None
        except Exception as e:  # noqa: BLE001 - any decoder failure is a bad file, said in one sentence
            raise BadUpload(f"{label} is not a readable image ({type(e).__name__})") from None

    def keep_upload(self, path: str | os.PathLike, subdir: str, *, name: str | None = None) -> Path:
        """Check an uploaded image and copy it under ``subdir`` of the workspace (e.g. ``art/uploads``);
        returns the kept file. The copy keeps the user's file name (made unique)."""
        self.check_upload(path, name=name)
        dest_dir = self.resolve(subdir)
        dest_dir.mkdir(parents=True, exist_ok=True)
        base = Path(name or Path(path).name).name or "upload.png"
        dest = dest_dir / base
        n = 1
        while dest.exists():
            dest = dest_dir / f"{Path(base).stem}-{n}{Path(base).suffix}"
            n += 1
        shutil.copyfile(path, dest)
        return dest
