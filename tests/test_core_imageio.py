"""The one image loader must turn every odd-but-valid file into clean 8-bit RGB and refuse
broken ones with a typed one-line reason."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from neuralbrush.core.errors import ImageLoadError, UsageError
from neuralbrush.core.imageio import load_array, load_image, parse_color, save_image, to_pil, to_tensor
from neuralbrush.datasets.samples import skimage_photo


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    return skimage_photo("astronaut").resize((128, 128))


def _bytes(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def test_cmyk_jpeg_becomes_rgb_with_close_colours(photo, tmp_path):
    p = tmp_path / "cmyk.jpg"
    photo.convert("CMYK").save(p, quality=95)
    out = load_image(p)
    assert out.mode == "RGB" and out.size == photo.size
    diff = np.abs(np.asarray(out, np.float32) - np.asarray(photo, np.float32)).mean()
    assert diff < 12


def test_16bit_grayscale_uses_full_range(tmp_path):
    ramp = (np.linspace(0, 65535, 256)[None, :].repeat(8, 0)).astype(np.uint16)
    p = tmp_path / "g16.png"
    Image.fromarray(ramp).save(p)
    assert Image.open(p).mode.startswith("I")
    arr = load_array(p)
    assert arr.shape == (8, 256, 3)
    assert arr[0, 0, 0] == 0 and arr[0, -1, 0] == 255
    assert np.all(np.diff(arr[0, :, 0].astype(int)) >= 0)  # monotone ramp survives


def test_palette_with_transparency_composited_on_background(tmp_path):
    img = Image.new("P", (10, 10), 0)
    img.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    img.paste(1, (5, 0, 10, 10))
    p = tmp_path / "pal.png"
    img.save(p, transparency=0)
    arr = load_array(p, background=(0, 255, 0))
    assert tuple(arr[0, 0]) == (0, 255, 0)  # transparent red -> background green
    assert tuple(arr[0, 9]) == (0, 0, 255)
    rgba = load_array(p, "RGBA")
    assert rgba[0, 0, 3] == 0 and rgba[0, 9, 3] == 255


def test_la_and_rgba_composited(tmp_path):
    a = np.zeros((4, 4, 4), np.uint8)
    a[..., 0] = 200
    a[:2, :, 3] = 255
    p = tmp_path / "rgba.png"
    Image.fromarray(a, "RGBA").save(p)
    arr = load_array(p, background=(10, 20, 30))
    assert tuple(arr[0, 0]) == (200, 0, 0) and tuple(arr[3, 0]) == (10, 20, 30)


def test_exif_orientation_applied(tmp_path):
    img = Image.new("RGB", (40, 20), (255, 0, 0))
    img.paste((0, 0, 255), (0, 0, 10, 20))  # blue strip on the left
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 CW on display
    p = tmp_path / "rot.jpg"
    img.save(p, exif=exif.tobytes(), quality=95)
    out = load_image(p)
    assert out.size == (20, 40)
    top = np.asarray(out)[2, 10]
    assert top[2] > 200 and top[0] < 60  # the blue strip is now on top


def test_animated_gif_takes_first_frame(tmp_path):
    frames = [Image.new("RGB", (8, 8), c) for c in [(255, 0, 0), (0, 255, 0), (0, 0, 255)]]
    p = tmp_path / "anim.gif"
    frames[0].save(p, save_all=True, append_images=frames[1:], duration=50)
    arr = load_array(p)
    assert arr[0, 0, 0] > 200 and arr[0, 0, 1] < 50


@pytest.mark.parametrize("make,reason", [
    (lambda p: p.write_bytes(b""), "empty"),
    (lambda p: p.write_text("this is not an image"), "not-an-image"),
    (lambda p: p.write_bytes(_bytes(skimage_photo("coffee"), "PNG")[:3000]), "truncated"),
])
def test_broken_files_raise_typed_reason(tmp_path, make, reason):
    p = tmp_path / "bad.png"
    make(p)
    with pytest.raises(ImageLoadError) as ei:
        load_image(p)
    assert ei.value.reason == reason
    assert str(p) in str(ei.value) and "\n" not in str(ei.value)


def test_truncated_jpeg_and_missing(tmp_path):
    p = tmp_path / "cut.jpg"
    p.write_bytes(_bytes(skimage_photo("coffee"), "JPEG")[:5000])
    with pytest.raises(ImageLoadError) as ei:
        load_image(p)
    assert ei.value.reason in ("truncated", "corrupt")
    with pytest.raises(ImageLoadError) as ei:
        load_image(tmp_path / "nope.png")
    assert ei.value.reason == "missing"


def test_decompression_bomb_refused_without_decoding():
    data = _bytes(Image.new("L", (2000, 2000)), "PNG")
    with pytest.raises(ImageLoadError) as ei:
        load_image(data, max_pixels=1_000_000, name="bomb.png")
    assert ei.value.reason == "too-large"


def test_save_roundtrip_by_extension(photo, tmp_path):
    for ext in ("png", "jpg", "webp"):
        p = save_image(photo, tmp_path / f"x.{ext}")
        back = load_array(p)
        err = np.abs(back.astype(float) - np.asarray(photo, float)).mean()
        assert err < (0.01 if ext == "png" else 8)
    with pytest.raises(UsageError):
        save_image(photo, tmp_path / "x.xyz")
    assert not list(tmp_path.glob(".*tmp*"))  # atomic writes leave no temp files


def test_tensor_conversions_roundtrip(photo):
    t = to_tensor(photo)
    assert t.shape == (3, 128, 128) and -1.0 <= float(t.min()) and float(t.max()) <= 1.0
    assert np.array_equal(np.asarray(to_pil(t)), np.asarray(photo))


def test_parse_color():
    assert parse_color("#ff8000") == (255, 128, 0)
    assert parse_color("10,20,30") == (10, 20, 30)
    assert parse_color("white") == (255, 255, 255)
    with pytest.raises(UsageError):
        parse_color("not-a-colour")
