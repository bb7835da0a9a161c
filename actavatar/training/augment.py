"""Text augmentation for stage 2: surface variants of a phase text that mean the same action.

The shipped model used to key on exact token sequences: it performed "shakes her head" but not "shakes the head",
"tilts her head to the left" but not "cocks her head to the left". Users write free text (imperatives, other
pronouns, a leading subject, capitals, a full stop), so each training phase text is also shown as a few variants:

- possessive pronouns swapped (her / his / their / the);
- the leading subject changed, dropped or added ("she", "he", "the speaker", "they", "then");
- the first verb in the imperative ("nods twice" -> "nod twice"), as people type in an editor;
- one filler word dropped ("the", "just", "over", ...); action, direction and count words are never touched;
- capitalised and/or with a full stop.

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
                "woman", "man", "to", "at", "with", "of"}  # fmt: skip
_IRREGULAR = {"does": "do", "goes": "go", "has": "have", "is": "be", "says": "say"}
_WORD = re.compile(r"[a-z]+(?:-[a-z]+)*")


def content_key(text: str) -> tuple[str, ...]:
    """The text's content words, in order, lower case, singular verb form: what an augmentation must not hit."""
    words = [w for w in _WORD.findall(text.lower()) if w not in _NOT_CONTENT]
    return tuple(_imperative(w) for w in words)


@lru_cache(maxsize=1)
def heldout_phrasings() -> tuple[str, ...]:
    """Every held-out phrasing and held-out gerund of every action, lower case."""
    from .actions import ACTIONS

    found = set()
    for action in ACTIONS.values():
        found.update(p.lower() for p in (*action.phrasings_for("heldout"), *action.gerunds_for("heldout")))
    return tuple(sorted(found))


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
    for subject in sorted(_SUBJECTS, key=len, reverse=True):
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
        ops = rng.permutation(5)[: int(rng.integers(1, 4))]
        for op in ops:
            if op == 0:  # swap possessives, each independently
                words = [str(rng.choice(_POSSESSIVES)) if w in _POSSESSIVES[:3] else w for w in words]
            elif op == 1:  # subject: drop, replace or add
                subject = "" if rng.random() < 0.4 else str(rng.choice(_SUBJECTS))
            elif op == 2 and not subject:  # imperative, as typed into an editor ("nod twice")
                words[0] = _imperative(words[0])
            elif op == 3:  # drop one filler word
                idx = [i for i, w in enumerate(words) if w in _FILLERS and len(words) > 2]
                if idx:
                    del words[int(rng.choice(idx))]
        variant = " ".join(([subject] if subject else []) + words)
        if rng.random() < 0.3:
            variant = variant[:1].upper() + variant[1:]
        if rng.random() < 0.2:
            variant += "."
        if variant == text or variant in out:
            continue
        if contains_heldout_verbatim(variant) or (not was_heldout and contains_heldout(variant)):
            continue
        out.append(variant)
    return out
