"""Absurd, NaN, empty and wrong-typed values for every command that takes them.

Each case runs the CLI in-process from an empty folder and must end as one ``error:`` line
naming the option (exit 2, no traceback) with no file or folder left behind. Values are
refused where they enter, before any heavy work: the fixtures below make the model loader
(latent commands), the dataset reader (train) and the VGG-19 builder (style) fail the test
if they are reached, so a check that is missing or comes too late shows up as a traceback
instead of passing by luck. The few checks that need the model's shape run with a real
16 px generator and must still refuse before any output folder is made.
"""

from __future__ import annotations

import json
import math
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from adversarial_harness import assert_refused, run_cli
from gan_helpers import small_stylegan
from neuralbrush.gan.presets import MAX_GRID_CELLS, MAX_TRAIN_BATCH, TrainOptions
from neuralbrush.latent.options import (MAX_BATCH, MAX_FPS, MAX_FRAMES, MAX_IMAGES, GenerateOptions,
                                        NeighboursOptions, WalkOptions)

pytestmark = pytest.mark.usefixtures("one_thread")

CPU = ["--device", "cpu", "--precision", "fp32"]
HYPO = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


# ------------------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    """A real 16 px StyleGAN2 snapshot (outside the watched folder)."""
    from neuralbrush.gan.snapshot import save_snapshot

    path = tmp_path_factory.mktemp("model") / "network-snapshot-000000.safetensors"
    save_snapshot(path, arch="stylegan2", G=small_stylegan(16), G_ema=small_stylegan(16))
    return path


@pytest.fixture()
def no_heavy_work(monkeypatch):
    """Reaching the model loader, the dataset reader or VGG-19 means a bad value got through."""
    import neuralbrush.datasets.reader as reader
    import neuralbrush.latent.render as render
    import neuralbrush.style.transfer as transfer

    def never(*a, **k):
        raise AssertionError("heavy work started before the bad value was refused")

    monkeypatch.setattr(render, "load_model", never)
    monkeypatch.setattr(reader, "ImageDataset", never)
    monkeypatch.setattr(transfer, "VGGFeatures", never)


