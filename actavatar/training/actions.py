"""The action vocabulary of the synthetic data: labels, phrasings, modifiers, and how each action moves the face.

Every action has a canonical ``label`` (``"nod"``, ``"tilt_left"``; a combination joins labels with ``+``:
``"smile+nod"``) and at least 15 phrasings. Phrasings are split deterministically (by a hash of the text) into
a training set and a held-out set that is never used for training, and so are some modifier words and base
prompt templates. The generator picks the text, but always knows the label and parameters it stands for.

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
from collections.abc import Sequence
from dataclasses import dataclass, field

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
@dataclass(frozen=True)
class Action:
    label: str
    kind: str  # "oscillation" | "hold" | "pulses" | "still": how the motion unfolds in its window
    channels: tuple[str, ...]  # the motion parameters it drives (combinations must not share any)
    phrasings: tuple[str, ...]  # third-person verb phrases: "nods", "gives a nod"
    gerunds: tuple[str, ...]  # for "... while nodding"
    repeatable: bool = False  # takes "twice", "three times"

    def phrasings_for(self, split: str) -> tuple[str, ...]:
        return split_items(self.phrasings, split, salt=self.label)

    def gerunds_for(self, split: str) -> tuple[str, ...]:
        """The split's gerunds ("... while nodding"); a third of them are held out (there are only 2-4)."""
        return split_items(self.gerunds, split, share=0.34, salt=self.label)


def _a(label, kind, channels, phrasings, gerunds, repeatable=False) -> Action:
    return Action(label, kind, tuple(channels.split()), tuple(phrasings), tuple(gerunds), repeatable)


_HEAD = "head_pitch head_yaw head_roll head_tx head_ty head_scale"

