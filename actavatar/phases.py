"""Phase plans: a global base prompt plus time-anchored action phases (the paper's PACA prompt structure).

JSON contract (docs/DESIGN.md, "Phase plan")::

    {"base": "a woman talking calmly", "phases": [{"start": 0.0, "end": 2.5, "text": "nods twice"}]}

Times are seconds, ``0 <= start < end``; gaps are allowed (frames in a gap see only the base block).

Frame-time convention: frame ``t`` at ``fps`` frames per second covers ``[t / fps, (t + 1) / fps)``, and it
belongs to the phase that contains its midpoint ``(t + 0.5) / fps``. So a phase ``[2.5, 6.0)`` at 25 fps owns
frames 62..149 (frame 62 covers [2.48, 2.52), midpoint 2.50).
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import InputError

MAX_PHASES = 32
MAX_TEXT_CHARS = 500
MIN_PHASE_S = 0.1
# A phase may end this much after the audio (one frame at 25 fps) before it counts as "past the end".
END_TOLERANCE_S = 0.04

# Control, zero-width-space, direction marks/overrides (Trojan-source style reordering) and BOM. Zero-width
# (non-)joiners stay: Persian and Indic words and emoji sequences like 🙂‍↔️ need them.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b\u200e\u200f\u2028-\u202e\u2060-\u2064\ufeff]")


def clean_text(text: str) -> str:
    """Normalise user text: NFC, control and bidi-override characters removed, whitespace collapsed."""
    text = unicodedata.normalize("NFC", str(text))
    text = _CONTROL.sub(" ", text)
    return " ".join(text.split())


def _fmt(t: float) -> str:
    return f"{t:.3f}".rstrip("0").rstrip(".") if t != int(t) else f"{int(t)}"


@dataclass(frozen=True)
class Phase:
    """One action window. ``text`` says what happens in ``[start, end)`` seconds."""

    start: float
    end: float
    text: str

    def __post_init__(self):  # every way of making a phase gets clean text, so messages stay one line
        object.__setattr__(self, "text", clean_text(self.text))

    def to_dict(self) -> dict:
        return {"start": round(float(self.start), 4), "end": round(float(self.end), 4), "text": self.text}

    @property
    def duration(self) -> float:
        return self.end - self.start

    def label(self, index: int) -> str:
        """How messages name this phase: 'phase 2 (2.5–6 s, "smiles")'."""
        text = self.text if len(self.text) <= 40 else self.text[:37] + "..."
        return f'phase {index + 1} ({_fmt(self.start)}–{_fmt(self.end)} s, "{text}")'


_NOT_VALIDATED = object()


@dataclass(frozen=True)
class PhasePlan:
    """A base prompt (seen by every frame) and an ordered tuple of non-overlapping phases."""

    base: str = ""
    phases: tuple[Phase, ...] = field(default_factory=tuple)

    def __post_init__(self):  # clean like Phase.text, so a plan equals its own JSON/SRT round trip
        object.__setattr__(self, "base", clean_text(self.base))

    # ----------------------------------------------------------------------------------------------- construction
    @classmethod
    def from_dict(cls, data: Mapping) -> PhasePlan:
        if not isinstance(data, Mapping):
            raise InputError('Phase plan must be a JSON object like {"base": "...", "phases": [...]}.')
        unknown = set(data) - {"base", "phases"}
        if unknown:
            raise InputError(f"Phase plan has unknown keys {sorted(unknown)}: only 'base' and 'phases' are allowed.")
        base = data.get("base", "")
        if base is None:
            base = ""
        if not isinstance(base, str):
            raise InputError("Phase plan 'base' must be a string (the global prompt).")
        raw = data.get("phases", [])
        if raw is None:
            raw = []
        if not isinstance(raw, list):
            raise InputError("Phase plan 'phases' must be a list of {start, end, text} objects.")
        phases = []
        for i, item in enumerate(raw):
            if not isinstance(item, Mapping):
                raise InputError(f"Phase {i + 1} must be an object with 'start', 'end' and 'text'.")
            missing = [k for k in ("start", "end", "text") if k not in item]
            if missing:
                raise InputError(
                    f"Phase {i + 1} is missing {', '.join(missing)}: give start and end in seconds and text."
                )
            extra = set(item) - {"start", "end", "text"}
            if extra:
                raise InputError(f"Phase {i + 1} has unknown keys {sorted(extra)}: use only start, end, text.")
            start, end = _seconds(item["start"], i, "start"), _seconds(item["end"], i, "end")
            if not isinstance(item["text"], str):
                raise InputError(f"Phase {i + 1} 'text' must be a string describing the action.")
            phases.append(Phase(start, end, clean_text(item["text"])))
        return cls(clean_text(base), tuple(phases))

    @classmethod
    def from_json(cls, text: str) -> PhasePlan:
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, TypeError) as err:
            line = getattr(err, "lineno", "?")
            raise InputError(
                f"Phase plan is not valid JSON (line {line}: {getattr(err, 'msg', err)}): "
                'expected {"base": "...", "phases": [{"start": 0, "end": 2.5, "text": "nods"}]}.'
            ) from None
        return cls.from_dict(data)

    @classmethod
    def from_srt(cls, text: str, base: str = "") -> PhasePlan:
        """Each SRT cue becomes a phase (cue text = action text, lines joined with spaces)."""
        text = text.replace("\r\n", "\n").replace("\r", "\n").lstrip("\ufeff")
        blocks = [b for b in re.split(r"\n\s*\n", text.strip()) if b.strip()]
        phases = []
        for n, block in enumerate(blocks):
            lines = [ln for ln in block.split("\n")]
            idx = 1 if "-->" not in lines[0] else 0
            if len(lines) <= idx or "-->" not in lines[idx]:
                raise InputError(
                    f"SRT cue {n + 1} has no 'HH:MM:SS,mmm --> HH:MM:SS,mmm' timing line: fix or remove that cue."
                )
            left, _, right = lines[idx].partition("-->")
            start, end = _srt_time(left, n), _srt_time(right.split()[0] if right.split() else "", n)
            phases.append(Phase(start, end, clean_text(" ".join(lines[idx + 1 :]))))
        return cls(clean_text(base), tuple(phases))

    @classmethod
    def load(cls, path: str | Path, base: str | None = None) -> PhasePlan:
        """Read a ``.json`` or ``.srt`` phase plan. ``base`` (when given) replaces the file's base prompt."""
        path = Path(path)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raise InputError(f"Phase plan file not found: {path}. Check the path.") from None
        except OSError as err:
            raise InputError(f"Cannot read phase plan {path}: {err.strerror}.") from None
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise InputError(f"Phase plan {path.name} is not UTF-8 text: save it as UTF-8.") from None
        if path.suffix.lower() == ".srt":
            plan = cls.from_srt(text)
        else:
            plan = cls.from_json(text)
        return plan if base is None else plan.with_base(base)

    # ------------------------------------------------------------------------------------------------- export
    def to_dict(self) -> dict:
        return {"base": self.base, "phases": [p.to_dict() for p in self.phases]}

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)

    def to_srt(self) -> str:
        cues = [
            f"{i + 1}\n{_srt_stamp(p.start)} --> {_srt_stamp(p.end)}\n{p.text}\n" for i, p in enumerate(self.phases)
        ]
        return "\n".join(cues)

    def with_base(self, base: str) -> PhasePlan:
        return PhasePlan(clean_text(base), self.phases)

    def sorted(self) -> PhasePlan:
        return PhasePlan(self.base, tuple(sorted(self.phases, key=lambda p: (p.start, p.end))))

    # --------------------------------------------------------------------------------------------- validation
    def validate(self, duration_s: float | None = None, max_phases: int = MAX_PHASES) -> PhasePlan:
        """Raise ``InputError`` naming the first bad phase and the fix; return the plan sorted by start.

        The returned plan remembers the audio length it passed for, so validating it again for the same length (the
        pipeline checking the plan the API validated) returns it at once; a changed copy is validated anew."""
        if max_phases == MAX_PHASES and getattr(self, "_validated_for_s", _NOT_VALIDATED) == duration_s:
            return self
        if len(self.base) > MAX_TEXT_CHARS:
            raise InputError(
                f"The base prompt has {len(self.base)} characters: shorten it to at most {MAX_TEXT_CHARS}."
            )
        if len(self.phases) > max_phases:
            raise InputError(
                f"The plan has {len(self.phases)} phases: at most {max_phases} are supported; merge short phases."
            )
        for i, p in enumerate(self.phases):
            name = p.label(i)
            if not (math.isfinite(p.start) and math.isfinite(p.end)):
                raise InputError(f"{name} has a non-finite time: give start and end as numbers of seconds.")
            if p.start < 0:
                raise InputError(f"{name} starts before 0 s: set start to 0 or later.")
            if p.end <= p.start:
                raise InputError(f"{name} ends at or before its start: make end greater than start.")
            if p.duration < MIN_PHASE_S:
                raise InputError(
                    f"{name} is {p.duration:.3g} s long, shorter than the minimum of {MIN_PHASE_S} s: lengthen it "
                    "or remove it."
                )
            if not p.text:
                raise InputError(f"{name} has no action text: describe the action (e.g. 'nods twice') or remove it.")
            if len(p.text) > MAX_TEXT_CHARS:
                raise InputError(
                    f"phase {i + 1} text has {len(p.text)} characters: shorten it to at most {MAX_TEXT_CHARS}."
                )
            if duration_s is not None:
                if p.start >= duration_s:
                    raise InputError(
                        f"{name} starts after the audio ends ({_fmt(duration_s)} s): move it inside the audio or "
                        "remove it."
                    )
                if p.end > duration_s + END_TOLERANCE_S:
                    raise InputError(
                        f"{name} ends after the audio ends ({_fmt(duration_s)} s): set its end to "
                        f"{_fmt(duration_s)} s or less."
                    )
        plan = self.sorted()
        for a, b in zip(plan.phases, plan.phases[1:], strict=False):
            if b.start < a.end - 1e-9:
                ia, ib = self.phases.index(a), self.phases.index(b)
                raise InputError(
                    f"{a.label(ia)} overlaps {b.label(ib)}: phases may not overlap; move the start of phase "
                    f"{ib + 1} to {_fmt(a.end)} s or later."
                )
        if max_phases == MAX_PHASES:
            object.__setattr__(plan, "_validated_for_s", duration_s)  # not a field: no part of equality or JSON
        return plan

    def clipped(self, duration_s: float) -> tuple[PhasePlan, list[str]]:
        """Clip phases to the audio (what the UI offers): drop phases that start at or after its end, trim the ones
        that run past it, and drop a trimmed phase that would be left shorter than ``MIN_PHASE_S``.

        Only the audio's end is handled here: a phase inside the audio is kept as it is (``validate`` judges its
        length, text and overlaps). Returns the new plan and one note per phase that ran past the end."""
        notes, kept = [], []
        end = _fmt(duration_s)
        for i, p in enumerate(self.phases):
            if p.end <= duration_s:
                kept.append(p)
            elif p.start >= duration_s:
                notes.append(f"{p.label(i)} starts after the audio ends ({end} s): removed.")
            elif duration_s - p.start < MIN_PHASE_S:
                notes.append(
                    f"{p.label(i)} runs past the audio's end ({end} s) and would be only "
                    f"{duration_s - p.start:.3g} s long once trimmed (the minimum is {MIN_PHASE_S} s): removed."
                )
            else:
                kept.append(Phase(p.start, duration_s, p.text))
                notes.append(f"{p.label(i)} trimmed to end at {end} s (the end of the audio).")
        return PhasePlan(self.base, tuple(kept)), notes

    # ------------------------------------------------------------------------------------------- frame masks
    def frame_phase_index(self, num_frames: int, fps: float) -> np.ndarray:
        """(T,) int64: index of the phase that owns each frame (by its midpoint), -1 in gaps."""
        mid = (np.arange(num_frames, dtype=np.float64) + 0.5) / fps  # (T,)
        index = np.full(num_frames, -1, dtype=np.int64)
        for k, p in enumerate(self.phases):
            index[(mid >= p.start) & (mid < p.end)] = k
        return index

    def frame_masks(self, num_frames: int, fps: float) -> np.ndarray:
        """(T, P) bool: ``mask[t, k]`` is True when frame t lies in phase k."""
        index = self.frame_phase_index(num_frames, fps)
        return index[:, None] == np.arange(len(self.phases))[None, :]

    def soft_frame_weights(self, num_frames: int, fps: float, width_s: float) -> np.ndarray:
        """(T, P) float in [0, 1]: phase membership feathered over ``width_s`` seconds around each window edge.

        Inside a phase (further than width/2 from its edges) the weight is 1; it ramps linearly to 0 across
        ``[edge - width/2, edge + width/2]``. ``width_s == 0`` gives the hard masks."""
        if width_s <= 0:
            return self.frame_masks(num_frames, fps).astype(np.float32)
        mid = (np.arange(num_frames, dtype=np.float64) + 0.5) / fps
        out = np.zeros((num_frames, len(self.phases)), dtype=np.float32)
        half = width_s / 2
        for k, p in enumerate(self.phases):
            rise = np.clip((mid - (p.start - half)) / width_s, 0, 1)
            fall = np.clip(((p.end + half) - mid) / width_s, 0, 1)
            out[:, k] = np.minimum(rise, fall)
        return out


