"""GAN networks (StyleGAN2, DCGAN, lite), snapshots, NVIDIA .pkl import and model loading.

``build_generator('stylegan2', img_resolution=64, ...)`` / ``build_discriminator('dcgan', ...)``
construct a network from keyword arguments (the same dict a snapshot stores as ``G_kwargs`` /
``D_kwargs``). Heavier pieces live in submodules: :mod:`.networks`, :mod:`.dcgan`,
:mod:`.lite`, :mod:`.snapshot`, :mod:`.nvidia_pkl`, :mod:`.loading`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..core.errors import UsageError
from .presets import ARCHS  # declared once, with the training options

if TYPE_CHECKING:  # torch loads with the networks, not with the package (the CLI starts fast)
    from torch import nn


def _classes(arch: str) -> tuple[type[nn.Module], type[nn.Module]]:
    if arch == "stylegan2":
        from .networks import Discriminator, Generator
        return Generator, Discriminator
    if arch == "dcgan":
        from .dcgan import DCGANDiscriminator, DCGANGenerator
        return DCGANGenerator, DCGANDiscriminator
    if arch == "lite":
        from .lite import LiteDiscriminator, LiteGenerator
        return LiteGenerator, LiteDiscriminator
    raise UsageError(f"unknown GAN architecture {arch!r}; choose one of {', '.join(ARCHS)}")


def build_generator(arch: str, **kwargs: Any) -> nn.Module:
    """A freshly initialised generator of ``arch`` (one of :data:`ARCHS`)."""
    return _classes(arch)[0](**kwargs)


def build_discriminator(arch: str, **kwargs: Any) -> nn.Module:
    """A freshly initialised discriminator of ``arch`` (one of :data:`ARCHS`)."""
    return _classes(arch)[1](**kwargs)


def arch_of(module: nn.Module) -> str:
    """'stylegan2', 'dcgan' or 'lite' for one of our network modules."""
    from .dcgan import DCGANDiscriminator, DCGANGenerator
    from .lite import LiteDiscriminator, LiteGenerator
    from .networks import Discriminator, Generator
    if isinstance(module, (Generator, Discriminator)):
        return "stylegan2"
    if isinstance(module, (DCGANGenerator, DCGANDiscriminator)):
        return "dcgan"
    if isinstance(module, (LiteGenerator, LiteDiscriminator)):
        return "lite"
    raise UsageError(f"{type(module).__name__} is not a neuralbrush GAN network")


__all__ = ["ARCHS", "arch_of", "build_discriminator", "build_generator"]
