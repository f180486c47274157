"""Face alignment on a real face: scikit-image's astronaut moved by known transforms."""

from __future__ import annotations

import json
import math

import cv2
import numpy as np
import pytest
from PIL import Image

from neuralbrush.core.errors import UsageError
from neuralbrush.datasets import faces as F
from neuralbrush.datasets.build import build_dataset
from neuralbrush.datasets.samples import bloom, skimage_photo

SIZE = 256
CANVAS = 800


@pytest.fixture(scope="module")
def astronaut():
    img = np.asarray(skimage_photo("astronaut"))
    return img, F.detect_landmarks(img)


def moved(img: np.ndarray, angle: float, scale: float, shift: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """``img`` rotated/scaled about its centre and shifted on a larger black canvas; returns (image, 2x3 map)."""
    h, w = img.shape[:2]
    t = F.similarity(angle, scale, (w / 2, h / 2), (CANVAS / 2 + shift[0], CANVAS / 2 + shift[1]))
    out = F.warp_affine(img, t, (CANVAS, CANVAS), interp=cv2.INTER_LANCZOS4, border=cv2.BORDER_CONSTANT, value=0)
    return out, t


def _rotation(m: np.ndarray) -> float:
    return math.degrees(math.atan2(m[1, 0], m[0, 0]))


def test_target_positions_follow_ffhq_proportions():
    tgt = F.target_eye_positions(SIZE)
    np.testing.assert_allclose(tgt, [[96.0, 121.6], [160.0, 121.6]], atol=1e-6)
    le, re = np.array([10.0, 20.0]), np.array([50.0, 50.0])  # eye distance 50, tilted
    c, x, y = F.ffhq_quad(le, re, F.estimate_mouth(le, re))
    assert np.isclose(np.linalg.norm(x) * 2, 4 * 50) and np.isclose(x @ y, 0)
    assert np.allclose(x / np.linalg.norm(x), (re - le) / 50)  # the crop turns with the eye line
    mouth = F.estimate_mouth(le, re)
    assert np.isclose(np.linalg.norm(mouth - (le + re) / 2), 50) and mouth[1] > (le[1] + re[1]) / 2


def test_astronaut_original_eyes(astronaut):
    img, lm = astronaut
    # the astronaut's eyes (image left first), located by hand at about (203, 101) and (248, 103)
    np.testing.assert_allclose(lm.eyes, [[203, 101], [248, 103]], atol=4)


@pytest.mark.parametrize("angle,scale,shift", [(15.0, 0.8, (30.0, -20.0)), (-25.0, 1.25, (-40.0, 25.0))])
def test_astronaut_moved_lands_on_targets(astronaut, angle, scale, shift):
    img, lm = astronaut
    src, t = moved(img, angle, scale, shift)
    out, al = F.align_face(src, SIZE)
    assert out.size == (SIZE, SIZE)
    tgt = F.target_eye_positions(SIZE)
    # 1) the eyes found once on the original, carried through the known move and the alignment
    carried = al.transform_points(F.apply_affine(t, lm.eyes))
    assert np.abs(carried - tgt).max() < 4.0, (carried, tgt)
    # 2) the eyes detected afresh in the aligned output
    again = F.detect_landmarks(np.asarray(out)).eyes
    assert np.abs(again - tgt).max() < 4.0, (again, tgt)
    # the alignment undoes the move: its matrix composed with the move matches the original's alignment
    m0, _ = F.alignment_matrix(lm, SIZE)
    composed = F.compose_affine(al.matrix, t)
    assert np.abs(composed[:, :2] - m0[:, :2]).max() < 0.05 * np.abs(m0[:, :2]).max()
    # cv2's angle turns the picture counter-clockwise on screen; aligning turns it back
    assert abs(al.rotation_degrees - (angle + _rotation(m0))) < 2
    assert np.isclose(al.crop_side, 4 * np.linalg.norm(al.landmarks.right_eye - al.landmarks.left_eye))
    # the output really is the astronaut's face: it matches aligning the original (same framing)
    ref = F.warp_face(img, m0, SIZE)
    diff = np.abs(np.asarray(out, float) - np.asarray(ref, float))[40:216, 40:216].mean()
    assert diff < 20, diff


def test_warp_face_downscale_quality():
    yy, xx = np.mgrid[0:1024, 0:1024].astype(np.float32)
    img = (127.5 + 127.5 * np.sin(xx / 37.0) * np.cos(yy / 23.0))[..., None].repeat(3, 2).astype(np.uint8)
    m = np.array([[0.25, 0, 0], [0, 0.25, 0]])  # a pure 4x reduction (r = 4 goes through the 2x warp)
    out = np.asarray(F.warp_face(img, m, 256), float)
    ref = cv2.resize(img, (256, 256), interpolation=cv2.INTER_AREA).astype(float)
    assert np.abs(out - ref).mean() < 2.0
    m8 = np.array([[0.125, 0, 0], [0, 0.125, 0]])  # 8x: area pre-shrink path
    out8 = np.asarray(F.warp_face(img, m8, 128), float)
    ref8 = cv2.resize(img, (128, 128), interpolation=cv2.INTER_AREA).astype(float)
    assert np.abs(out8 - ref8).mean() < 2.0


def test_no_face_raises():
    with pytest.raises(F.FaceNotFound):
        F.align_face(bloom(256, 3), 64)
    flat = Image.new("RGB", (300, 300), (128, 128, 128))
    with pytest.raises(F.FaceNotFound):
        F.detect_landmarks(flat)


def test_build_with_face_crop(tmp_path, astronaut):
    img, lm = astronaut
    src = tmp_path / "src"
    src.mkdir()
    Image.fromarray(moved(img, 12.0, 1.0, (0.0, 0.0))[0]).save(src / "face.png")
    bloom(400, 5).save(src / "flower.png")
    r = build_dataset([src], tmp_path / "faces.zip", size=64, crop="face", min_size=100)
    assert r.accepted == 1
    assert [(x.reason, x.path.endswith("flower.png")) for x in r.rejected] == [("no-face", True)]
    with pytest.raises(UsageError, match="no usable images") as refused:
        build_dataset([src], tmp_path / "faces2.zip", size=64, crop="face", min_size=400)
    # the astronaut's face crop is ~180 px < 400 and the flower has no face: both named, nothing written
    assert "too-small" in str(refused.value) and "no-face" in str(refused.value)
    assert not (tmp_path / "faces2.zip").exists() and not (tmp_path / "faces2-report").exists()
    import zipfile

    with zipfile.ZipFile(tmp_path / "faces.zip") as z:
        meta = json.loads(z.read("dataset.json"))
        out = np.asarray(Image.open(z.open("00000/img00000000.png")))
    op = meta["images"][0]["ops"][-1]
    assert op["op"] == "face-align" and op["mouth_estimated"]
    assert abs(op["rotation_degrees"] - (12 + _rotation(F.alignment_matrix(lm, 64)[0]))) < 2
    assert 150 < op["crop_side"] < 210
    m = np.array(op["matrix"])
    np.testing.assert_allclose(F.apply_affine(m, np.array(op["eyes"])), F.target_eye_positions(64), atol=0.01)
    assert out.shape == (64, 64, 3) and out.std() > 20


@pytest.mark.slow
def test_lfw_subset_detection_rate():
    """scikit-image's 100 LFW faces and 100 non-faces (25x25, upscaled 4x with a margin)."""
    from skimage.data import lfw_subset

    found = []
    for x in lfw_subset():
        im = cv2.resize((x * 255).astype(np.uint8), (100, 100), interpolation=cv2.INTER_CUBIC)
        im = cv2.copyMakeBorder(im, 30, 30, 30, 30, cv2.BORDER_REPLICATE)
        try:
            F.detect_landmarks(im, angles=(0.0,))
            found.append(True)
        except F.FaceNotFound:
            found.append(False)
    found = np.array(found)
    assert found[:100].mean() >= 0.7  # measured: 0.78 (eyes only a few pixels wide at this size)
    assert found[100:].mean() <= 0.02  # measured: 0.0