ACTIONS: dict[str, Action] = {
    a.label: a
    for a in [
        _a(
            "nod",
            "oscillation",
            "head_pitch",
            [
                "nods",
                "nods her head",
                "nods his head",
                "gives a nod",
                "nods in agreement",
                "nods along",
                "bobs her head up and down",
                "moves his head up and down",
                "nods approvingly",
                "gives a small nod",
                "nods yes",
                "signals yes with a nod",
                "dips her head in a nod",
                "nods understandingly",
                "nods as if agreeing",
                "agrees with a nod",
                "nods affirmatively",
                "keeps nodding",
            ],
            ["nodding", "nodding her head", "nodding along"],
            repeatable=True,
        ),
        _a(
            "shake_head",
            "oscillation",
            "head_yaw",
            [
                "shakes her head",
                "shakes his head",
                "shakes the head",
                "shakes head no",
                "gives a head shake",
                "shakes her head in disagreement",
                "turns his head side to side",
                "signals no with her head",
                "shakes his head disapprovingly",
                "moves her head left and right",
                "shakes head",
                "says no by shaking her head",
                "shakes his head in disbelief",
                "gives a slow head shake",
                "swings her head from side to side",
                "disagrees with a head shake",
            ],
            ["shaking her head", "shaking his head", "shaking the head"],
            repeatable=True,
        ),
        _a(
            "tilt_left",
            "hold",
            "head_roll",
            [
                "tilts her head to the left",
                "tilts his head left",
                "tilts head left",
                "cocks her head to the left",
                "leans her head to the left",
                "tips his head to the left",
                "tilts her head to her left",
                "inclines his head to the left",
                "cocks his head left",
                "angles her head to the left",
                "tilts the head leftward",
                "gives a head tilt to the left",
                "drops her head toward her left shoulder",
                "bends his head to the left",
                "tilts left",
                "tilts his head to his left side",
            ],
            ["tilting her head to the left", "tilting his head left", "with a head tilt to the left"],
        ),
        _a(
            "tilt_right",
            "hold",
            "head_roll",
            [
                "tilts her head to the right",
                "tilts his head right",
                "tilts head right",
                "cocks her head to the right",
                "leans her head to the right",
                "tips his head to the right",
                "tilts her head to her right",
                "inclines his head to the right",
                "cocks his head right",
                "angles her head to the right",
                "tilts the head rightward",
                "gives a head tilt to the right",
                "drops her head toward her right shoulder",
                "bends his head to the right",
                "tilts right",
                "tilts his head to his right side",
            ],
            ["tilting her head to the right", "tilting his head right", "with a head tilt to the right"],
        ),
        _a(
            "turn_left",
            "hold",
            "head_yaw",
            [
                "turns her head to the left",
                "turns his head left",
                "turns left",
                "looks to the left",
                "turns to her left",
                "looks over to the left",
                "faces left",
                "turns her face to the left",
                "rotates his head to the left",
                "looks away to the left",
                "turns toward the left",
                "swivels her head left",
                "looks left",
                "turns his head to his left",
                "turns to face the left side",
                "glances over her left shoulder",
            ],
            ["turning her head to the left", "looking to the left", "turning left"],
        ),
        _a(
            "turn_right",
            "hold",
            "head_yaw",
            [
                "turns her head to the right",
                "turns his head right",
                "turns right",
                "looks to the right",
                "turns to her right",
                "looks over to the right",
                "faces right",
                "turns her face to the right",
                "rotates his head to the right",
                "looks away to the right",
                "turns toward the right",
                "swivels her head right",
                "looks right",
                "turns his head to his right",
                "turns to face the right side",
                "glances over her right shoulder",
            ],
            ["turning her head to the right", "looking to the right", "turning right"],
        ),
        _a(
            "look_up",
            "hold",
            "head_pitch gaze_y",
            [
                "looks up",
                "looks upward",
                "raises her head",
                "lifts his head",
                "looks up at the ceiling",
                "tilts her head back and looks up",
                "gazes upward",
                "looks up toward the sky",
                "lifts her chin",
                "raises his chin",
                "glances up",
                "turns her eyes and head upward",
                "looks up thoughtfully",
                "raises her gaze",
                "tips his head up",
                "looks skyward",
            ],
            ["looking up", "looking upward", "raising her head"],
        ),
        _a(
            "look_down",
            "hold",
            "head_pitch gaze_y",
            [
                "looks down",
                "looks downward",
                "lowers her head",
                "drops his head",
                "looks down at the floor",
                "bows her head",
                "gazes downward",
                "looks down at her hands",
                "lowers his chin",
                "tucks her chin",
                "glances down",
                "casts her eyes down",
                "looks down shyly",
                "lowers his gaze",
                "tips her head down",
                "looks at the ground",
            ],
            ["looking down", "looking downward", "lowering her head"],
        ),
        _a(
            "smile",
            "hold",
            "smile",
            [
                "smiles",
                "smiles warmly",
                "gives a smile",
                "breaks into a smile",
                "smiles at the camera",
                "grins",
                "beams",
                "puts on a smile",
                "flashes a smile",
                "smiles happily",
                "cracks a smile",
                "shows a friendly smile",
                "smiles brightly",
                "lights up with a smile",
                "wears a big grin",
                "smiles kindly",
                "has a smile on her face",
            ],
            ["smiling", "grinning", "with a smile"],
        ),
        _a(
            "laugh",
            "hold",
            "smile blink_left blink_right jaw_open",
            [
                "laughs",
                "laughs out loud",
                "bursts out laughing",
                "chuckles",
                "giggles",
                "laughs heartily",
                "starts laughing",
                "cracks up",
                "has a good laugh",
                "laughs happily",
                "breaks into laughter",
                "laughs at a joke",
                "lets out a laugh",
                "laughs warmly",
                "shakes with laughter",
                "laughs merrily",
            ],
            ["laughing", "chuckling", "giggling"],
        ),
        _a(
            "frown",
            "hold",
            "smile",
            [
                "frowns",
                "turns the corners of her mouth down",
                "pulls a sad face",
                "looks unhappy",
                "looks sad",
                "makes a sad face",
                "frowns sadly",
                "gives a frown",
                "looks disappointed",
                "pouts sadly with a frown",
                "puts on a frown",
                "looks displeased",
                "frowns in disappointment",
                "looks glum",
                "grimaces",
                "looks upset",
            ],
            ["frowning", "looking sad", "with a frown"],
        ),
        _a(
            "raise_eyebrows",
            "hold",
            "brow_raise",
            [
                "raises her eyebrows",
                "raises his eyebrows",
                "lifts her brows",
                "looks surprised",
                "arches her eyebrows",
                "raises both eyebrows",
                "looks astonished",
                "raises eyebrows",
                "looks amazed",
                "lifts his eyebrows",
                "makes a surprised face",
                "looks shocked",
                "widens her eyes in surprise",
                "shows surprise",
                "raises her brows in surprise",
                "looks taken aback",
            ],
            ["raising her eyebrows", "with raised eyebrows", "looking surprised"],
        ),
        _a(
            "furrow",
            "hold",
            "brow_raise",
            [
                "furrows her brow",
                "furrows his brows",
                "looks angry",
                "scowls",
                "knits her brows",
                "frowns angrily",
                "draws his brows together",
                "looks annoyed",
                "glares",
                "looks irritated",
                "lowers her brows",
                "looks stern",
                "furrows her forehead",
                "looks cross",
                "scowls angrily",
                "looks mad",
                "looks confused and furrows her brow",
            ],
            ["furrowing her brow", "scowling", "looking angry"],
        ),
        _a(
            "close_eyes",
            "hold",
            "blink_left blink_right",
            [
                "closes her eyes",
                "closes his eyes",
                "shuts her eyes",
                "keeps her eyes closed",
                "closes both eyes",
                "shuts his eyes tight",
                "has her eyes shut",
                "closes the eyes",
                "rests her eyes",
                "squeezes her eyes shut",
                "lowers her eyelids",
                "closes her eyes for a moment",
                "shuts both eyes",
                "keeps his eyes shut",
                "closes eyes",
                "closes her eyes peacefully",
            ],
            ["with her eyes closed", "closing her eyes", "with eyes shut"],
        ),
        _a(
            "blink_rapidly",
            "pulses",
            "blink_left blink_right",
            [
                "blinks rapidly",
                "blinks quickly",
                "blinks several times",
                "blinks a lot",
                "flutters her eyelashes",
                "blinks repeatedly",
                "blinks fast",
                "keeps blinking",
                "bats her eyelashes",
                "blinks many times",
                "blinks in quick succession",
                "flutters his eyelids",
                "blinks nervously",
                "blinks over and over",
                "does a series of quick blinks",
                "blinks hard several times",
            ],
            ["blinking rapidly", "blinking quickly", "fluttering her eyelashes"],
        ),
        _a(
            "wink_left",
            "pulses",
            "blink_right",
            [
                "winks her left eye",
                "winks with his left eye",
                "winks the left eye",
                "gives a wink with her left eye",
                "closes her left eye in a wink",
                "winks left",
                "does a left-eye wink",
                "winks with the left eye",
                "shuts her left eye briefly",
                "blinks only her left eye",
                "winks his left eye playfully",
                "gives a left wink",
                "winks using her left eye",
                "flashes a wink with the left eye",
                "closes just her left eye for a moment",
                "winks her left eye at the camera",
            ],
            ["winking her left eye", "winking with the left eye", "with a left-eye wink"],
            repeatable=True,
        ),
        _a(
            "wink_right",
            "pulses",
            "blink_left",
            [
                "winks her right eye",
                "winks with his right eye",
                "winks the right eye",
                "gives a wink with her right eye",
                "closes her right eye in a wink",
                "winks right",
                "does a right-eye wink",
                "winks with the right eye",
                "shuts her right eye briefly",
                "blinks only her right eye",
                "winks his right eye playfully",
                "gives a right wink",
                "winks using her right eye",
                "flashes a wink with the right eye",
                "closes just her right eye for a moment",
                "winks her right eye at the camera",
            ],
            ["winking her right eye", "winking with the right eye", "with a right-eye wink"],
            repeatable=True,
        ),
        _a(
            "pout",
            "hold",
            "lip_pucker",
            [
                "pouts",
                "purses her lips",
                "purses his lips",
                "puckers her lips",
                "pushes her lips forward",
                "makes a pout",
                "puckers up",
                "pouts her lips",
                "makes a kissy face",
                "rounds her lips",
                "sticks out her lips",
                "pouts playfully",
                "presses her lips into a pout",
                "gives a pout",
                "purses the lips",
                "puckers his lips thoughtfully",
            ],
            ["pouting", "pursing her lips", "with pursed lips"],
        ),
        _a(
            "glance_left",
            "hold",
            "gaze_x",
            [
                "glances to the left",
                "glances left",
                "shifts her eyes to the left",
                "looks left with her eyes",
                "moves his eyes to the left",
                "casts a glance to the left",
                "peeks to the left",
                "darts her eyes left",
                "looks sideways to the left",
                "eyes something on the left",
                "sneaks a glance to the left",
                "rolls her eyes to the left",
                "side-eyes to the left",
                "shifts his gaze left",
                "throws a glance to her left",
                "looks out of the corner of her eye to the left",
            ],
            ["glancing to the left", "with her eyes to the left", "glancing left"],
        ),
        _a(
            "glance_right",
            "hold",
            "gaze_x",
            [
                "glances to the right",
                "glances right",
                "shifts her eyes to the right",
                "looks right with her eyes",
                "moves his eyes to the right",
                "casts a glance to the right",
                "peeks to the right",
                "darts her eyes right",
                "looks sideways to the right",
                "eyes something on the right",
                "sneaks a glance to the right",
                "rolls her eyes to the right",
                "side-eyes to the right",
                "shifts his gaze right",
                "throws a glance to her right",
                "looks out of the corner of her eye to the right",
            ],
            ["glancing to the right", "with her eyes to the right", "glancing right"],
        ),
        _a(
            "lean_in",
            "hold",
            "head_scale head_ty",
            [
                "leans in",
                "leans toward the camera",
                "leans forward",
                "moves closer to the camera",
                "leans in closer",
                "comes closer",
                "bends toward the camera",
                "leans in to the lens",
                "moves her face closer",
                "draws nearer",
                "leans in attentively",
                "edges closer to the camera",
                "leans forward eagerly",
                "brings his face closer",
                "leans in as if sharing a secret",
                "shifts forward",
            ],
            ["leaning in", "leaning forward", "leaning toward the camera"],
        ),
        _a(
            "stay_still",
            "still",
            _HEAD + " gaze_x gaze_y",
            [
                "stays still",
                "holds still",
                "keeps her head still",
                "remains motionless",
                "freezes",
                "does not move",
                "keeps perfectly still",
                "holds her pose",
                "stays completely still",
                "keeps his head steady",
                "stops moving",
                "holds steady",
                "remains still",
                "stands still",
                "keeps calm and still",
                "holds her head still",
            ],
            ["staying still", "holding still", "keeping still"],
        ),
    ]
}
ACTION_LABELS: tuple[str, ...] = tuple(ACTIONS)


