"""Read NVIDIA stylegan2-ada-pytorch network pickles without running their code.

An NVlabs snapshot ``.pkl`` is a pickled dict ``{G, D, G_ema, augment_pipe,
training_set_kwargs}``. Each network went through ``torch_utils.persistence``, so the stream
calls ``torch_utils.persistence._reconstruct_persistent_obj(meta)`` with ``meta['module_src']``
= the source file that defines the class; loading it the normal way *executes that source*.

:class:`SafeUnpickler` allowlists the handful of globals a real network pickle uses and maps
each to a harmless implementation:

* the reconstruct function -> :class:`PersistentStub` keeping ``class_name`` and ``state``
  (``module_src`` is never executed, only hashed with sha256 as a fingerprint);
* ``dnnlib.util.EasyDict`` -> a plain ``dict`` subclass; ``collections.OrderedDict``;
* ``torch._utils._rebuild_tensor_v2`` / ``_rebuild_parameter(_with_state)`` -> tensor
  rebuilding with bounds checks; ``torch.storage._load_from_bytes`` -> each nested storage
  blob is read by :func:`neuralbrush.core.torchfile.load_torch_file` (our own restricted
  reader of torch.save's format);
* numpy ``dtype``, ``multiarray.scalar`` (no object dtypes), ``_reconstruct`` / ``ndarray``.

Anything else (``os.system``, ``builtins.eval``, ``subprocess.Popen``, any torch.nn class...)
raises :class:`CheckpointError` before it can be called. The stubs are then walked into flat
state_dicts with NVIDIA's dotted names and loaded strictly into our own networks.
"""

from __future__ import annotations

import collections
import hashlib
import io
import os
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import torch
from torch import nn

from ..core.errors import CheckpointError
from ..core.torchfile import load_torch_file, rebuild_parameter, rebuild_tensor

NETWORK_NAMES = ("G", "D", "G_ema")


# ----------------------------------------------------------------------------------------------
# Stand-ins for the allowlisted globals


