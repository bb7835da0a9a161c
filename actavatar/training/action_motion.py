"""How the synthetic data's actions move the face: speaking moods and base prompts, each action's motion inside
its window (``add_action``), the speaker's idle motion (``idle_motion``) and the speaking gate that keeps the jaw
closed in the speech's pauses. The vocabulary and phrasings are in ``actions``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..motion import MOTION_DIM, MOTION_INDEX
from .actions import _BANK, ACTIONS, ActionPart, ActionSpec, _pick, parts_of, split_items


@dataclass(frozen=True)
class Mood:
    """How a speaking style shapes idle motion (head movement scale, resting expression, blink rate)."""

    name: str
    head: float = 1.0  # idle head-motion scale
    smile: float = 0.0  # resting smile
    brow: float = 0.0  # resting brow
    pitch: float = 0.0  # resting head pitch (deg; > 0 = chin down)
    blink_interval: tuple[float, float] = (2.0, 6.0)  # seconds between blinks
    gaze_interval: tuple[float, float] = (1.5, 4.0)
    articulation: float = 1.0  # jaw opening scale
    words: tuple[str, ...] = field(default=())  # adverbs/adjectives that name the mood in base prompts


def _mood(entry: dict) -> Mood:
    tuples = {k: tuple(entry[k]) for k in ("blink_interval", "gaze_interval", "words") if k in entry}
    return Mood(**{**entry, **tuples})


MOODS: dict[str, Mood] = {m.name: m for m in map(_mood, _BANK["mood"])}
_PEOPLE: tuple[str, ...] = tuple(_BANK["base"]["people"])
_STYLES: tuple[str, ...] = tuple(_BANK["base"]["styles"])
_BASE_TEMPLATES: tuple[str, ...] = tuple(_BANK["base"]["templates"])


def sample_base_prompt(rng: np.random.Generator, split: str) -> tuple[str, Mood]:
    """A base prompt naming a person, a mood and a style, and the ``Mood`` it means."""
    mood = _pick(rng, tuple(MOODS.values()))
    word = _pick(rng, split_items(mood.words, split, share=0.25, salt=mood.name))
    template = _pick(rng, split_items(_BASE_TEMPLATES, split, salt="base"))
    # Adjectives read badly after "talking"; turn "calm" into "in a calm way".
    adv = word if word.endswith("ly") else f"in a {word} way"
    text = template.format(who=_pick(rng, _PEOPLE), adv=adv, style=_pick(rng, _STYLES))
    return text[0].upper() + text[1:], mood


def window_frames(num_frames: int, fps: float, start: float, end: float) -> np.ndarray:
    """Indices of the frames whose midpoint lies in ``[start, end)`` (the ``phases`` convention)."""
    mid = (np.arange(num_frames) + 0.5) / fps
    return np.nonzero((mid >= start) & (mid < end))[0]


def _ramp(t: np.ndarray, duration: float, rise: float, fall: float) -> np.ndarray:
    """Raised-cosine envelope: 0 -> 1 over ``rise`` s after 0, 1 -> 0 over ``fall`` s before ``duration``."""
    up = np.clip(t / max(rise, 1e-6), 0, 1)
    down = np.clip((duration - t) / max(fall, 1e-6), 0, 1)
    return 0.5 - 0.5 * np.cos(np.pi * np.minimum(up, down))


def _cycles(duration: float, period: float, count: int | None, cap: int = 6) -> tuple[int, float]:
    """How many repetitions fit (or the requested count, squeezed into the window) and their period."""
    usable = duration * 0.9
    if count is None:
        count = int(np.clip(np.floor(usable / period), 1, cap))
    return count, min(period, usable / count)


REP_LEAD_S, REP_TAIL_S = 0.08, 0.1  # repetitions start this long after the window start, end this long before its end
MIN_REP_PERIOD_S = 0.32  # faster repetitions blur into one after smoothing/rendering: fewer are done instead


def repetition_starts(
    duration: float,
    period: float,
    count: int | None,
    cap: int,
    min_count: int = 1,
    min_period: float = MIN_REP_PERIOD_S,
) -> tuple[np.ndarray, float]:
    """Deterministic layout of repeated gestures (nods, rapid blinks) in a window: ``(starts, period)``.

    ``count=None`` fills the window with back-to-back repetitions of about ``period`` (at least ``min_count``, at
    most ``cap``, then evenly spread). A requested count is squeezed into the window (period not below
    ``min_period``; fewer repetitions when even that does not fit). The first repetition starts
    ``REP_LEAD_S`` after the window start, the last ends ``REP_TAIL_S`` before its end, the rest are evenly spaced
    in between: the same window and words always give the same positions, so a model learns an oscillation
    rather than the average of randomly phased ones (a held offset)."""
    usable = max(duration - REP_LEAD_S - REP_TAIL_S, 1e-3)
    if count is None:
        count = int(np.clip(np.round(usable / period), min_count, cap))
        period = min(period * 1.5, usable / count)  # back to back, or evenly spread when capped
    period = max(min(period, usable / count), min(min_period, usable))
    count = max(1, min(count, int(np.floor(usable / period + 1e-9))))
    step = (usable - period) / (count - 1) if count > 1 else 0.0
    return REP_LEAD_S + step * np.arange(count), period


def _repeat(t: np.ndarray, starts: np.ndarray, period: float, shape) -> np.ndarray:
    """Sum of ``shape(u)`` (``u`` in [0, 1) within each repetition, 0 outside) over the repetitions."""
    out = np.zeros_like(t, dtype=np.float64)
    for s in starts:
        u = (t - s) / period
        inside = (u >= 0) & (u < 1)
        out[inside] += shape(u[inside])
    return out


def _nod_shape(u: np.ndarray) -> np.ndarray:
    """One nod: chin down (+1) then a smaller rebound up (-0.7); nearly zero mean, so a nod is an oscillation."""
    s = np.sin(2 * np.pi * u)
    return np.where(s > 0, s, 0.7 * s)


def _blink_shape(u: np.ndarray) -> np.ndarray:
    """One quick blink: close and reopen over the first 60 % of the period, open for the rest."""
    return np.where(u < 0.6, np.sin(np.pi * np.clip(u / 0.6, 0, 1)), 0.0)


# The audio owns the mouth: an action's ``jaw_open`` holds only while the person speaks, and in pauses (the clip's
# edges and gaps between words of at least MIN_PAUSE_S) it fades to closed over MOUTH_FADE_S, so the synthetic truth
# never shows an open mouth on silence that the sound does not explain (the speech's own lip motion, from the
# visemes, still shows through inside speech). Actions whose text asks for an open mouth ("opens her mouth wide",
# "yawns") would keep it through pauses: none exists yet. Raised eyebrows (surprise) and laughing (silent here: the
# synthetic audio holds no laughter) both follow the rule.
MIN_PAUSE_S = 0.25
MOUTH_FADE_S = 0.1
MOUTH_OPENING_ACTIONS: frozenset[str] = frozenset()


def speaking_gate(
    times: np.ndarray,
    words: Sequence[tuple[float, float, str]] | Sequence[Sequence],
    min_pause: float = MIN_PAUSE_S,
    fade: float = MOUTH_FADE_S,
) -> np.ndarray:
    """(len(times),) in [0, 1]: 1 while speaking, 0 inside pauses (before the first word, after the last one, and
    gaps of at least ``min_pause`` between words), with raised-cosine fades ``fade`` s into each pause."""
    t = np.asarray(times, dtype=np.float64)
    spans = sorted((float(w[0]), float(w[1])) for w in words)
    if not spans:
        return np.zeros_like(t)
    gaps = [(-np.inf, spans[0][0])]
    end = spans[0][1]
    for start, stop in spans[1:]:
        if start - end >= min_pause:
            gaps.append((end, start))
        end = max(end, stop)
    gaps.append((end, np.inf))
    gate = np.ones_like(t)
    for a, b in gaps:
        depth = np.minimum(t - a, b - t)  # how far inside the pause
        inside = depth > 0
        u = np.clip(depth[inside] / max(fade, 1e-6), 0.0, 1.0)
        gate[inside] = np.minimum(gate[inside], 0.5 + 0.5 * np.cos(np.pi * u))
    return gate


EYE_LIDS = ("blink_left", "blink_right")
HEAD_ANGLES = ("head_pitch", "head_yaw", "head_roll")
HEAD_HOLD = 0.35  # share of the idle head-angle variation kept inside an action window that moves no head angle
_LID_ACTIONS = {"close_eyes", "blink_rapidly", "wink_left", "wink_right", "laugh"}  # replace the idle blinks


@dataclass(frozen=True)
class HeldChannel:
    """One channel of a held action (``[motion.<label>]`` in actions.toml): its offset at intensity 1."""

    amplitude: float
    envelope: str = "hold"  # "hold": the action's rise and fall; "fast": a quick rise and fall (eyes)
    cap: float | None = None  # the intensity is capped here
    intensity: bool = True  # False: the same size at any intensity

    def values(self, a: float, envelopes: dict[str, np.ndarray]) -> np.ndarray:
        env = envelopes[self.envelope]
        if not self.intensity:
            return self.amplitude * env
        return self.amplitude * (a if self.cap is None else min(a, self.cap)) * env


def _held(table: dict) -> dict[str, dict[str, HeldChannel]]:
    out = {}
    for label, channels in table.items():
        if label not in ACTIONS or any(ch not in MOTION_INDEX for ch in channels):
            raise ValueError(f"actions.toml [motion.{label}]: unknown action or channel")
        out[label] = {
            ch: HeldChannel(**spec) if isinstance(spec, dict) else HeldChannel(float(spec))
            for ch, spec in channels.items()
        }
    return out


HELD: dict[str, dict[str, HeldChannel]] = _held(_BANK["motion"])  # the held actions' motion, read from the data


def _nod(part: ActionPart, t: np.ndarray, duration: float, a: float, env: dict) -> dict[str, np.ndarray]:
    starts, period = repetition_starts(duration, 0.6 / part.speed, part.count, cap=5)
    pitch = 8.5 * a * _repeat(t, starts, period, _nod_shape)
    return {"head_pitch": pitch, "head_ty": 0.0015 * pitch}


def _shake(part: ActionPart, t: np.ndarray, duration: float, a: float, env: dict) -> dict[str, np.ndarray]:
    n, period = _cycles(duration, 0.6 / part.speed, part.count, cap=5)
    if period < MIN_REP_PERIOD_S:  # "four times" in a short window: fewer, visible shakes
        n = max(1, int(duration * 0.9 / MIN_REP_PERIOD_S))
        period = min(MIN_REP_PERIOD_S, duration * 0.9 / n)
    u = np.clip(t / period, 0, n)
    taper = np.sin(np.pi * u / n) ** 0.5  # starts and ends at rest
    return {"head_yaw": 11.0 * a * np.sin(2 * np.pi * u) * taper * (t < n * period)}


def _laugh(part: ActionPart, t: np.ndarray, duration: float, a: float, env: dict) -> dict[str, np.ndarray]:
    hold = env["hold"]
    bounce = 0.5 + 0.5 * np.sin(2 * np.pi * 4.5 * part.speed * t)
    return {
        "smile": 0.85 * a * hold,
        "blink_left": 0.4 * hold,
        "blink_right": 0.4 * hold,
        "jaw_open": (0.1 + 0.15 * bounce) * a * hold,
        "head_pitch": (-1.5 + 1.0 * bounce) * a * hold,
    }


def _close_eyes(part: ActionPart, t: np.ndarray, duration: float, a: float, env: dict) -> dict[str, np.ndarray]:
    rise = min(0.15 / part.speed, 0.25, duration / 4)  # lids close fast even when "slowly": shut for the whole core
    lids = _ramp(t, duration, rise, rise)
    return {"blink_left": lids, "blink_right": lids}


def _blink_rapidly(part: ActionPart, t: np.ndarray, duration: float, a: float, env: dict) -> dict[str, np.ndarray]:
    starts, period = repetition_starts(duration, 0.45, None, cap=16, min_count=2, min_period=0.28)
    pulse = _repeat(t, starts, period, _blink_shape)
    return {"blink_left": pulse, "blink_right": pulse}


def _wink(part: ActionPart, t: np.ndarray, duration: float, a: float, env: dict) -> dict[str, np.ndarray]:
    n, period = _cycles(duration, 0.7 / part.speed, part.count, cap=1 if part.count is None else 8)
    u = np.clip(t / period, 0, n)
    phase = u - np.floor(u)  # each wink: a quick close, a short hold, a slower open
    pulse = np.where(phase < 0.75, np.sin(np.pi * np.clip(phase / 0.75, 0, 1)) ** 0.6, 0.0)
    pulse = pulse * (t < n * period)
    eye, other = ("blink_right", "blink_left") if part.label == "wink_left" else ("blink_left", "blink_right")
    return {eye: pulse, other: 0.1 * pulse, "smile": 0.1 * env["hold"]}


# Actions whose motion is a program rather than a held offset (``HELD``).
PROGRAMS = {
    "nod": _nod,
    "shake_head": _shake,
    "laugh": _laugh,
    "close_eyes": _close_eyes,
    "blink_rapidly": _blink_rapidly,
    "wink_left": _wink,
    "wink_right": _wink,
}


def _part_motion(part: ActionPart, t: np.ndarray, duration: float, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Channel -> values (added to the motion) for one action over window-relative times ``t``: its ``HELD``
    offsets times an envelope, or its program (``PROGRAMS``)."""
    ramp = float(np.clip(0.22 / part.speed, 0.1, 0.4))
    envelopes = {
        "hold": _ramp(t, duration, min(ramp, duration / 3), min(ramp * 1.3, duration / 3)),
        "fast": _ramp(t, duration, min(0.08, duration / 4), min(0.1, duration / 4)),
    }
    a = part.intensity * float(rng.uniform(0.9, 1.1))  # person-to-person variation of the same action
    if part.label in HELD:
        return {ch: spec.values(a, envelopes) for ch, spec in HELD[part.label].items()}
    if part.label in PROGRAMS:
        return PROGRAMS[part.label](part, t, duration, a, envelopes)
    raise KeyError(f"no motion program for action {part.label!r}")


