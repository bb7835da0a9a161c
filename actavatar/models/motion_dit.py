"""MotionDiT: a small diffusion transformer over per-frame facial/head motion (the embedded motion tier).

Reads top to bottom like diffusers' ``transformer_wan.py``: conditioning container -> rotary embedding -> block ->
model. Each block: adaLN-Zero temporal self-attention (RoPE, any length) | gated PACA text cross-attention |
gated local-window audio cross-attention | adaLN-Zero MLP. The gates are the ``ModalitySchedule``.
The model predicts the flow-matching velocity ``noise - x0`` in normalised motion units (``MOTION_SCALE``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.embeddings import TimestepEmbedding, Timesteps
from diffusers.models.modeling_utils import ModelMixin
from diffusers.models.transformers.transformer_wan import WanAttention, WanAttnProcessor
from torch import nn

from ..audio import FEATURE_DIM, AudioEncoder
from ..motion import FACE_DESCRIPTOR_DIM, MOTION_DIM
from ..text import TEXT_DIM
from .alignment import ModalitySchedule
from .paca import (
    DEFAULT_SOFT_WIDTH_S,
    PhaseAttentionContext,
    PhaseAwareCrossAttnProcessor,
    PhasePrompt,
    TimeAnchor,
    frame_phase_weights,
    phase_attention_bias,
    phase_attention_context,
    sinusoid,
)


@dataclass
class MotionConditioning:
    """Everything a window of frames is conditioned on (batch-first)."""

    audio: torch.Tensor  # (B, T, FEATURE_DIM) per-frame audio features (``audio.frame_features``)
    prompt: PhasePrompt  # base + phase token blocks and spans (seconds, relative to the window start)
    frame_times: torch.Tensor  # (B, T) frame midpoints in seconds, same origin as the spans
    face: torch.Tensor  # (B, FACE_DESCRIPTOR_DIM) neutral-face descriptor of the portrait
    prefix: torch.Tensor  # (B, T, MOTION_DIM) known motion (normalised) for the first frames, 0 elsewhere
    prefix_mask: torch.Tensor  # (B, T) 1.0 where ``prefix`` is known

    def repeat(self, n: int) -> MotionConditioning:
        """The same conditioning n times along the batch (for the CFG branches)."""
        p = self.prompt
        prompt = PhasePrompt(
            *(t.repeat(n, *([1] * (t.dim() - 1))) for t in (p.tokens, p.block_index, p.spans, p.phase_valid))
        )
        rep = lambda t: t.repeat(n, *([1] * (t.dim() - 1)))  # noqa: E731
        return MotionConditioning(
            rep(self.audio), prompt, rep(self.frame_times), rep(self.face), rep(self.prefix), rep(self.prefix_mask)
        )


@dataclass
class EncodedConditioning:
    """``MotionConditioning`` after the model's own encoders (``MotionDiT.encode_conditions``)."""

    text: torch.Tensor  # (B, S, D) projected, typed and time-anchored prompt tokens
    ctx: PhaseAttentionContext  # PACA bias (B, T, S) and block index
    frame_anchor: torch.Tensor  # (B, T, D) frame time-anchor embedding added to the PACA queries
    audio: torch.Tensor  # (B, T, D) audio tokens
    face: torch.Tensor  # (B, D) face-descriptor embedding
    prefix: torch.Tensor  # (B, T, motion_dim + 1) known prefix motion and its mask
    audio_kv: list[tuple[torch.Tensor, torch.Tensor]] | None = None  # per block (B, H, T, d) keys/values (inference)
    phase_clock: torch.Tensor | None = None  # (B, T, D) time within the frame's phase, added to the frame tokens

    def first(self, n: int) -> EncodedConditioning:
        """The first ``n`` batch items (e.g. only the fully conditioned CFG branch)."""
        ctx = PhaseAttentionContext(self.ctx.bias[:n], self.ctx.block_index[:n], self.ctx.num_phases)
        return EncodedConditioning(
            self.text[:n],
            ctx,
            self.frame_anchor[:n],
            self.audio[:n],
            self.face[:n],
            self.prefix[:n],
            audio_kv=[(k[:n], v[:n]) for k, v in self.audio_kv] if self.audio_kv is not None else None,
            phase_clock=self.phase_clock[:n] if self.phase_clock is not None else None,
        )


