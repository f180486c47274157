"""Photo enhancement: auto-contrast, gamma, saturation, CLAHE and unsharp-mask sharpening.

Each step is optional and they run in that fixed order. Auto-contrast stretches the
luminance percentiles and applies the same stretch to R, G and B, so hues do not shift;
CLAHE equalises only L of L*a*b* (OpenCV), so colours stay put.
"""

from __future__ import annotations


import numpy as np

from .options import EnhanceOptions  # noqa: F401 (public here too)
from .quantize import merge_alpha, split_alpha


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