def parts_of(label: str) -> tuple[str, ...]:
    """``"smile+nod"`` -> ``("smile", "nod")``; raises ``KeyError`` for an unknown label."""
    parts = tuple(label.split("+"))
    for p in parts:
        if p not in ACTIONS:
            raise KeyError(f"unknown action label {p!r}; known: {', '.join(ACTION_LABELS)}")
    return parts


# Contradictory pairs (driving different channels, but no face does both): never drawn as a combination.
_CONFLICTS = {
    frozenset(p)
    for p in [
        ("smile", "furrow"),
        ("laugh", "furrow"),
        ("laugh", "frown"),
        ("laugh", "pout"),
        ("wink_left", "wink_right"),  # winking both eyes is a blink
    ]
}


def can_combine(a: str, b: str) -> bool:
    """Two actions combine when they drive disjoint motion parameters, are not contradictory, and neither is
    ``stay_still``."""
    if "stay_still" in (a, b) or a == b or frozenset((a, b)) in _CONFLICTS:
        return False
    return not set(ACTIONS[a].channels) & set(ACTIONS[b].channels)


COMBINATIONS: tuple[str, ...] = tuple(
    f"{a}+{b}" for a in ACTION_LABELS for b in ACTION_LABELS if a < b and can_combine(a, b)
)

