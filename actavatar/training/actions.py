"""The action vocabulary of the synthetic data: labels, phrasings, modifiers, and how each action moves the face.

Every action has a canonical ``label`` (``"nod"``, ``"tilt_left"``; a combination of two or three joins labels with
``+``: ``"smile+nod"``) and at least 40 phrasings in several styles: third-person verb phrases ("nods", "gives a
nod"), figurative ones ("bobs his head"), negations that leave the action ("smiles without moving her head"),
states ("with her head tilted to the left"), noun phrases ("a nod") and the second person ("you nod"). The bank is
data, ``actions.toml`` (read with ``tomllib``). Turns, tilts and glances also have phrasings that name no side
("turns her head away"): drawn for either side's label, which the text then names (``text.with_side``: "... away
to the left"), as the pipeline completes a user's text that names no side; ``ActionPart.side_stated`` is False for
them. Phrasings are split deterministically (by a hash of the text) into a training set and a held-out set that is
never used for training, and so are some modifier words and base prompt templates. The generator picks the text,
but always knows the label and parameters it stands for.

Left and right are the **subject's own** (stage directions: "turns to her left"). Seen from the camera that is
the image's right, so ``turn_left`` is ``head_yaw > 0``, ``tilt_left`` is ``head_roll > 0`` (clockwise in the
image), ``glance_left`` is ``gaze_x > 0`` and ``wink_left`` closes the eye on the image's right
(``blink_right``). See ``actavatar.motion`` for units.

In ``action_motion``: ``add_action`` adds an action's motion only to the frames whose midpoint lies in ``[start,
end)``, with onset and offset ramps inside the window, so nothing happens outside it; given the clip's word timings,
an action's jaw opening (raised eyebrows, laughing) fades to closed in the speech's pauses unless the action asks
for an open mouth (``MOUTH_OPENING_ACTIONS``): the audio owns the mouth. ``idle_motion`` is the natural motion of a
speaker (prosody-linked head movement, blinks every 2–6 s, gaze shifts) that ``stay_still`` suppresses.
"""

from __future__ import annotations

import hashlib
import itertools
import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..text import with_side

SPLITS = ("train", "heldout")
HELDOUT_SHARE = 0.2  # of phrasings, modifier words and base templates


def heldout_part(items: Sequence[str], share: float = HELDOUT_SHARE, salt: str = "") -> set[str]:
    """The deterministic held-out subset of ``items``: the ``share`` (at least one) with the smallest hashes."""
    ranked = sorted(items, key=lambda s: hashlib.sha1((salt + s).encode("utf-8")).hexdigest())
    return set(ranked[: max(1, round(len(items) * share))])


