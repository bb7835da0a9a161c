"""A real (or rendered) video -> per-frame motion parameters in the renderer's own units.

Per frame: mediapipe face-mesh landmarks. Head pose and expression are fitted jointly to the renderer's own model
of the subject (orthographic rotation of its 3D face about the head pivot, plus its expression bases), by robust
Gauss-Newton over all face landmarks except those around the eyes, with the silhouette landmarks down-weighted:
an expression (brows lifting the temples) can then not be read as a nod, nor a nod as an expression. The mouth bases
are refitted on the mouth landmarks in the head frame the joint fit found. Blinks come from eye aperture, gaze from
iris position, both relative to the neutral (first) frames. Frames without a face are interpolated; the result is
lightly smoothed.

Calibration: mediapipe under-reads this renderer's motion (painted-shut eyelids still read half open, the iris
landmark lags the shifted iris, the mesh moves less than the pixels on a nod or smile), so ``extract_motion`` divides
each channel by a per-parameter gain measured on the renderer's own output and stored in
``extract_calibration.json`` next to this file (see ``actavatar.render.calibrate``). ``motion_from_landmarks`` itself
is uncalibrated: fed exact landmarks it already reads gain 1.0. Re-measure the gains after changing the renderer,
this extractor or mediapipe with ``OMP_NUM_THREADS=1 python -m actavatar.render.calibrate``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from ..errors import InputError
from ..motion import MOTION_DIM, MOTION_INDEX, MOTION_LIMITS, MOTION_NAMES
from .face import EYE_CORNERS, EYE_LOWER, EYE_UPPER, FACE_OVAL, IRIS, face_frame, landmarks_from_result
from .renderer import (
    EXPRESSION_BASES,
    GAZE_X_EYE_WIDTHS,
    GAZE_Y_EYE_WIDTHS,
    expression_bases,
    face_relief,
    head_pivot,
    rotation_matrix,
)

NEUTRAL_FRAMES = 3  # the first detected frames, median-averaged, define the subject's neutral face
SMOOTH_SIGMA_AT_25FPS = 0.6  # frames; keeps 3-frame blinks
MOUTH_REFIT_THRESHOLD = 0.01  # face widths: landmarks a mouth basis moves at least this much join the mouth refit
OVAL_WEIGHT = 0.3  # silhouette landmarks slide along the face outline: trust them less
ROBUST_SCALE = 0.01  # face widths: landmark residuals beyond this count less (soft L1)
EYE_MARGIN = 0.3  # eye widths: landmarks this close to a lid move with blinks and are left out of the pose fit
CALIBRATION_PATH = Path(__file__).with_name("extract_calibration.json")


@lru_cache(maxsize=1)
def extraction_gains() -> np.ndarray:
    """(14,) gain per motion channel (extracted / rendered on this renderer), 1.0 where uncalibrated.

    Measured by ``python -m actavatar.render.calibrate``: mediapipe under-reads the rendered motion, and
    ``extract_motion`` divides by these gains to return true motion units.
    """
    gains = np.ones(MOTION_DIM, np.float32)
    if CALIBRATION_PATH.is_file():
        table = json.loads(CALIBRATION_PATH.read_text())["gains"]
        for name, g in table.items():
            if name in MOTION_INDEX:
                gains[MOTION_INDEX[name]] = float(g)
    return gains


@dataclass
class MotionTrack:
    """Motion parameters extracted from a video: ``values`` is (T, 14) in ``MOTION_NAMES`` order."""

    names: tuple[str, ...]
    values: np.ndarray
    fps: float

    def to_dict(self) -> dict:
        return {"fps": float(self.fps), "names": list(self.names), "values": np.round(self.values, 5).tolist()}


def _eye_aperture(pts: np.ndarray, side: int) -> float:
    up, lo = list(EYE_UPPER[side][2:7]), list(EYE_LOWER[side][2:7])
    width = np.linalg.norm(pts[EYE_CORNERS[side][0]] - pts[EYE_CORNERS[side][1]])
    return float(np.mean(np.linalg.norm(pts[lo] - pts[up], axis=1)) / max(width, 1e-6))


def _iris_offset(pts: np.ndarray, side: int, ex: np.ndarray, ey: np.ndarray) -> np.ndarray:
    a, b = pts[EYE_CORNERS[side][0]], pts[EYE_CORNERS[side][1]]
    width = max(np.linalg.norm(a - b), 1e-6)
    d = pts[IRIS[side][0]] - (a + b) / 2
    return np.array([d @ ex, d @ ey]) / width


MOUTH_BASES = ("jaw_open", "smile_pos", "smile_neg", "lip_pucker")
_POSE_KEYS = ("head_pitch", "head_yaw", "head_roll", "head_tx", "head_ty", "head_scale")


class _FaceModel:
    """The renderer's own model of the subject: p'(x) = s R (P + B w - pivot) + pivot + t, orthographic.

    Fitting it to a frame's landmarks gives head pose and expression weights at once, so an expression is never
    mistaken for a head motion (brows lifting the temples read as a nod) and vice versa.
    """

    def __init__(self, neutral: np.ndarray, oval_weight: float = OVAL_WEIGHT):
        n32 = neutral.astype(np.float32)
        _, self.ex, self.ey, self.fw, _ = face_frame(n32)
        self.pivot = head_pivot(n32).astype(np.float64)
        model = neutral.astype(np.float64).copy()
        model[:, 2] = face_relief(n32)
        bases = expression_bases(n32)
        lids = list(sum(EYE_UPPER + EYE_LOWER, ()))
        eye_w = np.mean([np.linalg.norm(neutral[a, :2] - neutral[b, :2]) for a, b in EYE_CORNERS])
        near_eye = np.min(np.linalg.norm(neutral[:468, None, :2] - neutral[None, lids, :2], axis=2), axis=1)
        idx = np.nonzero(near_eye > EYE_MARGIN * eye_w)[0]
        self.idx = idx
        self.rel = model[idx] - self.pivot  # (N, 3)
        self.basis = np.stack([bases[k][idx] for k in EXPRESSION_BASES], 0).astype(np.float64)  # (K, N, 2)
        wt = np.ones(len(idx))
        wt[np.isin(idx, FACE_OVAL)] = oval_weight
        self.wt = wt[:, None] / self.fw
        self.nk = len(EXPRESSION_BASES)
        self.full_z = model[:, 2] - self.pivot[2]  # depth of every landmark relative to the pivot

    def _residual_and_jacobian(self, x: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rot = rotation_matrix(*x[:3])
        scale = np.exp(x[5])
        q = self.rel.copy()
        q[:, :2] += np.tensordot(x[6:], self.basis, 1)
        proj = scale * q @ rot[:2].T  # (N, 2)
        res = (proj + self.pivot[:2] + x[3:5] * self.fw - target) * self.wt
        n = len(q)
        jac = np.empty((n, 2, 6 + self.nk))
        eps = 1e-3
        for i in range(3):
            d = np.zeros(3)
            d[i] = eps
            drot = (rotation_matrix(*(x[:3] + d)) - rotation_matrix(*(x[:3] - d))) / (2 * eps)
            jac[:, :, i] = scale * q @ drot[:2].T
        jac[:, :, 3:5] = 0.0
        jac[:, 0, 3] = jac[:, 1, 4] = self.fw
        jac[:, :, 5] = proj
        jac[:, :, 6:] = np.einsum("knc,dc->ndk", self.basis, scale * rot[:2, :2])
        jac *= self.wt[:, :, None]
        return res.ravel(), jac.reshape(2 * n, -1)

    def fit(self, obs: np.ndarray, x0: np.ndarray, iters: int = 12) -> np.ndarray:
        """Robust (soft-L1, IRLS) Gauss-Newton from ``x0``; expression weights kept in [0, 1] by an active set."""
        target = obs[self.idx, :2]
        x = x0.copy()
        x[6:] = np.clip(x[6:], 0.0, 1.0)
        damp = np.r_[np.full(3, 1e-4), np.full(3, 1e-2), np.full(self.nk, 1e-3)]
        for _ in range(iters):
            r, jac = self._residual_and_jacobian(x, target)
            w = 1.0 / np.sqrt(1.0 + (r / ROBUST_SCALE) ** 2)
            jw = jac * w[:, None]
            g = jw.T @ r
            h = jw.T @ jac
            free = np.ones(len(x), bool)
            free[6:] = ~(((x[6:] <= 0.0) & (g[6:] > 0)) | ((x[6:] >= 1.0) & (g[6:] < 0)))
            step = np.zeros_like(x)
            hf = h[np.ix_(free, free)] + np.diag(damp[free] * (1.0 + np.diag(h)[free]))
            step[free] = -np.linalg.solve(hf, g[free])
            x_new = x + step
            x_new[6:] = np.clip(x_new[6:], 0.0, 1.0)
            if np.max(np.abs(x_new - x) / np.r_[np.full(3, 0.01), np.full(3, 1e-4), np.full(self.nk, 1e-3)]) < 1:
                x = x_new
                break
            x = x_new
        return x

    def to_neutral_frame(self, lm: np.ndarray, x: np.ndarray) -> np.ndarray:
        """Undo the head pose: the frame's landmarks (N, 2) expressed in the neutral head frame."""
        rot = rotation_matrix(*x[:3])
        a = np.exp(x[5]) * rot[:2, :2]
        # The depth of each point is taken from the model (mediapipe's own z is too noisy to rotate back with).
        rhs = lm[:, :2] - self.pivot[:2] - x[3:5] * self.fw - np.exp(x[5]) * np.outer(self.full_z, rot[:2, 2])
        return np.linalg.solve(a, rhs.T).T + self.pivot[:2]