@dataclass
class MotionDiTOutput:
    sample: torch.Tensor  # (B, T, MOTION_DIM) predicted velocity
    text_norm: torch.Tensor | None = None  # (L, B, T) |gated text contribution| per layer, item and frame
    audio_norm: torch.Tensor | None = None  # (L, B, T)
    phase_attention: torch.Tensor | None = None  # (B, T, P+1) attention mass per block, averaged over layers


def rotary_1d(num_frames: int, head_dim: int, device, theta: float = 10000.0) -> tuple[torch.Tensor, torch.Tensor]:
    """RoPE over frame index in diffusers-Wan layout: cos/sin of shape (1, T, 1, head_dim), pairs duplicated."""
    freqs = 1.0 / theta ** (torch.arange(0, head_dim, 2, device=device).float() / head_dim)  # (d/2,)
    ang = torch.arange(num_frames, device=device).float()[:, None] * freqs[None]  # (T, d/2)
    ang = ang.repeat_interleave(2, dim=-1)  # (T, d)
    return ang.cos()[None, :, None, :], ang.sin()[None, :, None, :]


def band_mask(frames: int, window: int, device=None) -> torch.Tensor:
    """(T, T) bool: query frame i may attend to key frame j iff |i - j| <= window."""
    idx = torch.arange(frames, device=device)
    return (idx[:, None] - idx[None, :]).abs() <= window


class LocalWindowAttnProcessor:
    """Frame-aligned local cross-attention: query frame t attends to audio tokens t-window .. t+window only.

    Full attention with a band mask through ``scaled_dot_product_attention`` (T is at most a few hundred frames per
    window, so the T x T scores are cheaper than gathering windows). The audio keys/values do not depend on the noisy
    sample: the pipeline computes them once per window (``key_value``) and passes them in as ``kv``."""

    def __init__(self, window: int):
        self.window = window

    @staticmethod
    def key_value(attn, encoder_hidden_states: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, H, T, d) keys and values of the audio tokens."""
        key = attn.norm_k(attn.to_k(encoder_hidden_states)).unflatten(2, (attn.heads, -1)).transpose(1, 2)
        value = attn.to_v(encoder_hidden_states).unflatten(2, (attn.heads, -1)).transpose(1, 2)
        return key, value

    def __call__(self, attn, hidden_states, encoder_hidden_states, attention_mask=None, rotary_emb=None, kv=None):
        frames = hidden_states.shape[1]
        query = attn.norm_q(attn.to_q(hidden_states)).unflatten(2, (attn.heads, -1)).transpose(1, 2)  # (B,H,T,d)
        key, value = kv if kv is not None else self.key_value(attn, encoder_hidden_states)
        mask = band_mask(frames, self.window, query.device)
        out = torch.nn.functional.scaled_dot_product_attention(
            query, key.to(query.dtype), value.to(query.dtype), attn_mask=mask
        )
        return attn.to_out[1](attn.to_out[0](out.transpose(1, 2).flatten(2, 3)))


class _WeightDtypeRMSNorm(nn.RMSNorm):
    """``norm_q``/``norm_k`` computed in the weight's dtype: under CPU bf16 autocast a bf16 input misses torch's fused
    RMSNorm kernel (and warns on every call). Same parameters and state-dict keys as ``nn.RMSNorm``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.weight is None or self.weight.dtype == x.dtype:
            return super().forward(x)
        return super().forward(x.to(self.weight.dtype)).to(x.dtype)


