"""Small random-weight generators shared by the GAN and latent-art tests."""

from __future__ import annotations

import torch

from neuralbrush.gan.networks import Generator


def small_stylegan(res: int = 16, dim: int = 32, *, cbase: int = 512, cmax: int = 32, w_avg_samples: int = 1000,
                   noise_strength: float | None = None, seed: int = 0) -> Generator:
    """A tiny StyleGAN2 generator (eval mode) whose w_avg is the mean mapped w, like a trained one."""
    torch.manual_seed(seed)
    g = Generator(z_dim=dim, w_dim=dim, img_resolution=res, mapping_kwargs=dict(num_layers=2),
                  synthesis_kwargs=dict(channel_base=cbase, channel_max=cmax)).eval()
    with torch.no_grad():
        g.mapping.w_avg.copy_(g.mapping(torch.randn(w_avg_samples, dim), None)[:, 0].mean(0))
        if noise_strength is not None:
            for name, p in g.named_parameters():
                if name.endswith("noise_strength"):
                    p.fill_(noise_strength)
    return g
