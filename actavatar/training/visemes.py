"""Phonemes -> per-frame mouth targets (``jaw_open``, ``smile`` as lip spread, ``lip_pucker``) with coarticulation.

Coarticulation follows Cohen & Massaro's dominance model (1993): every phoneme has a target and a dominance
that peaks over its own segment and decays exponentially with distance from it; the mouth at time ``t`` is the
dominance-weighted average of all targets. Strong, narrow dominance makes bilabials (p b m) close the lips even
between open vowels; weak, wide dominance lets /h/ take the shape of its neighbours; pauses are "silence"
segments with a strong closed target, so the mouth shuts on silence. Diphthongs (aI, aU, oU, ...) are split into
two targets so the lips glide.

Phoneme names are espeak-ng's ASCII mnemonics (``SpeechClip.phonemes``). Times follow ``phases``: frame ``t``
covers ``[t / fps, (t + 1) / fps)`` and is sampled at its midpoint.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

VISEME_CHANNELS: tuple[str, ...] = ("jaw_open", "smile", "lip_pucker")
_GRID_HZ = 200.0  # dominance functions are evaluated on this grid, then sampled at frame midpoints


@dataclass(frozen=True)
class _Viseme:
    jaw: float  # 0 closed .. 1 wide open
    spread: float  # lip spread (added to ``smile``)
    pucker: float  # lip rounding / protrusion
    strength: float = 1.0  # dominance magnitude
    spread_s: float = 0.06  # dominance decay constant (s): larger = influences neighbours further away


SILENCE = _Viseme(0.0, 0.0, 0.0, strength=2.0, spread_s=0.05)
_BILABIAL = _Viseme(0.0, 0.0, 0.05, strength=5.0, spread_s=0.022)
_LABIODENTAL = _Viseme(0.06, 0.05, 0.0, strength=2.5, spread_s=0.03)
_DENTAL = _Viseme(0.14, 0.08, 0.0, strength=1.2, spread_s=0.04)
_ALVEOLAR = _Viseme(0.12, 0.05, 0.0, strength=0.8, spread_s=0.04)
_VELAR = _Viseme(0.18, 0.0, 0.0, strength=0.5, spread_s=0.04)
_POSTALVEOLAR = _Viseme(0.1, 0.0, 0.45, strength=1.5, spread_s=0.05)
_W = _Viseme(0.08, 0.0, 0.7, strength=2.5, spread_s=0.06)
_R = _Viseme(0.14, 0.0, 0.3, strength=1.0, spread_s=0.05)
_J = _Viseme(0.12, 0.18, 0.0, strength=1.0, spread_s=0.05)
_H = _Viseme(0.25, 0.0, 0.0, strength=0.15, spread_s=0.08)

_OPEN = _Viseme(0.62, 0.05, 0.0, strength=1.5, spread_s=0.06)
_OPEN_MID = _Viseme(0.45, 0.1, 0.0, strength=1.5, spread_s=0.06)
_MID = _Viseme(0.32, 0.05, 0.0, strength=0.7, spread_s=0.06)
_FRONT_MID = _Viseme(0.38, 0.2, 0.0, strength=1.5, spread_s=0.06)
_FRONT_CLOSE = _Viseme(0.2, 0.3, 0.0, strength=1.5, spread_s=0.06)
_BACK_OPEN = _Viseme(0.5, 0.0, 0.25, strength=1.5, spread_s=0.06)
_BACK_MID = _Viseme(0.38, 0.0, 0.5, strength=1.5, spread_s=0.06)
_BACK_CLOSE = _Viseme(0.18, 0.0, 0.7, strength=1.5, spread_s=0.06)
_NEAR_CLOSE_BACK = _Viseme(0.22, 0.0, 0.45, strength=1.5, spread_s=0.06)

# espeak-ng English mnemonics; other names fall back on their first character (see ``viseme_of``).
_TABLE: dict[str, _Viseme | tuple[_Viseme, _Viseme]] = {
    "p": _BILABIAL,
    "b": _BILABIAL,
    "m": _BILABIAL,
    "f": _LABIODENTAL,
    "v": _LABIODENTAL,
    "T": _DENTAL,
    "D": _DENTAL,
    "S": _POSTALVEOLAR,
    "Z": _POSTALVEOLAR,
    "tS": _POSTALVEOLAR,
    "dZ": _POSTALVEOLAR,
    "w": _W,
    "w#": _W,
    "r": _R,
    "r-": _R,
    "j": _J,
    "h": _H,
    "k": _VELAR,
    "g": _VELAR,
    "N": _VELAR,
    "x": _VELAR,
    "?": _VELAR,
    "a": _OPEN,
    "a#": _OPEN_MID,
    "A:": _OPEN,
    "A@": _OPEN,
    "aa": _OPEN,
    "V": _OPEN_MID,
    "@": _MID,
    "@2": _MID,
    "@5": _MID,
    "@L": _MID,
    "3": _MID,
    "3:": _Viseme(0.32, 0.0, 0.15, strength=1.5, spread_s=0.06),
    "E": _FRONT_MID,
    "e": _FRONT_MID,
    "e@": _FRONT_MID,
    "i": _FRONT_CLOSE,
    "i:": _FRONT_CLOSE,
    "I": _Viseme(0.22, 0.25, 0.0, strength=1.5, spread_s=0.06),
    "I2": _Viseme(0.22, 0.2, 0.0, strength=1.5, spread_s=0.06),
    "0": _BACK_OPEN,
    "O": _BACK_MID,
    "O:": _BACK_MID,
    "O@": _BACK_MID,
    "o@": _BACK_MID,
    "u:": _BACK_CLOSE,
    "U": _NEAR_CLOSE_BACK,
    "U@": _NEAR_CLOSE_BACK,
    "aI": (_OPEN, _FRONT_CLOSE),
    "aI2": (_OPEN, _FRONT_CLOSE),
    "aI@": (_OPEN, _MID),
    "aU": (_OPEN, _BACK_CLOSE),
    "aU@": (_OPEN, _MID),
    "eI": (_FRONT_MID, _FRONT_CLOSE),
    "oU": (_BACK_MID, _BACK_CLOSE),
    "OI": (_BACK_MID, _FRONT_CLOSE),
    "i@": (_FRONT_CLOSE, _MID),
    "i@3": (_FRONT_CLOSE, _MID),
    "I@": (_FRONT_CLOSE, _MID),
}
_BY_FIRST_CHAR: dict[str, _Viseme] = {
    "p": _BILABIAL,
    "b": _BILABIAL,
    "m": _BILABIAL,
    "f": _LABIODENTAL,
    "v": _LABIODENTAL,
    "t": _ALVEOLAR,
    "d": _ALVEOLAR,
    "n": _ALVEOLAR,
    "s": _ALVEOLAR,
    "z": _ALVEOLAR,
    "l": _ALVEOLAR,
    "r": _R,
    "w": _W,
    "j": _J,
    "a": _OPEN,
    "A": _OPEN,
    "V": _OPEN_MID,
    "e": _FRONT_MID,
    "E": _FRONT_MID,
    "i": _FRONT_CLOSE,
    "I": _FRONT_CLOSE,
    "@": _MID,
    "3": _MID,
    "0": _BACK_OPEN,
    "O": _BACK_MID,
    "o": _BACK_MID,
    "u": _BACK_CLOSE,
    "U": _NEAR_CLOSE_BACK,
}
_DEFAULT = _Viseme(0.2, 0.0, 0.0, strength=0.5, spread_s=0.05)


def viseme_of(phoneme: str) -> tuple[_Viseme, ...]:
    """The target(s) of an espeak-ng phoneme: one, or two for a diphthong (first and second half)."""
    entry = _TABLE.get(phoneme)
    if entry is None:
        entry = _BY_FIRST_CHAR.get(phoneme[:1], _DEFAULT)
    return entry if isinstance(entry, tuple) else (entry,)


def is_bilabial(phoneme: str) -> bool:
    return viseme_of(phoneme)[0] is _BILABIAL


def mouth_track(
    phonemes: Sequence[tuple[float, float, str]],
    num_frames: int,
    fps: float,
    *,
    articulation: float = 1.0,
    word_gains: Sequence[tuple[float, float, float]] = (),
) -> np.ndarray:
    """(T, 3) float32 targets for ``VISEME_CHANNELS`` at frame midpoints.

    ``articulation`` scales jaw opening (a speaker's style, ~0.7..1.3); ``word_gains`` are
    ``(start_s, end_s, gain)`` spans (e.g. stressed words) that scale the jaw inside them."""
    duration = num_frames / fps
    grid = np.arange(int(np.ceil(duration * _GRID_HZ)) + 1) / _GRID_HZ  # (G,) seconds
    segments: list[tuple[float, float, _Viseme]] = []
    cursor = 0.0
    for start, end, name in sorted(phonemes):
        if start - cursor > 1e-3:
            segments.append((cursor, start, SILENCE))
        parts = viseme_of(name)
        step = (end - start) / len(parts)
        segments.extend((start + i * step, start + (i + 1) * step, v) for i, v in enumerate(parts))
        cursor = max(cursor, end)
    if duration + 0.2 - cursor > 1e-3:
        segments.append((cursor, duration + 0.2, SILENCE))

    num = np.zeros((len(grid), 3))
    den = np.full(len(grid), 1e-6)
    for start, end, v in segments:
        # Dominance peaks over the central half of the segment and decays exponentially outside it.
        quarter = (end - start) / 4
        dist = np.maximum(np.maximum(start + quarter - grid, grid - (end - quarter)), 0.0)  # (G,)
        lo, hi = np.searchsorted(grid, [start - 8 * v.spread_s, end + 8 * v.spread_s])
        d = v.strength * np.exp(-dist[lo:hi] / v.spread_s)
        num[lo:hi] += d[:, None] * np.array([v.jaw, v.spread, v.pucker])
        den[lo:hi] += d
    track = num / den[:, None]  # (G, 3)
    track[:, 0] *= articulation
    for start, end, gain in word_gains:
        sel = (grid >= start) & (grid < end)
        track[sel, 0] *= gain
    mid = (np.arange(num_frames) + 0.5) / fps  # (T,)
    out = np.stack([np.interp(mid, grid, track[:, k]) for k in range(3)], axis=1)
    out[:, 0] = np.clip(out[:, 0], 0.0, 1.0)
    return out.astype(np.float32)
