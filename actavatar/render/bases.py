"""Face geometry shared by the renderer and the motion extractor: head rotation, its pivot, the face's smoothed
depth, and the expression bases (per-landmark displacements at parameter 1) with the mapping from motion
parameters to basis weights. Both tiers read the same 3D face from these, so extracted motion re-renders as seen.
"""

from __future__ import annotations

import numpy as np

from ..motion import MOTION_DIM, MOTION_INDEX, MOTION_LIMITS, MOTION_NAMES
from .face import (
    BROW_LOWER,
    BROW_UPPER,
    CHEEK_L,
    CHEEK_R,
    CHIN,
    EYE_CORNERS,
    EYE_LOWER,
    EYE_UPPER,
    FOREHEAD,
    LIP_LOWER_INNER,
    LIP_LOWER_MID,
    LIP_LOWER_OUTER,
    LIP_UPPER_INNER,
    LIP_UPPER_MID,
    LIP_UPPER_OUTER,
    MOUTH_CORNERS,
    face_frame,
)

# Basis magnitudes at parameter 1, in face widths (fw) or face heights (fh, forehead-to-chin landmarks).
JAW_GAP_FH = 0.35  # inner-lip gap at jaw_open = 1 (motion.py contract)
# jaw_open is rendered linearly up to the p95 of real speech and saturates smoothly towards its maximum there, so a
# stressed syllable never opens to a scream. Both read with ``extract_motion`` (raw, as for footage) on five real
# talking-head clips (LivePortrait's driving videos d3, d12, d13, d18, d20; 1280 frames; scripts/
# measure_speech_opening.py): p95 0.343, max 0.546, divided by the extractor's own under-reading of an opening jaw
# on this renderer (gain 0.95 in extract_calibration.json) to give renderer units.
JAW_SPEECH_P95, JAW_SPEECH_MAX = 0.36, 0.58
JAW_BLEND_FH = 0.16  # height of the band where the skin beside the mouth passes from skull to jaw
SMILE_SIGMA_FW = 0.13  # reach of a mouth corner's pull (0.09 bunched the cheek up to 2.8x: rubber)
SMILE_UP_FH, SMILE_OUT_FW = 0.07, 0.08
FROWN_DOWN_FH, FROWN_IN_FW = 0.06, 0.02
PUCKER_NARROW = 0.3  # fraction of the mouth half-width
BROW_UP_FH, BROW_DOWN_FH, BROW_IN_FW = 0.07, 0.035, 0.02

EXPRESSION_BASES = ("jaw_open", "smile_pos", "smile_neg", "lip_pucker", "brow_pos", "brow_neg")
DEPTH_SMOOTH_FW, DEPTH_SCALE = 0.05, 1.0

NUM_MESH_LANDMARKS = 468  # iris points (468..477) drive gaze only


def rotation_matrix(pitch: float, yaw: float, roll: float) -> np.ndarray:
    """R = Rz(roll) Ry(yaw) Rx(pitch) in degrees, image axes (x right, y down, z away from the camera).

    Pitch > 0 moves the nose down (chin down), yaw > 0 moves the nose to image right, roll > 0 is clockwise.
    """
    p, y, r = np.deg2rad([pitch, yaw, roll])
    rx = np.array([[1, 0, 0], [0, np.cos(p), -np.sin(p)], [0, np.sin(p), np.cos(p)]])
    ry = np.array([[np.cos(y), 0, -np.sin(y)], [0, 1, 0], [np.sin(y), 0, np.cos(y)]])
    rz = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])
    return rz @ ry @ rx


def rotation_angles(rot: np.ndarray) -> tuple[float, float, float]:
    """Inverse of ``rotation_matrix``: (pitch, yaw, roll) in degrees."""
    yaw = np.arcsin(np.clip(rot[2, 0], -1.0, 1.0))
    pitch = np.arctan2(rot[2, 1], rot[2, 2])
    roll = np.arctan2(rot[1, 0], rot[0, 0])
    return tuple(float(v) for v in np.rad2deg([pitch, yaw, roll]))


