"""Model files from a hostile world: corrupt, truncated, malicious and wrong-kind files given to
every command that reads one.

Each damaged file is derived from a real one the fixture makes (a 16 px StyleGAN2 snapshot, a
32 px pix2pix snapshot, an NVIDIA-layout pickle, torch.save files). A malicious file is a pickle
whose ``__reduce__`` would create a marker file when unpickled: ``test_payloads_are_live`` shows
that plain unpickling does create it, so a missing marker really means nothing ran. Every case
must end as a user error: exit 2, one ``error:`` line, no traceback, no marker, and nothing new
in the working folder or the weights store.
"""

from __future__ import annotations

import errno
import json
import pickle
import struct
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Callable

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adversarial_harness import assert_ok, assert_refused, run_cli

pytestmark = pytest.mark.usefixtures("one_thread")

CPU = ["--device", "cpu", "--precision", "fp32"]


class Payload:
    """Unpickling this opens (creates) ``marker`` for writing: proof that code in a file ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _with_header(raw: bytes, edit: Callable[[dict], object]) -> bytes:
    """``raw`` (a safetensors file) with its JSON header replaced by ``edit(header)`` (padded to 8)."""
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    text = json.dumps(edit(header)).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + raw[8 + n:]


def _set_meta(raw: bytes, value: str) -> bytes:
    def edit(h: dict) -> dict:
        h["__metadata__"] = {"neuralbrush": value}
        return h

    return _with_header(raw, edit)


def _edit_meta(raw: bytes, change: Callable[[dict], None]) -> bytes:
    n = struct.unpack("<Q", raw[:8])[0]
    meta = json.loads(json.loads(raw[8:8 + n])["__metadata__"]["neuralbrush"])
    change(meta)
    return _set_meta(raw, json.dumps(meta))


# name -> how to damage the bytes of a valid safetensors snapshot (raw) into a file's bytes
DAMAGE: dict[str, Callable[[bytes], bytes]] = {
    "empty": lambda raw: b"",
    "truncated-header": lambda raw: raw[:20],
    "truncated-data": lambda raw: raw[: len(raw) - 100],
    "header-not-json": lambda raw: raw[:8] + b"{" + b"\x00" * (struct.unpack("<Q", raw[:8])[0] - 1)
    + raw[8 + struct.unpack("<Q", raw[:8])[0]:],
    "header-length-past-end": lambda raw: struct.pack("<Q", len(raw) * 4) + raw[8:],
    "metadata-not-json": lambda raw: _set_meta(raw, "{not json"),
    "metadata-a-list": lambda raw: _set_meta(raw, "[1, 2, 3]"),
    "metadata-a-string": lambda raw: _set_meta(raw, '"neuralbrush"'),
    "no-neuralbrush-metadata": lambda raw: _with_header(raw, lambda h: {k: v for k, v in h.items()
                                                                       if k != "__metadata__"}),
    "random-bytes": lambda raw: np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes(),
}


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> SimpleNamespace:
    """Valid inputs and every damaged model file, made once, outside the watched folders."""
    from gan_helpers import small_stylegan
    from neuralbrush.core.checkpoint import save_checkpoint
    from neuralbrush.core.media import write_video
    from neuralbrush.datasets.samples import bloom, write_blooms
    from neuralbrush.gan.snapshot import save_snapshot
    from neuralbrush.latent.latents import Latents, save_latents
    from neuralbrush.pix2pix.networks import PatchDiscriminator, UNetGenerator
    from neuralbrush.pix2pix.train import FORMAT

    root = tmp_path_factory.mktemp("model-files")
    ns = SimpleNamespace(root=root, marker=root / "PAYLOAD_RAN")
    ns.photo = root / "photo.png"
    bloom(32, seed=1).save(ns.photo)
    ns.clip = root / "clip.gif"
    write_video([np.asarray(bloom(32, seed=i)) for i in range(2)], ns.clip, fps=5)
    ns.blooms = root / "blooms16"
    write_blooms(ns.blooms, 6, 16, seed=0)
    ns.blooms32 = root / "blooms32"
    write_blooms(ns.blooms32, 4, 32, seed=0)

    G = small_stylegan(16)
    gan = save_snapshot(root / "gan.safetensors", arch="stylegan2", G=G, G_ema=G)
    with torch.no_grad():
        w = G.mapping(torch.randn(1, G.z_dim, generator=torch.Generator().manual_seed(0)), None)
    ns.w = save_latents(root / "w.npz", Latents(w=w[:1]))

    g, d = UNetGenerator("unet_32", ngf=4), PatchDiscriminator(6, ndf=4)
    meta = {"format": FORMAT, "version": 1, "generator": g.config.to_dict(), "discriminator": d.config.to_dict(),
            "input": "edges", "clusters": 7, "size": 32, "step": 0, "epoch": 0, "elapsed_s": 0.0,
            "sampler": {}, "optG_groups": [], "optD_groups": []}
    p2p = save_checkpoint(root / "p2p.safetensors", {**{f"G.{k}": v for k, v in g.state_dict().items()},
                                                     **{f"D.{k}": v for k, v in d.state_dict().items()}}, meta)
    ns.gan_valid, ns.p2p_valid = gan, p2p

    def write(name: str, data: bytes) -> Path:
        p = root / name
        p.write_bytes(data)
        return p

    ns.gan_bad, ns.p2p_bad = {}, {}
    for name, damage in DAMAGE.items():
        ns.gan_bad[name] = write(f"gan-{name}.safetensors", damage(gan.read_bytes()))
        ns.p2p_bad[name] = write(f"p2p-{name}.safetensors", damage(p2p.read_bytes()))
    # well-formed files whose metadata asks for impossible networks
    ns.gan_bad["kwargs-negative"] = write("gan-kwargs.safetensors", _edit_meta(
        gan.read_bytes(), lambda m: m["G_kwargs"].update(z_dim=-5, w_dim=-5)))
    ns.gan_bad["pix2pix-snapshot"] = p2p
    ns.p2p_bad["ngf-negative"] = write("p2p-ngf.safetensors", _edit_meta(
        p2p.read_bytes(), lambda m: m["generator"].update(ngf=-4)))
    ns.p2p_bad["ngf-enormous"] = write("p2p-huge.safetensors", _edit_meta(
        p2p.read_bytes(), lambda m: m["generator"].update(ngf=10 ** 9)))
    ns.p2p_bad["generator-a-list"] = write("p2p-list.safetensors", _edit_meta(
        p2p.read_bytes(), lambda m: m.update(generator=[1, 2])))
    ns.p2p_bad["shapes-disagree"] = write("p2p-shapes.safetensors", _edit_meta(
        p2p.read_bytes(), lambda m: m["generator"].update(ngf=8)))
    ns.p2p_bad["gan-snapshot"] = gan

    # pickles: an NVIDIA-style .pkl, a torch.save .pth (zip) and a legacy .pth, each with the payload
    ns.evil_pkl = write("evil.pkl", pickle.dumps({"G_ema": Payload(ns.marker)}, protocol=2))
    ns.evil_pth = root / "evil.pth"
    torch.save({"model.model.0.weight": torch.zeros(1), "payload": Payload(ns.marker)}, ns.evil_pth)
    ns.evil_legacy = root / "evil-legacy.pth"
    torch.save({"features.0.weight": Payload(ns.marker)}, ns.evil_legacy, _use_new_zipfile_serialization=False)
    ns.junk_pkl = write("junk.pkl", b"\x80\x04" + b"\xff" * 64)
    ns.truncated_pth = root / "truncated.pth"
    torch.save(UNetGenerator("unet_32", ngf=4).state_dict(), ns.truncated_pth)
    ns.truncated_pth.write_bytes(ns.truncated_pth.read_bytes()[:3000])
    return ns


def test_payloads_are_live(tmp_path):
    """The payload really runs when unpickled the unsafe way, in each file layout the fixture uses
    (so a missing marker in the cases below means the readers refused it, not that it is inert)."""
    layouts = {
        "pkl": lambda m, p: p.write_bytes(pickle.dumps({"G_ema": Payload(m)}, protocol=2)),
        "pth": lambda m, p: torch.save({"payload": Payload(m)}, p),
        "legacy": lambda m, p: torch.save({"payload": Payload(m)}, p, _use_new_zipfile_serialization=False),
    }
    for name, write in layouts.items():
        marker, path = tmp_path / f"ran-{name}", tmp_path / f"evil-{name}"
        write(marker, path)
        assert not marker.exists()
        if name == "pkl":
            pickle.loads(path.read_bytes())
        else:
            torch.load(path, weights_only=False)
        assert marker.exists(), name


@dataclass(frozen=True)
class Reader:
    """A command that reads a model file: argv from (inputs, MODEL, the test's folder)."""

    name: str
    family: str  # gan | pix2pix
    argv: Callable[[SimpleNamespace, Path, Path], list]


GAN_TINY = ["--cfg", "small", "--batch", "4", "--cbase", "256", "--cmax", "16", "--mbstd", "2", "--kimg", "0.004",
            "--tick", "0.004", "--snap", "1", "--grid", "2x1", "--metrics", "none", "--threads", "1", "--workers", "1"]
P2P_NET = ["--input", "edges", "--size", "32", "--ngf", "4", "--ndf", "4", "--batch", "2", "--snap-minutes", "0",
           "--epochs-decay", "0"]
P2P_TINY = [*P2P_NET, "--epochs", "1"]

READERS = [
    Reader("generate", "gan", lambda f, m, d: ["generate", m, "--seeds", "0", "-o", d / "gen", *CPU]),
    Reader("mix", "gan", lambda f, m, d: ["mix", m, "--rows", "1", "--cols", "2", "--styles", "0-1", "-o", d / "mix",
                                          *CPU]),
    Reader("project", "gan", lambda f, m, d: ["project", m, f.photo, "--steps", "1", "--loss", "mse", "-o",
                                              d / "proj", *CPU]),
    Reader("neighbours", "gan", lambda f, m, d: ["neighbours", m, "--w", f.w, "--count", "2", "-o", d / "sheet.png",
                                                 *CPU]),
    Reader("video-walk", "gan", lambda f, m, d: ["video", "walk", m, "--seeds", "1,2", "--frames", "2", "-o",
                                                 d / "walk.gif", *CPU]),
    Reader("train-resume", "gan", lambda f, m, d: ["train", f.blooms, "--resume", m, "--outdir", d / "runs",
                                                   *GAN_TINY, *CPU]),
    Reader("pix2pix-apply", "pix2pix", lambda f, m, d: ["pix2pix", "apply", m, f.photo, "-o", d / "p.png", *CPU]),
    Reader("pix2pix-video", "pix2pix", lambda f, m, d: ["pix2pix", "video", m, f.clip, "-o", d / "pv.gif", *CPU]),
    Reader("pix2pix-train-resume", "pix2pix", lambda f, m, d: ["pix2pix", "train", f.blooms32, "--resume", m,
                                                               "--outdir", d / "runs", *P2P_TINY, *CPU]),
]

GAN_BAD = list(DAMAGE) + ["kwargs-negative", "pix2pix-snapshot", "evil-pkl", "junk-pkl"]
P2P_BAD = list(DAMAGE) + ["ngf-negative", "ngf-enormous", "generator-a-list", "shapes-disagree", "gan-snapshot",
                          "evil-pth", "evil-legacy-pth", "truncated-pth"]


def _model(files: SimpleNamespace, family: str, bad: str) -> Path:
    table = files.gan_bad if family == "gan" else files.p2p_bad
    extra = {"evil-pkl": files.evil_pkl, "junk-pkl": files.junk_pkl, "evil-pth": files.evil_pth,
             "evil-legacy-pth": files.evil_legacy, "truncated-pth": files.truncated_pth}
    return table[bad] if bad in table else extra[bad]


CASES = [(r, bad) for r in READERS for bad in (GAN_BAD if r.family == "gan" else P2P_BAD)]


@pytest.mark.parametrize("reader,bad", CASES, ids=[f"{r.name}-{b}" for r, b in CASES])
def test_damaged_model_file_is_one_sentence(files, in_tmp, reader, bad):
    model = _model(files, reader.family, bad)
    outcome = run_cli(reader.argv(files, model, in_tmp), watch=in_tmp)
    assert_refused(outcome, match=model.name, markers=[files.marker])  # the sentence names the file


@pytest.mark.parametrize("bad", ["metadata-not-json", "truncated-data", "generation-only"])
def test_resume_latest_with_damaged_snapshot(files, in_tmp, bad):
    """``train --resume latest`` whose newest snapshot is damaged, or cannot continue a run (no D,
    no training counters): one sentence naming it."""
    from neuralbrush.gan.presets import TrainOptions

    run = in_tmp / "runs" / "00000-blooms16-small"
    run.mkdir(parents=True)
    (run / "training_options.json").write_text(json.dumps(TrainOptions(data=str(files.blooms)).to_dict()))
    snap = run / "network-snapshot-000004.safetensors"
    raw = files.gan_valid.read_bytes()
    snap.write_bytes(raw if bad == "generation-only" else DAMAGE[bad](raw))
    outcome = run_cli(["train", "--resume", "latest", "--outdir", in_tmp / "runs", *CPU], watch=in_tmp)
    assert_refused(outcome, match=snap.name)


def test_pix2pix_resume_is_checked_before_the_data_loads(files, in_tmp, monkeypatch):
    import neuralbrush.pix2pix.train as p2p_train

    def spy(*a, **k):
        raise AssertionError("the dataset was loaded before the resume file was checked")

    monkeypatch.setattr(p2p_train, "load_training_pairs", spy)
    for model in (files.evil_pth, files.p2p_bad["metadata-a-list"], files.p2p_bad["shapes-disagree"]):
        outcome = run_cli(["pix2pix", "train", files.blooms32, "--resume", model, "--outdir", in_tmp / "runs",
                           *P2P_TINY, *CPU], watch=in_tmp)
        assert_refused(outcome, match=model.name, markers=[files.marker])


# ------------------------------------------------------------------------------------------ video


def _broken_second_frame(root: Path) -> Path:
    from neuralbrush.datasets.samples import bloom

    folder = root / "frames"
    folder.mkdir()
    bloom(32, seed=1).save(folder / "f0.png")
    (folder / "f1.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)  # fails only when frame 1 is reached
    return folder


VIDEO_INPUTS = {
    "missing-source": lambda f, d: d / "nothing.mp4",
    "empty-folder": lambda f, d: (d / "empty").mkdir() or d / "empty",
    "not-a-video": lambda f, d: (d / "notes.mp4").write_text("not a video") and d / "notes.mp4",
    "broken-frame-later": lambda f, d: _broken_second_frame(d),
}


@pytest.fixture(scope="module")
def p2p_run(files, tmp_path_factory):
    from neuralbrush.pix2pix.options import TrainOptions
    from neuralbrush.pix2pix.train import train

    return train(TrainOptions(data=str(files.blooms32), input="edges", size=32, ngf=4, ndf=4, batch=2, epochs=1,
                              epochs_decay=0, snap_minutes=0, precision="fp32", device="cpu",
                              outdir=str(tmp_path_factory.mktemp("p2p-run")))).run_dir


@pytest.mark.parametrize("case", list(VIDEO_INPUTS))
@pytest.mark.parametrize("out", ["pv.gif", "frames-out"])
def test_pix2pix_video_failing_on_its_inputs_creates_nothing(files, p2p_run, in_tmp, case, out):
    source = VIDEO_INPUTS[case](files, in_tmp)
    outcome = run_cli(["pix2pix", "video", p2p_run, source, "-o", in_tmp / out, *CPU], watch=in_tmp)
    made_by_case = {"empty-folder": ("empty",), "not-a-video": ("notes.mp4",), "broken-frame-later": ("frames",)}
    assert_refused(outcome, allowed_new=made_by_case.get(case, ()))
    assert not list(in_tmp.glob(".*pix2pix-frames*")) and not (in_tmp / out).exists()


@pytest.mark.parametrize("option,value", [("--norm-stats", "median"), ("--blend", "0.99"), ("--fps", "0"),
                                          ("--size", "100000"), ("--input", "sketch"), ("--clusters", "0")])
def test_pix2pix_video_bad_option_creates_nothing(files, p2p_run, in_tmp, option, value):
    outcome = run_cli(["pix2pix", "video", p2p_run, files.clip, "-o", in_tmp / "pv.gif", option, value, *CPU],
                      watch=in_tmp)
    assert_refused(outcome, match=option.lstrip("-").split("-")[0])


def test_pix2pix_video_resumed_cache_survives_a_later_input_failure(files, p2p_run, in_tmp):
    """A cache that was already there (an interrupted run) keeps its frames when an input fails."""
    folder = _broken_second_frame(in_tmp)
    cache = in_tmp / ".pv.gif.pix2pix-frames"
    cache.mkdir()
    (cache / "keep.txt").write_text("an earlier run's frames")
    outcome = run_cli(["pix2pix", "video", p2p_run, folder, "-o", in_tmp / "pv.gif", *CPU], watch=in_tmp)
    assert_refused(outcome, allowed_new=(".pv.gif.pix2pix-frames",))
    assert cache.is_dir()


# ---------------------------------------------------------------------------------------- weights


def _resnet_generator() -> dict[str, torch.Tensor]:
    sd = {"model.1.weight": torch.zeros(8, 3, 7, 7), "model.1.bias": torch.zeros(8)}
    for b in range(10, 12):
        for c in (1, 5):
            sd[f"model.{b}.conv_block.{c}.weight"] = torch.zeros(8, 8, 3, 3)
    return sd


def _patchgan() -> dict[str, torch.Tensor]:
    from neuralbrush.pix2pix.networks import PatchDiscriminator

    d = PatchDiscriminator(6, ndf=4)  # our names; junyanz's are model.N: make those
    convs = [m for m in d.modules() if isinstance(m, torch.nn.Conv2d)]
    return {f"model.{3 * i}.weight": c.weight.detach() for i, c in enumerate(convs)}


WEIGHTS_CASES = {
    # name -> (catalogue entry, how to make the file, words the refusal must contain)
    "pix2pix-resnet": ("pix2pix-edges2shoes", lambda f, p: torch.save(_resnet_generator(), p), "ResNet generator"),
    "pix2pix-discriminator": ("pix2pix-sat2map", lambda f, p: torch.save(_patchgan(), p), "discriminator"),
    "pix2pix-snapshot": ("pix2pix-day2night", lambda f, p: p.write_bytes(f.p2p_valid.read_bytes()), "safetensors"),
    "pix2pix-evil": ("pix2pix-day2night", lambda f, p: p.write_bytes(f.evil_pth.read_bytes()), "refusing"),
    "pix2pix-truncated": ("pix2pix-map2sat", lambda f, p: p.write_bytes(f.truncated_pth.read_bytes()), "pix2pix"),
    "vgg19-evil-legacy": ("vgg19", lambda f, p: p.write_bytes(f.evil_legacy.read_bytes()), "refusing"),
    "vgg19-a-unet": ("vgg19", lambda f, p: p.write_bytes(f.truncated_pth.read_bytes()), "vgg19"),
    "vgg16-resnet": ("vgg16", lambda f, p: torch.save(_resnet_generator(), p), "ResNet generator"),
    "lpips-discriminator": ("lpips-vgg", lambda f, p: torch.save(_patchgan(), p), "discriminator"),
    "inception-junk": ("inception-fid", lambda f, p: p.write_bytes(b"\x80\x02junk"), "inception"),
    "stylegan-evil": ("ffhq256", lambda f, p: p.write_bytes(f.evil_pkl.read_bytes()), "refusing"),
    "stylegan-a-pth": ("afhqcat", lambda f, p: torch.save(_resnet_generator(), p), "not an NVIDIA network pickle"),
    "stylegan-junk": ("metfaces", lambda f, p: p.write_bytes(f.junk_pkl.read_bytes()), "metfaces"),
    "stylegan-our-snapshot": ("ffhq", lambda f, p: p.write_bytes(f.gan_valid.read_bytes()), "ffhq"),
}


@pytest.mark.parametrize("case", list(WEIGHTS_CASES))
def test_weights_import_refuses_what_the_entry_is_not(files, in_tmp, _isolated_store, case):
    name, make, words = WEIGHTS_CASES[case]
    f = in_tmp / f"{case}.bin"
    make(files, f)
    outcome = run_cli(["weights", "import", name, f], watch=_isolated_store)
    assert_refused(outcome, match=words, markers=[files.marker])
    assert not (_isolated_store / "weights").exists() or not any((_isolated_store / "weights").iterdir())


def test_weights_import_accepts_the_right_architecture(in_tmp, _isolated_store):
    """The checks are not a wall: a small junyanz U-Net-256 is a pix2pix entry's file."""
    from neuralbrush.pix2pix.junyanz import junyanz_key_map
    from neuralbrush.pix2pix.networks import UNetConfig, UNetGenerator

    cfg = UNetConfig("unet_256", ngf=2)
    ours = UNetGenerator("unet_256", ngf=2).state_dict()
    f = in_tmp / "g.pth"
    torch.save({src: ours[dst] for src, dst in junyanz_key_map(cfg).items()}, f)
    outcome = run_cli(["weights", "import", "pix2pix-edges2shoes", f], watch=_isolated_store)
    assert_ok(outcome)
    assert (_isolated_store / "weights" / "pix2pix_edges2shoes.pth").read_bytes() == f.read_bytes()


# ------------------------------------------------------------------------------- generated damage


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.integers(0, 10 ** 6), flips=st.lists(st.tuples(st.integers(0, 10 ** 6), st.integers(1, 255)),
                                                   max_size=4))
def test_any_damage_to_a_snapshot_is_a_checkpoint_error(files, tmp_path, cut, flips):
    """Truncate a pix2pix snapshot anywhere and flip bytes anywhere: loading it either works or
    raises one CheckpointError naming the file, never anything else."""
    from neuralbrush.core.errors import CheckpointError
    from neuralbrush.pix2pix.apply import load_generator

    raw = bytearray(files.p2p_valid.read_bytes())
    raw = raw[: cut % (len(raw) + 1)]
    for pos, x in flips:
        if raw:
            raw[pos % len(raw)] ^= x
    p = tmp_path / "damaged.safetensors"
    p.write_bytes(bytes(raw))
    try:
        load_generator(p)
    except CheckpointError as e:
        assert str(p) in str(e) and "\n" not in str(e)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.integers(0, 10 ** 6), flips=st.lists(st.tuples(st.integers(0, 10 ** 6), st.integers(1, 255)),
                                                   max_size=4))
