"""The first hour on a CPU: which GAN draws recognisable blooms soonest (issue 14).

Contenders train on the same 64 px species blooms (``samples.bloom(..., species=True)``) with the
same budget of **CPU time**: every training process runs with one torch thread and no decoding
workers, and a watcher reads its CPU seconds from /proc and asks it to stop (the trainer's stop
file: it snapshots and ends) when the budget is spent. Two processes run at a time on the 2
cores, so contenders share the same machine moments, and a busy machine stretches the wall
clock without changing what each contender got. A run is stopped at the first budget (10 min),
evaluated, then continued with ``--resume`` (exact: tests/test_gan_train.py) to the next (30 min).

Evaluation, the same for every contender: 1024 G_ema images on fixed z (truncation 1) against
1024 training images, SWD as the trainer computes it (``gan.metrics.swd``: Laplacian pyramid
64/32/16 px, 7x7 patches, x1000); plus the noise floor (1024 fresh species blooms against the
training set) and an 8x4 grid of fixed seeds for the docs.

    python benchmarks/bench_gan_first_hour.py sweep   # the `small` preset sweep (short budget)
    python benchmarks/bench_gan_first_hour.py study   # lite / small before issue 14 / small now / DCGAN
    python benchmarks/bench_gan_first_hour.py study --seeds 0 --budgets 10,30

Results: docs/benchmarks/gan-first-hour-<mode>.json and .md; grids in docs/images/first-hour/.
Runs live in --work (default /tmp/nb-first-hour); a rerun skips legs whose budgets are all recorded
in the JSON and continues a partly measured leg from its run folder (or from nothing when the folder
is gone), so an interrupted study continues where it stopped.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

RESULTS = "gan-first-hour-*.json"
ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "benchmarks"
IMAGES = ROOT / "docs" / "images" / "first-hour"
RES = 64
DATASET_IMAGES = 1000  # the seeds' collections: 300-1000 images
EVAL_IMAGES = 1024  # the trainer's default --metric-images

# The `small` preset as it was before issue 14's sweep, spelled out so that it stays reproducible
# after the preset changes (every value below was the preset's).
SMALL_OLD = dict(arch="stylegan2", cfg="small", batch=16, mbstd=4, glr=0.0025, dlr=0.0025, gamma=0.05,
                 map_depth=2, cbase=1024, cmax=128, ema_kimg=5.0, ema_ramp=0.05, pl_weight=0.0, style_mixing=0.0,
                 d_recon=0.0, diffaugment_color_p=1.0)  # the last two: issue 14's fourteenth round made them 1, 0.5

STUDY = {
    "lite": dict(arch="lite"),
    "small-old": SMALL_OLD,
    # the second sweep round's pick (10 CPU-min, seed 0: SWD 90.6 against 98.9 for the old values, and
    # 22 kimg against 17: DiffAugment costs less than ADA's pipeline)
    "small-new": dict(SMALL_OLD, glr=0.005, dlr=0.005, gamma=1.0, aug="diffaugment"),  # the preset until round 9
    "dcgan": dict(arch="dcgan", batch=16),  # docs/gan-training.md: batch 16 on a CPU
    # the first round's 5-minute winner, which collapsed later (kept as a record, not rerun by default)
    "small-batch8-lr0.005": dict(SMALL_OLD, batch=8, glr=0.005, dlr=0.005),
    # Third round: small-new's grids have washed-out, greyish backgrounds and its coarse (16 px) SWD
    # got worse from 10 to 30 minutes; at lr 0.005 G moves fast, and a 3.6 kimg EMA (5 kimg, ramp
    # 0.05 at 72 kimg) averages colours it has already left. A 1 kimg EMA follows G more closely.
    "small-ema1": dict(SMALL_OLD, glr=0.005, dlr=0.005, gamma=1.0, aug="diffaugment", ema_kimg=1.0),
    # bf16 is the last knob: at 64 px NVIDIA's num_fp16_res=4 puts every block but 4 px in low
    # precision, and bf16 keeps 8 bits of mantissa where fp16 keeps 11. fp32 costs more per image.
    "small-fp32": dict(SMALL_OLD, glr=0.005, dlr=0.005, gamma=1.0, aug="diffaugment", precision="fp32"),
    # Fourth round: small-new plateaus from 10 to 30 minutes (87.9 -> 85.8) although it sees 3x the images,
    # so images are not what it lacks; its G has 16 channels at 64 px and 1.5 GFLOP per training image
    # against lite's 3.6. Twice the channels (~2.2x the cost per image: the first round's `wide`, which lost
    # at 5 minutes on fewer images) judged where it matters, at 30.
    "small-wide": dict(SMALL_OLD, glr=0.005, dlr=0.005, gamma=1.0, aug="diffaugment", cbase=2048, cmax=256),
    # Fifth round: every StyleGAN2 sample keeps one silhouette on a grainy ground, so the latent reaches the
    # colours but not the shape; without per-pixel noise inputs G must take every variation from w.
    "small-nonoise": dict(SMALL_OLD, glr=0.005, dlr=0.005, gamma=1.0, aug="diffaugment", noise_mode="none"),
    # Sixth round: the mapping network learns at 0.01 of the rate (NVIDIA's lr_multiplier, made for runs of
    # thousands of kimg), so in the first hour w stays close to a fixed random projection of z; at 0.1 it moves.
    "small-maplr0.1": dict(SMALL_OLD, glr=0.005, dlr=0.005, gamma=1.0, aug="diffaugment", map_lr_mul=0.1),
    # Seventh round, straight to 30 minutes (10-minute ranks have not held at 30): small-new's coarse (16 px)
    # SWD gets worse from 10 to 30 minutes (colour layout: greyish grounds, dark halos) while D wins by a
    # widening margin. DiffAugment's colour op runs on every image, so D judges colours only through random
    # brightness, saturation and contrast; without it D sees the grounds as they are.
    "small-nocolor": dict(SMALL_OLD, glr=0.005, dlr=0.005, gamma=1.0, aug="diffaugment",
                          diffaugment="translation,cutout"),
    # ...and a firmer R1 (gamma 4) against D's widening margin.
    "small-gamma4": dict(SMALL_OLD, glr=0.005, dlr=0.005, gamma=4.0, aug="diffaugment"),
    # The single silhouette is a collapse of shape diversity, which D sees only through the minibatch
    # standard deviation over groups of 4; NVIDIA's small-data `cifar` preset uses groups of 32. Here the
    # whole minibatch (16).
    "small-mbstd16": dict(SMALL_OLD, glr=0.005, dlr=0.005, gamma=1.0, aug="diffaugment", mbstd=16),
    # The list names the mapping depth, which the sweep left unmeasured: one layer instead of two.
    "small-map1": dict(SMALL_OLD, glr=0.005, dlr=0.005, gamma=1.0, aug="diffaugment", map_depth=1),
    # Eighth round: none of the knobs above changes the single silhouette. In StyleGAN2 every sample starts
    # from one learned 4x4 constant that w can only re-weight channel by channel; lite and DCGAN make their
    # 4x4 input from the latent. g_input="w" adds a per-sample 4x4 layout made from w to the constant.
    "small-winput": dict(SMALL_OLD, glr=0.005, dlr=0.005, gamma=1.0, aug="diffaugment", g_input="w"),
    # Ninth round: the two seventh-round changes that each took seed 0 from 91.6 to ~82.5 at 30 minutes,
    # together (the minibatch-wide standard deviation gave the first StyleGAN2 grid with several shapes).
    "small-mbstd16-gamma4": dict(SMALL_OLD, glr=0.005, dlr=0.005, gamma=4.0, aug="diffaugment", mbstd=16),
    # Tenth round: with the mapping network of one layer as well (seed 0 alone: 79.9 at 30 minutes).
    "small-mbstd16-gamma4-map1": dict(SMALL_OLD, glr=0.005, dlr=0.005, gamma=4.0, aug="diffaugment", mbstd=16,
                                      map_depth=1),
    # Eleventh round, seed 0 first: R1 gamma went 0.05 -> 1 -> 4 with SWD falling each time, so gamma 10;
    # and the generator at half the discriminator's rate (two time scales) with the preset's gamma 4.
    "small-mbstd16-gamma10": dict(SMALL_OLD, glr=0.005, dlr=0.005, gamma=10.0, aug="diffaugment", mbstd=16),
    "small-mbstd16-gamma4-ttur": dict(SMALL_OLD, glr=0.0025, dlr=0.005, gamma=4.0, aug="diffaugment", mbstd=16),
    # Twelfth round: FastGAN's self-supervised D on StyleGAN2 (--d-recon: decoders rebuild the reals from
    # D's 8x8 and 16x16 features), the preset otherwise; lite, whose D does this, is far ahead at 16 px.
    "small-mbstd16-gamma4-recon": dict(SMALL_OLD, glr=0.005, dlr=0.005, gamma=4.0, aug="diffaugment", mbstd=16,
                                       d_recon=1.0),
    # Thirteenth round: DiffAugment's colour op on half the images (config-only diffaugment_color_p 0.5).
    # Every real bloom's ground has one saturation (0.40 +- 0.04 in HSV terms); the preset's 30-minute
    # samples' grounds range over 0.38 +- 0.16: with every image recoloured (saturation x U(0, 2)) D cannot
    # see saturation at all. The seventh round's no-colour row fixed the coarse level but let D win.
    "small-mbstd16-gamma4-colorp0.5": dict(SMALL_OLD, glr=0.005, dlr=0.005, gamma=4.0, aug="diffaugment", mbstd=16,
                                           diffaugment_color_p=0.5),
    # Fourteenth round: the twelfth and thirteenth rounds' changes together (seed 0 each: 66.9 and 65.4 at
    # 30 CPU-minutes, against the preset's 74.6).
    "small-mbstd16-gamma4-recon-colorp0.5": dict(SMALL_OLD, glr=0.005, dlr=0.005, gamma=4.0, aug="diffaugment",
                                                 mbstd=16, d_recon=1.0, diffaugment_color_p=0.5),
}
# The `small` preset's values since the fourteenth round (the row name keeps the study's record readable).
PRESET_ROW = "small-mbstd16-gamma4-recon-colorp0.5"
STUDY_DEFAULT = ("lite", "small-old", PRESET_ROW, "dcgan")

# One change at a time from the old preset (then the winners together), a short budget each.
SWEEP = {
    "old": {},
    "batch8": dict(batch=8),
    "lr0.005": dict(glr=0.005, dlr=0.005),
    "gamma0": dict(gamma=0.0),
    "wide": dict(cbase=2048, cmax=256),
    "map1": dict(map_depth=1),
    "batch8+lr0.005": dict(batch=8, glr=0.005, dlr=0.005),
    # Second round (10 CPU-min): the 5-minute winner collapsed later, so a higher rate with a firmer R1,
    # and DiffAugment (which makes lite's D hard to fool) with and without it.
    "lr0.005+gamma1": dict(glr=0.005, dlr=0.005, gamma=1.0),
    "diffaugment": dict(aug="diffaugment"),
    "lr0.005+gamma1+diffaugment": dict(glr=0.005, dlr=0.005, gamma=1.0, aug="diffaugment"),
}


def headline(result: dict) -> tuple[float | None, str]:
    rows = result["rows"]
    if result.get("mode") == "sweep":
        top = max(r["budget"] for r in rows)
        rows = [r for r in rows if r["budget"] == top]
        best = min(rows, key=lambda r: r["swd"])
        old = [r for r in rows if r["name"] == "old"]
        ratio = old[0]["swd"] / best["swd"] if old else None
        return ratio, (f"small preset sweep, {top:g} CPU-min at {result['res']} px: best "
                       f"{best['name']} SWD {best['swd']:.1f}" + (f" vs old {old[0]['swd']:.1f}" if old else ""))

    def mean(name: str, budget: float) -> float | None:
        v = [r["swd"] for r in rows if r["name"] == name and r["budget"] == budget]
        return sum(v) / len(v) if v else None

    top = max(r["budget"] for r in rows)
    lite, dcgan = mean("lite", top), mean("dcgan", top)
    preset = "small-mbstd16-gamma4-recon-colorp0.5"  # PRESET_ROW (a headline may use builtins only: benchmarks/__main__.py)
    parts = [f"{n} {mean(n, top):.1f}" for n in ("lite", "dcgan", "small-old", "small-new", preset) if mean(n, top)]
    return (dcgan / lite if lite and dcgan else None,
            f"SWD after {top:g} CPU-min on 64 px species blooms (floor {result['floor']}): " + ", ".join(parts)
            + f"; ratio = DCGAN / lite (small-old: the small preset before issue 14; small-new: the second "
            f"sweep round's; {preset}: the preset since the fourteenth round)")


@dataclass
class Leg:
    name: str
    options: dict
    seed: int
    budgets: list[float]  # CPU minutes, ascending; the run stops, is evaluated and continues at each
    done: list[float] = field(default_factory=list)


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), from /proc."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def make_dataset(work: Path) -> Path:
    from neuralbrush.datasets.samples import write_blooms

    data = work / "blooms64-species"
    if not (data / f"bloom_{DATASET_IMAGES - 1:05d}.png").exists():
        write_blooms(data, DATASET_IMAGES, RES, seed=0, species=True)
    return data


class Running:
    """One training process of a leg, stopped when its CPU seconds reach the budget."""

    def __init__(self, leg: Leg, work: Path, data: Path, budget_min: float, cpu_before: float):
        self.leg, self.budget_min, self.cpu_before = leg, budget_min, cpu_before
        self.dir = work / "runs" / f"{leg.name}-s{leg.seed}"
        self.stop = work / "runs" / f"{leg.name}-s{leg.seed}.STOP"
        self.stop.unlink(missing_ok=True)
        env = dict(os.environ, NEURALBRUSH_STOP_FILE=str(self.stop), OMP_NUM_THREADS="1")
        common = ["--threads", "1", "--workers", "0", "--metrics", "none", "--minutes", "100000",
                  "--snap", "1000000", "--snap-minutes", "0", "--tick-minutes", "1", "--grid", "8x4"]
        existing = sorted(self.dir.glob("*/network-snapshot-*.safetensors"))
        if existing:
            cmd = ["train", "--resume", str(existing[-1].parent)] + common
        else:
            cfg = dict(leg.options, data=str(data), outdir=str(self.dir), res=RES, seed=leg.seed)
            self.dir.mkdir(parents=True, exist_ok=True)
            (self.dir / "options.json").write_text(json.dumps(cfg, indent=1))
            cmd = ["train", "--config", str(self.dir / "options.json")] + common
        self.log = open(self.dir.parent / f"{leg.name}-s{leg.seed}.log", "a")
        self.proc = subprocess.Popen([sys.executable, "-m", "neuralbrush", *cmd], env=env, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        self.cpu = 0.0
        self.asked = False

    def poll(self) -> bool:
        """True when the process has ended."""
        if self.proc.poll() is not None:
            self.log.close()
            return True
        try:
            self.cpu = cpu_seconds(self.proc.pid)
        except (OSError, IndexError):
            return False
        if not self.asked and self.cpu_before + self.cpu >= self.budget_min * 60:
            self.stop.write_text("budget spent")
            self.asked = True
        return False


def reference(reals):
    """The reals' SWD descriptors, computed once (gan.metrics.swd with the same seed)."""
    from neuralbrush.gan.metrics import SWDReference, swd_descriptors

    d, r = swd_descriptors(reals, seed=123)
    return SWDReference(d, reals.shape[1], r)