def split_items(items: Sequence[str], split: str, share: float = HELDOUT_SHARE, salt: str = "") -> tuple[str, ...]:
    """The items of ``split`` ("train" or "heldout"), in their original order."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    held = heldout_part(items, share, salt)
    return tuple(s for s in items if (s in held) == (split == "heldout"))


# --------------------------------------------------------------------------------------------------- vocabulary
# The phrasing bank is data: ``actions.toml`` next to this file (its header explains the layout). The code below only
# reads it into ``Action`` objects and the modifier tables.
BANK_FILE = Path(__file__).with_name("actions.toml")
STYLES = ("verb", "figurative", "negation", "state", "noun", "you")  # the phrasing styles of the bank, in order
_NOMINAL_STYLES = ("state", "noun")  # no finite verb: no subject, no imperative, no adverbs
_SIDE_WORD = re.compile(r"(?<![A-Za-z])(left|right|Left|Right|LEFT|RIGHT)(?=ward|(?![A-Za-z]))")
_SIDE_SWAP = {"left": "right", "right": "left", "Left": "Right", "Right": "Left", "LEFT": "RIGHT", "RIGHT": "LEFT"}


def _mirror(text: str) -> str:
    """``text`` with left and right swapped (``actavatar.text.mirror_text``, without importing the text encoder)."""
    return _SIDE_WORD.sub(lambda m: _SIDE_SWAP[m.group(1)], text)


@dataclass(frozen=True)
class Action:
    label: str
    kind: str  # "oscillation" | "hold" | "pulses" | "still": how the motion unfolds in its window
    channels: tuple[str, ...]  # the motion parameters it drives (combinations must not share any)
    phrasings: tuple[str, ...]  # every style: "nods", "a nod", "with her head bobbing", "you nod"
    gerunds: tuple[str, ...]  # for "... while nodding"
    repeatable: bool = False  # takes "twice", "three times"
    nominal: frozenset[str] = frozenset()  # phrasings (sideless ones too) without a finite verb: "a nod"
    addressed: frozenset[str] = frozenset()  # second-person phrasings: "you nod"
    negations: frozenset[str] = frozenset()  # "smiles without moving her head": adverbs go in front only
    count_nouns: tuple[str, ...] = ()  # "nods" for "two nods" (repeatable actions)
    side_group: str | None = None  # "turn" for turn_left / turn_right: its sideless phrasings are shared
    sideless: tuple[str, ...] = ()  # phrasings naming no side ("turns her head away"), for either side's label
    sideless_gerunds: tuple[str, ...] = ()

    def phrasings_for(self, split: str) -> tuple[str, ...]:
        return split_items(self.phrasings, split, salt=self.label)

    def gerunds_for(self, split: str) -> tuple[str, ...]:
        """The split's gerunds ("... while nodding"); a third of them are held out (there are only 2-4)."""
        return split_items(self.gerunds, split, share=0.34, salt=self.label)

    def sideless_for(self, split: str) -> tuple[str, ...]:
        """The split's sideless phrasings; both labels of the group share one split."""
        return split_items(self.sideless, split, salt=f"sideless:{self.side_group}") if self.sideless else ()

    def sideless_gerunds_for(self, split: str) -> tuple[str, ...]:
        if not self.sideless_gerunds:
            return ()
        return split_items(self.sideless_gerunds, split, share=0.34, salt=f"sideless:{self.side_group}")

    def count_nouns_for(self, split: str) -> tuple[str, ...]:
        return split_items(self.count_nouns, split, salt=f"{self.label}:count") if self.count_nouns else ()

    def style_of(self, phrase: str) -> str:
        """How a phrasing of this action takes a subject and modifiers: "nominal", "you", "negation" or "verb"."""
        if phrase in self.nominal:
            return "nominal"
        if phrase in self.addressed:
            return "you"
        return "negation" if phrase in self.negations else "verb"


def load_bank(path: str | Path = BANK_FILE) -> dict:
    """The parsed phrasing bank (``actions.toml``)."""
    with open(path, "rb") as f:
        return tomllib.load(f)


def _styled(table: dict, where: str) -> tuple[tuple[str, ...], dict[str, set[str]]]:
    """The phrasings of a ``phrasings`` table (all styles, in ``STYLES`` order) and the set of each style."""
    unknown = set(table) - set(STYLES)
    if unknown:
        raise ValueError(f"{where}: unknown phrasing styles {sorted(unknown)}; use {STYLES}")
    out: list[str] = []
    for style in STYLES:
        out += table.get(style, [])
    duplicates = sorted({p for p in out if out.count(p) > 1})
    if duplicates:
        raise ValueError(f"{where}: phrasings listed twice: {duplicates}")
    return tuple(out), {style: set(table.get(style, [])) for style in STYLES}


def _action(entry: dict, known: dict[str, Action]) -> Action:
    """One ``[[action]]`` entry; ``mirror_of`` takes an earlier action with left and right swapped."""
    if "mirror_of" in entry:
        src = known[entry["mirror_of"]]
        flip = lambda items: tuple(_mirror(p) for p in items)  # noqa: E731
        channels = tuple(dict(blink_left="blink_right", blink_right="blink_left").get(c, c) for c in src.channels)
        return Action(
            entry["label"], src.kind, channels, flip(src.phrasings), flip(src.gerunds), src.repeatable,
            frozenset(flip(src.nominal)), frozenset(flip(src.addressed)), frozenset(flip(src.negations)),
            flip(src.count_nouns),
        )  # fmt: skip
    phrasings, styles = _styled(entry["phrasings"], entry["label"])
    return Action(
        entry["label"],
        entry["kind"],
        tuple(entry["channels"]),
        phrasings,
        tuple(entry["gerunds"]),
        bool(entry.get("repeatable", False)),
        frozenset(set().union(*(styles[s] for s in _NOMINAL_STYLES))),
        frozenset(styles["you"]),
        frozenset(styles["negation"]),
        tuple(entry.get("count_nouns", ())),
    )


