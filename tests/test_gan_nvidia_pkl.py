"""NVIDIA .pkl import: a pickle with NVlabs' stream structure, built here without their code,
loads through the allowlisting unpickler and gives identical images; malicious pickles are
refused without running anything."""

from __future__ import annotations

import collections
import contextlib
import io
import os
import pickle
import pickletools
import sys
import types
from pathlib import Path

import pytest
import torch
from torch import nn

from neuralbrush.core.errors import CheckpointError, UsageError
from neuralbrush.gan.loading import load_discriminator, load_gan, load_generator
from neuralbrush.gan.networks import Discriminator, Generator
from neuralbrush.gan.nvidia_pkl import (ALLOWED_GLOBALS, import_pkl_to_snapshot, load_nvidia_networks,
                                        load_nvidia_pkl, safe_load_pickle)
from neuralbrush.gan.snapshot import load_snapshot

# Tiny networks: one thread avoids OpenMP spin-wait stalls on a loaded 2-core machine.
pytestmark = pytest.mark.usefixtures("one_thread")


# ----------------------------------------------------------------------------------------------
# A writer for NVIDIA-format network pickles (no NVIDIA code involved)

FAKE_MODULES = ("torch_utils", "torch_utils.persistence", "dnnlib", "dnnlib.util")


@contextlib.contextmanager
def nvidia_names():
    """Temporarily register ``torch_utils.persistence._reconstruct_persistent_obj`` and
    ``dnnlib.util.EasyDict`` so the pickler can refer to them by name, as NVIDIA's files do.
    They are removed again before anything is loaded."""

    def _reconstruct_persistent_obj(meta):  # pragma: no cover - must never run
        raise AssertionError("the reconstruct function of the file must never be called")

    _reconstruct_persistent_obj.__module__ = "torch_utils.persistence"
    _reconstruct_persistent_obj.__qualname__ = "_reconstruct_persistent_obj"

    class EasyDict(dict):
        pass

    EasyDict.__module__ = "dnnlib.util"
    EasyDict.__qualname__ = "EasyDict"
    mods = {name: types.ModuleType(name) for name in FAKE_MODULES}
    mods["torch_utils.persistence"]._reconstruct_persistent_obj = _reconstruct_persistent_obj
    mods["torch_utils"].persistence = mods["torch_utils.persistence"]
    mods["dnnlib.util"].EasyDict = EasyDict
    mods["dnnlib"].util = mods["dnnlib.util"]
    saved = {name: sys.modules.get(name) for name in FAKE_MODULES}
    sys.modules.update(mods)
    try:
        yield _reconstruct_persistent_obj, EasyDict
    finally:
        for name, old in saved.items():
            if old is None:
                sys.modules.pop(name, None)
            else:  # pragma: no cover
                sys.modules[name] = old


class AugmentPipe(nn.Module):
    """Stands in for NVIDIA's augmentation pipe in the snapshot dict (a persisted module too)."""

    def __init__(self) -> None:
        super().__init__()
        self.xflip = 1
        self.register_buffer("p", torch.tensor(0.25))


class NvidiaStylePickler(pickle.Pickler):
    """Pickle our nn.Modules the way ``torch_utils.persistence`` does: REDUCE of the reconstruct
    global with meta = {type, version, module_src, class_name, state=__dict__}; tensors use torch's
    own reductions (``_rebuild_tensor_v2`` + ``_load_from_bytes`` legacy storage blobs)."""

    def __init__(self, f, reconstruct, easydict, module_src: str, init_kwargs: dict, protocol: int) -> None:
        super().__init__(f, protocol=protocol)
        self.reconstruct = reconstruct
        self.easydict = easydict
        self.module_src = module_src
        self.init_kwargs = init_kwargs  # id(module) -> NVIDIA-style _init_kwargs

    def reducer_override(self, obj):
        if not isinstance(obj, nn.Module):
            return NotImplemented
        state = dict(obj.__dict__)
        for key in ("_parameters", "_buffers", "_modules"):
            state[key] = collections.OrderedDict(state[key])
        state.pop("init_kwargs", None)
        state["_init_args"] = ()
        state["_init_kwargs"] = self.init_kwargs.get(id(obj), self.easydict())
        meta = dict(type="class", version=6, module_src=self.module_src, class_name=type(obj).__name__, state=state)
        return self.reconstruct, (meta,)