def head_pivot(landmarks: np.ndarray) -> np.ndarray:
    """(3,) rotation centre of the head: upper neck, between the ears, slightly behind them."""
    _, _, _, fw, _ = face_frame(landmarks)
    ears = landmarks[[CHEEK_L, CHEEK_R]].mean(0)
    return np.array([ears[0], 0.5 * ears[1] + 0.5 * landmarks[CHIN, 1], ears[2] + 0.05 * fw], np.float32)


def face_relief(landmarks: np.ndarray) -> np.ndarray:
    """(N,) depth used for head rotation, shared by renderer and extractor so both see the same 3D face.

    mediapipe's z smoothed over the face (Gaussian in the image plane) and flattened towards the pivot: the raw
    relief is bumpy (eye sockets, nostrils) and steep at the cheeks, which would fold the 2D warp on turns.
    """
    _, _, _, fw, _ = face_frame(landmarks)
    pz = head_pivot(landmarks)[2]
    xy = landmarks[:, :2].astype(np.float64)
    d2 = np.sum((xy[:, None] - xy[None]) ** 2, axis=2)
    k = np.exp(-d2 / (2 * (DEPTH_SMOOTH_FW * fw) ** 2))
    z = (k @ landmarks[:, 2]) / k.sum(1)
    return (pz + DEPTH_SCALE * (z - pz)).astype(np.float32)


class _FaceCoords:
    """A face's landmarks in its own frame (u along the eyes, v down the face, in pixels), with the measures the
    expression bases are drawn in."""

    def __init__(self, landmarks: np.ndarray):
        origin, self.ex, self.ey, self.fw, self.fh = face_frame(landmarks)
        self.landmarks = landmarks
        self.pts = pts = landmarks[:, :2]
        self.u = (pts - origin) @ self.ex
        self.v = (pts - origin) @ self.ey
        self.n = len(landmarks)
        self.upper_lip = set(LIP_UPPER_INNER + LIP_UPPER_OUTER)
        self.lower_lip = set(LIP_LOWER_INNER + LIP_LOWER_OUTER)
        self.corners = {61, 291, 78, 308}
        self.mouth_c = (pts[LIP_UPPER_MID] + pts[LIP_LOWER_MID]) / 2
        self.mouth_w = float(np.linalg.norm(pts[291] - pts[61]))
        self.u_mc = float((self.mouth_c - origin) @ self.ex)

    def along(self, a: np.ndarray | float, b: np.ndarray | float) -> np.ndarray:
        """(N, 2) image-plane displacements ``a`` along the eyes and ``b`` down the face."""
        a, b = np.broadcast_to(a, (self.n,)), np.broadcast_to(b, (self.n,))
        return (a[:, None] * self.ex[None] + b[:, None] * self.ey[None]).astype(np.float32)

    def gauss(self, centre: np.ndarray, sigma: float) -> np.ndarray:
        return np.exp(-np.sum((self.pts - centre) ** 2, axis=1) / (2 * sigma**2))


def expression_bases(landmarks: np.ndarray) -> dict[str, np.ndarray]:
    """Per-landmark image-plane displacement (478, 2) in pixels for each expression basis at parameter 1."""
    f = _FaceCoords(landmarks)
    smile_pos, smile_neg = _smile_bases(f)
    brow_pos, brow_neg = _brow_bases(f)
    bases = {
        "jaw_open": _jaw_basis(f),
        "smile_pos": smile_pos,
        "smile_neg": smile_neg,
        "lip_pucker": _pucker_basis(f),
        "brow_pos": brow_pos,
        "brow_neg": brow_neg,
    }
    eyes = list({*sum(EYE_UPPER + EYE_LOWER, ()), *range(468, f.n)})
    for b in bases.values():
        b[eyes] = 0.0
    return bases


