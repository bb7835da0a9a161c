"""The action vocabulary of the synthetic data: labels, phrasings, modifiers, and how each action moves the face.

Every action has a canonical ``label`` (``"nod"``, ``"tilt_left"``; a combination of two or three joins labels with
``+``: ``"smile+nod"``) and at least 40 phrasings in several styles: third-person verb phrases ("nods", "gives a
nod"), figurative ones ("bobs his head"), negations that leave the action ("smiles without moving her head"),
states ("with her head tilted to the left"), noun phrases ("a nod") and the second person ("you nod"). The bank is
data, ``actions.toml`` (read with ``tomllib``). Turns, tilts and glances also have phrasings that name no side
("turns her head away"): drawn for either side's label, with ``ActionPart.side_stated`` False. Phrasings are split
deterministically (by a hash of the text) into a training set and a held-out set that is never used for training,
and so are some modifier words and base prompt templates. The generator picks the text, but always knows the label
and parameters it stands for.

Left and right are the **subject's own** (stage directions: "turns to her left"). Seen from the camera that is
the image's right, so ``turn_left`` is ``head_yaw > 0``, ``tilt_left`` is ``head_roll > 0`` (clockwise in the
image), ``glance_left`` is ``gaze_x > 0`` and ``wink_left`` closes the eye on the image's right
(``blink_right``). See ``actavatar.motion`` for units.

``add_action`` adds an action's motion only to the frames whose midpoint lies in ``[start, end)``, with onset and
offset ramps inside the window, so nothing happens outside it; given the clip's word timings, an action's jaw
opening (raised eyebrows, laughing) fades to closed in the speech's pauses unless the action asks for an open mouth
(``MOUTH_OPENING_ACTIONS``): the audio owns the mouth. ``idle_motion`` is the natural motion of a
speaker (prosody-linked head movement, blinks every 2–6 s, gaze shifts) that ``stay_still`` suppresses.
"""

from __future__ import annotations

import hashlib
import itertools
import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..motion import MOTION_DIM, MOTION_INDEX

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

    ``side_stated=False``: a sided action (``turn_left``) whose text names no side ("turns her head away"); the
    motion goes to the label's side, and an evaluation should accept either side."""

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
        """Per part: False for a sided action whose text names no side (either side is right)."""
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
        return text, part, "verb"
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
    return text, part, style


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


# ------------------------------------------------------------------------------------------------------ motion
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


def _part_motion(part: ActionPart, t: np.ndarray, duration: float, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Channel -> values (added to the motion) for one action over window-relative times ``t``."""
    a, speed, label = part.intensity, part.speed, part.label
    ramp = float(np.clip(0.22 / speed, 0.1, 0.4))
    env = _ramp(t, duration, min(ramp, duration / 3), min(ramp * 1.3, duration / 3))
    fast_env = _ramp(t, duration, min(0.08, duration / 4), min(0.1, duration / 4))
    jitter = float(rng.uniform(0.9, 1.1))  # person-to-person variation of the same action
    a = a * jitter
    if label == "nod":
        starts, period = repetition_starts(duration, 0.6 / speed, part.count, cap=5)
        pitch = 8.5 * a * _repeat(t, starts, period, _nod_shape)
        return {"head_pitch": pitch, "head_ty": 0.0015 * pitch}
    if label == "shake_head":
        n, period = _cycles(duration, 0.6 / speed, part.count, cap=5)
        if period < MIN_REP_PERIOD_S:  # "four times" in a short window: fewer, visible shakes
            n = max(1, int(duration * 0.9 / MIN_REP_PERIOD_S))
            period = min(MIN_REP_PERIOD_S, duration * 0.9 / n)
        u = np.clip(t / period, 0, n)
        taper = np.sin(np.pi * u / n) ** 0.5  # starts and ends at rest
        return {"head_yaw": 11.0 * a * np.sin(2 * np.pi * u) * taper * (t < n * period)}
    if label in ("tilt_left", "tilt_right"):
        sign = 1.0 if label == "tilt_left" else -1.0
        return {"head_roll": sign * 11.0 * a * env, "head_tx": sign * 0.01 * a * env}
    if label in ("turn_left", "turn_right"):
        sign = 1.0 if label == "turn_left" else -1.0
        return {"head_yaw": sign * 20.0 * a * env, "gaze_x": sign * 0.1 * fast_env}
    if label in ("look_up", "look_down"):
        sign = -1.0 if label == "look_up" else 1.0
        return {"head_pitch": sign * 12.0 * a * env, "gaze_y": sign * 0.35 * min(a, 1.2) * env}
    if label == "smile":
        return {"smile": 0.7 * a * env}
    if label == "laugh":
        bounce = 0.5 + 0.5 * np.sin(2 * np.pi * 4.5 * speed * t)
        return {
            "smile": 0.85 * a * env,
            "blink_left": 0.4 * env,
            "blink_right": 0.4 * env,
            "jaw_open": (0.1 + 0.15 * bounce) * a * env,
            "head_pitch": (-1.5 + 1.0 * bounce) * a * env,
        }
    if label == "frown":
        return {"smile": -0.7 * a * env, "brow_raise": -0.05 * a * env}
    if label == "raise_eyebrows":
        return {"brow_raise": 0.75 * a * env, "jaw_open": 0.1 * a * env}
    if label == "furrow":
        return {"brow_raise": -0.7 * a * env, "smile": -0.1 * a * env}
    if label == "close_eyes":  # lids close fast even when "slowly": the eyes are shut for the whole core
        rise = min(0.15 / speed, 0.25, duration / 4)
        lids = _ramp(t, duration, rise, rise)
        return {"blink_left": lids, "blink_right": lids}
    if label == "blink_rapidly":
        starts, period = repetition_starts(duration, 0.45, None, cap=16, min_count=2, min_period=0.28)
        pulse = _repeat(t, starts, period, _blink_shape)
        return {"blink_left": pulse, "blink_right": pulse}
    if label in ("wink_left", "wink_right"):
        n, period = _cycles(duration, 0.7 / speed, part.count, cap=1 if part.count is None else 8)
        u = np.clip(t / period, 0, n)
        # Each wink: a quick close, a short hold, a slower open.
        phase = u - np.floor(u)
        pulse = np.where(phase < 0.75, np.sin(np.pi * np.clip(phase / 0.75, 0, 1)) ** 0.6, 0.0)
        pulse = pulse * (t < n * period)
        eye, other = ("blink_right", "blink_left") if label == "wink_left" else ("blink_left", "blink_right")
        return {eye: pulse, other: 0.1 * pulse, "smile": 0.1 * env}
    if label == "pout":
        return {"lip_pucker": 0.75 * a * env, "smile": -0.1 * a * env}
    if label in ("glance_left", "glance_right"):
        sign = 1.0 if label == "glance_left" else -1.0
        return {"gaze_x": sign * 0.7 * min(a, 1.3) * fast_env}
    if label == "lean_in":
        return {"head_scale": 0.12 * a * env, "head_ty": 0.015 * a * env, "head_pitch": 1.0 * a * env}
    if label == "stay_still":
        return {}
    raise KeyError(f"no motion program for action {label!r}")


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