def evaluate(run_root: Path, reals, label: str) -> dict:
    """SWD of G_ema's images (fixed z, fp32) against the training set; the 8x4 grid saved for the docs."""
    import torch

    from neuralbrush.core.media import save_grid
    from neuralbrush.gan.loading import load_gan
    from neuralbrush.gan.metrics import swd
    from neuralbrush.gan.trainer_state import generate_images

    snaps = sorted(run_root.glob("*/network-snapshot-*.safetensors"))
    snap = load_gan(snaps[-1])
    G = snap.generator("G_ema").eval()
    z = torch.randn(EVAL_IMAGES, G.z_dim, generator=torch.Generator().manual_seed(1234))
    with torch.no_grad():
        fakes = generate_images(G, z, torch.zeros(EVAL_IMAGES, 0), batch=64)
    result = swd(reals, fakes)
    # the raw G beside it, on the same z: tells what the EMA adds (or takes away) at this point
    G_raw = snap.G.eval() if snap.G is not None else None
    raw = None
    if G_raw is not None:
        with torch.no_grad():
            raw = round(swd(reals, generate_images(G_raw, z, torch.zeros(EVAL_IMAGES, 0), batch=64))["swd"], 2)
    IMAGES.mkdir(parents=True, exist_ok=True)
    grid_path = IMAGES / f"{label}.png"
    save_grid(fakes[:32], grid_path, (8, 4))
    nimg = snap.meta.get("cur_nimg")
    return {"swd": round(result["swd"], 2),
            "swd_levels": {k: round(v, 2) for k, v in result.items() if k != "swd"}, "swd_raw_G": raw,
            "kimg": round(float(nimg) / 1000, 2) if nimg is not None else None,
            "snapshot": str(snaps[-1].relative_to(run_root)), "grid": str(grid_path.relative_to(ROOT))}


