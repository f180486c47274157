"""Make a bundled demo model: a generator-only, float16 copy of a training snapshot, with its record.

The demo models (``store.BUNDLED``) are trained by this project on its own procedural blooms.
Each one ships as ``weights/bundled/<name>.safetensors`` plus ``<name>.safetensors.json``: the
commands that made it, the run's ``training_options.json``, where training stopped and what the
model scored, so anyone can train it again and compare. Only the generator is kept (G_ema for
GANs, G for pix2pix), in float16 (loaders copy it into float32 modules), so each file is a few MB.

    python -m neuralbrush.weights.export blooms64-lite RUN_OR_SNAPSHOT --command "neuralbrush train ..." \\
        [--command ...] [--score swd=31.2 ...]
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

import torch

from ..core.checkpoint import read_json, save_checkpoint, write_json
from ..core.errors import UsageError
from . import store


def _half(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: (v.to(torch.float16) if v.is_floating_point() else v).contiguous() for k, v in state.items()}


def _run_record(snapshot: Path) -> dict[str, Any]:
    opts = snapshot.parent / "training_options.json"
    return read_json(opts) if opts.is_file() else {}


def export_model(name: str, source: str | os.PathLike, *, commands: list[str], scores: dict[str, Any] | None = None,
                 notes: str = "", dest_dir: Path | None = None) -> Path:
    """Write the bundled model ``name`` from ``source`` (a run folder or snapshot) and its record."""
    e = store.entry(name)
    if not e.bundled:
        raise UsageError(f"{name!r} is not a bundled model (bundled: {', '.join(x.name for x in store.BUNDLED)})")
    dest = (dest_dir or store.BUNDLED_DIR) / e.filename
    dest.parent.mkdir(parents=True, exist_ok=True)
    if e.kind == "gan-snapshot":
        from ..gan.loading import gan_source, load_gan

        path = gan_source(source).path
        snap = load_gan(path)
        G = snap.generator("G_ema")
        tensors = {f"G_ema.{k}": v for k, v in _half(G.state_dict()).items()}
        meta = {"format": "neuralbrush.gan", "version": snap.meta.get("version", 1), "arch": snap.arch,
                "networks": ["G_ema"], "G_kwargs": dict(G.init_kwargs), "D_kwargs": None,
                "cur_nimg": snap.meta.get("cur_nimg"), "bundled": name, "dtype": "float16",
                "training_set_kwargs": snap.meta.get("training_set_kwargs")}
    elif e.kind == "pix2pix-snapshot":
        from ..core.checkpoint import load_checkpoint, prefixed, unprefixed
        from ..pix2pix.apply import pix2pix_source
        from ..pix2pix.snapshot import FORMAT

        path = pix2pix_source(source).path
        tensors_all, meta_all = load_checkpoint(path, expect_format=FORMAT)
        tensors = prefixed(_half(unprefixed(tensors_all, "G")), "G")
        meta = {k: v for k, v in meta_all.items() if k not in ("discriminator",)}
        meta.update(bundled=name, dtype="float16")
    else:
        raise UsageError(f"no exporter for kind {e.kind!r}")
    save_checkpoint(dest, tensors, {k: v for k, v in meta.items() if v is not None})
    record = {"name": name, "kind": e.kind, "description": e.description, "licence": e.licence,
              "file": e.filename, "sha256": store.sha256_file(dest), "size_mb": round(dest.stat().st_size / 2**20, 2),
              "exported_from": str(Path(path).name), "commands": list(commands), "scores": dict(scores or {}),
              "notes": notes, "run_record": _run_record(Path(path))}
    write_json(dest.with_name(dest.name + ".json"), record)
    return dest


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Export a bundled demo model from a training run.")
    ap.add_argument("name", choices=[e.name for e in store.BUNDLED])
    ap.add_argument("source", help="run folder or snapshot")
    ap.add_argument("--command", action="append", default=[], help="a command that made it (repeat, in order)")
    ap.add_argument("--score", action="append", default=[], help="KEY=VALUE measured on it (repeat)")
    ap.add_argument("--notes", default="")
    args = ap.parse_args(argv)
    scores = {}
    for item in args.score:
        key, _, value = item.partition("=")
        try:
            scores[key] = json.loads(value)
        except json.JSONDecodeError:
            scores[key] = value
    print(export_model(args.name, args.source, commands=args.command, scores=scores, notes=args.notes))


if __name__ == "__main__":
    main()
