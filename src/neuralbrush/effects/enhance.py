"""Photo enhancement: auto-contrast, gamma, saturation, CLAHE and unsharp-mask sharpening.

Each step is optional and they run in that fixed order. Auto-contrast stretches the
luminance percentiles and applies the same stretch to R, G and B, so hues do not shift;
CLAHE equalises only L of L*a*b* (OpenCV), so colours stay put.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.errors import UsageError
from ..core.options import option
from .quantize import merge_alpha, split_alpha


@dataclass
class EnhanceOptions:
    """Everything ``enhance`` can be told; the CLI is built from these defaults (all no-ops)."""

    auto_contrast: bool = option(False, "Stretch luminance so the darkest/brightest --cutoff percent clip.")
    cutoff: float = option(0.5, "Percent clipped at each end by --auto-contrast.", min=0.0, max=49.9)
    gamma: float = option(1.0, "Gamma on 0..1 values (out = in ** gamma): below 1 brightens midtones.", min=0.01)
    saturation: float = option(1.0, "Colourfulness: 0 gray, 1 unchanged, 1.2 a little richer.", min=0.0)
    clahe: bool = option(False, "Local contrast (CLAHE) on the lightness channel.")
    clahe_clip: float = option(2.0, "CLAHE clip limit.", min=0.01)
    clahe_tiles: int = option(8, "CLAHE tiles per side.", min=1)
    sharpen: bool = option(False, "Unsharp mask.")
    sharpen_amount: float = option(1.0, "How much of the detail (image minus blur) is added back.", min=0.0)
    sharpen_radius: float = option(1.5, "Blur sigma in pixels for the unsharp mask.", min=0.01)

    def validate(self) -> "EnhanceOptions":
        if not 0 <= float(self.cutoff) < 50:
            raise UsageError(f"--cutoff must be between 0 and 50 percent, got {self.cutoff}")
        if float(self.gamma) <= 0:
            raise UsageError(f"--gamma must be positive, got {self.gamma}")
        if float(self.saturation) < 0:
            raise UsageError(f"--saturation must not be negative, got {self.saturation}")
        if float(self.clahe_clip) <= 0 or int(self.clahe_tiles) < 1:
            raise UsageError("--clahe-clip must be positive and --clahe-tiles at least 1")
        if float(self.sharpen_radius) <= 0 or float(self.sharpen_amount) < 0:
            raise UsageError("--sharpen-radius must be positive and --sharpen-amount not negative")
        return self

    def is_noop(self) -> bool:
        return not (self.auto_contrast or self.clahe or self.sharpen or self.gamma != 1.0 or self.saturation != 1.0)


_LUMA = np.array([0.299, 0.587, 0.114], np.float32)


def enhance_image(image: np.ndarray, options: EnhanceOptions | None = None, **overrides) -> np.ndarray:
    """Enhance a uint8 HxW, HxWx3 or HxWx4 image (alpha kept, gray stays gray).

    ``enhance_image(img, saturation=1.2, clahe=True)`` or with an :class:`EnhanceOptions`.
    """
    import cv2

    opts = options or EnhanceOptions()
    if overrides:
        from dataclasses import replace

        opts = replace(opts, **overrides)
    opts.validate()
    rgb, alpha, gray = split_alpha(image)
    x = (rgb[:, :, :1] if gray else rgb).astype(np.float32)
    visible = None if alpha is None else alpha > 0
    if opts.auto_contrast:
        luma = x[:, :, 0] if gray else x @ _LUMA
        vals = luma[visible] if visible is not None and visible.any() else luma
        lo, hi = np.percentile(vals, [opts.cutoff, 100.0 - opts.cutoff])
        if hi - lo > 1e-3:
            x = (x - lo) * (255.0 / (hi - lo))
        x = np.clip(x, 0, 255)
    if opts.gamma != 1.0:
        x = 255.0 * np.power(np.clip(x, 0, 255) / 255.0, float(opts.gamma))
    if opts.saturation != 1.0 and not gray:
        luma = (x @ _LUMA)[:, :, None]
        x = np.clip(luma + float(opts.saturation) * (x - luma), 0, 255)
    if opts.clahe:
        clahe = cv2.createCLAHE(clipLimit=float(opts.clahe_clip), tileGridSize=(int(opts.clahe_tiles),) * 2)
        u8 = np.clip(np.rint(x), 0, 255).astype(np.uint8)
        if gray:
            x = clahe.apply(np.ascontiguousarray(u8[:, :, 0]))[:, :, None].astype(np.float32)
        else:
            lab = cv2.cvtColor(u8, cv2.COLOR_RGB2LAB)
            lab[:, :, 0] = clahe.apply(np.ascontiguousarray(lab[:, :, 0]))
            x = cv2.cvtColor(lab, cv2.COLOR_LAB2RGB).astype(np.float32)
    if opts.sharpen:
        blur = cv2.GaussianBlur(x, (0, 0), float(opts.sharpen_radius))
        if blur.ndim == 2:
            blur = blur[:, :, None]
        x = x + float(opts.sharpen_amount) * (x - blur)
    out = np.clip(np.rint(x), 0, 255).astype(np.uint8)
    if gray:
        out = np.repeat(out, 3, axis=2)
    return merge_alpha(out, alpha, gray)