class EasyDict(dict):
    """Stand-in for ``dnnlib.util.EasyDict``: a dict with attribute access."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setstate__(self, state: Any) -> None:  # BUILD with a __dict__ is harmless: keep items only
        if isinstance(state, dict):
            self.update(state)


@dataclass
class PersistentStub:
    """What ``_reconstruct_persistent_obj(meta)`` becomes: the class name and the module state."""

    class_name: str
    state: dict[str, Any]
    module_src_sha256: str | None = None
    version: int | None = None

    def init_kwargs(self) -> dict[str, Any]:
        return plain(self.state.get("_init_kwargs") or {})


def _reconstruct_persistent_obj(meta: Any) -> PersistentStub:
    if not isinstance(meta, dict) or meta.get("type") != "class":
        raise CheckpointError("the persistent object in this pickle is not a class instance")
    src = meta.get("module_src")
    digest = hashlib.sha256(src.encode("utf-8")).hexdigest() if isinstance(src, str) else None
    state = meta.get("state")
    if not isinstance(state, dict):
        raise CheckpointError(f"persistent {meta.get('class_name')!r} has no state dict")
    return PersistentStub(class_name=str(meta.get("class_name")), state=state, module_src_sha256=digest,
                          version=meta.get("version"))


def _load_from_bytes(b: Any) -> torch.Tensor:
    """A tensor storage nested in the pickle (a legacy ``torch.save`` blob), read by our own
    restricted reader; it comes back as a flat tensor that :func:`rebuild_tensor` views."""
    if not isinstance(b, (bytes, bytearray)):
        raise CheckpointError("a tensor storage in this pickle is not a byte string")
    storage = load_torch_file(bytes(b), label="a nested tensor storage")
    if not isinstance(storage, torch.Tensor) or storage.dim() != 1:
        raise CheckpointError(f"a nested storage blob holds a {type(storage).__name__}, not a tensor storage")
    return storage


def _np_scalar(dtype: Any, data: Any = None) -> Any:
    if not isinstance(dtype, np.dtype) or dtype.hasobject:
        raise CheckpointError("a numpy scalar in this pickle has an object dtype")
    if isinstance(data, str):
        data = data.encode("latin1")
    if not isinstance(data, (bytes, bytearray)) or len(data) != dtype.itemsize:
        raise CheckpointError("a numpy scalar in this pickle is malformed")
    return np.frombuffer(bytes(data), dtype=dtype, count=1)[0]


def _np_reconstruct(subtype: Any, shape: Any, dtype: Any) -> np.ndarray:
    if subtype is not np.ndarray:
        raise CheckpointError("a numpy array in this pickle has an unexpected array type")
    return np.ndarray.__new__(np.ndarray, shape, dtype)


def _codecs_encode(text: Any, encoding: str = "utf-8") -> bytes:
    # protocol-2 pickles spell bytes as _codecs.encode(str, 'latin1')
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise CheckpointError("unexpected _codecs.encode call in this pickle")
    return text.encode("latin1")


ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): _reconstruct_persistent_obj,
    ("dnnlib.util", "EasyDict"): EasyDict,
    ("dnnlib", "EasyDict"): EasyDict,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): rebuild_parameter,
    ("torch.storage", "_load_from_bytes"): _load_from_bytes,
    ("numpy", "dtype"): np.dtype,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy.core.multiarray", "scalar"): _np_scalar,
    ("numpy._core.multiarray", "scalar"): _np_scalar,
    ("numpy.core.multiarray", "_reconstruct"): _np_reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _np_reconstruct,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("__builtin__", "set"): set,  # protocol-2 spelling
    ("__builtin__", "frozenset"): frozenset,
    ("_codecs", "encode"): _codecs_encode,
}


class SafeUnpickler(pickle.Unpickler):
    """Unpickler that resolves only :data:`ALLOWED_GLOBALS` and refuses everything else."""

    source = "this pickle"

    def find_class(self, module: str, name: str) -> Any:
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise CheckpointError(
                f"refusing to load {self.source}: it asks for {module}.{name}, which a network pickle never needs "
                f"(the file may be malicious; nothing in it was run)") from None

    def persistent_load(self, pid: Any) -> Any:
        raise CheckpointError(f"refusing to load {self.source}: it uses persistent ids, unlike NVIDIA network pickles")


def safe_load_pickle(source: str | os.PathLike | bytes) -> Any:
    """Unpickle an NVIDIA network file (path or bytes) through :class:`SafeUnpickler`."""
    if isinstance(source, (bytes, bytearray)):
        data, label = bytes(source), "this pickle"
    else:
        path = Path(source)
        if not path.is_file():
            raise CheckpointError(f"network pickle {path} does not exist")
        data, label = path.read_bytes(), str(path)
    if not data.startswith(b"\x80"):
        raise CheckpointError(f"{label} is not a pickle file")
    up = SafeUnpickler(io.BytesIO(data))
    up.source = label
    try:
        return up.load()
    except CheckpointError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError,
            MemoryError, RecursionError) as e:
        raise CheckpointError(f"{label} is not a readable network pickle ({type(e).__name__}: {str(e)[:100]})") from None


def plain(obj: Any) -> Any:
    """EasyDicts / OrderedDicts / tuples / numpy scalars -> plain JSON-friendly Python values."""
    if isinstance(obj, dict):
        return {str(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


# ----------------------------------------------------------------------------------------------
# From stubs to state_dicts and our networks


def collect_state(stub: PersistentStub, prefix: str = "") -> dict[str, torch.Tensor]:
    """Flatten a stub tree into a state_dict with NVIDIA's dotted names (persistent buffers only)."""
    out: dict[str, torch.Tensor] = {}
    st = stub.state
    skip = set(st.get("_non_persistent_buffers_set") or ())
    for group in ("_parameters", "_buffers"):
        items = st.get(group) or {}
        if not isinstance(items, dict):
            raise CheckpointError(f"{stub.class_name} has a malformed {group}")
        for name, t in items.items():
            if t is None or (group == "_buffers" and name in skip):
                continue
            if not isinstance(t, torch.Tensor):
                raise CheckpointError(f"{prefix}{name} is a {type(t).__name__}, not a tensor")
            out[prefix + name] = t.detach()
    for name, child in (st.get("_modules") or {}).items():
        if child is None:
            continue
        if not isinstance(child, PersistentStub):
            raise CheckpointError(f"{prefix}{name} is not a network module")
        out.update(collect_state(child, f"{prefix}{name}."))
    return out


