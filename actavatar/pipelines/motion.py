"""ActAvatarMotionPipeline: audio + phase plan + neutral face -> per-frame motion, with flow-matching sampling.

Long clips are generated in overlapping windows; each window after the first is conditioned on the last
``overlap`` frames of the previous one (motion-prefix conditioning) and cross-faded over them, so there is no seam.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import DiffusionPipeline, FlowMatchEulerDiscreteScheduler
from diffusers.utils import BaseOutput

from .. import defaults
from ..audio import SAMPLE_RATE, frame_features, num_video_frames
from ..errors import InputError
from ..models.alignment import ShareMeter
from ..models.motion_dit import MotionConditioning, MotionDiT
from ..models.paca import frame_times, pack_phase_prompt
from ..motion import FACE_DESCRIPTOR_DIM, MOTION_DIM, MOTION_LIMITS, MOTION_NAMES, MOTION_SCALE, mirror_motion
from ..phases import PhasePlan
from ..text import TextEncoder, default_text_encoder, mirror_text

MOTION_SCALE_VEC = torch.tensor([MOTION_SCALE[n] for n in MOTION_NAMES])
_LOW = np.array([MOTION_LIMITS[n][0] for n in MOTION_NAMES], dtype=np.float32)
_HIGH = np.array([MOTION_LIMITS[n][1] for n in MOTION_NAMES], dtype=np.float32)
_JAW = MOTION_NAMES.index("jaw_open")
DEFAULT_CHECKPOINT = Path(__file__).resolve().parents[2] / "assets" / "checkpoints" / "actavatar-motion"


@lru_cache(maxsize=1)
def native_bf16() -> bool:
    """True when this CPU multiplies bf16 natively (AVX512-BF16 or AMX): the transformer then runs ~20 % faster
    under bf16 autocast with motion differences far below what the renderer shows (see benchmarks)."""
    if torch.cuda.is_available():
        return False
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return ("avx512_bf16" in flags or "amx_bf16" in flags) and torch.ops.mkldnn._is_mkldnn_bf16_supported()


def mirrored_plan(plan: PhasePlan) -> PhasePlan:
    """The plan as it reads for the motion seen in a mirror: "left" and "right" swapped in every text."""
    phases = tuple(dataclasses.replace(p, text=mirror_text(p.text)) for p in plan.phases)
    return dataclasses.replace(plan, base=mirror_text(plan.base), phases=phases)


def mirror_view_weights(text_effect: torch.Tensor, smooth_frames: int = 9, power: float = 4.0) -> torch.Tensor:
    """(2, T, 1) weights of the plan's view and the mirror view (mirrored back) in each frame's velocity, from their
    text effects ``v(text, audio) - v(audio)`` (2, T, D; mirroring swaps and negates channels, so it keeps the
    norm and either orientation of the mirror view's effect gives the same weights).

    The view in which the text moves the motion more gets more weight, sharply (energy to the 4th power, so a 2x
    stronger effect gets 16x the weight), with the energy averaged over ``smooth_frames`` frames so the weights
    change smoothly in time. A text the model knows in both orientations moves both views alike and the two are
    averaged; a text it knows in one orientation only ("cocks her head to the right", never "... left") follows the
    view that knows it, at full strength, where a plain average would halve the action."""
    energy = text_effect.float().square().sum(-1)  # (2, T)
    if smooth_frames > 1:
        energy = F.avg_pool1d(energy[:, None], smooth_frames, 1, smooth_frames // 2, count_include_pad=False)[:, 0]
    return torch.softmax(power * energy.clamp_min(1e-30).log(), dim=0)[..., None]  # energy**power, normalised


def normalize_motion(motion: torch.Tensor) -> torch.Tensor:
    return motion / MOTION_SCALE_VEC.to(motion)


def denormalize_motion(motion: torch.Tensor) -> torch.Tensor:
    return motion * MOTION_SCALE_VEC.to(motion)


def guidance_branches(text_guidance: float, audio_guidance: float) -> int:
    """How many CFG branches a step needs (InstructPix2Pix-style two-condition guidance over
    [text+audio, audio only, neither]): a guidance weight of 1 makes its branch cancel out."""
    if text_guidance == 1.0 and audio_guidance == 1.0:
        return 1
    if audio_guidance == 1.0:
        return 2
    return 3


def guided_velocity(
    v_at: torch.Tensor, v_a: torch.Tensor, v_none: torch.Tensor | None, text_guidance: float, audio_guidance: float
) -> torch.Tensor:
    """Both tiers' two-condition guidance over [text+audio, audio only, neither] (InstructPix2Pix-style):
    v = v_none + g_a (v_a - v_none) + g_t (v_at - v_a). ``v_none`` may be None only when g_a = 1 (it cancels)."""
    if v_none is None:
        if audio_guidance != 1.0:
            raise ValueError("audio guidance other than 1 needs the unconditioned branch")
        return v_a + text_guidance * (v_at - v_a)
    return v_none + audio_guidance * (v_a - v_none) + text_guidance * (v_at - v_a)


def cross_fade(old: torch.Tensor, new: torch.Tensor, dim: int = 0) -> torch.Tensor:
    """Both tiers' window seam: ``old`` (the previous window's overlap frames) fading into ``new`` (the same frames
    regenerated) along the time axis ``dim``, the new window's weight rising linearly strictly between 0 and 1."""
    k = old.shape[dim]
    shape = [1] * old.dim()
    shape[dim] = k
    fade = torch.linspace(0, 1, k + 2, dtype=old.dtype, device=old.device)[1:-1].view(shape)
    return (1 - fade) * old + fade * new