def _with_sideless(actions: dict[str, Action], groups: dict) -> dict[str, Action]:
    """Give each label of a ``[sideless.<group>]`` table that group's phrasings (shared by its labels)."""
    out = dict(actions)
    for group, table in groups.items():
        phrasings, styles = _styled(table["phrasings"], f"sideless.{group}")
        for label in table["labels"]:
            a = out[label]
            out[label] = replace(
                a,
                nominal=a.nominal | set().union(*(styles[s] for s in _NOMINAL_STYLES)),
                addressed=a.addressed | styles["you"],
                negations=a.negations | styles["negation"],
                side_group=group,
                sideless=phrasings,
                sideless_gerunds=tuple(table["gerunds"]),
            )
    return out


def _actions(bank: dict) -> dict[str, Action]:
    actions: dict[str, Action] = {}
    for entry in bank["action"]:
        actions[entry["label"]] = _action(entry, actions)
    return _with_sideless(actions, bank.get("sideless", {}))


_BANK = load_bank()
ACTIONS: dict[str, Action] = _actions(_BANK)
ACTION_LABELS: tuple[str, ...] = tuple(ACTIONS)
SIDED_LABELS: frozenset[str] = frozenset(a for a in ACTION_LABELS if a.endswith(("_left", "_right")))


def parts_of(label: str) -> tuple[str, ...]:
    """``"smile+nod"`` -> ``("smile", "nod")``; raises ``KeyError`` for an unknown label."""
    parts = tuple(label.split("+"))
    for p in parts:
        if p not in ACTIONS:
            raise KeyError(f"unknown action label {p!r}; known: {', '.join(ACTION_LABELS)}")
    return parts


# Contradictory pairs (driving different channels, but no face does both): never drawn as a combination.
_CONFLICTS = {frozenset(pair) for pair in _BANK["conflicts"]}


def can_combine(a: str, b: str) -> bool:
    """Two actions combine when they drive disjoint motion parameters, are not contradictory, and neither is
    ``stay_still``."""
    if "stay_still" in (a, b) or a == b or frozenset((a, b)) in _CONFLICTS:
        return False
    return not set(ACTIONS[a].channels) & set(ACTIONS[b].channels)


COMBINATIONS: tuple[str, ...] = tuple(
    f"{a}+{b}" for a in ACTION_LABELS for b in ACTION_LABELS if a < b and can_combine(a, b)
)
# Three actions, pairwise combinable ("smiles, nods and raises her eyebrows").
TRIPLE_COMBINATIONS: tuple[str, ...] = tuple(
    "+".join(t)
    for t in itertools.combinations(sorted(ACTION_LABELS), 3)
    if all(can_combine(x, y) for x, y in itertools.combinations(t, 2))
)

