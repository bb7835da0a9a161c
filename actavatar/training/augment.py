"""Text augmentation for stage 2: surface variants of a phase text that mean the same action.

The shipped model used to key on exact token sequences: it performed "shakes her head" but not "shakes the head",
"tilts her head to the left" but not "cocks her head to the left". Users write free text (imperatives, other
pronouns, a leading subject, capitals, a full stop), so each training phase text is also shown as a few variants:

- possessive pronouns swapped (her / his / their / the);
- the leading subject changed, dropped or added ("she", "he", "the speaker", "they", "then");
- the first verb in the imperative ("nods twice" -> "nod twice"), as people type in an editor;
- one filler word dropped ("the", "just", "over", ...); action, direction and count words are never touched;
- capitalised and/or with a full stop; now and then ALL CAPS, all lower case or "!!";
- now and then a typo: one letter doubled, dropped or swapped with the next in one content word of at least five
  letters ("nods" never, "smiles" -> "smiels"); side words ("left", "right", "leftward") and count words ("twice",
  "three") are never touched, so the side and the count survive.

Noun phrases and states ("a nod", "her head tilted to the left") have no verb: they get no subject and no
imperative. Second-person texts ("you nod your head") keep their subject or drop it (the imperative "nod your
head"); they never get another one.

**Mirroring** (``actavatar.text.mirror_text`` with ``actavatar.motion.mirror_motion``): a clip seen in a mirror is a
clip of the opposite direction, so "turns her head to the left" over mirrored motion is a training item for "... to
the right".
Every mirrored pair differs only in its direction word, which teaches the model that this word, and nothing else,
sets the sign (the shipped model without it turned left or right at random for some left/right phrasings).

No variant may reduce to a held-out phrasing: texts are compared by their *content words* (pronouns, articles and
subjects removed), and a variant whose content matches any held-out phrasing of any action is discarded. So the
held-out evaluation still measures phrasings the model has never seen, in any pronoun or subject form. (The
phrasing split itself is by hash: about a quarter of the training texts already share content words with a
held-out phrasing, e.g. "nods his head" vs. held-out "nods her head". Their variants must still never contain a
held-out phrasing verbatim.)
"""

from __future__ import annotations

import re
from functools import lru_cache

import numpy as np

_POSSESSIVES = ("her", "his", "their", "the")
_SUBJECTS = ("she", "he", "they", "the speaker", "the person", "then", "the woman", "the man")
_FILLERS = {"the", "a", "just", "over", "then", "for", "quickly", "slightly"}
_NOT_CONTENT = {"her", "his", "their", "the", "a", "an", "she", "he", "they", "then", "speaker", "person",
                "woman", "man", "to", "at", "with", "of", "you", "your"}  # fmt: skip
_IRREGULAR = {"does": "do", "goes": "go", "has": "have", "is": "be", "says": "say"}
_WORD = re.compile(r"[a-z]+(?:-[a-z]+)*")
_SIDED = re.compile(r"left|right", re.IGNORECASE)
_WARD = re.compile(r"(left|right)ward", re.IGNORECASE)  # mirror_text swaps "leftward" but not "LEFTWARD"
TYPO_PROB = 0.06  # of variants
# Fillers that are part of a modifier ("a couple of times", "a lot", "the whole time"): never dropped.
_MODIFIER_PAIRS = {"a couple", "a lot", "a bit", "a little", "a tiny", "a moment", "a while", "a second", "a few",
                   "the whole", "the entire", "just a"}  # fmt: skip


def content_key(text: str) -> tuple[str, ...]:
    """The text's content words, in order, lower case, singular verb form: what an augmentation must not hit."""
    words = [w for w in _WORD.findall(text.lower()) if w not in _NOT_CONTENT]
    return tuple(_imperative(w) for w in words)


@lru_cache(maxsize=1)
def heldout_phrasings() -> tuple[str, ...]:
    """Every held-out phrasing and held-out gerund of every action, lower case."""
    from .actions import ACTIONS

    found = set()
    for a in ACTIONS.values():
        held = (*a.phrasings_for("heldout"), *a.gerunds_for("heldout"))
        found.update(p.lower() for p in (*held, *a.sideless_for("heldout"), *a.sideless_gerunds_for("heldout")))
    return tuple(sorted(found))


@lru_cache(maxsize=1)
def nominal_starts() -> frozenset[str]:
    """First words of the bank's noun phrases and states ("a", "with", "her", "two") that no verb phrase starts
    with: a text starting with one has no verb to put in the imperative and takes no subject."""
    from .actions import ACTIONS, COUNT_NOUN_WORDS

    verbal, nominal = set(), {w.split(" ")[0] for w in COUNT_NOUN_WORDS}
    for a in ACTIONS.values():
        for p in (*a.phrasings, *a.sideless):
            (nominal if a.style_of(p) == "nominal" else verbal).add(p.split(" ")[0].lower())
    return frozenset(nominal - verbal)


@lru_cache(maxsize=1)
def protected_words() -> frozenset[str]:
    """Words a typo never touches: count words ("twice", "three", "times"); side words are protected apart."""
    from .actions import COUNT_NOUN_WORDS, COUNT_WORDS

    return frozenset(w for phrase in (*COUNT_WORDS, *COUNT_NOUN_WORDS) for w in phrase.split(" "))