# ---------------------------------------------------------------------------------------------------- modifiers
# Intensities stay within 0.7–1.4 (times the +-10 % person-to-person jitter): "nods a little" is still a nod a
# viewer (and the detectors of ``actavatar.evaluation.metrics``, at about half a slight action) can see.
INTENSITY_WORDS: dict[str, float] = {
    "slightly": 0.75,
    "a little": 0.75,
    "a bit": 0.75,
    "gently": 0.8,
    "subtly": 0.75,
    "softly": 0.8,
    "faintly": 0.75,
    "barely": 0.7,
    "strongly": 1.3,
    "a lot": 1.3,
    "vigorously": 1.4,
    "emphatically": 1.3,
    "firmly": 1.25,
    "deeply": 1.3,
    "intensely": 1.4,
    "energetically": 1.3,
}
SPEED_WORDS: dict[str, float] = {
    "slowly": 0.6,
    "gradually": 0.7,
    "leisurely": 0.65,
    "unhurriedly": 0.65,
    "quickly": 1.6,
    "rapidly": 1.7,
    "briskly": 1.5,
    "fast": 1.6,
}
COUNT_WORDS: dict[str, int] = {
    "once": 1,
    "one time": 1,
    "twice": 2,
    "two times": 2,
    "a couple of times": 2,
    "three times": 3,
    "thrice": 3,
    "four times": 4,
}
_SUFFIX_ONLY = {w for w in (*INTENSITY_WORDS, *SPEED_WORDS, *COUNT_WORDS) if " " in w} | {"fast"} | set(COUNT_WORDS)
_SUBJECTS = ("", "", "", "she ", "he ", "the speaker ", "the person ", "then ")
_TAKES_INTENSITY = set(ACTION_LABELS) - {"stay_still", "close_eyes", "blink_rapidly", "wink_left", "wink_right"}
_TAKES_SPEED = set(ACTION_LABELS) - {"stay_still", "blink_rapidly"}