def fingerprints(stub: PersistentStub) -> list[str]:
    """Distinct sha256 digests of the module sources in a stub tree (architecture fingerprint)."""
    seen: list[str] = []

    def walk(s: PersistentStub) -> None:
        if s.module_src_sha256 and s.module_src_sha256 not in seen:
            seen.append(s.module_src_sha256)
        for c in (s.state.get("_modules") or {}).values():
            if isinstance(c, PersistentStub):
                walk(c)

    walk(stub)
    return seen


_G_TOP = {"z_dim", "c_dim", "w_dim", "img_resolution", "img_channels", "mapping_kwargs", "synthesis_kwargs"}
_G_SYN = {"channel_base", "channel_max", "num_fp16_res", "conv_clamp", "architecture", "resample_filter",
          "use_noise", "activation", "kernel_size"}
_MAP = {"num_layers", "embed_features", "layer_features", "activation", "lr_multiplier", "w_avg_beta"}
_D_TOP = {"c_dim", "img_resolution", "img_channels", "architecture", "channel_base", "channel_max", "num_fp16_res",
          "conv_clamp", "cmap_dim"}
# no effect on the maths (precision/layout/speed choices, Freeze-D which the trainer decides)
_PERF_ONLY = {"fp16_channels_last", "channels_last", "freeze_layers", "fused_modconv_default"}


def _check_keys(d: dict, allowed: set, where: str) -> dict:
    unknown = sorted(k for k in d if k not in allowed and k not in _PERF_ONLY)
    if unknown:
        raise CheckpointError(f"{where} uses options this importer does not support: {', '.join(unknown)}")
    return {k: v for k, v in d.items() if k in allowed}


def generator_kwargs(nv: dict[str, Any]) -> dict[str, Any]:
    """NVIDIA Generator ``_init_kwargs`` -> our :class:`Generator` kwargs (handles the flat
    ``**synthesis_kwargs`` spelling of the stylegan3 repository too)."""
    nv = dict(plain(nv))
    syn = dict(nv.pop("synthesis_kwargs", None) or {})
    for k in [k for k in nv if k not in _G_TOP]:
        syn[k] = nv.pop(k)
    kw = _check_keys(nv, _G_TOP, "the generator")
    kw["mapping_kwargs"] = _check_keys(dict(kw.get("mapping_kwargs") or {}), _MAP, "the mapping network")
    kw["synthesis_kwargs"] = _check_keys(syn, _G_SYN, "the synthesis network")
    return kw


def discriminator_kwargs(nv: dict[str, Any]) -> dict[str, Any]:
    """NVIDIA Discriminator ``_init_kwargs`` -> our :class:`Discriminator` kwargs."""
    nv = dict(plain(nv))
    block = dict(nv.pop("block_kwargs", None) or {})
    mapping = dict(nv.pop("mapping_kwargs", None) or {})
    epilogue = dict(nv.pop("epilogue_kwargs", None) or {})
    kw = _check_keys(nv, _D_TOP, "the discriminator")
    if block.get("activation", "lrelu") != "lrelu" or epilogue.get("activation", "lrelu") != "lrelu":
        raise CheckpointError("the discriminator uses an activation other than lrelu, which is not supported")
    if list(block.get("resample_filter", [1, 3, 3, 1])) != [1, 3, 3, 1]:
        raise CheckpointError("the discriminator uses a resample filter other than [1, 3, 3, 1], which is not supported")
    _check_keys(block, {"activation", "resample_filter"}, "the discriminator blocks")
    ep = _check_keys(epilogue, {"mbstd_group_size", "mbstd_num_channels", "activation"}, "the discriminator epilogue")
    ep.pop("activation", None)
    kw.update(ep)
    if mapping:
        kw["mapping_kwargs"] = _check_keys(mapping, _MAP, "the discriminator's label mapping")
    return kw


