"""The tray: latents an artist keeps while exploring, shared by the Explore, Project and
Storyboard tabs.

It lives in the workspace as plain files a person (and the CLI) can use::

    art/tray/tray.json      the ordered list: id, label, model, where each latent came from
    art/tray/003.npz        the latent, in the CLI's latent format (``w`` [1, num_ws, w_dim],
                            ``z`` / ``seed`` / ``psi`` when known, edit history when edited)
    art/tray/003.png        what it looks like

so ``neuralbrush generate MODEL --w art/tray/003.npz`` renders an item and a storyboard keyframe
``latent: ../tray/003.npz`` uses it. Items whose files were deleted by hand are left out.
"""

from __future__ import annotations

import shutil
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..core.checkpoint import write_json
from ..core.errors import CheckpointError, UsageError

FORMAT = "neuralbrush.tray"
VERSION = 1
TRAY_FILE = "tray.json"
MAX_ITEMS = 10_000

_LOCK = threading.Lock()  # one studio process; handlers run in threads


@dataclass
class TrayItem:
    """One kept latent: ``latent`` and ``image`` are file names inside the tray folder."""

    id: str
    latent: str
    image: str
    label: str
    model: str | None = None  # the MODEL text it was made with (workspace-relative or a store name)
    source: str | None = None  # where it came from: a file the studio wrote, or "seed 12"
    added: float = field(default_factory=time.time)


class Tray:
    """The tray of one workspace (``folder``: the workspace's ``art/tray``)."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    @property
    def index(self) -> Path:
        return self.folder / TRAY_FILE

    # ----------------------------------------------------------------------------- reading
    def _read(self) -> list[TrayItem]:
        if not self.index.is_file():
            return []
        from ..core.checkpoint import read_json

        try:
            data = read_json(self.index)
        except CheckpointError:
            return []  # a damaged index: the latents stay on disk; the tray starts afresh
        items = []
        for d in (data.get("items") or []) if isinstance(data, dict) else []:
            try:
                item = TrayItem(**{k: d[k] for k in TrayItem.__dataclass_fields__ if k in d})
            except TypeError:
                continue
            if (self.folder / item.latent).is_file():
                items.append(item)
        return items

    def items(self) -> list[TrayItem]:
        with _LOCK:
            return self._read()

    def get(self, item_id: str) -> TrayItem:
        for item in self.items():
            if item.id == item_id:
                return item
        raise UsageError(f"tray item {item_id} is not in the tray (was it removed?)")

    def latent_path(self, item: TrayItem) -> Path:
        return self.folder / item.latent

    def image_path(self, item: TrayItem) -> Path:
        return self.folder / item.image

    def gallery(self) -> list[tuple[str, str]]:
        """(image file, caption) per item, for a gr.Gallery."""
        return [(str(self.image_path(i)), f"{i.id}: {i.label}") for i in self.items()
                if self.image_path(i).is_file()]

    # ----------------------------------------------------------------------------- writing
    def _write(self, items: list[TrayItem]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        write_json(self.index, {"format": FORMAT, "version": VERSION, "items": [asdict(i) for i in items]})

    def _next_id(self, items: list[TrayItem]) -> str:
        """One more than any id used so far (removed items' ids are not reused: a saved storyboard
        naming ``003.npz`` never silently gets another latent)."""
        names = [i.id for i in items] + [p.stem for p in self.folder.glob("*.npz")]
        names += [p.stem.rsplit("-", 1)[-1] for p in (self.folder / "removed").glob("*.npz")]
        numbers = [int(n) for n in names if n.isdigit()]
        return f"{max(numbers, default=-1) + 1:03d}"

    def add(self, lat, image: np.ndarray, *, label: str, model: str | None = None, source: str | None = None,
            extra: dict | None = None) -> TrayItem:
        """Keep ``lat`` (a :class:`neuralbrush.latent.latents.Latents` of one latent) with its picture;
        ``extra``: more arrays for the file (an edit history, see ``EditHistory.arrays``)."""
        from ..core.imageio import save_image
        from ..latent.latents import save_latents

        if len(lat) != 1:
            raise UsageError(f"the tray keeps one latent at a time, not {len(lat)}")
        with _LOCK:
            items = self._read()
            if len(items) >= MAX_ITEMS:
                raise UsageError(f"the tray holds {len(items)} latents, its limit; remove some first")
            self.folder.mkdir(parents=True, exist_ok=True)
            item_id = self._next_id(items)
            save_latents(self.folder / f"{item_id}.npz", lat, **(extra or {}))
            save_image(image, self.folder / f"{item_id}.png")
            item = TrayItem(item_id, f"{item_id}.npz", f"{item_id}.png", str(label), model, source)
            items.append(item)
            self._write(items)
        return item

    def add_file(self, latent_file: str | Path, image: np.ndarray | None, *, label: str, model: str | None = None,
                 source: str | None = None, G=None, index: int = 0) -> TrayItem:
        """Keep latent ``index`` of a latent file the library wrote (a neighbour, a child, a
        projection); the file is read (and checked against ``G`` when given) first."""
        from ..latent.latents import load_latents

        lat = load_latents(latent_file, G)
        if not 0 <= index < len(lat):
            raise UsageError(f"{Path(latent_file).name} holds {len(lat)} latents, not one numbered {index}")
        if image is None:
            png = Path(latent_file).with_suffix(".png")
            if not png.is_file():
                raise UsageError(f"no picture for {Path(latent_file).name}; render it first")
            from ..core.imageio import load_array

            image = load_array(png)
        return self.add(lat.select(index), image, label=label, model=model, source=source or str(latent_file))

    def remove(self, item_id: str) -> None:
        with _LOCK:
            items = self._read()
            keep = [i for i in items if i.id != item_id]
            if len(keep) == len(items):
                raise UsageError(f"tray item {item_id} is not in the tray")
            gone = self.folder / "removed"
            gone.mkdir(exist_ok=True)
            for item in items:
                if item.id == item_id:  # moved aside, not deleted: a storyboard may still name it
                    for name in (item.latent, item.image):
                        if (self.folder / name).is_file():
                            shutil.move(str(self.folder / name), gone / f"{int(time.time())}-{name}")
            self._write(keep)


def link_views(ctx, gallery, events, tray: Tray) -> None:
    """Keep every tab's view of the tray current: each event that changed the tray (in any tab)
    refreshes every tray gallery. Tabs call this at the end of ``build`` with their own gallery
    and their tray-changing events (event listeners, whose ``.then`` runs after them)."""
    views = ctx.shared.setdefault("tray_views", [])
    changes = ctx.shared.setdefault("tray_events", [])
    refresh = tray.gallery
    for ev in changes:  # earlier tabs' events refresh this tab's view
        ev.then(refresh, None, gallery, show_progress="hidden")
    for ev in events:  # this tab's events refresh its own view and the earlier tabs' views
        for view in [*views, gallery]:
            ev.then(refresh, None, view, show_progress="hidden")
    views.append(gallery)
    changes.extend(events)
