"""ActAvatarVideoPipeline: portrait + speech + phase plan -> video, with a Wan I2V DiT and ActAvatar adapters.

Built on diffusers' ``WanImageToVideoPipeline`` (its ``from_pretrained`` loads the Wan VAE, UMT5 text encoder,
tokenizer, scheduler, CLIP image encoder for Wan2.1, and transformer from a local folder); this class adds the phase
plan (PACA text blocks), wav2vec2 audio, the modality-schedule report and long-audio windowing.

Weights folder (``--weights DIR`` / ``ACTAVATAR_VIDEO_WEIGHTS``): a diffusers Wan I2V/TI2V folder
(``model_index.json``, ``transformer/``, ``vae/``, ``text_encoder/``, ``tokenizer/``, ``scheduler/``, optionally
``image_encoder/``, ``image_processor/``) plus ``actavatar_adapter/`` (written by
``python -m actavatar.training.video_train``) and ``wav2vec2/`` (a transformers ``Wav2Vec2Model`` folder).
Nothing is ever downloaded.

Long audio: windows of ``window_frames`` video frames (4k + 1); each window after the first is conditioned on the
last ``overlap_frames`` (4m - 3) generated frames exactly like Wan conditions on the input image: the frames are
re-encoded by the causal VAE (so the overlap starts with a standalone frame, as the VAE's temporal grouping expects)
and marked known in the mask channels (I2V) or frozen at timestep 0 (TI2V, ``expand_timesteps``). The regenerated
overlap is cross-faded into the previous window's frames.
"""

from __future__ import annotations

import copy
import html
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from diffusers.pipelines.wan.pipeline_wan_i2v import WanImageToVideoPipeline, retrieve_latents
from diffusers.utils import BaseOutput

from .. import defaults
from ..audio import SAMPLE_RATE, num_video_frames
from ..errors import InputError
from ..models.alignment import ShareMeter
from ..models.paca import pack_phase_prompt
from ..models.wan_actavatar import (
    ActAvatarWan,
    WanConditioning,
    get_adapter,
    latent_audio_windows,
    latent_frame_times,
    load_actavatar_adapters,
    num_latent_frames,
    pad_prompt,
    save_actavatar_adapters,
    video_audio_features,
    video_to_latent_index,
    without_adapter,
)
from ..phases import PhasePlan
from ..results import GenerationResult, build_report, write_json_atomic
from .motion import cross_fade, guided_velocity, plan_windows, step_hook

WEIGHTS_ENV = "ACTAVATAR_VIDEO_WEIGHTS"
ADAPTER_DIR = "actavatar_adapter"
WAV2VEC2_DIR = "wav2vec2"


def clean_prompt(text: str) -> str:
    """Wan's prompt cleaning (html unescape + whitespace), with ftfy's mojibake fix when it is installed."""
    try:
        import ftfy

        text = ftfy.fix_text(text)
    except ImportError:
        pass
    return re.sub(r"\s+", " ", html.unescape(html.unescape(text))).strip()


@dataclass
class VideoPipelineOutput(BaseOutput):
    frames: np.ndarray  # (T, H, W, 3) uint8 RGB
    fps: float
    layers: dict  # text_gate, audio_gate, text_share, audio_share (per layer) + raw norms and schedule details
    phase_attention: np.ndarray  # (T, P) attention mass each video frame's latent frame puts on each phase block
    base_attention: np.ndarray  # (T,)
    timings_s: dict = field(default_factory=dict)
    windows: list = field(default_factory=list)  # (start, end) video-frame ranges generated


@dataclass(frozen=True)
class _Clip:
    """What every window of one call shares (``ActAvatarVideoPipeline._encode_clip``)."""

    encoded: tuple  # the plan's texts: base (1, L, D), mask, phases (P, L, D), mask
    negative: object  # the negative prompt, packed and padded as a phase prompt
    feats: torch.Tensor  # (1, T, C) video-rate audio features
    image_embeds: torch.Tensor | None  # CLIP image tokens (Wan2.1) or None
    portrait: torch.Tensor  # (1, 3, H, W) in [-1, 1]


