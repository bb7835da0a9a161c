"""The video tier's model: PACA and progressive audio-visual alignment installed into a diffusers Wan video DiT.

``install_actavatar_adapters(transformer)`` keeps ``WanTransformer3DModel`` as it is (its weights, state-dict keys,
forward and block loop) and changes two things:

1. Every block's text cross-attention ``attn2`` gets ``ActAvatarCrossAttnProcessor``. It runs the shared PACA
   processor (``paca.PhaseAwareCrossAttnProcessor``) over the packed ``[base ; phase_1 ; ... ; phase_P]`` UMT5
   tokens with a frame x token mask on the *latent* time axis, and adds a gated audio cross-attention; it returns
   ``text_gate[l] * text + audio_gate[l] * audio``, which the block adds to its residual stream.
2. A ``WanActAvatarAdapter`` (``ModelMixin, ConfigMixin``: save/load for free) is attached as
   ``transformer.actavatar_adapter``: audio projector, time anchors, one ``WanBlockAdapter`` (audio
   cross-attention) per block and the ``ModalitySchedule``.

Latent time axis. Wan's causal VAE compresses time by 4: latent frame 0 encodes video frame 0 alone, latent frame
``t >= 1`` encodes video frames ``4t - 3 .. 4t``. A latent frame's time is the midpoint of the video frames it covers
(``latent_frame_times``), and PACA's phase membership uses that midpoint (``[start, end)``, as ``PhasePlan``). So the
mask has a resolution of 4 video frames (160 ms at 25 fps); ``paca_mode="soft"`` feathers it. Wan's patch tokens are
frame-major (token ``n`` belongs to latent frame ``n // (h * w)``), which is how the per-frame bias and the
per-frame audio windows reach the tokens.

Identity at initialisation (tested bitwise on tiny configs without image context): the audio cross-attention's
output projection and the time-anchor heads are zero; the UMT5 padding stays visible (pretrained Wan attends to its
zero padding), so a base-only prompt needs no mask and PACA takes the same kernel path as ``WanAttnProcessor``; and
the text branch is weighted by ``1 + s * (text_gate - 1)`` with ``s = schedule_strength`` = 0 at install. Training
ramps ``s`` to 1 (stage 1), after which the progressive schedule weighs the pretrained text cross-attention exactly
as in the motion tier. The audio branch is weighted by ``audio_gate`` from the start (its output is zero at init).

Per-call data (mask, anchors, audio tokens, gates) travels in a ``ContextVar`` set by ``ActAvatarWan.forward``;
``checkpoint_in_context`` is the gradient-checkpointing function that carries it into recomputation.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import torch.utils.checkpoint
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.attention_dispatch import dispatch_attention_fn
from diffusers.models.modeling_utils import ModelMixin
from diffusers.models.transformers.transformer_wan import WanAttention, WanAttnProcessor, WanTransformer3DModel
from torch import nn

from ..errors import InputError
from .alignment import ModalitySchedule
from .paca import (
    DEFAULT_SOFT_WIDTH_S,
    PACA_MODES,
    PhaseAttentionContext,
    PhaseAwareCrossAttnProcessor,
    PhasePrompt,
    TimeAnchor,
    frame_phase_weights,
    phase_attention_bias,
    phase_attention_context,
)

TEMPORAL_COMPRESSION = 4  # Wan VAE (2.1 and 2.2): 1 + 4k video frames -> 1 + k latent frames
WAN_TEXT_LEN = 512  # Wan pipelines pad UMT5 states with zeros to 512 tokens, unmasked
WAV2VEC2_RATE = 50.0  # wav2vec2 feature frames per second (20 ms hop at 16 kHz)
ADAPTER_ATTR = "actavatar_adapter"


# --------------------------------------------------------------------------------------------- latent time axis
def num_latent_frames(num_video_frames: int, compression: int = TEMPORAL_COMPRESSION) -> int:
    return (num_video_frames - 1) // compression + 1


def latent_frame_times(
    num_latent: int, fps: float, compression: int = TEMPORAL_COMPRESSION, offset_video_frames: int = 0
) -> np.ndarray:
    """Seconds at the midpoint of the video frames each latent frame covers: frame 0 -> [0, 1), t -> [4t-3, 4t+1)."""
    t = np.arange(num_latent, dtype=np.float64)
    first = np.maximum(compression * t - (compression - 1), 0)
    last_excl = compression * t + 1
    return (offset_video_frames + (first + last_excl) / 2) / fps


def video_to_latent_index(num_video_frames: int, compression: int = TEMPORAL_COMPRESSION) -> np.ndarray:
    """The latent frame each video frame belongs to: v -> ceil(v / 4)."""
    return (np.arange(num_video_frames) + compression - 1) // compression


def latent_audio_windows(
    features: torch.Tensor, num_latent: int, context: int, compression: int = TEMPORAL_COMPRESSION, offset: int = 0
) -> torch.Tensor:
    """(B, F, C) video-rate features -> (B, T_lat, K, C), K = compression + 2 * context.

    Latent frame t takes video frames ``4t - 3 - context .. 4t + context`` (frame 0: the same window ending at
    ``context``), indices relative to ``offset`` (the window's first video frame inside ``features``); frames outside
    the clip repeat its first/last feature."""
    k = compression + 2 * context
    starts = compression * torch.arange(num_latent) - (compression - 1) - context + offset  # (T_lat,)
    idx = (starts[:, None] + torch.arange(k)[None]).clamp(0, features.shape[1] - 1)  # (T_lat, K)
    return features[:, idx.to(features.device)]  # (B, T_lat, K, C)


# ---------------------------------------------------------------------------------------------- audio features
def resample_features(
    features: torch.Tensor, num_frames: int, fps: float, rate: float = WAV2VEC2_RATE
) -> torch.Tensor:
    """(F, C) features at ``rate`` Hz -> (num_frames, C) at video frame midpoints, linear interpolation."""
    t = (torch.arange(num_frames, dtype=torch.float64) + 0.5) / fps * rate - 0.5  # feature-index coordinates
    t = t.clamp(0, features.shape[0] - 1)
    lo = t.floor().long()
    hi = (lo + 1).clamp(max=features.shape[0] - 1)
    w = (t - lo).to(features.dtype)[:, None]
    return features[lo] * (1 - w) + features[hi] * w


@functools.lru_cache(maxsize=2)
def _wav2vec2(weights_dir: str, device: str):
    from transformers import Wav2Vec2Model

    path = Path(weights_dir)
    if not (path / "config.json").is_file():
        raise InputError(
            f"No wav2vec2 model at {path}: put a transformers Wav2Vec2Model folder (config.json + weights) there, "
            "e.g. a local copy of facebook/wav2vec2-base-960h."
        )
    return Wav2Vec2Model.from_pretrained(path, local_files_only=True, use_safetensors=True).to(device).eval()


@torch.no_grad()
def load_wav2vec2_features(
    audio: np.ndarray, weights_dir: str | Path, *, layers: str = "mean", device: str = "cpu"
) -> torch.Tensor:
    """16 kHz mono waveform -> (F, C) wav2vec2 features at 50 Hz from a user-supplied local model folder.

    ``layers``: ``"last"`` = the last hidden state; ``"mean"`` = the mean of all hidden states (transformer layers
    carry phonetic detail at different depths; talking-head models such as MultiTalk use all of them). Never
    downloads: the folder must hold a transformers ``Wav2Vec2Model`` (``config.json`` + weights)."""
    if layers not in ("last", "mean"):
        raise InputError(f"wav2vec2 layers must be 'last' or 'mean', got {layers!r}.")
    model = _wav2vec2(str(Path(weights_dir).resolve()), str(device))
    wave = torch.as_tensor(np.asarray(audio, dtype=np.float32))
    wave = (wave - wave.mean()) / (wave.std() + 1e-7)  # Wav2Vec2FeatureExtractor's zero-mean unit-variance
    out = model(wave[None].to(device), output_hidden_states=layers == "mean")
    feats = torch.stack(out.hidden_states).mean(0) if layers == "mean" else out.last_hidden_state
    return feats[0].float().cpu()  # (F, C)


def video_audio_features(
    audio: np.ndarray, weights_dir: str | Path, fps: float, num_frames: int, device: str = "cpu"
) -> torch.Tensor:
    """(num_frames, C) wav2vec2 features at the video frame rate (what the adapter consumes)."""
    return resample_features(load_wav2vec2_features(audio, weights_dir, device=device), num_frames, fps)


# ------------------------------------------------------------------------------------------------ conditioning
@dataclass
class WanConditioning:
    """What a clip/window of latent frames is conditioned on, besides the noisy latents and the image."""

    prompt: PhasePrompt  # packed UMT5 states [base ; phases] (B, S, text_dim), padded with zeros to text_len
    frame_times: torch.Tensor  # (B, T_lat) latent-frame midpoints in seconds, same origin as prompt.spans
    audio: torch.Tensor  # (B, T_lat, K, audio_dim) per-latent-frame audio windows (``latent_audio_windows``)


@dataclass
class WanActAvatarContext:
    """Per-forward data every ``ActAvatarCrossAttnProcessor`` reads (built by ``WanActAvatarAdapter.forward``)."""

    paca: PhaseAttentionContext | None  # None: nothing to mask (base-only prompt or "off"), plain attention
    text_anchor: torch.Tensor | None  # (B, S, D) time-anchor embedding of each phase token's span
    frame_anchor: torch.Tensor  # (B, T_lat, D) time-anchor embedding of each latent frame
    audio: torch.Tensor  # (B, T_lat, K, D) audio tokens
    text_mult: torch.Tensor  # (L,) effective text weight 1 + s * (text_gate - 1)
    audio_mult: torch.Tensor  # (L,) audio_gate
    layers: nn.ModuleList  # the adapter's WanBlockAdapter per block (looked up per call: FSDP-wrapping safe)
    text_len: int
    text_norm: list = field(default_factory=list)  # per layer (B,) mean |gated text contribution|
    audio_norm: list = field(default_factory=list)


_WAN_CONTEXT: ContextVar[WanActAvatarContext | None] = ContextVar("actavatar_wan_context", default=None)


@contextlib.contextmanager
def wan_context(ctx: WanActAvatarContext | None) -> Iterator[WanActAvatarContext | None]:
    token = _WAN_CONTEXT.set(ctx)
    try:
        yield ctx
    finally:
        _WAN_CONTEXT.reset(token)


def _call_in_context(ctx: WanActAvatarContext | None, module: nn.Module, *args):
    with wan_context(ctx):
        return module(*args)


def checkpoint_in_context(module: nn.Module, *args):
    """Gradient checkpointing that passes the current ``WanActAvatarContext`` explicitly, so recomputation (which
    runs in backward, outside any ``with`` block) sees the same masks, anchors and audio as the forward did."""
    return torch.utils.checkpoint.checkpoint(_call_in_context, _WAN_CONTEXT.get(), module, *args, use_reentrant=False)


def enable_gradient_checkpointing(transformer: WanTransformer3DModel) -> None:
    transformer.enable_gradient_checkpointing(gradient_checkpointing_func=checkpoint_in_context)


# ------------------------------------------------------------------------------------------------ the processor
class ActAvatarCrossAttnProcessor:
    """``attn2`` of block ``layer``: gated PACA text (+ Wan2.1's image) cross-attention plus gated audio.

    Without an active ``WanActAvatarContext`` it is exactly ``WanAttnProcessor`` (the base model)."""

    _attention_backend = None
    _parallel_config = None

    def __init__(self, layer: int):
        self.layer = layer
        self.base = WanAttnProcessor()
        self.paca = PhaseAwareCrossAttnProcessor()

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, rotary_emb=None):
        ctx = _WAN_CONTEXT.get()
        if ctx is None:
            return self.base(attn, hidden_states, encoder_hidden_states, attention_mask, rotary_emb)
        frames = ctx.frame_anchor.shape[1]
        query_in = hidden_states.unflatten(1, (frames, -1)) + ctx.frame_anchor[:, :, None].to(hidden_states.dtype)
        query_in = query_in.flatten(1, 2)  # (B, N, D), frame-major tokens
        image_len = encoder_hidden_states.shape[1] - ctx.text_len
        text = encoder_hidden_states[:, image_len:]  # (B, S, D)
        if ctx.text_anchor is not None:
            text = text + ctx.text_anchor.to(text.dtype)
        with phase_attention_context(ctx.paca):
            text_out = self.paca(attn, query_in, text)  # (B, N, D)
        if image_len > 0:  # Wan2.1 I2V: CLIP image tokens through add_k/add_v, projected by to_out (no bias twice)
            text_out = text_out + self._image_attention(attn, query_in, encoder_hidden_states[:, :image_len])
        text_out = ctx.text_mult[self.layer].to(text_out.dtype) * text_out
        audio_out = ctx.audio_mult[self.layer].to(text_out.dtype) * ctx.layers[self.layer](hidden_states, ctx.audio)
        ctx.text_norm[self.layer] = text_out.detach().float().norm(dim=-1).mean(dim=1)  # (B,) slot: recompute-safe
        ctx.audio_norm[self.layer] = audio_out.detach().float().norm(dim=-1).mean(dim=1)
        return text_out + audio_out

    def _image_attention(self, attn, hidden_states: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        query = attn.norm_q(attn.to_q(hidden_states)).unflatten(2, (attn.heads, -1))  # (B, N, H, d)
        key = attn.norm_added_k(attn.add_k_proj(image)).unflatten(2, (attn.heads, -1))  # (B, I, H, d)
        value = attn.add_v_proj(image).unflatten(2, (attn.heads, -1))
        out = dispatch_attention_fn(query, key, value, backend=self._attention_backend).flatten(2, 3)
        return F.linear(out.type_as(hidden_states), attn.to_out[0].weight)  # (B, N, D)


# ------------------------------------------------------------------------------------------------- the adapter
class WanBlockAdapter(nn.Module):
    """One block's audio cross-attention: the queries of latent frame t attend to that frame's K audio tokens."""

    def __init__(self, dim: int, heads: int, head_dim: int, eps: float = 1e-6):
        super().__init__()
        self.audio_attn = WanAttention(
            dim, heads, head_dim, eps=eps, cross_attention_dim_head=head_dim, processor=WanAttnProcessor()
        )
        nn.init.zeros_(self.audio_attn.to_out[0].weight)  # zero output: a fresh adapter adds exactly nothing
        nn.init.zeros_(self.audio_attn.to_out[0].bias)

    def forward(self, hidden_states: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
        batch, frames, k, dim = audio.shape
        query = hidden_states.unflatten(1, (frames, -1)).flatten(0, 1)  # (B*T, h*w, D)
        out = self.audio_attn(query, audio.flatten(0, 1).to(hidden_states.dtype))  # (B*T, h*w, D)
        return out.unflatten(0, (batch, frames)).flatten(1, 2)  # (B, N, D)


class WanActAvatarAdapter(ModelMixin, ConfigMixin):
    """Everything ActAvatar adds to a Wan DiT: audio projector, time anchors, per-block audio attention, gates."""

    @register_to_config
    def __init__(
        self,
        num_layers: int = 40,  # Wan blocks (one text and one audio gate each)
        dim: int = 5120,  # Wan hidden width (num_attention_heads * attention_head_dim)
        audio_dim: int = 768,  # wav2vec2 feature width (768 base, 1024 large)
        audio_context: int = 2,  # audio window: the latent frame's 4 video frames +- this many frames
        audio_heads: int = 8,  # audio cross-attention heads (inner width audio_heads * audio_head_dim)
        audio_head_dim: int = 128,
        temporal_compression: int = TEMPORAL_COMPRESSION,
        text_len: int = WAN_TEXT_LEN,  # packed prompt length (UMT5 tokens of base + all phases, zero-padded)
        schedule: str = "progressive",  # ModalitySchedule the gates are initialised from
        paca_mode: str = "hard",  # default PACA mask: hard | soft | off
        soft_width_s: float = DEFAULT_SOFT_WIDTH_S,
    ):
        super().__init__()
        k = temporal_compression + 2 * audio_context
        self.audio_proj = nn.Sequential(
            nn.LayerNorm(audio_dim), nn.Linear(audio_dim, dim), nn.SiLU(), nn.Linear(dim, dim)
        )
        self.audio_slot = nn.Parameter(torch.randn(k, dim) * 0.02)  # position inside the audio window
        self.time_anchor = TimeAnchor(dim)
        for head in (self.time_anchor.span[-1], self.time_anchor.frame[-1]):  # anchors start at zero
            nn.init.zeros_(head.weight)
            nn.init.zeros_(head.bias)
        self.layers = nn.ModuleList(WanBlockAdapter(dim, audio_heads, audio_head_dim) for _ in range(num_layers))
        self.modality_schedule = ModalitySchedule(num_layers, schedule)
        self.register_buffer("schedule_strength", torch.zeros(()))  # 0: pretrained text weights; 1: the schedule

    @property
    def audio_window(self) -> int:
        return self.config.temporal_compression + 2 * self.config.audio_context

    def gates(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(text_mult, audio_mult), each (L,): what the blocks actually multiply their cross-attentions by."""
        s = self.schedule_strength
        return 1 + s * (self.modality_schedule.text_gate - 1), self.modality_schedule.audio_gate

    @torch.no_grad()
    def set_schedule_strength(self, value: float) -> None:
        self.schedule_strength.fill_(float(min(max(value, 0.0), 1.0)))

    def gate_report(self) -> dict[str, list[float] | float]:
        text, audio = self.gates()
        return {
            "text_gate": [round(float(v), 5) for v in text.detach()],
            "audio_gate": [round(float(v), 5) for v in audio.detach()],
            "schedule": self.modality_schedule.kind,
            "schedule_strength": round(float(self.schedule_strength), 5),
            "schedule_text_gate": [round(float(v), 5) for v in self.modality_schedule.text_gate.detach()],
        }

    def forward(
        self,
        cond: WanConditioning,
        tokens_per_frame: int,
        paca_mode: str | None = None,
        drop_audio: torch.Tensor | None = None,  # (B,) bool: null (zero) audio for these items
        record: bool = False,
    ) -> WanActAvatarContext:
        """Everything the blocks need that does not depend on the noisy latents (called inside the model's forward,
        so sharded parameters of the adapter are gathered)."""
        mode = paca_mode or self.config.paca_mode
        if mode not in PACA_MODES:
            raise InputError(f"PACA mode {mode!r} is unknown: use one of {', '.join(PACA_MODES)}.")
        prompt = cond.prompt
        dtype = self.audio_slot.dtype
        weights = frame_phase_weights(
            prompt.spans, prompt.phase_valid, cond.frame_times, mode, self.config.soft_width_s
        )
        bias = phase_attention_bias(prompt, weights, mode)  # (B, T, S); padding -inf
        bias = torch.where((prompt.block_index < 0)[:, None, :], torch.zeros_like(bias), bias)  # padding: visible
        needs_mask = record or bool((bias != 0).any())
        paca = (
            PhaseAttentionContext(bias, prompt.block_index, prompt.num_phases, tokens_per_frame, record)
            if needs_mask
            else None
        )
        text_anchor = None
        if mode != "off" and prompt.num_phases > 0:  # "off": all phase texts as one global prompt, no anchors
            zeros = torch.zeros(*prompt.block_index.shape, self.config.dim, device=bias.device, dtype=dtype)
            text_anchor = self.time_anchor.anchor_tokens(prompt, zeros)  # (B, S, D)
        frame_anchor = self.time_anchor.frame_embedding(cond.frame_times.to(dtype))  # (B, T, D)
        if mode == "off":
            frame_anchor = torch.zeros_like(frame_anchor)
        feats = cond.audio.to(dtype)  # (B, T, K, C)
        if drop_audio is not None and bool(drop_audio.any()):
            feats = torch.where(drop_audio[:, None, None, None], torch.zeros_like(feats), feats)
        audio = self.audio_proj(feats) + self.audio_slot  # (B, T, K, D)
        text_mult, audio_mult = self.gates()
        n = self.config.num_layers
        return WanActAvatarContext(
            paca,
            text_anchor,
            frame_anchor,
            audio,
            text_mult,
            audio_mult,
            self.layers,
            prompt.tokens.shape[1],
            [None] * n,
            [None] * n,
        )


# ------------------------------------------------------------------------------------------------- installation
def install_actavatar_adapters(
    transformer: WanTransformer3DModel,
    audio_dim: int = 768,
    schedule: str = "progressive",
    *,
    audio_context: int = 2,
    audio_heads: int | None = None,
    audio_head_dim: int | None = None,
    text_len: int = WAN_TEXT_LEN,
    paca_mode: str = "hard",
    soft_width_s: float = DEFAULT_SOFT_WIDTH_S,
    adapter: WanActAvatarAdapter | None = None,
) -> WanActAvatarAdapter:
    """Attach a (fresh, or the given trained) ``WanActAvatarAdapter`` and put the ActAvatar processor on every
    block's ``attn2``. In place; base state-dict keys are unchanged, adapter keys live under ``actavatar_adapter.``.

    Audio attention width defaults to min(heads, 8) x head_dim (1024 for Wan 14B: ~21M parameters per block)."""
    if getattr(transformer, ADAPTER_ATTR, None) is not None:
        raise ValueError("ActAvatar adapters are already installed on this transformer.")
    cfg = transformer.config
    if adapter is None:
        adapter = WanActAvatarAdapter(
            num_layers=cfg.num_layers,
            dim=cfg.num_attention_heads * cfg.attention_head_dim,
            audio_dim=audio_dim,
            audio_context=audio_context,
            audio_heads=audio_heads or min(cfg.num_attention_heads, 8),
            audio_head_dim=audio_head_dim or cfg.attention_head_dim,
            text_len=text_len,
            schedule=schedule,
            paca_mode=paca_mode,
            soft_width_s=soft_width_s,
        )
    if (
        adapter.config.num_layers != cfg.num_layers
        or adapter.config.dim != cfg.num_attention_heads * cfg.attention_head_dim
    ):
        raise InputError(
            f"Adapter was trained for {adapter.config.num_layers} layers x {adapter.config.dim} wide, but the Wan "
            f"transformer has {cfg.num_layers} x {cfg.num_attention_heads * cfg.attention_head_dim}: "
            "use matching weights."
        )
    param = next(transformer.parameters())
    adapter.to(param.device)
    if adapter.dtype != param.dtype:
        adapter.to(param.dtype)
    adapter.modality_schedule.float()  # gates stay fp32 (tiny, and bf16 cannot represent 1 - 0.9 * depth finely)
    setattr(transformer, ADAPTER_ATTR, adapter)
    for layer, block in enumerate(transformer.blocks):
        block.attn2.set_processor(ActAvatarCrossAttnProcessor(layer))
    return adapter


def get_adapter(transformer: WanTransformer3DModel) -> WanActAvatarAdapter:
    adapter = getattr(transformer, ADAPTER_ATTR, None)
    if adapter is None:
        raise ValueError("No ActAvatar adapters on this transformer: call install_actavatar_adapters first.")
    return adapter


def adapter_parameter_names(transformer: nn.Module) -> list[str]:
    return [n for n, _ in transformer.named_parameters() if ADAPTER_ATTR in n.split(".")]


@contextlib.contextmanager
def without_adapter(transformer: WanTransformer3DModel) -> Iterator[WanTransformer3DModel]:
    """Temporarily detach the adapter module (to save the base weights in the plain diffusers format)."""
    adapter = transformer._modules.pop(ADAPTER_ATTR, None)
    try:
        yield transformer
    finally:
        if adapter is not None:
            transformer._modules[ADAPTER_ATTR] = adapter


def save_actavatar_adapters(transformer: WanTransformer3DModel, path: str | Path) -> Path:
    get_adapter(transformer).save_pretrained(path, safe_serialization=True)
    return Path(path)


def load_actavatar_adapters(transformer: WanTransformer3DModel, path: str | Path) -> WanActAvatarAdapter:
    path = Path(path)
    if not (path / "config.json").is_file():
        raise InputError(
            f"No ActAvatar adapter at {path}: expected config.json + diffusion_pytorch_model.safetensors."
        )
    adapter = WanActAvatarAdapter.from_pretrained(path, use_safetensors=True)
    return install_actavatar_adapters(transformer, adapter=adapter)


# --------------------------------------------------------------------------------------------- forward wrapper
@dataclass
class WanActAvatarOutput:
    sample: torch.Tensor  # (B, C_out, T_lat, H, W) Wan's prediction (flow velocity noise - x0)
    text_norm: torch.Tensor | None = None  # (L, B) mean |gated text contribution| per layer and item
    audio_norm: torch.Tensor | None = None  # (L, B)
    phase_attention: torch.Tensor | None = None  # (B, T_lat, P+1) attention mass per block, averaged over layers


class ActAvatarWan(nn.Module):
    """A Wan transformer with installed adapters, called with a ``WanConditioning``.

    The unit to hand to ``accelerator.prepare`` (FSDP/DeepSpeed wrap it; the adapter's conditioning runs inside its
    forward, so sharded adapter parameters are gathered)."""

    def __init__(self, transformer: WanTransformer3DModel):
        super().__init__()
        get_adapter(transformer)
        self.transformer = transformer

    @property
    def adapter(self) -> WanActAvatarAdapter:
        return get_adapter(self.transformer)

    def forward(
        self,
        hidden_states: torch.Tensor,  # (B, C_in, T_lat, H, W) noisy latents (+ mask/condition channels for I2V)
        timestep: torch.Tensor,  # (B,) or (B, N) for Wan2.2 TI2V
        cond: WanConditioning,
        encoder_hidden_states_image: torch.Tensor | None = None,  # (B, 257, 1280) CLIP states (Wan2.1 I2V)
        paca_mode: str | None = None,
        drop_audio: torch.Tensor | None = None,
        record: bool = False,
    ) -> WanActAvatarOutput:
        t = self.transformer
        p_t, p_h, p_w = t.config.patch_size
        frames = hidden_states.shape[2] // p_t
        tokens_per_frame = (hidden_states.shape[3] // p_h) * (hidden_states.shape[4] // p_w)
        if cond.audio.shape[1] != frames or cond.frame_times.shape[1] != frames:
            raise ValueError(f"conditioning has {cond.audio.shape[1]} latent frames, latents have {frames}")
        if t.gradient_checkpointing and getattr(t, "_gradient_checkpointing_func", None) is not checkpoint_in_context:
            enable_gradient_checkpointing(t)  # the default function would recompute blocks without the context
        ctx = self.adapter(cond, tokens_per_frame, paca_mode, drop_audio, record)
        with wan_context(ctx):
            sample = t(
                hidden_states,
                timestep,
                cond.prompt.tokens.to(hidden_states.dtype),
                encoder_hidden_states_image,
                return_dict=False,
            )[0]
        phase_attention = None
        if ctx.paca is not None and ctx.paca.record and ctx.paca.attention:
            phase_attention = torch.stack(ctx.paca.attention).mean(0)
        return WanActAvatarOutput(sample, torch.stack(ctx.text_norm), torch.stack(ctx.audio_norm), phase_attention)


def pad_prompt(prompt: PhasePrompt, length: int) -> PhasePrompt:
    """Zero-pad packed tokens to ``length`` (Wan's 512): padding keeps block index -1 (visible, see module doc)."""
    s = prompt.tokens.shape[1]
    if s > length:
        raise InputError(
            f"Base prompt plus phase texts are {s} UMT5 tokens, more than the {length} the video model reads: "
            "shorten the phase texts or the base prompt."
        )
    tokens = F.pad(prompt.tokens, (0, 0, 0, length - s))
    block_index = F.pad(prompt.block_index, (0, length - s), value=-1)
    return PhasePrompt(tokens, block_index, prompt.spans, prompt.phase_valid)