def write_nvidia_pkl(path: Path, nets: dict, protocol: int = 4, marker: Path | None = None) -> Path:
    """Write ``{'G', 'D', 'G_ema', 'augment_pipe', 'training_set_kwargs'}`` like an NVlabs snapshot."""
    evil_src = ""
    if marker is not None:  # if anything ever executed module_src, this file would appear
        evil_src = f"import pathlib\npathlib.Path({str(marker)!r}).write_text('module_src was executed')\n"
    module_src = evil_src + "import torch\n\n@persistence.persistent_class\nclass Generator(torch.nn.Module):\n    ...\n"
    with nvidia_names() as (reconstruct, EasyDict):
        kw = {}
        for name, m in nets.items():
            if isinstance(m, Generator):
                ik = m.init_kwargs
                kw[id(m)] = EasyDict(z_dim=ik["z_dim"], w_dim=ik["w_dim"],
                                     mapping_kwargs=EasyDict(ik["mapping_kwargs"]),
                                     synthesis_kwargs=EasyDict(ik["synthesis_kwargs"], fp16_channels_last=False),
                                     c_dim=ik["c_dim"], img_resolution=ik["img_resolution"],
                                     img_channels=ik["img_channels"])
            elif isinstance(m, Discriminator):
                ik = m.init_kwargs
                kw[id(m)] = EasyDict(block_kwargs=EasyDict(freeze_layers=0), mapping_kwargs=EasyDict(),
                                     epilogue_kwargs=EasyDict(mbstd_group_size=ik["mbstd_group_size"]),
                                     architecture=ik["architecture"], channel_base=ik["channel_base"], channel_max=ik["channel_max"],
                                     num_fp16_res=ik["num_fp16_res"], conv_clamp=ik["conv_clamp"], c_dim=ik["c_dim"],
                                     img_resolution=ik["img_resolution"], img_channels=ik["img_channels"])
        data = dict(nets)
        data["augment_pipe"] = AugmentPipe()
        data["training_set_kwargs"] = EasyDict(path="~/datasets/blooms.zip", use_labels=False, max_size=None,
                                               xflip=True, resolution=32)
        buf = io.BytesIO()
        NvidiaStylePickler(buf, reconstruct, EasyDict, module_src, kw, protocol).dump(data)
    path.write_bytes(buf.getvalue())
    return path


def small_networks(seed: int = 0, c_dim: int = 0):
    torch.manual_seed(seed)
    G = Generator(z_dim=32, w_dim=32, c_dim=c_dim, img_resolution=32, img_channels=3,
                  mapping_kwargs=dict(num_layers=2),
                  synthesis_kwargs=dict(channel_base=512, channel_max=32, num_fp16_res=2, conv_clamp=256))
    D = Discriminator(c_dim=c_dim, img_resolution=32, channel_base=512, channel_max=32, num_fp16_res=2,
                      conv_clamp=256, mbstd_group_size=4)
    G_ema = Generator(**G.init_kwargs)
    G_ema.load_state_dict(G.state_dict())
    with torch.no_grad():  # make the networks non-trivial: nonzero noise strengths and a w_avg
        for m in (G, G_ema):
            for name, p in m.named_parameters():
                if name.endswith("noise_strength"):
                    p.fill_(0.3)
            m.mapping.w_avg.normal_()
        G_ema.synthesis.b4.const.mul_(1.5)
    return G.eval(), D.eval(), G_ema.eval()


def stream_globals(data: bytes) -> set[tuple[str, str]]:
    """(module, name) of every GLOBAL / STACK_GLOBAL in a pickle stream (memo references followed)."""
    found, memo, pushed = set(), {}, []
    for op, arg, _ in pickletools.genops(data):
        if op.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE", "BINUNICODE8"):
            pushed.append(arg)
        elif op.name == "MEMOIZE":
            memo[len(memo)] = pushed[-1] if pushed else None
        elif op.name in ("BINPUT", "LONG_BINPUT", "PUT"):
            memo[arg] = pushed[-1] if pushed else None
        elif op.name in ("BINGET", "LONG_BINGET", "GET"):
            pushed.append(memo.get(arg))
        elif op.name == "STACK_GLOBAL":
            found.add((pushed[-2], pushed[-1]))
            pushed.append(None)
        elif op.name == "GLOBAL":
            found.add(tuple(arg.split(" ", 1)))
            pushed.append(None)
        else:
            pushed.append(None)
    return found


