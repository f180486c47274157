import json

import numpy as np
import pytest
from PIL import Image

from neuralbrush.datasets.samples import skimage_photo
from neuralbrush.effects.batch import load_for_effect
from neuralbrush.effects.palette import parse_palette, write_palette_files
from neuralbrush.effects.quantize import (floyd_steinberg, kmeans_palette, map_to_palette, ordered_dither,
                                          quantize_colors)
from neuralbrush.effects.runners import quantize_file


@pytest.fixture(scope="module")
def coffee() -> np.ndarray:
    return np.asarray(skimage_photo("coffee").convert("RGB").resize((200, 150)))


def _colors(arr: np.ndarray, rows: bool = False) -> set:
    """Distinct colours of an image (HxW gray or HxWxC), or of (N, C) pixel rows."""
    a = np.asarray(arr)
    flat = a if rows else (a.reshape(-1, a.shape[-1]) if a.ndim == 3 else a.reshape(-1, 1))
    return {tuple(int(v) for v in c) for c in flat}


@pytest.mark.parametrize("space", ["rgb", "lab"])
def test_kmeans_palette_is_deterministic_distinct_and_k(coffee, space):
    pal = kmeans_palette(coffee.reshape(-1, 3), 8, seed=3, space=space, sample=5000)
    assert pal.shape == (8, 3) and pal.dtype == np.uint8
    assert len({tuple(c) for c in pal}) == 8
    assert np.array_equal(pal, kmeans_palette(coffee.reshape(-1, 3), 8, seed=3, space=space, sample=5000))


def test_kmeans_palette_fewer_colours_than_k_returns_them_all():
    px = np.array([[0, 0, 0]] * 500 + [[255, 0, 0]] * 300 + [[1, 2, 3]] * 2, np.uint8)
    pal = kmeans_palette(px, 8, sample=100)  # the sample may miss the rare colour; the result may not
    assert [tuple(c) for c in pal] == [(0, 0, 0), (255, 0, 0), (1, 2, 3)]


@pytest.mark.parametrize("size", [(200, 150), (640, 480)])  # small: direct; large: distinct-colour lookup table
def test_map_to_palette_matches_brute_force(size):
    img = np.asarray(skimage_photo("astronaut").convert("RGB").resize(size))
    pal = kmeans_palette(img, 12, seed=0)
    labels = map_to_palette(img, pal)
    assert labels.shape == img.shape[:2]
    d = ((img.reshape(-1, 1, 3).astype(np.int32) - pal[None].astype(np.int32)) ** 2).sum(-1)
    got = d[np.arange(len(d)), labels.reshape(-1)]
    assert np.array_equal(got, d.min(1))  # ties may pick either index; the distance must be minimal
    # the same in L*a*b* (float distances: allow float32 rounding)
    from neuralbrush.effects.quantize import to_space

    lab_labels = map_to_palette(img, pal, space="lab").reshape(-1)
    x, p = to_space(img.reshape(-1, 3), "lab").astype(np.float64), to_space(pal, "lab").astype(np.float64)
    dl = ((x[:, None, :] - p[None]) ** 2).sum(-1)
    assert (dl[np.arange(len(dl)), lab_labels] <= dl.min(1) + 1e-2).all()


@pytest.mark.parametrize("space", ["rgb", "lab"])
def test_quantize_gives_exactly_k_colours_with_shares(coffee, space):
    for k in (2, 8, 16):
        res = quantize_colors(coffee, colors=k, space=space)
        assert len(_colors(res.image)) == k
        assert _colors(res.image) == {tuple(c) for c in res.palette}
        assert res.shares.sum() == pytest.approx(1.0) and (res.shares > 0).all()
        counts = np.bincount(res.labels.reshape(-1), minlength=k) / res.labels.size
        assert np.allclose(counts, res.shares)


def _floyd_reference(img, pal):
    """Sequential textbook Floyd-Steinberg (error clamped to 0..255), for comparison."""
    h, w, _ = img.shape
    buf = img.astype(np.float64).copy()
    p = pal.astype(np.float64)
    out = np.zeros((h, w), int)
    for y in range(h):
        for x in range(w):
            v = np.clip(buf[y, x], 0, 255)
            i = int(((p - v) ** 2).sum(1).argmin())
            out[y, x] = i
            e = v - p[i]
            if x + 1 < w:
                buf[y, x + 1] += e * 7 / 16
            if y + 1 < h:
                if x > 0:
                    buf[y + 1, x - 1] += e * 3 / 16
                buf[y + 1, x] += e * 5 / 16
                if x + 1 < w:
                    buf[y + 1, x + 1] += e / 16
    return out


