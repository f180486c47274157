"""``dataset build``: turn folders and zips of images into a clean training dataset.

Every input is validated with the one image loader (:func:`neuralbrush.core.imageio.load_image`);
a file that cannot be used is skipped and reported with its reason (``too-small``, ``corrupt``,
``truncated``, ``empty``, ``not-an-image``, ``too-large``, ``duplicate``, ``near-duplicate``,
``no-face``, ``no-label``, ``unreadable``), never fatal. Accepted images are cropped
(``center``), letterboxed (``pad``) or face-aligned (``face``), resized with quality (Pillow's
Lanczos with ``reducing_gap``, i.e. a box reduction first for big downscales) and written in the
NVlabs layout::

    OUT(.zip or folder)/00000/img00000000.png ... 00001/img00001000.png ...
    OUT/dataset.json   {"labels": [[name, label], ...] | null, "label_names": [...] | null,
                        "images": [{name, source, original_size, sha256, format, mode, ops}, ...]}

Beside the output, in ``<OUT stem>-report/``: ``options.json`` (the resolved options),
``summary.json``, ``rejected.json`` and ``rejected.csv`` (path, reason, detail, duplicate_of),
``contact_sheet.png`` and ``preview.gif`` (a sample of the dataset). The dataset itself is
written atomically: a zip goes to a temporary file, a folder to a temporary folder, and both
are renamed into place only when complete. The per-image work (decode, check, crop, resize,
encode) is :mod:`.build_item`, run in worker processes.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import time
from pathlib import Path
from typing import Any, Sequence

from ..core.errors import UsageError
from ..core.imageio import DEFAULT_MAX_PIXELS, parse_color
from ..core.outputs import check_writable_output
from ..core.progress import ProgressFn
from .build_item import _Job, _Outcome, process_item
from .build_options import CROPS, BuildOptions
from .build_output import (IMAGES_PER_FOLDER, BuildResult, DatasetWriter, Rejection, image_name, print_summary,
                           reason_text, report_dir_for, write_report)
from .parallel import ordered_map

__all__ = ["CROPS", "IMAGES_PER_FOLDER", "BuildOptions", "BuildResult", "Rejection", "build_dataset", "image_name",
           "print_summary", "process_item", "report_dir_for"]
from .sources import SourceItem, count_ignored, folder_labels, iter_sources

MIN_IMAGES_PER_WORKER = 32  # --workers 0 starts one process per this many images, at most one per core


# ---------------------------------------------------------------------------------------------
# orchestration
# ---------------------------------------------------------------------------------------------

def _call(args: tuple[SourceItem, _Job]) -> _Outcome:
    return process_item(*args)


def _crashed(args: tuple[SourceItem, _Job]) -> _Outcome:
    return _Outcome(args[0], reason="unreadable", detail="the worker process decoding it crashed")


def _check_output(output: Path, sources: Sequence[Path], overwrite: bool) -> None:
    if output.exists() and not overwrite:
        raise UsageError(f"{output} already exists; pass --overwrite to replace it")
    if output.exists() and output.is_file() and output.suffix.lower() != ".zip":
        raise UsageError(f"{output} is a file; give a folder or a .zip name")
    out_abs = output.resolve()
    for s in sources:
        s_abs = s.resolve()
        if s_abs == out_abs:
            raise UsageError(f"the output {output} is also a source")
        if s.is_dir() and s_abs in out_abs.parents:
            raise UsageError(f"the output {output} is inside the source folder {s}; write it elsewhere")


def build_dataset(sources: Sequence[str | os.PathLike] | str | os.PathLike, output: str | os.PathLike,
                  options: BuildOptions | None = None, *, progress: ProgressFn | None = None,
                  **overrides: Any) -> BuildResult:
    """Validate, convert, crop/align and write ``sources`` as a dataset at ``output`` (.zip or folder).

    ``options`` (or keyword overrides of :class:`BuildOptions` fields) choose what is done.
    ``progress`` gets an event per source image (None: a bar).
    Returns a :class:`BuildResult`; raises :class:`UsageError` for bad options, an output that
    cannot be written, or when no image at all could be used (then nothing is written: the
    sentence gives the reasons).
    """
    opts = dataclasses.replace(options or BuildOptions(), **overrides)
    opts.validate()
    if isinstance(sources, (str, os.PathLike)):
        sources = [sources]
    src_paths = [Path(s) for s in sources]
    output = Path(output)
    check_writable_output(output, "file" if output.suffix.lower() == ".zip" else "folder", what="dataset")
    check_writable_output(report_dir_for(output), "folder", what="report folder")
    t0 = time.perf_counter()
    items: list[SourceItem] = []
    label_key: dict[str, str | None] = {}
    for src in src_paths:
        found = list(iter_sources([src]))
        if opts.labels_from_folders:
            label_key.update(zip((it.path for it in found), folder_labels(src, found)))
        items.extend(found)
    _check_output(output, src_paths, opts.overwrite)
    ignored = count_ignored(src_paths)
    report_dir = report_dir_for(output)

    rejected: list[Rejection] = []
    label_names: list[str] | None = None
    label_of: dict[str, int] = {}
    if opts.labels_from_folders:
        label_names = sorted({k for k in label_key.values() if k is not None})
        label_of = {n: i for i, n in enumerate(label_names)}
        todo = []
        for it in items:
            if label_key.get(it.path) is None:
                rejected.append(Rejection(it.path, "no-label", "not inside a class folder"))
            else:
                todo.append(it)
    else:
        todo = items

    pad_rgb = parse_color(opts.pad_color)
    job = _Job(size=opts.size, crop=opts.crop, min_size=opts.min_size, mirror=opts.mirror, dedupe=opts.dedupe,
               pad_color=pad_rgb, pad_color_text="#%02x%02x%02x" % pad_rgb, background=parse_color(opts.background),
               max_pixels=opts.max_pixels or DEFAULT_MAX_PIXELS, png_level=opts.png_compress_level)
    workers = opts.workers or (os.cpu_count() or 1)
    if opts.workers == 0:  # automatic: starting processes only pays off for more than a few dozen images
        workers = min(workers, max(1, len(todo) // MIN_IMAGES_PER_WORKER))
    workers = max(1, min(workers, len(todo) or 1))

    exact_seen: dict[str, str] = {}
    near_index = None
    if opts.dedupe:
        from .dedupe import NearDuplicateIndex

        near_index = NearDuplicateIndex(opts.dedupe_threshold)
    thumbs: list[tuple[str, Any]] = []  # (source path, thumbnail) of kept images, when deduplicating
    images_meta: list[dict] = []
    labels: list[list] = []
    sample: list[tuple[str, bytes]] = []
    rng = random.Random(opts.seed)
    accepted = 0
    written = 0

    from ..core.progress import ProgressEvent, presenting

    writer = DatasetWriter(output, opts.overwrite)
    try:
        with presenting(progress, "building dataset") as report:
            results = ordered_map(_call, ((it, job) for it in todo), workers, window=workers * 4, on_crash=_crashed,
                                  preload=[__name__])
            try:
                for n, res in enumerate(results, 1):
                    if res.reason is not None:
                        rejected.append(Rejection(res.item.path, res.reason, res.detail))
                    elif opts.dedupe and res.pixel_sha in exact_seen:
                        rejected.append(Rejection(res.item.path, "duplicate", "same pixels",
                                                  duplicate_of=exact_seen[res.pixel_sha]))
                    else:
                        near = _near_duplicate(res, near_index, thumbs, opts.dedupe_difference) if opts.dedupe else None
                        if near is not None:
                            rejected.append(Rejection(res.item.path, "near-duplicate", near[1], duplicate_of=near[0]))
                        else:
                            if opts.dedupe:
                                exact_seen[res.pixel_sha] = res.item.path  # type: ignore[index]
                                near_index.add(res.phash, len(thumbs))  # type: ignore[union-attr]
                                thumbs.append((res.item.path, res.thumb))
                            label = label_of.get(label_key.get(res.item.path)) if opts.labels_from_folders else None  # type: ignore[arg-type]
                            name = image_name(written)
                            writer.add(name, res.png)  # type: ignore[arg-type]
                            entry = {"name": name, **res.meta}
                            if label is not None:
                                entry["label"] = label
                                labels.append([name, label])
                            images_meta.append(entry)
                            if len(sample) < opts.sample_count:
                                sample.append((name, res.png))  # type: ignore[arg-type]
                            elif opts.sample_count:
                                j = rng.randint(0, accepted)
                                if j < opts.sample_count:
                                    sample[j] = (name, res.png)  # type: ignore[assignment]
                            written += 1
                            accepted += 1
                            if res.png_mirror is not None:
                                mname = image_name(written)
                                writer.add(mname, res.png_mirror)
                                mentry = {"name": mname, **res.meta, "ops": res.meta.get("ops", []) + [{"op": "mirror"}],
                                          "mirror_of": name}
                                if label is not None:
                                    mentry["label"] = label
                                    labels.append([mname, label])
                                images_meta.append(mentry)
                                written += 1
                    report(ProgressEvent(n, len(todo), f"kept {accepted}, rejected {len(rejected)}", task="build"))
                    if opts.max_images is not None and accepted >= opts.max_images:
                        break
            finally:
                if hasattr(results, "close"):
                    results.close()
        seconds = time.perf_counter() - t0
        result = BuildResult(output=output, report_dir=report_dir, accepted=accepted, written=written,
                             candidates=len(items), ignored=ignored, rejected=rejected, seconds=seconds,
                             label_names=label_names)
        if written == 0:  # a build that fails on its inputs writes nothing, the reasons go in the sentence
            writer.abort()
            examples = "; ".join(f"{Path(r.path).name}: {r.reason}" + (f" ({r.detail})" if r.detail else "")
                                 for r in result.rejected[:3])
            raise UsageError(f"no usable images among {len(items)} candidates "
                             f"({reason_text(result.rejected_by_reason)})" + (f", e.g. {examples}" if examples else ""))
        meta = {
            "labels": labels if opts.labels_from_folders else None,
            "label_names": label_names,
            "images": images_meta,
            "neuralbrush": {"format": "neuralbrush.dataset", "version": 1, "size": opts.size, "crop": opts.crop,
                            "mirror": opts.mirror, "count": written},
        }
        writer.add("dataset.json", json.dumps(meta, indent=1).encode())
        writer.commit()
    except BaseException:
        writer.abort()
        raise
    write_report(result, opts, src_paths, sorted(sample))
    result.seconds = time.perf_counter() - t0
    return result


def _near_duplicate(res: _Outcome, index: Any, thumbs: list[tuple[str, Any]], max_diff: float) -> tuple[str, str] | None:
    """(kept image path, detail) when ``res`` nearly repeats a kept image: close pHash, confirmed by thumbnails."""
    from .dedupe import thumbnail_difference

    for dist, key in index.candidates(res.phash):
        path, thumb = thumbs[key]  # type: ignore[index]
        diff = thumbnail_difference(res.thumb, thumb)
        if diff <= max_diff:
            return path, f"pHash {dist} bits apart, mean colour difference {diff:.1f}"
    return None
