"""What a phase text will be performed as: the "understood as" read-out of the app, the CLI and the report.

A small classifier over the text encoder's sentence embedding (``TextEncoder.encode(pooled=True)``, the same
all-MiniLM-L6-v2 states the motion model is conditioned on) reads each phase text as

- the **actions** it asks for, side-free ("turn", "tilt", "glance": the text's side word, if any, gives the side),
  each with a probability, trained on the phrasing bank of ``actavatar.training.actions`` (combinations included);
- its **kind**: a performable action, or something a face-and-head model cannot do (hands, body, walking, objects,
  other people), or nothing at all ("not understood"), trained on ``actavatar/training/unperformable.toml``.

Side, size and count are then read from the words that the training generator uses for them (``left``/``right``,
``INTENSITY_WORDS``, ``COUNT_WORDS``). A turn, tilt or glance that names no side ("looks away") is performed to a side
that the seed picks: ``pick_sides`` completes its clause (``text.with_side``: "looks away to the left", the same
completion the training texts get), and the reading and a note say which side was picked.

The weights (about 0.6 MB) are made by ``python scripts/train_reader.py``; it reports the reader's accuracy on the
frozen external phrasings (``actavatar/evaluation/external_phrasings.json``), which it never trains on.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

READER_PATH = Path(__file__).resolve().parents[1] / "assets" / "checkpoints" / "phase-reader" / "reader.npz"

# Side-free action classes: a sided label ("turn_left") is its class plus a side.
SIDED = {"tilt": "tilt", "turn": "turn", "glance": "glance", "wink": "wink"}
UNPERFORMABLE_KINDS = ("hands", "body", "walking", "objects", "other_people")
COUNTED = {"nod", "shake_head", "blink_rapidly", "wink"}  # classes that take a count ("twice")
ACTION_THRESHOLD = 0.4  # a clause reads as its likeliest action when that action's probability reaches this

_NAMES = {
    "nod": "nod",
    "shake_head": "head shake",
    "tilt": "head tilt",
    "turn": "head turn",
    "look_up": "look up",
    "look_down": "look down",
    "lean_in": "lean in",
    "smile": "smile",
    "laugh": "laugh",
    "frown": "frown",
    "pout": "pout",
    "raise_eyebrows": "raised eyebrows",
    "furrow": "furrowed brows",
    "close_eyes": "eyes closed",
    "blink_rapidly": "rapid blinks",
    "wink": "wink",
    "glance": "glance",
    "stay_still": "hold still",
}
# Classes whose text is completed with a side the seed picks when it names none (``pick_sides``).
SIDE_PICKED = frozenset({"tilt", "turn", "glance"})

_KIND_NAMES = {
    "hands": "hand gestures",
    "body": "body movements",
    "walking": "walking or moving around",
    "objects": "handling objects",
    "other_people": "interacting with other people",
}
_SIDE_WORD = re.compile(r"\b(left|right)(?:ward)?\b", re.IGNORECASE)
_CLAUSE = re.compile(r"\s*(?:,|;|\band\b|\bwhile\b|\bthen\b)\s*", re.IGNORECASE)


def action_class(label: str) -> str:
    """``"turn_left"`` -> ``"turn"``; ``"nod"`` -> ``"nod"`` (the reader's side-free class of an atomic label)."""
    head, _, side = label.rpartition("_")
    return head if side in ("left", "right") and head in SIDED else label


def action_classes() -> tuple[str, ...]:
    return tuple(_NAMES)


@dataclass(frozen=True)
class ReadAction:
    action: str  # side-free class ("turn")
    probability: float
    side: str = ""  # "left" | "right" | "either" (sided classes only)
    size: str = ""  # "small" | "large" | "" (normal)
    count: int | None = None
    clause: str = ""  # the words of the text it was read from
    side_picked: bool = False  # the text named no side; ``side`` was picked by the seed (``pick_sides``)

    def describe(self) -> str:
        words = [_NAMES[self.action]]
        if self.side == "either":
            words.append("(no side named: the seed picks one)" if self.action in SIDE_PICKED else "(no side named)")
        elif self.side:
            words.append(f"to her {self.side}" if self.action != "wink" else f"({self.side} eye)")
            if self.side_picked:
                words.append("(no side named: picked by the seed)")
        if self.size:
            words.insert(0, self.size)
        if self.count:
            words.append(f"×{self.count}")
        return " ".join(words)


@dataclass(frozen=True)
class Reading:
    """How one phase text is understood."""

    text: str
    status: str  # "ok" | "unperformable" | "not_understood"
    actions: tuple[ReadAction, ...] = ()
    confidence: float = 0.0  # the probability of the status's reading
    kind: str = "action"  # for "unperformable": which kind of thing the text asks for
    closest: tuple[ReadAction, ...] = field(default=())  # for "unperformable"/"not_understood": the nearest actions
    performed: str = ""  # the text the model is given, when ``pick_sides`` completed it with a side

    def describe(self) -> str:
        if self.status == "ok":
            return " + ".join(a.describe() for a in self.actions) + f" ({self.confidence:.0%})"
        if self.status == "unperformable":
            near = " or ".join(_NAMES[a.action] for a in self.closest) or "a nod or a smile"
            return (
                f"not performable: the face-and-head model cannot do {_KIND_NAMES.get(self.kind, self.kind)} "
                f"('{self.text}'); closest it can do: {near}"
            )
        near = " or ".join(_NAMES[a.action] for a in self.closest)
        return "not understood" + (f" (nearest: {near}, unlikely)" if near else "")

    def warning(self) -> str | None:
        """A one-line user warning for a text the motion tier will not perform as written, else None."""
        if self.status == "unperformable":
            return f"Phase '{self.text}': {self.describe()}. Rephrase it as a face or head action."
        if self.status == "not_understood":
            return (
                f"Phase '{self.text}' is not understood as a face or head action, so it may do nothing: describe "
                f"a head, eye, brow or mouth movement (e.g. 'nods twice', 'smiles', 'raises her eyebrows')."
            )
        picked = [f"{_NAMES[a.action]} to her {a.side}" for a in self.actions if a.side_picked]
        if picked:
            return (
                f"Phase '{self.text}' names no side, so the seed picked one: {' and '.join(picked)}. Add 'to the "
                f"left' or 'to the right' to choose."
            )
        return None

    def with_side(self, side: str) -> Reading:
        """This reading with ``side`` ("left" | "right") for each turn, tilt or glance that names none (one side for
        the phase: "tilts her head and looks away" goes one way), and ``performed``: the text with those clauses
        completed (``text.with_side``)."""
        from .text import with_side

        if self.status != "ok" or not any(a.side == "either" and a.action in SIDE_PICKED for a in self.actions):
            return self
        text, actions, pos = self.text, [], 0
        for a in self.actions:  # in the text's order: each clause is searched for after the previous one
            at = text.find(a.clause, pos) if a.clause else -1
            if a.side == "either" and a.action in SIDE_PICKED:
                a = replace(a, side=side, side_picked=True)
                if at < 0:  # not expected (clauses are substrings): complete the whole text instead
                    text = with_side(text, a.side)
                else:
                    completed = with_side(a.clause, a.side)
                    text = text[:at] + completed + text[at + len(a.clause) :]
                    at += len(completed) - len(a.clause)
            pos = at + len(a.clause) if at >= 0 else pos
            actions.append(a)
        return replace(self, actions=tuple(actions), performed=text)

    def to_dict(self) -> dict:
        """JSON-shaped (lists, not tuples): the in-memory report equals the one read back from its file."""
        out = json.loads(json.dumps(asdict(self)))
        out["summary"] = self.describe()
        return out


def _intensity(text: str) -> str:
    from .training.actions import INTENSITY_WORDS

    low = f" {text.lower()} "
    for word, factor in sorted(INTENSITY_WORDS.items(), key=lambda kv: -len(kv[0])):
        if re.search(rf"\b{re.escape(word)}\b", low):
            return "small" if factor < 1 else "large" if factor > 1 else ""
    return ""


_DIGIT_COUNT = re.compile(r"\b([1-9])\s*(?:x\b|times\b)", re.IGNORECASE)


def _count(text: str) -> int | None:
    from .training.actions import COUNT_WORDS

    match = _DIGIT_COUNT.search(text)
    if match:
        return int(match.group(1))
    low = text.lower()
    for word, n in sorted(COUNT_WORDS.items(), key=lambda kv: -len(kv[0])):
        if re.search(rf"\b{re.escape(word)}\b", low):
            return n
    return None


_PAIRED = re.compile(r"\b(left|right|up|down|back|side|again)\s+and\s+(left|right|up|down|forth|side|again)\b", re.I)


def clauses(text: str) -> list[str]:
    """A phase text's clauses, as the motion model's clause tokens split it ("and", "while", "then", ",", ";"),
    except inside paired words ("left and right", "up and down", "back and forth": one action)."""
    protected = _PAIRED.sub(lambda m: m.group(0).replace(" and ", " \0 "), text)
    parts = [c.replace(" \0 ", " and ").strip() for c in _CLAUSE.split(protected)]
    return [c for c in parts if c]


def _side(clause: str, text: str) -> str:
    words = [m.group(1).lower() for m in _SIDE_WORD.finditer(clause)]
    if not words:
        words = [m.group(1).lower() for m in _SIDE_WORD.finditer(text)]
        words = words if len(set(words)) == 1 else []
    return words[0] if words else "either"


class PhaseReader:
    """Reads phase texts with the shipped classifier weights (numpy; the text encoder is the pipeline's)."""

    def __init__(self, path: str | Path = READER_PATH, text_encoder=None):
        self._path = Path(path)
        self._encoder = text_encoder
        self._weights: dict[str, np.ndarray] | None = None
        self._lock = threading.Lock()

    @property
    def available(self) -> bool:
        return self._path.is_file()

    def _load(self) -> dict[str, np.ndarray]:
        with self._lock:
            if self._weights is None:
                with np.load(self._path) as f:
                    weights = {k: f[k] for k in f.files}
                meta = json.loads(str(weights.pop("meta")))
                if tuple(meta["classes"]) != reader_classes():
                    raise RuntimeError(f"{self._path} was made for other classes: rerun scripts/train_reader.py")
                self._weights = weights
            return self._weights

    def embed(self, texts: list[str]) -> np.ndarray:
        """(N, 384) unit sentence embeddings of ``texts`` from the pipeline's text encoder."""
        from .text import default_text_encoder

        encoder = self._encoder or default_text_encoder()
        states, _ = encoder.encode(list(texts), pooled=True)
        return sentence_features(states[:, 0].numpy())

    def probabilities(self, texts: list[str]) -> np.ndarray:
        """(N, classes) probabilities over ``reader_classes()`` of each text, read as one clause."""
        return forward(self._load(), self.embed(texts))

    def read(self, texts: list[str]) -> list[Reading]:
        if not texts:
            return []
        split = [clauses(t) or [t] for t in texts]
        flat = [c for parts in split for c in parts]
        probs = iter(self.probabilities(flat))
        return [interpret(t, parts, [next(probs) for _ in parts]) for t, parts in zip(texts, split, strict=True)]


def reader_classes() -> tuple[str, ...]:
    """The reader's classes: the side-free actions, then the unperformable kinds, then "none"."""
    return (*action_classes(), *UNPERFORMABLE_KINDS, "none")


def sentence_features(pooled: np.ndarray) -> np.ndarray:
    """Unit-length sentence embeddings (the reader's input)."""
    pooled = np.asarray(pooled, np.float32)
    return pooled / np.maximum(np.linalg.norm(pooled, axis=-1, keepdims=True), 1e-8)


def forward(w: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    """The classifier: one hidden layer (GELU, tanh form) and a softmax over ``reader_classes()``."""
    h = x @ w["w1"] + w["b1"]
    h = 0.5 * h * (1 + np.tanh(0.7978845608 * (h + 0.044715 * h**3)))
    logits = h @ w["w2"] + w["b2"]
    e = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _near(p: np.ndarray, n_actions: int) -> tuple[ReadAction, ...]:
    classes = action_classes()
    order = np.argsort(-p[:n_actions])[:2]
    return tuple(ReadAction(classes[i], float(p[i])) for i in order if p[i] >= 0.05)


def interpret(text: str, parts: list[str], probs: list[np.ndarray]) -> Reading:
    """A text's clauses and their class probabilities -> its ``Reading``: each clause read as its likeliest class;
    clauses that read as nothing ("slowly" of "nods slowly and gently") are dropped when others read as actions."""
    classes, n_act = reader_classes(), len(action_classes())
    best = [(int(np.argmax(p)), p) for p in probs]
    acts = [(i, p, c) for (i, p), c in zip(best, parts, strict=True) if i < n_act and p[i] >= ACTION_THRESHOLD]
    if acts:
        actions: dict[str, ReadAction] = {}
        for i, p, clause in acts:
            name = classes[i]
            if name in actions:
                continue
            actions[name] = ReadAction(
                name,
                float(p[i]),
                _side(clause, text) if name in SIDED else "",
                _intensity(clause) if name != "stay_still" else "",
                _count(clause) if name in COUNTED else None,
                clause,
            )
        confidence = float(np.prod([a.probability for a in actions.values()]))
        return Reading(text, "ok", tuple(actions.values())[:3], confidence)
    mean = np.mean(probs, axis=0)
    kinds = [(float(p[i]), classes[i], p) for i, p in best if classes[i] in UNPERFORMABLE_KINDS]
    if kinds:
        conf, kind, p = max(kinds, key=lambda k: k[0])
        return Reading(text, "unperformable", (), conf, kind, _near(mean, n_act))
    return Reading(text, "not_understood", (), float(mean[-1]), "none", _near(mean, n_act))


def pick_sides(plan, readings: list[Reading], seed: int):
    """``(plan, readings)`` with a side picked for every turn, tilt or glance that names none: the plan's texts are
    completed with it ("looks away" -> "looks away to the left": what the model is given; ``Reading.performed``), and
    the readings say so. The side is drawn from ``seed`` and the phase's index, so another seed may pick the other."""
    phases, out = [], []
    for i, (phase, reading) in enumerate(zip(plan.phases, readings, strict=True)):
        side = ("left", "right")[int(np.random.default_rng([int(seed) & 0xFFFFFFFF, i]).integers(2))]
        reading = reading.with_side(side)
        out.append(reading)
        phases.append(replace(phase, text=reading.performed) if reading.performed else phase)
    changed = any(r.performed for r in out)  # else the plan itself, already validated
    return (replace(plan, phases=tuple(phases)) if changed else plan), out


_DEFAULT: PhaseReader | None = None
_DEFAULT_LOCK = threading.Lock()


def default_reader() -> PhaseReader:
    global _DEFAULT
    with _DEFAULT_LOCK:
        if _DEFAULT is None:
            _DEFAULT = PhaseReader()
        return _DEFAULT


def read_phases(texts: list[str]) -> list[Reading]:
    """Readings of ``texts`` with the shipped reader (its weights must exist: ``scripts/train_reader.py``)."""
    reader = default_reader()
    if not reader.available:
        raise RuntimeError(f"Phase reader weights missing at {READER_PATH}: run python scripts/train_reader.py")
    return reader.read(texts)
