import numpy as np
import pytest
from PIL import Image

from neuralbrush.datasets.samples import skimage_photo
from neuralbrush.effects.batch import load_for_effect
from neuralbrush.effects.runners import superpixels_file
from neuralbrush.effects.superpixels import fill_regions, region_boundaries, slic_labels, superpixels


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return np.asarray(skimage_photo("astronaut").convert("RGB").resize((192, 192)))


@pytest.mark.parametrize("segments", [60, 250])
def test_about_the_asked_number_of_regions(astronaut, segments):
    res = superpixels(astronaut, segments=segments)
    assert 0.5 * segments <= res.regions <= 1.5 * segments
    assert res.labels.min() == 0 and res.labels.max() == res.regions - 1
    assert len(np.unique(res.labels)) == res.regions  # ids are contiguous


def test_bincount_fill_equals_label2rgb_average(astronaut):
    from skimage.color import label2rgb

    labels = slic_labels(astronaut, segments=80, compactness=10)
    ours = fill_regions(astronaut, labels).astype(np.float64)
    ref = label2rgb(labels, astronaut, kind="avg", bg_label=-1)
    assert np.abs(ours - ref).max() <= 1.0  # rounding only
    # every region is one flat colour
    for r in range(0, labels.max() + 1, 17):
        assert len(np.unique(ours[labels == r], axis=0)) == 1


def test_outlines_are_drawn_in_the_colour_and_width(astronaut):
    thin = superpixels(astronaut, segments=50, outline="#ff00ff")
    thick = superpixels(astronaut, segments=50, outline="255,0,255", outline_width=3)
    magenta = lambda im: np.all(im == (255, 0, 255), axis=2)  # noqa: E731
    edge = region_boundaries(thin.labels)
    assert magenta(thin.image)[edge].all()
    assert magenta(thick.image).sum() > 2 * magenta(thin.image).sum()
    assert not magenta(superpixels(astronaut, segments=50).image).all()


def test_rgba_gray_and_16_bit_files(tmp_path, astronaut):
    rgba = np.dstack([astronaut, np.full(astronaut.shape[:2], 255, np.uint8)])
    rgba[:, :64, 3] = 0
    rgba[:, :64, :3] = (0, 255, 0)
    res = superpixels(rgba, segments=60)
    assert res.image.shape == rgba.shape and np.array_equal(res.image[:, :, 3], rgba[:, :, 3])
    assert (res.labels[:, :64] == -1).all() and (res.labels[:, 64:] >= 0).all()
    assert not np.all(res.image[:, 64:, :3] == (0, 255, 0), axis=2).any()  # hidden green did not bleed in

    gray = astronaut.mean(axis=2).astype(np.uint8)
    Image.fromarray(gray.astype(np.uint16) * 257).save(tmp_path / "g16.png")
    Image.fromarray(rgba).save(tmp_path / "rgba.png")
    for name in ("g16", "rgba"):
        run = superpixels_file(tmp_path / f"{name}.png", tmp_path / "out" / f"{name}.png", segments=60)
        out = load_for_effect(run.outputs[0])
        assert out.shape == load_for_effect(tmp_path / f"{name}.png").shape
        assert run.options_file.exists()
    g = load_for_effect(tmp_path / "out" / "g16.png")
    assert g.ndim == 2 and 30 <= len(np.unique(g)) <= 90  # ~one gray level per region


def test_bad_options_are_usage_errors(astronaut):
    from neuralbrush.core.errors import UsageError

    with pytest.raises(UsageError):
        superpixels(astronaut, segments=0)
    with pytest.raises(UsageError):
        superpixels(astronaut, outline="not-a-colour")


def test_large_images_are_segmented_at_a_working_size(astronaut, monkeypatch):
    """Over SLIC_MAX_PIXELS, SLIC sees an area-downsampled copy; labels come back at full size and
    the fill uses the full-resolution pixels (the limit is lowered here to keep the test fast)."""
    import neuralbrush.effects.superpixels as sp

    seen = []
    real = sp.slic_labels
    monkeypatch.setattr(sp, "slic_labels", lambda rgb, **kw: seen.append(rgb.shape) or real(rgb, **kw))
    monkeypatch.setattr(sp, "SLIC_MAX_PIXELS", 4000)
    rgba = np.dstack([astronaut, np.full(astronaut.shape[:2], 255, np.uint8)])
    rgba[:50, :, 3] = 0
    res = superpixels(rgba, segments=40, outline="#ff00ff")
    assert seen and seen[0][0] * seen[0][1] <= 4000 and seen[0][:2] != astronaut.shape[:2]
    assert res.labels.shape == astronaut.shape[:2] and res.image.shape == rgba.shape
    assert (res.labels[:50] == -1).all() and (res.labels[50:] >= 0).all()
    assert 20 <= res.regions <= 60 and len(np.unique(res.labels[50:])) == res.regions  # contiguous ids
    assert np.array_equal(res.image[:50], rgba[:50])  # transparent pixels untouched
    plain = superpixels(astronaut, segments=40)
    filled = fill_regions(astronaut, plain.labels)
    assert np.array_equal(plain.image, filled)  # mean colours of the full-resolution pixels
    for r in range(0, plain.regions, 7):
        assert len(np.unique(plain.image[plain.labels == r], axis=0)) == 1
    # at the native size the same call is not downsampled
    seen.clear()
    monkeypatch.setattr(sp, "SLIC_MAX_PIXELS", astronaut.shape[0] * astronaut.shape[1])
    superpixels(astronaut, segments=40)
    assert seen[0][:2] == astronaut.shape[:2]


@pytest.mark.parametrize("kw, says", [
    (dict(segments=10**9), "--segments must be at most"), (dict(segments=2.5), "--segments must be a whole number"),
    (dict(compactness=float("nan")), "--compactness must be a finite"), (dict(sigma=-1.0), "--sigma must be at least"),
    (dict(outline_width=0), "--outline-width must be at least 1"), (dict(outline="nocolour"), "colour"),
])
def test_bad_values_are_refused_before_segmenting(astronaut, monkeypatch, kw, says):
    import neuralbrush.effects.superpixels as sp
    from neuralbrush.core.errors import UsageError

    monkeypatch.setattr(sp, "slic_labels", lambda *a, **k: pytest.fail("segmented before refusing"))
    with pytest.raises(UsageError, match=says):
        superpixels(astronaut, **kw)
