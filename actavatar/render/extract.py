"""A real (or rendered) video -> per-frame motion parameters in the renderer's own units.

Per frame: mediapipe face-mesh landmarks, then refined against the pixels: every landmark away from the eyes is
tracked from the first (reference) frame into this one by pyramidal Lucas-Kanade, starting from mediapipe's position,
and kept where the track is consistent (forward-backward check, close to mediapipe). mediapipe's mesh follows its
own face prior and moves less than the pixels (a nod reads at about half its size, a brow raise behind glasses is
lost in ~1 px of jitter); the tracked points follow the skin itself. The eyelids and irises stay mediapipe's: a
closing lid covers the eye rather than moving its pixels, so only a shape model can read it.

Head pose and expression are then fitted jointly to the renderer's own model of the subject (orthographic rotation
of its 3D face about the head pivot, plus its expression bases), by robust Gauss-Newton over all face landmarks
except those around the eyes, with the silhouette landmarks down-weighted: an expression (brows lifting the temples)
can then not be read as a nod, nor a nod as an expression. The mouth bases are refitted on the mouth landmarks in the
head frame the joint fit found. Blinks come from eye aperture, gaze from iris position, both relative to the neutral
(first) frames. Frames without a face are interpolated; the result is lightly smoothed.

Calibration: the read-out is still systematically small on some channels (painted-shut eyelids read only about
two-thirds closed, the iris landmark lags the shifted iris, the inner lips are left to mediapipe), so
``extract_motion(..., calibrated=True)`` divides each channel by a per-parameter gain measured on the renderer's own
output and stored in ``extract_calibration.json`` next to this file (see ``actavatar.render.calibrate``).
``motion_from_landmarks`` itself is uncalibrated: fed exact landmarks it already reads gain 1.0. Re-measure the gains
after changing the renderer, this extractor or mediapipe with
``OMP_NUM_THREADS=1 python -m actavatar.render.calibrate``; ``... calibrate --round-trip`` prints the issue-4 table.
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
FLOW_WINDOW_FW = 0.1  # face widths: Lucas-Kanade window when refining landmarks against the reference frame
FLOW_LEVELS = 1  # pyramid levels above the full image around mediapipe's guess (deeper ones wander off a jaw)
FLOW_NORMALISE_FW = 0.05  # face widths: scale of the local contrast normalisation before tracking
FLOW_FB_TOLERANCE_PX = 0.5  # a track that does not come back to within this of its start is not trusted
FLOW_GATE_FW = 0.1  # face widths: a track further than this from mediapipe's landmark is a mismatch, not a correction
FLOW_GATE_REL = 0.5  # ... plus this share of mediapipe's own displacement (it under-reads large motion)
UNCONFIRMED_WEIGHT = 0.1  # fit weight of a landmark the tracker tried and failed to confirm in the pixels ...
MIN_CONFIRMED = 0.3  # ... in frames where it confirmed at least this share (else: a cut, an occlusion; all weigh 1)
GAZE_HIDDEN_AT = 0.3  # eye closure (uncalibrated blink reading) at which an eye no longer counts for the gaze
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


def _away_from_eyes(landmarks: np.ndarray) -> np.ndarray:
    """(468,) bool: mesh landmarks further than ``EYE_MARGIN`` eye widths from every eyelid landmark."""
    lids = list(sum(EYE_UPPER + EYE_LOWER, ()))
    eye_w = np.mean([np.linalg.norm(landmarks[a, :2] - landmarks[b, :2]) for a, b in EYE_CORNERS])
    near_eye = np.min(np.linalg.norm(landmarks[:468, None, :2] - landmarks[None, lids, :2], axis=2), axis=1)
    return near_eye > EYE_MARGIN * eye_w


class PixelTracker:
    """Refines each frame's mediapipe landmarks against the pixels of a reference frame (Lucas-Kanade).

    Every mesh landmark away from the eyes is tracked from the reference frame into the new one (on a local-contrast
    image, so changing light does not drag it), starting at mediapipe's estimate plus the previous frame's
    correction; the tracked position replaces mediapipe's where LK converged, the reverse track returns to within
    ``FLOW_FB_TOLERANCE_PX`` of the start and the two agree within ``FLOW_GATE_FW`` face widths (plus
    ``FLOW_GATE_REL`` of mediapipe's displacement). Elsewhere (occlusion, a new view of the face, the inside of an
    opening mouth, the eyes) mediapipe's landmark is kept, and flagged as unconfirmed.
    """

    def __init__(self, gray: np.ndarray, landmarks: np.ndarray):
        self.ref_pts = np.ascontiguousarray(landmarks[:468, :2], np.float32)
        self.refine_idx = np.nonzero(_away_from_eyes(landmarks))[0]
        fw = face_frame(landmarks.astype(np.float32))[3]
        k = int(round(3.5 * FLOW_NORMALISE_FW * fw))  # box filter as wide as a Gaussian of that sigma (k^2 / 12)
        self.box = (k | 1, k | 1)
        self.ref = self._normalise(gray)
        self.gate = FLOW_GATE_FW * fw
        win = max(7, int(round(FLOW_WINDOW_FW * fw)) | 1)
        self.lk = dict(
            winSize=(win, win),
            maxLevel=FLOW_LEVELS,
            criteria=(cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 30, 0.01),
            flags=cv2.OPTFLOW_USE_INITIAL_FLOW,
        )
        self.correction = np.zeros((len(self.refine_idx), 2), np.float32)  # tracked - mediapipe, previous frame
        self.accepted: list[float] = []  # share of refined landmarks accepted, per frame (diagnostics)

    def _normalise(self, gray: np.ndarray) -> np.ndarray:
        """Local contrast: (gray - local mean) / local spread, so lighting changes do not drag the tracks."""
        g = gray.astype(np.float32)
        hp = g - cv2.blur(g, self.box)
        spread = np.sqrt(np.maximum(cv2.blur(hp * hp, self.box), 0.0)) + 2.0
        return np.clip(128.0 + 40.0 * hp / spread, 0, 255).astype(np.uint8)

    def refine(self, gray: np.ndarray, landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(478, 3) landmarks of ``gray`` with the tracked positions in place of mediapipe's where confirmed, and
        (478,) bool: False where the tracker tried and failed to confirm mediapipe's landmark."""
        gray = self._normalise(gray)
        idx = self.refine_idx
        start = self.ref_pts[idx]
        mp = np.ascontiguousarray(landmarks[idx, :2], np.float32)
        # Start from mediapipe plus the correction the previous frame needed: motion is continuous, mediapipe's
        # under-reading of it too, so on a wide-open jaw the search starts near the answer rather than ~10 px short.
        guess = mp + self.correction
        fwd, ok_f, _ = cv2.calcOpticalFlowPyrLK(self.ref, gray, start, guess.copy(), **self.lk)
        back, ok_b, _ = cv2.calcOpticalFlowPyrLK(gray, self.ref, fwd, start.copy(), **self.lk)
        ok = (ok_f[:, 0] == 1) & (ok_b[:, 0] == 1)
        ok &= np.linalg.norm(back - start, axis=1) < FLOW_FB_TOLERANCE_PX
        ok &= np.linalg.norm(fwd - mp, axis=1) < self.gate + FLOW_GATE_REL * np.linalg.norm(mp - start, axis=1)
        self.correction = np.where(ok[:, None], fwd - mp, 0.0).astype(np.float32)
        out = landmarks.copy()
        out[idx[ok], :2] = fwd[ok]
        trusted = np.ones(len(landmarks), bool)
        trusted[idx[~ok]] = False
        self.accepted.append(float(ok.mean()) if len(ok) else 0.0)
        return out, trusted


