"""Portrait loading and face analysis (mediapipe face mesh, 478 landmarks).

Landmark index groups below follow mediapipe's canonical face mesh. "Left"/"right" in this package always mean
as seen in the image (mediapipe's "right eye" is the image-left eye).
"""

from __future__ import annotations

import io
import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..motion import FACE_DESCRIPTOR_DIM

MIN_FACE_PX = 64
NUM_LANDMARKS = 478

# Landmark groups (image-left eye = mediapipe's right eye).
FACE_OVAL = (10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377, 152, 148,
             176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109)  # fmt: skip
EYE_UPPER = ((33, 246, 161, 160, 159, 158, 157, 173, 133), (263, 466, 388, 387, 386, 385, 384, 398, 362))
EYE_LOWER = ((33, 7, 163, 144, 145, 153, 154, 155, 133), (263, 249, 390, 373, 374, 380, 381, 382, 362))
EYE_CORNERS = ((33, 133), (263, 362))  # (outer, inner) per image-left / image-right eye
IRIS = ((468, 469, 470, 471, 472), (473, 474, 475, 476, 477))  # centre first
BROW_UPPER = ((70, 63, 105, 66, 107), (300, 293, 334, 296, 336))
BROW_LOWER = ((46, 53, 52, 65, 55), (276, 283, 282, 295, 285))
LIP_UPPER_OUTER = (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291)
LIP_LOWER_OUTER = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291)
LIP_UPPER_INNER = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308)
LIP_LOWER_INNER = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308)
MOUTH_CORNERS = (61, 291)
LIP_UPPER_MID, LIP_LOWER_MID = 13, 14  # inner-lip midpoints: their distance is the mouth's opening
FOREHEAD, CHIN, CHEEK_L, CHEEK_R = 10, 152, 234, 454

# Typical values of the raw descriptor ratios (mean, spread) for adult frontal faces, so the descriptor is
# roughly zero-mean and unit-scale; only relative geometry enters, so it is scale/translation invariant.
_DESCRIPTOR_STATS = np.array(
    [
        (1.05, 0.08),  # face height / width
        (0.24, 0.03),  # left eye width / face width
        (0.24, 0.03),  # right eye width / face width
        (0.30, 0.08),  # left eye aperture / eye width
        (0.30, 0.08),  # right eye aperture / eye width
        (0.45, 0.04),  # eye centre distance / face width
        (0.10, 0.025),  # left brow height above eye / face height
        (0.10, 0.025),  # right brow height above eye / face height
        (0.30, 0.04),  # nose length / face height
        (0.25, 0.03),  # nose width / face width
        (0.42, 0.05),  # mouth width / face width
        (0.05, 0.015),  # upper lip thickness / face height
        (0.06, 0.015),  # lower lip thickness / face height
        (0.20, 0.03),  # lower lip to chin / face height
        (0.00, 0.02),  # mouth-corner height above lip centre / face height
        (0.75, 0.06),  # jaw width / face width
    ],
    dtype=np.float32,
)
assert len(_DESCRIPTOR_STATS) == FACE_DESCRIPTOR_DIM


@dataclass
class FaceAnalysis:
    """The portrait's face: landmarks in pixels of the analysed image and a neutral-geometry descriptor."""

    landmarks: np.ndarray  # (478, 3) float32: x, y in pixels; z in pixels too (mediapipe's relative depth x width)
    bbox: tuple[int, int, int, int]  # x0, y0, x1, y1 of the landmarks
    num_faces: int  # faces detected; the largest one is used
    notes: list[str] = field(default_factory=list)  # user-facing remarks ("3 faces found; animated the largest")
    descriptor: np.ndarray = field(default_factory=lambda: np.zeros(FACE_DESCRIPTOR_DIM, np.float32))

    def scaled(self, sx: float, sy: float) -> FaceAnalysis:
        """The same analysis for the image resized by (sx, sy); depth follows the x scale."""
        lm = self.landmarks * np.array([sx, sy, sx], np.float32)
        x0, y0, x1, y1 = self.bbox
        bbox = (int(round(x0 * sx)), int(round(y0 * sy)), int(round(x1 * sx)), int(round(y1 * sy)))
        return FaceAnalysis(lm, bbox, self.num_faces, list(self.notes), self.descriptor.copy())


