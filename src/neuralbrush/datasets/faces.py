"""Face alignment for ``dataset build --crop face``: the FFHQ crop from detected eyes.

Detection (offline Haar cascades: face, then eyes, refined, over several rotations) lives in
:mod:`.face_detect`; its names are importable from here too.

Alignment follows the FFHQ recipe (see REFERENCE.md) with eye centres and the mouth centre.
Haar has no reliable mouth detector, so the mouth is estimated from the eyes:
``mouth = eye_avg + rot90(eye_to_eye) * MOUTH_RATIO`` with ``rot90(v) = (-v_y, v_x)`` (pointing
down the face) and ``MOUTH_RATIO = 1.0``: in adult faces the eye-centre-to-mouth distance is
close to the distance between the eye centres (in FFHQ-aligned images the eyes sit at
y = 0.47 H and the mouth near 0.72 H with the eyes 0.25 W apart). With that ratio the crop is
the square of side ``4 * |eye_to_eye|`` centred ``0.1 * |eye_to_mouth|`` below the eye midpoint,
rotated with the eye line: at output size S the eyes land on (0.375 S, 0.475 S) and
(0.625 S, 0.475 S). The warp is one similarity transform (continuous pixel coordinates, pixel
centres at +0.5), done with an area pre-shrink for big reductions, a 2x-supersampled Lanczos
warp and an area reduction, and mirrored borders where the crop leaves the photo.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
from PIL import Image

from .face_detect import (DEFAULT_ANGLES, DETECT_MAX_SIDE, EYE_CASCADE, EYE_PATCH_DISTANCE,  # noqa: F401 (public here too)
                          FACE_CASCADE, FACE_PATCH, MOUTH_RATIO, FaceLandmarks, FaceNotFound, apply_affine,
                          compose_affine, detect_landmarks, estimate_mouth, invert_affine, similarity,
                          warp_affine)


# -- alignment -------------------------------------------------------------------------------

def ffhq_quad(left_eye: np.ndarray, right_eye: np.ndarray, mouth: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """FFHQ crop square from eye centres and mouth centre: (centre c, half-axis x, half-axis y).

    x = eye_to_eye - rot90(eye_to_mouth), normalised and scaled by max(2|e2e|, 1.8|e2m|);
    y = rot90(x); c = eye_avg + 0.1 * eye_to_mouth. The crop's corners are c -+ x -+ y.
    """
    eye_avg = (left_eye + right_eye) / 2
    e2e = right_eye - left_eye
    e2m = mouth - eye_avg
    rot90 = lambda v: np.array([-v[1], v[0]])  # noqa: E731 - quarter turn, x towards y (down the face)
    x = e2e - rot90(e2m)
    x = x / np.linalg.norm(x) * max(np.linalg.norm(e2e) * 2.0, np.linalg.norm(e2m) * 1.8)
    y = rot90(x)
    c = eye_avg + e2m * 0.1
    return c, x, y


def alignment_matrix(landmarks: FaceLandmarks, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The similarity (2x3, continuous coordinates) taking the FFHQ crop to a ``size`` square, and the quad."""
    c, x, y = ffhq_quad(landmarks.left_eye, landmarks.right_eye, landmarks.mouth)
    origin = c - x - y  # top-left corner of the crop
    k = size / (2.0 * float(x @ x))
    m = np.array([[x[0] * k, x[1] * k, 0.0], [y[0] * k, y[1] * k, 0.0]])
    m[:, 2] = -m[:, :2] @ origin
    quad = np.stack([c - x - y, c - x + y, c + x + y, c + x - y])
    return m, quad


def target_eye_positions(size: int, mouth_ratio: float = MOUTH_RATIO) -> np.ndarray:
    """Where :func:`align_face` puts the (left, right) eye centres in a ``size`` output."""
    le, re = np.array([0.0, 0.0]), np.array([100.0, 0.0])
    lm = FaceLandmarks(le, re, estimate_mouth(le, re, mouth_ratio))
    m, _ = alignment_matrix(lm, size)
    return apply_affine(m, lm.eyes)