@dataclass(frozen=True)
class ActionPart:
    """One atomic action with its modifiers (``count=None``: as many repetitions as fit naturally)."""

    label: str
    intensity: float = 1.0
    speed: float = 1.0
    count: int | None = None


@dataclass(frozen=True)
class ActionSpec:
    """What a phase says (``text``) and what it means (``parts``)."""

    text: str
    parts: tuple[ActionPart, ...]

    @property
    def label(self) -> str:
        return "+".join(p.label for p in self.parts)


def _modified(phrase: str, rng: np.random.Generator, split: str, action: Action) -> tuple[str, ActionPart]:
    intensity, speed, count = 1.0, 1.0, None
    words: list[str] = []
    if action.label in _TAKES_INTENSITY and rng.random() < 0.35:
        word = _pick(rng, split_items(tuple(INTENSITY_WORDS), split, salt="intensity"))
        intensity = INTENSITY_WORDS[word]
        words.append(word)
    if action.label in _TAKES_SPEED and rng.random() < 0.25:
        word = _pick(rng, split_items(tuple(SPEED_WORDS), split, salt="speed"))
        speed = SPEED_WORDS[word]
        words.append(word)
    if action.repeatable and rng.random() < 0.5:
        word = _pick(rng, split_items(tuple(COUNT_WORDS), split, salt="count"))
        count = COUNT_WORDS[word]
        words.append(word)
    text = phrase
    for word in words:
        if word not in _SUFFIX_ONLY and rng.random() < 0.4 and " " not in phrase.split(" ", 1)[0]:
            text = f"{word} {text}"
        else:
            text = f"{text} {word}"
    return text, ActionPart(action.label, intensity, speed, count)


def _pick(rng: np.random.Generator, items: Sequence):
    return items[int(rng.integers(len(items)))]


