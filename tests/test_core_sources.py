"""The one name-or-path resolver, table-driven: every kind of argument (run folder, folder of
runs, snapshot, foreign file, store name of the right kind, of the wrong kind, not stored,
missing path, unknown word) against every consumer family (GAN model, pix2pix model, --vgg,
LPIPS weights, --resume). A resolved argument gives the expected file; a refused one is one
sentence that lists the valid store names of the expected kind and the shapes a path may have."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from neuralbrush.core.checkpoint import save_checkpoint
from neuralbrush.core.errors import UsageError, WeightsMissingError
from neuralbrush.core.sources import PICKLE, SNAPSHOT, resolve_source, sniff_kind
from neuralbrush.weights import store

STORED = ("ffhq256", "pix2pix-edges2shoes", "vgg19", "vgg16", "lpips-vgg")  # the rest of the catalogue is absent


@dataclass(frozen=True)
class Refused:
    """A UsageError of one line containing ``words``, listing the store names of ``kind`` and ``shape``."""

    words: str
    kind: str | tuple[str, ...]
    shape: str


@dataclass(frozen=True)
class NotStored:
    name: str


@pytest.fixture()
def world(tmp_path, monkeypatch):
    """A folder with runs of both trainers, loose files, and some store entries present."""
    for name in STORED:
        p = store.path_for(name)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"stand-in")  # the resolver never reads store files; the loaders do
    runs = tmp_path / "runs"
    gan_run, p2p_run, empty = runs / "00000-blooms-small", runs / "00001-blooms-pix2pix", runs / "00002-killed-early"
    for d in (gan_run, p2p_run, empty):
        d.mkdir(parents=True)
    for d, trainer in ((gan_run, "gan"), (p2p_run, "pix2pix")):  # what makes a folder a run to continue
        (d / "training_options.json").write_text(json.dumps({"trainer": trainer}))
    one = {"x": torch.zeros(1)}
    for n in (4, 40):  # numbered, so 40 is the newest whatever the file times say
        save_checkpoint(gan_run / f"network-snapshot-{n:06d}.safetensors", one, {"format": "neuralbrush.gan"})
    save_checkpoint(p2p_run / "network-snapshot-0000010.safetensors", one, {"format": "neuralbrush.pix2pix"})
    save_checkpoint(tmp_path / "g.safetensors", one, {"format": "neuralbrush.gan"})
    save_checkpoint(tmp_path / "p.safetensors", one, {"format": "neuralbrush.pix2pix"})
    nv_run = tmp_path / "nvlabs-run"
    nv_run.mkdir()
    for n in (100, 200):
        (nv_run / f"network-snapshot-{n:06d}.pkl").write_bytes(b"\x80\x02stand-in")
    for name in ("nv.pkl", "jy.pth", "vgg.pth"):
        (tmp_path / name).write_bytes(b"\x80\x02stand-in")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _gan(text):
    from neuralbrush.gan.loading import gan_source

    return gan_source(text).path


def _pix2pix(text):
    from neuralbrush.pix2pix.apply import pix2pix_source

    return pix2pix_source(text).path


def _vgg(text):
    from neuralbrush.style.vgg import resolve_vgg_source

    return resolve_vgg_source(text)[1]


def _lpips_vgg16(text):
    from neuralbrush.latent.lpips import weight_files

    return weight_files(vgg16=text)[0]


def _lpips_lin(text):
    from neuralbrush.latent.lpips import weight_files

    return weight_files(lin=text)[1]


def _pix2pix_resume(text):
    from neuralbrush.pix2pix.snapshot import resolve_resume

    return resolve_resume(text).path


FAMILIES = {"gan": _gan, "pix2pix": _pix2pix, "vgg": _vgg, "lpips-vgg16": _lpips_vgg16, "lpips-lin": _lpips_lin,
            "pix2pix-resume": _pix2pix_resume}

GAN_RUN, P2P_RUN = "runs/00000-blooms-small", "runs/00001-blooms-pix2pix"
GAN_NEWEST, P2P_NEWEST = f"{GAN_RUN}/network-snapshot-000040.safetensors", f"{P2P_RUN}/network-snapshot-0000010.safetensors"
GAN_NO = lambda words: Refused(words, ("stylegan2-pkl", "gan-snapshot"), "a .pkl file")  # noqa: E731
P2P_NO = lambda words: Refused(words, ("pix2pix-g", "pix2pix-snapshot"), "a .pth file")  # noqa: E731
VGG_NO = lambda words: Refused(words, "vgg19", "a .pth file")  # noqa: E731
V16_NO = lambda words: Refused(words, "vgg16", "a .pth file")  # noqa: E731
LIN_NO = lambda words: Refused(words, "lpips", "a .pth file")  # noqa: E731

# family -> {argument kind: (what the user wrote, the file it resolves to or how it is refused)}
TABLE = {
    "gan": {
        "run folder": (GAN_RUN, GAN_NEWEST),
        "folder of runs": ("runs", GAN_NEWEST),  # passes over the empty run and the pix2pix run
        "NVlabs run folder": ("nvlabs-run", "nvlabs-run/network-snapshot-000200.pkl"),
        "snapshot": ("g.safetensors", "g.safetensors"),
        "foreign file": ("nv.pkl", "nv.pkl"),
        "store name": ("ffhq256", "store:ffhq256"),
        "other trainer's run": (P2P_RUN, GAN_NO("'neuralbrush.pix2pix' checkpoint, not a GAN generator")),
        "other trainer's snapshot": ("p.safetensors", GAN_NO("'neuralbrush.pix2pix' checkpoint, not a GAN generator")),
        "wrong-kind name": ("vgg19", GAN_NO("weights 'vgg19' are VGG-19 weights, not a GAN generator")),
        "name not stored": ("ffhq", NotStored("ffhq")),
        "missing path": ("nothing/here.pkl", GAN_NO("nothing/here.pkl does not exist")),
        "unknown word": ("no-such-model", GAN_NO("'no-such-model' is not a GAN generator")),
        "empty text": ("", GAN_NO("no GAN generator was given")),  # not the current folder
    },
    "pix2pix": {
        "run folder": (P2P_RUN, P2P_NEWEST),
        "folder of runs": ("runs", P2P_NEWEST),  # the newest run that has a pix2pix snapshot
        "NVlabs run folder": ("nvlabs-run", P2P_NO("without network snapshots")),
        "snapshot": ("p.safetensors", "p.safetensors"),
        "foreign file": ("jy.pth", "jy.pth"),
        "store name": ("pix2pix-edges2shoes", "store:pix2pix-edges2shoes"),
        "other trainer's run": (GAN_RUN, P2P_NO("'neuralbrush.gan' checkpoint, not a pix2pix generator")),
        "other trainer's snapshot": ("g.safetensors", P2P_NO("'neuralbrush.gan' checkpoint, not a pix2pix generator")),
        "wrong-kind name": ("ffhq256", P2P_NO("weights 'ffhq256' are GAN weights, not a pix2pix generator")),
        "name not stored": ("pix2pix-sat2map", NotStored("pix2pix-sat2map")),
        "missing path": ("nothing/here", P2P_NO("nothing/here does not exist")),
        "unknown word": ("edges2shoes", P2P_NO("'edges2shoes' is not a pix2pix generator")),
    },
    "vgg": {
        "run folder": (GAN_RUN, VGG_NO("is a folder, not a VGG-19 network")),
        "folder of runs": ("runs", VGG_NO("is a folder, not a VGG-19 network")),
        "foreign file": ("vgg.pth", "vgg.pth"),
        "store name": ("vgg19", "store:vgg19"),
        "store alias": ("store", "store:vgg19"),
        "wrong-kind name": ("ffhq256", VGG_NO("weights 'ffhq256' are GAN weights, not a VGG-19 network")),
        "missing path": ("weights/vgg.pth", VGG_NO("weights/vgg.pth does not exist")),
        "unknown word": ("randon", VGG_NO("'randon' is not a VGG-19 network")),
    },
    "lpips-vgg16": {
        "run folder": (GAN_RUN, V16_NO("is a folder, not a VGG-16 network")),
        "foreign file": ("vgg.pth", "vgg.pth"),
        "store name": ("vgg16", "store:vgg16"),
        "wrong-kind name": ("vgg19", V16_NO("weights 'vgg19' are VGG-19 weights, not a VGG-16 network")),
        "missing path": ("nothing.pth", V16_NO("nothing.pth does not exist")),
        "unknown word": ("vgg", V16_NO("'vgg' is not a VGG-16 network")),
    },
    "lpips-lin": {
        "foreign file": ("vgg.pth", "vgg.pth"),
        "store name": ("lpips-vgg", "store:lpips-vgg"),
        "wrong-kind name": ("vgg16", LIN_NO("weights 'vgg16' are VGG-16 weights, not a LPIPS linear-layer file")),
        "unknown word": ("lpips", LIN_NO("'lpips' is not a LPIPS linear-layer file")),
    },
    "pix2pix-resume": {
        "run folder": (P2P_RUN, P2P_NEWEST),
        "folder of runs": ("runs", P2P_NEWEST),
        "snapshot": ("p.safetensors", "p.safetensors"),
        "foreign file": ("jy.pth", "jy.pth"),
        "store name": ("pix2pix-edges2shoes", "store:pix2pix-edges2shoes"),
        "other trainer's run": (GAN_RUN, P2P_NO("'neuralbrush.gan' checkpoint, not a pix2pix generator")),
        "wrong-kind name": ("vgg19", P2P_NO("weights 'vgg19' are VGG-19 weights, not a pix2pix generator")),
        "name not stored": ("pix2pix-day2night", NotStored("pix2pix-day2night")),
        "missing path": ("runs/00009-gone", P2P_NO("runs/00009-gone does not exist")),
        "unknown word": ("newest", P2P_NO("'newest' is not a pix2pix generator")),
    },
}

CASES = [(fam, arg) for fam, rows in TABLE.items() for arg in rows]


@pytest.mark.parametrize("family,arg", CASES, ids=[f"{f}-{a.replace(' ', '-')}" for f, a in CASES])
def test_every_kind_of_argument_for_every_consumer(world, family, arg):
    text, expect = TABLE[family][arg]
    resolve = FAMILIES[family]
    if isinstance(expect, str):
        want = store.path_for(expect[6:]) if expect.startswith("store:") else world / expect
        assert Path(resolve(text)).resolve() == want.resolve()
    elif isinstance(expect, NotStored):
        with pytest.raises(WeightsMissingError) as e:
            resolve(text)
        msg = str(e.value)
        assert f"'{expect.name}'" in msg and "not in the store" in msg and str(store.path_for(expect.name)) in msg
    else:
        with pytest.raises(UsageError) as e:
            resolve(text)
        msg = str(e.value)
        assert "\n" not in msg and expect.words in msg, msg
        names = store.names_of_kind(*expect.kind) if isinstance(expect.kind, tuple) else store.names_of_kind(expect.kind)
        assert names and all(n in msg for n in names), msg  # every valid name of the expected kind
        others = [n for n in store.CATALOGUE if n not in names and n != text]
        assert not [n for n in others if re.search(rf"(?<![\w-]){re.escape(n)}(?![\w-])", msg)], msg  # only those
        assert expect.shape in msg, msg  # what a path must look like


def test_the_source_says_how_to_read_the_file_and_where_it_came_from(world):
    gan = dict(kinds=("stylegan2-pkl",), formats=("neuralbrush.gan",), suffixes=(".pkl",))
    run = resolve_source(world / GAN_RUN, **gan)
    assert run.kind == SNAPSHOT and run.run_dir == world / GAN_RUN and run.name is None
    assert resolve_source(world / "runs", **gan).run_dir == world / GAN_RUN
    named = resolve_source("ffhq256", **gan)
    assert named.kind == PICKLE and named.name == "ffhq256" and named.run_dir is None
    loose = resolve_source(world / "nv.pkl", **gan)  # a PathLike works as well as text
    assert loose.kind == PICKLE and loose.run_dir is None


def test_resume_sources_keep_their_meaning(world):
    """pix2pix --resume: a run continues it, a snapshot or junyanz file or store name starts from it."""
    from neuralbrush.pix2pix.snapshot import resolve_resume

    assert resolve_resume(None) is None
    kinds = {t: resolve_resume(t) for t in (str(world / P2P_RUN), "p.safetensors", "jy.pth", "pix2pix-edges2shoes")}
    assert [s.kind for s in kinds.values()] == ["run", "checkpoint", "junyanz", "junyanz"]
    assert kinds[str(world / P2P_RUN)].run_dir == world / P2P_RUN


def test_resume_means_the_same_for_both_trainers(world):
    """A run folder of the trainer (or a folder of runs: its newest) is continued in place; a file,
    a store name, or a folder of snapshots that is not one of our runs starts a new run."""
    from neuralbrush.gan.train import run_to_continue as gan_continues
    from neuralbrush.pix2pix.train import run_to_continue as p2p_continues

    assert gan_continues(GAN_RUN, "runs") == gan_continues("runs", "elsewhere") == Path(GAN_RUN)  # cwd: world
    assert gan_continues("latest", "runs") == Path(GAN_RUN)
    assert [gan_continues(t, "runs") for t in (None, "g.safetensors", "nv.pkl", "nvlabs-run", "ffhq256")] == [None] * 5
    assert p2p_continues(P2P_RUN, "runs") == p2p_continues("runs", "elsewhere") == Path(P2P_RUN)
    assert [p2p_continues(t, "runs") for t in (None, "p.safetensors", "jy.pth", "pix2pix-edges2shoes")] == [None] * 4
    (world / P2P_RUN / "training_options.json").unlink()  # snapshots in a folder, but not a run we made
    assert p2p_continues(P2P_RUN, "runs") is None


def test_gan_transfer_source_is_refused_before_any_network_is_touched(world):
    """train --resume SOURCE (transfer learning) reads its source through the same resolver."""
    from neuralbrush.gan.trainer_state import load_transfer_source

    with pytest.raises(UsageError, match="weights 'pix2pix-edges2shoes' are pix2pix weights, not a GAN generator"):
        load_transfer_source("pix2pix-edges2shoes", None, None, None)


def test_a_damaged_newest_snapshot_is_chosen_not_skipped(world):
    """A run whose snapshot cannot be read is not passed over silently: the loader names the file."""
    late = world / "runs" / "00003-blooms-small"
    late.mkdir()
    bad = late / "network-snapshot-000008.safetensors"
    bad.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all")
    src = resolve_source(world / "runs", kinds=("stylegan2-pkl",), formats=("neuralbrush.gan",))
    assert src.path == bad and src.run_dir == late


def test_sniffing_a_file_without_a_telling_suffix(world):
    (world / "model").write_bytes((world / "g.safetensors").read_bytes())
    (world / "other").write_bytes(b"\x80\x02junk")
    assert sniff_kind(world / "model") == SNAPSHOT and sniff_kind(world / "other") == PICKLE
    with pytest.raises(UsageError, match="'neuralbrush.gan' checkpoint, not a pix2pix generator"):
        resolve_source("model", kinds=("pix2pix-g",), what="pix2pix generator", formats=("neuralbrush.pix2pix",))
