"""The Python API: one call from a portrait, a speech clip and a phase plan to a video and its report.

    from actavatar import generate
    result = generate("portrait.png", "speech.wav", "plan.phases.json", out="clip.mp4", report="clip.json")

Models load lazily on first call and are reused (thread-safe); every request gets its own scheduler and state.
"""

from __future__ import annotations

import contextvars
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import defaults
from .audio import SAMPLE_RATE, load_audio, num_video_frames
from .errors import Cancelled, InputError
from .phases import PhasePlan, as_plan
from .reader import pick_sides, read_phases
from .results import GenerationResult, build_report, write_json_atomic
from .tempfiles import sweep_stale_temps
from .vad import find_speech, gap_notes, mouth_rest_weights

ProgressFn = Callable[[str, int, int], None]
__all__ = ["Cancelled", "GenerationResult", "generate", "get_pipeline", "progress_label"]


STAGE_NAMES = {
    "load": "Loading the model (first run only)",
    "encode": "Encoding audio, portrait and phases",
    "denoise": "Denoising",
    "render": "Rendering frame",
    "mux": "Muxing video and audio",
}


def progress_label(stage: str, i: int, n: int, steps: int | None = None) -> str:
    """What a person reads for ``progress(stage, i, n)``: denoising counts ``i`` of ``n`` = windows x ``steps`` steps,
    so with ``steps`` known it says "Denoising: window 1/2, step 3/6" (one window: "Denoising: step 3/6")."""
    name = STAGE_NAMES.get(stage, stage)
    if stage == "denoise" and n:
        if steps and n % steps == 0 and n > steps:
            window, step = divmod(max(i, 1) - 1, steps)
            return f"{name}: window {window + 1}/{n // steps}, step {step + 1}/{steps}"
        return f"{name}: step {i}/{n}"
    if stage == "render" and n:
        return f"{name} {i}/{n}"
    return name


_PIPELINES: dict[str, object] = {}
_PIPELINE_LOCK = threading.Lock()


def _checkpoint_key(checkpoint: str | Path | None) -> str:
    from .pipelines.motion import DEFAULT_CHECKPOINT

    return str(Path(checkpoint or os.environ.get("ACTAVATAR_CHECKPOINT") or DEFAULT_CHECKPOINT).resolve())


def pipeline_loaded(checkpoint: str | Path | None = None) -> bool:
    """Whether ``get_pipeline(checkpoint)`` would return at once (the model is already in memory)."""
    return _checkpoint_key(checkpoint) in _PIPELINES


def get_pipeline(checkpoint: str | Path | None = None):
    """The process-wide motion pipeline for ``checkpoint`` (default: ``ACTAVATAR_CHECKPOINT`` or the shipped one)."""
    from .pipelines.motion import ActAvatarMotionPipeline

    key = _checkpoint_key(checkpoint)
    path = Path(key)
    with _PIPELINE_LOCK:
        if key not in _PIPELINES:
            pipe = ActAvatarMotionPipeline.from_checkpoint(path)
            pipe.set_progress_bar_config(disable=True)
            _PIPELINES[key] = pipe
        return _PIPELINES[key]


