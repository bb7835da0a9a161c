"""Phase-Aware Cross-Attention (PACA), the paper's structured prompt attention, as a diffusers processor.

Keys/values are one sequence ``[base tokens ; phase_1 tokens ; ... ; phase_P tokens]``. An additive bias of shape
``(B, T, S)`` (frames x tokens) decides what each frame sees:

- ``hard``: the base block plus only the phase whose window contains the frame (others get ``-inf``);
- ``soft``: the base block plus every phase with bias ``log(w)``, ``w`` a membership feathered over a width in
  seconds around each window edge (``PhasePlan.soft_frame_weights``);
- ``off``: every token, every frame (the ablation: all phase texts act as one global prompt).

Phase tokens carry a time-anchor embedding of their span, frame queries the matching embedding of their time
(``TimeAnchor``). The processor is the only attention code: it runs in ``MotionDiT`` and, installed on the text
cross-attention of a ``WanTransformer3DModel``, in the video tier. Because diffusers blocks call ``attn2`` with a
fixed signature, the per-call phase data travels in a ``ContextVar`` (request- and thread-safe).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from diffusers.models.attention_dispatch import dispatch_attention_fn
from torch import nn

from ..defaults import PACA_MODES

DEFAULT_SOFT_WIDTH_S = 0.3


# ------------------------------------------------------------------------------------------ prompt block packing
@dataclass
class PhasePrompt:
    """Packed ``[base ; phase_1 ; ... ; phase_P]`` token blocks for a batch, with their time spans.

    ``block_index[b, s]`` is 0 for base tokens, ``k + 1`` for tokens of phase ``k``, -1 for padding."""

    tokens: torch.Tensor  # (B, S, D_text)
    block_index: torch.Tensor  # (B, S) long
    spans: torch.Tensor  # (B, P, 2) seconds, (start, end); zeros where phase_valid is False
    phase_valid: torch.Tensor  # (B, P) bool

    @property
    def num_phases(self) -> int:
        return self.spans.shape[1]

    @property
    def key_mask(self) -> torch.Tensor:
        return self.block_index >= 0

    def to(self, device) -> PhasePrompt:
        return PhasePrompt(*(t.to(device) for t in (self.tokens, self.block_index, self.spans, self.phase_valid)))


def pack_phase_prompt(
    base_states: torch.Tensor,
    base_mask: torch.Tensor,
    phase_states: Sequence[tuple[torch.Tensor, torch.Tensor]],
    spans: Sequence[Sequence[tuple[float, float]]],
) -> PhasePrompt:
    """Concatenate per-item base tokens and phase tokens into one padded batch.

    ``base_states`` (B, Lb, D) with mask (B, Lb); ``phase_states[b]`` = (states (P_b, Lp, D), mask (P_b, Lp));
    ``spans[b]`` = P_b (start, end) pairs. Items may have different numbers of phases (padding is masked)."""
    batch = base_states.shape[0]
    seqs, blocks = [], []
    max_p = max((len(s) for s in spans), default=0)
    span_t = torch.zeros(batch, max_p, 2)
    valid = torch.zeros(batch, max_p, dtype=torch.bool)
    for b in range(batch):
        parts = [base_states[b, base_mask[b]]]
        idx = [torch.zeros(int(base_mask[b].sum()), dtype=torch.long)]
        states, masks = phase_states[b]
        for k in range(len(spans[b])):
            parts.append(states[k, masks[k]])
            idx.append(torch.full((int(masks[k].sum()),), k + 1, dtype=torch.long))
            span_t[b, k] = torch.tensor(spans[b][k], dtype=torch.float32)
            valid[b, k] = True
        seqs.append(torch.cat(parts))
        blocks.append(torch.cat(idx))
    length = max(s.shape[0] for s in seqs)
    tokens = base_states.new_zeros(batch, length, base_states.shape[-1])
    block_index = torch.full((batch, length), -1, dtype=torch.long)
    for b in range(batch):
        tokens[b, : seqs[b].shape[0]] = seqs[b]
        block_index[b, : blocks[b].shape[0]] = blocks[b]
    return PhasePrompt(tokens, block_index, span_t, valid)


# --------------------------------------------------------------------------------------------- masks and bias
def frame_phase_weights(
    spans: torch.Tensor, phase_valid: torch.Tensor, frame_times: torch.Tensor, mode: str, soft_width_s: float
) -> torch.Tensor:
    """(B, T, P) membership of each frame in each phase; frame_times (B, T) are frame midpoints in seconds.

    Same convention as ``PhasePlan.frame_masks`` (midpoint in ``[start, end)``) and ``soft_frame_weights``."""
    start, end = spans[..., 0][:, None, :], spans[..., 1][:, None, :]  # (B, 1, P)
    t = frame_times[:, :, None]  # (B, T, 1)
    if mode == "soft" and soft_width_s > 0:
        half = soft_width_s / 2
        rise = ((t - (start - half)) / soft_width_s).clamp(0, 1)
        fall = (((end + half) - t) / soft_width_s).clamp(0, 1)
        w = torch.minimum(rise, fall)
    else:
        w = ((t >= start) & (t < end)).float()
    return w * phase_valid[:, None, :].float()


def phase_attention_bias(prompt: PhasePrompt, frame_weights: torch.Tensor, mode: str) -> torch.Tensor:
    """(B, T, S) additive attention bias: 0 = visible, -inf = hidden, ``log(w)`` for feathered phase tokens."""
    if mode not in PACA_MODES:
        raise ValueError(f"paca mode must be one of {PACA_MODES}, got {mode!r}")
    bi = prompt.block_index  # (B, S)
    batch, frames = frame_weights.shape[:2]
    # Membership of each token's block for each frame: base -> 1, phase k -> w[:, :, k], padding -> 0.
    w_blocks = torch.cat([frame_weights.new_ones(batch, frames, 1), frame_weights], dim=2)  # (B, T, P+1)
    gather = bi.clamp(min=0)[:, None, :].expand(batch, frames, -1)  # (B, T, S)
    w = torch.gather(w_blocks, 2, gather)  # (B, T, S)
    if mode == "off":
        w = torch.ones_like(w)
    w = w * (bi >= 0)[:, None, :].float()
    return torch.where(w > 0, torch.log(w.clamp(min=1e-12)), torch.full_like(w, float("-inf")))


# ------------------------------------------------------------------------------------------ time-anchor embedding
def sinusoid(seconds: torch.Tensor, dim: int = 64, min_period: float = 0.08, max_period: float = 40.0) -> torch.Tensor:
    """(...,) seconds -> (..., dim) sin/cos features with periods log-spaced in [min_period, max_period] s."""
    periods = torch.exp(torch.linspace(math.log(min_period), math.log(max_period), dim // 2, device=seconds.device))
    ang = 2 * math.pi * seconds[..., None] / periods
    return torch.cat([torch.sin(ang), torch.cos(ang)], dim=-1)


class TimeAnchor(nn.Module):
    """Time-anchor embeddings: a phase span (start, end) for phase tokens, a frame time for queries."""

    def __init__(self, dim: int, freq_dim: int = 64):
        super().__init__()
        self.freq_dim = freq_dim
        self.span = nn.Sequential(nn.Linear(2 * freq_dim, dim), nn.SiLU(), nn.Linear(dim, dim))
        self.frame = nn.Sequential(nn.Linear(freq_dim, dim), nn.SiLU(), nn.Linear(dim, dim))

    def span_embedding(self, spans: torch.Tensor) -> torch.Tensor:
        f = torch.cat([sinusoid(spans[..., 0], self.freq_dim), sinusoid(spans[..., 1], self.freq_dim)], dim=-1)
        return self.span(f)  # (B, P, D)

    def frame_embedding(self, frame_times: torch.Tensor) -> torch.Tensor:
        return self.frame(sinusoid(frame_times, self.freq_dim))  # (B, T, D)

    def anchor_tokens(self, prompt: PhasePrompt, tokens: torch.Tensor) -> torch.Tensor:
        """Add each phase's span embedding to its tokens (base and padding tokens unchanged). tokens (B, S, D)."""
        if prompt.num_phases == 0:
            return tokens
        span = self.span_embedding(prompt.spans)  # (B, P, D)
        span = torch.cat([torch.zeros_like(span[:, :1]), span], dim=1)  # (B, P+1, D), slot 0 = base
        idx = prompt.block_index.clamp(min=0)[..., None].expand(-1, -1, span.shape[-1])  # (B, S, D)
        is_phase = (prompt.block_index > 0)[..., None].to(tokens.dtype)
        return tokens + is_phase * torch.gather(span, 1, idx)