def motion_from_landmarks(landmarks_seq: np.ndarray, neutral: np.ndarray, image_size: tuple[int, int]) -> np.ndarray:
    """(T, 478, 3) pixel landmarks + the neutral face (478, 3) -> (T, 14) motion, unsmoothed.

    ``image_size`` is (width, height) of the frames. Frames whose landmarks are NaN come out as NaN rows.
    """
    from scipy.optimize import lsq_linear

    landmarks_seq = np.asarray(landmarks_seq, np.float64)
    neutral = np.asarray(neutral, np.float64)
    model = _FaceModel(neutral)
    bases = expression_bases(neutral.astype(np.float32))
    reach = np.max([np.linalg.norm(bases[k], axis=1) for k in MOUTH_BASES], axis=0)
    mouth_idx = np.nonzero(reach > MOUTH_REFIT_THRESHOLD * model.fw)[0]
    mouth_mat = np.stack([bases[k][mouth_idx].ravel() for k in MOUTH_BASES], 1).astype(np.float64)
    ex, ey = model.ex, model.ey
    ap0 = [_eye_aperture(neutral[:, :2], s) for s in (0, 1)]
    iris0 = [_iris_offset(neutral[:, :2], s, ex, ey) for s in (0, 1)]

    out = np.full((len(landmarks_seq), MOTION_DIM), np.nan, np.float32)
    x = np.zeros(6 + model.nk)

    for t, lm in enumerate(landmarks_seq):
        if not np.all(np.isfinite(lm)):
            continue
        x = model.fit(lm, x)
        q = model.to_neutral_frame(lm, x)
        row = np.zeros(MOTION_DIM, np.float32)
        for k, v in zip(_POSE_KEYS, x[:6], strict=True):
            row[MOTION_INDEX[k]] = v
        weights = dict(zip(EXPRESSION_BASES, x[6:], strict=True))
        # The mouth bases refitted on the mouth landmarks alone, in the head frame the joint fit found: jaw and
        # smile then cannot trade off against residuals elsewhere on the face.
        fit = lsq_linear(mouth_mat, (q - neutral[:, :2])[mouth_idx].ravel(), bounds=(0.0, 1.0), method="bvls").x
        weights.update(zip(MOUTH_BASES, fit, strict=True))
        row[MOTION_INDEX["jaw_open"]] = weights["jaw_open"]
        row[MOTION_INDEX["smile"]] = weights["smile_pos"] - weights["smile_neg"]
        row[MOTION_INDEX["lip_pucker"]] = weights["lip_pucker"]
        row[MOTION_INDEX["brow_raise"]] = weights["brow_pos"] - weights["brow_neg"]
        gaze = []
        for side, name in ((0, "blink_left"), (1, "blink_right")):
            row[MOTION_INDEX[name]] = 1.0 - _eye_aperture(lm[:, :2], side) / max(ap0[side], 1e-6)
            gaze.append(_iris_offset(q, side, ex, ey) - iris0[side])
        g = np.mean(gaze, axis=0)
        row[MOTION_INDEX["gaze_x"]] = g[0] / GAZE_X_EYE_WIDTHS
        row[MOTION_INDEX["gaze_y"]] = g[1] / GAZE_Y_EYE_WIDTHS
        out[t] = row
    lo = np.array([MOTION_LIMITS[k][0] for k in MOTION_NAMES], np.float32)
    hi = np.array([MOTION_LIMITS[k][1] for k in MOTION_NAMES], np.float32)
    return np.where(np.isnan(out), out, np.clip(out, lo, hi))


