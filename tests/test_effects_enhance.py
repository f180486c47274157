import numpy as np
import pytest

from neuralbrush.datasets.samples import skimage_photo
from neuralbrush.effects.enhance import EnhanceOptions, enhance_image


@pytest.fixture(scope="module")
def chelsea() -> np.ndarray:
    return np.asarray(skimage_photo("chelsea").convert("RGB").resize((180, 120)))


def _luma(a):
    return a[..., :3].astype(np.float64) @ np.array([0.299, 0.587, 0.114]) if a.ndim == 3 else a.astype(np.float64)


def _chroma(a):
    a = a.astype(np.float64)
    return np.abs(a - a.mean(axis=2, keepdims=True)).mean()


def test_each_step_does_what_it_says(chelsea):
    dull = (64 + chelsea.astype(np.float32) * 0.4).astype(np.uint8)  # low contrast
    stretched = enhance_image(dull, auto_contrast=True)
    lo, hi = np.percentile(_luma(stretched), [1, 99])
    assert hi - lo > 2 * np.subtract(*np.percentile(_luma(dull), [99, 1]))
    assert _luma(enhance_image(chelsea, gamma=0.7)).mean() > _luma(chelsea).mean() + 5
    assert _luma(enhance_image(chelsea, gamma=1.4)).mean() < _luma(chelsea).mean() - 5
    assert _chroma(enhance_image(chelsea, saturation=0.0)) < 1.0
    assert _chroma(enhance_image(chelsea, saturation=1.5)) > 1.3 * _chroma(chelsea)

    import cv2

    def local_contrast(a):  # mean local standard deviation of luminance
        l = _luma(a).astype(np.float32)
        m = cv2.blur(l, (9, 9))
        return np.sqrt(np.maximum(cv2.blur(l * l, (9, 9)) - m * m, 0)).mean()

    assert local_contrast(enhance_image(dull, clahe=True)) > 1.3 * local_contrast(dull)
    sharp = enhance_image(chelsea, sharpen=True)
    lap = lambda a: cv2.Laplacian(_luma(a).astype(np.float32), cv2.CV_32F).var()  # noqa: E731
    assert lap(sharp) > 1.5 * lap(chelsea)
    all_on = enhance_image(chelsea, EnhanceOptions(auto_contrast=True, saturation=1.2, gamma=0.9, clahe=True,
                                                    sharpen=True))
    assert all_on.shape == chelsea.shape and all_on.dtype == np.uint8


def test_clahe_keeps_hue_and_gray_stays_gray(chelsea):
    out = enhance_image(chelsea, clahe=True)
    # CLAHE only touches L*: the chroma angle of strongly coloured pixels stays close
    import cv2

    a = cv2.cvtColor(chelsea, cv2.COLOR_RGB2LAB).astype(np.float32)
    b = cv2.cvtColor(out, cv2.COLOR_RGB2LAB).astype(np.float32)
    strong = np.hypot(a[..., 1] - 128, a[..., 2] - 128) > 15
    ang = lambda x: np.arctan2(x[..., 2] - 128, x[..., 1] - 128)  # noqa: E731
    assert np.median(np.abs(np.angle(np.exp(1j * (ang(a) - ang(b))))[strong])) < 0.1
    gray = chelsea.mean(axis=2).astype(np.uint8)
    g = enhance_image(gray, auto_contrast=True, clahe=True, sharpen=True, saturation=1.5)
    assert g.ndim == 2 and g.shape == gray.shape


def test_alpha_is_kept(chelsea):
    rgba = np.dstack([chelsea, np.tile(np.linspace(0, 255, chelsea.shape[1]).astype(np.uint8), (chelsea.shape[0], 1))])
    out = enhance_image(rgba, gamma=0.8, sharpen=True)
    assert out.shape == rgba.shape and np.array_equal(out[:, :, 3], rgba[:, :, 3])


def test_bad_values_are_usage_errors(chelsea):
    from neuralbrush.core.errors import UsageError

    with pytest.raises(UsageError):
        enhance_image(chelsea, gamma=0)
    with pytest.raises(UsageError):
        enhance_image(chelsea, saturation=-1)