def step_hook(pipeline, bar, total_steps: int, callback_on_step_end=None, progress=None):
    """The per-step hook of both tiers' denoising loops: the diffusers-style ``callback_on_step_end`` (which may
    replace the latents), the progress bar and the ``progress("denoise", i, n)`` stream."""

    def on_step(step: int, t, latents: torch.Tensor) -> torch.Tensor:
        if callback_on_step_end is not None:
            result = callback_on_step_end(pipeline, step, int(t), {"latents": latents})
            latents = result.get("latents", latents) if result else latents
        bar.update()
        if progress:
            progress("denoise", step + 1, total_steps)
        return latents

    return on_step


def plan_windows(
    num_frames: int, window_frames: int, overlap_frames: int, first_window_frames: int | None
) -> list[tuple[int, int]]:
    """Frame ranges [0, F), [F - O, F - O + W), ...: each window after the first starts with the last
    ``overlap_frames`` of the previous one. The first may be shorter (``first_window_frames``) so that the first
    frames come sooner."""
    windows, start = [], 0
    first = min(window_frames, max(overlap_frames + 1, first_window_frames or window_frames))
    while True:
        end = min(start + (window_frames if windows else first), num_frames)
        windows.append((start, end))
        if end >= num_frames:
            return windows
        start = end - overlap_frames


def stitch_window(
    motion: torch.Tensor,
    attention: torch.Tensor,
    new: torch.Tensor,
    win_attn: torch.Tensor,
    w0: int,
    w1: int,
    known: int,
    cols: list[int],
) -> None:
    """Write a window's motion and attention into the clip's, in place. The ``known`` prefix frames are cross-faded
    into the previous window's output (attention averaged), so there is no seam; ``cols`` are the window's blocks'
    columns in the clip's attention (base first)."""
    if known:
        motion[w0 : w0 + known] = cross_fade(motion[w0 : w0 + known], new[:known])
    motion[w0 + known : w1] = new[known:]
    attention[w0 + known : w1][:, cols] = win_attn[known:]
    if known:
        attention[w0 : w0 + known][:, cols] = 0.5 * (attention[w0 : w0 + known][:, cols] + win_attn[:known])