def test_wavefront_floyd_steinberg_equals_the_sequential_scan(coffee):
    img = coffee[40:70, 60:105]
    pal = kmeans_palette(coffee, 6)
    assert (floyd_steinberg(img, pal) == _floyd_reference(img, pal)).mean() > 0.999


@pytest.mark.parametrize("dither", ["floyd", "ordered"])
def test_dithering_keeps_the_local_average_of_a_gradient(dither):
    ramp = np.tile(np.linspace(0, 255, 256, dtype=np.float32), (64, 1))
    img = np.repeat(ramp[:, :, None], 3, axis=2).round().astype(np.uint8)
    pal = np.array([[0, 0, 0], [255, 255, 255]], np.uint8)
    plain = pal[map_to_palette(img, pal)][:, :, 0].astype(np.float32)
    lab = floyd_steinberg(img, pal) if dither == "floyd" else ordered_dither(img, pal)
    dithered = pal[lab][:, :, 0].astype(np.float32)

    def block_mean(a):  # 16x16 block averages: what the eye sees from afar
        return a.reshape(4, 16, 16, 16).mean(axis=(1, 3))

    target = block_mean(img[:, :, 0].astype(np.float32))
    err_plain = np.abs(block_mean(plain) - target).mean()
    err_dith = np.abs(block_mean(dithered) - target).mean()
    assert err_dith < 0.25 * err_plain
    res = quantize_colors(img[:, :, 0], palette=pal, dither=dither)
    assert res.image.ndim == 2 and _colors(res.image) <= {(0,), (255,)}  # gray in, gray out


def test_rgba_keeps_alpha_and_ignores_transparent_colours(coffee):
    rgba = np.dstack([coffee, np.full(coffee.shape[:2], 255, np.uint8)])
    rgba[:, :60, :3] = (0, 255, 0)  # bright green hidden under alpha 0
    rgba[:, :60, 3] = 0
    rgba[:10, 100:, 3] = 128
    res = quantize_colors(rgba, colors=6)
    assert res.image.shape == rgba.shape
    assert np.array_equal(res.image[:, :, 3], rgba[:, :, 3])
    assert not any(c[1] > 200 and c[0] < 60 for c in res.palette)  # the hidden green was not fitted
    assert len(_colors(res.image[:, 60:, :3])) == 6
    assert res.shares.sum() == pytest.approx(1.0)


def test_gray_input_stays_gray_with_exactly_k_levels():
    gray = np.asarray(skimage_photo("camera").convert("L").resize((160, 160)))
    res = quantize_colors(gray, colors=5)
    assert res.image.ndim == 2 and len(np.unique(res.image)) == 5
    assert (res.palette[:, 0] == res.palette[:, 1]).all() and (res.palette[:, 1] == res.palette[:, 2]).all()


def _write_odd_inputs(folder, coffee):
    """RGBA, 8-bit gray, 16-bit gray and 16-bit RGB files made here."""
    import cv2

    folder.mkdir(exist_ok=True)
    rgba = np.dstack([coffee, np.full(coffee.shape[:2], 255, np.uint8)])
    rgba[:20, :20, 3] = 0
    Image.fromarray(rgba).save(folder / "rgba.png")
    gray = coffee.mean(axis=2).astype(np.uint8)
    Image.fromarray(gray).save(folder / "gray.png")
    Image.fromarray(gray.astype(np.uint16) * 257).save(folder / "gray16.png")  # mode I;16
    assert Image.open(folder / "gray16.png").mode.startswith("I")
    cv2.imwrite(str(folder / "rgb16.png"), (coffee[:, :, ::-1].astype(np.uint16) * 257))
    return ["rgba", "gray", "gray16", "rgb16"]


