"""benchmarks/bench_gpu.py --smoke: the GPU benchmark's whole path (train / infer / NST, eager and
torch.compile, the precision a device refuses) on the CPU at tiny sizes, in a subprocess."""

from __future__ import annotations

import ast
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benchmarks" / "bench_gpu.py"


def _headline():
    """headline() compiled on its own, as ``python -m benchmarks`` does (builtins only)."""
    tree = ast.parse(SCRIPT.read_text(encoding="utf-8"))
    keep = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "headline"]
    namespace: dict = {}
    exec(compile(ast.Module(body=keep, type_ignores=[]), str(SCRIPT), "exec"), namespace)  # noqa: S102
    return namespace["headline"]


@pytest.mark.slow  # ~45 s on a busy 2-core CPU (torch.compile tracing of G and D dominates)
def test_smoke_run_writes_rows_for_every_task(tmp_path):
    before = set((REPO / "docs" / "benchmarks").glob("gpu-*"))
    proc = subprocess.run([sys.executable, str(SCRIPT), "--smoke", "--threads", "1", "--out", str(tmp_path)],
                          cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (result_file,) = tmp_path.glob("gpu-*-smoke.json")
    assert result_file.with_suffix(".md").exists()
    assert set((REPO / "docs" / "benchmarks").glob("gpu-*")) == before  # --out kept docs/ clean
    result = json.loads(result_file.read_text())
    assert result["smoke"] is True and result["env"]["torch"]
    rows = result["rows"]
    assert len(rows) == result["planned"]
    timing = {"train": ("s_per_kimg", "images_per_s"), "infer": ("images_per_s", "seconds_per_batch"),
              "nst": ("seconds_per_eval", "seconds_per_lbfgs_eval")}
    for task, keys in timing.items():
        for compiled in (False, True):
            mine = [r for r in rows if r["task"] == task and r["compile"] is compiled]
            assert mine, (task, compiled)
            ok = [r for r in mine if r["status"] == "ok"]
            if not compiled:
                assert ok, f"no eager {task} row measured: {mine}"
            for r in ok:
                for k in keys:
                    assert isinstance(r[k], float) and math.isfinite(r[k]) and r[k] > 0, (r, k)
                if compiled:
                    assert r["compile_s"] is not None and r["compile_s"] >= 0, r
            for r in mine:  # a combination that did not run says why in one line
                if r["status"] != "ok":
                    assert r["note"] and "\n" not in r["note"], r
    # fp16 autocast does not exist on a CPU: its rows are skip notes, not a crash
    fp16 = [r for r in rows if r["precision"] == "fp16"]
    assert fp16 and all(r["status"] == "skipped" and "fp16" in r["note"] for r in fp16)
    train = next(r for r in rows if r["task"] == "train" and r["status"] == "ok")
    assert set(train["phase_ms"]) == {"Gmain", "Greg", "Dmain", "Dreg", "G_ema"}
    table = result_file.with_suffix(".md").read_text()
    assert "| train |" in table and "| infer |" in table and "| nst |" in table and "compile" in table
    assert _headline()(result) == (None, _headline()(result)[1])  # smoke: no claim


def test_headline_compares_the_best_256px_auto_row_with_nvidia():
    row = dict(task="train", status="ok", res=256, nvidia_v100_s_per_kimg=22.0, compile=False, precision="bf16")
    result = {"smoke": False, "env": {"device_name": "NVIDIA H100"},
              "rows": [row | dict(config="auto", s_per_kimg=11.0),
                       row | dict(config="auto", s_per_kimg=5.5, precision="fp16", compile=True),
                       row | dict(config="paper256", s_per_kimg=2.0),
                       dict(task="train", status="skipped", res=256, config="auto", note="out of GPU memory")]}
    ratio, text = _headline()(result)
    assert ratio == pytest.approx(4.0)
    assert "auto@256" in text and "fp16" in text and "torch.compile" in text and "22" in text
    assert _headline()({"smoke": False, "env": {"device_name": "x"}, "rows": []})[0] is None