def stitch_video_window(video, attention, frames, per_frame_attn, w0: int, w1: int, k: int, cols: list[int]) -> None:
    """Write a decoded window into the clip, in place: its first ``k`` frames (regenerated overlap) cross-faded into
    the previous window's, the rest as they are; its per-frame attention into the clip's columns ``cols``."""
    if k:
        video[:, w0 : w0 + k] = cross_fade(video[:, w0 : w0 + k], frames[:, :k], dim=1)
    video[:, w0 + k : w1] = frames[:, k:]
    attention[w0 + k : w1][:, cols] = per_frame_attn[k:]


class ActAvatarVideoPipeline(WanImageToVideoPipeline):
    """Image-to-video with PACA phase control and gated wav2vec2 audio (``install_actavatar_adapters``)."""

    wav2vec2_dir: str | None = None

    @classmethod
    def from_weights(cls, weights_dir: str | Path, torch_dtype: torch.dtype = torch.bfloat16, device: str = "cuda"):
        """Load a weights folder (see module doc). Raises ``InputError`` naming what is missing."""
        path = Path(weights_dir)
        ok, reason = check_weights_dir(path)
        if not ok:
            raise InputError(reason)
        pipe = cls.from_pretrained(path, dtype=torch_dtype, local_files_only=True, use_safetensors=True)
        if pipe.transformer_2 is not None:
            raise InputError(
                "Two-expert Wan2.2 A14B weights are not supported yet: use a single-transformer I2V/TI2V."
            )
        load_actavatar_adapters(pipe.transformer, path / ADAPTER_DIR)
        pipe.wav2vec2_dir = str(path / WAV2VEC2_DIR) if (path / WAV2VEC2_DIR).is_dir() else None
        return pipe.to(device)

    def save_pretrained(self, save_directory: str | Path, **kwargs) -> None:
        """Base components in the plain diffusers Wan layout, adapters in ``actavatar_adapter/``."""
        with without_adapter(self.transformer):
            super().save_pretrained(save_directory, **kwargs)
        save_actavatar_adapters(self.transformer, Path(save_directory) / ADAPTER_DIR)

    @property
    def adapter(self):
        return get_adapter(self.transformer)

    @property
    def expand_timesteps(self) -> bool:
        """Wan2.2 TI2V: the known latent frames replace the noisy ones at timestep 0 (no mask channels)."""
        return bool(self.config.expand_timesteps)

    # ----------------------------------------------------------------------------------------------- 1. inputs
    def check_inputs(self, audio, plan: PhasePlan, fps, steps, height, width, window_frames, overlap_frames,
                     paca_mode, schedule) -> PhasePlan:  # fmt: skip
        if not isinstance(audio, np.ndarray) or audio.ndim != 1 or len(audio) == 0:
            raise InputError("Audio must be a non-empty mono waveform at 16 kHz (use actavatar.audio.load_audio).")
        defaults.check_options(tier="video", fps=fps, steps=steps, paca=paca_mode, schedule=schedule)
        multiple = self.vae_scale_factor_spatial * self.transformer.config.patch_size[1]
        if height % multiple or width % multiple or height <= 0 or width <= 0:
            raise InputError(f"Video size {width}x{height} must be positive multiples of {multiple} pixels.")
        c = self.vae_scale_factor_temporal
        if window_frames % c != 1 or overlap_frames % c != 1 or not (1 <= overlap_frames < window_frames):
            raise InputError(
                f"window_frames ({window_frames}) and overlap_frames ({overlap_frames}) must be {c}k + 1 frames "
                "with overlap < window (e.g. 81 and 5)."
            )
        return plan.validate(len(audio) / SAMPLE_RATE)

    # ----------------------------------------------------------------------------------------------- 2. encode
    @torch.no_grad()
    def encode_texts(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """UMT5 states of several texts, each trimmed to its tokens: (N, L, D) and mask (N, L)."""
        device = self._execution_device
        inputs = self.tokenizer(
            [clean_prompt(t) for t in texts],
            padding="longest",
            max_length=self.adapter.config.text_len,
            truncation=True,
            add_special_tokens=True,
            return_attention_mask=True,
            return_tensors="pt",
        )
        states = self.text_encoder(inputs.input_ids.to(device), inputs.attention_mask.to(device)).last_hidden_state
        mask = inputs.attention_mask.bool().to(device)
        return states * mask[..., None], mask

    def window_prompt(self, plan: PhasePlan, encoded, start_frame: int, num_frames: int, fps: float) -> tuple:
        """Phases overlapping a window, spans shifted to the window's time origin (what training saw)."""
        states, mask = encoded
        t0, t1 = start_frame / fps, (start_frame + num_frames) / fps
        keep = [k for k, p in enumerate(plan.phases) if p.end > t0 and p.start < t1]
        spans = [(plan.phases[k].start - t0, plan.phases[k].end - t0) for k in keep]
        idx = [k + 1 for k in keep]
        prompt = pack_phase_prompt(states[:1], mask[:1], [(states[idx], mask[idx])], [spans])
        return pad_prompt(prompt, self.adapter.config.text_len), keep

    # ---------------------------------------------------------------------------------------------- 3. latents
    @torch.no_grad()
    def encode_video(self, video: torch.Tensor) -> torch.Tensor:
        """(B, 3, F, H, W) in [-1, 1] -> normalised latents (B, z, T_lat, h, w), as ``prepare_latents`` does."""
        vae = self.vae
        latents = retrieve_latents(vae.encode(video.to(vae.device, vae.dtype)), sample_mode="argmax").float()
        mean = torch.tensor(vae.config.latents_mean).view(1, -1, 1, 1, 1).to(latents)
        std = torch.tensor(vae.config.latents_std).view(1, -1, 1, 1, 1).to(latents)
        return (latents - mean) / std

    @torch.no_grad()
    def decode_latents(self, latents: torch.Tensor) -> torch.Tensor:
        """Normalised latents -> (B, 3, F, H, W) in [-1, 1]."""
        vae = self.vae
        mean = torch.tensor(vae.config.latents_mean).view(1, -1, 1, 1, 1).to(latents)
        std = torch.tensor(vae.config.latents_std).view(1, -1, 1, 1, 1).to(latents)
        return vae.decode((latents * std + mean).to(vae.dtype), return_dict=False)[0].float().clamp(-1, 1)

    def prepare_condition(self, prefix: torch.Tensor, num_frames: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Known first frames (B, 3, K, H, W) -> (condition, known) for a window of ``num_frames`` video frames.

        I2V: condition = [mask (4 ch) ; VAE latents of prefix + zeros], the layout Wan was trained on (generalised
        from one known frame to K). TI2V: condition = latents of the prefix in the first latent frames; ``known`` is
        (1, 1, T_lat, h, w) with 1 where a latent frame is given (the pipeline freezes them at timestep 0)."""
        batch, _, k, height, width = prefix.shape
        c = self.vae_scale_factor_temporal
        t_lat = num_latent_frames(num_frames, c)
        h, w = height // self.vae_scale_factor_spatial, width // self.vae_scale_factor_spatial
        m = num_latent_frames(k, c)
        known = torch.zeros(1, 1, t_lat, h, w, device=prefix.device)
        known[:, :, :m] = 1.0
        if self.expand_timesteps:
            lat = self.encode_video(prefix)  # (B, z, m, h, w)
            cond = torch.zeros(batch, lat.shape[1], t_lat, h, w, device=lat.device)
            cond[:, :, :m] = lat
            return cond, known
        video = torch.cat([prefix, prefix.new_zeros(batch, 3, num_frames - k, height, width)], dim=2)
        lat = self.encode_video(video)  # (B, z, T_lat, h, w)
        mask = torch.zeros(batch, 1, num_frames, h, w, device=lat.device)
        mask[:, :, :k] = 1.0
        mask = torch.cat([mask[:, :, :1].repeat_interleave(c, dim=2), mask[:, :, 1:]], dim=2)  # first frame x4
        mask = mask.view(batch, t_lat, c, h, w).transpose(1, 2)  # (B, 4, T_lat, h, w)
        return torch.cat([mask, lat], dim=1), known

    def model_input(self, latents, condition, known, t) -> tuple[torch.Tensor, torch.Tensor]:
        """The transformer's input and timestep (``t``: scalar or (B,)) for one step (Wan's I2V / TI2V rules)."""
        if self.expand_timesteps:
            x = known * condition + (1 - known) * latents
            p_h, p_w = self.transformer.config.patch_size[1:]
            per_token = (1 - known)[0, 0][:, ::p_h, ::p_w].flatten()[None]  # (1, N): 0 on given latent frames
            return x, per_token * t.reshape(-1, 1).to(per_token)  # (B, N)
        return torch.cat([latents, condition], dim=1), t.reshape(-1).expand(latents.shape[0])

    # ------------------------------------------------------------------------------------------------ 4. call
    @torch.inference_mode()
    def __call__(
        self,
        image,
        audio: np.ndarray,
        plan: PhasePlan | None = None,
        *,
        audio_features: torch.Tensor | None = None,
        height: int = 480,
        width: int = 832,
        fps: float = defaults.FPS,
        num_inference_steps: int = defaults.VIDEO_STEPS,
        text_guidance: float = defaults.VIDEO_TEXT_GUIDANCE,
        audio_guidance: float = defaults.VIDEO_AUDIO_GUIDANCE,
        negative_prompt: str = "",
        paca_mode: str = "hard",
        schedule: str | None = None,
        seed: int = 0,
        window_frames: int = defaults.VIDEO_WINDOW_FRAMES,
        overlap_frames: int = defaults.VIDEO_OVERLAP_FRAMES,
        callback_on_step_end: Callable | None = None,
        progress: Callable[[str, int, int], None] | None = None,
    ) -> VideoPipelineOutput:
        """``image``: the portrait (PIL/array); ``audio``: 16 kHz mono; ``audio_features``: optional (T, C)
        video-rate wav2vec2 features (else computed from the ``wav2vec2/`` folder)."""
        timings, t_start = {}, time.perf_counter()
        plan = self.check_inputs(audio, plan or PhasePlan(), fps, num_inference_steps, height, width, window_frames,
                                 overlap_frames, paca_mode, schedule)  # fmt: skip
        model = ActAvatarWan(self._transformer_for_schedule(schedule))
        total = num_video_frames(len(audio), fps)
        if progress:
            progress("encode", 0, 1)

        # 1. Encode once for the whole clip: UMT5 (base, phases, negative), wav2vec2, CLIP image (Wan2.1), portrait.
        clip = self._encode_clip(image, audio, plan, audio_features, negative_prompt, height, width, fps, total)
        timings["encode"] = time.perf_counter() - t_start

        # 2. Windows: [0, W), [W - O, 2W - O), ... ; window w > 0 starts with O known frames.
        windows = plan_windows(total, window_frames, overlap_frames, None)
        generator = torch.Generator(device="cpu").manual_seed(int(seed))
        meter = ShareMeter(self.transformer.config.num_layers)
        video = torch.zeros(3, total, height, width)  # [-1, 1]
        attention = torch.zeros(total, len(plan.phases) + 1)
        sampling = dict(
            steps=num_inference_steps,
            guidance=(text_guidance, audio_guidance),
            paca_mode=paca_mode,
            image_embeds=clip.image_embeds,
        )
        t_diff, t_decode = time.perf_counter(), 0.0

        total_steps = num_inference_steps * len(windows)
        with self.progress_bar(total=total_steps) as bar:
            on_step = step_hook(self, bar, total_steps, callback_on_step_end, progress)

            for w, (w0, w1) in enumerate(windows):
                n, c = w1 - w0, self.vae_scale_factor_temporal
                prefix = clip.portrait[:, :, None] if w == 0 else video[None, :, w0 : w0 + overlap_frames]
                condition, known, cond, neg, keep = self._window_conditioning(clip, plan, prefix, w0, w1, fps)

                # 3. Fresh noise, then denoise.
                shape = (1, self.vae.config.z_dim, *known.shape[2:])  # (1, z, T_lat, h, w)
                latents = torch.randn(shape, generator=generator).to(self._execution_device)
                latents, win_attn = self._denoise_window(
                    model, latents, condition, known, cond, neg, len(keep), meter, w * num_inference_steps, on_step,
                    **sampling,
                )  # fmt: skip

                # 4. Decode and stitch: cross-fade the regenerated overlap into the previous window's frames.
                t_dec = time.perf_counter()
                frames = self.decode_latents(latents)[0, :, :n].cpu()  # (3, n, H, W)
                t_decode += time.perf_counter() - t_dec
                k = 0 if w == 0 else overlap_frames
                per_video = win_attn[torch.from_numpy(video_to_latent_index(n, c))]  # (n, P_w + 1)
                stitch_video_window(video, attention, frames, per_video, w0, w1, k, [0] + [j + 1 for j in keep])

        timings["diffusion"] = time.perf_counter() - t_diff - t_decode
        timings["decode"] = t_decode
        return self._output(video, attention, meter, timings, windows, fps, t_start)

    def _output(self, video, attention, meter, timings, windows, fps, t_start) -> VideoPipelineOutput:
        """The clip's (T, H, W, 3) uint8 frames from [-1, 1], the gates and shares, attention and timings."""
        frames_u8 = ((video.permute(1, 2, 3, 0) + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).numpy()
        layers = {**self.adapter.gate_report(), **meter.shares()}
        timings["total"] = time.perf_counter() - t_start
        self.maybe_free_model_hooks()
        return VideoPipelineOutput(
            frames=frames_u8,
            fps=float(fps),
            layers=layers,
            phase_attention=attention[:, 1:].numpy(),
            base_attention=attention[:, 0].numpy(),
            timings_s=timings,
            windows=windows,
        )

    def _encode_clip(self, image, audio, plan, audio_features, negative_prompt, height, width, fps, total) -> _Clip:
        """Everything the windows share, encoded once: the plan's texts, the negative prompt (packed as a prompt
        without phases), the video-rate audio features (checked against the clip's length), the CLIP image tokens
        (Wan2.1 only) and the portrait at the video size."""
        device, dtype = self._execution_device, self.transformer.dtype
        encoded = self.encode_texts([plan.base] + [p.text for p in plan.phases])
        neg_states, neg_mask = self.encode_texts([negative_prompt])
        negative = pad_prompt(
            pack_phase_prompt(neg_states, neg_mask, [(neg_states[:0], neg_mask[:0])], [[]]),
            self.adapter.config.text_len,
        )
        if audio_features is None:
            if self.wav2vec2_dir is None:
                raise InputError("No wav2vec2 model: put a Wav2Vec2Model folder at WEIGHTS/wav2vec2.")
            audio_features = video_audio_features(audio, self.wav2vec2_dir, fps, total)
        if audio_features.shape[0] != total or audio_features.shape[1] != self.adapter.config.audio_dim:
            raise InputError(
                f"Audio features must be ({total}, {self.adapter.config.audio_dim}), "
                f"got {tuple(audio_features.shape)}."
            )
        feats = audio_features[None].to(device, dtype)  # (1, T, C)
        image_embeds = None
        if self.image_encoder is not None:
            image_embeds = self.encode_image(image, device).to(dtype)
        portrait = self.video_processor.preprocess(image, height=height, width=width).to(device, torch.float32)
        return _Clip(encoded, negative, feats, image_embeds, portrait)

    def _window_conditioning(self, clip: _Clip, plan: PhasePlan, prefix: torch.Tensor, w0: int, w1: int, fps: float):
        """A window's image condition from its known frames ``prefix`` (the portrait, or the previous window's
        overlap), its phases' prompt (and the negative one) with latent-frame times and audio windows.
        Returns (condition, known-latent mask, conditioning, negative conditioning, phase indices)."""
        device = self._execution_device
        n, c = w1 - w0, self.vae_scale_factor_temporal
        n_gen = (n - 1 + c - 1) // c * c + 1  # round up to 4k + 1 (the last window may be short)
        t_lat = num_latent_frames(n_gen, c)
        condition, known = self.prepare_condition(prefix.to(device), n_gen)
        prompt, keep = self.window_prompt(plan, clip.encoded, w0, n, fps)
        times = torch.from_numpy(latent_frame_times(t_lat, fps, c)).float()[None].to(device)
        audio_win = latent_audio_windows(clip.feats, t_lat, self.adapter.config.audio_context, c, offset=w0)
        cond = WanConditioning(prompt.to(device), times, audio_win)
        neg = WanConditioning(clip.negative.to(device), times, audio_win)
        return condition, known, cond, neg, keep

    def _denoise_window(
        self, model, latents, condition, known, cond, neg, num_phases, meter, step_offset, on_step, *,
        steps, guidance, paca_mode, image_embeds,
    ):  # fmt: skip
        """Denoise one window; returns its latents and the (T_lat, 1 + phases) attention of the last step.
        CFG over [text+audio, audio only, neither] (InstructPix2Pix-style, as the motion tier); a per-call scheduler
        copy, since the pipeline is shared across requests."""
        text_guidance, audio_guidance = guidance
        guided = not (text_guidance == 1.0 and audio_guidance == 1.0)
        device, dtype = self._execution_device, self.transformer.dtype
        scheduler = copy.deepcopy(self.scheduler)
        scheduler.set_timesteps(steps, device=device)
        win_attn = torch.zeros(latents.shape[2], num_phases + 1)
        for i, t in enumerate(scheduler.timesteps):
            x, timestep = self.model_input(latents, condition, known, t)
            x = x.to(dtype)
            record = i == len(scheduler.timesteps) - 1  # attention maps at the last step only (memory)
            out = model(x, timestep, cond, image_embeds, paca_mode, record=record)
            v = out.sample.float()
            if guided:
                v_a = model(x, timestep, neg, image_embeds, paca_mode).sample.float()
                drop = torch.ones(1, dtype=torch.bool, device=device)
                v_none = model(x, timestep, neg, image_embeds, paca_mode, drop_audio=drop).sample.float()
                v = guided_velocity(v, v_a, v_none, text_guidance, audio_guidance)
            latents = scheduler.step(v, t, latents, return_dict=False)[0]
            meter.add(out.text_norm[:, 0], out.audio_norm[:, 0])
            if out.phase_attention is not None:
                win_attn = out.phase_attention[0].float().cpu()
            latents = on_step(step_offset + i, t, latents)
        if self.expand_timesteps:
            latents = known * condition + (1 - known) * latents
        return latents, win_attn

    def _transformer_for_schedule(self, schedule: str | None):
        """The trained gates, or (ablation) a copy whose schedule gates are reset to another named schedule."""
        if schedule is None or schedule == self.adapter.modality_schedule.kind:
            return self.transformer
        clone = copy.deepcopy(self.transformer)  # full-scale: ~2x transformer memory; an ablation, not a default
        get_adapter(clone).modality_schedule.reset(schedule)
        return clone


# ------------------------------------------------------------------------------------------------- app and CLI
def check_weights_dir(path: str | Path) -> tuple[bool, str]:
    path = Path(path)
    if not path.is_dir():
        return False, f"Video tier weights folder {path} does not exist."
    if not (path / "model_index.json").is_file():
        return False, f"{path} is not a diffusers Wan folder (no model_index.json)."
    if not (path / ADAPTER_DIR / "config.json").is_file():
        return False, f"{path} has no {ADAPTER_DIR}/ (train one with python -m actavatar.training.video_train)."
    return True, f"Video tier weights at {path}."


def video_tier_status() -> tuple[bool, str]:
    """(enabled, one-line reason) for the app: weights from ``ACTAVATAR_VIDEO_WEIGHTS`` and a CUDA device."""
    weights = os.environ.get(WEIGHTS_ENV, "").strip()
    if not weights:
        return False, f"Video tier hidden: set {WEIGHTS_ENV} to a Wan + ActAvatar weights folder to enable it."
    ok, reason = check_weights_dir(weights)
    if not ok:
        return False, f"Video tier hidden: {reason}"
    if not torch.cuda.is_available():
        return False, "Video tier hidden: it needs a CUDA GPU and none is available."
    return True, f"Video tier enabled ({weights})."


_PIPELINES: dict[str, ActAvatarVideoPipeline] = {}


def video_size(image_size: tuple[int, int], longest: int, multiple: int) -> tuple[int, int]:
    """(height, width) with the portrait's aspect, longest side ~``longest``, both multiples of ``multiple``."""
    w, h = image_size
    scale = longest / max(w, h)
    return max(multiple, round(h * scale / multiple) * multiple), max(multiple, round(w * scale / multiple) * multiple)


def generate_video(
    portrait,
    audio: str | Path,
    plan: PhasePlan,
    *,
    out: str | Path,
    report: str | Path | None = None,
    weights: str | Path | None = None,
    steps: int = defaults.VIDEO_STEPS,
    seed: int = 0,
    fps: float = defaults.FPS,
    size: int = defaults.SIZE,
    text_guidance: float = defaults.VIDEO_TEXT_GUIDANCE,
    audio_guidance: float = defaults.VIDEO_AUDIO_GUIDANCE,
    paca: str = "hard",
    schedule: str | None = None,
    clip_phases: bool = False,
    window_frames: int = defaults.VIDEO_WINDOW_FRAMES,
    overlap_frames: int = defaults.VIDEO_OVERLAP_FRAMES,
    negative_prompt: str = "",
):
    """The video tier behind ``actavatar.api.generate(..., tier="video")``: needs CUDA and a weights folder.
    ``plan`` is the API's ``PhasePlan`` (validated once, by the pipeline's ``check_inputs``)."""
    from PIL import Image

    from ..audio import load_audio
    from ..render.mux import write_video

    if not torch.cuda.is_available():
        raise InputError("The video tier needs a CUDA GPU and none is available: use --tier motion on this machine.")
    weights = weights or os.environ.get(WEIGHTS_ENV)
    if not weights:
        raise InputError(f"The video tier needs --weights DIR (or {WEIGHTS_ENV}): a Wan + ActAvatar weights folder.")
    key = str(Path(weights).resolve())
    if key not in _PIPELINES:
        _PIPELINES[key] = ActAvatarVideoPipeline.from_weights(weights)
    pipe = _PIPELINES[key]
    from ..render import load_portrait

    image = Image.fromarray(load_portrait(portrait))
    wave = load_audio(audio)
    if clip_phases:
        plan, _ = plan.clipped(len(wave) / SAMPLE_RATE)
    multiple = pipe.vae_scale_factor_spatial * pipe.transformer.config.patch_size[1]
    height, width = video_size(image.size, size, multiple)
    result = pipe(
        image,
        wave,
        plan,
        height=height,
        width=width,
        fps=fps,
        num_inference_steps=steps,
        text_guidance=text_guidance,
        audio_guidance=audio_guidance,
        negative_prompt=negative_prompt,
        paca_mode=paca or "hard",
        schedule=schedule,
        seed=seed,
        window_frames=window_frames,
        overlap_frames=overlap_frames,
    )
    t_mux = time.perf_counter()
    path = write_video(iter(result.frames), out, result.fps, audio_path=audio, num_frames=len(result.frames))
    result.timings_s["mux"] = time.perf_counter() - t_mux
    data = build_report(result, plan, seed=seed, timings=result.timings_s, windows=[list(w) for w in result.windows])
    if report:
        write_json_atomic(report, data)
    return GenerationResult(Path(path), data, None)


__all__ = [
    "ActAvatarVideoPipeline",
    "VideoPipelineOutput",
    "generate_video",
    "video_tier_status",
]