def add_action(
    motion: np.ndarray,
    fps: float,
    spec: ActionSpec | ActionPart | str,
    start: float,
    end: float,
    rng: np.random.Generator | None = None,
    idle: np.ndarray | None = None,
    words: Sequence[tuple[float, float, str]] | None = None,
) -> np.ndarray:
    """Add an action's motion to ``motion`` (T, D) in place, only on frames inside ``[start, end)``.

    ``stay_still`` subtracts the head and gaze part of ``idle`` (the idle motion already in ``motion``) inside the
    window, with the same ramps; eyelid actions (closing the eyes, blinking rapidly, winks, laughing) subtract the
    idle blinks, so the lids do only what the phase says. With the clip's ``words`` (``(start_s, end_s, word)``),
    the action's ``jaw_open`` is gated by ``speaking_gate``: closed in pauses, added to the speech's own mouth
    motion inside speech (``MOUTH_OPENING_ACTIONS`` excepted). Returns ``motion``."""
    rng = np.random.default_rng(0) if rng is None else rng
    if isinstance(spec, str):
        parts = tuple(ActionPart(p) for p in parts_of(spec))
    elif isinstance(spec, ActionPart):
        parts = (spec,)
    else:
        parts = spec.parts
    frames = window_frames(len(motion), fps, start, end)
    if len(frames) == 0:
        return motion
    duration = end - start
    t = (frames + 0.5) / fps - start  # window-relative frame midpoints
    gate = speaking_gate(t + start, words) if words is not None else None
    for part in parts:
        if part.label == "stay_still":
            if idle is not None:
                ramp = min(0.25, duration / 3)
                env = _ramp(t, duration, ramp, ramp)
                for name in ACTIONS["stay_still"].channels:
                    k = MOTION_INDEX[name]
                    motion[frames, k] -= env * idle[frames, k]
            continue
        if part.label in _LID_ACTIONS and idle is not None:  # the action's lids replace the idle blinks
            env = _ramp(t, duration, min(0.1, duration / 4), min(0.1, duration / 4))
            for name in EYE_LIDS:
                k = MOTION_INDEX[name]
                motion[frames, k] -= env * idle[frames, k]
        for name, values in _part_motion(part, t, duration, rng).items():
            if name == "jaw_open" and gate is not None and part.label not in MOUTH_OPENING_ACTIONS:
                values = values * gate
            motion[frames, MOTION_INDEX[name]] += values
    if idle is not None and not any(part.label == "stay_still" or _moves_head(part.label) for part in parts):
        # An expression or gaze action holds the head steadier: the idle head angles' variation (not their offset,
        # so nothing jumps at the edges) is scaled to HEAD_HOLD inside the window. Without this an eyebrow raise
        # carried the full speech head motion and the model learnt to move the head with it.
        env = _ramp(t, duration, min(0.25, duration / 3), min(0.25, duration / 3))
        for name in HEAD_ANGLES:
            k = MOTION_INDEX[name]
            drift = idle[frames, k] - idle[frames, k].mean()
            motion[frames, k] -= (1.0 - HEAD_HOLD) * env * drift
    return motion