def _jaw_basis(f: _FaceCoords) -> np.ndarray:
    """jaw_open: the mandible swings down; how far a point follows it grows with its depth in front of the ears."""
    landmarks, pts, u, v, n, fh = f.landmarks, f.pts, f.u, f.v, f.n, f.fh
    upper_lip, lower_lip, corners = f.upper_lip, f.lower_lip, f.corners
    split_u = (u[list(LIP_UPPER_INNER)] + u[list(LIP_LOWER_INNER)]) / 2
    split_v = (v[list(LIP_UPPER_INNER)] + v[list(LIP_LOWER_INNER)]) / 2
    order = np.argsort(split_u)
    v_split = np.interp(u, split_u[order], split_v[order])
    lower = np.clip((v - v_split) / (JAW_BLEND_FH * fh) + 0.5, 0.0, 1.0)
    lower = lower * lower * (3 - 2 * lower)
    for i in range(n):
        lower[i] = 0.0 if i in upper_lip - corners else 1.0 if i in lower_lip - corners else lower[i]
    lower[list(corners)] = 0.45
    # (the smoothed relief, not the raw z: its bumps along the jaw line bunched the skin there into a crease)
    z = face_relief(landmarks[:NUM_MESH_LANDMARKS])
    z = np.concatenate([z, landmarks[NUM_MESH_LANDMARKS:, 2]])
    z_ear = z[[CHEEK_L, CHEEK_R]].mean()
    depth = np.clip((z_ear - z) / max(z_ear - z[LIP_LOWER_MID], 1e-3), 0.0, 1.0)
    gap = JAW_GAP_FH * fh
    up_lip = (1 - lower) * np.exp(-np.sum((pts - f.mouth_c) ** 2, 1) / (0.5 * f.mouth_w) ** 2) * (v < v_split + 1)
    # The lower lip sags most in the middle: its corners stay tied to the mouth corners.
    lateral = np.clip(np.abs(u - f.u_mc) / (0.5 * f.mouth_w), 0.0, 1.0)
    sag = np.ones(n)
    sag[list(lower_lip - corners)] = 1.0 - 0.55 * lateral[list(lower_lip - corners)] ** 2
    jaw_v = 0.9 * gap * lower * depth * sag - 0.1 * gap * up_lip * (1.0 - 0.6 * lateral**2)
    # Lips keep their thickness: each outer lip point moves with the inner one it faces.
    for outer, inner in ((LIP_UPPER_OUTER, LIP_UPPER_INNER), (LIP_LOWER_OUTER, LIP_LOWER_INNER)):
        jaw_v[list(outer[1:-1])] = jaw_v[list(inner[1:-1])]
    return f.along(0.0, jaw_v)


def _smile_bases(f: _FaceCoords) -> tuple[np.ndarray, np.ndarray]:
    """smile / frown: mouth corners up-and-out / down-and-in, dragging the cheeks."""
    pts, u, fw, fh = f.pts, f.u, f.fw, f.fh
    smile_pos, smile_neg = np.zeros((f.n, 2), np.float32), np.zeros((f.n, 2), np.float32)
    for c in MOUTH_CORNERS:
        side = float(np.sign(u[c] - f.u_mc))
        w = f.gauss(pts[c], SMILE_SIGMA_FW * fw)
        smile_pos += f.along(side * SMILE_OUT_FW * fw * w, -SMILE_UP_FH * fh * w)
        smile_neg += f.along(-side * FROWN_IN_FW * fw * w, FROWN_DOWN_FH * fh * w)
        cheek = (pts[c] + pts[EYE_CORNERS[0 if side < 0 else 1][0]]) / 2
        smile_pos += f.along(0.0, -0.015 * fh * f.gauss(cheek, 0.1 * fw))
    return smile_pos, smile_neg