# ----------------------------------------------------------------------------------------------------------------
# Loading


def _to_rgb(img: Any) -> Any:
    """PIL image of any mode -> RGB (transparency composited on white, 16-bit scaled)."""
    from PIL import Image

    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img, dtype=np.float64)
        hi = arr.max() if arr.size else 1.0
        arr = arr * (255.0 / (65535.0 if hi > 255 else 255.0))
        img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "L")
    if img.mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        arr = arr * 255.0 if arr.max(initial=0) <= 1.0 else arr
        img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "L")
    if img.mode == "P" or img.mode == "LA" or img.mode == "PA" or "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "RGBa"):
        bg = Image.new("RGBA", img.size, (255, 255, 255, 255))
        img = Image.alpha_composite(bg, img.convert("RGBA"))
    return img.convert("RGB")


def _array_to_rgb(arr: np.ndarray) -> np.ndarray:
    a = np.asarray(arr)
    if a.dtype != np.uint8:
        if np.issubdtype(a.dtype, np.floating):
            a = np.nan_to_num(a.astype(np.float64))
            a = a * 255.0 if a.max(initial=0) <= 1.0 else a
        elif a.dtype == np.uint16:
            a = a / 257.0
        elif a.dtype == np.bool_:
            a = a * 255.0
        a = np.clip(a, 0, 255).astype(np.uint8)
    if a.ndim == 2:
        a = np.repeat(a[:, :, None], 3, axis=2)
    if a.ndim != 3 or a.shape[2] not in (1, 3, 4) or min(a.shape[:2]) < 2:
        raise InputError(f"The portrait array has shape {a.shape}: pass an HxW, HxWx3 (RGB) or HxWx4 (RGBA) image.")
    if a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    if a.shape[2] == 4:
        alpha = a[:, :, 3:4].astype(np.float32) / 255.0
        a = (a[:, :, :3].astype(np.float32) * alpha + 255.0 * (1.0 - alpha) + 0.5).astype(np.uint8)
    return np.ascontiguousarray(a)