@pytest.fixture()
def files(in_tmp) -> dict[str, Path]:
    """Inputs in the watched folder (made before the command runs, so they are not 'new')."""
    from neuralbrush.datasets.samples import skimage_photo, write_blooms
    from neuralbrush.latent.latents import Latents, save_latents
    import torch

    d = in_tmp
    photo = skimage_photo("astronaut").convert("RGB").resize((32, 32))
    photo.save(d / "photo.png")
    Image.open(d / "photo.png").rotate(90).save(d / "style.png")
    write_blooms(d / "blooms", 8, 16, seed=0)
    save_latents(d / "good.npz", Latents(w=torch.zeros(1, 4, 32), z=torch.zeros(1, 32)))
    save_latents(d / "wide.npz", Latents(w=torch.zeros(1, 4, 48)))  # w_dim 48: not this model's 32
    (d / "empty.npz").write_bytes(b"")
    (d / "notes.npz").write_text("these are my favourite latents\n")
    np.savez(d / "nokeys.npz", x=np.zeros(3))
    np.savez(d / "nan.npz", w=np.full((1, 4, 32), np.nan, np.float32))
    np.savez(d / "text.npz", w=np.array(["a", "b"]))
    np.savez(d / "nothing.npz", w=np.zeros((0, 4, 32), np.float32))
    with open(d / "single.npz", "wb") as f:
        np.save(f, np.zeros((1, 4, 32), np.float32))
    good = (d / "good.npz").read_bytes()
    (d / "truncated.npz").write_bytes(good[: len(good) // 2])
    with zipfile.ZipFile(d / "broken.npz", "w") as z:  # a zip whose member is not an .npy
        z.writestr("w.npy", b"\x93NUMPY garbage")
    return {p.stem: p for p in d.iterdir() if p.is_file()} | {"blooms": d / "blooms"}


def _refused(argv, in_tmp, match, allowed_new=()):
    outcome = run_cli([str(a) for a in argv], watch=in_tmp)
    assert_refused(outcome, match=match, allowed_new=allowed_new)
    return outcome


# ------------------------------------------------------------------------ latent commands, no model

GENERATE = [
    (["--seeds", "0-99999999999"], ["--seeds", str(MAX_IMAGES)]),
    (["--seeds", "abc"], "--seeds"),
    (["--seeds", ""], "--seeds"),
    (["--seeds", ","], "--seeds"),
    (["--seeds", "9-3"], "--seeds"),
    (["--seeds", "-3"], "--seeds"),
    (["--seeds", "4294967296"], "--seeds"),
    (["--trunc", "1:2:100000"], ["--trunc", str(MAX_IMAGES)]),
    (["--trunc", "1:2:99999999999999"], ["--trunc", str(MAX_IMAGES)]),
    (["--trunc", "nan"], "--trunc"),
    (["--trunc", "-inf"], "--trunc"),
    (["--trunc", "0.5:nan:3"], "--trunc"),
    (["--trunc", "0.5:1:0"], "--trunc"),
    (["--trunc", "0.5:1"], "--trunc"),
    (["--trunc", ""], "--trunc"),
    (["--seeds", "0-999", "--trunc", "0:1:11"], ["--seeds x --trunc", str(MAX_IMAGES)]),
    (["--noise-mode", "loud"], "--noise-mode"),
    (["--grid", "abc"], "--grid"),
    (["--grid", "0x3"], "--grid"),
    (["--grid", "1000x1000"], ["--grid", str(MAX_IMAGES)]),
    (["--batch", "0"], "--batch"),
    (["--batch", "-4"], "--batch"),
    (["--batch", str(MAX_BATCH + 1)], "--batch"),
    (["--trunc-cutoff", "-1"], "--trunc-cutoff"),
    (["--class", "-1"], "--class"),
    (["--w", "missing.npz"], "missing.npz"),
    (["--w", "empty.npz"], "empty.npz"),
    (["--w", "notes.npz"], "notes.npz"),
    (["--w", "nokeys.npz"], ["nokeys.npz", "neither"]),
    (["--w", "nan.npz"], ["nan.npz", "NaN"]),
    (["--w", "text.npz"], ["text.npz", "not numbers"]),
    (["--w", "nothing.npz"], "nothing.npz"),
    (["--w", "single.npz"], "single.npz"),
    (["--w", "truncated.npz"], "truncated.npz"),
    (["--w", "broken.npz"], "broken.npz"),
    (["--w", "good.npz", "--trunc", "0:1:3"], "sweep"),
]

MIX = [
    (["--rows", "0-200", "--cols", "0-200"], ["--rows x --cols", str(MAX_IMAGES)]),
    (["--rows", "0-99999999999"], "--rows"),
    (["--rows", "x"], "--rows"),
    (["--cols", ""], "--cols"),
    (["--styles", "a-b"], "--styles"),
    (["--styles", "0-99999999999"], "--styles"),
    (["--noise-mode", "x"], "--noise-mode"),
    (["--trunc", "nan"], "--trunc"),
    (["--class", "-2"], "--class"),
]

PROJECT = [
    (["--steps", "0"], "--steps"),
    (["--steps", "99999999"], "--steps"),
    (["--lr", "nan"], "--lr"),
    (["--lr", "0"], "--lr"),
    (["--lr", "-0.1"], "--lr"),
    (["--lr", "1e9"], "--lr"),
    (["--space", "q"], "--space"),
    (["--loss", "l3"], "--loss"),
    (["--fit", "stretch"], "--fit"),
    (["--pad-color", "notacolour"], "--pad-color"),
    (["--seed", "-1"], "--seed"),
    (["--checkpoint-every", "-1"], "--checkpoint-every"),
]

NEIGHBOURS = [
    (["--count", "100000000"], ["--count", str(MAX_IMAGES)]),
    (["--count", "0"], "--count"),
    (["--count", "1e8"], "--count"),
    (["--sigma", "nan"], "--sigma"),
    (["--sigma", "-1"], "--sigma"),
    (["--sigma", "1e9"], "--sigma"),
    (["--space", "q"], "--space"),
    (["--pick", "5", "--count", "3"], "--pick"),
    (["--pick", "-1"], "--pick"),
    (["--batch", "0"], "--batch"),
    (["--seed", "99999999999"], "--seed"),
]

WALK = [
    (["--frames", "2000000000"], ["--frames", str(MAX_FRAMES)]),
    (["--frames", "2e9"], "--frames"),
    (["--frames", "1"], "--frames"),
    (["--seeds", "0-9999", "--frames", "100"], ["frames", str(MAX_FRAMES)]),
    (["--seeds", "0-99999999999"], "--seeds"),
    (["--seeds", ""], "--seeds"),
    (["--fps", "0"], "--fps"),
    (["--fps", "-30"], "--fps"),
    (["--fps", "nan"], "--fps"),
    (["--fps", "1e9"], "--fps"),
    (["--kind", "spiral"], "--kind"),
    (["--space", "q"], "--space"),
    (["--easing", "bouncy"], "--easing"),
    (["--radius", "-1"], "--radius"),
    (["--radius", "inf"], "--radius"),
    (["--sigma", "1e9"], "--sigma"),
    (["--harmonics", "100000"], "--harmonics"),
    (["--harmonics", "0"], "--harmonics"),
    (["--grid", "100x100"], "--grid"),
    (["--grid", "2by2"], "--grid"),
    (["--batch", "0"], "--batch"),
    (["--noise-mode", "x"], "--noise-mode"),
    (["--seed", "-1"], "--seed"),
    (["--trunc", "nan"], "--trunc"),
    (["--w", "empty.npz"], "empty.npz"),
    (["--w", "notes.npz"], "notes.npz"),
]

LATENT = ([("generate", a, m) for a, m in GENERATE] + [("mix", a, m) for a, m in MIX]
          + [("project", a, m) for a, m in PROJECT] + [("neighbours", a, m) for a, m in NEIGHBOURS]
          + [("video walk", a, m) for a, m in WALK])


@pytest.mark.parametrize("command, args, match", LATENT, ids=[f"{c}:{' '.join(a)}" for c, a, _ in LATENT])
def test_latent_values_refused_before_the_model_loads(command, args, match, files, in_tmp, no_heavy_work):
    argv = [*command.split(), "model.safetensors"]
    if command == "project":
        argv.append(files["photo"])
    if command == "neighbours" and "--w" not in args:
        argv += ["--w", files["good"]]
    _refused([*argv, *CPU, *args], in_tmp, match)


MODEL_CASES = [
    (["mix", "{model}", "--styles", "0-40"], ["--styles", "out of range"]),
    (["generate", "{model}", "--w", "wide.npz"], ["wide.npz", "expects"]),
    (["generate", "{model}", "--class", "3"], "unconditional"),
    (["video", "walk", "{model}", "--w", "wide.npz"], "wide.npz"),
    (["neighbours", "{model}", "--w", "wide.npz"], "wide.npz"),
]


@pytest.mark.parametrize("argv, match", MODEL_CASES, ids=[" ".join(a) for a, _ in MODEL_CASES])
def test_latent_values_that_need_the_model_leave_nothing(argv, match, model, files, in_tmp):
    _refused([a.format(model=model) for a in argv] + CPU, in_tmp, match)


# ------------------------------------------------------------------------------------- storyboard

STORYBOARDS = [
    ("fps: .nan", "fps"),
    ("fps: fast", ["fps", "'fast'"]),
    ("fps: 0", "fps"),
    ("fps: 100000", ["fps", f"{MAX_FPS:g}"]),
    ("fps: [30]", "fps"),
    ("trunc: .inf", "trunc"),
    ("seed: 1.5", "seed"),
    ("seed: -1", "seed"),
    ("batch: 0", "batch"),
    ("batch: many", "batch"),
    ("noise_mode: loud", "noise_mode"),
    ("space: q", "space"),
    ("close: maybe", "close"),
    ("transition: {frames: 2000000000}", ["transition frames", str(MAX_FRAMES)]),
    ("transition: {frames: 2.0e9}", ["transition frames", "whole number"]),
    ("transition: {frames: true}", ["transition frames", "whole number"]),
    ("transition: {frames: 0}", "transition frames"),
    ("transition: {kind: circular}", "transition kind"),
    ("transition: 150", "transition"),
    ("loop: {sigma: .nan}", "loop sigma"),
    ("loop: {stops: 1}", "loop stops"),
    ("loop: {frames_per_stop: 200000, stops: 2}", "frames"),
    ("project: {steps: -1}", "project steps"),
    ("project: {loss: l3}", "project loss"),
]


def _story(in_tmp: Path, extra: str, keyframes: str = "[{seed: 1}, {seed: 2}]") -> Path:
    path = in_tmp / "story.yaml"
    path.write_text(f"keyframes: {keyframes}\n{extra}\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("extra, match", STORYBOARDS, ids=[e for e, _ in STORYBOARDS])
def test_storyboard_fields(extra, match, in_tmp, no_heavy_work):
    story = _story(in_tmp, extra)
    _refused(["video", "storyboard", story, "--model", "model.safetensors", *CPU], in_tmp,
             ["story.yaml"] + ([match] if isinstance(match, str) else match))


KEYFRAMES = [
    ("[{seed: abc}]", "keyframe 1 seed"),
    ("[{seed: -5}]", "keyframe 1 seed"),
    ("[{seed: 1}, {seed: 2, index: -2}]", "keyframe 2 index"),
    ("[{latent: 5}]", "keyframe 1 latent"),
    ("[{seed: 1}, {seed: 2, transition: {frames: 200000}}, {seed: 3, transition: {frames: 200000}}]",
     ["film has", str(MAX_FRAMES)]),
    ("[{seed: 1, loop: {easing: wobble}}]", "keyframe 1 loop easing"),
    ("[{seed: 1, name: [a, b]}]", "keyframe 1 name"),
    ("abc", "keyframes"),
    ("[]", "keyframes"),
]


@pytest.mark.parametrize("keyframes, match", KEYFRAMES, ids=[k for k, _ in KEYFRAMES])
def test_storyboard_keyframes(keyframes, match, in_tmp, no_heavy_work):
    story = _story(in_tmp, "", keyframes)
    _refused(["video", "storyboard", story, "--model", "model.safetensors", *CPU], in_tmp,
             ["story.yaml"] + ([match] if isinstance(match, str) else match))


@pytest.mark.parametrize("content, match", [
    (b"keyframes: [{seed: 1}\n", "not valid YAML"),
    (b"\xff\xfe\x00bad", "UTF-8"),
    (b"- 1\n- 2\n", "mapping"),
    (b"1: 2\nkeyframes: [{seed: 1}]\n", "unknown key"),
    (b"", "mapping"),
])
def test_storyboard_files_that_are_not_storyboards(content, match, in_tmp, no_heavy_work):
    (in_tmp / "story.yaml").write_bytes(content)
    _refused(["video", "storyboard", "story.yaml", "--model", "model.safetensors"], in_tmp, ["story.yaml", match])


@pytest.mark.parametrize("batch, match", [("0", "--batch"), (str(MAX_BATCH + 1), "--batch")])
def test_storyboard_batch_option(batch, match, in_tmp, no_heavy_work):
    story = _story(in_tmp, "")
    _refused(["video", "storyboard", story, "--model", "model.safetensors", "--batch", batch], in_tmp, match)


# ------------------------------------------------------------------------------------------ train

TRAIN = [
    (["--metrics", "bogus"], "--metrics"), (["--metrics", "swd,bogus"], "--metrics"),
    (["--metrics", "none,fid"], "--metrics"), (["--metrics", ""], "--metrics"),
    (["--p", "2"], "--p"), (["--p", "-0.1"], "--p"), (["--p", "nan"], "--p"),
    (["--kimg", "-1"], "--kimg"), (["--kimg", "0"], "--kimg"), (["--minutes", "0"], "--minutes"),
    (["--snap", "0"], "--snap"), (["--grid", "abc"], "--grid"), (["--grid", "100x100"], ["--grid", str(MAX_GRID_CELLS)]),
    (["--batch", "-4"], "--batch"), (["--batch", "0"], "--batch"),
    (["--batch", str(MAX_TRAIN_BATCH * 2)], ["--batch", str(MAX_TRAIN_BATCH)]),
    (["--tick", "0"], "--tick"), (["--tick", "-1"], "--tick"), (["--gamma", "-1"], "--gamma"),
    (["--glr", "0"], "--glr"), (["--glr", "nan"], "--glr"), (["--dlr", "-1"], "--dlr"),
    (["--target", "0"], "--target"), (["--target", "1"], "--target"), (["--target", "1.5"], "--target"),
    (["--ada-kimg", "0"], "--ada-kimg"), (["--cbase", "0"], "--cbase"), (["--cmax", "0"], "--cmax"),
    (["--map", "0"], "--map"), (["--mbstd", "0"], "--mbstd"), (["--batch", "4", "--mbstd", "8"], "--mbstd"),
    (["--res", "48"], "--res"), (["--res", "2"], "--res"), (["--res", "4096"], "--res"),
    (["--arch", "dcgan", "--res", "8"], "--res"), (["--freezed", "-1"], "--freezed"),
    (["--metric-images", "1"], "--metric-images"), (["--metric-images", "999999999"], "--metric-images"),
    (["--workers", "-1"], "--workers"), (["--threads", "-1"], "--threads"),
    (["--arch", "vit"], "--arch"), (["--cfg", "huge"], "--cfg"), (["--aug", "always"], "--aug"),
    (["--device", "tpu"], "--device"), (["--device", "cuda:x"], "--device"), (["--precision", "fp8"], "--precision"),
    (["--seed", "-1"], "--seed"), (["--style-mixing", "2"], "--style-mixing"), (["--pl-weight", "-1"], "--pl-weight"),
    (["--ema", "-1"], "--ema"), (["--outdir", ""], "--outdir"),
]


@pytest.mark.parametrize("args, match", TRAIN, ids=[" ".join(a) for a, _ in TRAIN])
def test_train_values_refused_before_any_run_folder(args, match, files, in_tmp, no_heavy_work):
    _refused(["train", files["blooms"], *CPU, *args], in_tmp, match)


CONFIGS = [
    ('{"glr": NaN}', "--glr"), ('{"batch": "abc"}', "--batch"), ('{"mirror": "yes"}', "--mirror"),
    ('{"res": 48.5}', "--res"), ('{"kimg": Infinity}', "--kimg"), ('{"metrics": ["swd"]}', "--metrics"),
    ('{"bogus": 1}', "unknown training options"), ("[1, 2]", "JSON object"), ('{"glr": ', "not valid JSON"),
]


@pytest.mark.parametrize("doc, match", CONFIGS, ids=[d for d, _ in CONFIGS])
def test_train_config_files(doc, match, files, in_tmp, no_heavy_work):
    (in_tmp / "opts.json").write_text(doc, encoding="utf-8")
    _refused(["train", files["blooms"], "--config", "opts.json", *CPU], in_tmp, match)


# ------------------------------------------------------------------------------------- style, effects

STYLE = [
    (["--style-layers", ""], "--style-layers"), (["--style-layers", ","], "--style-layers"),
    (["--content-layers", ""], "--content-layers"), (["--style-weights", "nan"], "--style-weights"),
    (["--style-weights", "0"], "--style-weights"), (["--style-layer-weights", "0,0,0,0,0"], "--style-layer-weights"),
    (["--style-layer-weights", "1,inf,1,1,1"], "--style-layer-weights"),
    (["--size", "100000"], "--size"), (["--max-size", "0"], "--max-size"), (["--min-scale", "4"], "--min-scale"),
    (["--style-scale", "1000"], "--style-scale"), (["--style-scale", "0"], "--style-scale"),
    (["--iterations", "-1"], "--iterations"), (["--iterations", "999999999"], "--iterations"),
    (["--content-weight", "-1"], "--content-weight"), (["--step-size", "0"], "--step-size"),
    (["--seed", "-1"], "--seed"),
]


@pytest.mark.parametrize("args, match", STYLE, ids=[" ".join(a) for a, _ in STYLE])
def test_style_values_refused_before_vgg(args, match, files, in_tmp, no_heavy_work):
    _refused(["style", files["photo"], "--style", files["style"], "--vgg", "random", "-o", "out.png", *CPU, *args],
             in_tmp, match)


SUPERPIXELS = [
    (["--segments", "0"], "--segments"), (["--segments", "100000000"], "--segments"),
    (["--compactness", "0"], "--compactness"), (["--sigma", "-1"], "--sigma"),
    (["--outline-width", "0"], "--outline-width"), (["--outline", "nocolour"], "--outline"),
]


@pytest.mark.parametrize("args, match", SUPERPIXELS, ids=[" ".join(a) for a, _ in SUPERPIXELS])
def test_superpixels_values(args, match, files, in_tmp):
    _refused(["superpixels", files["photo"], "-o", "out.png", *args], in_tmp, match)


# ------------------------------------------------------------------------ generated values (hypothesis)

bad_ints = st.one_of(st.integers(max_value=0), st.integers(min_value=MAX_BATCH + 1, max_value=10**15))
bad_fps = st.one_of(st.floats(max_value=0.0, allow_nan=False), st.floats(min_value=MAX_FPS, exclude_min=True),
                    st.sampled_from([math.nan, math.inf, -math.inf]))
bad_lr = st.one_of(st.floats(max_value=0.0, allow_nan=False), st.floats(min_value=10.0, exclude_min=True),
                   st.just(math.nan))
bad_p = st.one_of(st.floats(max_value=0.0, exclude_max=True, allow_nan=False),
                  st.floats(min_value=1.0, exclude_min=True), st.just(math.nan))


@HYPO
@given(batch=bad_ints)
def test_generated_generate_batch(batch, files, in_tmp, no_heavy_work):
    _refused(["generate", "model.safetensors", "--batch", str(batch)], in_tmp, "--batch")


@HYPO
@given(fps=bad_fps)
def test_generated_walk_fps(fps, files, in_tmp, no_heavy_work):
    _refused(["video", "walk", "model.safetensors", "--fps", repr(fps)], in_tmp, "--fps")


@HYPO
@given(lr=bad_lr)
def test_generated_project_lr(lr, files, in_tmp, no_heavy_work):
    _refused(["project", "model.safetensors", files["photo"], "--loss", "mse", "--lr", repr(lr)], in_tmp, "--lr")


@HYPO
@given(p=bad_p)
def test_generated_train_p(p, files, in_tmp, no_heavy_work):
    _refused(["train", files["blooms"], "--p", repr(p)], in_tmp, "--p")


yaml_bad_fps = st.one_of(bad_fps.map(lambda v: {math.inf: ".inf", -math.inf: "-.inf"}.get(v, repr(v))
                                     if not math.isnan(v) else ".nan"),
                         st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=8)
                         .filter(lambda t: t not in ("yes", "no", "on", "off", "true", "false", "null", "y", "n")))


@HYPO
@given(fps=yaml_bad_fps)
def test_generated_storyboard_fps(fps, in_tmp, no_heavy_work):
    story = _story(in_tmp, f"fps: {fps}")
    _refused(["video", "storyboard", story, "--model", "model.safetensors"], in_tmp, ["story.yaml", "fps"])


@settings(max_examples=25, deadline=None)
@given(start=st.integers(0, 2**31), extra=st.integers(MAX_IMAGES, 10**12))
def test_generated_seed_ranges_in_the_library(start, extra):
    """Notebooks get the same checks: a range over the limit is refused before it is expanded."""
    from neuralbrush.core.errors import UsageError

    with pytest.raises(UsageError, match="--seeds"):
        GenerateOptions(seeds=f"{start}-{start + extra}").validate()
    if extra >= MAX_FRAMES // 2:  # a walk of 2 frames per transition has about 2 x keyframes frames
        with pytest.raises(UsageError, match="--seeds|frames"):
            WalkOptions(seeds=f"{start}-{start + extra}", frames=2).validate()
    else:
        WalkOptions(seeds=f"{start}-{start + extra}", frames=2).validate()  # within the limit: accepted


@settings(max_examples=25, deadline=None)
@given(value=st.one_of(st.just(math.nan), st.just(math.inf), st.text(max_size=5), st.booleans(), st.none(),
                       st.lists(st.integers(), max_size=2)))
def test_generated_wrong_types_in_the_library(value):
    """Values a notebook or a JSON file may pass: NaN, text, bools, None, lists."""
    from neuralbrush.core.errors import UsageError

    with pytest.raises(UsageError, match="--sigma"):
        NeighboursOptions(sigma=value).validate()
    with pytest.raises(UsageError, match="--fps"):
        WalkOptions(fps=value).validate()
    with pytest.raises(UsageError, match="--tick-minutes"):  # --tick may be None (= ticks by the clock)
        TrainOptions(tick_minutes=value).validate()
