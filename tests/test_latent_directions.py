"""Directions (GANSpace PCA, SeFa), edits along them, direction walks, NVIDIA pickles."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from neuralbrush.cli.main import run
from neuralbrush.core.device import resolve_runtime
from neuralbrush.core.errors import UsageError
from neuralbrush.gan.loading import load_generator
from neuralbrush.gan.snapshot import save_snapshot
from neuralbrush.latent.directions import (Directions, compute_directions, conv_affines, model_identity,
                                           sefa_matrix, w_moments)
from neuralbrush.latent.edits import (DirectionPath, Sweep, apply_edits, combine, read_history, resolve_edits)
from neuralbrush.latent.latents import Latents, latents_from_seeds, save_latents
from neuralbrush.latent.render import Renderer
from neuralbrush.latent.steer_options import DirectionsOptions, parse_edit

from gan_helpers import small_stylegan  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")

RT = resolve_runtime("cpu", "fp32")


@pytest.fixture(scope="module")
def G():
    return small_stylegan(16, noise_strength=0.05).requires_grad_(False)


@pytest.fixture(scope="module")
def pca(G):
    return compute_directions(G, DirectionsOptions(method="pca", samples=6000, batch=1000))


@pytest.fixture(scope="module")
def dirs_file(pca, tmp_path_factory):
    return pca.save(tmp_path_factory.mktemp("dirs") / "dirs.npz")


# ---------------------------------------------------------------------------------------------
# PCA and SeFa


def test_pca_components_orthonormal_sorted_and_match_sample_covariance(G, pca):
    C = pca.components.astype(np.float64)
    assert C.shape == (G.w_dim, G.w_dim)
    assert np.abs(C @ C.T - np.eye(G.w_dim)).max() < 1e-5
    assert np.all(np.diff(pca.values) <= 0) and pca.values[0] > pca.values[-1] * 2
    assert np.allclose(pca.std, np.sqrt(pca.values))
    assert pca.explained.sum() == pytest.approx(1.0, abs=1e-6)
    # an independent computation: the same z, numpy's covariance and eigen-decomposition
    z = np.random.RandomState(0).standard_normal((6000, G.z_dim)).astype(np.float32)
    w = G.mapping(torch.from_numpy(z), None)[:, 0].double().numpy()
    cov = np.cov(w, rowvar=False)
    ref_vals = np.linalg.eigvalsh(cov)[::-1]
    assert np.allclose(pca.values, ref_vals, rtol=1e-4, atol=1e-6)
    assert np.allclose(pca.mean_w, w.mean(0), atol=1e-5)
    # each component's variance is the variance of w projected onto it
    proj_var = ((w - w.mean(0)) @ C[:3].T).var(axis=0, ddof=1)
    assert np.allclose(proj_var, pca.values[:3], rtol=1e-4)


def test_covariance_does_not_depend_on_batch(G):
    m1, c1 = w_moments(G, 3000, batch=3000)
    m2, c2 = w_moments(G, 3000, batch=128)
    assert torch.allclose(m1, m2, atol=1e-6) and torch.allclose(c1, c2, atol=1e-6)


def test_sefa_matches_closed_form_eigendecomposition(G):
    d = compute_directions(G, DirectionsOptions(method="sefa", std_samples=2000))
    # rebuild A from the state_dict by name: every 3x3 convolution's style affine
    sd = G.state_dict()
    names = [k for k in sd if k.startswith("synthesis.") and ".conv" in k and k.endswith("affine.weight")]
    assert len(names) == len(conv_affines(G)) == 2 * 3 - 1  # 16 px: b4.conv1, b8.conv0/1, b16.conv0/1
    A = np.concatenate([sd[k].double().numpy() for k in names])
    A /= np.linalg.norm(A, axis=1, keepdims=True)  # the equalised-lr gain vanishes here
    _, s, vt = np.linalg.svd(A, full_matrices=False)
    assert np.allclose(d.values, s ** 2, rtol=1e-8, atol=1e-9)
    for k in range(4):  # eigenvectors agree up to sign (the top eigenvalues are distinct)
        assert abs(float(d.components[k].astype(np.float64) @ vt[k])) == pytest.approx(1.0, abs=1e-5)
    # the spreads are measured along the eigenvectors
    z = np.random.RandomState(0).standard_normal((2000, G.z_dim)).astype(np.float32)
    w = G.mapping(torch.from_numpy(z), None)[:, 0].double().numpy()
    assert np.allclose(d.std[:3], ((w - w.mean(0)) @ d.components[:3].T.astype(np.float64)).std(0, ddof=1), rtol=1e-4)


def test_sefa_layers_select_style_weights(G):
    A_all = sefa_matrix(G, tuple(range(G.num_ws)))
    A_0 = sefa_matrix(G, (0,))  # layer 0 feeds only b4.conv1
    assert A_0.shape == (G.synthesis.b4.conv1.affine.out_features, G.w_dim)
    assert A_all.shape[0] > A_0.shape[0]
    with pytest.raises(UsageError, match="ToRGB"):
        sefa_matrix(G, (G.num_ws - 1,))  # the last row of w feeds only the final ToRGB
    with pytest.raises(UsageError, match="out of range"):
        compute_directions(G, DirectionsOptions(method="sefa", layers=f"0-{G.num_ws}"))


def test_directions_file_round_trip_and_damage(pca, dirs_file, tmp_path):
    d = Directions.load(dirs_file)
    assert d.method == "pca" and d.model == pca.model and d.layers == pca.layers
    assert np.array_equal(d.components, pca.components) and np.array_equal(d.std, pca.std)
    bad = tmp_path / "bad.npz"
    np.savez(bad, w=np.zeros((1, 3, 4)))
    with pytest.raises(UsageError, match="not a directions file"):
        Directions.load(bad)
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(UsageError, match="not a directions"):
        Directions.load(tmp_path / "junk.npz")
    with pytest.raises(UsageError, match="does not exist"):
        Directions.load(tmp_path / "missing.npz")


def test_identity_survives_reloading_and_differs_between_models(G, tmp_path):
    path = tmp_path / "network-snapshot-000000.safetensors"
    save_snapshot(path, arch="stylegan2", G=G, G_ema=G)
    again = load_generator(path)
    assert model_identity(again) == model_identity(G)
    bf16 = resolve_runtime("cpu", "bf16")  # channels_last weights: the same identity
    assert bf16.channels_last and model_identity(bf16.module(load_generator(path))) == model_identity(G)
    other = small_stylegan(16, seed=1)
    assert model_identity(other).digest != model_identity(G).digest


# ---------------------------------------------------------------------------------------------
# Edits


@pytest.mark.parametrize("text,expect", [
    ("dirs.npz:2:+1.5@0-5", ("dirs.npz", 2, 1.5, None, (0, 1, 2, 3, 4, 5))),
    ("dirs.npz:0:-3", ("dirs.npz", 0, -3.0, None, None)),
    ("C:/x/dirs.npz:3:-3..3", ("C:/x/dirs.npz", 3, None, (-3.0, 3.0), None)),
    ("a@b/dirs.npz:1:2@1,3", ("a@b/dirs.npz", 1, 2.0, None, (1, 3))),
])
def test_parse_edit(text, expect):
    s = parse_edit(text)
    assert (s.file, s.component, s.amount, s.sweep, s.layers) == expect


@pytest.mark.parametrize("text,match", [
    ("dirs.npz:2", "cannot read"), ("dirs.npz:x:1", "component"), ("dirs.npz:1:abc", "amount"),
    ("dirs.npz:1:nan", "finite"), ("dirs.npz:1:3..-3", "low to high"), ("dirs.npz:-1:1", "0 or more"),
])
def test_parse_edit_refuses_with_one_sentence(text, match):
    with pytest.raises(UsageError, match=match):
        parse_edit(text)


def test_plus_then_minus_returns_the_original_exactly(G, dirs_file, tmp_path):
    w = latents_from_seeds(G, [3, 4], psi=0.7).w
    (plus,), _ = resolve_edits(G, [f"{dirs_file}:1:+1.7@1-3"])
    (minus,), _ = resolve_edits(G, [f"{dirs_file}:1:-1.7@1-3"])
    w1, h1 = apply_edits(w, [plus])
    assert not torch.equal(w1, w)
    w2, h2 = apply_edits(w1, [minus], h1)
    assert torch.equal(w2, w) and h2 is None
    # together in one call, and across a saved file (the history travels in the .npz)
    assert torch.equal(apply_edits(w, [plus, minus])[0], w)
    f = save_latents(tmp_path / "edited.npz", Latents(w=w1), **h1.arrays())
    hist = read_history(f, w1)
    assert hist is not None and torch.equal(hist.base, w)
    assert torch.equal(apply_edits(w1, [minus], hist)[0], w)
    # a history that no longer describes w (another tool changed it) is ignored
    assert read_history(f, w1 + 1) is None


def test_layer_limited_edit_leaves_other_layers_unchanged(G, pca, dirs_file):
    w = latents_from_seeds(G, [5], psi=1.0).w
    (e,), _ = resolve_edits(G, [f"{dirs_file}:0:+2@1-2"])
    w1, _ = apply_edits(w, [e])
    others = [i for i in range(G.num_ws) if i not in (1, 2)]
    assert torch.equal(w1[:, others], w[:, others])
    expected = 2 * pca.std[0] * pca.components[0]
    assert np.allclose((w1[0, 1] - w[0, 1]).numpy(), expected, atol=1e-5)
    assert np.allclose((w1[0, 2] - w[0, 2]).numpy(), expected, atol=1e-5)
    # without @LAYERS the file's layers (all) are edited
    (e_all,), _ = resolve_edits(G, [f"{dirs_file}:0:+2"])
    assert not torch.equal(apply_edits(w, [e_all])[0][:, others], w[:, others])


def test_edits_combine_and_validate(G, dirs_file):
    fixed, sweep = resolve_edits(G, [f"{dirs_file}:0:1", f"{dirs_file}:0:0.5", f"{dirs_file}:1:1@0"])
    assert sweep is None and [e.amount for e in combine(fixed)] == [1.5, 1.0]
    with pytest.raises(UsageError, match="components 0-"):
        resolve_edits(G, [f"{dirs_file}:999:1"])
    with pytest.raises(UsageError, match="out of range"):
        resolve_edits(G, [f"{dirs_file}:0:1@0-{G.num_ws}"])
    with pytest.raises(UsageError, match="video walk --kind direction"):
        resolve_edits(G, [f"{dirs_file}:0:-2..2"])
    with pytest.raises(UsageError, match="does not exist"):
        resolve_edits(G, ["nowhere.npz:0:1"])


def test_edit_file_for_another_model_is_refused(dirs_file):
    other = small_stylegan(16, seed=7)
    with pytest.raises(UsageError, match="computed for another model") as e:
        resolve_edits(other, [f"{dirs_file}:0:1"])
    assert "\n" not in str(e.value)


# ---------------------------------------------------------------------------------------------
# Direction walks


def test_direction_walk_is_a_seamless_loop(G, dirs_file):
    _, sweep = resolve_edits(G, [f"{dirs_file}:0:-3..3"], sweep_ok=True)
    start = latents_from_seeds(G, [2], psi=0.8).w[0]
    for easing in ("linear", "ease-in-out"):
        path = DirectionPath(start, sweep, 24, easing=easing)
        x = path.all()
        steps = (x[1:] - x[:-1]).flatten(1).norm(dim=1)
        wrap = (x[0] - x[-1]).norm()
        assert wrap <= steps.max() * 1.0001 and steps.max() > 0
        a = path.amounts(np.arange(24))
        assert a[0] == -3 and a[12] == pytest.approx(3) and a.min() >= -3 and a.max() <= 3
    frames = Renderer(G, RT).frames(DirectionPath(start, sweep, 16).all(), "w").astype(np.float64)
    consecutive = np.abs(np.diff(frames, axis=0)).mean(axis=(1, 2, 3))
    assert consecutive.max() > 0.1
    assert np.abs(frames[-1] - frames[0]).mean() <= consecutive.max()


def test_sweep_edit_object(G, dirs_file):
    _, sweep = resolve_edits(G, [f"{dirs_file}:2:-1..2@0-1"], sweep_ok=True)
    assert isinstance(sweep, Sweep) and (sweep.lo, sweep.hi) == (-1, 2) and sweep.edit.layers == (0, 1)


# ---------------------------------------------------------------------------------------------
# The command line


@pytest.fixture(scope="module")
def snapshot(G, tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "network-snapshot-000000.safetensors"
    save_snapshot(path, arch="stylegan2", G=G, G_ema=G)
    return path


def test_directions_command_writes_file_sheet_and_summary(snapshot, tmp_path):
    out = tmp_path / "d" / "dirs.npz"
    assert run(["directions", str(snapshot), "--method", "sefa", "--std-samples", "500", "--sheet-components", "3",
                "--sheet-seeds", "0,1", "--sheet-amounts", "-2:2:5", "-o", str(out), "--device", "cpu",
                "--precision", "fp32"]) == 0
    d = Directions.load(out)
    assert d.method == "sefa" and d.model == model_identity(load_generator(snapshot))
    with Image.open(out.with_suffix(".png")) as im:
        # for_display enlarges 16 px cells to 128 px; 2 seeds x 5 amounts columns, 3 rows, 2 px padding
        assert im.size == (10 * 128 + 11 * 2, 3 * 128 + 4 * 2)
    summary = json.loads(out.with_suffix(".json").read_text())
    assert summary["method"] == "sefa" and summary["identity"]["num_ws"] == d.model.num_ws


@pytest.mark.parametrize("argv,match", [
    (["--method", "ica"], "'ica'"),
    (["--sheet-seeds", "0-99", "--sheet-components", "20"], "the limit is"),
    (["--layers", "0-99"], "out of range"),
    (["-o", "dirs.txt"], "must end in .npz"),
    (["--sheet-amounts", "1:x"], "cannot read"),
])
def test_directions_command_refuses_bad_options(snapshot, tmp_path, capsys, argv, match):
    argv = [a if a != "dirs.txt" else str(tmp_path / a) for a in argv]
    code = run(["directions", str(snapshot), "--samples", "100", "-o", str(tmp_path / "x.npz"), *argv])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and match in err and len(err.splitlines()) == 1
    assert not (tmp_path / "x.npz").exists()


def test_dcgan_has_no_directions(tmp_path, capsys):
    from neuralbrush.gan.dcgan import DCGANGenerator

    path = tmp_path / "network-snapshot-000000.safetensors"
    save_snapshot(path, arch="dcgan", G=DCGANGenerator(z_dim=16, img_resolution=16, ngf=8).eval())
    assert run(["directions", str(path), "--samples", "100", "-o", str(tmp_path / "d.npz")]) == 2
    assert "no w space" in capsys.readouterr().err


def test_nvidia_pkl_directions_steer_the_same_model(tmp_path):
    from test_gan_nvidia_pkl import small_networks, write_nvidia_pkl

    G, D, G_ema = small_networks()
    pkl = write_nvidia_pkl(tmp_path / "network-snapshot-000010.pkl", {"G": G, "D": D, "G_ema": G_ema})
    out = tmp_path / "nv.npz"
    assert run(["directions", str(pkl), "--samples", "2000", "--sheet-components", "2", "--sheet-seeds", "0",
                "--sheet-amounts", "-1,1", "-o", str(out), "--device", "cpu", "--precision", "fp32"]) == 0
    d = Directions.load(out)
    assert d.model == model_identity(G_ema.eval())  # the pickle's G_ema, whatever file it came in
    snap = tmp_path / "same" / "network-snapshot-000000.safetensors"
    snap.parent.mkdir()
    save_snapshot(snap, arch="stylegan2", G=G, G_ema=G_ema)
    fixed, _ = resolve_edits(load_generator(snap), [f"{out}:0:1"])
    assert len(fixed) == 1


# ---------------------------------------------------------------------------------------------
# --edit on every command that uses a latent


@pytest.fixture(autouse=False)
def fp32(monkeypatch):
    monkeypatch.setenv("NEURALBRUSH_PRECISION", "fp32")


def _png(path):
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def _cli(*argv):
    return run([*map(str, argv), "--device", "cpu", "--precision", "fp32"])


@pytest.fixture(scope="module")
def snap_dirs(snapshot, tmp_path_factory):
    out = tmp_path_factory.mktemp("cli-dirs") / "dirs.npz"
    assert _cli("directions", snapshot, "--samples", "3000", "--sheet-components", "0", "-o", out) == 0
    return out


def test_generate_edit_and_exact_undo_through_files(snapshot, snap_dirs, tmp_path):
    G = load_generator(snapshot)
    plain, plus, back = tmp_path / "plain", tmp_path / "plus", tmp_path / "back"
    assert _cli("generate", snapshot, "--seeds", "3,4", "-o", plain) == 0
    assert _cli("generate", snapshot, "--seeds", "3,4", "--edit", f"{snap_dirs}:0:+2@0-2", "-o", plus) == 0
    for s in (3, 4):
        w0 = np.load(plain / f"seed{s:04d}.npz")["w"]
        data = np.load(plus / f"seed{s:04d}.npz")
        assert "z" not in data.files and np.array_equal(data["w_base"], w0)
        (e,), _ = resolve_edits(G, [f"{snap_dirs}:0:+2@0-2"])
        assert np.array_equal(data["w"], apply_edits(torch.from_numpy(w0), [e])[0].numpy())
        assert np.array_equal(data["w"][:, 3:], w0[:, 3:])  # layers outside 0-2 untouched
        assert not np.array_equal(_png(plus / f"seed{s:04d}.png"), _png(plain / f"seed{s:04d}.png"))
    # the opposite edit on the edited file returns the original latent bit for bit
    assert _cli("generate", snapshot, "--w", plus / "seed0003.npz", "--edit", f"{snap_dirs}:0:-2@0-2", "-o", back) == 0
    again = np.load(back / "w0000.npz")
    assert np.array_equal(again["w"], np.load(plain / "seed0003.npz")["w"]) and "w_base" not in again.files
    assert np.array_equal(_png(back / "w0000.png"), _png(plain / "seed0003.png"))
    assert json.loads((plus / "options.json").read_text())["edits"] == [f"{snap_dirs}:0:+2@0-2"]


def test_mix_neighbours_and_project_take_edits(snapshot, snap_dirs, tmp_path):
    edit = f"{snap_dirs}:1:+1.5"
    assert _cli("mix", snapshot, "--rows", "1", "--cols", "2", "--styles", "0-1", "-o", tmp_path / "m0") == 0
    assert _cli("mix", snapshot, "--rows", "1", "--cols", "2", "--styles", "0-1", "--edit", edit,
                "-o", tmp_path / "m1") == 0
    assert not np.array_equal(_png(tmp_path / "m0" / "mix-1-2.png"), _png(tmp_path / "m1" / "mix-1-2.png"))
    src = tmp_path / "src.npz"
    G = load_generator(snapshot)
    save_latents(src, latents_from_seeds(G, [6]))
    assert _cli("neighbours", snapshot, "--w", src, "--count", "3", "--sigma", "0", "--edit", edit,
                "-o", tmp_path / "nb" / "sheet.png") == 0
    (e,), _ = resolve_edits(G, [edit])
    expected = apply_edits(latents_from_seeds(G, [6]).w, [e])[0]
    assert np.allclose(np.load(tmp_path / "nb" / "neighbours" / "000.npz")["w"], expected.numpy(), atol=1e-6)
    target = tmp_path / "target.png"
    Image.fromarray(Renderer(G, RT).frames(latents_from_seeds(G, [9]).w, "w")[0]).save(target)
    assert _cli("project", snapshot, target, "--steps", "3", "--loss", "mse", "--edit", edit,
                "-o", tmp_path / "proj") == 0
    proj = np.load(tmp_path / "proj" / "projected_w.npz")["w"]
    edited = np.load(tmp_path / "proj" / "edited_w.npz")
    assert np.array_equal(edited["w_base"], proj)
    assert np.array_equal(edited["w"], apply_edits(torch.from_numpy(proj), [e])[0].numpy())
    assert _png(tmp_path / "proj" / "edited.png").shape == (16, 16, 3)


def test_direction_walk_command_and_edited_walks(snapshot, snap_dirs, tmp_path):
    from neuralbrush.core.media import video_info

    out = tmp_path / "dir.gif"
    assert _cli("video", "walk", snapshot, "--kind", "direction", "--seeds", "2", "--edit", f"{snap_dirs}:0:-3..3",
                "--frames", "12", "-o", out) == 0
    assert video_info(out)["frames"] == 12
    assert json.loads((tmp_path / "dir.walk.json").read_text())["edits"] == [f"{snap_dirs}:0:-3..3"]
    assert _cli("video", "walk", snapshot, "--kind", "noise-loop", "--space", "w", "--seeds", "2", "--frames", "4",
                "--edit", f"{snap_dirs}:0:+1", "-o", tmp_path / "loop.gif") == 0


@pytest.mark.parametrize("argv,match", [
    (["video", "walk", "{snap}", "--kind", "direction", "--seeds", "2", "-o", "{tmp}/a.gif"], "sweeps one --edit"),
    (["video", "walk", "{snap}", "--kind", "slerp", "--seeds", "1,2", "--space", "w", "--edit", "{dirs}:0:-1..1",
      "-o", "{tmp}/a.gif"], "is for video walk --kind direction"),
    (["video", "walk", "{snap}", "--kind", "slerp", "--seeds", "1,2", "--space", "z", "--edit", "{dirs}:0:1",
      "-o", "{tmp}/a.gif"], "walk with --space w"),
    (["generate", "{snap}", "--seeds", "1", "--edit", "{dirs}:0:1@0-99", "-o", "{tmp}/g"], "out of range"),
    (["generate", "{snap}", "--seeds", "1", "--edit", "{dirs}:0", "-o", "{tmp}/g"], "cannot read --edit"),
    (["generate", "{snap}", "--seeds", "1", "--edit", "{tmp}/none.npz:0:1", "-o", "{tmp}/g"], "does not exist"),
    (["generate", "{other}", "--seeds", "1", "--edit", "{dirs}:0:1", "-o", "{tmp}/g"], "computed for another model"),
])
def test_edit_mistakes_are_one_sentence(snapshot, snap_dirs, tmp_path, capsys, argv, match):
    other = tmp_path / "other" / "network-snapshot-000000.safetensors"
    other.parent.mkdir()
    o = small_stylegan(16, seed=3)
    save_snapshot(other, arch="stylegan2", G=o, G_ema=o)
    argv = [a.format(snap=snapshot, dirs=snap_dirs, tmp=tmp_path, other=other) for a in argv]
    assert _cli(*argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and match in err and len(err.splitlines()) == 1
    assert not (tmp_path / "g").exists() and not (tmp_path / "a.gif").exists()


def test_storyboard_keyframe_edits(snapshot, snap_dirs, tmp_path):
    from neuralbrush.latent.storyboard import parse_storyboard, resolve_keyframe_latents

    G = load_generator(snapshot)
    (tmp_path / "d.npz").write_bytes(snap_dirs.read_bytes())
    story = tmp_path / "story.yaml"
    story.write_text("space: w\nkeyframes:\n  - seed: 3\n    edit: d.npz:0:+2@0-1\n  - seed: 4\n")
    sb = parse_storyboard(story)
    lats = resolve_keyframe_latents(G, sb, tmp_path / "cache", "m", RT)
    w3, w4 = latents_from_seeds(G, [3]).w, latents_from_seeds(G, [4]).w  # one at a time, as the storyboard maps
    (e,), _ = resolve_edits(G, [f"{snap_dirs}:0:+2@0-1"])
    assert torch.equal(lats[0], apply_edits(w3, [e])[0][0]) and torch.equal(lats[1], w4[0])
    story.write_text("keyframes:\n  - seed: 3\n    edit: d.npz:0:-1..1\n")
    with pytest.raises(UsageError, match="keyframe 1 edit"):
        parse_storyboard(story)
    story.write_text("keyframes:\n  - seed: 3\n    edit: missing.npz:0:1\n")
    with pytest.raises(UsageError, match="does not exist"):
        parse_storyboard(story)
    story.write_text("space: z\nkeyframes:\n  - seed: 3\n    edit: d.npz:0:1\n")
    with pytest.raises(UsageError, match="use space: w"):
        resolve_keyframe_latents(G, parse_storyboard(story), tmp_path / "cache", "m", RT)


def test_dcgan_refuses_edits(tmp_path, snap_dirs, capsys):
    from neuralbrush.gan.dcgan import DCGANGenerator

    path = tmp_path / "network-snapshot-000000.safetensors"
    save_snapshot(path, arch="dcgan", G=DCGANGenerator(z_dim=16, img_resolution=16, ngf=8).eval())
    assert _cli("generate", path, "--seeds", "1", "--edit", f"{snap_dirs}:0:1", "-o", tmp_path / "g") == 2
    assert "no w space" in capsys.readouterr().err


def test_progress_events_reach_the_caller(G, pca):
    from neuralbrush.core.progress import ProgressEvent, preview_of
    from neuralbrush.latent.directions import direction_sheet

    events = []
    compute_directions(G, DirectionsOptions(method="sefa", std_samples=600, batch=200), progress=events.append)
    assert all(isinstance(e, ProgressEvent) for e in events)
    measuring = [e for e in events if e.task == "measuring"]
    assert [e.step for e in measuring] == [1, 2, 3] and measuring[-1].total == 3
    assert events[-1].task == "factorising" and events[-1].step == events[-1].total
    rows = []
    direction_sheet(G, pca, RT, components=2, seeds=[0, 1], amounts=[-1, 1], progress=rows.append)
    assert [e.step for e in rows] == [1, 2] and preview_of(rows[0]).shape == (16, 4 * 16, 3)