def _fill_and_smooth(values: np.ndarray, fps: float) -> np.ndarray:
    from scipy.ndimage import gaussian_filter1d

    t = np.arange(len(values))
    valid = ~np.isnan(values).any(1)
    filled = np.stack([np.interp(t, t[valid], values[valid, j]) for j in range(values.shape[1])], 1)
    sigma = SMOOTH_SIGMA_AT_25FPS * fps / 25.0
    return gaussian_filter1d(filled, sigma, axis=0, mode="nearest").astype(np.float32) if sigma > 0.3 else filled


def extract_motion(
    video: str | Path, progress: Callable[[int, int], None] | None = None, calibrated: bool = False
) -> MotionTrack:
    """Read ``video`` and return its motion track; ``progress(done, total)`` is called per frame.

    With ``calibrated`` each channel is divided by its gain from ``extract_calibration.json``, which undoes
    mediapipe's measured under-reading of *this renderer's* motion: the evaluation uses it on rendered videos. The
    default (raw fit) is for real footage (CLI ``extract``, training data), where those gains were not measured.

    Raises ``InputError`` if the file cannot be read or no frame shows a face.
    """
    import mediapipe as mp

    video = Path(video)
    if not video.is_file():
        raise InputError(f"Video file {video} does not exist: check the path.")
    cap = cv2.VideoCapture(str(video))
    if not cap.isOpened():
        raise InputError(f"Cannot open {video.name} as a video: use an mp4, mov, webm or avi file.")
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    seq: list[np.ndarray | None] = []
    size = (0, 0)
    from .face import quiet_native_logs

    with quiet_native_logs():
        mesh = mp.solutions.face_mesh.FaceMesh(
            static_image_mode=True, max_num_faces=1, refine_landmarks=True, min_detection_confidence=0.5
        )
    try:
        while True:
            ok, bgr = cap.read()
            if not ok:
                break
            size = (bgr.shape[1], bgr.shape[0])
            with quiet_native_logs():
                result = mesh.process(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
            faces = landmarks_from_result(result, *size)
            seq.append(faces[0] if faces else None)
            if progress is not None:
                progress(len(seq), max(total, len(seq)))
    finally:
        mesh.close()
        cap.release()
    if not seq:
        raise InputError(f"{video.name} has no readable video frames: use an mp4, mov, webm or avi file.")
    detected = [lm for lm in seq if lm is not None]
    if not detected:
        raise InputError(f"No face found in any frame of {video.name}: use a video with a clear, front-facing face.")
    neutral = np.median(np.stack(detected[:NEUTRAL_FRAMES]), axis=0)
    nan = np.full_like(neutral, np.nan)
    stacked = np.stack([lm if lm is not None else nan for lm in seq])
    values = motion_from_landmarks(stacked, neutral, size)
    if np.isnan(values).all():
        raise InputError(f"No usable face pose in {video.name}: use a video with a clear, front-facing face.")
    values = _fill_and_smooth(values, fps)
    if calibrated:
        lo = np.array([MOTION_LIMITS[k][0] for k in MOTION_NAMES], np.float32)
        hi = np.array([MOTION_LIMITS[k][1] for k in MOTION_NAMES], np.float32)
        values = np.clip(values / extraction_gains(), lo, hi).astype(np.float32)
    return MotionTrack(MOTION_NAMES, values, float(fps))