# ---------------------------------------------------------------------------------------------------- modifiers
# Intensities stay within 0.7–1.4 (times the +-10 % person-to-person jitter): "nods a little" is still a nod a
# viewer (and the detectors of ``actavatar.evaluation.metrics``, at about half a slight action) can see.
INTENSITY_ADVERBS: dict[str, float] = dict(_BANK["intensity"])  # "slightly", "hard", "a tiny bit"
INTENSITY_ADJECTIVES: dict[str, float] = dict(_BANK["intensity_adjectives"])  # "a big nod", "a tiny smile"
INTENSITY_WORDS: dict[str, float] = {**INTENSITY_ADVERBS, **INTENSITY_ADJECTIVES}
SPEED_WORDS: dict[str, float] = dict(_BANK["speed"])
COUNT_WORDS: dict[str, int] = dict(_BANK["count"])  # "twice", "3 times", "2x"
COUNT_NOUN_WORDS: dict[str, int] = dict(_BANK["count_nouns"])  # "two" in "two nods"
DURATION_WORDS: tuple[str, ...] = tuple(_BANK["modifier_rules"]["durations"])  # "for a moment": no motion change
CONTINUING_VERBS: tuple[str, ...] = tuple(_BANK["modifier_rules"]["continuing"])  # "keeps" + "nodding"
_SUFFIX_ONLY = (
    {w for w in (*INTENSITY_ADVERBS, *SPEED_WORDS, *COUNT_WORDS) if " " in w}
    | set(_BANK["modifier_rules"]["suffix_only"])
    | set(COUNT_WORDS)
)
_PREFIX_ONLY = set(_BANK["modifier_rules"]["prefix_only"])
# Nouns an intensity adjective may precede ("a nod" -> "a big nod", "gives a head tilt" -> "gives a small head tilt").
_ADJECTIVE_NOUNS = frozenset(
    "nod head shake headshake tilt turn smile grin laugh chuckle frown scowl glance wink pout pucker lean glare "
    "eyebrow raise bow lift".split()
)
# Gerunds that read as an ongoing action after "keeps" ("keeps nodding", not "keeps closing her eyes").
_CONTINUING_GERUNDS = frozenset(
    "nodding shaking tilting looking smiling grinning laughing chuckling giggling frowning scowling furrowing "
    "blinking fluttering pouting pursing glancing leaning holding".split()
)
SIDELESS_PROB = 0.3  # of sided actions (turns, tilts, glances) phrased without naming the side
_SUBJECTS = ("", "", "", "she ", "he ", "the speaker ", "the person ", "then ")
_TAKES_INTENSITY = set(ACTION_LABELS) - {"stay_still", "close_eyes", "blink_rapidly", "wink_left", "wink_right"}
_TAKES_SPEED = set(ACTION_LABELS) - {"stay_still", "blink_rapidly"}


@dataclass(frozen=True)
class ActionPart:
    """One atomic action with its modifiers (``count=None``: as many repetitions as fit naturally).

    ``side_stated=False``: a sided action (``turn_left``) phrased without its side ("turns her head away"), whose
    side was then added to the text (``text.with_side``: "... away to the left"), as the pipeline completes a user's
    text that names no side."""

    label: str
    intensity: float = 1.0
    speed: float = 1.0
    count: int | None = None
    side_stated: bool = True


@dataclass(frozen=True)
class ActionSpec:
    """What a phase says (``text``) and what it means (``parts``)."""

    text: str
    parts: tuple[ActionPart, ...]

    @property
    def label(self) -> str:
        return "+".join(p.label for p in self.parts)

    @property
    def sides_stated(self) -> tuple[bool, ...]:
        """Per part: False for a sided action phrased without its side (the side was added by ``text.with_side``)."""
        return tuple(p.side_stated for p in self.parts)


def _pick(rng: np.random.Generator, items: Sequence):
    return items[int(rng.integers(len(items)))]


@lru_cache(maxsize=4096)
def _split(items: tuple[str, ...], split: str, salt: str, share: float = HELDOUT_SHARE) -> tuple[str, ...]:
    return split_items(items, split, share, salt)


def _eligible(words: Sequence[str], split: str, salt: str, style: str) -> tuple[str, ...]:
    """The split's modifier words that a phrasing of ``style`` can take (negations: in front only; continuing forms
    "keeps nodding": after only)."""
    found = _split(tuple(words), split, salt)
    if style == "negation":
        return tuple(w for w in found if w not in _SUFFIX_ONLY)
    if style == "continuing":
        return tuple(w for w in found if w not in _PREFIX_ONLY)
    return found


def _adjective_slot(text: str) -> int | None:
    """Index of the word after "a"/"an" that an intensity adjective can precede ("a nod" -> 1), or None."""
    words = text.split(" ")
    for i in range(1, len(words)):
        if words[i - 1] in ("a", "an") and words[i] in _ADJECTIVE_NOUNS:
            return i
    return None


def _intensified(text: str, style: str, rng: np.random.Generator, split: str) -> tuple[str, float, str | None]:
    """``(text, factor, adverb)``: an adjective put before the action noun ("a big nod"; ``adverb`` None), or an
    adverb for the caller to place; noun phrases without a slot stay as they are (factor 1)."""
    slot = _adjective_slot(text)
    if slot is not None and (style == "nominal" or rng.random() < 0.4):
        word = _pick(rng, _split(tuple(INTENSITY_ADJECTIVES), split, "intensity-adjective"))
        words = text.split(" ")
        words[slot - 1 : slot] = ["a", word]  # every adjective starts with a consonant
        return " ".join(words), INTENSITY_ADJECTIVES[word], None
    adverbs = _eligible(INTENSITY_ADVERBS, split, "intensity", style)
    if style == "nominal" or not adverbs:
        return text, 1.0, None
    word = _pick(rng, adverbs)
    return text, INTENSITY_ADVERBS[word], word


