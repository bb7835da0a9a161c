"""The metrics of docs/DESIGN.md ("Metrics"), computed on a motion array ``(T, 14)`` extracted from rendered pixels.

Extracted motion is noisy (landmark jitter of ~0.5–1 degree on head angles, ~0.03 on expression channels), so
every detector first de-spikes and smooths (3-frame median, then 3-frame mean: no delay), measures channels
relative to a **baseline** (by default the median of the frames outside the window, so a resting smile or a
habitual head pose is not an action), and uses thresholds at about half of a "slight" action's amplitude in the
synthetic data (``actavatar.training.actions``).

Patterns:

- ``hold`` (turn, tilt, look, smile, frown, brows, pout, glance, lean): the 25th percentile of the signed offset
  over the window's core (ramps excluded) exceeds the threshold, i.e. held for most of the window; nods do not
  pass as "look down".
- ``nod`` / ``shake``: peaks with prominence above the threshold and a half-height width under 0.9 s (one-sided
  for nods; both directions within 0.9 s for shakes); a held turn or look is wider and does not count.
- ``pulses``: blinking rapidly = >= 2 closures of both eyes at most 0.7 s apart; a wink = a closure of one eye
  while the other stays at most half as closed.
- ``closed``: both eyes mostly closed over the window core. ``laugh``: smile plus a squint (partly closed eyes).
- ``still``: the head's smoothed angular range (10–90%) over the window core stays under 1.4 degrees. Under
  ~1 degree of tracker noise this separates a still head from a calm speaker's idle motion only roughly.

A combination label (``"smile+nod"``) is detected when every part is.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..motion import MOTION_DIM, MOTION_INDEX

HEAD_ANGLES = ("head_pitch", "head_yaw", "head_roll")
LIP_SYNC_RATE = 100.0  # Hz: envelope and (interpolated) mouth opening are compared at 10 ms resolution


@dataclass(frozen=True)
class ActionSignature:
    """How one atomic action shows up in motion space."""

    label: str
    pattern: str  # "hold" | "nod" | "shake" | "pulses" | "wink" | "closed" | "laugh" | "still"
    channel: str  # the main channel ("blink_left" etc. for eyes; "head_yaw" for still = the head)
    sign: float  # +1 / -1: direction of the action on ``channel``
    threshold: float  # in ``channel`` units
    affects: tuple[str, ...] = ()  # every channel the action moves (kept out of the clip's resting baseline)


def _sig(label, pattern, channel, sign, threshold, affects="") -> ActionSignature:
    return ActionSignature(label, pattern, channel, sign, threshold, tuple(dict.fromkeys([channel, *affects.split()])))


_EYES = "blink_left blink_right"
_SIGNATURES: dict[str, ActionSignature] = {
    s.label: s
    for s in [
        _sig("nod", "nod", "head_pitch", 1.0, 3.2, "head_ty"),
        _sig("shake_head", "shake", "head_yaw", 1.0, 3.5, "head_tx"),
        _sig("tilt_left", "hold", "head_roll", 1.0, 3.5, "head_tx"),
        _sig("tilt_right", "hold", "head_roll", -1.0, 3.5, "head_tx"),
        _sig("turn_left", "hold", "head_yaw", 1.0, 6.5, "head_tx gaze_x"),
        _sig("turn_right", "hold", "head_yaw", -1.0, 6.5, "head_tx gaze_x"),
        _sig("look_up", "hold", "head_pitch", -1.0, 4.5, "head_ty gaze_y"),
        _sig("look_down", "hold", "head_pitch", 1.0, 4.5, "head_ty gaze_y"),
        _sig("smile", "hold", "smile", 1.0, 0.15),
        _sig("laugh", "laugh", "smile", 1.0, 0.25, f"{_EYES} jaw_open head_pitch head_ty"),
        _sig("frown", "hold", "smile", -1.0, 0.15, "brow_raise"),
        _sig("raise_eyebrows", "hold", "brow_raise", 1.0, 0.2, "jaw_open"),
        _sig("furrow", "hold", "brow_raise", -1.0, 0.2, "smile"),
        _sig("close_eyes", "closed", "blink_left", 1.0, 0.5, _EYES),
        _sig("blink_rapidly", "pulses", "blink_left", 1.0, 0.45, _EYES),
        _sig("wink_left", "wink", "blink_right", 1.0, 0.45, f"{_EYES} smile"),  # subject's left eye = image right
        _sig("wink_right", "wink", "blink_left", 1.0, 0.45, f"{_EYES} smile"),
        _sig("pout", "hold", "lip_pucker", 1.0, 0.2, "smile"),
        _sig("glance_left", "hold", "gaze_x", 1.0, 0.22),
        _sig("glance_right", "hold", "gaze_x", -1.0, 0.22),
        _sig("lean_in", "hold", "head_scale", 1.0, 0.035, "head_ty head_pitch"),
        _sig(
            "stay_still",
            "still",
            "head_yaw",
            1.0,
            1.4,
            "head_pitch head_roll head_tx head_ty head_scale gaze_x gaze_y",
        ),
    ]
}
SQUINT_RANGE = (0.15, 0.75)  # eyelid closure of a laugh's squint (more is "eyes closed")
MAX_BURST_WIDTH_S = 0.9  # a nod/shake excursion is narrower than this at half height
MAX_BLINK_GAP_S = 0.7  # rapid blinks follow each other at most this far apart


def action_signature(label: str) -> tuple[ActionSignature, ...]:
    """The signature of each atomic part of ``label`` (``"smile+nod"`` -> smile's, nod's)."""
    try:
        return tuple(_SIGNATURES[p] for p in label.split("+"))
    except KeyError as err:
        raise KeyError(f"unknown action label {err.args[0]!r}; known: {', '.join(_SIGNATURES)}") from None


# --------------------------------------------------------------------------------------------------- helpers
def _check_motion(motion: np.ndarray) -> np.ndarray:
    motion = np.asarray(motion, dtype=np.float64)
    if motion.ndim != 2 or motion.shape[1] != MOTION_DIM:
        raise ValueError(f"motion must be (T, {MOTION_DIM}), got {motion.shape}")
    return motion


def smooth(x: np.ndarray) -> np.ndarray:
    """3-frame median (removes single-frame tracking spikes) then 3-frame mean, along axis 0, edge-padded."""
    from scipy.ndimage import median_filter, uniform_filter1d

    x = median_filter(np.asarray(x, dtype=np.float64), size=(3,) + (1,) * (np.ndim(x) - 1), mode="nearest")
    return uniform_filter1d(x, 3, axis=0, mode="nearest")


def _frames(num_frames: int, fps: float, start: float, end: float) -> np.ndarray:
    """(T,) bool: frames whose midpoint lies in ``[start, end)`` (the ``phases`` convention)."""
    mid = (np.arange(num_frames) + 0.5) / fps
    return (mid >= start) & (mid < end)


def _core(num_frames: int, fps: float, start: float, end: float) -> np.ndarray:
    """The window without its onset/offset ramps (at most 0.3 s or a quarter of the window at each end)."""
    cut = min(0.3, (end - start) / 4)
    return _frames(num_frames, fps, start + cut, end - cut)


def _outside(num_frames: int, fps: float, start: float, end: float, guard_s: float, exclude=()) -> np.ndarray:
    out = ~_frames(num_frames, fps, start - guard_s, end + guard_s)
    for a, b in exclude:
        out &= ~_frames(num_frames, fps, a - guard_s, b + guard_s)
    return out


def _baseline(sm: np.ndarray, outside: np.ndarray, baseline) -> np.ndarray:
    """(D,) reference pose: given, or the median of the outside frames, or neutral (zeros) if there are none."""
    if baseline is not None:
        b = np.asarray(baseline, dtype=np.float64)
        return np.median(b, axis=0) if b.ndim == 2 else b
    if outside.sum() >= 3:
        return np.median(sm[outside], axis=0)
    return np.zeros(sm.shape[1])


def _activation(sm: np.ndarray, b: np.ndarray, sig: ActionSignature) -> np.ndarray:
    """(T,) >= 0: how strongly the action is present at each frame, in ``sig.channel`` units."""
    if sig.pattern in ("closed", "pulses"):
        eyes = np.minimum(sm[:, MOTION_INDEX["blink_left"]], sm[:, MOTION_INDEX["blink_right"]])
        return np.maximum(eyes - min(b[MOTION_INDEX["blink_left"]], b[MOTION_INDEX["blink_right"]]), 0)
    if sig.pattern == "wink":
        other = "blink_left" if sig.channel == "blink_right" else "blink_right"
        return np.maximum(sm[:, MOTION_INDEX[sig.channel]] - sm[:, MOTION_INDEX[other]], 0)
    if sig.pattern == "still":
        return np.zeros(len(sm))
    x = sm[:, MOTION_INDEX[sig.channel]] - b[MOTION_INDEX[sig.channel]]
    if sig.pattern == "shake":
        return np.abs(x)
    return np.maximum(sig.sign * x, 0)


def _squint(sm: np.ndarray, b: np.ndarray) -> np.ndarray:
    i, j = MOTION_INDEX["blink_left"], MOTION_INDEX["blink_right"]
    return np.minimum(sm[:, i] - b[i], sm[:, j] - b[j])


def _bursts(x: np.ndarray, fps: float, prominence: float) -> np.ndarray:
    """Indices of narrow peaks of ``x`` (prominence >= ``prominence``, half-height width < MAX_BURST_WIDTH_S)."""
    from scipy.signal import find_peaks

    peaks, _ = find_peaks(np.pad(x, 1, mode="edge"), prominence=prominence, width=(None, MAX_BURST_WIDTH_S * fps))
    return peaks - 1


# Texts that name no side ("turns her head away") are scored as whichever side the motion took.
SIDE_FREE: dict[str, tuple[str, str, str]] = {
    "turn": ("turn_left", "turn_right", "head_yaw"),
    "tilt": ("tilt_left", "tilt_right", "head_roll"),
    "glance": ("glance_left", "glance_right", "gaze_x"),
}


def resolve_sides(motion: np.ndarray, fps: float, label: str, start: float, end: float) -> str:
    """``label`` with each side-free part ("turn", "tilt", "glance") replaced by the side the motion took inside
    ``[start, end)``: the sign of the window's mean offset on the part's channel from the frames outside it (the
    subject's left is positive on each of these channels, see ``_SIGNATURES``)."""
    parts = label.split("+")
    if not any(p in SIDE_FREE for p in parts):
        return label
    sm = smooth(_check_motion(motion))
    n = len(sm)
    b = _baseline(sm, _outside(n, fps, start, end, 0.2, ()), None)
    win = _frames(n, fps, start, end)
    out = []
    for p in parts:
        if p in SIDE_FREE:
            left, right, channel = SIDE_FREE[p]
            c = MOTION_INDEX[channel]
            offset = float(np.mean(sm[win, c] - b[c])) if win.any() else 0.0
            p = left if offset >= 0 else right
        out.append(p)
    return "+".join(out)


def _events(sm, fps, sig: ActionSignature, start, end, b) -> list[int]:
    """Frame indices of the repetitions of a peak-based action (nod, shake, blink, wink) inside the window: nod
    bursts, shake swings (a burst to one side with one to the other within ``MAX_BURST_WIDTH_S``), eyelid peaks."""
    n = len(sm)
    win = _frames(n, fps, start, end)
    if win.sum() == 0:
        return []
    # The window plus a frame of context so an edge peak keeps its shape.
    idx = np.nonzero(win)[0]
    lo, hi = max(idx[0] - 1, 0), min(idx[-1] + 2, n)
    x = sm[lo:hi, MOTION_INDEX[sig.channel]]
    inside = lambda p: win[lo + p]  # noqa: E731
    if sig.pattern == "nod":
        return [lo + p for p in _bursts(sig.sign * x, fps, sig.threshold) if inside(p)]
    if sig.pattern == "shake":
        ups = [p for p in _bursts(x, fps, sig.threshold) if inside(p)]
        downs = [p for p in _bursts(-x, fps, sig.threshold) if inside(p)]
        return [lo + u for u in ups if any(abs(u - d) <= MAX_BURST_WIDTH_S * fps for d in downs)]
    if sig.pattern in ("pulses", "wink"):
        from scipy.signal import find_peaks

        seg = _activation(sm, b, sig)[lo:hi]
        peaks, _ = find_peaks(np.pad(seg, 1), height=sig.threshold, prominence=sig.threshold * 0.8)
        return [lo + p - 1 for p in peaks if inside(p - 1)]
    raise ValueError(f"{sig.label} has no repetitions to count")


COUNTABLE_PATTERNS = ("nod", "shake", "pulses", "wink")


def count_repetitions(motion: np.ndarray, fps: float, label: str, start: float, end: float, *, baseline=None):
    """How many times the (atomic, countable) action ``label`` happens inside ``[start, end)``: nods, head-shake
    swings, blinks or winks, as ``detect_action`` sees them."""
    (sig,) = action_signature(label)
    sm = smooth(_check_motion(motion))
    b = _baseline(sm, _outside(len(sm), fps, start, end, 0.2, ()), baseline)
    return len(_events(sm, fps, sig, start, end, b))


def off_target(motion: np.ndarray, fps: float, label: str, start: float, end: float) -> dict[str, float]:
    """Motion in channels ``label`` does not ask for, inside its window: ``head_deg`` (the head angles' 10–90 %
    range, as ``stay_still`` is judged) for an action that moves no head angle, ``brow``/``smile`` (10–90 %
    range, expression units) for one that moves neither. ``stay_still`` gets its own head range, the yardstick:
    compared with it, this says whether an eyebrow raise also turns the head."""
    sigs = action_signature(label)
    affects = {c for sig in sigs for c in sig.affects}
    sm = smooth(_check_motion(motion))
    core = _core(len(sm), fps, start, end)
    if core.sum() < 3:
        return {}
    out = {}
    still = any(sig.pattern == "still" for sig in sigs)
    if still or not affects & set(HEAD_ANGLES):  # a still phase's own head range is the yardstick
        out["head_deg"] = _head_activity(sm, core)
    for name in ("brow_raise", "smile"):
        if name not in affects:
            x = sm[core, MOTION_INDEX[name]]
            out[name] = float(np.percentile(x, 90) - np.percentile(x, 10))
    return out


def _detect_part(sm, fps, sig: ActionSignature, start, end, b) -> bool:
    n = len(sm)
    win, core = _frames(n, fps, start, end), _core(n, fps, start, end)
    if win.sum() == 0:
        return False
    core = core if core.sum() >= 2 else win
    act = _activation(sm, b, sig)
    if sig.pattern == "hold":
        return bool(np.percentile(act[core], 25) >= sig.threshold)
    if sig.pattern == "closed":
        return bool(np.percentile(act[core], 25) >= sig.threshold)
    if sig.pattern == "laugh":
        squint = np.median(_squint(sm, b)[core])
        return bool(np.percentile(act[core], 25) >= sig.threshold and SQUINT_RANGE[0] <= squint <= SQUINT_RANGE[1])
    if sig.pattern in ("nod", "shake", "wink"):
        return len(_events(sm, fps, sig, start, end, b)) >= 1
    if sig.pattern == "pulses":
        peaks = _events(sm, fps, sig, start, end, b)
        return len(peaks) >= 2 and float(np.max(np.diff(peaks))) <= MAX_BLINK_GAP_S * fps
    if sig.pattern == "still":
        return _head_activity(sm, core) <= sig.threshold
    raise ValueError(f"unknown pattern {sig.pattern!r}")


def _head_activity(sm: np.ndarray, sel: np.ndarray) -> float:
    """Largest 10–90% range (degrees) of the head angles over ``sel``, after a further 5-frame mean."""
    from scipy.ndimage import uniform_filter1d

    head = uniform_filter1d(sm[:, [MOTION_INDEX[c] for c in HEAD_ANGLES]], 5, axis=0, mode="nearest")[sel]
    return float(np.max(np.percentile(head, 90, axis=0) - np.percentile(head, 10, axis=0)))


# ---------------------------------------------------------------------------------------------- phase metrics
def detect_action(
    motion: np.ndarray,
    fps: float,
    label: str,
    start: float,
    end: float,
    *,
    baseline: np.ndarray | None = None,
    guard_s: float = 0.2,
    exclude: Sequence[tuple[float, float]] = (),
) -> bool:
    """Is ``label``'s signature present inside ``[start, end)``? (phase action accuracy)

    ``baseline``: a (D,) resting pose or a (T', D) reference motion (its median is used); by default the median
    of the frames outside the window (``guard_s`` away from it and from the ``exclude`` windows)."""
    sm = smooth(_check_motion(motion))
    b = _baseline(sm, _outside(len(sm), fps, start, end, guard_s, exclude), baseline)
    return all(_detect_part(sm, fps, sig, start, end, b) for sig in action_signature(label))


def _energy(sm, fps, label, b) -> np.ndarray:
    """(T,) action energy: sum over parts of (activation / threshold)^2."""
    e = np.zeros(len(sm))
    for sig in action_signature(label):
        e += (_activation(sm, b, sig) / sig.threshold) ** 2
    return e


def leakage(
    motion: np.ndarray,
    fps: float,
    label: str,
    start: float,
    end: float,
    *,
    baseline: np.ndarray | None = None,
    guard_s: float = 0.2,
    exclude: Sequence[tuple[float, float]] = (),
) -> float:
    """Action energy outside the window ÷ inside, both above idle level (lower is better; docs/DESIGN.md, Metrics).

    Energy is ``(activation / threshold)^2`` summed over the label's parts; the idle level is the median
    energy of the outside frames (what idle motion and tracker noise produce), subtracted from both means.
    Frames within ``guard_s`` of the window and the ``exclude`` windows (other phases with the same action) are
    not "outside". ``nan`` when the action is not present inside (nothing to leak) or for ``stay_still``."""
    if all(sig.pattern == "still" for sig in action_signature(label)):
        return math.nan
    sm = smooth(_check_motion(motion))
    n = len(sm)
    outside = _outside(n, fps, start, end, guard_s, exclude)
    b = _baseline(sm, outside, baseline)
    e = _energy(sm, fps, label, b)
    win = _frames(n, fps, start, end)
    if win.sum() == 0 or outside.sum() == 0:
        return math.nan
    idle = float(np.median(e[outside]))
    inside = float(e[win].mean()) - idle
    if inside <= 0.25:  # less than a quarter of the threshold energy: the action is not there
        return math.nan
    return max(float(e[outside].mean()) - idle, 0.0) / inside


def onset_error_ms(
    motion: np.ndarray,
    fps: float,
    label: str,
    start: float,
    end: float,
    *,
    baseline: np.ndarray | None = None,
    guard_s: float = 0.2,
    lead_s: float = 0.5,
    exclude: Sequence[tuple[float, float]] = (),
) -> float:
    """Signed time (ms) from the phase start to the moment the action first reaches half of its in-window peak,
    searched from ``lead_s`` before the start (negative = early). docs/DESIGN.md, Metrics: the median of |value|.
    For a combination, the mean over parts; ``nan`` for ``stay_still`` or when the action is absent."""
    sm = smooth(_check_motion(motion))
    n = len(sm)
    b = _baseline(sm, _outside(n, fps, start, end, guard_s, exclude), baseline)
    win = _frames(n, fps, start, end)
    search = np.nonzero(_frames(n, fps, start - lead_s, end))[0]
    if win.sum() == 0:
        return math.nan
    onsets = []
    for sig in action_signature(label):
        if sig.pattern == "still":
            continue
        act = _activation(sm, b, sig)
        peak = float(act[win].max())
        if peak < 0.5 * sig.threshold:
            return math.nan
        half = 0.5 * peak
        hit = search[np.argmax(act[search] >= half)]
        t = (hit + 0.5) / fps
        if hit > 0 and act[hit - 1] < half:  # interpolate between the frame midpoints for sub-frame accuracy
            frac = (half - act[hit - 1]) / max(act[hit] - act[hit - 1], 1e-9)
            t = (hit - 0.5 + frac) / fps
        onsets.append((t - start) * 1000.0)
    return float(np.mean(onsets)) if onsets else math.nan


AMPLITUDE_PATTERNS = ("hold", "nod", "shake")  # head pose, expression offsets, gaze: a size in channel units


def action_amplitudes(
    motion: np.ndarray, fps: float, phases: Sequence[tuple[str, float, float]]
) -> list[tuple[str, float]]:
    """``(part, amplitude)`` for every part of every phase whose pattern has a size (``AMPLITUDE_PATTERNS``): the
    peak offset inside the window from the clip's resting pose, along the action's direction (either way for a
    shake), in channel units (degrees, face widths, expression units). Compared with the ground truth of the same
    clip it tells a natural action from an exaggerated one, which phase accuracy (a threshold) cannot."""
    sm = smooth(_check_motion(motion))
    b = clip_baseline(motion, fps, phases)
    out = []
    for label, start, end in phases:
        win = _frames(len(sm), fps, start, end)
        for sig in action_signature(label):
            if sig.pattern not in AMPLITUDE_PATTERNS or not win.any():
                continue
            x = sm[win, MOTION_INDEX[sig.channel]] - b[MOTION_INDEX[sig.channel]]
            out.append((sig.label, float(np.abs(x).max() if sig.pattern == "shake" else (sig.sign * x).max())))
    return out


def amplitude_ratios(
    motion: np.ndarray, reference: np.ndarray, fps: float, phases: Sequence[tuple[str, float, float]]
) -> list[tuple[str, float]]:
    """``(part, motion's amplitude ÷ reference's)`` per part (see ``action_amplitudes``), for parts whose reference
    amplitude is at least half the detection threshold (a ratio to nothing says nothing)."""
    ours, ref = action_amplitudes(motion, fps, phases), action_amplitudes(reference, fps, phases)
    return [(p, a / r) for (p, a), (_, r) in zip(ours, ref, strict=True) if r >= 0.5 * _SIGNATURES[p].threshold]


def clip_baseline(
    motion: np.ndarray, fps: float, phases: Sequence[tuple[str, float, float]], guard_s: float = 0.2
) -> np.ndarray:
    """(D,) the clip's resting pose: per channel, the median of the frames outside every phase that moves that
    channel (so a smile elsewhere does not shift the smile baseline). A channel with less than 0.5 s free of such
    phases falls back to the neutral pose (0: the generator's rest pose; for extracted motion, the clip's first
    frames), as ``detect_action`` does without a baseline. (It used to fall back to the whole clip's median,
    which *is* the action when a phase covers most of the clip: "turns right" over 3.1 s of a 3.1 s clip was
    never detected, about 4 % of all synthetic ground-truth phases.)"""
    sm = smooth(_check_motion(motion))
    n = len(sm)
    out = np.zeros(sm.shape[1])
    for c, name in enumerate(MOTION_INDEX):
        free = np.ones(n, bool)
        for label, start, end in phases:
            if any(name in sig.affects for sig in action_signature(label)):
                free &= ~_frames(n, fps, start - guard_s, end + guard_s)
        if free.sum() >= max(3, int(0.5 * fps)):
            out[c] = np.median(sm[free, c])
    return out


def score_phases(
    motion: np.ndarray, fps: float, phases: Sequence[tuple[str, float, float]], *, baseline: np.ndarray | None = None
) -> list[dict]:
    """Per phase ``(label, start, end)``: ``detected``, ``leakage`` and ``onset_ms``, against ``clip_baseline``
    (unless a baseline is given). Other phases with an action sharing a part are excluded from each other's
    "outside", so repeating an action is not leakage."""
    asked = [label for label, _, _ in phases]
    phases = [(resolve_sides(motion, fps, label, start, end), start, end) for label, start, end in phases]
    baseline = clip_baseline(motion, fps, phases) if baseline is None else baseline
    out = []
    for k, (label, start, end) in enumerate(phases):
        mine = set(label.split("+"))
        exclude = [(a, b) for j, (lab, a, b) in enumerate(phases) if j != k and mine & set(lab.split("+"))]
        kw = {"baseline": baseline, "exclude": exclude}
        out.append(
            {
                "label": asked[k],
                "performed_as": label,  # a side-free part ("turn") resolved to the side the motion took
                "start": start,
                "end": end,
                "detected": detect_action(motion, fps, label, start, end, **kw),
                "leakage": leakage(motion, fps, label, start, end, **kw),
                "onset_ms": onset_error_ms(motion, fps, label, start, end, **kw),
            }
        )
    return out


# ---------------------------------------------------------------------------------------------------- lip sync
def _loudness_db(audio: np.ndarray, sr: int, rate: float) -> np.ndarray:
    """Per-interval loudness in dBFS at ``rate`` Hz (interval k covers [k / rate, (k + 1) / rate))."""
    from ..audio import SAMPLE_RATE, loudness_envelope

    audio = np.asarray(audio, dtype=np.float32).reshape(-1)
    if sr != SAMPLE_RATE:
        from scipy.signal import resample_poly

        g = math.gcd(int(sr), SAMPLE_RATE)
        audio = resample_poly(audio, SAMPLE_RATE // g, int(sr) // g).astype(np.float32)
    rms = loudness_envelope(audio, rate)
    return 20.0 * np.log10(np.maximum(rms, 1e-5))


def lip_sync(
    jaw_open: np.ndarray, audio: np.ndarray, sr: int, fps: float, max_lag_ms: float = 200.0
) -> tuple[float, float]:
    """Pearson correlation of mouth opening with the loudness envelope (dB, floored 50 dB below the clip's
    speech level) at the best lag within ±``max_lag_ms``, and that lag in ms (> 0: the mouth moves after the
    sound). Both signals are compared at 100 Hz (the mouth is interpolated between frame midpoints)."""
    jaw = np.asarray(jaw_open, dtype=np.float64).reshape(-1)
    loud = _loudness_db(audio, sr, LIP_SYNC_RATE)
    loud = np.maximum(loud, np.percentile(loud, 95) - 50.0)
    t = (np.arange(len(loud)) + 0.5) / LIP_SYNC_RATE
    t_frames = (np.arange(len(jaw)) + 0.5) / fps
    n = min(len(loud), int(math.floor(t_frames[-1] * LIP_SYNC_RATE)))
    mouth = np.interp(t[:n], t_frames, smooth(jaw))
    loud = loud[:n]
    max_lag = int(round(max_lag_ms / 1000.0 * LIP_SYNC_RATE))
    lags = np.arange(-max_lag, max_lag + 1)
    corrs = np.array([_pearson(mouth[max(k, 0) : n + min(k, 0)], loud[max(-k, 0) : n - max(k, 0)]) for k in lags])
    if not np.isfinite(corrs).any():
        return math.nan, math.nan
    i = int(np.nanargmax(corrs))
    lag = float(lags[i])
    if 0 < i < len(lags) - 1 and np.isfinite(corrs[i - 1 : i + 2]).all():  # parabolic peak interpolation
        a, c, d = corrs[i - 1], corrs[i], corrs[i + 1]
        denom = a - 2 * c + d
        if denom < 0:
            lag += 0.5 * (a - d) / denom
    return float(corrs[i]), lag * 1000.0 / LIP_SYNC_RATE


def lip_sync_in_window(
    jaw_open: np.ndarray, audio: np.ndarray, sr: int, fps: float, start: float, end: float, max_lag_ms: float = 200.0
) -> tuple[float, float]:
    """``lip_sync`` restricted to the frames of ``[start, end)`` and the audio under them: does the mouth still follow
    the speech while a phase asks the face for something else? ``(nan, nan)`` for a window of under 3 frames."""
    idx = np.flatnonzero(_frames(len(jaw_open), fps, start, end))
    if len(idx) < 3:
        return math.nan, math.nan
    a0, a1 = int(round(idx[0] / fps * sr)), int(round((idx[-1] + 1) / fps * sr))
    return lip_sync(np.asarray(jaw_open)[idx[0] : idx[-1] + 1], np.asarray(audio)[a0:a1], sr, fps, max_lag_ms)


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    if len(a) < 3:
        return math.nan
    a, b = a - a.mean(), b - b.mean()
    den = math.sqrt(float((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / den) if den > 0 else math.nan


def mouth_closed_on_silence(
    jaw_open: np.ndarray,
    audio: np.ndarray,
    sr: int,
    fps: float,
    *,
    threshold: float = 0.1,
    silence_db: float = 35.0,
    min_silence_s: float = 0.2,
    margin_s: float = 0.1,
    exclude: Sequence[tuple[float, float]] = (),
) -> float:
    """Share of silent frames whose ``jaw_open`` is below ``threshold`` (``nan`` if there is no silence).

    A frame is silent when its loudness is ``silence_db`` below the clip's speech level (95th percentile) inside a
    run of at least ``min_silence_s``; ``margin_s`` at each end of a run is skipped (the mouth closes after the
    sound stops), and so are the ``exclude`` windows (e.g. phases that laugh or gasp)."""
    jaw = smooth(np.asarray(jaw_open, dtype=np.float64).reshape(-1))
    loud = _loudness_db(audio, sr, fps)[: len(jaw)]
    silent = loud < np.percentile(loud, 95) - silence_db
    silent = np.concatenate([silent, np.zeros(len(jaw) - len(silent), bool)])
    keep = np.zeros(len(jaw), bool)
    min_len, margin = int(round(min_silence_s * fps)), int(round(margin_s * fps))
    k = 0
    while k < len(silent):
        if not silent[k]:
            k += 1
            continue
        j = k
        while j < len(silent) and silent[j]:
            j += 1
        if j - k >= min_len:
            # The clip's own edges need no margin: nothing is being said before the start or after the end.
            keep[k + (margin if k > 0 else 0) : j - (margin if j < len(silent) else 0)] = True
        k = j
    for a, b in exclude:
        keep &= ~_frames(len(jaw), fps, a, b)
    if not keep.any():
        return math.nan
    return float((jaw[keep] < threshold).mean())


# --------------------------------------------------------------------------------------------------- stability
def stability_jitter(
    motion: np.ndarray,
    fps: float,
    start: float | None = None,
    end: float | None = None,
    channels: Sequence[str] = HEAD_ANGLES,
) -> float:
    """Frame-to-frame jitter (degrees for head angles): RMS of the second difference / sqrt(6), averaged over
    ``channels``, inside ``[start, end)`` (default: the whole clip). For white noise of std s it returns s, and
    smooth motion barely adds to it, so it measures shake, not intended movement."""
    motion = _check_motion(motion)
    sel = _frames(len(motion), fps, 0.0 if start is None else start, math.inf if end is None else end)
    x = motion[sel][:, [MOTION_INDEX[c] for c in channels]]
    if len(x) < 3:
        return math.nan
    d2 = np.diff(x, n=2, axis=0)
    return float(np.mean(np.sqrt(np.mean(d2**2, axis=0)) / math.sqrt(6.0)))