def as_plan(phases: PhasePlan | Mapping | str | Path | None, prompt: str | None = None) -> PhasePlan:
    """Accept a plan object, a dict, a path to .json/.srt, JSON text, or None; ``prompt`` overrides the base."""
    if phases is None:
        plan = PhasePlan()
    elif isinstance(phases, PhasePlan):
        plan = phases
    elif isinstance(phases, Mapping):
        plan = PhasePlan.from_dict(phases)
    elif isinstance(phases, Path) or (isinstance(phases, str) and not phases.lstrip().startswith("{")):
        plan = PhasePlan.load(phases)
    elif isinstance(phases, str):
        plan = PhasePlan.from_json(phases)
    else:
        raise InputError(f"Unsupported phase plan of type {type(phases).__name__}: pass a dict, a path or JSON text.")
    return plan if prompt is None else plan.with_base(prompt)


def plan_from_rows(rows: Iterable[Iterable], base: str = "") -> PhasePlan:
    """Build a plan from table rows (start, end, text); blank rows are skipped (for the app's table)."""
    phases = []
    for n, row in enumerate(rows):
        row = list(row) + [None] * 3
        start, end, text = row[:3]
        if (start in (None, "") and end in (None, "")) and not (text or "").strip():
            continue
        phases.append(Phase(_seconds(start, n, "start"), _seconds(end, n, "end"), clean_text(text or "")))
    return PhasePlan(clean_text(base), tuple(phases))


def _seconds(value, index: int, key: str) -> float:
    if isinstance(value, bool):
        value = None
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise InputError(f"Phase {index + 1} '{key}' is {value!r}: give a number of seconds, e.g. 2.5.") from None
    if not math.isfinite(out):
        raise InputError(f"Phase {index + 1} '{key}' is not a finite number: give a number of seconds, e.g. 2.5.")
    return out


_SRT_TIME = re.compile(r"^\s*(?:(\d+):)?(\d{1,2}):(\d{1,2})(?:[,.](\d{1,3}))?\s*$")


def _srt_time(text: str, cue: int) -> float:
    m = _SRT_TIME.match(text)
    if not m:
        raise InputError(f"SRT cue {cue + 1} has a bad time {text.strip()!r}: use HH:MM:SS,mmm (e.g. 00:00:02,500).")
    hours, minutes, secs = int(m.group(1) or 0), int(m.group(2)), int(m.group(3))
    millis = int((m.group(4) or "0").ljust(3, "0"))
    return ((hours * 3600 + minutes * 60 + secs) * 1000 + millis) / 1000


def _srt_stamp(t: float) -> str:
    ms = int(round(t * 1000))
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d},{ms:03d}"
