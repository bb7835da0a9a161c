"""The motion space shared by the generator, the renderer, the extractor and the metrics.

Every frame is a vector of ``len(MOTION_NAMES)`` floats; all zeros is the portrait's own neutral pose and
expression, so a neutral motion renders the input photo unchanged. Units:

- ``head_pitch``/``head_yaw``/``head_roll``: degrees. Pitch > 0 = chin down (a nod goes down first),
  yaw > 0 = the face turns to the image's right, roll > 0 = head tilts clockwise in the image.
- ``head_tx``/``head_ty``: translation in face widths (x > 0 = image right, y > 0 = image down).
- ``head_scale``: log of the relative face size (0.1 ~= 10% larger: leaning in).
- ``jaw_open``: 0 closed .. 1 wide open (lip gap of ~0.35 face heights at 1 before the renderer bounds it to real
  speech: linear up to 0.36, tending to 0.58, ``render.renderer.speech_jaw``).
- ``smile``: -1 frown .. 0 neutral .. 1 broad smile (mouth corners up and out).
- ``lip_pucker``: 0 .. 1 (pout / purse: mouth narrower and lips forward).
- ``blink_left``/``blink_right``: 0 open .. 1 closed; left/right as seen in the image.
- ``brow_raise``: -1 furrowed (brows down and together) .. 1 fully raised (surprise).
- ``gaze_x``/``gaze_y``: -1 .. 1 iris offset within the eye opening (x > 0 = image right, y > 0 = down).
"""

from __future__ import annotations

import numpy as np

MOTION_NAMES: tuple[str, ...] = (
    "head_pitch",
    "head_yaw",
    "head_roll",
    "head_tx",
    "head_ty",
    "head_scale",
    "jaw_open",
    "smile",
    "lip_pucker",
    "blink_left",
    "blink_right",
    "brow_raise",
    "gaze_x",
    "gaze_y",
)
MOTION_DIM = len(MOTION_NAMES)
MOTION_INDEX = {name: i for i, name in enumerate(MOTION_NAMES)}

# Typical magnitude of each parameter (degrees, face widths, unit ranges): used to normalise the diffusion
# target to unit scale and to clip rendered motion to plausible ranges.
MOTION_SCALE: dict[str, float] = {
    "head_pitch": 12.0,
    "head_yaw": 20.0,
    "head_roll": 12.0,
    "head_tx": 0.08,
    "head_ty": 0.08,
    "head_scale": 0.1,
    "jaw_open": 0.5,
    "smile": 0.6,
    "lip_pucker": 0.6,
    "blink_left": 0.6,
    "blink_right": 0.6,
    "brow_raise": 0.6,
    "gaze_x": 0.6,
    "gaze_y": 0.6,
}
MOTION_LIMITS: dict[str, tuple[float, float]] = {
    "head_pitch": (-30.0, 30.0),
    "head_yaw": (-40.0, 40.0),
    "head_roll": (-30.0, 30.0),
    "head_tx": (-0.3, 0.3),
    "head_ty": (-0.3, 0.3),
    "head_scale": (-0.3, 0.3),
    "jaw_open": (0.0, 1.0),
    "smile": (-1.0, 1.0),
    "lip_pucker": (0.0, 1.0),
    "blink_left": (0.0, 1.0),
    "blink_right": (0.0, 1.0),
    "brow_raise": (-1.0, 1.0),
    "gaze_x": (-1.0, 1.0),
    "gaze_y": (-1.0, 1.0),
}

# The same motion seen in a mirror: image left <-> right. Yaw, roll, sideways shift and horizontal gaze change
# sign; the two eyes swap. (Pitch, vertical shift, scale and the symmetric expressions are unchanged.)
_MIRROR_SIGN = np.array([-1.0 if n in ("head_yaw", "head_roll", "head_tx", "gaze_x") else 1.0 for n in MOTION_NAMES])
_MIRROR_ORDER = np.array(
    [MOTION_INDEX[{"blink_left": "blink_right", "blink_right": "blink_left"}.get(n, n)] for n in MOTION_NAMES]
)


def mirror_motion(motion):
    """``(..., D)`` motion (numpy array or torch tensor) as seen in a mirror."""
    sign = _MIRROR_SIGN if isinstance(motion, np.ndarray) else motion.new_tensor(_MIRROR_SIGN)
    return motion[..., _MIRROR_ORDER] * sign


# Size of the neutral-face descriptor the generator is conditioned on (see ``render.face.FaceAnalysis``).
FACE_DESCRIPTOR_DIM = 16


def talking_motion(n: int, fps: float, seed: int = 0) -> np.ndarray:
    """A synthetic speech-like (n, 14) sequence: jaw at syllable rate, slow head sway, smile, brows, gaze, blinks.

    Used by the renderer benchmark and tests (not by generation)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / fps
    m = np.zeros((n, MOTION_DIM), np.float32)
    m[:, MOTION_INDEX["jaw_open"]] = np.clip(0.25 + 0.25 * np.sin(2 * np.pi * 4.0 * t + rng.random()), 0, 1)
    m[:, MOTION_INDEX["head_yaw"]] = 10 * np.sin(2 * np.pi * 0.3 * t)
    m[:, MOTION_INDEX["head_pitch"]] = 5 * np.sin(2 * np.pi * 0.5 * t + 1)
    m[:, MOTION_INDEX["head_roll"]] = 3 * np.sin(2 * np.pi * 0.2 * t)
    m[:, MOTION_INDEX["smile"]] = 0.3 * np.sin(2 * np.pi * 0.1 * t)
    m[:, MOTION_INDEX["brow_raise"]] = 0.4 * np.sin(2 * np.pi * 0.25 * t) ** 3
    m[:, MOTION_INDEX["gaze_x"]] = 0.4 * np.sin(2 * np.pi * 0.15 * t)
    blink = (np.mod(t, 3.0) < 0.15).astype(np.float32)
    m[:, MOTION_INDEX["blink_left"]] = m[:, MOTION_INDEX["blink_right"]] = blink
    return m