# ---------------------------------------------------------------------------------------------- the processor
@dataclass
class PhaseAttentionContext:
    """Per-call data for every PACA processor in a forward pass.

    ``bias`` (B, T, S) over frames; ``tokens_per_frame`` > 1 when queries are frame-major spatial tokens (video
    tier: token n belongs to frame ``n // tokens_per_frame``). With ``record``, each processor call appends the
    per-frame attention mass on each block, (B, T, P+1) with slot 0 = base, to ``attention``."""

    bias: torch.Tensor
    block_index: torch.Tensor
    num_phases: int
    tokens_per_frame: int = 1
    record: bool = False
    attention: list[torch.Tensor] = field(default_factory=list)


_CONTEXT: ContextVar[PhaseAttentionContext | None] = ContextVar("actavatar_paca_context", default=None)


@contextmanager
def phase_attention_context(ctx: PhaseAttentionContext | None) -> Iterator[PhaseAttentionContext | None]:
    token = _CONTEXT.set(ctx)
    try:
        yield ctx
    finally:
        _CONTEXT.reset(token)


def current_phase_context() -> PhaseAttentionContext | None:
    return _CONTEXT.get()


class PhaseAwareCrossAttnProcessor:
    """Cross-attention processor for ``WanAttention``-style modules (to_q/to_k/to_v/to_out, norm_q/norm_k).

    Without an active ``PhaseAttentionContext`` it is plain cross-attention over ``encoder_hidden_states``."""

    _attention_backend = None
    _parallel_config = None

    def __call__(
        self,
        attn: nn.Module,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        rotary_emb=None,
    ) -> torch.Tensor:
        ctx = _CONTEXT.get()
        query = attn.norm_q(attn.to_q(hidden_states))  # (B, N, H*d)
        key = attn.norm_k(attn.to_k(encoder_hidden_states))  # (B, S, H*d)
        value = attn.to_v(encoder_hidden_states)
        query = query.unflatten(2, (attn.heads, -1))  # (B, N, H, d)
        key = key.unflatten(2, (attn.heads, -1))  # (B, S, H, d)
        value = value.unflatten(2, (attn.heads, -1))

        bias = attention_mask
        if ctx is not None:
            bias = ctx.bias.to(query.dtype)  # (B, T, S)
            if ctx.tokens_per_frame > 1:
                bias = bias.repeat_interleave(ctx.tokens_per_frame, dim=1)  # (B, N, S)
            bias = bias[:, None]  # (B, 1, N, S)

        if ctx is not None and ctx.record:
            scale = 1.0 / math.sqrt(query.shape[-1])
            scores = torch.einsum("bnhd,bshd->bhns", query, key) * scale + bias  # (B, H, N, S)
            probs = scores.softmax(dim=-1)
            out = torch.einsum("bhns,bshd->bnhd", probs, value)  # (B, N, H, d)
            mass = probs.mean(dim=1)  # (B, N, S)
            onehot = F.one_hot(ctx.block_index.clamp(min=0), ctx.num_phases + 1).to(mass.dtype)  # (B, S, P+1)
            onehot = onehot * (ctx.block_index >= 0)[..., None].to(mass.dtype)
            per_block = mass @ onehot  # (B, N, P+1)
            if ctx.tokens_per_frame > 1:
                per_block = per_block.unflatten(1, (-1, ctx.tokens_per_frame)).mean(dim=2)  # (B, T, P+1)
            ctx.attention.append(per_block.detach())
        else:
            out = dispatch_attention_fn(
                query, key, value, attn_mask=bias, dropout_p=0.0, is_causal=False, backend=self._attention_backend
            )  # (B, N, H, d)
        out = out.flatten(2, 3).type_as(hidden_states)  # (B, N, H*d)
        out = attn.to_out[0](out)
        return attn.to_out[1](out)


def frame_times(num_frames: int, fps: float, offset_frames: int = 0) -> np.ndarray:
    """Frame midpoints in seconds, ``(t + 0.5) / fps`` for t in [offset, offset + num_frames)."""
    return (np.arange(offset_frames, offset_frames + num_frames, dtype=np.float64) + 0.5) / fps