def sample_action(
    rng: np.random.Generator, split: str, *, label: str | None = None, combo_prob: float = 0.25
) -> ActionSpec:
    """Draw an action (or a two-action combination) and phrase it with the ``split``'s phrasings and modifiers."""
    if label is None:
        label = _pick(rng, COMBINATIONS) if rng.random() < combo_prob else _pick(rng, ACTION_LABELS)
    names = parts_of(label)
    first = ACTIONS[names[0]]
    text, part = _modified(_pick(rng, first.phrasings_for(split)), rng, split, first)
    parts = [part]
    for name in names[1:]:
        action = ACTIONS[name]
        if rng.random() < 0.65:
            more, p = _modified(_pick(rng, action.phrasings_for(split)), rng, split, action)
            text = f"{text} and {more}"
        else:
            gerunds = action.gerunds_for(split) or action.gerunds
            more, p = _modified(_pick(rng, gerunds), rng, split, action)
            text = f"{text} while {more}"
        parts.append(p)
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


MOODS: dict[str, Mood] = {
    m.name: m
    for m in [
        Mood("calm", 0.8, 0.05, 0.0, 0.0, (2.5, 6.0), (2.0, 5.0), 0.9, ("calmly", "calm", "peacefully", "serenely")),
        Mood(
            "cheerful",
            1.2,
            0.3,
            0.1,
            -1.0,
            (2.0, 5.0),
            (1.5, 4.0),
            1.1,
            ("cheerfully", "happy", "cheerful", "joyfully"),
        ),
        Mood(
            "serious",
            0.75,
            -0.05,
            -0.1,
            1.0,
            (3.0, 6.0),
            (2.5, 6.0),
            0.95,
            ("seriously", "serious", "solemnly", "gravely"),
        ),
        Mood(
            "excited",
            1.3,
            0.25,
            0.2,
            -1.5,
            (2.0, 4.5),
            (1.0, 3.0),
            1.25,
            ("excitedly", "excited", "enthusiastically", "energetically"),
        ),
        Mood("friendly", 1.0, 0.2, 0.05, 0.0, (2.0, 5.0), (1.5, 4.0), 1.0, ("friendly", "warmly", "kindly", "warm")),
        Mood("sad", 0.75, -0.2, -0.05, 2.5, (2.5, 6.0), (2.0, 5.0), 0.8, ("sadly", "sad", "gloomily", "melancholy")),
        Mood(
            "confident",
            1.1,
            0.1,
            0.0,
            -1.5,
            (3.0, 6.0),
            (2.5, 5.0),
            1.1,
            ("confidently", "confident", "assertively", "boldly"),
        ),
        Mood(
            "nervous",
            1.2,
            0.0,
            0.15,
            1.0,
            (1.2, 3.0),
            (0.8, 2.0),
            0.9,
            ("nervously", "nervous", "anxiously", "uneasily"),
        ),
        Mood(
            "thoughtful",
            0.85,
            0.0,
            -0.05,
            0.5,
            (2.5, 6.0),
            (1.5, 3.5),
            0.9,
            ("thoughtfully", "pensively", "reflectively", "thoughtful"),
        ),
    ]
}

_PEOPLE = (
    "a woman",
    "a man",
    "a young woman",
    "an older man",
    "a person",
    "the presenter",
    "a news anchor",
    "a teacher",
    "a young man",
    "an elderly woman",
    "a student",
    "a narrator",
    "a host",
    "a doctor",
    "a girl",
    "a boy",
)
_STYLES = (
    "",
    "",
    "",
    ", studio lighting",
    ", webcam video",
    ", close-up portrait",
    ", natural light",
    ", vlog style",
    ", soft light",
    ", plain background",
    ", cinematic",
    ", podcast setting",
    ", office background",
)
_BASE_TEMPLATES = (
    "{who} talking {adv} to the camera{style}",
    "{who} speaking {adv}{style}",
    "{who} explains something {adv}{style}",
    "{who} tells a story {adv}{style}",
    "{who} addressing the viewer {adv}{style}",
    "{adv}, {who} talks to the audience{style}",
    "{who} giving a short speech {adv}{style}",
    "portrait of {who} talking {adv}{style}",
    "{who} answers a question {adv}{style}",
    "{who} reads a message {adv}{style}",
    "talking head: {who}, speaking {adv}{style}",
    "{who} chatting {adv} with the viewer{style}",
    "{who} presenting the news {adv}{style}",
    "a video call with {who} speaking {adv}{style}",
    "{who} delivers a monologue {adv}{style}",
)


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
    return motion


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
