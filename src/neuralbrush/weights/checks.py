"""What a weights file must be before it may enter the store.

``weights import`` and ``weights fetch`` read every file with the same safe readers the studio
uses to load it (:func:`neuralbrush.core.checkpoint.read_torch_state_dict` for ``.pth`` files,
the allowlisting NVIDIA importer for ``.pkl`` files), so nothing in a file ever runs, and then
compare it with the architecture its catalogue entry names: tensor names and shapes for the
VGG, LPIPS and Inception files, a U-Net-256 pix2pix generator, a StyleGAN2 network pickle. A file
that is something else is refused with a sentence saying what it is (a ResNet generator, a
PatchGAN discriminator, a VGG where an Inception was expected, a neuralbrush snapshot...).

Reference shapes come from networks built on PyTorch's ``meta`` device: nothing is allocated.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Mapping

import torch

from ..core.errors import CheckpointError, WeightsMissingError

LPIPS_CHANNELS = (64, 128, 256, 512, 512)


def what_network(state: Mapping[str, torch.Tensor]) -> str:
    """A few words saying what network a state_dict belongs to (for messages refusing it)."""
    keys = [k[len("module."):] if k.startswith("module.") else k for k in state]
    state = dict(zip(keys, state.values()))
    if not keys:
        return "an empty state_dict"
    if any(".conv_block." in k for k in keys):
        blocks = len({k.split(".conv_block.")[0] for k in keys if ".conv_block." in k})
        return f"a junyanz ResNet generator ({blocks} residual blocks), not a U-Net"
    if "model.model.0.weight" in state:
        return "a junyanz U-Net generator"
    convs = sorted((int(k.split(".")[1]), v) for k, v in state.items()
                   if k.startswith("model.") and k.endswith(".weight") and k.count(".") == 2
                   and k.split(".")[1].isdigit() and v.dim() == 4)
    if convs and convs[-1][1].shape[0] == 1:
        return f"a PatchGAN discriminator ({convs[0][1].shape[1]} input channels), not a generator"
    if any(k.startswith("features.") for k in keys):
        n = sum(1 for k, v in state.items() if k.startswith("features.") and k.endswith(".weight") and v.dim() == 4)
        name = {8: "VGG-11", 10: "VGG-13", 13: "VGG-16", 16: "VGG-19"}.get(n, f"VGG-style network with {n} convolutions")
        head = "" if any(k.startswith("classifier.") for k in keys) else " (features only)"
        return f"a {name}{head}"
    if any(k.startswith(("Conv2d_1a_3x3", "Mixed_")) for k in keys):
        return "an Inception network"
    if all(k.startswith("lin") for k in keys):
        return f"LPIPS linear layers ({len(keys)} tensors)"
    shown = ", ".join(keys[:3]) + ("..." if len(keys) > 3 else "")
    return f"a state_dict of {len(keys)} tensors ({shown})"


def _shapes(module: torch.nn.Module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}


def _vgg_shapes(config: str) -> dict[str, tuple[int, ...]]:
    from torchvision.models.vgg import VGG, cfgs, make_layers

    with torch.device("meta"):
        return _shapes(VGG(make_layers(cfgs[config], batch_norm=False), init_weights=False))


def _compare(state: Mapping[str, torch.Tensor], want: Mapping[str, tuple[int, ...]], *, required: set[str],
             path: Path, expected: str) -> None:
    """Every ``required`` key present, no key outside ``want``, every shape as in ``want``."""
    missing = sorted(required - set(state))
    extra = sorted(set(state) - set(want))
    wrong = [k for k in sorted(set(state) & set(want)) if tuple(state[k].shape) != want[k]]
    if not (missing or extra or wrong):
        return
    if missing and len(missing) == len(required):  # nothing of it: say what the file is instead
        raise CheckpointError(f"{path} is {what_network(state)}, not {expected}")
    detail = (f"it lacks {missing[0]}" if missing else f"it has {extra[0]}, which {expected} has not" if extra
              else f"its {wrong[0]} has shape {tuple(state[wrong[0]].shape)}, expected {want[wrong[0]]}")
    raise CheckpointError(f"{path} does not match {expected}: {detail} (it looks like {what_network(state)})")


def _state(path: Path, what: str) -> dict[str, torch.Tensor]:
    from ..core.checkpoint import read_torch_state_dict

    with open(path, "rb") as f:
        head = f.read(9)
    if len(head) == 9 and head[8:9] == b"{":
        raise CheckpointError(f"{path} is a safetensors file (a neuralbrush checkpoint?), not the PyTorch {what} "
                              "file this catalogue entry names")
    return read_torch_state_dict(path, what=what)


def check_vgg(path: Path, config: str, name: str) -> None:
    """torchvision's VGG (``config`` "E" = VGG-19, "D" = VGG-16): all of ``features``, and the
    classifier when present, with the reference names and shapes."""
    state = _state(path, name)
    want = _vgg_shapes(config)
    features = {k for k in want if k.startswith("features.")}
    _compare(state, want, required=features, path=path, expected=f"torchvision's {name}")


def check_lpips(path: Path) -> None:
    """LPIPS v0.1 linear layers: one 1x1 weight per VGG-16 stage (64, 128, 256, 512, 512 channels)."""
    state = _state(path, "LPIPS linear-layer")
    want = {f"lin{i}.model.1.weight": (1, c, 1, 1) for i, c in enumerate(LPIPS_CHANNELS)}
    alt = {f"lin{i}.weight": (1, c, 1, 1) for i, c in enumerate(LPIPS_CHANNELS)}
    if set(state) <= set(alt) and set(state):
        want = alt
    _compare(state, want, required=set(want), path=path, expected="the LPIPS v0.1 VGG linear layers")


def check_inception(path: Path) -> None:
    """The FID Inception-v3 (pytorch-fid's port of the TF graph), every tensor."""
    from ..gan.inception import FIDInception

    state = _state(path, "FID Inception")
    with torch.device("meta"):
        want = _shapes(FIDInception())
    # pytorch-fid's converted TF weights carry no BatchNorm num_batches_tracked counters
    required = {k for k in want if not k.endswith("num_batches_tracked")}
    _compare(state, want, required=required, path=path, expected="the FID Inception-v3")


def check_pix2pix_generator(path: Path, resolution: int | None) -> None:
    """A junyanz U-Net generator of the catalogue's size, 3 -> 3 channels, that converts cleanly."""
    from ..pix2pix.junyanz import junyanz_to_flat

    cfg, _ = junyanz_to_flat(_state(path, "pix2pix generator"), label=str(path))
    want_arch = f"unet_{resolution or 256}"
    if cfg.arch != want_arch or cfg.in_channels != 3 or cfg.out_channels != 3:
        raise CheckpointError(f"{path} is a {cfg.arch} pix2pix generator with {cfg.in_channels}->{cfg.out_channels} "
                              f"channels, but this catalogue entry is a {want_arch} with 3->3 channels")


def check_stylegan2_pkl(path: Path) -> None:
    """An NVIDIA network pickle holding a StyleGAN2 generator (read by the allowlisting importer)."""
    import zipfile

    from ..gan.nvidia_pkl import load_nvidia_networks

    if zipfile.is_zipfile(path):  # torch.save's archive: say what it holds (read safely) instead
        raise CheckpointError(f"{path} is a PyTorch .pth archive holding {what_network(_state(path, 'network'))}, "
                              "not an NVIDIA network pickle")
    nets = load_nvidia_networks(path)
    if "G_ema" not in nets.networks and "G" not in nets.networks:
        raise CheckpointError(f"{path} holds no StyleGAN2 generator (only {', '.join(nets.networks)})")


CHECKS: dict[str, Callable[[Path, object], None]] = {
    "vgg19": lambda p, e: check_vgg(p, "E", "VGG-19"),
    "vgg16": lambda p, e: check_vgg(p, "D", "VGG-16"),
    "lpips": lambda p, e: check_lpips(p),
    "inception": lambda p, e: check_inception(p),
    "pix2pix-g": lambda p, e: check_pix2pix_generator(p, getattr(e, "resolution", None)),
    "stylegan2-pkl": lambda p, e: check_stylegan2_pkl(p),
    "gan-snapshot": lambda p, e: check_snapshot(p, "neuralbrush.gan"),
    "pix2pix-snapshot": lambda p, e: check_snapshot(p, "neuralbrush.pix2pix"),
}


def check_snapshot(path: Path, fmt: str) -> None:
    """A neuralbrush safetensors snapshot of the format ``fmt`` (read with the safe reader)."""
    from ..core.checkpoint import read_meta

    got = read_meta(path).get("format")
    if got != fmt:
        raise WeightsMissingError(f"{path} is a {got or 'non-neuralbrush'} file, not a {fmt} snapshot")


def check_weights_file(entry: object, path: str | Path) -> None:
    """Refuse ``path`` unless it is the kind of network ``entry`` (a WeightsEntry) names.

    Raises :class:`WeightsMissingError` (one sentence: what the file is, what was expected)."""
    path = Path(path)
    kind, name = getattr(entry, "kind"), getattr(entry, "name")
    check = CHECKS.get(kind)
    if check is None:
        raise WeightsMissingError(f"no check is known for weights of kind {kind!r} ({name})")
    try:
        check(path, entry)
    except CheckpointError as e:
        raise WeightsMissingError(f"not accepted as weights {name!r}: {e}") from None