@dataclass
class FaceAlignment:
    """How a face was aligned: ``matrix`` maps source (x, y) to output (x, y), continuous coordinates."""

    matrix: np.ndarray
    size: int
    landmarks: FaceLandmarks
    quad: np.ndarray = field(repr=False)

    @property
    def crop_side(self) -> float:
        """Side of the crop square in source pixels."""
        return float(np.linalg.norm(self.quad[3] - self.quad[0]))

    @property
    def rotation_degrees(self) -> float:
        """How far the warp turns the picture (image coordinates, y down)."""
        return math.degrees(math.atan2(self.matrix[1, 0], self.matrix[0, 0]))

    def transform_points(self, pts: np.ndarray | Sequence[Sequence[float]]) -> np.ndarray:
        return apply_affine(self.matrix, np.asarray(pts, dtype=np.float64))

    def as_op(self) -> dict:
        r = lambda a, n=3: np.round(np.asarray(a, float), n).tolist()  # noqa: E731
        lm = self.landmarks
        return {"op": "face-align", "matrix": r(self.matrix, 7), "quad": r(self.quad), "crop_side": round(self.crop_side, 2),
                "rotation_degrees": round(self.rotation_degrees, 2), "eyes": r(lm.eyes), "mouth": r(lm.mouth),
                "mouth_estimated": lm.mouth_estimated, "detector_angle": lm.angle, "votes": lm.votes,
                "to": [self.size, self.size]}


def warp_face(img: Image.Image | np.ndarray, matrix: np.ndarray, size: int) -> Image.Image:
    """Apply an alignment similarity with quality: area pre-shrink, 2x Lanczos warp, area reduction."""
    import cv2

    arr = np.ascontiguousarray(np.asarray(img.convert("RGB") if isinstance(img, Image.Image) else img))
    scale = float(np.hypot(matrix[0, 0], matrix[0, 1]))  # output pixels per source pixel
    m = matrix
    r = 1.0 / scale  # source pixels per output pixel
    if r > 4.0:
        # shrink the covered region with an area filter so the warp itself samples at ~2x
        inv = invert_affine(matrix)
        corners = apply_affine(inv, np.array([[0, 0], [size, 0], [0, size], [size, size]], float))
        h, w = arr.shape[:2]
        x0, y0 = np.floor(corners.min(0)).astype(int) - 2
        x1, y1 = np.ceil(corners.max(0)).astype(int) + 2
        x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
        if x1 - x0 >= 2 and y1 - y0 >= 2:
            f = r / 2.0
            crop = arr[y0:y1, x0:x1]
            nw, nh = max(1, round((x1 - x0) / f)), max(1, round((y1 - y0) / f))
            arr = cv2.resize(crop, (nw, nh), interpolation=cv2.INTER_AREA)
            to_small = np.array([[nw / (x1 - x0), 0, -x0 * nw / (x1 - x0)], [0, nh / (y1 - y0), -y0 * nh / (y1 - y0)]])
            m = compose_affine(matrix, invert_affine(to_small))
    up = np.array([[2.0, 0, 0], [0, 2.0, 0]])
    big = warp_affine(arr, compose_affine(up, m), (2 * size, 2 * size), interp=cv2.INTER_LANCZOS4, border=cv2.BORDER_REFLECT_101)
    out = cv2.resize(big, (size, size), interpolation=cv2.INTER_AREA)
    return Image.fromarray(out)


def align_face(img: Image.Image | np.ndarray, size: int = 256, *, landmarks: FaceLandmarks | None = None,
               angles: Sequence[float] = DEFAULT_ANGLES) -> tuple[Image.Image, FaceAlignment]:
    """Detect (unless ``landmarks`` are given) and align a face to a ``size`` square, FFHQ style.

    Returns the aligned RGB image and the :class:`FaceAlignment` (its ``matrix`` maps source
    points to output points). Raises :class:`FaceNotFound` when no face with eyes is found.
    """
    if landmarks is None:
        landmarks = detect_landmarks(img, angles=angles)
    m, quad = alignment_matrix(landmarks, size)
    return warp_face(img, m, size), FaceAlignment(m, size, landmarks, quad)