@dataclass(frozen=True)
class _Sampling:
    """What every denoising step of one call shares: the model, its precision and the guidance settings."""

    model: MotionDiT
    paca_mode: str
    bf16: bool
    branches: int
    steps: int
    text_guidance: float
    audio_guidance: float
    guidance_min_sigma: float

    def guide(self, v: torch.Tensor, guided: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Combine the branches' velocities: v = v_none + g_a (v_a - v_none) + g_t (v_at - v_a) (g_a = 1 cancels
        v_none, g_t = g_a = 1 leaves v_at). Also returns the text effect v_at - v_a (None on unguided steps, where
        ``v`` is v_at alone, per view)."""
        if not guided:
            return v, None
        v_at, v_a, *none = v.chunk(self.branches)
        v = guided_velocity(v_at, v_a, none[0] if none else None, self.text_guidance, self.audio_guidance)
        return v, v_at - v_a


@dataclass(frozen=True)
class _Clip:
    """One call's conditioning, encoded once for all windows: the plan and its mirror image (the same plan without
    mirror sampling), their encoded texts (``encode_prompt``), (T, F) audio features, the face descriptor and the
    (T,) mouth-rest weights (or None)."""

    plan: PhasePlan
    mirror: PhasePlan
    encoded: list
    feats: torch.Tensor
    face: torch.Tensor
    fps: float
    rest: np.ndarray | None


@dataclass
class MotionPipelineOutput(BaseOutput):
    motion: np.ndarray  # (T, MOTION_DIM) in the units of ``actavatar.motion``
    fps: float
    names: tuple[str, ...]
    layers: dict  # text_gate, audio_gate, text_share, audio_share (per layer) + raw norms
    phase_attention: np.ndarray  # (T, P) attention mass each frame puts on each phase block
    base_attention: np.ndarray  # (T,) attention mass on the base block
    timings_s: dict = field(default_factory=dict)
    windows: list = field(default_factory=list)  # (start, end) frame ranges generated
    precision: str = "fp32"  # what the transformer ran in


class ActAvatarMotionPipeline(DiffusionPipeline):
    """The motion tier: ``MotionDiT`` + ``FlowMatchEulerDiscreteScheduler`` + the offline MiniLM text encoder."""

    model_cpu_offload_seq = "transformer"

    def __init__(
        self,
        transformer: MotionDiT,
        scheduler: FlowMatchEulerDiscreteScheduler,
        text_encoder: TextEncoder | None = None,
    ):
        super().__init__()
        self.register_modules(transformer=transformer, scheduler=scheduler)
        self._text_encoder = text_encoder

    @property
    def text_encoder(self) -> TextEncoder:
        return self._text_encoder or default_text_encoder()

    @classmethod
    def from_checkpoint(cls, path: str | Path | None = None, text_encoder: TextEncoder | None = None):
        """Load ``transformer/`` (safetensors + config.json) and ``scheduler/`` from a checkpoint folder."""
        path = Path(path) if path is not None else DEFAULT_CHECKPOINT
        if not (path / "transformer" / "config.json").is_file():
            raise InputError(
                f"No MotionDiT checkpoint at {path}: train one with `python -m actavatar train` or pass --checkpoint."
            )
        transformer = MotionDiT.from_pretrained(path / "transformer", use_safetensors=True).eval()
        scheduler = FlowMatchEulerDiscreteScheduler.from_pretrained(path / "scheduler")
        return cls(transformer, scheduler, text_encoder)

    def save_checkpoint(self, path: str | Path) -> None:
        path = Path(path)
        self.transformer.save_pretrained(path / "transformer", safe_serialization=True)
        self.scheduler.save_pretrained(path / "scheduler")

    # ----------------------------------------------------------------------------------------------- 1. inputs
    def check_inputs(
        self,
        audio: np.ndarray,
        plan: PhasePlan,
        face: np.ndarray | None,
        fps: float,
        steps: int,
        paca_mode: str,
        schedule: str | None,
    ) -> PhasePlan:
        if not isinstance(audio, np.ndarray) or audio.ndim != 1 or len(audio) == 0:
            raise InputError("Audio must be a non-empty mono waveform at 16 kHz (use actavatar.audio.load_audio).")
        defaults.check_options(fps=fps, steps=steps, paca=paca_mode, schedule=schedule)
        if face is not None and np.asarray(face).shape != (FACE_DESCRIPTOR_DIM,):
            raise InputError(f"Face descriptor must have {FACE_DESCRIPTOR_DIM} values.")
        return plan.validate(len(audio) / SAMPLE_RATE)

    # ----------------------------------------------------------------------------------------------- 2. encode
    def encode_prompt(self, plans: Sequence[PhasePlan]) -> list[tuple[torch.Tensor, ...]]:
        """Base and all phase texts of one or more views of a plan (the plan, its mirror image) in one MiniLM batch,
        so all share one padded length. Per view: base (1, L, D), mask, phases (P, L, D), mask."""
        config = self.transformer.config
        texts = [t for plan in plans for t in (plan.base, *(p.text for p in plan.phases))]
        states, mask = self.text_encoder.encode(
            texts,
            pooled=config.text_pooled_token,
            clauses=config.text_clause_tokens,
        )
        per = len(texts) // len(plans)
        return [
            (states[i : i + 1], mask[i : i + 1], states[i + 1 : i + per], mask[i + 1 : i + per])
            for i in range(0, len(texts), per)
        ]

    @staticmethod
    def window_phases(plan: PhasePlan, start_frame: int, num_frames: int, fps: float) -> list[int]:
        """Indices of the phases that overlap a window."""
        t0, t1 = start_frame / fps, (start_frame + num_frames) / fps
        return [k for k, p in enumerate(plan.phases) if p.end > t0 and p.start < t1]

    def window_prompt(self, plan: PhasePlan, encoded, start_frame: int, num_frames: int, fps: float):
        """Phases overlapping a window, with spans shifted to the window's time origin (what training saw); one batch
        item per encoded view (``encode_prompt``), all with the same phases and spans."""
        t0 = start_frame / fps
        keep = self.window_phases(plan, start_frame, num_frames, fps)
        spans = [(plan.phases[k].start - t0, plan.phases[k].end - t0) for k in keep]
        prompt = pack_phase_prompt(
            torch.cat([view[0] for view in encoded]),
            torch.cat([view[1] for view in encoded]),
            [(view[2][keep], view[3][keep]) for view in encoded],
            [spans] * len(encoded),
        )
        return prompt, keep

    # ----------------------------------------------------------------------------------------------- 3. latents
    def prepare_latents(self, num_frames: int, generator: torch.Generator) -> torch.Tensor:
        return torch.randn(1, num_frames, MOTION_DIM, generator=generator)

    # ------------------------------------------------------------------------------------------------ 4. call
    @torch.inference_mode()
    def __call__(
        self,
        audio: np.ndarray,
        plan: PhasePlan | None = None,
        face: np.ndarray | None = None,
        *,
        fps: float = defaults.FPS,
        num_inference_steps: int = defaults.STEPS,
        text_guidance: float = defaults.TEXT_GUIDANCE,
        audio_guidance: float = defaults.AUDIO_GUIDANCE,
        guidance_min_sigma: float = defaults.GUIDANCE_MIN_SIGMA,  # steps below this noise level: no guidance
        paca_mode: str | None = None,  # None: the mode the checkpoint was trained with
        schedule: str | None = None,
        seed: int = 0,
        window_frames: int = 200,  # = the training max_frames: time anchors stay in the trained range
        overlap_frames: int = 25,
        first_window_frames: int | None = defaults.FIRST_WINDOW_FRAMES,  # None: = window_frames
        callback_on_step_end: Callable[[ActAvatarMotionPipeline, int, int, dict], dict] | None = None,
        progress: Callable[[str, int, int], None] | None = None,
        precision: str = "auto",  # "auto": bf16 autocast where the CPU has native bf16, else fp32; "fp32"; "bf16"
        on_frames: Callable[[int, np.ndarray], None] | None = None,
        mirror_sampling: bool = defaults.MIRROR_SAMPLING,
        mouth_rest: np.ndarray | None = None,
    ) -> MotionPipelineOutput:
        """Generate motion for ``audio``. ``on_frames(start, rows)`` (optional) receives the final motion rows as soon
        as each window is done (a window's last ``overlap_frames`` wait for the next window's cross-fade), in order,
        so rendering can start before the whole clip is generated; the rows equal the returned ``motion`` slice.

        ``mirror_sampling``: in windows whose texts name a side, each noisy step (sigma >= ``guidance_min_sigma``)
        also predicts the velocity for the mirror image of the sample under the mirrored plan ("left" and "right"
        swapped in its texts), mirrors it back and combines it with the plan's own (``mirror_view_weights``). The
        left-right symmetry of the world, imposed at sampling time (flip test-time augmentation): a side word the
        model has only seen with one verb ("cocks her head to the right") still sets the side when the user writes
        the other ("cocks her head to the left"). It doubles the transformer's batch on those steps only.

        ``mouth_rest`` (T,) in [0, 1]: how far each frame's ``jaw_open`` is pulled to closed, the pauses of the speech
        (``mouth_rest_weights``): the audio owns the mouth, whatever a phase's text asks of the face."""
        timings, t_start = {}, time.perf_counter()
        paca_mode = paca_mode or self.transformer.config.paca_mode
        plan = self.check_inputs(audio, plan or PhasePlan(), face, fps, num_inference_steps, paca_mode, schedule)
        num_frames = num_video_frames(len(audio), fps)
        rest = self._check_mouth_rest(mouth_rest, num_frames)
        sampling = _Sampling(
            self._model_for_schedule(schedule), paca_mode, self._use_bf16(precision),
            guidance_branches(text_guidance, audio_guidance), num_inference_steps,
            text_guidance, audio_guidance, guidance_min_sigma,
        )  # fmt: skip
        if progress:
            progress("encode", 0, 1)

        # 1. Encode text (one batch: the plan and, with mirror sampling, its mirror image) and audio (per-frame
        # features), once for the whole clip.
        mirror = mirrored_plan(plan) if mirror_sampling else plan
        clip = _Clip(
            plan=plan,
            mirror=mirror,
            encoded=self.encode_prompt([plan, mirror] if mirror != plan else [plan]),
            feats=frame_features(audio, fps, num_frames),  # (T, F)
            face=torch.as_tensor(face if face is not None else np.zeros(FACE_DESCRIPTOR_DIM), dtype=torch.float32),
            fps=fps,
            rest=rest,
        )
        timings["encode"] = time.perf_counter() - t_start

        # 2. Plan the windows; every window but the first starts with ``overlap_frames`` known frames.
        windows = plan_windows(num_frames, window_frames, overlap_frames, first_window_frames)
        t_diff = time.perf_counter()
        motion, attention, meter = self._sample_windows(
            sampling, clip, windows, overlap_frames, seed, on_frames, callback_on_step_end, progress
        )
        timings["diffusion"] = time.perf_counter() - t_diff
        out_motion = self._output_motion(motion, rest)
        layers = {**sampling.model.modality_schedule.to_dict(), **meter.shares()}
        return MotionPipelineOutput(
            motion=out_motion,
            fps=float(fps),
            names=MOTION_NAMES,
            layers=layers,
            phase_attention=attention[:, 1:].numpy(),
            base_attention=attention[:, 0].numpy(),
            timings_s=timings,
            windows=windows,
            precision="bf16" if sampling.bf16 else "fp32",
        )

    def _sample_windows(
        self,
        sampling: _Sampling,
        clip: _Clip,
        windows: list[tuple[int, int]],
        overlap_frames: int,
        seed: int,
        on_frames: Callable[[int, np.ndarray], None] | None,
        callback_on_step_end: Callable | None,
        progress: Callable[[str, int, int], None] | None,
    ) -> tuple[torch.Tensor, torch.Tensor, ShareMeter]:
        """Sample the clip window by window: the normalised (T, D) motion, the (T, 1 + P) attention per block (base
        first) and the modality shares measured on the way."""
        num_frames = windows[-1][1]
        generator = torch.Generator().manual_seed(int(seed))
        meter = ShareMeter(sampling.model.config.num_layers)
        motion = torch.zeros(num_frames, MOTION_DIM)  # normalised
        attention = torch.zeros(num_frames, len(clip.plan.phases) + 1)
        total_steps = sampling.steps * len(windows)
        emitted = 0  # frames handed to on_frames so far

        with self.progress_bar(total=total_steps) as bar:
            on_step = step_hook(self, bar, total_steps, callback_on_step_end, progress)

            for w, (w0, w1) in enumerate(windows):
                n = w1 - w0
                known = 0 if w == 0 else min(overlap_frames, n)
                cond, keep, views = self._window_conditioning(clip, motion[w0 : w0 + known], w0, w1)
                enc = self._encode_window(sampling, cond, views)

                # 3. Fresh noise for this window, then denoise it.
                latents = self.prepare_latents(n, generator)
                latents, win_attn = self._denoise_window(
                    sampling, enc, views, latents, cond.prompt.num_phases, meter, w * sampling.steps, on_step
                )

                # 4. Stitch: cross-fade the re-generated prefix frames into the previous window's output.
                stitch_window(motion, attention, latents[0], win_attn, w0, w1, known, [0] + [k + 1 for k in keep])
                if on_frames is not None:
                    final = num_frames if w == len(windows) - 1 else windows[w + 1][0]
                    if final > emitted:
                        on_frames(emitted, self._output_motion(motion[emitted:final], clip.rest, emitted))
                        emitted = final
        return motion, attention, meter

    @staticmethod
    def _check_mouth_rest(mouth_rest: np.ndarray | None, num_frames: int) -> np.ndarray | None:
        """Mouth-rest weights clipped to [0, 1], one per frame (a wrong length is a caller's bug, not user input)."""
        if mouth_rest is None:
            return None
        rest = np.clip(np.asarray(mouth_rest, dtype=np.float32), 0.0, 1.0)
        if rest.shape != (num_frames,):
            raise ValueError(f"mouth_rest has shape {rest.shape}: one weight per frame, ({num_frames},), expected")
        return rest

    @staticmethod
    def _use_bf16(precision: str) -> bool:
        """Whether the transformer runs under bf16 autocast ("auto": where the CPU multiplies bf16 natively)."""
        if precision not in ("auto", "fp32", "bf16"):
            raise InputError(f"precision {precision!r} is unknown: use auto, fp32 or bf16.")
        return precision == "bf16" or (precision == "auto" and native_bf16())

    def _window_conditioning(
        self, clip: _Clip, known_motion: torch.Tensor, w0: int, w1: int
    ) -> tuple[MotionConditioning, list[int], int]:
        """One window's conditioning, batched over its views (the plan, its mirror image), the indices of the phases
        it sees and the number of views. ``known_motion``: the clip's normalised motion over the window's first
        frames, already generated by the previous window (the motion prefix).

        The mirror view only where the window's texts name a side: a side-free text reads the same in a mirror,
        and its mirror view would only symmetrise what training's mirrored clips already taught (measured: no
        change in phase accuracy on side-free clips; docs/EXPERIMENTS.md, Mirror sampling)."""
        plan, mirror, fps = clip.plan, clip.mirror, clip.fps
        n, known = w1 - w0, len(known_motion)
        in_window = self.window_phases(plan, w0, n, fps)
        sided = mirror.base != plan.base or any(mirror.phases[k] != plan.phases[k] for k in in_window)
        views = len(clip.encoded) if sided else 1
        prompt, keep = self.window_prompt(plan, clip.encoded[:views], w0, n, fps)
        prefix = torch.zeros(1, n, MOTION_DIM)
        prefix_mask = torch.zeros(views, n)
        if known:
            prefix[0, :known] = known_motion
            prefix_mask[:, :known] = 1.0
        cond = MotionConditioning(
            audio=clip.feats[None, w0:w1].repeat(views, 1, 1),
            prompt=prompt,
            frame_times=torch.from_numpy(frame_times(n, fps)).float()[None].repeat(views, 1),
            face=clip.face[None].repeat(views, 1),
            prefix=torch.cat([prefix, mirror_motion(prefix)][:views]),
            prefix_mask=prefix_mask,
        )
        return cond, keep, views

    @staticmethod
    def _encode_window(sampling: _Sampling, cond: MotionConditioning, views: int):
        """A window's conditions for every CFG branch, with the audio keys and values cached once for all steps.
        Batch order: branch-major, views inside each branch ([text+audio x views, audio x views, ...])."""
        drop_text = torch.tensor([False, True, True][: sampling.branches]).repeat_interleave(views)
        drop_audio = torch.tensor([False, False, True][: sampling.branches]).repeat_interleave(views)
        model = sampling.model
        enc = model.encode_conditions(cond.repeat(sampling.branches), drop_text, drop_audio, sampling.paca_mode)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=sampling.bf16):
            return model.cache_audio_kv(enc)

    def _denoise_window(
        self,
        sampling: _Sampling,
        enc,
        views: int,
        latents: torch.Tensor,
        num_phases: int,
        meter: ShareMeter,
        step_offset: int,
        on_step: Callable[[int, torch.Tensor, torch.Tensor], torch.Tensor],
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Denoise one window's latents; returns them and the window's (n, 1 + phases) mean attention per block.

        Guidance shapes the motion while the noise is high; the low-noise steps only refine it, so they run the
        fully conditioned branch alone (guidance interval, cf. Kynkaenniemi et al. 2024): at 10 steps and
        sigma >= 0.3, 24 model evaluations per window instead of 30. Mirror sampling runs on the same steps: the
        noisy steps decide the action, the refinement steps run the plan's own view alone. A per-call scheduler copy:
        the pipeline is shared across requests."""
        scheduler = copy.deepcopy(self.scheduler)
        scheduler.set_timesteps(sampling.steps)
        win_attn = torch.zeros(latents.shape[1], num_phases + 1)
        enc_single, enc_views = enc.first(1), enc.first(views)
        view_weight = torch.full((2, 1, 1), 0.5)
        for i, t in enumerate(scheduler.timesteps):
            shaping = float(scheduler.sigmas[i]) >= sampling.guidance_min_sigma
            guided = sampling.branches > 1 and shaping
            step_views = views if shaping else 1
            step_branches = sampling.branches if guided else 1
            step_enc = enc if guided else enc_views if step_views > 1 else enc_single
            x_views = torch.cat([latents, mirror_motion(latents)][:step_views])
            x_in = x_views.repeat(step_branches, 1, 1)
            batch = step_branches * step_views
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=sampling.bf16):
                out = sampling.model(
                    x_in, t.expand(batch).float(), step_enc, paca_mode=sampling.paca_mode, record=True
                )
            v, delta = sampling.guide(out.sample.float(), guided)
            if step_views == 2:  # the mirror view's velocity, mirrored back, weighed against the plan's
                v = torch.cat([v[:1], mirror_motion(v[1:])])  # by their text effects; without any
                if delta is not None:  # guidance there is no text effect to compare: equal halves
                    view_weight = mirror_view_weights(delta)
                v = (view_weight * v).sum(0, keepdim=True)
            latents = scheduler.step(v, t, latents).prev_sample
            meter.add(out.text_norm[:, 0].float(), out.audio_norm[:, 0].float())
            win_attn += out.phase_attention[0].float() / sampling.steps
            latents = on_step(step_offset + i, t, latents)
        return latents, win_attn

    @staticmethod
    def _output_motion(motion: torch.Tensor, rest: np.ndarray | None = None, start: int = 0) -> np.ndarray:
        """Normalised (T, D) rows from frame ``start`` -> motion parameters in their units, clipped to the valid
        ranges, with the jaw closed by ``rest`` (the clip's (T_total,) mouth-rest weights)."""
        out = np.clip(denormalize_motion(motion).numpy().astype(np.float32), _LOW, _HIGH)
        if rest is not None:
            out[:, _JAW] *= 1.0 - rest[start : start + len(out)]
        return out

    def _model_for_schedule(self, schedule: str | None) -> MotionDiT:
        """The trained gates, or (ablation) a copy whose gates are reset to a different named schedule."""
        model = self.transformer
        if schedule is None or schedule == model.config.schedule:
            return model
        clone = copy.deepcopy(model)
        clone.modality_schedule.reset(schedule)
        return clone