def load_images(paths: list[Path]):
    import numpy as np
    import torch
    from PIL import Image

    arr = np.stack([np.asarray(Image.open(p).convert("RGB")) for p in paths])
    return torch.from_numpy(arr).permute(0, 3, 1, 2).contiguous()


def noise_floor(work: Path, reals) -> float:
    """SWD of fresh species blooms (another seed) against the training set: what a perfect G scores."""
    from neuralbrush.datasets.samples import write_blooms
    from neuralbrush.gan.metrics import swd

    fresh = work / "blooms64-species-fresh"
    if not (fresh / f"bloom_{EVAL_IMAGES - 1:05d}.png").exists():
        write_blooms(fresh, EVAL_IMAGES, RES, seed=99, species=True)
    return round(swd(reals, load_images(sorted(fresh.glob("*.png"))[:EVAL_IMAGES]))["swd"], 2)


def write_results(path: Path, result: dict) -> None:
    path.write_text(json.dumps(result, indent=1) + "\n")
    rows = result["rows"]
    md = [f"# {result['title']} (`benchmarks/bench_gan_first_hour.py {result['mode']}`)", "",
          result["protocol"], "", f"Noise floor (fresh species blooms vs the training set): SWD {result['floor']}", ""]
    if result["mode"] == "study":
        budgets = sorted({r["budget"] for r in rows})
        md += ["Mean SWD over seeds (each seed in brackets) and mean kimg reached:", "",
               "| contender | " + " | ".join(f"{b:g} CPU-min" for b in budgets) + " |", "|---" * (1 + len(budgets)) + "|"]
        for n in dict.fromkeys(r["name"] for r in rows):
            cells = []
            for b in budgets:
                rs = sorted((r for r in rows if r["name"] == n and r["budget"] == b), key=lambda r: r["seed"])
                cells.append(f"**{sum(r['swd'] for r in rs) / len(rs):.1f}** ("
                             + ", ".join(f"{r['swd']:.1f}" for r in rs)
                             + f"), {sum(r['kimg'] for r in rs) / len(rs):.1f} kimg" if rs else "-")
            md.append(f"| {n} | " + " | ".join(cells) + " |")
        md += ["", "Every run:", ""]
    md += ["| contender | seed | CPU min | kimg | SWD | SWD 64/32/16 | grid |", "|---|---|---|---|---|---|---|"]
    for r in sorted(rows, key=lambda r: (r["budget"], r["name"], r["seed"])):
        lv = r["swd_levels"]
        levels = "/".join(f"{lv[k]:.0f}" for k in sorted(lv, key=lambda k: -int(k.split("/")[1])))
        md.append(f"| {r['name']} | {r['seed']} | {r['budget']:g} | {r['kimg']} | {r['swd']:.1f} | {levels} | "
                  f"![{r['name']}](../{Path(r['grid']).relative_to('docs')}) |")
    path.with_suffix(".md").write_text("\n".join(md) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("mode", choices=("sweep", "study"))
    ap.add_argument("--seeds", default=None, help="comma-separated (default: study 0,1; sweep 0)")
    ap.add_argument("--budgets", default=None, help="CPU minutes, comma-separated (default: study 10,30; sweep 5)")
    ap.add_argument("--only", default=None, help="comma-separated contender names")
    ap.add_argument("--slots", type=int, default=2, help="training processes at a time (one per core)")
    ap.add_argument("--order", choices=("budget", "seed"), default="budget",
                    help="budget: every first-budget leg before any later one; seed: seed 0's legs (all budgets) "
                         "before seed 1's")
    ap.add_argument("--work", default="/tmp/nb-first-hour")
    ap.add_argument("--report-only", action="store_true", help="rewrite the .md from the JSON and stop")
    args = ap.parse_args()
    if args.report_only:
        out = OUT / f"gan-first-hour-{args.mode}.json"
        write_results(out, json.loads(out.read_text()))
        return
    table = SWEEP if args.mode == "sweep" else STUDY
    seeds = [int(s) for s in (args.seeds or ("0" if args.mode == "sweep" else "0,1")).split(",")]
    budgets = sorted(float(b) for b in (args.budgets or ("5" if args.mode == "sweep" else "10,30")).split(","))
    names = args.only.split(",") if args.only else list(STUDY_DEFAULT if args.mode == "study" else table)
    work = Path(args.work) / args.mode
    work.mkdir(parents=True, exist_ok=True)
    out = OUT / f"gan-first-hour-{args.mode}.json"
    data = make_dataset(Path(args.work))
    reals = reference(load_images(sorted(data.glob("*.png"))[:EVAL_IMAGES]))
    result = json.loads(out.read_text()) if out.exists() else {"rows": []}
    result.update(mode=args.mode, res=RES, budgets=budgets, dataset_images=DATASET_IMAGES, eval_images=EVAL_IMAGES,
                  machine=f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
                  title="The first hour: SWD per CPU budget" if args.mode == "study" else "`small` preset sweep",
                  protocol=(f"64 px species blooms ({DATASET_IMAGES} images); each contender one torch thread, "
                            f"{args.slots} at a time, stopped by its own CPU seconds; SWD of {EVAL_IMAGES} G_ema "
                            "images (fixed z) against the training set. Lower is better."),
                  options={**result.get("options", {}),
                           **{n: dict(SMALL_OLD, **table[n]) if args.mode == "sweep" else table[n] for n in names}})
    if "floor" not in result:
        result["floor"] = noise_floor(Path(args.work), reals)
    done = {(r["name"], r["seed"], r["budget"]) for r in result["rows"]}
    # the first budget contender by contender (in --only's order), later ones seed by seed
    legs = [Leg(n, dict(SMALL_OLD, **table[n]) if args.mode == "sweep" else table[n], s, budgets)
            for n in names for s in seeds]
    for leg in legs:
        recorded = [b for b in budgets if (leg.name, leg.seed, b) in done]
        if len(recorded) == len(budgets):  # every budget measured: nothing to run
            leg.done = recorded
        elif (work / "runs" / f"{leg.name}-s{leg.seed}").exists():  # continue the run to its next budget
            leg.done = recorded
        else:  # its run folder is gone: it starts again from nothing
            result["rows"] = [r for r in result["rows"]
                              if (r["name"], r["seed"]) != (leg.name, leg.seed) or r["budget"] not in budgets]
            leg.done = []
    queue = [leg for leg in legs if len(leg.done) < len(budgets)]
    # first budgets first: every contender's 10-minute leg before anybody's 30-minute one
    # (the harness reads the presets when each process starts: run it from a frozen copy of the tree)
    import torch
    from concurrent.futures import ThreadPoolExecutor

    torch.set_num_threads(1)
    evaluator = ThreadPoolExecutor(1)  # evaluations run beside the training processes, which keep being polled
    pending: list = []
    running: list[Running] = []
    started = time.time()
    while queue or running or pending:
        while queue and len(running) < args.slots:
            if args.order == "seed":
                queue.sort(key=lambda leg: (leg.seed, len(leg.done), legs.index(leg)))
            else:
                queue.sort(key=lambda leg: (len(leg.done), leg.seed if leg.done else 0, legs.index(leg)))
            leg = queue.pop(0)
            budget = budgets[len(leg.done)]
            before = sum(r["cpu_s"] for r in result["rows"] if (r["name"], r["seed"]) == (leg.name, leg.seed)
                         and r["budget"] == (leg.done[-1] if leg.done else None))
            running.append(Running(leg, work, data, budget, before))
            print(f"[{time.time() - started:6.0f} s] start {leg.name} seed {leg.seed} -> {budget:g} CPU-min", flush=True)
        time.sleep(1)
        for run in list(running):
            if not run.poll():
                continue
            running.remove(run)
            leg, budget = run.leg, run.budget_min
            if run.proc.returncode != 0:
                print(f"{leg.name} seed {leg.seed} failed (exit {run.proc.returncode}); see its log", flush=True)
                continue
            row = {"name": leg.name, "seed": leg.seed, "budget": budget, "cpu_s": round(run.cpu_before + run.cpu, 1)}
            label = f"{args.mode}-{leg.name}-s{leg.seed}-{budget:g}min"
            pending.append((leg, row, evaluator.submit(evaluate, run.dir, reals, label)))
            leg.done.append(budget)  # the next leg may start while this one is evaluated (it reads this snapshot first)
        for item in list(pending):
            leg, row, fut = item
            if not fut.done():
                continue
            pending.remove(item)
            row.update(fut.result())
            result["rows"] = [r for r in result["rows"]
                              if (r["name"], r["seed"], r["budget"]) != (leg.name, leg.seed, row["budget"])]
            result["rows"].append(row)
            write_results(out, result)
            print(f"[{time.time() - started:6.0f} s] {leg.name} seed {leg.seed} at {row['budget']:g} CPU-min: "
                  f"kimg {row['kimg']}, SWD {row['swd']}", flush=True)
            if len(leg.done) < len(budgets):
                queue.append(leg)
    write_results(out, result)


if __name__ == "__main__":
    main()