def _placed(text: str, words: Sequence[str], style: str, rng: np.random.Generator) -> str:
    """``text`` with modifier words before ("slowly nods", "you slowly nod") or after ("nods twice") it."""
    for word in words:
        front = style == "negation" or (
            style != "continuing" and word not in _SUFFIX_ONLY and (word in _PREFIX_ONLY or rng.random() < 0.4)
        )
        if not front:
            text = f"{text} {word}"
        elif style == "you" and text.startswith("you "):
            text = f"you {word} {text[4:]}"
        else:
            text = f"{word} {text}"
    return text


def _modified(
    phrase: str, rng: np.random.Generator, split: str, action: Action, style: str = "verb", side_stated: bool = True
) -> tuple[str, ActionPart]:
    """A phrasing with drawn modifiers, and the ``ActionPart`` they mean. Noun phrases and states take intensity
    adjectives only; negations take modifiers in front."""
    intensity, speed, count = 1.0, 1.0, None
    words: list[str] = []
    if action.label in _TAKES_INTENSITY and rng.random() < 0.35:
        phrase, intensity, word = _intensified(phrase, style, rng, split)
        words += [word] if word else []
    speeds = _eligible(SPEED_WORDS, split, "speed", style)
    if style != "nominal" and action.label in _TAKES_SPEED and speeds and rng.random() < 0.25:
        word = _pick(rng, speeds)
        speed = SPEED_WORDS[word]
        words.append(word)
    counts = _eligible(COUNT_WORDS, split, "count", style)
    if style in ("verb", "you") and action.repeatable and counts and rng.random() < 0.5:
        word = _pick(rng, counts)
        count = COUNT_WORDS[word]
        words.append(word)
    return _placed(phrase, words, style, rng), ActionPart(action.label, intensity, speed, count, side_stated)


def _classed(action: Action, phrase: str) -> str:
    style = action.style_of(phrase)
    return "third" if style in ("verb", "negation") else style


def _phrasing(
    action: Action, rng: np.random.Generator, split: str, sideless_prob: float, want: str | None
) -> tuple[str, str, bool]:
    """``(phrase, style, side_stated)``: a phrasing of the split, naming no side with ``sideless_prob`` for sided
    actions; ``want`` ("third", "you", "nominal"): prefer that class (a combination keeps its first clause's form),
    else third-person verb phrases."""
    sideless = bool(action.sideless) and rng.random() < sideless_prob
    pool = action.sideless_for(split) if sideless else action.phrasings_for(split)
    if want is not None:
        pool = [p for p in pool if _classed(action, p) == want] or [
            p for p in pool if _classed(action, p) == "third"
        ] or list(pool)  # fmt: skip
    phrase = _pick(rng, pool)
    return phrase, action.style_of(phrase), not sideless


def _gerund(action: Action, rng: np.random.Generator, split: str, sideless_prob: float) -> tuple[str, bool]:
    """A gerund of the split ("nodding"; sideless ones for sided actions with ``sideless_prob``)."""
    if action.sideless_gerunds and rng.random() < sideless_prob:
        return _pick(rng, action.sideless_gerunds_for(split) or action.sideless_gerunds), False
    return _pick(rng, action.gerunds_for(split) or action.gerunds), True