def test_quantize_files_of_every_kind_write_palette_files(tmp_path, coffee):
    names = _write_odd_inputs(tmp_path / "in", coffee)
    for name in names:
        out = tmp_path / "out" / f"{name}.png"
        run = quantize_file(tmp_path / "in" / f"{name}.png", out, colors=6)
        result = load_for_effect(out)
        src = load_for_effect(tmp_path / "in" / f"{name}.png")
        assert result.shape == src.shape, name  # gray stays gray, alpha stays
        if result.ndim == 3 and result.shape[2] == 4:
            assert np.array_equal(result[:, :, 3], src[:, :, 3])
            assert len(_colors(result[:, :, :3][result[:, :, 3] > 0], rows=True)) == 6
        else:
            assert len(_colors(result)) == 6, name
        hexes = (tmp_path / "out" / f"{name}-palette.txt").read_text().split()
        assert len(hexes) == 6 and all(h.startswith("#") and len(h) == 7 for h in hexes)
        data = json.loads((tmp_path / "out" / f"{name}-palette.json").read_text())
        assert sum(e["share"] for e in data["palette"]) == pytest.approx(1.0)
        swatch = Image.open(tmp_path / "out" / f"{name}-swatch.png")
        assert swatch.width == 6 * swatch.height  # one square cell per colour
        opts = json.loads(run.options_file.read_text())
        assert opts["options"]["colors"] == 6 and opts["effect"] == "quantize"


def test_fixed_palettes_from_lists_files_json_and_images(tmp_path, coffee):
    want = [(17, 34, 51), (255, 204, 0), (0, 0, 128)]
    assert [tuple(c) for c in parse_palette("#112233,#ffcc00,navy")] == want
    (tmp_path / "p.txt").write_text("# my palette\n#112233\nffcc00  // yellow\nnavy\n")
    assert [tuple(c) for c in parse_palette(tmp_path / "p.txt")] == want
    paths = write_palette_files(tmp_path / "x.png", np.array(want, np.uint8), np.array([0.5, 0.3, 0.2]))
    assert [tuple(c) for c in parse_palette(paths["json"])] == want
    strip = np.repeat(np.array(want, np.uint8)[None], 8, axis=0).repeat(8, axis=1)  # a Lospec-style strip
    Image.fromarray(strip).save(tmp_path / "strip.png")
    assert [tuple(c) for c in parse_palette(tmp_path / "strip.png")] == want
    Image.fromarray(coffee).save(tmp_path / "photo.jpg")  # many colours: k-means picks --colors of them
    assert parse_palette(tmp_path / "photo.jpg", colors=5).shape == (5, 3)
    res = quantize_colors(coffee, palette=parse_palette("#112233,#ffcc00,navy"))
    assert _colors(res.image) <= set(want)


def test_bad_palette_and_options_are_usage_errors(tmp_path, coffee):
    from neuralbrush.core.errors import UsageError

    with pytest.raises(UsageError):
        parse_palette("#12345g,blurple")
    with pytest.raises(UsageError):
        parse_palette(tmp_path / "missing.txt")
    with pytest.raises(UsageError):
        quantize_colors(coffee, colors=0)
    with pytest.raises(UsageError):
        quantize_colors(coffee, dither="zigzag")


def test_weighted_kmeans_finds_blobs_and_respects_weights():
    from neuralbrush.effects.kmeans import weighted_kmeans

    rng = np.random.default_rng(0)
    true = np.array([[20, 20, 20], [200, 40, 40], [40, 200, 60], [90, 90, 230]], np.float64)
    x = np.concatenate([c + rng.normal(0, 6, (300, 3)) for c in true])
    fit = weighted_kmeans(x, np.ones(len(x)), 4, seed=1)
    found = fit.centres[np.argsort(fit.centres.sum(1))]
    assert np.abs(found - true[np.argsort(true.sum(1))]).max() < 3
    # weights act like repeated points: one point of weight 3 == three copies of it
    pts = np.array([[0.0, 0, 0], [10, 0, 0], [100, 0, 0], [110, 0, 0]])
    a = weighted_kmeans(pts, np.array([3.0, 1, 1, 1]), 2, seed=0).centres
    b = weighted_kmeans(np.concatenate([pts, pts[:1], pts[:1]]), np.ones(6), 2, seed=0).centres
    assert np.allclose(np.sort(a[:, 0]), np.sort(b[:, 0])) and np.allclose(np.sort(a[:, 0]), [2.5, 105])
