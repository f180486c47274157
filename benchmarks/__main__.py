"""``python -m benchmarks``: one table of every benchmark's headline ratio.

The table is read from the JSON results the scripts already wrote under docs/benchmarks/;
nothing is measured again unless asked:

    python -m benchmarks                        # the table
    python -m benchmarks --run effects [ARGS]   # run benchmarks/bench_effects.py ARGS first
    python -m benchmarks --markdown             # the same table in Markdown (docs/benchmarks/README.md)

Each ``benchmarks/bench_*.py`` declares its headline in one place:

    RESULTS = "effects.json"                    # glob under docs/benchmarks/: one row per file
    def headline(result: dict) -> tuple[float | None, str]:
        return ratio, "what the ratio compares, with the figures behind it"

``ratio`` is the claim's number (None when the claim is a figure, not a ratio). The runner
compiles only those two definitions from the script's source and does not import the script
(its imports are heavy: torch, scipy, the library), so ``headline`` may use its argument and
builtins only. A result the headline cannot read is a row saying so, never a crash.
"""

from __future__ import annotations

import argparse
import ast
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parents[1]
SCRIPTS = REPO / "benchmarks"
RESULTS_DIR = REPO / "docs" / "benchmarks"


@dataclass(frozen=True)
class Benchmark:
    """One ``bench_*.py`` script and the headline it declares."""

    name: str                                               # the script's stem without ``bench_``
    script: Path                                            # path of the script
    results: str | None                                     # its RESULTS glob; None = not declared
    headline: Callable[[dict], tuple[float | None, str]] | None   # its headline(); None = not declared


@dataclass(frozen=True)
class Row:
    benchmark: str      # script name ('?' for a result no script declares)
    result: str         # the JSON file name, or '-' when there is none yet
    ratio: str          # 'x1.23', '-' for a figure-only claim, '' when nothing could be read
    claim: str          # the headline, or why there is none


def _declarations(script: Path) -> Benchmark:
    """RESULTS and headline() of a script, compiled on their own (the script is not imported)."""
    tree = ast.parse(script.read_text(encoding="utf-8"), filename=str(script))
    keep = [node for node in tree.body
            if (isinstance(node, ast.FunctionDef) and node.name == "headline")
            or (isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "RESULTS" for t in node.targets))]
    namespace: dict = {}
    exec(compile(ast.Module(body=keep, type_ignores=[]), str(script), "exec"), namespace)  # noqa: S102
    name = script.stem.removeprefix("bench_")
    return Benchmark(name, script, namespace.get("RESULTS"), namespace.get("headline"))


def discover(scripts: Path = SCRIPTS) -> list[Benchmark]:
    """Every ``bench_*.py`` in ``scripts``, sorted by name."""
    return [_declarations(p) for p in sorted(scripts.glob("bench_*.py"))]


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"x{value:.2f}"


def rows(benchmarks: list[Benchmark], results: Path = RESULTS_DIR) -> list[Row]:
    """One row per JSON result present (one per script without any), then results nobody declares."""
    out: list[Row] = []
    claimed: set[Path] = set()
    for b in benchmarks:
        if b.results is None or b.headline is None:
            out.append(Row(b.name, "-", "", f"{b.script.name} declares no RESULTS/headline()"))
            continue
        files = sorted(results.glob(b.results))
        claimed.update(files)
        if not files:
            out.append(Row(b.name, "-", "", f"no results yet: python -m benchmarks --run {b.name}"))
        for f in files:
            try:
                ratio, claim = b.headline(json.loads(f.read_text(encoding="utf-8")))
                out.append(Row(b.name, f.name, _ratio(ratio), claim))
            except Exception as e:  # a result in an older layout: say so, keep the table
                out.append(Row(b.name, f.name, "", f"unreadable by headline(): {type(e).__name__}: {e}"))
    for f in sorted(set(results.glob("*.json")) - claimed):
        out.append(Row("?", f.name, "", "no bench_*.py declares this result"))
    return out


def format_text(table: list[Row]) -> str:
    head = ("benchmark", "result", "ratio", "headline")
    cells = [head] + [(r.benchmark, r.result, r.ratio, r.claim) for r in table]
    widths = [max(len(c[i]) for c in cells) for i in range(3)]
    lines = ["  ".join(c[i].ljust(widths[i]) for i in range(3)) + "  " + c[3] for c in cells]
    lines.insert(1, "  ".join("-" * w for w in widths) + "  " + "-" * len(head[3]))
    return "\n".join(line.rstrip() for line in lines)


def format_markdown(table: list[Row]) -> str:
    def esc(s: str) -> str:
        return s.replace("|", "\\|")

    lines = ["| benchmark | result | ratio | headline |", "|---|---|---:|---|"]
    for r in table:
        result = f"[{r.result}]({Path(r.result).with_suffix('.md').name})" if r.result.endswith(".json") else r.result
        lines.append(f"| {r.benchmark} | {result} | {r.ratio} | {esc(r.claim)} |")
    return "\n".join(lines)


def find(benchmarks: list[Benchmark], name: str) -> Benchmark:
    key = Path(name).stem.removeprefix("bench_")
    for b in benchmarks:
        if b.name == key:
            return b
    raise SystemExit(f"error: no benchmark named {name!r}; choose one of {', '.join(b.name for b in benchmarks)}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0],
                                 epilog="Arguments after --run NAME that this runner does not know go to the script.")
    ap.add_argument("--run", metavar="NAME", help="run benchmarks/bench_NAME.py first (it rewrites its results)")
    ap.add_argument("--markdown", action="store_true", help="print a Markdown table")
    ap.add_argument("--scripts", type=Path, default=SCRIPTS, help=argparse.SUPPRESS)
    ap.add_argument("--results", type=Path, default=RESULTS_DIR, help=argparse.SUPPRESS)
    args, extra = ap.parse_known_args(argv)
    if extra and not args.run:
        ap.error(f"unrecognized arguments: {' '.join(extra)}")
    benchmarks = discover(args.scripts)
    if args.run:
        b = find(benchmarks, args.run)
        print(f"running {b.script.name} {' '.join(extra)}".rstrip(), flush=True)
        code = subprocess.call([sys.executable, str(b.script), *extra], cwd=REPO)
        if code:
            print(f"error: {b.script.name} exited with status {code}", file=sys.stderr)
            return code
    table = rows(benchmarks, args.results)
    print(format_markdown(table) if args.markdown else format_text(table))
    return 0


if __name__ == "__main__":
    sys.exit(main())