def typo(text: str, rng: np.random.Generator) -> str:
    """``text`` with one typo (a letter doubled, dropped, or swapped with the next one) in one word of at least five
    letters that names no side and no count; ``text`` itself when it has no such word."""
    words = text.split(" ")
    spots = [
        i for i, w in enumerate(words)
        if len(w) >= 5 and w.isalpha() and not _SIDED.search(w) and w.lower() not in protected_words()
    ]  # fmt: skip
    if not spots:
        return text
    i = int(rng.choice(spots))
    w = words[i]
    k = int(rng.integers(1, len(w) - 1))  # never the first letter
    kind = int(rng.integers(3))
    if kind == 0:
        w = w[: k + 1] + w[k:]  # doubled
    elif kind == 1:
        w = w[:k] + w[k + 1 :]  # dropped
    else:
        w = w[:k] + w[k + 1] + w[k] + w[k + 2 :]  # swapped with the next letter
    words[i] = w
    return " ".join(words)


def _surface(text: str, rng: np.random.Generator) -> str:
    """Casing and end punctuation as people type: capitalised, all lower case, ALL CAPS, a full stop, "!!"."""
    r = rng.random()
    if r < 0.04 and not _WARD.search(text):
        text = text.upper()
    elif r < 0.1:
        text = text.lower()
    elif r < 0.4:
        text = text[:1].upper() + text[1:]
    r = rng.random()
    if r < 0.2:
        text += "."
    elif r < 0.24:
        text += "!!"
    return text


@lru_cache(maxsize=1)
def heldout_keys() -> frozenset[tuple[str, ...]]:
    """Content keys of every held-out phrasing (and held-out gerund) of every action."""
    return frozenset(content_key(p) for p in heldout_phrasings())


def contains_heldout(text: str) -> bool:
    """True if the content words of ``text`` contain a held-out phrasing's content words as a contiguous run."""
    words = content_key(text)
    for key in heldout_keys():
        n = len(key)
        if n and any(words[i : i + n] == key for i in range(len(words) - n + 1)):
            return True
    return False


@lru_cache(maxsize=1)
def _heldout_patterns() -> tuple[re.Pattern, ...]:
    return tuple(re.compile(r"\b" + re.escape(p) + r"\b") for p in heldout_phrasings())


def contains_heldout_verbatim(text: str) -> bool:
    """True if ``text`` contains a held-out phrasing (or gerund) word for word."""
    low = text.lower()
    return any(p.search(low) for p in _heldout_patterns())


def _imperative(word: str) -> str:
    if word in _IRREGULAR:
        return _IRREGULAR[word]
    if word.endswith(("shes", "ches", "xes", "sses", "zes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith("ss") and len(word) > 3:
        return word[:-1]
    return word


def _split_subject(text: str) -> tuple[str, str]:
    low = text.lower()
    for subject in sorted((*_SUBJECTS, "you"), key=len, reverse=True):
        if low.startswith(subject + " "):
            return subject, text[len(subject) + 1 :]
    return "", text


def variants(text: str, rng: np.random.Generator, count: int = 3) -> list[str]:
    """Up to ``count`` distinct variants of ``text`` (never ``text`` itself, never a held-out phrasing)."""
    was_heldout = contains_heldout(text)
    out: list[str] = []
    for _ in range(count * 6):
        if len(out) >= count:
            break
        subject, rest = _split_subject(text.strip())
        words = rest.split()
        if not words:
            break
        words = _rewritten(subject, words, rng)
        variant = " ".join(words)
        if contains_heldout_verbatim(variant) or (not was_heldout and contains_heldout(variant)):
            continue
        if rng.random() < TYPO_PROB:
            variant = typo(variant, rng)
        variant = _surface(variant, rng)
        if variant == text or variant in out or contains_heldout_verbatim(variant):
            continue
        out.append(variant)
    return out


def _rewritten(subject: str, words: list[str], rng: np.random.Generator) -> list[str]:
    """The words of a variant: 1-3 of the rewrites (possessives, subject, imperative, a filler dropped). A noun
    phrase or state gets no subject and no imperative; "you" is kept or dropped (the imperative)."""
    addressed = subject == "you"
    verbal = not addressed and words[0].lower() not in nominal_starts()
    if not subject and not verbal:
        subject = "nominal"
    for op in rng.permutation(5)[: int(rng.integers(1, 4))]:
        if op == 0:  # swap possessives, each independently
            words = [str(rng.choice(_POSSESSIVES)) if w in _POSSESSIVES[:3] else w for w in words]
        elif op in (1, 2) and addressed:  # "you nod" -> "nod"
            subject = ""
        elif op == 1 and subject != "nominal":  # subject: drop, replace or add
            subject = "" if rng.random() < 0.4 else str(rng.choice(_SUBJECTS))
        elif op == 2 and not subject:  # imperative, as typed into an editor ("nod twice")
            words[0] = _imperative(words[0])
        elif op == 3:  # drop one filler word
            idx = [
                i for i, w in enumerate(words)
                if w in _FILLERS and len(words) > 2 and " ".join(words[i : i + 2]) not in _MODIFIER_PAIRS
            ]  # fmt: skip
            if idx:
                del words[int(rng.choice(idx))]
    return ([subject] if subject and subject != "nominal" else []) + words