def _pucker_basis(f: _FaceCoords) -> np.ndarray:
    """lip_pucker: lips gather towards the mouth centre and pout (outer lip lines move out vertically)."""
    pts = f.pts
    lips = list(f.upper_lip | f.lower_lip)
    d_lip = np.min(np.linalg.norm(pts[:, None] - pts[lips][None], axis=2), axis=1)
    w_lip = np.exp(-(d_lip**2) / (2 * (0.05 * f.fw) ** 2))
    pout = np.zeros(f.n)
    pout[list(LIP_UPPER_OUTER[1:-1])] = -0.012 * f.fh
    pout[list(LIP_LOWER_OUTER[1:-1])] = 0.012 * f.fh
    return f.along(-PUCKER_NARROW * (f.u - f.u_mc) * w_lip, pout)


def _brow_bases(f: _FaceCoords) -> tuple[np.ndarray, np.ndarray]:
    """brows: up (surprise) or down and together (furrow); forehead follows, eyes stay."""
    pts, u, v, fw, fh = f.pts, f.u, f.v, f.fw, f.fh
    brows = list(sum(BROW_UPPER + BROW_LOWER, ()))
    d_brow = np.min(np.linalg.norm(pts[:, None] - pts[brows][None], axis=2), axis=1)
    w_brow = np.exp(-(d_brow**2) / (2 * (0.07 * fw) ** 2))
    # Fades out towards the upper lid right below each point (not the lids' highest point: beside the outer eye
    # corners that let the skin just above the corner rise past the corner itself, a fold).
    lids = list(sum(EYE_UPPER, ()))
    o_lid = np.argsort(u[lids])
    v_lid = np.interp(u, u[lids][o_lid], v[lids][o_lid])
    w_brow = w_brow * np.clip((v_lid - v) / (0.06 * fh), 0.0, 1.0)
    # ... and towards the hairline: the scalp does not follow the brows (nor does a hat brim or the hair on it).
    w_brow = w_brow * np.clip((v - v[FOREHEAD]) / (0.2 * fh), 0.0, 1.0)
    brow_pos = f.along(0.0, -BROW_UP_FH * fh * w_brow)
    inner = np.zeros(f.n)
    for inner_end in (55, 285):
        inner += np.sign(f.u_mc - u[inner_end]) * BROW_IN_FW * fw * f.gauss(pts[inner_end], 0.06 * fw)
    brow_neg = f.along(inner * w_brow, BROW_DOWN_FH * fh * w_brow)
    return brow_pos, brow_neg


def speech_jaw(jaw_open: float) -> float:
    """The rendered jaw opening: ``jaw_open`` up to JAW_SPEECH_P95, then tending smoothly to JAW_SPEECH_MAX."""
    knee, top = JAW_SPEECH_P95, JAW_SPEECH_MAX
    if jaw_open <= knee:
        return float(jaw_open)
    return float(knee + (top - knee) * np.tanh((jaw_open - knee) / (top - knee)))


def basis_weights(motion: np.ndarray) -> np.ndarray:
    """Motion (14,) -> weights of EXPRESSION_BASES (signed parameters split into their two bases)."""
    m = motion
    smile, brow = m[MOTION_INDEX["smile"]], m[MOTION_INDEX["brow_raise"]]
    return np.array(
        [speech_jaw(m[MOTION_INDEX["jaw_open"]]), max(smile, 0), max(-smile, 0), m[MOTION_INDEX["lip_pucker"]],
         max(brow, 0), max(-brow, 0)],
        np.float32,
    )  # fmt: skip


def clip_motion(motion: np.ndarray) -> np.ndarray:
    """One frame's motion as float32, NaN-free and clipped to the valid ranges (a wrong shape is an error)."""
    motion = np.asarray(motion, dtype=np.float32)
    if motion.shape != (MOTION_DIM,):
        raise ValueError(f"motion must have shape ({MOTION_DIM},), got {motion.shape}")
    lo = np.array([MOTION_LIMITS[k][0] for k in MOTION_NAMES], np.float32)
    hi = np.array([MOTION_LIMITS[k][1] for k in MOTION_NAMES], np.float32)
    return np.clip(np.nan_to_num(motion), lo, hi)
