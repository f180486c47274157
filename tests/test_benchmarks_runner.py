"""``python -m benchmarks``: one headline row per benchmark result, read from docs/benchmarks/."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCRIPTS = REPO / "benchmarks"
RESULTS = REPO / "docs" / "benchmarks"


def _runner():
    spec = importlib.util.spec_from_file_location("benchmarks_runner", SCRIPTS / "__main__.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


runner = _runner()


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "benchmarks", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=60)


def test_every_script_declares_a_headline_that_reads_its_results():
    benchmarks = runner.discover()
    assert {b.script.name for b in benchmarks} == {p.name for p in SCRIPTS.glob("bench_*.py")}
    assert all(b.results and callable(b.headline) for b in benchmarks), [b.name for b in benchmarks]
    table = runner.rows(benchmarks)
    by_result = {r.result: r for r in table if r.result != "-"}
    for f in RESULTS.glob("*.json"):  # every result present: one row, claimed and readable
        row = by_result[f.name]
        assert row.benchmark != "?", f"no script declares {f.name}"
        assert row.ratio and not row.claim.startswith("unreadable"), row
    assert {r.benchmark for r in table} == {b.name for b in benchmarks}


def test_table_from_the_command_line():
    out = run()
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].split() == ["benchmark", "result", "ratio", "headline"]
    names = {line.split()[0] for line in lines[2:]}
    assert names == {p.stem.removeprefix("bench_") for p in SCRIPTS.glob("bench_*.py")}
    assert len(lines) - 2 >= len(list(RESULTS.glob("*.json")))
    md = run("--markdown")
    assert md.stdout.startswith("| benchmark | result | ratio | headline |")
    assert "[effects.json](effects.md)" in md.stdout


def test_one_row_per_result_present(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    shutil.copy(RESULTS / "effects.json", results)
    shutil.copy(RESULTS / "pix2pix.json", results)
    (results / "latent-projection-a.json").write_text(json.dumps({"rows": [{}], "mean": {
        "w+_psnr": 30.0, "w_psnr": 25.0, "start_psnr": 10.0}}))
    (results / "latent-projection-b.json").write_text("{not json")
    (results / "mystery.json").write_text("{}")
    out = run("--results", str(results))
    assert out.returncode == 0, out.stderr
    rows = {}
    for line in out.stdout.splitlines()[2:]:
        name, rest = line.split(maxsplit=1)
        rows.setdefault(name, []).append(rest)
    assert len(rows["effects"]) == 1 and rows["effects"][0].startswith("effects.json")
    p2p = json.loads((RESULTS / "pix2pix.json").read_text())["results"]
    step = [r for r in p2p if r["what"] == "train step" and r["size"] == max(r["size"] for r in p2p)][0]
    assert f"x{step['speedup']['bf16']:.2f}" in rows["pix2pix"][0]
    a, b = sorted(rows["latent_projection"])
    assert "w+ 30.0 dB" in a and "unreadable by headline(): JSONDecodeError" in b
    assert len(rows["?"]) == 1 and rows["?"][0].startswith("mystery.json")
    assert rows["?"][0].endswith("no bench_*.py declares this result")
    assert "no results yet: python -m benchmarks --run gan_training" in rows["gan_training"][0]
    assert set(rows) - {"?"} == {p.stem.removeprefix("bench_") for p in SCRIPTS.glob("bench_*.py")}


def test_run_runs_one_script_and_headlines_never_import_it(tmp_path):
    scripts, results = tmp_path / "scripts", tmp_path / "results"
    scripts.mkdir()
    results.mkdir()
    (scripts / "bench_fake.py").write_text('''
import sys
from pathlib import Path

import module_that_does_not_exist  # heavy imports must not matter to the table

RESULTS = "fake.json"


def headline(result: dict) -> tuple[float | None, str]:
    return result["speedup"], "fake speed-up"


if __name__ == "__main__":
    pass
''')
    (scripts / "bench_writer.py").write_text(f'''
import json, sys
from pathlib import Path

RESULTS = "writer.json"


def headline(result):
    return None, "wrote " + result["args"]


if __name__ == "__main__":
    Path({str(results)!r}, "writer.json").write_text(json.dumps({{"args": " ".join(sys.argv[1:])}}))
''')
    (results / "fake.json").write_text(json.dumps({"speedup": 2.5}))
    common = ("--scripts", str(scripts), "--results", str(results))
    out = run(*common)
    assert out.returncode == 0, out.stderr
    assert "fake.json  x2.50  fake speed-up" in out.stdout
    assert "no results yet: python -m benchmarks --run writer" in out.stdout
    out = run(*common, "--run", "writer", "--quick")
    assert out.returncode == 0, out.stderr
    assert "wrote --quick" in out.stdout
    bad = run(*common, "--run", "nosuch")
    assert bad.returncode != 0 and "choose one of fake, writer" in bad.stderr
    failing = run(*common, "--run", "fake")  # the script itself fails on its import
    assert failing.returncode != 0 and "bench_fake.py exited with status 1" in failing.stderr


def test_unknown_arguments_without_run_are_refused():
    out = run("--bogus")
    assert out.returncode == 2 and "unrecognized arguments: --bogus" in out.stderr