def _downscale(rgb: np.ndarray, max_side: int) -> np.ndarray:
    h, w = rgb.shape[:2]
    if max(h, w) <= max_side:
        return rgb
    import cv2

    s = max_side / max(h, w)
    size = (max(1, round(w * s)), max(1, round(h * s)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)


def load_portrait(src: str | Path | np.ndarray | Any, max_side: int = 2048) -> np.ndarray:
    """Load a portrait as RGB uint8 (H, W, 3), EXIF-rotated, longest side at most ``max_side``.

    Accepts a path, a numpy array or a PIL image. Huge JPEGs are decoded at reduced scale (``draft``) so a
    6000x4000 photo never costs a full-size decode. Raises ``InputError`` for missing, empty, corrupt, animated
    or non-image files.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    if isinstance(src, np.ndarray):
        return _downscale(_array_to_rgb(src), max_side)
    if isinstance(src, Image.Image):
        img = src
        name = "the portrait"
    else:
        path = Path(src)
        name = path.name
        if not path.is_file():
            raise InputError(f"Portrait file {path} does not exist: check the path.")
        if path.stat().st_size == 0:
            raise InputError(f"Portrait file {name} is empty (0 bytes): upload a JPEG or PNG photo.")
        try:
            img = Image.open(io.BytesIO(path.read_bytes()))
        except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
            from ..filetypes import describe

            raise InputError(
                f"Cannot read {name} as an image: it is {describe(path)}, not a photo this app can open; upload a "
                "JPEG or PNG photo."
            ) from None
    try:
        if getattr(img, "n_frames", 1) > 1:
            raise InputError(f"{name} is animated ({img.n_frames} frames): upload a still JPEG or PNG photo.")
        if img.format == "JPEG" and max(img.size) > 2 * max_side:
            img.draft("RGB", (max_side, max_side))  # decode at 1/2, 1/4 or 1/8 scale: cheap for huge photos
        img = ImageOps.exif_transpose(img)
        if max(img.size) > 2 * max_side:
            img = img.reduce(max(1, max(img.size) // max_side))
        rgb = np.asarray(_to_rgb(img))
    except InputError:
        raise
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        kind = f"{img.format} image" if getattr(img, "format", None) else "image"
        raise InputError(
            f"{name} is a damaged {kind} (corrupt or truncated): upload a complete JPEG or PNG photo."
        ) from None
    if min(rgb.shape[:2]) < 2:
        raise InputError(f"{name} is only {rgb.shape[1]}x{rgb.shape[0]} pixels: upload a real photo.")
    return _downscale(np.ascontiguousarray(rgb), max_side)


# ----------------------------------------------------------------------------------------------------------------
# Face mesh


_MESH_LOCK = threading.Lock()
_STATIC_MESH: Any = None
# mediapipe's C++ logs (absl "W0000 00:00:... file.cc:123] ..." and TFLite "INFO: Created ... delegate").
_NATIVE_LOG = re.compile(
    rb"^(?:[IWEF]\d{4} [\d:.]+ +\d+ \S+:\d+\] |INFO: Created TensorFlow Lite|WARNING: All log messages before absl)"
)


@contextmanager
def quiet_native_logs() -> Iterator[None]:
    """Drop mediapipe's C++ log lines, which go straight to file descriptor 2 and ignore GLOG_minloglevel and
    TF_CPP_MIN_LOG_LEVEL (mediapipe 0.10 logs through absl before ``InitializeLog``).

    fd 2 is captured in a temp file while the block runs; every other line written meanwhile (by any thread) is
    passed on to the real stderr afterwards, so the CLI keeps its one-line errors and the server loses nothing."""
    try:
        fd = sys.__stderr__.fileno() if sys.__stderr__ is not None else 2
        saved = os.dup(fd)
    except (AttributeError, OSError, ValueError):  # no real stderr (embedded interpreter): nothing to filter
        yield
        return
    with tempfile.TemporaryFile() as capture:
        for stream in (sys.stderr, sys.__stderr__):
            try:
                stream.flush()
            except (AttributeError, OSError, ValueError):
                pass
        os.dup2(capture.fileno(), fd)
        try:
            yield
        finally:
            for stream in (sys.stderr, sys.__stderr__):
                try:
                    stream.flush()
                except (AttributeError, OSError, ValueError):
                    pass
            os.dup2(saved, fd)
            os.close(saved)
            capture.seek(0)
            kept = b"".join(ln for ln in capture.read().splitlines(keepends=True) if not _NATIVE_LOG.match(ln))
            while kept:
                kept = kept[os.write(fd, kept) :]


def _static_face_mesh() -> Any:
    """One static-image FaceMesh per process (mediapipe graphs are expensive to build); use under _MESH_LOCK."""
    global _STATIC_MESH
    if _STATIC_MESH is None:
        import mediapipe as mp

        _STATIC_MESH = mp.solutions.face_mesh.FaceMesh(
            static_image_mode=True, max_num_faces=5, refine_landmarks=True, min_detection_confidence=0.5
        )
    return _STATIC_MESH


def landmarks_from_result(result: Any, width: int, height: int) -> list[np.ndarray]:
    """mediapipe face-mesh result -> list of (478, 3) float32 landmark arrays in pixels."""
    faces = []
    for face in result.multi_face_landmarks or []:
        lm = np.array([(p.x, p.y, p.z) for p in face.landmark], dtype=np.float32)
        faces.append(lm * np.array([width, height, width], np.float32))
    return faces


def face_frame(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, float]:
    """Face axes from the landmarks: (origin, ex, ey, face width, face height) in pixels.

    ``ex`` runs from the image-left eye to the image-right eye, ``ey`` is perpendicular to it pointing down, so
    ratios measured along them ignore in-plane tilt.
    """
    lm = landmarks[:, :2]
    eye_l, eye_r = lm[list(EYE_UPPER[0] + EYE_LOWER[0])].mean(0), lm[list(EYE_UPPER[1] + EYE_LOWER[1])].mean(0)
    ex = eye_r - eye_l
    ex = ex / max(np.linalg.norm(ex), 1e-6)
    ey = np.array([-ex[1], ex[0]], np.float32)
    fw = float(abs((lm[CHEEK_R] - lm[CHEEK_L]) @ ex))
    fh = float(abs((lm[CHIN] - lm[FOREHEAD]) @ ey))
    origin = (eye_l + eye_r) / 2
    return origin.astype(np.float32), ex.astype(np.float32), ey.astype(np.float32), max(fw, 1.0), max(fh, 1.0)


def face_descriptor(landmarks: np.ndarray) -> np.ndarray:
    """(FACE_DESCRIPTOR_DIM,) float32 neutral-geometry descriptor: tilt/scale/translation-invariant ratios."""
    origin, ex, ey, fw, fh = face_frame(landmarks)
    uv = np.stack([(landmarks[:, :2] - origin) @ ex, (landmarks[:, :2] - origin) @ ey], axis=1)

    def dist(a: int, b: int) -> float:
        return float(np.linalg.norm(uv[a] - uv[b]))

    def aperture(side: int) -> float:
        up, lo = EYE_UPPER[side][2:7], EYE_LOWER[side][2:7]
        return float(np.mean(uv[list(lo), 1] - uv[list(up), 1])) / max(dist(*EYE_CORNERS[side]), 1e-6)

    def brow_height(side: int) -> float:
        return float(uv[list(EYE_UPPER[side]), 1].mean() - uv[list(BROW_LOWER[side]), 1].mean()) / fh

    eye_c = [uv[list(EYE_UPPER[s] + EYE_LOWER[s])].mean(0) for s in (0, 1)]
    lip_centre_y = (uv[LIP_UPPER_MID, 1] + uv[LIP_LOWER_MID, 1]) / 2
    raw = np.array(
        [
            fh / fw,
            dist(*EYE_CORNERS[0]) / fw,
            dist(*EYE_CORNERS[1]) / fw,
            aperture(0),
            aperture(1),
            float(np.linalg.norm(eye_c[1] - eye_c[0])) / fw,
            brow_height(0),
            brow_height(1),
            dist(168, 2) / fh,
            dist(98, 327) / fw,
            dist(*MOUTH_CORNERS) / fw,
            dist(0, 13) / fh,
            dist(14, 17) / fh,
            dist(17, CHIN) / fh,
            float(lip_centre_y - uv[list(MOUTH_CORNERS), 1].mean()) / fh,
            dist(172, 397) / fw,
        ],
        dtype=np.float32,
    )
    return ((raw - _DESCRIPTOR_STATS[:, 0]) / _DESCRIPTOR_STATS[:, 1]).astype(np.float32)


def analyze_face(image: np.ndarray) -> FaceAnalysis:
    """Detect the face in an RGB uint8 portrait: 478 landmarks of the largest face plus its descriptor.

    Raises ``InputError`` when no face is found, the face is under 64 px or cut off by the frame edge.
    """
    image = _array_to_rgb(image)
    h, w = image.shape[:2]
    with _MESH_LOCK, quiet_native_logs():
        result = _static_face_mesh().process(image)
    faces = landmarks_from_result(result, w, h)
    if not faces:
        raise InputError(
            "No face found in the portrait: upload a clear, front-facing photo of one person "
            "(face well lit, not covered, at least 64 pixels across)."
        )
    sizes = [float(np.ptp(f[:, 0]) * np.ptp(f[:, 1])) for f in faces]
    lm = faces[int(np.argmax(sizes))]
    notes = [f"{len(faces)} faces found; animated the largest"] if len(faces) > 1 else []
    x0, y0 = lm[:, :2].min(0)
    x1, y1 = lm[:, :2].max(0)
    face_px = min(x1 - x0, y1 - y0)
    if face_px < MIN_FACE_PX:
        raise InputError(
            f"The face is only {face_px:.0f} pixels across (at least {MIN_FACE_PX} needed): "
            "upload a larger photo or crop closer to the face."
        )
    margin = 0.08 * max(x1 - x0, y1 - y0)
    if x0 < -margin or y0 < -margin or x1 > w - 1 + margin or y1 > h - 1 + margin:
        raise InputError(
            "The face is cut off by the edge of the photo: upload a photo that shows the whole face with some margin."
        )
    bbox = (int(max(0, np.floor(x0))), int(max(0, np.floor(y0))), int(min(w, np.ceil(x1))), int(min(h, np.ceil(y1))))
    return FaceAnalysis(lm, bbox, len(faces), notes, face_descriptor(lm))
