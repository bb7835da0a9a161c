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
from ..models.alignment import ShareMeter, check_schedule
from ..models.motion_dit import MotionConditioning, MotionDiT
from ..models.paca import PACA_MODES, frame_times, pack_phase_prompt
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
        if not (1 <= fps <= 60):
            raise InputError(f"fps {fps} is out of range: use 1 to 60 frames per second (25 is standard).")
        if not (1 <= steps <= 200):
            raise InputError(
                f"steps {steps} is out of range: use 1 to 200 denoising steps ({defaults.STEPS} is the default)."
            )
        if paca_mode not in PACA_MODES:
            raise InputError(f"PACA mode {paca_mode!r} is unknown: use one of {', '.join(PACA_MODES)}.")
        if schedule is not None:
            check_schedule(schedule)  # InputError naming the allowed forms
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
        fps: float = 25,
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
        model = self._model_for_schedule(schedule)
        num_frames = num_video_frames(len(audio), fps)
        rest = None
        if mouth_rest is not None:
            rest = np.clip(np.asarray(mouth_rest, dtype=np.float32), 0.0, 1.0)
            if rest.shape != (num_frames,):
                raise ValueError(f"mouth_rest has shape {rest.shape}: one weight per frame, ({num_frames},), expected")
        if precision not in ("auto", "fp32", "bf16"):
            raise InputError(f"precision {precision!r} is unknown: use auto, fp32 or bf16.")
        bf16 = precision == "bf16" or (precision == "auto" and native_bf16())
        if progress:
            progress("encode", 0, 1)

        # 1. Encode text (one batch: the plan and, with mirror sampling, its mirror image) and audio (per-frame
        # features), once for the whole clip.
        mirror = mirrored_plan(plan) if mirror_sampling else plan
        encoded = self.encode_prompt([plan, mirror] if mirror != plan else [plan])
        feats = frame_features(audio, fps, num_frames)  # (T, F)
        face_t = torch.as_tensor(face if face is not None else np.zeros(FACE_DESCRIPTOR_DIM), dtype=torch.float32)
        timings["encode"] = time.perf_counter() - t_start

        # 2. Plan the windows: [0, W), [W - O, 2W - O), ... ; every window but the first starts with O known frames.
        windows, start = [], 0
        first = min(window_frames, max(overlap_frames + 1, first_window_frames or window_frames))
        while True:
            end = min(start + (window_frames if windows else first), num_frames)
            windows.append((start, end))
            if end >= num_frames:
                break
            start = end - overlap_frames
        generator = torch.Generator().manual_seed(int(seed))
        meter = ShareMeter(model.config.num_layers)
        motion = torch.zeros(num_frames, MOTION_DIM)  # normalised
        attention = torch.zeros(num_frames, len(plan.phases) + 1)
        # CFG branches (InstructPix2Pix-style two-condition guidance): [text+audio, audio only, neither]
        #   v = v_none + g_a (v_a - v_none) + g_t (v_at - v_a);  g_a = 1 cancels v_none, g_t = g_a = 1 leaves v_at.
        if text_guidance == 1.0 and audio_guidance == 1.0:
            branches = 1
        elif audio_guidance == 1.0:
            branches = 2
        else:
            branches = 3
        total_steps = num_inference_steps * len(windows)
        emitted = 0  # frames handed to on_frames so far
        t_diff = time.perf_counter()

        with self.progress_bar(total=total_steps) as bar:
            for w, (w0, w1) in enumerate(windows):
                n = w1 - w0
                known = 0 if w == 0 else min(overlap_frames, n)
                # The mirror view only where the window's texts name a side: a side-free text reads the same in a
                # mirror, and its mirror view would only symmetrise what training's mirrored clips already taught
                # (measured: no change in phase accuracy on side-free clips; README, Evaluation).
                in_window = self.window_phases(plan, w0, n, fps)
                sided = mirror.base != plan.base or any(mirror.phases[k] != plan.phases[k] for k in in_window)
                views = len(encoded) if sided else 1
                prompt, keep = self.window_prompt(plan, encoded[:views], w0, n, fps)
                prefix = torch.zeros(1, n, MOTION_DIM)
                prefix_mask = torch.zeros(views, n)
                if known:
                    prefix[0, :known] = motion[w0 : w0 + known]
                    prefix_mask[:, :known] = 1.0
                cond = MotionConditioning(  # batch: the views (the plan, its mirror image)
                    audio=feats[None, w0:w1].repeat(views, 1, 1),
                    prompt=prompt,
                    frame_times=torch.from_numpy(frame_times(n, fps)).float()[None].repeat(views, 1),
                    face=face_t[None].repeat(views, 1),
                    prefix=torch.cat([prefix, mirror_motion(prefix)][:views]),
                    prefix_mask=prefix_mask,
                )
                # Batch order: branch-major, views inside each branch ([text+audio x views, audio x views, ...]).
                drop_text = torch.tensor([False, True, True][:branches]).repeat_interleave(views)
                drop_audio = torch.tensor([False, False, True][:branches]).repeat_interleave(views)
                enc = model.encode_conditions(cond.repeat(branches), drop_text, drop_audio, paca_mode)
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                    enc = model.cache_audio_kv(enc)

                # 3. Fresh noise for this window; a per-call scheduler copy (the pipeline is shared across requests).
                latents = self.prepare_latents(n, generator)
                scheduler = copy.deepcopy(self.scheduler)
                scheduler.set_timesteps(num_inference_steps)
                win_attn = torch.zeros(n, prompt.num_phases + 1)

                # 4. Denoising loop. Guidance shapes the motion while the noise is high; the low-noise steps only
                # refine it, so they run the fully conditioned branch alone (guidance interval, cf. Kynkaenniemi et
                # al. 2024): at 10 steps and sigma >= 0.3, 24 model evaluations per window instead of 30.
                # Mirror sampling runs on the same steps: the noisy steps decide the action, the refinement steps
                # run the plan's own view alone.
                enc_single, enc_views = enc.first(1), enc.first(views)
                view_weight = torch.full((2, 1, 1), 0.5)
                for i, t in enumerate(scheduler.timesteps):
                    shaping = float(scheduler.sigmas[i]) >= guidance_min_sigma
                    guided = branches > 1 and shaping
                    step_views = views if shaping else 1
                    step_branches = branches if guided else 1
                    step_enc = enc if guided else enc_views if step_views > 1 else enc_single
                    x_views = torch.cat([latents, mirror_motion(latents)][:step_views])
                    x_in = x_views.repeat(step_branches, 1, 1)
                    batch = step_branches * step_views
                    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                        out = model(x_in, t.expand(batch).float(), step_enc, paca_mode=paca_mode, record=True)
                    v = out.sample.float()  # unguided steps: v_at alone, per view
                    delta = None
                    if guided and branches == 3:
                        v_at, v_a, v_none = v.chunk(3)
                        delta = v_at - v_a
                        v = v_none + audio_guidance * (v_a - v_none) + text_guidance * delta
                    elif guided:
                        v_at, v_a = v.chunk(2)
                        delta = v_at - v_a
                        v = v_a + text_guidance * delta
                    if step_views == 2:  # the mirror view's velocity, mirrored back, weighed against the plan's
                        v = torch.cat([v[:1], mirror_motion(v[1:])])  # by their text effects; without any
                        if delta is not None:  # guidance there is no text effect to compare: equal halves
                            view_weight = mirror_view_weights(delta)
                        v = (view_weight * v).sum(0, keepdim=True)
                    latents = scheduler.step(v, t, latents).prev_sample
                    meter.add(out.text_norm[:, 0].float(), out.audio_norm[:, 0].float())
                    win_attn += out.phase_attention[0].float() / num_inference_steps
                    if callback_on_step_end is not None:
                        result = callback_on_step_end(self, w * num_inference_steps + i, int(t), {"latents": latents})
                        latents = result.get("latents", latents) if result else latents
                    bar.update()
                    if progress:
                        progress("denoise", w * num_inference_steps + i + 1, total_steps)

                # 5. Stitch: cross-fade the re-generated prefix frames into the previous window's output.
                new = latents[0]
                if known:
                    fade = torch.linspace(0, 1, known + 2)[1:-1, None]
                    motion[w0 : w0 + known] = (1 - fade) * motion[w0 : w0 + known] + fade * new[:known]
                    motion[w0 + known : w1] = new[known:]
                else:
                    motion[w0:w1] = new
                if on_frames is not None:
                    final = num_frames if w == len(windows) - 1 else windows[w + 1][0]
                    if final > emitted:
                        on_frames(emitted, self._output_motion(motion[emitted:final], rest, emitted))
                        emitted = final
                cols = [0] + [k + 1 for k in keep]
                attention[w0 + known : w1][:, cols] = win_attn[known:]
                if known:
                    attention[w0 : w0 + known][:, cols] = 0.5 * (
                        attention[w0 : w0 + known][:, cols] + win_attn[:known]
                    )

        timings["diffusion"] = time.perf_counter() - t_diff
        out_motion = self._output_motion(motion, rest)
        layers = {**model.modality_schedule.to_dict(), **meter.shares()}
        return MotionPipelineOutput(
            motion=out_motion,
            fps=float(fps),
            names=MOTION_NAMES,
            layers=layers,
            phase_attention=attention[:, 1:].numpy(),
            base_attention=attention[:, 0].numpy(),
            timings_s=timings,
            windows=windows,
            precision="bf16" if bf16 else "fp32",
        )

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
