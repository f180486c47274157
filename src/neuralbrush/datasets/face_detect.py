"""Face and eye detection for ``dataset build --crop face`` (offline Haar cascades), and the
small affine helpers it shares with the alignment. Split from :mod:`.faces` (the FFHQ crop) so
each stays under ~400 lines; its names are re-exported there.

Detection (OpenCV's Haar cascades, shipped with opencv-python-headless < 5):

1. The face cascade runs on a grey copy (longest side at most 512 px) rotated by each of
   ``angles`` (0, +-15, +-30 degrees by default): Haar cascades only find upright faces, so
   rotated copies find faces tilted up to about 40 degrees. Detections are mapped back.
2. For each face, the eye cascade runs on a canonical patch cut from the full-resolution image:
   de-rotated and scaled so the face is 160 px wide. The pair of eyes is chosen robustly: both
   in the upper part of the face, one each side of its centre, a plausible distance apart
   (0.25-0.65 face widths), at similar heights and similar sizes.
3. Refinement: a new patch is cut around the eye pair, rotated so the eye line is exactly
   horizontal and scaled to a fixed eye distance; the eyes are detected again there (and in its
   mirror image, averaged) near where they should be. Two rounds make the estimate nearly
   independent of the input's rotation, scale and position, which is what alignment needs.
4. Detections from different rotations that agree are averaged; the group with most votes
   (then the largest face) wins.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from PIL import Image

from ..core.errors import NeuralbrushError

FACE_CASCADE = "haarcascade_frontalface_default.xml"
EYE_CASCADE = "haarcascade_eye.xml"
DEFAULT_ANGLES = (0.0, -15.0, 15.0, -30.0, 30.0)
MOUTH_RATIO = 1.0  # |eye_to_mouth| / |eye_to_eye| used when no mouth is known
DETECT_MAX_SIDE = 512
FACE_PATCH = 160  # face width in the first eye-search patch
EYE_PATCH_DISTANCE = 64.0  # eye distance in the refinement patch


class FaceNotFound(NeuralbrushError):
    """No face with two plausible eyes was found."""


@functools.lru_cache(maxsize=None)
def _cascade(name: str):
    import cv2

    c = cv2.CascadeClassifier(cv2.data.haarcascades + name)
    if c.empty():  # pragma: no cover - broken installation
        raise NeuralbrushError(f"OpenCV's {name} is missing; install opencv-python-headless<5")
    return c


# -- small affine helpers (2x3 matrices acting on continuous (x, y)) ---------------------------

def _h(m: np.ndarray) -> np.ndarray:
    return np.vstack([m, [0.0, 0.0, 1.0]])


def compose_affine(*ms: np.ndarray) -> np.ndarray:
    """``compose_affine(a, b)`` applies ``b`` first, then ``a``."""
    out = np.eye(3)
    for m in ms:
        out = out @ _h(m)
    return out[:2]


def invert_affine(m: np.ndarray) -> np.ndarray:
    """The inverse of a 2x3 affine map."""
    return np.linalg.inv(_h(m))[:2]


def apply_affine(m: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Map points (..., 2) through a 2x3 affine map."""
    pts = np.asarray(pts, dtype=np.float64)
    return pts @ m[:, :2].T + m[:, 2]


def similarity(angle_deg: float, scale: float, src_center: Sequence[float], dst_center: Sequence[float]) -> np.ndarray:
    """Rotate by ``angle_deg`` (counter-clockwise on screen, like cv2) and scale about ``src_center``,
    moving it to ``dst_center``."""
    a = math.radians(angle_deg)
    c, s = math.cos(a) * scale, math.sin(a) * scale
    rot = np.array([[c, s], [-s, c]])
    t = np.asarray(dst_center, float) - rot @ np.asarray(src_center, float)
    return np.hstack([rot, t[:, None]])


def _cv(m: np.ndarray) -> np.ndarray:
    """A continuous-coordinate transform as cv2 wants it (pixel centres at integers)."""
    half = np.array([[1.0, 0, 0.5], [0, 1.0, 0.5]])
    mhalf = np.array([[1.0, 0, -0.5], [0, 1.0, -0.5]])
    return compose_affine(mhalf, m, half)