def _weight_dtype_qk_norms(attn: WanAttention) -> WanAttention:
    for name in ("norm_q", "norm_k"):
        old = getattr(attn, name)
        if type(old) is nn.RMSNorm:
            new = _WeightDtypeRMSNorm(old.normalized_shape, eps=old.eps, elementwise_affine=old.elementwise_affine)
            setattr(attn, name, new)
    return attn


class MotionDiTBlock(nn.Module):
    def __init__(self, dim: int, heads: int, mlp_ratio: float, audio_window: int, eps: float = 1e-6):
        super().__init__()
        head_dim = dim // heads
        self.norm1 = nn.LayerNorm(dim, eps=eps, elementwise_affine=False)
        self.self_attn = _weight_dtype_qk_norms(WanAttention(dim, heads, head_dim, processor=WanAttnProcessor()))
        self.norm_text = nn.LayerNorm(dim, eps=eps)
        self.text_attn = _weight_dtype_qk_norms(
            WanAttention(
                dim, heads, head_dim, cross_attention_dim_head=head_dim, processor=PhaseAwareCrossAttnProcessor()
            )
        )
        self.norm_audio = nn.LayerNorm(dim, eps=eps)
        self.audio_attn = _weight_dtype_qk_norms(
            WanAttention(
                dim,
                heads,
                head_dim,
                cross_attention_dim_head=head_dim,
                processor=LocalWindowAttnProcessor(audio_window),
            )
        )
        self.norm2 = nn.LayerNorm(dim, eps=eps, elementwise_affine=False)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(approximate="tanh"), nn.Linear(hidden, dim))
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(dim, 6 * dim))

    def forward(
        self,
        x: torch.Tensor,  # (B, T, D)
        c: torch.Tensor,  # (B, D) timestep + face conditioning
        text: torch.Tensor,  # (B, S, D)
        frame_anchor: torch.Tensor,  # (B, T, D)
        audio: torch.Tensor,  # (B, T, D)
        rotary: tuple[torch.Tensor, torch.Tensor],
        ctx: PhaseAttentionContext,  # PACA bias for this call (set here so checkpoint recomputation sees it too)
        text_gate: torch.Tensor,  # ()
        audio_gate: torch.Tensor,  # ()
        audio_kv: tuple[torch.Tensor, torch.Tensor] | None = None,  # precomputed audio keys/values (inference)
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        shift1, scale1, gate1, shift2, scale2, gate2 = self.adaLN_modulation(c)[:, None].chunk(6, dim=-1)  # (B,1,D)
        h = self.norm1(x) * (1 + scale1) + shift1
        x = x + gate1 * self.self_attn(h, None, None, rotary)  # (B, T, D)
        with phase_attention_context(ctx):
            t_out = text_gate * self.text_attn(self.norm_text(x) + frame_anchor, text)  # (B, T, D) PACA
        x = x + t_out
        a_out = audio_gate * self.audio_attn(self.norm_audio(x), audio, kv=audio_kv)  # (B, T, D)
        x = x + a_out
        h = self.norm2(x) * (1 + scale2) + shift2
        x = x + gate2 * self.mlp(h)
        return x, t_out.norm(dim=-1), a_out.norm(dim=-1)  # per-frame norms (B, T): the share's spread over frames


class MotionDiT(ModelMixin, ConfigMixin):
    """Diffusion transformer over (B, T, motion_dim) motion with PACA text and gated audio conditioning."""

    _supports_gradient_checkpointing = True

    @register_to_config
    def __init__(
        self,
        motion_dim: int = MOTION_DIM,  # motion parameters per frame (``actavatar.motion.MOTION_NAMES``)
        dim: int = 128,  # transformer width
        num_layers: int = 8,  # blocks; the modality schedule has one text and one audio gate per block
        num_heads: int = 4,
        mlp_ratio: float = 3.0,
        text_dim: int = TEXT_DIM,  # MiniLM token states
        audio_feature_dim: int = FEATURE_DIM,  # ``audio.frame_features`` width
        face_dim: int = FACE_DESCRIPTOR_DIM,  # neutral-face descriptor width
        audio_window: int = 4,  # audio cross-attention sees ±audio_window frames (±160 ms at 25 fps)
        num_null_text_tokens: int = 4,  # learned "no text" prompt for text classifier-free guidance
        schedule: str = "progressive",  # ModalitySchedule the gates are initialised from
        paca_mode: str = "hard",  # default PACA mask: hard | soft | off
        soft_width_s: float = DEFAULT_SOFT_WIDTH_S,  # feather width of the soft mask
        text_pooled_token: bool = False,  # each text block starts with its sentence embedding (text.with_pooled)
        text_clause_tokens: bool = False,  # ... and a text of several clauses with one embedding per clause
        phase_clock: bool = False,  # frame tokens get the time since their phase started and until it ends
    ):
        super().__init__()
        self.gradient_checkpointing = False
        self.in_proj = nn.Linear(2 * motion_dim + 1, dim)  # [x_t ; prefix * mask ; mask]
        self.time_proj = Timesteps(256, flip_sin_to_cos=True, downscale_freq_shift=0)
        self.time_embed = TimestepEmbedding(256, dim)
        self.face_embed = nn.Sequential(nn.Linear(face_dim, dim), nn.SiLU(), nn.Linear(dim, dim))
        self.text_proj = nn.Sequential(nn.LayerNorm(text_dim), nn.Linear(text_dim, dim))
        self.base_type = nn.Parameter(torch.zeros(dim))  # marks base-block tokens
        self.null_text = nn.Parameter(torch.randn(num_null_text_tokens, text_dim) * 0.02)
        self.null_audio = nn.Parameter(torch.zeros(audio_feature_dim))
        self.time_anchor = TimeAnchor(dim)
        # Phase clock: where a frame lies inside its phase (seconds since the start, until the end), added to the
        # frame tokens. Without it a frame knows its absolute time and only reaches its phase's span through
        # attention. Measured on the shipped recipe (generated motion): training phrasings 91.0 -> 93.5 % (4 of 155
        # phases, within noise), held-out unchanged; it did not teach head shakes (still a small yaw offset).
        self.phase_clock_embed = (
            nn.Sequential(nn.Linear(2 * self.time_anchor.freq_dim, dim), nn.SiLU(), nn.Linear(dim, dim))
            if phase_clock
            else None
        )
        self.audio_encoder = AudioEncoder(audio_feature_dim, dim)
        self.blocks = nn.ModuleList(MotionDiTBlock(dim, num_heads, mlp_ratio, audio_window) for _ in range(num_layers))
        self.modality_schedule = ModalitySchedule(num_layers, schedule)
        self.norm_out = nn.LayerNorm(dim, eps=1e-6, elementwise_affine=False)
        self.out_modulation = nn.Sequential(nn.SiLU(), nn.Linear(dim, 2 * dim))
        self.proj_out = nn.Linear(dim, motion_dim)
        self.initialize_weights()

    def initialize_weights(self) -> None:
        """DiT init: xavier linears, zero adaLN modulations, zero cross-attn outputs and output head."""
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
        for block in self.blocks:
            nn.init.zeros_(block.adaLN_modulation[-1].weight)
            nn.init.zeros_(block.adaLN_modulation[-1].bias)
            for attn in (block.text_attn, block.audio_attn):
                nn.init.zeros_(attn.to_out[0].weight)
        nn.init.zeros_(self.out_modulation[-1].weight)
        nn.init.zeros_(self.out_modulation[-1].bias)
        nn.init.zeros_(self.proj_out.weight)
        nn.init.zeros_(self.proj_out.bias)
        if self.phase_clock_embed is not None:
            # Starts as a no-op, so a stage-1 model is unchanged at the start of stage 2.
            nn.init.zeros_(self.phase_clock_embed[-1].weight)
            nn.init.zeros_(self.phase_clock_embed[-1].bias)
        nn.init.normal_(self.time_embed.linear_1.weight, std=0.02)
        nn.init.normal_(self.time_embed.linear_2.weight, std=0.02)

    # ------------------------------------------------------------------------------------------- conditioning
    def encode_text(
        self, prompt: PhasePrompt, frame_times: torch.Tensor, mode: str, drop_text: torch.Tensor | None
    ) -> tuple[torch.Tensor, PhaseAttentionContext]:
        """Project tokens, add type and time anchors, swap in the null prompt for dropped items; build the mask."""
        tokens = self.text_proj(prompt.tokens)  # (B, S, D)
        tokens = tokens + (prompt.block_index == 0)[..., None].to(tokens.dtype) * self.base_type
        if mode != "off":  # "off" = all phase texts as one global prompt: no time anchors either
            tokens = self.time_anchor.anchor_tokens(prompt, tokens)
        weights = frame_phase_weights(prompt.spans, prompt.phase_valid, frame_times, mode, self.config.soft_width_s)
        bias = phase_attention_bias(prompt, weights, mode)  # (B, T, S)
        block_index = prompt.block_index
        if drop_text is not None and bool(drop_text.any()):
            # Null prompt: learned tokens as a base-only block, padded to S; dropped items see nothing else.
            n = self.null_text.shape[0]
            null = self.text_proj(self.null_text)[None].expand(tokens.shape[0], -1, -1)  # (B, n, D)
            length = max(tokens.shape[1], n)
            pad = lambda t, v: torch.nn.functional.pad(t, (0, 0, 0, length - t.shape[1]), value=v)  # noqa: E731
            tokens = pad(tokens, 0.0)
            null = pad(null, 0.0)
            bias = torch.nn.functional.pad(bias, (0, length - bias.shape[2]), value=float("-inf"))
            block_index = torch.nn.functional.pad(block_index, (0, length - block_index.shape[1]), value=-1)
            null_bias = torch.full_like(bias[:1], float("-inf"))
            null_bias[..., :n] = 0.0
            null_index = torch.full_like(block_index[:1], -1)
            null_index[:, :n] = 0
            d = drop_text[:, None, None]
            tokens = torch.where(d, null, tokens)
            bias = torch.where(d, null_bias, bias)
            block_index = torch.where(drop_text[:, None], null_index, block_index)
        ctx = PhaseAttentionContext(bias=bias, block_index=block_index, num_phases=prompt.num_phases)
        return tokens, ctx

    def encode_conditions(
        self,
        cond: MotionConditioning,
        drop_text: torch.Tensor | None = None,  # (B,) bool: use the null prompt (CFG / training dropout)
        drop_audio: torch.Tensor | None = None,  # (B,) bool: use null audio
        paca_mode: str | None = None,
    ) -> EncodedConditioning:
        """Everything that does not depend on the noisy sample: computed once per window, reused every step."""
        mode = paca_mode or self.config.paca_mode
        text, ctx = self.encode_text(cond.prompt, cond.frame_times, mode, drop_text)  # (B, S, D)
        frame_anchor = self.time_anchor.frame_embedding(cond.frame_times)  # (B, T, D)
        if mode == "off":
            frame_anchor = torch.zeros_like(frame_anchor)
        feats = cond.audio
        if drop_audio is not None and bool(drop_audio.any()):
            feats = torch.where(drop_audio[:, None, None], self.null_audio.expand_as(feats), feats)
        audio = self.audio_encoder(feats)  # (B, T, D)
        prefix = torch.cat([cond.prefix * cond.prefix_mask[..., None], cond.prefix_mask[..., None]], -1)
        clock = None
        if self.phase_clock_embed is not None and mode != "off":
            clock = self.phase_clock_embed(self._phase_clock_features(cond.prompt, cond.frame_times))
            if drop_text is not None:  # the null prompt says nothing about phases, not even where they are
                clock = clock * (~drop_text)[:, None, None].to(clock.dtype)
        return EncodedConditioning(
            text, ctx, frame_anchor, audio, self.face_embed(cond.face), prefix, phase_clock=clock
        )

    def _phase_clock_features(self, prompt: PhasePrompt, frame_times: torch.Tensor) -> torch.Tensor:
        """(B, T, 2F): sinusoids of (t - start, end - t) of the phase containing each frame; zeros outside phases."""
        inside = frame_phase_weights(prompt.spans, prompt.phase_valid, frame_times, "hard", 0.0)  # (B, T, P)
        f = self.time_anchor.freq_dim
        if prompt.num_phases == 0:
            return frame_times.new_zeros(*frame_times.shape, 2 * f)
        since = frame_times[:, :, None] - prompt.spans[:, None, :, 0]  # (B, T, P)
        until = prompt.spans[:, None, :, 1] - frame_times[:, :, None]
        feats = torch.cat([sinusoid(since, f), sinusoid(until, f)], dim=-1)  # (B, T, P, 2F)
        return (inside[..., None] * feats).sum(dim=2)

    def cache_audio_kv(self, enc: EncodedConditioning) -> EncodedConditioning:
        """``enc`` with every block's audio keys/values computed once (they do not change across denoising steps)."""
        kv = [LocalWindowAttnProcessor.key_value(b.audio_attn, enc.audio) for b in self.blocks]
        return dataclasses.replace(enc, audio_kv=kv)

    def forward(
        self,
        sample: torch.Tensor,  # (B, T, motion_dim) noisy motion x_t (normalised)
        timestep: torch.Tensor,  # (B,) sigma * 1000
        cond: MotionConditioning | EncodedConditioning,
        drop_text: torch.Tensor | None = None,
        drop_audio: torch.Tensor | None = None,
        paca_mode: str | None = None,
        record: bool = False,
    ) -> MotionDiTOutput:
        enc = (
            cond
            if isinstance(cond, EncodedConditioning)
            else self.encode_conditions(cond, drop_text, drop_audio, paca_mode)
        )
        frames = sample.shape[1]
        x = self.in_proj(torch.cat([sample, enc.prefix], -1))  # (B, T, D)
        if enc.phase_clock is not None:
            x = x + enc.phase_clock
        c = self.time_embed(self.time_proj(timestep).to(x.dtype)) + enc.face  # (B, D)
        rotary = rotary_1d(frames, self.config.dim // self.config.num_heads, x.device)
        ctx = PhaseAttentionContext(enc.ctx.bias, enc.ctx.block_index, enc.ctx.num_phases, record=record)

        text_norms, audio_norms = [], []
        for layer, block in enumerate(self.blocks):
            args = (x, c, enc.text, enc.frame_anchor, enc.audio, rotary, ctx)
            gates = (self.modality_schedule.text_gate[layer], self.modality_schedule.audio_gate[layer])
            if torch.is_grad_enabled() and self.gradient_checkpointing:
                x, tn, an = self._gradient_checkpointing_func(block, *args, *gates)
            else:
                x, tn, an = block(*args, *gates, audio_kv=enc.audio_kv[layer] if enc.audio_kv else None)
            text_norms.append(tn)
            audio_norms.append(an)

        shift, scale = self.out_modulation(c)[:, None].chunk(2, dim=-1)
        out = self.proj_out(self.norm_out(x) * (1 + scale) + shift)  # (B, T, motion_dim)
        phase_attention = torch.stack(ctx.attention).mean(0) if record and ctx.attention else None
        return MotionDiTOutput(
            out, torch.stack(text_norms).detach(), torch.stack(audio_norms).detach(), phase_attention
        )

    @property
    def num_parameters_millions(self) -> float:
        return sum(p.numel() for p in self.parameters()) / 1e6