def generate(
    portrait,
    audio: str | Path,
    phases: PhasePlan | Mapping | str | Path | None = None,
    *,
    prompt: str | None = None,
    out: str | Path | None = None,
    report: str | Path | None = None,
    steps: int | None = None,
    seed: int = 0,
    fps: float = defaults.FPS,
    size: int = defaults.SIZE,
    text_guidance: float | None = None,
    audio_guidance: float | None = None,
    guidance_min_sigma: float = defaults.GUIDANCE_MIN_SIGMA,
    mirror_sampling: bool = defaults.MIRROR_SAMPLING,
    paca: str | None = None,
    schedule: str | None = None,
    clip_phases: bool = False,
    checkpoint: str | Path | None = None,
    progress: ProgressFn | None = None,
    tier: str = "motion",
    weights: str | Path | None = None,
    video_options: Mapping | None = None,
) -> GenerationResult:
    """Generate a talking video. ``out=None`` skips rendering (motion and report only).

    ``tier="video"`` runs the Wan video tier instead (CUDA and a ``weights`` folder needed; see docs/VIDEO_TIER.md).
    ``steps``, ``text_guidance`` and ``audio_guidance`` left at None take the tier's defaults (``defaults.SAMPLING``).

    ``clip_phases`` trims phases that run past the audio instead of rejecting them (noted in the report).
    ``mirror_sampling`` (motion tier): see ``ActAvatarMotionPipeline.__call__``; on by default.
    Raises ``InputError`` with a user-facing message for any bad input; leaves no partial file on failure.

    ``progress(stage, i, n)`` (motion tier) is called at every denoising step and rendered frame; to stop the run,
    raise ``Cancelled`` (or any exception) from it. Stale temps of killed runs are swept from the output folders."""
    t0 = time.perf_counter()
    steps, text_guidance, audio_guidance = _checked_sampling(
        tier, fps, size, steps, text_guidance, audio_guidance, guidance_min_sigma
    )
    for target in {Path(p).parent for p in (out, report) if p is not None}:
        sweep_stale_temps(target)
    if tier == "video":
        return _generate_video_tier(
            portrait, audio, phases, prompt, out, report, weights, video_options,
            steps=steps, seed=seed, fps=fps, size=size, text_guidance=text_guidance, audio_guidance=audio_guidance,
            paca=paca, schedule=schedule, clip_phases=clip_phases,
        )  # fmt: skip
    if out is not None and Path(out).suffix.lower() != ".mp4":
        raise InputError(f"Output {Path(out).name} must end in .mp4.")
    inputs = _read_inputs(audio, phases, prompt, clip_phases, seed)
    if progress is not None and not pipeline_loaded(checkpoint):
        progress("load", 0, 1)  # the first run loads the model and the face tracker: seconds with no other progress
    renderer, descriptor = _prepare_portrait(portrait, out, size, inputs.notes)

    pipe = get_pipeline(checkpoint)
    options = dict(
        fps=fps,
        num_inference_steps=steps,
        text_guidance=text_guidance,
        audio_guidance=audio_guidance,
        guidance_min_sigma=guidance_min_sigma,
        mirror_sampling=bool(mirror_sampling),
        paca_mode=paca,
        schedule=schedule,
        seed=seed,
        progress=progress,
        mouth_rest=mouth_rest_weights(inputs.performed, inputs.speech, num_video_frames(len(inputs.wave), fps), fps),
    )
    video_path = None
    if out is None:
        result = pipe(inputs.wave, inputs.performed, descriptor, **options)
        timings = dict(result.timings_s)
    else:
        result, timings, video_path = _generate_streaming(
            pipe, inputs.wave, inputs.performed, descriptor, options, renderer, out, audio, fps, progress
        )
    timings["voice_activity"] = inputs.t_speech  # Silero VAD on the whole clip, before the pipeline's own "encode"
    timings["total"] = time.perf_counter() - t0
    data = _report_data(result, inputs, seed, timings, _settings(pipe, options, size, renderer))
    if report is not None:
        write_json_atomic(report, data)
    return GenerationResult(Path(video_path) if video_path else None, data, result.motion)


def _settings(pipe, options: dict, size: int, renderer) -> dict:
    """The report's settings: the sampling options as run (the checkpoint's own PACA mode and schedule where none
    was asked for), the portrait size and the rendered frame size."""
    config = pipe.transformer.config
    return {
        "steps": options["num_inference_steps"],
        **{k: options[k] for k in ("text_guidance", "audio_guidance", "guidance_min_sigma", "mirror_sampling")},
        "paca": options["paca_mode"] or config.paca_mode,
        "schedule": options["schedule"] or config.schedule,
        "size": size,
        "frame_size": list(renderer.frame_size) if renderer is not None else None,
    }


def _report_data(result, inputs: _Inputs, seed: int, timings: dict, settings: dict) -> dict:
    """The run's report (``results.build_report``) with what the reader and the voice detector found."""
    data = build_report(result, inputs.plan, seed=seed, timings=timings, settings=settings, notes=inputs.notes)
    data["understood_as"] = [r.to_dict() for r in inputs.readings]  # per phase: what the phase reader makes of it
    data["speech"] = [list(r) for r in inputs.speech]  # (start, end) s of each stretch of speech the detector found
    return data


