"""What ``dataset build`` writes: the dataset (atomically), its report, contact sheet and preview."""

from __future__ import annotations

import csv
import dataclasses
import io
import os
import shutil
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from PIL import Image

from .build_options import BuildOptions

IMAGES_PER_FOLDER = 1000


@dataclass
class Rejection:
    path: str
    reason: str
    detail: str = ""
    duplicate_of: str | None = None

    def as_dict(self) -> dict:
        d = {"path": self.path, "reason": self.reason, "detail": self.detail}
        if self.duplicate_of is not None:
            d["duplicate_of"] = self.duplicate_of
        return d


@dataclass
class BuildResult:
    output: Path
    report_dir: Path
    accepted: int  # source images kept
    written: int  # images in the dataset (accepted, plus mirrored copies)
    candidates: int  # image files looked at
    ignored: int  # non-image files skipped without reading
    rejected: list[Rejection] = field(default_factory=list)
    seconds: float = 0.0
    contact_sheet: Path | None = None
    preview_gif: Path | None = None
    label_names: list[str] | None = None

    @property
    def rejected_by_reason(self) -> dict[str, int]:
        return dict(sorted(Counter(r.reason for r in self.rejected).items()))

    @property
    def images_per_second(self) -> float:
        return self.candidates / self.seconds if self.seconds > 0 else 0.0


def report_dir_for(output: str | os.PathLike) -> Path:
    """Where the report, contact sheet and preview of a dataset go: ``<parent>/<stem>-report``."""
    out = Path(output)
    stem = out.name[:-4] if out.name.lower().endswith(".zip") else out.name
    return out.parent / f"{stem}-report"


def image_name(index: int) -> str:
    """NVlabs layout: 1000 images per folder."""
    return f"{index // IMAGES_PER_FOLDER:05d}/img{index:08d}.png"


class DatasetWriter:
    """Writes images to a temporary zip/folder; ``commit`` renames it into place."""

    def __init__(self, output: Path, overwrite: bool) -> None:
        self.output = output
        self.overwrite = overwrite
        self.is_zip = output.suffix.lower() == ".zip"
        output.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = output.parent / f".{output.name}.partial-{os.getpid()}"
        if self.tmp.exists():
            self._remove(self.tmp)
        if self.is_zip:
            self.zip: zipfile.ZipFile | None = zipfile.ZipFile(self.tmp, "w", compression=zipfile.ZIP_STORED)
        else:
            self.zip = None
            self.tmp.mkdir()

    @staticmethod
    def _remove(p: Path) -> None:
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        elif p.exists() or p.is_symlink():
            p.unlink()

    def add(self, name: str, data: bytes) -> None:
        try:
            if self.zip is not None:
                self.zip.writestr(name, data)
            else:
                p = self.tmp / name
                p.parent.mkdir(parents=True, exist_ok=True)
                p.write_bytes(data)
        except OSError as e:  # a full disk: name the dataset, not the hidden temporary
            from ..core.outputs import renamed_error

            raise renamed_error(e, self.output) from None

    def commit(self) -> None:
        try:
            self._commit()
        except OSError as e:
            from ..core.outputs import renamed_error

            raise renamed_error(e, self.output) from None

    def _commit(self) -> None:
        if self.zip is not None:
            self.zip.close()
            self.zip = None
            with open(self.tmp, "rb+") as f:
                os.fsync(f.fileno())
        old = None
        if self.output.exists() or self.output.is_symlink():
            old = self.output.parent / f".{self.output.name}.old-{os.getpid()}"
            os.replace(self.output, old) if not self.output.is_dir() else self.output.rename(old)
        os.replace(self.tmp, self.output)
        if old is not None:
            self._remove(old)

    def abort(self) -> None:
        if self.zip is not None:
            try:
                self.zip.close()
            except Exception:
                pass
            self.zip = None
        if self.tmp.exists():
            self._remove(self.tmp)


def reason_text(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {r}" for r, n in counts.items()) or "none"


def write_report(result: BuildResult, opts: BuildOptions, sources: Sequence[Path],
                  sample: list[tuple[str, bytes]]) -> None:
    from ..core.checkpoint import atomic_path, write_json

    rd = result.report_dir
    rd.mkdir(parents=True, exist_ok=True)
    write_json(rd / "options.json", {"sources": [str(s) for s in sources], "output": str(result.output),
                                     **dataclasses.asdict(opts)})
    write_json(rd / "rejected.json", [r.as_dict() for r in result.rejected])
    with atomic_path(rd / "rejected.csv") as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["path", "reason", "detail", "duplicate_of"])
            for r in result.rejected:
                w.writerow([r.path, r.reason, r.detail, r.duplicate_of or ""])
    write_json(rd / "summary.json", {"output": str(result.output), "candidates": result.candidates,
                                     "accepted": result.accepted, "written": result.written,
                                     "ignored_non_image_files": result.ignored,
                                     "rejected": len(result.rejected), "rejected_by_reason": result.rejected_by_reason,
                                     "seconds": round(result.seconds, 3), "label_names": result.label_names})
    if sample:
        from ..core.media import make_grid, write_video

        cell = min(opts.size, 128)
        thumbs = [Image.open(io.BytesIO(png)).convert("RGB") for _, png in sample]
        small = [t if t.width == cell else t.resize((cell, cell), Image.LANCZOS, reducing_gap=2.0) for t in thumbs]
        from ..core.imageio import save_image

        result.contact_sheet = save_image(make_grid(small, pad=2, background=(24, 24, 24)), rd / "contact_sheet.png")
        gif_size = min(opts.size, 256)
        frames = [t if t.width == gif_size else t.resize((gif_size, gif_size), Image.LANCZOS, reducing_gap=2.0)
                  for t in thumbs[:32]]
        result.preview_gif = write_video(frames, rd / "preview.gif", fps=3)


def print_summary(result: BuildResult, shown_rejections: int = 10) -> None:
    """A rich table: kept, rejected by reason, the first rejected files, where everything went."""
    from rich.table import Table

    from ..core.progress import console

    table = Table(title=f"dataset {result.output}", show_header=True)
    table.add_column("")
    table.add_column("images", justify="right")
    table.add_row("candidates", str(result.candidates))
    table.add_row("[green]accepted[/]", str(result.accepted))
    if result.written != result.accepted:
        table.add_row("written (with mirrors)", str(result.written))
    for reason, n in result.rejected_by_reason.items():
        table.add_row(f"[red]rejected: {reason}[/]", str(n))
    if result.ignored:
        table.add_row("ignored (not image files)", str(result.ignored))
    console.print(table)
    if result.rejected:  # the files themselves, with their reasons; every one is in rejected.csv
        shown = result.rejected[:shown_rejections]
        lines = [f"  {r.path}: {r.reason}" + (f" ({r.detail})" if r.detail else "") for r in shown]
        if len(result.rejected) > len(shown):
            lines.append(f"  ... and {len(result.rejected) - len(shown)} more in {result.report_dir / 'rejected.csv'}")
        console.print("rejected:\n" + "\n".join(lines), soft_wrap=True, markup=False, highlight=False)
    console.print(f"{result.seconds:.1f} s ({result.images_per_second:.1f} images/s); report in {result.report_dir}")
