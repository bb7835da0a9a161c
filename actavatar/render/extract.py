"""A real (or rendered) video -> per-frame motion parameters in the renderer's own units.

Per frame: mediapipe face-mesh landmarks (tracking mode). Head pose: ``cv2.solvePnP`` of the image landmarks
against the subject's own 3D face from the neutral (first) frames, with a long-focal camera (the renderer is
near-orthographic). The landmarks are then brought back into the neutral head frame; expression parameters are a
bounded least-squares fit of the renderer's expression bases to that displacement, blinks and gaze come from eye
aperture and iris position relative to the neutral frames. Frames without a face are interpolated; the result is
lightly smoothed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..errors import InputError
from ..motion import MOTION_DIM, MOTION_INDEX, MOTION_LIMITS, MOTION_NAMES
from .face import EYE_CORNERS, EYE_LOWER, EYE_UPPER, IRIS, face_frame, landmarks_from_result
from .renderer import (
    EXPRESSION_BASES,
    GAZE_X_EYE_WIDTHS,
    GAZE_Y_EYE_WIDTHS,
    expression_bases,
    face_relief,
    head_pivot,
    rotation_angles,
)

# Rigid points for pose: temples and cheeks, nose bridge and tip, eye corners (not forehead/brows, lids, lips, jaw).
POSE_POINTS = (251, 389, 356, 454, 234, 127, 162, 21, 168, 6, 197, 195, 5, 4, 1, 33, 133, 263, 362)  # fmt: skip
NEUTRAL_FRAMES = 3  # the first detected frames, median-averaged, define the subject's neutral face
SMOOTH_SIGMA_AT_25FPS = 0.6  # frames; keeps 3-frame blinks
_FOCAL_SCALE = 8.0  # focal length in image sizes: almost orthographic


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


def motion_from_landmarks(landmarks_seq: np.ndarray, neutral: np.ndarray, image_size: tuple[int, int]) -> np.ndarray:
    """(T, 478, 3) pixel landmarks + the neutral face (478, 3) -> (T, 14) motion, unsmoothed.

    ``image_size`` is (width, height) of the frames. Frames whose landmarks are NaN come out as NaN rows.
    """
    from scipy.optimize import lsq_linear

    landmarks_seq = np.asarray(landmarks_seq, np.float64)
    neutral = np.asarray(neutral, np.float64)
    w, h = image_size
    f = _FOCAL_SCALE * max(w, h)
    cam = np.array([[f, 0, w / 2], [0, f, h / 2], [0, 0, 1]], np.float64)
    pose_idx = list(POSE_POINTS)
    model = neutral.copy()
    model[:, 2] = face_relief(neutral.astype(np.float32))  # the renderer's 3D face
    centre = model[pose_idx].mean(0)
    obj = model[pose_idx] - centre
    pivot = head_pivot(neutral.astype(np.float32)).astype(np.float64)
    _, ex, ey, fw, _ = face_frame(neutral.astype(np.float32))

    bases = expression_bases(neutral.astype(np.float32))
    active = np.nonzero(np.max([np.abs(b).max(1) for b in bases.values()], axis=0) > 1e-3 * fw)[0]
    basis_mat = np.stack([bases[k][active].ravel() for k in EXPRESSION_BASES], 1).astype(np.float64)
    ap0 = [_eye_aperture(neutral[:, :2], s) for s in (0, 1)]
    iris0 = [_iris_offset(neutral[:, :2], s, ex, ey) for s in (0, 1)]

    out = np.full((len(landmarks_seq), MOTION_DIM), np.nan, np.float32)
    rvec = np.zeros(3)
    tvec = np.array([centre[0] - w / 2, centre[1] - h / 2, f])
    # The neutral face's own PnP pose is not exactly identity (perspective, fit residual): measure relative to it.
    _, rvec0, _ = cv2.solvePnP(obj, neutral[pose_idx, :2].copy(), cam, None, rvec.copy(), tvec.copy(), True)
    rot0_t = cv2.Rodrigues(rvec0)[0].T
    for t, lm in enumerate(landmarks_seq):
        if not np.all(np.isfinite(lm)):
            continue
        ok, rvec_t, tvec_t = cv2.solvePnP(
            obj, lm[pose_idx, :2].copy(), cam, None, rvec.copy(), tvec.copy(), True, cv2.SOLVEPNP_ITERATIVE
        )
        if not ok or tvec_t[2] <= 0:
            continue
        rvec, tvec = rvec_t.ravel(), tvec_t.ravel()
        rot = cv2.Rodrigues(rvec)[0] @ rot0_t
        pitch, yaw, roll = rotation_angles(rot)
        s = f / tvec[2]
        # Renderer: p' = s R (p - pivot) + pivot + t; the neutral pose centroid lands at the PnP projection.
        c_img = np.array([f * tvec[0] / tvec[2] + w / 2, f * tvec[1] / tvec[2] + h / 2])
        trans = c_img - pivot[:2] - s * (rot @ (centre - pivot))[:2]

        # Back into the neutral head frame (depth re-based so the rigid points agree with the pose).
        cur = lm.copy()
        pred_z = (s * (rot @ (model[pose_idx] - pivot).T)).T[:, 2] + pivot[2]
        cur[:, 2] += np.mean(pred_z - cur[pose_idx, 2])
        shift = np.array([*trans, 0.0])
        q = (rot.T @ ((cur - pivot - shift) / s).T).T + pivot
        disp = (q[:, :2] - neutral[:, :2])[active].ravel()
        fit = lsq_linear(basis_mat, disp, bounds=(0.0, 1.0), method="bvls").x

        row = np.zeros(MOTION_DIM, np.float32)
        row[[MOTION_INDEX[k] for k in ("head_pitch", "head_yaw", "head_roll")]] = (pitch, yaw, roll)
        row[MOTION_INDEX["head_tx"]], row[MOTION_INDEX["head_ty"]] = trans / fw
        row[MOTION_INDEX["head_scale"]] = np.log(s)
        weights = dict(zip(EXPRESSION_BASES, fit, strict=True))
        row[MOTION_INDEX["jaw_open"]] = weights["jaw_open"]
        row[MOTION_INDEX["smile"]] = weights["smile_pos"] - weights["smile_neg"]
        row[MOTION_INDEX["lip_pucker"]] = weights["lip_pucker"]
        row[MOTION_INDEX["brow_raise"]] = weights["brow_pos"] - weights["brow_neg"]
        gaze = []
        for side, name in ((0, "blink_left"), (1, "blink_right")):
            row[MOTION_INDEX[name]] = 1.0 - _eye_aperture(q[:, :2], side) / max(ap0[side], 1e-6)
            gaze.append(_iris_offset(q[:, :2], side, ex, ey) - iris0[side])
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


def extract_motion(video: str | Path, progress: Callable[[int, int], None] | None = None) -> MotionTrack:
    """Read ``video`` and return its motion track; ``progress(done, total)`` is called per frame.

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
    mesh = mp.solutions.face_mesh.FaceMesh(
        static_image_mode=True, max_num_faces=1, refine_landmarks=True, min_detection_confidence=0.5
    )
    try:
        while True:
            ok, bgr = cap.read()
            if not ok:
                break
            size = (bgr.shape[1], bgr.shape[0])
            faces = landmarks_from_result(mesh.process(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)), *size)
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
    return MotionTrack(MOTION_NAMES, _fill_and_smooth(values, fps), float(fps))