def _checked_sampling(tier, fps, size, steps, text_guidance, audio_guidance, guidance_min_sigma):
    """(steps, text_guidance, audio_guidance) with the tier's defaults for those left at None, all options checked
    before any work (``InputError`` for a bad one)."""
    if tier not in defaults.TIERS:
        raise InputError(f"Unknown tier {tier!r}: use 'motion' (CPU, default) or 'video' (CUDA + Wan weights).")
    tier_defaults = defaults.SAMPLING[tier]
    steps = tier_defaults.steps if steps is None else steps
    text_guidance = tier_defaults.text_guidance if text_guidance is None else text_guidance
    audio_guidance = tier_defaults.audio_guidance if audio_guidance is None else audio_guidance
    defaults.check_options(
        tier=tier,
        fps=fps,
        size=size,
        steps=steps,
        text_guidance=text_guidance,
        audio_guidance=audio_guidance,
        guidance_min_sigma=guidance_min_sigma,
    )
    return steps, text_guidance, audio_guidance


def _generate_video_tier(portrait, audio, phases, prompt, out, report, weights, video_options, **sampling):
    """The Wan video tier, after the checks that need neither the Wan stack nor a GPU to fail fast."""
    if out is None:
        raise InputError("The video tier needs an output path (out=...mp4).")
    import torch

    if not torch.cuda.is_available():  # before importing the Wan stack (slow, and it warns on stderr)
        raise InputError("The video tier needs a CUDA GPU and none is available: use --tier motion on this machine.")
    from .pipelines.video import generate_video

    return generate_video(
        portrait,
        audio,
        as_plan(phases, prompt),
        out=out,
        report=report,
        weights=weights,
        **sampling,
        **dict(video_options or {}),  # window_frames, overlap_frames, negative_prompt
    )


@dataclass
class _Inputs:
    """The checked plan and audio of one run, with what the phase reader and the voice detector found in them."""

    plan: PhasePlan  # as the user wrote it (the report's phases)
    performed: PhasePlan  # what the model is given: ``plan`` with the sides the seed picked (``pick_sides``)
    wave: np.ndarray
    notes: list[str]  # for the report: clipped phases, reader warnings, long pauses, portrait notes
    readings: list
    speech: list  # (start, end) s of each stretch of speech
    t_speech: float  # seconds the voice detector took


def _read_inputs(audio, phases, prompt, clip_phases: bool, seed: int) -> _Inputs:
    """Load the audio and check the plan against it (``clip_phases``: trim instead of rejecting), read the phases'
    texts (a side for each turn, tilt or glance that names none, from ``seed``) and find the speech, so every input
    error is raised before the model or the portrait is loaded."""
    plan = as_plan(phases, prompt)
    wave = load_audio(audio)
    duration = len(wave) / SAMPLE_RATE
    notes: list[str] = []
    if clip_phases:
        plan, notes = plan.clipped(duration)
    plan = plan.validate(duration)
    performed, readings = pick_sides(plan, read_phases([p.text for p in plan.phases]), seed)
    performed = performed.validate(duration)
    notes.extend(w for r in readings if (w := r.warning()))
    t_speech = time.perf_counter()
    speech = find_speech(wave, Path(audio).name if isinstance(audio, str | Path) else "the audio")
    t_speech = time.perf_counter() - t_speech
    notes.extend(gap_notes(speech, duration))
    return _Inputs(plan, performed, wave, notes, readings, speech, t_speech)


def _prepare_portrait(portrait, out, size: int, notes: list[str]):
    """(renderer or None, face descriptor or None): the portrait's face conditions the motion even without a video;
    the renderer is built only when there is one to render. The face's notes are appended to ``notes``."""
    if out is None and portrait is None:
        return None, None
    from .render import PortraitRenderer, analyze_face, load_portrait

    image = load_portrait(portrait)
    face = analyze_face(image)
    notes.extend(face.notes)
    renderer = PortraitRenderer(image, face, size=size) if out is not None else None
    return renderer, face.descriptor