@pytest.fixture()
def nv_pkl(tmp_path):
    G, D, G_ema = small_networks()
    marker = tmp_path / "MARKER"
    path = write_nvidia_pkl(tmp_path / "network-snapshot-000123.pkl", {"G": G, "D": D, "G_ema": G_ema}, marker=marker)
    return path, (G, D, G_ema), marker


# ----------------------------------------------------------------------------------------------
# The stream looks like NVIDIA's and loads to identical networks


def test_stream_has_nvidia_structure(nv_pkl):
    path, _, _ = nv_pkl
    data = path.read_bytes()
    names = stream_globals(data)
    assert ("torch_utils.persistence", "_reconstruct_persistent_obj") in names
    assert ("torch.storage", "_load_from_bytes") in names
    assert ("torch._utils", "_rebuild_tensor_v2") in names
    assert ("torch._utils", "_rebuild_parameter") in names
    assert ("dnnlib.util", "EasyDict") in names
    assert any(n[1] == "scalar" for n in names)  # numpy float64 weight gains
    assert names <= set(ALLOWED_GLOBALS)
    assert "torch_utils" not in sys.modules and "dnnlib" not in sys.modules


@pytest.mark.parametrize("protocol", [2, 3, 4])
def test_loaded_generator_gives_identical_images(tmp_path, protocol):
    G, D, G_ema = small_networks(seed=protocol)
    marker = tmp_path / "MARKER"
    path = write_nvidia_pkl(tmp_path / "net.pkl", {"G": G, "D": D, "G_ema": G_ema}, protocol=protocol, marker=marker)
    G2 = load_nvidia_pkl(path)  # G_ema by default
    assert isinstance(G2, Generator) and not G2.training
    z = torch.randn(3, 32, generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        ref = G_ema(z, None, noise_mode="const")
        out = G2(z, None, noise_mode="const")
        assert torch.equal(out, ref)
        assert torch.equal(G2(z, None, truncation_psi=0.5, noise_mode="const"),
                           G_ema(z, None, truncation_psi=0.5, noise_mode="const"))
    assert G2.init_kwargs["synthesis_kwargs"] == {"channel_base": 512, "channel_max": 32, "num_fp16_res": 2,
                                                   "conv_clamp": 256}
    assert not marker.exists()


def test_discriminator_and_plain_G_load_identically(nv_pkl):
    path, (G, D, G_ema), marker = nv_pkl
    nets = load_nvidia_networks(path)
    assert set(nets.networks) == {"G", "D", "G_ema"}
    img = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert torch.equal(nets.networks["D"](img, None), D(img, None))
        z = torch.randn(2, 32)
        assert torch.equal(nets.networks["G"](z, None, noise_mode="const"), G(z, None, noise_mode="const"))
    assert nets.training_set_kwargs["resolution"] == 32
    assert len(nets.fingerprints["G_ema"]) == 1 and len(nets.fingerprints["G_ema"][0]) == 64
    assert nets.kwargs["D"]["mbstd_group_size"] == 4
    assert not marker.exists()


def test_conditional_networks_round_trip(tmp_path):
    G, D, G_ema = small_networks(c_dim=5)
    path = write_nvidia_pkl(tmp_path / "cond.pkl", {"G": G, "D": D, "G_ema": G_ema})
    G2 = load_nvidia_pkl(path)
    D2 = load_nvidia_pkl(path, which="D")
    z, c = torch.randn(5, 32), torch.eye(5)
    with torch.no_grad():
        img = G_ema(z, c, noise_mode="const")
        assert torch.equal(G2(z, c, noise_mode="const"), img)
        assert torch.equal(D2(img, c), D(img, c))
    assert "mapping.embed.weight" in G2.state_dict() and "mapping.embed.weight" in D2.state_dict()


def test_import_to_snapshot_and_loaders(nv_pkl, tmp_path, monkeypatch):
    path, (G, D, G_ema), marker = nv_pkl
    out = import_pkl_to_snapshot(path, tmp_path / "imported.safetensors")
    snap = load_snapshot(out)
    assert snap.arch == "stylegan2" and snap.meta["imported_from"]["kind"] == "nvidia-pkl"
    assert len(snap.meta["imported_from"]["sha256"]) == 64
    z = torch.randn(2, 32)
    with torch.no_grad():
        ref = G_ema(z, None, noise_mode="const")
        assert torch.equal(snap.G_ema(z, None, noise_mode="const"), ref)
        # every way of naming the model gives the same generator
        assert torch.equal(load_generator(path)(z, None, noise_mode="const"), ref)
        assert torch.equal(load_generator(out)(z, None, noise_mode="const"), ref)
        assert torch.equal(load_generator(path.parent)(z, None, noise_mode="const"), ref)  # NVlabs run dir
        assert torch.equal(load_generator(path, which="G")(z, None, noise_mode="const"), G(z, None, noise_mode="const"))
        img = torch.randn(4, 3, 32, 32)
        assert torch.equal(load_discriminator(path)(img, None), D(img, None))
    full = load_gan(path)
    assert full.G is not None and full.D is not None and full.meta["G_kwargs"]["img_resolution"] == 32
    # a weights-store name of kind stylegan2-pkl goes through the importer too
    from neuralbrush import weights
    weights.import_file("cifar10", path)
    with torch.no_grad():
        assert torch.equal(load_generator("cifar10")(z, None, noise_mode="const"), ref)
    assert not marker.exists()


# ----------------------------------------------------------------------------------------------
# Malicious pickles are refused before anything runs


class _Reduce:
    def __init__(self, func, args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def _evil_payloads(marker: Path) -> dict[str, bytes]:
    import builtins
    import subprocess
    cmd = f"touch {marker}"
    code = f"__import__('pathlib').Path({str(marker)!r}).write_text('pwned')"
    return {
        "os.system": pickle.dumps(_Reduce(os.system, (cmd,)), protocol=2),
        "builtins.eval": pickle.dumps(_Reduce(builtins.eval, (code,)), protocol=4),
        "builtins.exec": pickle.dumps({"G": _Reduce(builtins.exec, (code,))}, protocol=4),
        "subprocess.Popen": pickle.dumps(_Reduce(subprocess.Popen, (["touch", str(marker)],)), protocol=3),
        "getattr": pickle.dumps(_Reduce(getattr, ("text", "upper")), protocol=4),
        "nested storage blob": pickle.dumps(
            _Reduce(torch.storage._load_from_bytes, (pickle.dumps(_Reduce(os.system, (cmd,)), protocol=2),)),
            protocol=4),
    }


@pytest.mark.parametrize("kind", ["os.system", "builtins.eval", "builtins.exec", "subprocess.Popen", "getattr",
                                  "nested storage blob"])
def test_malicious_pickle_is_refused_and_nothing_runs(tmp_path, kind):
    marker = tmp_path / "PWNED"
    path = tmp_path / "evil.pkl"
    path.write_bytes(_evil_payloads(marker)[kind])
    with pytest.raises(CheckpointError) as e:
        load_nvidia_pkl(path)
    msg = str(e.value)
    assert "\n" not in msg
    if kind != "nested storage blob":
        assert "refusing to load" in msg and "nothing in it was run" in msg
    assert not marker.exists()


def test_malicious_global_inside_a_network_is_refused(tmp_path):
    """A real-looking network pickle with one poisoned attribute deep in a submodule's state."""
    marker = tmp_path / "PWNED"
    G, D, G_ema = small_networks()
    G_ema.synthesis.b8.conv1.sneaky = _Reduce(os.system, (f"touch {marker}",))
    path = write_nvidia_pkl(tmp_path / "poisoned.pkl", {"G_ema": G_ema})
    with pytest.raises(CheckpointError, match=r"(posix|os)\.system"):
        load_nvidia_pkl(path)
    assert not marker.exists()


def test_damaged_and_foreign_files_are_reported(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        safe_load_pickle(tmp_path / "missing.pkl")
    bad = tmp_path / "text.pkl"
    bad.write_text("hello")
    with pytest.raises(CheckpointError, match="not a pickle"):
        load_nvidia_pkl(bad)
    G, D, G_ema = small_networks()
    good = write_nvidia_pkl(tmp_path / "ok.pkl", {"G_ema": G_ema}).read_bytes()
    cut = tmp_path / "cut.pkl"
    cut.write_bytes(good[: len(good) // 2])
    with pytest.raises(CheckpointError):
        load_nvidia_pkl(cut)
    with pytest.raises(CheckpointError, match="holds none of"):
        load_nvidia_pkl(tmp_path / "ok.pkl", which="D")
    with pytest.raises(UsageError):
        load_generator(tmp_path / "nope.pkl")
    with pytest.raises(UsageError, match="not a GAN generator"):
        load_generator("vgg19")
    with pytest.raises(UsageError, match="GAN weights names"):
        load_generator("no-such-model")


def test_state_mismatch_names_the_tensors(tmp_path):
    G, D, G_ema = small_networks()
    del G_ema.synthesis.b8.conv1.noise_strength  # parameter vanishes from the file
    path = write_nvidia_pkl(tmp_path / "odd.pkl", {"G_ema": G_ema})
    with pytest.raises(CheckpointError, match="synthesis.b8.conv1.noise_strength"):
        load_nvidia_pkl(path)


def test_kwargs_translation_covers_nvidia_spellings():
    from neuralbrush.gan.nvidia_pkl import discriminator_kwargs, generator_kwargs
    # legacy.py (TF-converted) spelling: everything explicit
    g = generator_kwargs({"z_dim": 512, "c_dim": 0, "w_dim": 512, "img_resolution": 256, "img_channels": 3,
                          "mapping_kwargs": {"num_layers": 8, "embed_features": None, "layer_features": None,
                                             "activation": "lrelu", "lr_multiplier": 0.01, "w_avg_beta": 0.995},
                          "synthesis_kwargs": {"channel_base": 16384, "channel_max": 512, "num_fp16_res": 0,
                                               "conv_clamp": None, "architecture": "skip",
                                               "resample_filter": [1, 3, 3, 1], "use_noise": True,
                                               "activation": "lrelu"}})
    assert g["synthesis_kwargs"]["architecture"] == "skip" and g["mapping_kwargs"]["w_avg_beta"] == 0.995
    # stylegan3-repository spelling: synthesis options flat beside mapping_kwargs
    g3 = generator_kwargs({"z_dim": 512, "w_dim": 512, "c_dim": 0, "img_resolution": 64, "img_channels": 3,
                           "mapping_kwargs": {"num_layers": 2}, "channel_base": 16384, "channel_max": 512,
                           "num_fp16_res": 4, "conv_clamp": 256, "fused_modconv_default": "inference_only"})
    assert g3["synthesis_kwargs"] == {"channel_base": 16384, "channel_max": 512, "num_fp16_res": 4, "conv_clamp": 256}
    d = discriminator_kwargs({"c_dim": 0, "img_resolution": 256, "img_channels": 3, "architecture": "resnet",
                              "channel_base": 16384, "channel_max": 512, "num_fp16_res": 4, "conv_clamp": 256,
                              "cmap_dim": None,
                              "block_kwargs": {"activation": "lrelu", "resample_filter": [1, 3, 3, 1],
                                               "freeze_layers": 0},
                              "mapping_kwargs": {}, "epilogue_kwargs": {"mbstd_group_size": 8,
                                                                        "mbstd_num_channels": 1,
                                                                        "activation": "lrelu"}})
    assert d["mbstd_group_size"] == 8 and d["mbstd_num_channels"] == 1 and "block_kwargs" not in d
    with torch.device("meta"):
        Generator(**g3), Discriminator(**d)
    with pytest.raises(CheckpointError, match="does not support: magic"):
        generator_kwargs({"z_dim": 4, "synthesis_kwargs": {"magic": 1}})


@pytest.mark.parametrize("g_arch,d_arch", [("orig", "orig"), ("resnet", "skip")])
def test_other_architectures_round_trip(tmp_path, g_arch, d_arch):
    torch.manual_seed(3)
    G = Generator(z_dim=16, w_dim=16, img_resolution=16, mapping_kwargs=dict(num_layers=1),
                  synthesis_kwargs=dict(channel_base=256, channel_max=16, architecture=g_arch)).eval()
    D = Discriminator(img_resolution=16, channel_base=256, channel_max=16, architecture=d_arch).eval()
    path = write_nvidia_pkl(tmp_path / "arch.pkl", {"G_ema": G, "D": D})
    nets = load_nvidia_networks(path)
    z, img = torch.randn(2, 16), torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        assert torch.equal(nets.networks["G_ema"](z, None, noise_mode="const"), G(z, None, noise_mode="const"))
        assert torch.equal(nets.networks["D"](img, None), D(img, None))
