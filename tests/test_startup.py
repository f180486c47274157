"""Commands import only what they use: the CLI's help and the image-only effects run without
torch (1.2 s and ~600 MB of start-up), so `neuralbrush quantize photo.png` starts like a script."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

PROBE = """
import json, sys
from neuralbrush.cli.main import run
code = run(sys.argv[1:])
print(json.dumps({"code": code, "heavy": sorted(m for m in ("torch", "gradio", "sklearn") if m in sys.modules)}))
"""


def _run(args: list[str], cwd) -> dict:
    out = subprocess.run([sys.executable, "-c", PROBE, *args], cwd=cwd, capture_output=True, text=True, timeout=120)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("args", [["--help"], ["quantize", "--help"], ["train", "--help"], ["studio", "--help"]])
def test_help_loads_no_heavy_library(args, tmp_path):
    r = _run(args, tmp_path)
    assert r == {"code": 0, "heavy": []}


@pytest.mark.parametrize("args", [["quantize", "in.png", "-k", "4", "-o", "q.png"],
                                  ["superpixels", "in.png", "-n", "20", "-o", "s.png"],
                                  ["enhance", "in.png", "--gamma", "0.8", "-o", "e.png"]])
def test_effects_run_without_torch(args, tmp_path):
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)).save(tmp_path / "in.png")
    r = _run(args, tmp_path)
    assert r["code"] == 0 and "torch" not in r["heavy"], r
    assert Image.open(tmp_path / args[-1]).size == (64, 48)
