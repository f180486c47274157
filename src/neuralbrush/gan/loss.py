"""GAN losses: non-saturating logistic, R1 on augmented reals, path-length regularisation, and
:class:`LiteLoss` (hinge + D's reconstruction error) for ``--arch lite``.

The training loop calls :meth:`GANLoss.accumulate` once per phase with one of
``Gmain | Greg | Gboth | Dmain | Dreg | Dboth``; each call computes the loss for the local batch
and calls ``backward`` (the loop then averages gradients across ranks and steps the optimiser).
``gain`` is the lazy-regularisation interval, so a penalty applied every I minibatches weighs
as much as one applied every minibatch (REFERENCE.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch
import torch.nn.functional as F

PHASES = ("Gmain", "Greg", "Gboth", "Dmain", "Dreg", "Dboth")


def pair_group(D: torch.nn.Module, n: int) -> int | None:
    """Whether D can score n fakes and n reals as one batch of 2n with the same result as two
    calls, and how: the minibatch-std group size g both batch sizes give (1 without the layer),
    so that :func:`interleave` keeps every group all fakes or all reals. None where D couples
    samples in any other way (batch norm, a group of the whole batch) or the group sizes differ."""
    from .layers import MinibatchStdLayer

    g = 1
    for m in D.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            return None
        if isinstance(m, MinibatchStdLayer):
            if m.group_size is None or m.groups_of(n) != m.groups_of(2 * n) or (g != 1 and m.groups_of(n) != g):
                return None
            g = m.groups_of(n)
    return g


def interleave(a: torch.Tensor, b: torch.Tensor, g: int) -> torch.Tensor:
    """[n, ...] and [n, ...] -> [2n, ...] such that each minibatch-std group of g samples (samples
    i, i + 2n/g, ...) holds only rows of ``a`` or only rows of ``b``, the same rows as the group
    it had in a batch of its own."""
    n = a.shape[0]
    m = n // g
    return torch.stack([a.reshape(g, m, *a.shape[1:]), b.reshape(g, m, *b.shape[1:])], dim=1).reshape(2 * n, *a.shape[1:])


def deinterleave(y: torch.Tensor, g: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The inverse of :func:`interleave`."""
    n = y.shape[0] // 2
    y = y.reshape(g, 2, n // g, *y.shape[1:])
    return y[:, 0].reshape(n, *y.shape[3:]), y[:, 1].reshape(n, *y.shape[3:])


def has_mapping(G: torch.nn.Module) -> bool:
    """StyleGAN-style generators have a mapping network and w space; DCGAN does not."""
    return getattr(G, "w_dim", None) is not None and hasattr(G, "mapping") and hasattr(G, "synthesis")


@dataclass
class LossStats:
    """Scalars of the last phases, for the progress line and stats.jsonl."""

    values: dict[str, float] = field(default_factory=dict)

    def add(self, name: str, t: torch.Tensor) -> None:
        self.values[name] = float(t.detach().float().mean())


class GANLoss:
    """StyleGAN2-ADA loss (also used for DCGAN, with path length and style mixing off).

    Args:
        G, D: generator and discriminator (D(img, c) -> logits [N, 1]).
        augment_pipe: applied to reals and fakes before D (None = no augmentation).
        r1_gamma: R1 weight; penalty = gamma/2 * |grad D(aug(real))|^2 (0 disables).
        style_mixing_prob: probability of mixing two latents at a random layer cutoff.
        pl_weight, pl_batch_shrink, pl_decay: path length regularisation (weight 0 disables).
        autocast: context factory for the forward passes (core.device Runtime.autocast).
        noise_mode: synthesis noise ('random'; 'const' makes runs bitwise repeatable in tests).
        reduce_mean: averages a tensor across ranks in place (DDP), identity otherwise.
        recon_weight: weight of D's reconstruction error on the (augmented) reals, for a D built with
            decoders (``recon_channels``, ``--d-recon``): :func:`reconstruction_distance` of its
            whole-image and quadrant reconstructions, added to D's loss in its main phase. 0 = off.
    """

    def __init__(self, G: torch.nn.Module, D: torch.nn.Module, *, augment_pipe: torch.nn.Module | None = None,
                 r1_gamma: float = 10.0, style_mixing_prob: float = 0.9, pl_weight: float = 2.0,
                 pl_batch_shrink: int = 2, pl_decay: float = 0.01, autocast: Callable | None = None,
                 noise_mode: str = "random", reduce_mean: Callable[[torch.Tensor], torch.Tensor] | None = None,
                 recon_weight: float = 0.0) -> None:
        self.G, self.D = G, D
        self.recon_weight = float(recon_weight)
        if self.recon_weight > 0 and not getattr(D, "recon_channels", 0):
            raise ValueError("recon_weight > 0 needs a discriminator built with decoders (recon_channels > 0)")
        self.augment_pipe = augment_pipe
        self.r1_gamma = float(r1_gamma)
        self.style_mixing_prob = float(style_mixing_prob) if has_mapping(G) else 0.0
        self.pl_weight = float(pl_weight) if has_mapping(G) else 0.0
        self.pl_batch_shrink = int(pl_batch_shrink)
        self.pl_decay = float(pl_decay)
        self.autocast = autocast
        self.noise_mode = noise_mode
        self.reduce_mean = reduce_mean or (lambda t: t)
        self.pl_mean = torch.zeros([])
        self.stats = LossStats()
        self.real_logits_hook: Callable[[torch.Tensor], None] | None = None  # ADA statistics
        # D's main phase scores fakes and reals in one call where that gives the same result
        # (pair_group); False: two calls, as NVIDIA's loop makes them (the plain loop, lean=False)
        self.pair_d = True

    # -- forward helpers ---------------------------------------------------------------------------
    def _ctx(self):
        import contextlib

        return self.autocast() if self.autocast is not None else contextlib.nullcontext()

    def run_G(self, z: torch.Tensor, c: torch.Tensor, *, update_emas: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Generate images (float32, NCHW) and the ws used (None for DCGAN)."""
        with self._ctx():
            if not has_mapping(self.G):
                return self.G(z, c).float(), None
            ws = self.G.mapping(z, c, update_emas=update_emas)
            if self.style_mixing_prob > 0:
                num_ws = ws.shape[1]
                cutoff = torch.randint(1, num_ws, [], device=ws.device) if num_ws > 1 else torch.ones([], dtype=torch.long)
                mix = torch.rand([], device=ws.device) < self.style_mixing_prob
                cutoff = torch.where(mix, cutoff, torch.full_like(cutoff, num_ws))
                ws2 = self.G.mapping(torch.randn_like(z), c, update_emas=False)
                layer = torch.arange(num_ws, device=ws.device).view(1, -1, 1)
                ws = torch.where(layer < cutoff, ws, ws2)
            img = self.G.synthesis(ws, noise_mode=self.noise_mode)
        return img.float(), ws

    def run_D(self, img: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        if self.augment_pipe is not None:
            img = self.augment_pipe(img)
        with self._ctx():
            logits = self.D(img, c)
        return logits.float()

    def run_D_reconstruct(self, img: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits [N, 1] and D's reconstruction error [N] of the image D saw (after augmentation)."""
        if self.augment_pipe is not None:
            img = self.augment_pipe(img)
        features: dict[int, torch.Tensor] = {}
        with self._ctx():
            logits = self.D(img, c, features=features)
            recs = self.D.reconstruct(features, img)
        recon = sum(reconstruction_distance(r, t) for r, t in recs.values())
        return logits.float(), recon

    # -- the phases --------------------------------------------------------------------------------
    def accumulate(self, phase: str, real_img: torch.Tensor, real_c: torch.Tensor, gen_z: torch.Tensor,
                   gen_c: torch.Tensor, gain: float) -> None:
        assert phase in PHASES, phase
        do_Gmain = phase in ("Gmain", "Gboth")
        do_Dmain = phase in ("Dmain", "Dboth")
        do_Gpl = phase in ("Greg", "Gboth") and self.pl_weight > 0
        do_Dr1 = phase in ("Dreg", "Dboth") and self.r1_gamma > 0

        if do_Gmain:  # generator wants D to call its images real: softplus(-D(G(z)))
            gen_img, _ = self.run_G(gen_z, gen_c)
            gen_logits = self.run_D(gen_img, gen_c)
            loss_G = F.softplus(-gen_logits)
            self.stats.add("loss/G", loss_G)
            self.stats.add("scores/fake", gen_logits)
            loss_G.mean().mul(gain).backward()

        if do_Gpl:  # path length: |J^T y| for random image-space y should stay constant
            n = max(gen_z.shape[0] // self.pl_batch_shrink, 1)
            gen_img, ws = self.run_G(gen_z[:n], gen_c[:n])
            h, w = gen_img.shape[2:]
            pl_noise = torch.randn_like(gen_img) / (h * w) ** 0.5
            (pl_grads,) = torch.autograd.grad((gen_img * pl_noise).sum(), ws, create_graph=True)
            pl_lengths = pl_grads.float().square().sum(2).mean(1).sqrt()
            batch_mean = self.reduce_mean(pl_lengths.mean().detach().clone())
            self.pl_mean = self.pl_mean.to(batch_mean.device)
            self.pl_mean = self.pl_mean.lerp(batch_mean, self.pl_decay)
            pl_penalty = (pl_lengths - self.pl_mean).square()
            self.stats.add("loss/pl_penalty", pl_penalty)
            loss_Gpl = pl_penalty * self.pl_weight
            # Keep gen_img in the graph at zero cost so every G parameter receives a gradient.
            (gen_img[:, 0, 0, 0] * 0 + loss_Gpl).mean().mul(gain).backward()

        if do_Dmain and not do_Dr1 and self._paired_d_main(real_img, real_c, gen_z, gen_c, gain):
            return
        if do_Dmain:  # fakes should score low: softplus(D(G(z)))
            with torch.no_grad():
                gen_img, _ = self.run_G(gen_z, gen_c, update_emas=True)
            gen_logits = self.run_D(gen_img, gen_c)
            loss_Dgen = F.softplus(gen_logits)
            self.stats.add("scores/fake", gen_logits)
            loss_Dgen.mean().mul(gain).backward()

        if do_Dmain or do_Dr1:
            real = real_img.detach().requires_grad_(do_Dr1)
            if do_Dmain and self.recon_weight > 0:
                real_logits, recon = self.run_D_reconstruct(real, real_c)
                self.stats.add("loss/recon", recon)
            else:
                real_logits, recon = self.run_D(real, real_c), None
            loss = real_logits[:, 0] * 0
            if recon is not None:
                loss = loss + recon * self.recon_weight
            if do_Dmain:
                loss_Dreal = F.softplus(-real_logits)
                self.stats.add("scores/real", real_logits)
                self.stats.add("loss/D", loss_Dgen.mean() + loss_Dreal.mean())
                if self.real_logits_hook is not None:
                    self.real_logits_hook(real_logits)
                loss = loss + loss_Dreal[:, 0]
            if do_Dr1:  # R1 through the augmentation: needs a double-differentiable pipe
                (r1_grads,) = torch.autograd.grad(real_logits.sum(), real, create_graph=True)
                r1_penalty = r1_grads.float().square().sum([1, 2, 3])
                self.stats.add("loss/r1_penalty", r1_penalty)
                loss = loss + r1_penalty * (self.r1_gamma / 2)
            loss.mean().mul(gain).backward()


    def _paired_d_main(self, real_img: torch.Tensor, real_c: torch.Tensor, gen_z: torch.Tensor, gen_c: torch.Tensor,
                       gain: float) -> bool:
        """D's main phase with fakes and reals through D as one batch: the same losses and
        gradients as two calls to float rounding, one D forward and backward instead of two (x1.24
        for `small`'s D at batch 8 on the CPU). The augmentation still runs per half, fakes first,
        drawing the same random numbers in the same order. False (nothing done) where it cannot."""
        n = real_img.shape[0]
        g = pair_group(self.D, n) if self.pair_d and self.recon_weight == 0 and gen_z.shape[0] == n else None
        if g is None:
            return False
        with torch.no_grad():
            gen_img, _ = self.run_G(gen_z, gen_c, update_emas=True)
        fake, real = gen_img, real_img.detach()
        if self.augment_pipe is not None:
            fake = self.augment_pipe(fake)
            real = self.augment_pipe(real)
        with self._ctx():
            logits = self.D(interleave(fake, real, g), interleave(gen_c, real_c, g))
        gen_logits, real_logits = deinterleave(logits.float(), g)
        loss_Dgen = F.softplus(gen_logits)
        loss_Dreal = F.softplus(-real_logits)
        self.stats.add("scores/fake", gen_logits)
        self.stats.add("scores/real", real_logits)
        self.stats.add("loss/D", loss_Dgen.mean() + loss_Dreal.mean())
        if self.real_logits_hook is not None:
            self.real_logits_hook(real_logits)
        (loss_Dgen.mean() + loss_Dreal.mean()).mul(gain).backward()
        return True


def reconstruction_distance(rec: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-image distance [N] between a reconstruction and its target: L1 of the pixels and of
    the image gradients, at full and half size (a perceptual-ish stand-in for LPIPS that needs no
    pretrained network)."""
    total = rec.new_zeros(rec.shape[0])
    for _ in range(2):
        diff = rec - target
        total = total + diff.abs().mean([1, 2, 3])
        total = total + (diff[..., 1:, :] - diff[..., :-1, :]).abs().mean([1, 2, 3])
        total = total + (diff[..., 1:] - diff[..., :-1]).abs().mean([1, 2, 3])
        if rec.shape[-1] < 8:
            break
        rec, target = F.avg_pool2d(rec, 2), F.avg_pool2d(target, 2)
    return total


class LiteLoss(GANLoss):
    """FastGAN-style loss for ``--arch lite``: hinge on every patch logit with a random margin
    in [0.8, 1] (D), ``-D(G(z))`` (G), and for real images D's reconstruction error
    (:func:`reconstruction_distance`, weight ``recon_weight``) so D must keep describing the
    images, not only separating them. R1 (``r1_gamma > 0``) works as in :class:`GANLoss`; path
    length and style mixing do not apply (no w space)."""

    def __init__(self, G: torch.nn.Module, D: torch.nn.Module, *, recon_weight: float = 1.0, **kwargs) -> None:
        super().__init__(G, D, **kwargs)
        self.recon_weight = float(recon_weight)

    def run_G(self, z: torch.Tensor, c: torch.Tensor, *, update_emas: bool = False) -> tuple[torch.Tensor, None]:
        with self._ctx():
            img = self.G(z, c, noise_mode=self.noise_mode)
        return img.float(), None

    def score(self, img: torch.Tensor, c: torch.Tensor, *, reconstruct: bool = False):
        if self.augment_pipe is not None:
            img = self.augment_pipe(img)
        with self._ctx():
            return self.D.score(img, c, reconstruct=reconstruct)

    def accumulate(self, phase: str, real_img: torch.Tensor, real_c: torch.Tensor, gen_z: torch.Tensor,
                   gen_c: torch.Tensor, gain: float) -> None:
        assert phase in PHASES, phase
        do_Dmain = phase in ("Dmain", "Dboth")
        do_Dr1 = phase in ("Dreg", "Dboth") and self.r1_gamma > 0
        if phase in ("Gmain", "Gboth"):
            gen_img, _ = self.run_G(gen_z, gen_c)
            patches = self.score(gen_img, gen_c).patches
            self.stats.add("loss/G", -patches.mean())
            self.stats.add("scores/fake", patches)
            (-patches.mean()).mul(gain).backward()
        if do_Dmain:
            with torch.no_grad():
                gen_img, _ = self.run_G(gen_z, gen_c)
            patches = self.score(gen_img, gen_c).patches
            loss_Dgen = F.relu(torch.rand_like(patches) * 0.2 + 0.8 + patches).mean()
            self.stats.add("scores/fake", patches)
            loss_Dgen.mul(gain).backward()
        if do_Dmain or do_Dr1:
            real = real_img.detach().requires_grad_(do_Dr1)
            scores = self.score(real, real_c, reconstruct=do_Dmain)
            loss = scores.patches.new_zeros([])
            if do_Dmain:
                loss_Dreal = F.relu(torch.rand_like(scores.patches) * 0.2 + 0.8 - scores.patches).mean()
                recon = sum(reconstruction_distance(r, t).mean() for r, t in scores.reconstructions.values())
                self.stats.add("scores/real", scores.patches)
                self.stats.add("loss/D", loss_Dgen + loss_Dreal)
                self.stats.add("loss/recon", recon)
                if self.real_logits_hook is not None:
                    self.real_logits_hook(scores.patches.mean(dim=1, keepdim=True))
                loss = loss + loss_Dreal + recon * self.recon_weight
            if do_Dr1:
                (r1_grads,) = torch.autograd.grad(scores.patches.mean(dim=1).sum(), real, create_graph=True)
                r1_penalty = r1_grads.float().square().sum([1, 2, 3])
                self.stats.add("loss/r1_penalty", r1_penalty)
                loss = loss + r1_penalty.mean() * (self.r1_gamma / 2)
            loss.mul(gain).backward()