def _moves_head(label: str) -> bool:
    return any(c in HEAD_ANGLES for c in ACTIONS[label].channels)


# ---------------------------------------------------------------------------------------------------- idle motion
def _smooth_noise(rng: np.random.Generator, n: int, fps: float, sigma_s: float) -> np.ndarray:
    """Unit-std Gaussian-filtered noise with correlation time ``sigma_s``."""
    from scipy.ndimage import gaussian_filter1d

    pad = int(4 * sigma_s * fps) + 1
    x = gaussian_filter1d(rng.standard_normal(n + 2 * pad), sigma_s * fps)[pad : pad + n]
    return x / (x.std() + 1e-8)


def _bump(t: np.ndarray, center: float, width: float) -> np.ndarray:
    return np.exp(-0.5 * ((t - center) / width) ** 2)


def idle_motion(
    num_frames: int,
    fps: float,
    rng: np.random.Generator,
    mood: Mood | None = None,
    words: Sequence[tuple[float, float, str]] = (),
) -> np.ndarray:
    """(T, D) natural motion of a speaker: slow head drift, small nods/turns on stressed words (prosody), blinks
    every 2–6 s (mood-dependent), gaze shifts with quick saccades, and the mood's resting expression."""
    mood = MOODS["calm"] if mood is None else mood
    out = np.zeros((num_frames, MOTION_DIM), dtype=np.float64)
    t = (np.arange(num_frames) + 0.5) / fps
    h = mood.head * rng.uniform(0.85, 1.15)
    idx = MOTION_INDEX
    # Slow drift (deg), a little roll, translation following rotation.
    out[:, idx["head_pitch"]] = 1.9 * h * _smooth_noise(rng, num_frames, fps, 0.7) + mood.pitch
    out[:, idx["head_yaw"]] = 2.4 * h * _smooth_noise(rng, num_frames, fps, 0.9)
    out[:, idx["head_roll"]] = 1.0 * h * _smooth_noise(rng, num_frames, fps, 1.0)
    # Prosody: stressed (longer) words get a small downward head beat and a slight turn.
    for start, end, _ in words:
        if end - start > 0.22 and rng.random() < 0.5:
            amp = h * rng.uniform(0.5, 1.5)
            out[:, idx["head_pitch"]] += amp * _bump(t, start + 0.1, 0.12)
            out[:, idx["head_yaw"]] += rng.normal(0, 0.6) * h * _bump(t, start + 0.12, 0.18)
    out[:, idx["head_tx"]] = 0.0015 * out[:, idx["head_yaw"]] + 0.004 * h * _smooth_noise(rng, num_frames, fps, 1.5)
    out[:, idx["head_ty"]] = 0.0012 * out[:, idx["head_pitch"]]
    out[:, idx["head_scale"]] = 0.008 * h * _smooth_noise(rng, num_frames, fps, 2.0)
    out[:, idx["smile"]] = mood.smile + 0.04 * _smooth_noise(rng, num_frames, fps, 1.5)
    out[:, idx["brow_raise"]] = mood.brow + 0.05 * _smooth_noise(rng, num_frames, fps, 1.0)
    # Blinks: close ~70 ms, open ~130 ms.
    next_blink = rng.uniform(0.2, mood.blink_interval[1] * 0.6)
    while next_blink < t[-1] + 0.5:
        rel = t - next_blink
        shape = np.where(rel < 0, np.exp(-0.5 * (rel / 0.035) ** 2), np.exp(-0.5 * (rel / 0.07) ** 2))
        depth = rng.uniform(0.85, 1.0)
        out[:, idx["blink_left"]] = np.maximum(out[:, idx["blink_left"]], depth * shape)
        out[:, idx["blink_right"]] = np.maximum(out[:, idx["blink_right"]], depth * rng.uniform(0.92, 1.0) * shape)
        next_blink += rng.uniform(*mood.blink_interval)
    # Gaze: fixations with quick (~50 ms) saccades between them, mostly near the camera.
    gx, gy = np.zeros(num_frames), np.zeros(num_frames)
    when = rng.uniform(0.3, mood.gaze_interval[1])
    x, y = 0.0, 0.0
    while when < t[-1]:
        nx, ny = (rng.normal(0, 0.08), rng.normal(0.02, 0.05)) if rng.random() < 0.6 else (0.0, 0.0)
        step = np.clip((t - when) / 0.05, 0, 1)
        gx += (nx - x) * step
        gy += (ny - y) * step
        x, y = nx, ny
        when += rng.uniform(*mood.gaze_interval)
    out[:, idx["gaze_x"]] = gx
    out[:, idx["gaze_y"]] = gy
    return out.astype(np.float32)