def warp_affine(arr: np.ndarray, m: np.ndarray, size: tuple[int, int], interp: int | None = None,
                border: int | None = None, value: float = 0) -> np.ndarray:
    """cv2.warpAffine with a continuous-coordinate 2x3 matrix (source -> destination), ``size`` = (w, h)."""
    import cv2

    return cv2.warpAffine(arr, _cv(m), size, flags=cv2.INTER_LINEAR if interp is None else interp,
                          borderMode=cv2.BORDER_REPLICATE if border is None else border, borderValue=value)


# -- detection -------------------------------------------------------------------------------

class _Pyramid:
    """A grey image and its 2x reductions, so small patches of big photos are sampled without aliasing."""

    def __init__(self, gray: np.ndarray) -> None:
        import cv2

        self.levels = [gray]
        while min(self.levels[-1].shape) >= 128:
            self.levels.append(cv2.pyrDown(self.levels[-1]))

    def patch(self, m: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        """Warp with ``m`` (original continuous coordinates -> patch) from the finest level that is
        at most 2x finer than the patch."""
        scale = float(np.hypot(m[0, 0], m[0, 1]))
        k = 0
        while k + 1 < len(self.levels) and scale * 2 ** (k + 1) <= 1.0:
            k += 1
        level = self.levels[k]
        h0, w0 = self.levels[0].shape
        to_orig = np.array([[w0 / level.shape[1], 0, 0], [0, h0 / level.shape[0], 0]])
        return warp_affine(level, compose_affine(m, to_orig), size)


@dataclass
class FaceLandmarks:
    """Eye centres (image-left eye first) and mouth centre in continuous image coordinates."""

    left_eye: np.ndarray
    right_eye: np.ndarray
    mouth: np.ndarray
    mouth_estimated: bool = True
    face_width: float = 0.0  # of the detected face box, in image pixels
    angle: float = 0.0  # detector rotation (degrees) that found it
    votes: int = 1

    @property
    def eyes(self) -> np.ndarray:
        return np.stack([self.left_eye, self.right_eye])

    @classmethod
    def from_eyes(cls, left_eye: Sequence[float], right_eye: Sequence[float], mouth: Sequence[float] | None = None,
                  **kw) -> "FaceLandmarks":
        le, re = np.asarray(left_eye, float), np.asarray(right_eye, float)
        if mouth is None:
            return cls(le, re, estimate_mouth(le, re), True, **kw)
        return cls(le, re, np.asarray(mouth, float), False, **kw)


def estimate_mouth(left_eye: np.ndarray, right_eye: np.ndarray, ratio: float = MOUTH_RATIO) -> np.ndarray:
    """Mouth centre from the eyes: ``eye_avg + rot90(eye_to_eye) * ratio`` (down the face)."""
    e2e = right_eye - left_eye
    return (left_eye + right_eye) / 2 + np.array([-e2e[1], e2e[0]]) * ratio


def _pick_pair(boxes: np.ndarray, face: tuple[float, float, float, float]) -> tuple[np.ndarray, np.ndarray] | None:
    """The most plausible (left, right) eye centres among eye boxes inside an upright face box."""
    fx, fy, fw, fh = face
    cx = fx + fw / 2
    cands = [(x + w / 2, y + h / 2, w) for x, y, w, h in boxes
             if fy + 0.12 * fh <= y + h / 2 <= fy + 0.6 * fh and fx - 0.05 * fw <= x + w / 2 <= fx + 1.05 * fw]
    best = None
    for i, a in enumerate(cands):
        for b in cands[i + 1:]:
            l, r = (a, b) if a[0] < b[0] else (b, a)
            dx, dy = r[0] - l[0], r[1] - l[1]
            if not (0.25 * fw <= dx <= 0.65 * fw) or abs(dy) > 0.2 * fw:
                continue
            if not (l[0] < cx + 0.08 * fw and r[0] > cx - 0.08 * fw):
                continue
            if max(l[2], r[2]) > 1.7 * min(l[2], r[2]):
                continue
            score = abs(dy) / fw + abs((l[0] + r[0]) / 2 - cx) / fw + 0.3 * abs(l[2] - r[2]) / max(l[2], r[2])
            if best is None or score < best[0]:
                best = (score, np.array(l[:2]), np.array(r[:2]))
    return None if best is None else (best[1], best[2])


def _eye_boxes(patch: np.ndarray, min_size: int, max_size: int, scale_factor: float = 1.04) -> np.ndarray:
    boxes = _cascade(EYE_CASCADE).detectMultiScale(patch, scaleFactor=scale_factor, minNeighbors=3,
                                                   minSize=(min_size, min_size), maxSize=(max_size, max_size))
    return np.asarray(boxes, dtype=np.float64).reshape(-1, 4)


def _first_pass(pyr: _Pyramid, center: np.ndarray, face_width: float, angle: float) -> tuple[np.ndarray, np.ndarray] | None:
    """Eyes of a face found at ``center``/``face_width`` by a detector rotated ``angle`` degrees."""
    margin = 0.15
    side = int(FACE_PATCH * (1 + 2 * margin))
    m = similarity(angle, FACE_PATCH / face_width, center, (side / 2, side / 2))
    f0 = side / 2 - FACE_PATCH / 2
    # only the upper part of the face can hold the eyes; a coarse scale step is enough here
    patch = pyr.patch(m, (side, int(f0 + 0.7 * FACE_PATCH)))
    boxes = _eye_boxes(patch, int(FACE_PATCH * 0.1), int(FACE_PATCH * 0.4), scale_factor=1.08)
    pair = _pick_pair(boxes, (f0, f0, FACE_PATCH, FACE_PATCH))
    if pair is None:
        return None
    inv = invert_affine(m)
    le, re = apply_affine(inv, np.stack(pair))
    return le, re


def _match(boxes: np.ndarray, expected: np.ndarray, d: float) -> np.ndarray | None:
    best = None
    for x, y, w, h in boxes:
        c = np.array([x + w / 2, y + h / 2])
        dist = float(np.linalg.norm(c - expected))
        if dist <= 0.3 * d and 0.3 * d <= w <= 1.1 * d and (best is None or dist < best[0]):
            best = (dist, c)
    return None if best is None else best[1]


def _refine(pyr: _Pyramid, le: np.ndarray, re: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Re-detect the eyes on a patch where the eye line is horizontal at a fixed distance.

    The patch and its mirror image are both searched and the two estimates averaged, which
    cancels the left/right bias of the cascade's boxes.
    """
    d = EYE_PATCH_DISTANCE
    e2e = re - le
    dist = float(np.linalg.norm(e2e))
    if dist < 4:
        return None
    angle = math.degrees(math.atan2(e2e[1], e2e[0]))
    # a band around the eyes only: 2.6 eye distances wide, 1.5 high
    pw, ph = int(2.6 * d), int(1.5 * d)
    mid = (le + re) / 2
    m = similarity(angle, d / dist, mid, (pw / 2, ph / 2))
    patch = pyr.patch(m, (pw, ph))
    side = pw
    exp_l = np.array([pw / 2 - d / 2, ph / 2])
    exp_r = np.array([pw / 2 + d / 2, ph / 2])
    mirrored = np.ascontiguousarray(patch[:, ::-1])
    est = []
    for img, flip in ((patch, False), (mirrored, True)):
        boxes = _eye_boxes(img, int(0.4 * d), int(1.0 * d))
        if flip:  # eyes swap sides in the mirror; map matches back to unmirrored coordinates
            l = _match(boxes, np.array([side - exp_r[0], exp_r[1]]), d)
            r = _match(boxes, np.array([side - exp_l[0], exp_l[1]]), d)
            l, r = (None if r is None else np.array([side - r[0], r[1]]), None if l is None else np.array([side - l[0], l[1]]))
        else:
            l = _match(boxes, exp_l, d)
            r = _match(boxes, exp_r, d)
        est.append((l, r))
    ls = [e[0] for e in est if e[0] is not None]
    rs = [e[1] for e in est if e[1] is not None]
    if not ls or not rs:
        return None
    inv = invert_affine(m)
    new = apply_affine(inv, np.stack([np.mean(ls, axis=0), np.mean(rs, axis=0)]))
    return new[0], new[1]


def _to_gray(img: Image.Image | np.ndarray) -> np.ndarray:
    import cv2

    arr = np.asarray(img)
    if arr.ndim == 3:
        arr = cv2.cvtColor(np.ascontiguousarray(arr[..., :3]), cv2.COLOR_RGB2GRAY)
    return cv2.equalizeHist(np.ascontiguousarray(arr.astype(np.uint8)))


def _group(found: list[tuple[np.ndarray, np.ndarray, float, float]]) -> list[list[int]]:
    """Detections that agree: eye midpoints within a quarter of the eye distance, similar distance."""
    groups: list[list[int]] = []
    for i, (le, re, _, _) in enumerate(found):
        mid, d = (le + re) / 2, np.linalg.norm(re - le)
        for g in groups:
            gl, gr = found[g[0]][0], found[g[0]][1]
            if np.linalg.norm((gl + gr) / 2 - mid) < 0.25 * d and abs(np.linalg.norm(gr - gl) - d) < 0.25 * d:
                g.append(i)
                break
        else:
            groups.append([i])
    return groups


def detect_landmarks(img: Image.Image | np.ndarray, *, angles: Sequence[float] = DEFAULT_ANGLES,
                     refine_rounds: int = 2, enough_votes: int = 2) -> FaceLandmarks:
    """Find the most prominent face and its eyes; raise :class:`FaceNotFound` if there is none.

    Rotations are tried in order until one face has been found by ``enough_votes`` of them.
    """
    import cv2

    gray = _to_gray(img)
    pyr = _Pyramid(gray)
    h, w = gray.shape
    s = min(1.0, DETECT_MAX_SIDE / max(h, w))
    small = cv2.resize(gray, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA) if s < 1 else gray
    sh, sw = small.shape
    min_face = max(24, int(0.06 * min(sh, sw)))
    found: list[tuple[np.ndarray, np.ndarray, float, float]] = []
    for angle in angles:
        # rotate about the centre into a canvas big enough to hold the whole picture
        a = math.radians(angle)
        bw = int(math.ceil(abs(sw * math.cos(a)) + abs(sh * math.sin(a))))
        bh = int(math.ceil(abs(sw * math.sin(a)) + abs(sh * math.cos(a))))
        m = similarity(angle, 1.0, (sw / 2, sh / 2), (bw / 2, bh / 2))
        rot = warp_affine(small, m, (bw, bh), border=cv2.BORDER_CONSTANT, value=0) if angle else small
        faces = _cascade(FACE_CASCADE).detectMultiScale(rot, scaleFactor=1.1, minNeighbors=5,
                                                        minSize=(min_face, min_face))
        faces = sorted((tuple(map(float, f)) for f in np.asarray(faces).reshape(-1, 4)), key=lambda f: -f[2])[:3]
        inv = invert_affine(m) if angle else np.array([[1.0, 0, 0], [0, 1.0, 0]])
        for fx, fy, fw, fh in faces:
            centre = apply_affine(inv, np.array([fx + fw / 2, fy + fh / 2])) / s
            eyes = _first_pass(pyr, centre, fw / s, angle)
            if eyes is None:
                continue
            le, re = eyes
            for _ in range(refine_rounds):
                better = _refine(pyr, le, re)
                if better is None:
                    break
                moved = max(np.linalg.norm(better[0] - le), np.linalg.norm(better[1] - re))
                le, re = better
                if moved < 0.01 * np.linalg.norm(re - le):  # converged
                    break
            found.append((le, re, fw / s, angle))
        if found and max(len(g) for g in _group(found)) >= enough_votes:
            break
    if not found:
        raise FaceNotFound("no face with two eyes found")
    groups = _group(found)
    best = max(groups, key=lambda g: (len(g), max(found[i][2] for i in g)))
    le = np.mean([found[i][0] for i in best], axis=0)
    re = np.mean([found[i][1] for i in best], axis=0)
    top = max(best, key=lambda i: found[i][2])
    return FaceLandmarks.from_eyes(le, re, face_width=found[top][2], angle=found[top][3], votes=len(best))