def _clause(
    action: Action, rng: np.random.Generator, split: str, sideless_prob: float, form: str, want: str | None = None
) -> tuple[str, ActionPart, str]:
    """``(text, part, style)`` of one action. ``form``: "phrase" (any style; "keeps nodding", "two nods" now and
    then), "gerund" ("while nodding") or "later" (a phrase after the first clause of a combination, in its class;
    "you" dropped: "you smile and nod")."""
    if form == "gerund":
        phrase, stated = _gerund(action, rng, split, sideless_prob)
        text, part = _modified(phrase, rng, split, action, "verb", stated)
        return _side_named(text, part), part, "verb"
    if form == "phrase" and action.repeatable and action.count_nouns and rng.random() < 0.1:
        number = _pick(rng, _split(tuple(COUNT_NOUN_WORDS), split, "count-noun"))
        text = f"{number} {_pick(rng, action.count_nouns_for(split) or action.count_nouns)}"
        return text, ActionPart(action.label, count=COUNT_NOUN_WORDS[number]), "nominal"
    if form == "phrase" and rng.random() < 0.06:
        gerunds = [g for g in action.gerunds_for(split) if g.split(" ")[0] in _CONTINUING_GERUNDS]
        if gerunds:
            text, part = _modified(f"{_pick(rng, CONTINUING_VERBS)} {_pick(rng, gerunds)}", rng, split, action,
                                   "continuing")  # fmt: skip
            return text, part, "verb"
    phrase, style, stated = _phrasing(action, rng, split, sideless_prob, want)
    if form == "later" and style == "you":
        phrase, style = phrase[4:], "verb"
    text, part = _modified(phrase, rng, split, action, style, stated)
    return _side_named(text, part), part, style


def _side_named(text: str, part: ActionPart) -> str:
    """A sideless phrasing completed with its label's side, as ``reader.pick_sides`` completes a user's text."""
    return text if part.side_stated else with_side(text, part.label.rpartition("_")[2])


def _draw_label(rng: np.random.Generator, combo_prob: float, triple_prob: float) -> str:
    """A single action, a pair (``combo_prob``, triples included) or a triple (``min(triple_prob, combo_prob)``)."""
    r = rng.random()
    if r < min(triple_prob, combo_prob) and TRIPLE_COMBINATIONS:
        return _pick(rng, TRIPLE_COMBINATIONS)
    return _pick(rng, COMBINATIONS) if r < combo_prob else _pick(rng, ACTION_LABELS)


def sample_action(
    rng: np.random.Generator,
    split: str,
    *,
    label: str | None = None,
    combo_prob: float = 0.25,
    triple_prob: float = 0.08,
    sideless_prob: float = SIDELESS_PROB,
) -> ActionSpec:
    """Draw an action, a two-action combination (``combo_prob``) or a three-action one (``triple_prob`` of all
    draws, within ``combo_prob``) and phrase it with the ``split``'s phrasings and modifiers: "X and Y", "X while
    Y-ing", "X, Y and Z", "X and Y while Z-ing". Turns, tilts and glances are phrased without their side with
    ``sideless_prob`` ("turns her head away"; ``ActionPart.side_stated`` False)."""
    if label is None:
        label = _draw_label(rng, combo_prob, triple_prob)
    names = parts_of(label)
    n = len(names)
    last_form = "gerund" if n > 1 and rng.random() < (0.35 if n == 2 else 0.5) else "later"
    text, part, style = _clause(ACTIONS[names[0]], rng, split, sideless_prob, "phrase")
    want = "third" if style in ("verb", "negation") else style
    texts, parts = [text], [part]
    for k, name in enumerate(names[1:], start=1):
        more, p, _ = _clause(ACTIONS[name], rng, split, sideless_prob, last_form if k == n - 1 else "later", want)
        texts.append(more)
        parts.append(p)
    if n > 1:
        joint = ", " if n == 3 and last_form == "later" else " and "
        text = joint.join(texts[:-1]) + (" while " if last_form == "gerund" else " and ") + texts[-1]
    if all(p.count is None for p in parts) and rng.random() < 0.1 and not any(d in text for d in DURATION_WORDS):
        text = f"{text} {_pick(rng, _split(DURATION_WORDS, split, 'duration'))}"  # "for a moment": same motion
    if style in ("verb", "negation"):
        padded = f" {text} "
        subjects = [
            s for s in _SUBJECTS if not (s == "she " and " his " in padded) and not (s == "he " and " her " in padded)
        ]
        text = _pick(rng, subjects) + text
    return ActionSpec(text, tuple(parts))


def __getattr__(name: str):
    """The motion half of the vocabulary (``action_motion``) is reachable from here too: ``actions.add_action``."""
    from . import action_motion

    try:
        return getattr(action_motion, name)
    except AttributeError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