def _eye_aperture(pts: np.ndarray, side: int, ey: np.ndarray, width: float) -> float:
    """Mean lid gap of the middle five lid pairs along ``ey`` (the head's down axis), in units of ``width``."""
    up, lo = list(EYE_UPPER[side][2:7]), list(EYE_LOWER[side][2:7])
    return float(np.mean((pts[lo] - pts[up]) @ ey) / max(width, 1e-6))


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
        idx = np.nonzero(_away_from_eyes(neutral))[0]
        self.idx = idx
        self.rel = model[idx] - self.pivot  # (N, 3)
        self.basis = np.stack([bases[k][idx] for k in EXPRESSION_BASES], 0).astype(np.float64)  # (K, N, 2)
        wt = np.ones(len(idx))
        wt[np.isin(idx, FACE_OVAL)] = oval_weight
        self.wt = wt[:, None] / self.fw
        self.nk = len(EXPRESSION_BASES)
        self.full_z = model[:, 2] - self.pivot[2]  # depth of every landmark relative to the pivot

    def _residual_and_jacobian(
        self, x: np.ndarray, target: np.ndarray, wt: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        rot = rotation_matrix(*x[:3])
        scale = np.exp(x[5])
        q = self.rel.copy()
        q[:, :2] += np.tensordot(x[6:], self.basis, 1)
        proj = scale * q @ rot[:2].T  # (N, 2)
        res = (proj + self.pivot[:2] + x[3:5] * self.fw - target) * wt
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
        jac *= wt[:, :, None]
        return res.ravel(), jac.reshape(2 * n, -1)

    def fit(self, obs: np.ndarray, x0: np.ndarray, trust: np.ndarray | None = None, iters: int = 12) -> np.ndarray:
        """Robust (soft-L1, IRLS) Gauss-Newton from ``x0``; expression weights kept in [0, 1] by an active set.

        ``trust`` (478,) optionally scales each landmark's weight (pixel-tracked landmarks over mediapipe's guesses).
        """
        target = obs[self.idx, :2]
        wt = self.wt if trust is None else self.wt * trust[self.idx, None]
        x = x0.copy()
        x[6:] = np.clip(x[6:], 0.0, 1.0)
        damp = np.r_[np.full(3, 1e-4), np.full(3, 1e-2), np.full(self.nk, 1e-3)]
        for _ in range(iters):
            r, jac = self._residual_and_jacobian(x, target, wt)
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


def motion_from_landmarks(
    landmarks_seq: np.ndarray,
    neutral: np.ndarray,
    image_size: tuple[int, int],
    trusted: np.ndarray | None = None,
) -> np.ndarray:
    """(T, 478, 3) pixel landmarks + the neutral face (478, 3) -> (T, 14) motion, unsmoothed.

    ``image_size`` is (width, height) of the frames. Frames whose landmarks are NaN come out as NaN rows.
    ``trusted`` (T, 478) bool, if given, is False for the landmarks ``PixelTracker`` could not confirm in the pixels
    (mediapipe's guesses): they count ``UNCONFIRMED_WEIGHT`` as much as the others in the pose, expression and mouth
    fits of frames where at least ``MIN_CONFIRMED`` of the fitted landmarks were confirmed.
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
    # Eye aperture is read in the neutral head frame (head pose undone), along the head's vertical, over the neutral
    # eye width: turning, tilting or scaling the head then does not read as a blink.
    eye_w = [float(np.linalg.norm(neutral[a, :2] - neutral[b, :2])) for a, b in EYE_CORNERS]
    ap0 = [_eye_aperture(neutral[:, :2], s, ey, eye_w[s]) for s in (0, 1)]
    iris0 = [_iris_offset(neutral[:, :2], s, ex, ey) for s in (0, 1)]

    out = np.full((len(landmarks_seq), MOTION_DIM), np.nan, np.float32)
    x = np.zeros(6 + model.nk)
    last_gaze = np.zeros(2)

    for t, lm in enumerate(landmarks_seq):
        if not np.all(np.isfinite(lm)):
            continue
        trust = None
        if trusted is not None and trusted[t, model.idx].mean() >= MIN_CONFIRMED:
            trust = np.where(trusted[t], 1.0, UNCONFIRMED_WEIGHT)
        x = model.fit(lm, x, trust)
        q = model.to_neutral_frame(lm, x)
        row = np.zeros(MOTION_DIM, np.float32)
        for k, v in zip(_POSE_KEYS, x[:6], strict=True):
            row[MOTION_INDEX[k]] = v
        weights = dict(zip(EXPRESSION_BASES, x[6:], strict=True))
        # The mouth bases refitted on the mouth landmarks alone, in the head frame the joint fit found: jaw and
        # smile then cannot trade off against residuals elsewhere on the face.
        # Where the pixels were tracked, mediapipe's remaining guesses (mostly the inner lips of an opening mouth,
        # which it under-reads) would pull the fit to a frown; they count less.
        rhs = (q - neutral[:, :2])[mouth_idx].ravel()
        if trust is None:
            fit = lsq_linear(mouth_mat, rhs, bounds=(0.0, 1.0), method="bvls").x
        else:
            sw = np.repeat(np.sqrt(trust[mouth_idx]), 2)
            fit = lsq_linear(mouth_mat * sw[:, None], rhs * sw, bounds=(0.0, 1.0), method="bvls").x
        weights.update(zip(MOUTH_BASES, fit, strict=True))
        row[MOTION_INDEX["jaw_open"]] = weights["jaw_open"]
        row[MOTION_INDEX["smile"]] = weights["smile_pos"] - weights["smile_neg"]
        row[MOTION_INDEX["lip_pucker"]] = weights["lip_pucker"]
        row[MOTION_INDEX["brow_raise"]] = weights["brow_pos"] - weights["brow_neg"]
        gaze, seen = [], []
        for side, name in ((0, "blink_left"), (1, "blink_right")):
            closed = 1.0 - _eye_aperture(q, side, ey, eye_w[side]) / max(ap0[side], 1e-6)
            row[MOTION_INDEX[name]] = closed
            gaze.append(_iris_offset(q, side, ex, ey) - iris0[side])
            seen.append(float(np.clip(1.0 - closed / GAZE_HIDDEN_AT, 0.0, 1.0)))
        # Gaze from the eyes whose iris is visible: a closing lid hides the iris and mediapipe's iris landmark then
        # wanders. With both eyes shut the gaze is unknown and the last seen one is kept.
        if sum(seen) > 0.05:
            g = np.average(gaze, axis=0, weights=seen)
            last_gaze = np.array([g[0] / GAZE_X_EYE_WIDTHS, g[1] / GAZE_Y_EYE_WIDTHS])
        row[MOTION_INDEX["gaze_x"]], row[MOTION_INDEX["gaze_y"]] = last_gaze
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
    video: str | Path,
    progress: Callable[[int, int], None] | None = None,
    calibrated: bool = False,
    track_pixels: bool = True,
) -> MotionTrack:
    """Read ``video`` and return its motion track; ``progress(done, total)`` is called per frame.

    With ``calibrated`` each channel is divided by its gain from ``extract_calibration.json``, which undoes the
    extractor's measured under-reading of *this renderer's* motion: the evaluation uses it on rendered videos. The
    default (raw fit) is for real footage (CLI ``extract``, training data), where those gains were not measured.
    ``track_pixels`` refines mediapipe's landmarks against the first face frame's pixels (``PixelTracker``); without
    it the fit sees mediapipe's landmarks alone (the calibration gains were measured with it on).

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
    tracker: PixelTracker | None = None
    trust: dict[int, np.ndarray] = {}  # frame -> landmarks the tracker confirmed (or did not try)
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
            lm = faces[0] if faces else None
            if lm is not None and track_pixels:
                gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
                if tracker is None:
                    tracker = PixelTracker(gray, lm)
                else:
                    lm, trust[len(seq)] = tracker.refine(gray, lm)
            seq.append(lm)
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
    trusted = None
    if track_pixels:
        trusted = np.ones(stacked.shape[:2], bool)
        for t, ok in trust.items():
            trusted[t] = ok
    values = motion_from_landmarks(stacked, neutral, size, trusted)
    if np.isnan(values).all():
        raise InputError(f"No usable face pose in {video.name}: use a video with a clear, front-facing face.")
    values = _fill_and_smooth(values, fps)
    if calibrated:
        lo = np.array([MOTION_LIMITS[k][0] for k in MOTION_NAMES], np.float32)
        hi = np.array([MOTION_LIMITS[k][1] for k in MOTION_NAMES], np.float32)
        values = np.clip(values / extraction_gains(), lo, hi).astype(np.float32)
    return MotionTrack(MOTION_NAMES, values, float(fps))