def test_any_damage_to_a_pth_is_a_checkpoint_error(files, tmp_path, cut, flips):
    """The same for a junyanz .pth read by the restricted torch.save reader."""
    from neuralbrush.core.errors import CheckpointError
    from neuralbrush.pix2pix.junyanz import load_junyanz_generator
    from neuralbrush.pix2pix.networks import UNetGenerator

    whole = tmp_path / "whole.pth"
    if not whole.exists():
        from neuralbrush.pix2pix.junyanz import junyanz_key_map
        from neuralbrush.pix2pix.networks import UNetConfig

        ours = UNetGenerator("unet_32", ngf=2).state_dict()
        torch.save({s: ours[d] for s, d in junyanz_key_map(UNetConfig("unet_32", ngf=2)).items()}, whole)
    raw = bytearray(whole.read_bytes())
    raw = raw[: cut % (len(raw) + 1)]
    for pos, x in flips:
        if raw:
            raw[pos % len(raw)] ^= x
    p = tmp_path / "damaged.pth"
    p.write_bytes(bytes(raw))
    try:
        load_junyanz_generator(p)
    except CheckpointError as e:
        assert "\n" not in str(e)


# ------------------------------------------------------------------------------ disk full, kill -9


def test_disk_full_during_a_snapshot_keeps_the_previous_one(files, in_tmp, monkeypatch):
    """ENOSPC in the writer (safetensors reports it as an I/O error): one sentence that says the
    previous snapshot is intact, which it is, and no temporary left behind."""
    import neuralbrush.core.checkpoint as ckpt
    from safetensors import SafetensorError

    first = run_cli(["pix2pix", "train", files.blooms32, "--outdir", in_tmp / "runs", *P2P_TINY, *CPU])
    assert_ok(first)
    run = next((in_tmp / "runs").iterdir())
    before = {p.name: p.read_bytes() for p in run.glob("network-snapshot-*.safetensors")}
    assert len(before) == 1

    def full_disk(tensors, filename, metadata=None):
        Path(filename).write_bytes(b"\x00" * 1000)  # part of the file made it to disk
        raise SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)")

    monkeypatch.setattr(ckpt, "save_file", full_disk)
    outcome = run_cli(["pix2pix", "train", files.blooms32, "--resume", run, "--epochs", "2", "--outdir",
                       in_tmp / "runs", *P2P_NET, *CPU], watch=in_tmp)
    (prev,) = before
    assert_refused(outcome, match=["disk full", f"previous snapshot {prev} is intact"],
                   allowed_new=(f"runs/{run.name}/",))
    assert {p.name: p.read_bytes() for p in run.glob("network-snapshot-*.safetensors")} == before
    assert not [p for p in run.iterdir() if ".tmp" in p.name]
    assert errno.ENOSPC == 28


