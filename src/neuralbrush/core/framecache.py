"""One resumable, shardable frame cache for every command that renders a video frame by frame.

pix2pix video, style-video and storyboard films render frames into a folder, one PNG per frame
(``frame_000123.png``), beside a ``cache.json`` holding the *signature*: everything that decides
what a frame looks like (model, source, options). The rules live here, once:

- **One mismatch policy.** A folder made with another signature (or holding frames but no
  readable ``cache.json``) is refused with one sentence naming the keys that differ and
  ``--restart``; nothing is deleted unless ``restart=True``. Every rank reads the signature before
  anyone writes, so all ranks agree and none waits at a barrier for a rank that refused.
- **Atomic frames, damaged ones redone.** :meth:`put` writes through a temporary and a rename;
  :meth:`is_valid` decodes the file, so a frame truncated by a full disk or a crash is removed
  and rendered again; temporaries a killed run left are removed by :meth:`open`.
- **Shards.** :meth:`todo` gives this rank's missing frames, ``"contiguous"`` (one chunk per rank,
  what optical-flow coherence needs) or ``"round-robin"`` (every N-th frame, best balance).
- **Assembly.** :meth:`assemble` waits for every rank, then rank 0 hands the frames in order to a
  writer. :meth:`cleanup` removes the frames and ``cache.json`` (only those: a ``--cache`` folder
  that holds other files keeps them) and the folder when it is then empty.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Literal

from .errors import UsageError

if TYPE_CHECKING:  # PIL loads when frames are read, so the CLI can import the option texts cheaply
    from PIL import Image

ORDERS = ("contiguous", "round-robin")
# the same option text on every command that renders through a frame cache
RESTART_HELP = ("Discard the frames cached by a run with other options and start over (without it such a cache "
                "is refused and kept).")
CACHE_HELP = "Frame cache folder, the resume point of a killed run"
SIGNATURE_FILE = "cache.json"
_FRAME_RE = re.compile(r"^frame_\d{6,}\.png$")


def chunk_range(count: int, rank: int, world: int) -> tuple[int, int]:
    """Contiguous [start, end) share of ``count`` frames for ``rank`` of ``world`` (sizes differ by at most one)."""
    per, extra = divmod(count, world)
    start = rank * per + min(rank, extra)
    return start, start + per + (1 if rank < extra else 0)


def share(count: int, order: Literal["contiguous", "round-robin"], rank: int, world: int) -> list[int]:
    """The frame indices of ``rank`` out of ``world`` ranks; over all ranks each index appears once."""
    if order not in ORDERS:
        raise ValueError(f"order must be one of {ORDERS}, not {order!r}")
    if not 0 <= rank < world:
        raise ValueError(f"rank {rank} is outside a world of {world}")
    if order == "contiguous":
        return list(range(*chunk_range(count, rank, world)))
    return list(range(rank, count, world))


def _normalised(obj: Any) -> Any:
    """``obj`` as it reads back from JSON (tuples become lists, Paths strings), so comparisons are fair."""
    from .checkpoint import _json_default

    return json.loads(json.dumps(obj, default=_json_default))


def _differing(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    """The keys whose values differ, nested dicts followed down ("style_options.iterations")."""
    keys = []
    for k in sorted(set(old) | set(new)):
        a, b = old.get(k), new.get(k)
        if isinstance(a, dict) and isinstance(b, dict):
            keys += _differing(a, b, f"{prefix}{k}.")
        elif a != b:
            keys.append(prefix + k)
    return keys


class FrameCache:
    """Frames of one render in ``folder``, valid for one ``signature`` (a JSON-able dict).

    ``what`` names the cache in sentences ("frame cache"); ``restart=True`` discards frames made
    with any other signature (the ``--restart`` option). Call :meth:`open` before anything else.
    """

    def __init__(self, folder: str | os.PathLike, signature: dict[str, Any], *, restart: bool = False,
                 what: str = "frame cache") -> None:
        self.folder = Path(folder)
        self.signature = _normalised(dict(signature))
        self.restart = restart
        self.what = what
        self.created = False  # True when open() made the folder (a run failing on its inputs removes it)

    # ----------------------------------------------------------------------------- set-up and policy

    def path(self, index: int) -> Path:
        return self.folder / f"frame_{index:06d}.png"

    def _frames_on_disk(self) -> list[Path]:
        if not self.folder.is_dir():
            return []
        return sorted(p for p in self.folder.iterdir() if _FRAME_RE.match(p.name))

    def mismatch(self) -> str | None:
        """Why the folder's frames cannot be reused for this signature (None when they can, or there are none)."""
        sig = self.folder / SIGNATURE_FILE
        if not sig.exists():
            return "it holds frames but no cache.json saying what made them" if self._frames_on_disk() else None
        try:
            old = json.loads(sig.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            return "its cache.json cannot be read"
        if not isinstance(old, dict):
            return "its cache.json is not a JSON object"
        if old == self.signature:
            return None
        keys = _differing(old, self.signature)
        shown = ", ".join(keys[:6]) + (f" and {len(keys) - 6} more" if len(keys) > 6 else "")
        return f"it was made with other options ({shown})"

    def open(self) -> "FrameCache":
        """Apply the mismatch policy, then (rank 0) create the folder, clear stale temporaries and
        write ``cache.json``. Every rank calls it; it ends with a barrier."""
        from . import distributed
        from .checkpoint import clean_stale_temporaries, write_json
        from .outputs import check_writable_output

        check_writable_output(self.folder, "folder", what=self.what)
        problem = None if self.restart else self.mismatch()
        if problem is not None:  # every rank reads the same file, so every rank refuses
            raise UsageError(f"the {self.what} {self.folder} cannot be resumed: {problem}; run again with --restart "
                             "to discard its frames, or give --cache another folder")
        distributed.barrier()  # all ranks have read the old signature before rank 0 changes it
        if distributed.is_main():
            self.created = not self.folder.exists()
            if self.restart:
                self._remove_frames()
            self.folder.mkdir(parents=True, exist_ok=True)
            clean_stale_temporaries(self.folder, "frame_*.png", what="unfinished frame")
            if self.restart or self.mismatch() is not None or not (self.folder / SIGNATURE_FILE).exists():
                write_json(self.folder / SIGNATURE_FILE, self.signature)
        distributed.barrier()
        return self

    # ----------------------------------------------------------------------------- frames

    def is_valid(self, index: int) -> bool:
        """True when frame ``index`` exists and decodes; a damaged one is removed (so it is redone)."""
        from PIL import Image

        p = self.path(index)
        if not p.is_file():
            return False
        try:
            with Image.open(p) as im:
                im.load()
            return True
        except Exception:  # truncated, corrupt, not a PNG: any decoder failure means "render it again"
            p.unlink(missing_ok=True)
            return False

    def get(self, index: int) -> Image.Image:
        """Frame ``index`` as an RGB image. A frame that does not decode is removed, and the error
        says to run the command again (which renders it)."""
        from PIL import Image

        p = self.path(index)
        try:
            with Image.open(p) as im:
                return im.convert("RGB")
        except FileNotFoundError:
            raise UsageError(f"frame {index} is missing from the {self.what} {self.folder}; run the same command "
                             "again to render it") from None
        except Exception as e:
            p.unlink(missing_ok=True)
            raise UsageError(f"frame {index} in the {self.what} {self.folder} is damaged ({type(e).__name__}) and "
                             "was removed; run the same command again to render it") from None

    def put(self, index: int, image: Any) -> Path:
        """Write frame ``index`` atomically (temporary + fsync + rename): a crash leaves the old
        state or the whole frame, never part of one. ``image``: PIL, uint8 array or tensor."""
        from .imageio import save_image

        return save_image(image, self.path(index))

    def todo(self, count: int, order: Literal["contiguous", "round-robin"] = "round-robin", *,
             rank: int | None = None, world: int | None = None) -> list[int]:
        """This rank's frames among ``range(count)`` that still need rendering (missing or damaged)."""
        return [i for i in self.share(count, order, rank=rank, world=world) if not self.is_valid(i)]

    def share(self, count: int, order: Literal["contiguous", "round-robin"] = "round-robin", *,
              rank: int | None = None, world: int | None = None) -> list[int]:
        """This rank's frames among ``range(count)``, done or not (rank and world default to torchrun's)."""
        from . import distributed

        return share(count, order, distributed.rank() if rank is None else rank,
                     distributed.world_size() if world is None else world)

    def assemble(self, count: int, writer: Callable[[int, Image.Image], None]) -> bool:
        """Wait for every rank, then on rank 0 call ``writer(index, image)`` for each frame in order.

        Returns True on rank 0, False elsewhere. Missing frames are refused before the writer
        sees any frame, naming how many and the first.
        """
        from . import distributed

        distributed.barrier()
        if not distributed.is_main():
            return False
        missing = [i for i in range(count) if not self.path(i).is_file()]
        if missing:
            raise UsageError(f"{len(missing)} of {count} frames are missing from the {self.what} {self.folder} "
                             f"(first: frame {missing[0]}); run the same command again to render them")
        for i in range(count):
            writer(i, self.get(i))
        return True

    def cleanup(self) -> None:
        """Remove the frames, ``cache.json`` and leftover temporaries (rank 0), then the folder if empty."""
        from . import distributed

        if not distributed.is_main() or not self.folder.is_dir():
            return
        self._remove_frames()
        try:
            self.folder.rmdir()
        except OSError:  # other files the user keeps there
            pass

    def _remove_frames(self) -> None:
        from .checkpoint import stale_temporaries

        ours = [*self._frames_on_disk(), self.folder / SIGNATURE_FILE,
                *stale_temporaries(self.folder, "frame_*.png"), *stale_temporaries(self.folder, SIGNATURE_FILE)]
        for p in ours:
            if p.is_file() and not p.is_symlink():
                p.unlink(missing_ok=True)