@dataclass
class NvidiaNetworks:
    """Our modules rebuilt from an NVIDIA pickle, plus what the file said about itself."""

    networks: dict[str, nn.Module]
    kwargs: dict[str, dict[str, Any]]
    fingerprints: dict[str, list[str]]
    training_set_kwargs: dict[str, Any] | None = None
    source: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def _build_from_stub(stub: PersistentStub, name: str, label: str) -> tuple[nn.Module, dict[str, Any]]:
    from .networks import Discriminator, Generator
    from .snapshot import load_state_strict

    state = collect_state(stub)
    if any(k.startswith("synthesis.input.") or k.startswith("synthesis.L") for k in state):
        raise CheckpointError(f"{label}: {name} is a StyleGAN3 (alias-free) network; only StyleGAN2 / "
                              f"StyleGAN2-ADA networks can be imported")
    if stub.class_name == "Generator":
        kwargs = generator_kwargs(stub.init_kwargs())
        cls: type[nn.Module] = Generator
    elif stub.class_name == "Discriminator":
        kwargs = discriminator_kwargs(stub.init_kwargs())
        cls = Discriminator
    else:
        raise CheckpointError(f"{label}: {name} is a {stub.class_name!r}, not a StyleGAN2 Generator/Discriminator")
    try:
        module = cls(**kwargs)
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{label}: cannot build {name} from its stored arguments ({e})") from None
    missing, unexpected = load_state_strict(module, state)
    if missing or unexpected:
        def few(x: list[str]) -> str:
            return ", ".join(x[:4]) + (f" and {len(x) - 4} more" if len(x) > 4 else "")
        parts = []
        if missing:
            parts.append(f"missing {few(missing)}")
        if unexpected:
            parts.append(f"unexpected {few(unexpected)}")
        raise CheckpointError(f"{label}: {name} does not match the StyleGAN2 layout ({'; '.join(parts)})")
    return module.eval(), kwargs


def load_nvidia_networks(path: str | os.PathLike | bytes, names: Iterable[str] = NETWORK_NAMES,
                         device: str | torch.device = "cpu", first_only: bool = False) -> NvidiaNetworks:
    """Read an NVIDIA snapshot pickle and rebuild the networks in ``names`` that it holds
    (only the first one present when ``first_only``)."""
    label = "this pickle" if isinstance(path, (bytes, bytearray)) else str(path)
    data = safe_load_pickle(path)
    if not isinstance(data, dict):
        raise CheckpointError(f"{label} does not hold a dict of networks")
    names = list(names)
    nets: dict[str, nn.Module] = {}
    kwargs: dict[str, dict[str, Any]] = {}
    prints: dict[str, list[str]] = {}
    for name in names:
        stub = data.get(name)
        if stub is None:
            continue
        if not isinstance(stub, PersistentStub):
            raise CheckpointError(f"{label}: entry {name!r} is not a persisted network")
        module, kw = _build_from_stub(stub, name, label)
        nets[name] = module.to(device)
        kwargs[name] = kw
        prints[name] = fingerprints(stub)
        if first_only:
            break
    if not nets:
        raise CheckpointError(f"{label} holds none of {', '.join(names)} (keys: {', '.join(map(str, data))})")
    tsk = data.get("training_set_kwargs")
    return NvidiaNetworks(networks=nets, kwargs=kwargs, fingerprints=prints,
                          training_set_kwargs=plain(tsk) if isinstance(tsk, dict) else None, source=label,
                          extra={k: type(v).__name__ for k, v in data.items() if k not in NETWORK_NAMES})


def load_nvidia_pkl(path: str | os.PathLike | bytes, which: str = "G_ema",
                    device: str | torch.device = "cpu") -> nn.Module:
    """Our Generator (``which`` = 'G_ema' or 'G') or Discriminator ('D') from an NVIDIA pickle, in
    eval mode. 'G_ema' falls back to 'G' when the file has no EMA generator."""
    if which not in NETWORK_NAMES:
        raise CheckpointError(f"which must be one of {', '.join(NETWORK_NAMES)}, not {which!r}")
    wanted = ("G_ema", "G") if which == "G_ema" else (which,)
    nets = load_nvidia_networks(path, names=wanted, device=device, first_only=True)
    for name in wanted:
        if name in nets.networks:
            return nets.networks[name]
    raise CheckpointError(f"{nets.source} holds no {which}")  # pragma: no cover - load_nvidia_networks raised


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def import_pkl_to_snapshot(pkl: str | os.PathLike, out: str | os.PathLike) -> Path:
    """Convert an NVIDIA network pickle into our safetensors snapshot (G, D, G_ema as present)."""
    from .snapshot import save_snapshot

    nets = load_nvidia_networks(pkl)
    n = nets.networks
    meta = {"imported_from": {"file": Path(pkl).name, "sha256": sha256_file(pkl), "kind": "nvidia-pkl",
                              "module_src_sha256": nets.fingerprints},
            "training_set_kwargs": nets.training_set_kwargs}
    return save_snapshot(out, arch="stylegan2", G=n.get("G"), D=n.get("D"), G_ema=n.get("G_ema"), meta=meta)