def test_resume_removes_stale_snapshot_temporaries(files, in_tmp, monkeypatch):
    """What a kill -9 during a snapshot write leaves is removed at resume, with one info line."""
    import neuralbrush.core.progress as progress

    said: list[str] = []
    monkeypatch.setattr(progress, "info", said.append)
    assert_ok(run_cli(["pix2pix", "train", files.blooms32, "--outdir", in_tmp / "runs", *P2P_TINY, *CPU]))
    run = next((in_tmp / "runs").iterdir())
    stale = [run / ".network-snapshot-0000004.safetensors.k3x_9qzp.tmp.safetensors",
             run / ".network-snapshot-0000006.safetensors.a0b1c2d3.tmp.safetensors"]
    for p in stale:
        p.write_bytes(b"\x00" * (3 << 20))
    unrelated = run / ".notes.txt.k3x_9qzp.tmp.txt"  # another writer's temporary: not a snapshot
    unrelated.write_text("x")
    said.clear()
    assert_ok(run_cli(["pix2pix", "train", files.blooms32, "--resume", run, "--outdir", in_tmp / "runs",
                       *P2P_TINY, *CPU]))
    assert not any(p.exists() for p in stale) and unrelated.exists()
    assert any("removed 2 unfinished snapshots" in s and "6.0 MB freed" in s for s in said), said