def _generate_streaming(pipe, wave, plan, descriptor, options, renderer, out, audio, fps, progress):
    """Diffusion in a worker thread, rendering and encoding here: each window's final frames are rendered into
    ffmpeg while the next window is denoised. Returns (pipeline output, timings, video path).

    Once frames stream, the worker continues on one intra-op thread (``torch.set_num_threads`` is per thread): two
    OpenMP threads beside the renderer and ffmpeg would wait at every barrier for a core. An error or a cancel on
    either side stops both, and no partial mp4 is left (``write_video``)."""
    import queue

    import torch

    from .pipelines.motion import num_video_frames
    from .render import write_video

    num_frames = num_video_frames(len(wave), fps)
    chunks: queue.Queue = queue.Queue()
    stop = threading.Event()
    outcome: dict = {}
    relay = _ProgressRelay(progress, stop)

    def on_frames(start: int, rows: np.ndarray) -> None:
        if stop.is_set():
            raise Cancelled("the video writer stopped")
        torch.set_num_threads(1)  # this thread only: the renderer and ffmpeg now share the cores
        chunks.put(rows)

    def work() -> None:
        try:
            outcome["result"] = pipe(
                wave, plan, descriptor, **{**options, "progress": relay.step}, on_frames=on_frames
            )
        except BaseException as err:  # noqa: BLE001 - handed to the main thread and raised there
            outcome["error"] = err
        finally:
            chunks.put(None)

    frames = _StreamedFrames(renderer, chunks, outcome, relay, num_frames)
    # The worker runs in a copy of this thread's context: callers' progress trackers (Gradio's) live in contextvars.
    worker = threading.Thread(target=contextvars.copy_context().run, args=(work,), name="actavatar-diffusion")
    t_out = time.perf_counter()
    worker.start()
    try:
        # ffmpeg starts now and opens the audio while the first window denoises.
        video_path = write_video(
            iter(frames), out, fps, audio_path=audio, num_frames=num_frames, frame_size=renderer.frame_size
        )
    finally:
        stop.set()
        worker.join()
    if "error" in outcome:  # e.g. after the last frame was handed over
        raise outcome["error"]
    result = outcome["result"]
    timings = dict(result.timings_s)
    # Frames stream into ffmpeg while the later windows denoise, so the stages overlap: "render" is the renderer's
    # own time, "mux" the wait for ffmpeg after the last frame (its flush, the audio, faststart), "video" the wall
    # time from the start of the diffusion to the finished file.
    timings["render"] = frames.render_time
    timings["mux"] = time.perf_counter() - frames.t_last
    timings["video"] = time.perf_counter() - t_out
    return result, timings, video_path


class _ProgressRelay:
    """One progress stream for the caller, never called from both threads at once: denoising steps until the first
    frame renders, then rendered frames (which wait for the later windows anyway). A cancel raised from the
    caller's callback in either thread stops both."""

    def __init__(self, progress: ProgressFn | None, stop: threading.Event):
        self._progress, self._stop = progress, stop
        self._lock = threading.Lock()
        self._rendering = False

    def step(self, stage: str, i: int, n: int) -> None:
        """The diffusion worker's progress (dropped once rendering has started)."""
        if self._stop.is_set():
            raise Cancelled("the video writer stopped")
        if self._progress is not None:
            with self._lock:
                if not self._rendering:
                    self._progress(stage, i, n)

    def render(self, stage: str, i: int, n: int) -> None:
        """The rendering thread's progress: from now on the only one reported."""
        if self._progress is not None:
            with self._lock:
                self._rendering = True
                self._progress(stage, i, n)


class _StreamedFrames:
    """The rendered frames of the motion rows the worker hands over (``None``: it finished), in order; re-raises
    the worker's error. Measures the renderer's own time and when the last frame was handed to ffmpeg."""

    def __init__(self, renderer, chunks, outcome: dict, relay: _ProgressRelay, num_frames: int):
        self._renderer, self._chunks, self._outcome = renderer, chunks, outcome
        self._relay, self._num_frames = relay, num_frames
        self.render_time, self.t_last = 0.0, None

    def __iter__(self):
        done = 0
        while True:
            rows = self._chunks.get()
            if rows is None:
                if "error" in self._outcome:
                    raise self._outcome["error"]
                break
            t = time.perf_counter()
            # One render thread: this thread renders while ffmpeg encodes and the worker denoises; extra render-ahead
            # threads only took cores from the diffusion (60 s clip: 8.4 s -> 7.3 s end to end with one).
            for frame in self._renderer.render_all(rows, threads=1):
                self.render_time += time.perf_counter() - t
                yield frame
                done += 1
                self._relay.render("render", done, self._num_frames)
                t = time.perf_counter()
        self.t_last = time.perf_counter()
        self._relay.render("mux", 0, 1)
