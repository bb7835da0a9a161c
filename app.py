"""ActAvatar Gradio app: a portrait, a speech clip and a timeline of action phases → a talking-avatar video.

Run ``python app.py`` (no GPU, network or Spaces variables needed; the model loads on the first Generate).
The UI only adapts inputs and outputs: all work and every input check happen in the ``actavatar`` library, whose
``InputError`` messages are shown with ``gr.Error``. On Hugging Face ZeroGPU the single ``@spaces.GPU`` entry point
(`_generate_on_device`) is the only code that holds a GPU.
"""

from __future__ import annotations

import contextlib
import html
import json
import logging
import os
import uuid
from pathlib import Path
from types import SimpleNamespace

import gradio as gr
import spaces

from actavatar import defaults
from actavatar.errors import InputError
from actavatar.phases import MAX_TEXT_CHARS, Phase, PhasePlan
from actavatar.ui.phase_editor import (  # noqa: F401  (PEAKS_PER_SECOND: read through app by the tests)
    PEAKS_PER_SECOND,
    TABLE_HEADERS,
    PhaseEditor,
    editor_phases_from_rows,
    editor_value,
    phases_of,
    plan_from_table,
    rows_of,
    sanitize_event_phases,
    understood_markdown,
    unparsed_rows,
    waveform,
)
from actavatar.ui.run_control import CANCEL_WAIT_S, SESSION_RUNS, Run, cancellable, on_unload

ROOT = Path(__file__).resolve().parent
EXAMPLES_DIR = ROOT / "examples"

MAX_UPLOAD = os.environ.get("ACTAVATAR_MAX_UPLOAD", "25mb")
CONCURRENCY = int(os.environ.get("ACTAVATAR_CONCURRENCY", "1"))  # generations at once (2 CPU cores / 1 GPU)
QUEUE_SIZE = int(os.environ.get("ACTAVATAR_QUEUE_SIZE", "32"))
SCHEDULES = [("as trained", "trained")] + [(name, name) for name in defaults.SCHEDULES]
SCHEDULES += [(f"power γ={g}", f"{defaults.POWER_PREFIX}{g}") for g in ("0.5", "1", "2")]  # the paper's (ℓ/L)^γ

log = logging.getLogger("actavatar.app")


def user_error(message: str | BaseException) -> gr.Error:
    """A ``gr.Error`` for an ordinary user mistake: one line on the page and one line in the server log, no traceback
    (Gradio prints one for every ``gr.Error`` unless told not to). Unexpected errors go through ``_user_error``."""
    message = str(message)
    log.info("rejected input: %s", message)
    return gr.Error(as_toast_text(message), print_exception=False)


def as_toast_text(message: str) -> str:
    """Gradio renders toast and error messages as HTML; ours quote the user's own texts, which must stay text."""
    return html.escape(str(message), quote=False)


def notify(kind, message: str) -> None:
    """``gr.Info`` / ``gr.Warning`` with the message kept as text (``as_toast_text``)."""
    kind(as_toast_text(message))


class PortraitImage(gr.Image):
    """``gr.Image`` that hands the uploaded file to the library untouched.

    Plain ``gr.Image`` opens the upload with PIL first: a file PIL cannot read (empty, not an image) fails inside
    Gradio with a generic "Error" instead of the library's message, and its RGB conversion drops transparency
    (composited on black) before the library can composite it on white."""

    is_template = True  # rendered by the frontend's "image" component

    def preprocess(self, payload):
        if payload is not None and payload.path and not (payload.url or "").startswith("data:"):
            return str(payload.path)  # uploads are already checked to lie in Gradio's cache
        return super().preprocess(payload)


def on_phases_changed(table):
    try:
        return understood_markdown(table)
    except Exception:  # the read-out is a help, never a reason to break editing: say so, log the traceback
        log.exception("phase reader failed")
        return "**Understood as**: unavailable (the phase reader failed; see the server log)."


# ------------------------------------------------------------------------------------------------ UI handlers
def on_new_audio(audio_path, table, reset):
    """A newly uploaded or recorded clip: draw its waveform; reset the phases unless the user chose to keep them."""
    if not audio_path:
        phases, _ = editor_phases_from_rows(table)
        return editor_value(None, phases), gr.skip(), None
    try:
        wave = waveform(audio_path)
    except InputError as err:
        raise user_error(err) from None
    phases, _ = editor_phases_from_rows(table)
    if reset in (True, "true", "True", None) or not phases:
        phases = []
    else:
        plan, notes = PhasePlan("", tuple(Phase(**p) for p in phases)).clipped(wave["duration"])
        phases = phases_of(plan)
        for note in notes:
            notify(gr.Info, note)
    return editor_value(wave, phases), rows_of(phases), wave


def on_portrait_upload(portrait):
    """Check a portrait as soon as it arrives (readable image, one usable face): a bad file is rejected at once with
    the library's message and removed, instead of showing a broken preview until Generate."""
    if not portrait:
        return
    from actavatar.render import analyze_face, load_portrait  # lazy: mediapipe takes seconds to import

    try:
        analyze_face(load_portrait(portrait))
    except InputError as err:
        raise user_error(err) from None


def on_audio_cleared(table):
    phases, _ = editor_phases_from_rows(table)
    return editor_value(None, phases), None


def on_editor_edit(evt: gr.EventData):
    return rows_of(sanitize_event_phases(evt._data))


def on_table_edit(table, wave):
    """A table edit: the waveform shows exactly the table's phases. Phases typed past the end of the audio are trimmed
    (or dropped) in both, with a note, since the waveform cannot draw past the audio; other problems get one warning
    and stay as typed in both, for the user to fix."""
    phases, notes = editor_phases_from_rows(table)
    for note in notes:
        notify(gr.Warning, note)
    rows = gr.skip()
    if wave and phases:
        plan, clip_notes = PhasePlan("", tuple(Phase(**p) for p in phases)).clipped(wave["duration"])
        if clip_notes:
            phases = phases_of(plan)
            rows = rows_of(phases) + unparsed_rows(table)
            for note in clip_notes:
                notify(gr.Info, note)
    if not notes and phases:
        try:
            PhasePlan("", tuple(Phase(**p) for p in phases)).validate(wave["duration"] if wave else None)
        except InputError as err:
            notify(gr.Warning, str(err))
    return editor_value(wave, phases), rows


def _load_plan(plan_path, prompt, wave):
    try:
        plan = PhasePlan.load(plan_path)
    except InputError as err:
        raise user_error(err) from None
    if wave:
        plan, notes = plan.clipped(wave["duration"])
        for note in notes:
            notify(gr.Info, note)
    phases = phases_of(plan)
    return editor_value(wave, phases), rows_of(phases), (plan.base or prompt or "")


def on_import(plan_file, prompt, wave):
    if not plan_file:
        return gr.skip(), gr.skip(), gr.skip()
    return _load_plan(plan_file, prompt, wave)


def export_plan(table, prompt) -> list[str]:
    """Write the table's plan as ``phases.json`` and ``phases.srt`` (the same files Import reads back)."""
    plan = plan_from_table(table, prompt).sorted()
    folder = _request_dir()
    (folder / "phases.json").write_text(plan.to_json() + "\n", encoding="utf-8")
    (folder / "phases.srt").write_text(plan.to_srt(), encoding="utf-8")
    return [str(folder / "phases.json"), str(folder / "phases.srt")]


def on_export(table, prompt):
    try:
        return gr.File(value=export_plan(table, prompt), visible=True)
    except InputError as err:
        raise user_error(err) from None


def load_example(portrait, audio_path, prompt, plan_file):
    try:
        wave = waveform(audio_path)
    except InputError as err:
        raise user_error(err) from None
    editor, rows, _ = _load_plan(plan_file, prompt, wave)
    return editor, rows, wave


def _request_dir() -> Path:
    # Inside Gradio's cache, so outputs are served without copying and removed by Blocks(delete_cache=...).
    from gradio.utils import get_upload_folder

    folder = Path(get_upload_folder()) / "actavatar" / uuid.uuid4().hex
    folder.mkdir(parents=True, exist_ok=True)
    return folder


# ------------------------------------------------------------------------------------------------- generation
def _audio_seconds(audio_path) -> float:
    try:
        import soundfile as sf

        return float(sf.info(str(audio_path)).duration)
    except Exception:  # noqa: BLE001 - only an estimate for the GPU reservation; the library validates the file
        return 30.0


def _gpu_seconds(portrait, audio_path, plan, out_dir, settings, progress=None) -> int:
    """ZeroGPU reservation: a fixed start-up cost plus a per-second-of-audio cost scaled by the step count."""
    steps = float(settings.get("steps", 20))
    return int(min(300, 20 + 1.5 * _audio_seconds(audio_path) * max(steps, 1) / 20))


def _stage_reporter(progress, steps: int):
    """Adapt the library's ``progress(stage, i, n)`` callback to a ``gr.Progress`` tracker."""
    from actavatar.api import progress_label

    def report(stage: str, i: int, n: int) -> None:
        progress((i, n) if n and stage in ("denoise", "render") else None, desc=progress_label(stage, i, n, steps))

    return report


@spaces.GPU(duration=_gpu_seconds)
def _generate_on_device(portrait, audio_path, plan: PhasePlan, out_dir, settings, progress=None):
    """The one GPU entry point. Arguments are picklable values, the plan the ``PhasePlan`` built from the table
    (ZeroGPU runs this in a forked worker and forwards ``gr.Progress`` updates to the queue itself)."""
    from actavatar.api import generate

    out_dir = Path(out_dir)
    result = generate(
        portrait,
        audio_path,
        plan,
        out=out_dir / "actavatar.mp4",
        report=out_dir / "report.json",
        progress=_stage_reporter(progress, settings["steps"]) if progress is not None else None,
        **settings,
    )
    return str(result.video_path), result.report


ON_ZERO_GPU = hasattr(_generate_on_device, "zerogpu")  # spaces marks the functions it runs in a forked GPU worker


def generate_video(
    portrait,
    audio,
    prompt,
    phases,
    steps,
    seed,
    fps,
    size,
    text_guidance,
    audio_guidance,
    paca,
    schedule,
    tier="motion",
    mirror_sampling=defaults.MIRROR_SAMPLING,
    progress=gr.Progress(),  # noqa: B008 - Gradio injects the tracker through this default
    request: gr.Request | None = None,
    *,
    run: Run | None = None,
):
    """Generate the video, both plots and the report. Every input error becomes a one-line gr.Error.

    ``run`` (given by ``cancellable``) stops the generation at its next progress step once cancelled, by the Stop
    button or by closing the tab (``request`` names the session); a failed or stopped run leaves no files."""
    from actavatar.viz import phase_time_figure, schedule_figure

    if not portrait:
        raise user_error("Upload a portrait (a photo with one clearly visible face) or take one with the webcam.")
    if not audio:
        raise user_error("Upload or record a speech clip.")
    try:
        plan = plan_from_table(phases, prompt)
        settings = {
            "steps": int(steps),
            "seed": int(seed),
            "fps": float(fps),
            "size": int(size),
            "text_guidance": float(text_guidance),
            "audio_guidance": float(audio_guidance),
            "paca": str(paca),
            "schedule": None if schedule in (None, "", "trained") else str(schedule),
            "mirror_sampling": bool(mirror_sampling),
        }
        if tier == "video":  # only offered when video_tier_note() found weights and a GPU
            settings["tier"] = "video"
    except (InputError, TypeError, ValueError) as err:
        raise user_error(err) from None

    run = run or Run()
    progress(None, desc="Checking the inputs")
    out_dir = run.folder = _request_dir()
    # The forked ZeroGPU worker gets the plain tracker (a threading.Event cannot reach it): checked after the run.
    tracker = progress if ON_ZERO_GPU else run.guard(progress)
    try:
        with SESSION_RUNS.track(request, run):
            video, report = _generate_on_device(portrait, audio, plan, str(out_dir), settings, tracker)
            figures = schedule_figure(report), phase_time_figure(report)
            run.check()  # cancelled after the last progress step
    except BaseException as err:
        run.discard()  # a failed or stopped run leaves no request folder in the cache
        raise _user_error(err) from None
    for note in report.get("notes") or []:
        notify(gr.Info, str(note))
    return video, *figures, str(out_dir / "report.json")


def _user_error(err: BaseException) -> BaseException:
    """What a failed run raises to Gradio: one line for the user, the traceback only in our log."""
    from actavatar.api import Cancelled

    if isinstance(err, Cancelled):  # nobody waits for this answer: the run was stopped or its tab closed
        return gr.Error("Generation stopped.", print_exception=False)
    if isinstance(err, InputError):
        return user_error(err)
    if isinstance(err, gr.Error) or not isinstance(err, Exception):
        return err
    log.error("generation failed", exc_info=err)
    # Logged once above with its traceback; Gradio need not print it again.
    return gr.Error(
        f"Generation failed ({type(err).__name__}). Please try again or try other inputs.", print_exception=False
    )


# ----------------------------------------------------------------------------------------------------- layout
INTRO = """
# ActAvatar — talking avatars that act on cue
Upload a **portrait** and a **speech clip**, then draw **phases** on the waveform and say what happens in each
("nods twice", "smiles and raises her eyebrows"). Each action happens inside its window while the lips follow
the speech. Try an example at the bottom.
"""

PLOT_HELP = """
**How to read the plots.** *Modality schedule*: every layer of the model listens to the text (what to do,
blue) and to the audio (how the lips move, orange). Dashed lines are the weights the layer is set to use, solid
lines what it actually used in this run (bands: 10–90 % over steps and frames; the title says what they show).
*Phase × time*: the shaded bands are your phases; the curves are the head and face movements that were generated
(top) and how strongly each frame looked at each phase's text (bottom): each action should light up only inside
its band.
"""

ADVANCED_HELP = """
**Steps**: more denoising steps = smoother motion, slower. **Seed**: same seed + same inputs = same video.
**Text / audio guidance**: how strongly the actions / the speech steer the motion (1 = no extra push).
**PACA** (phase-aware cross-attention): *hard* lets each frame see only its own phase's text, *soft* blends at
the edges, *off* shows every phase to every frame (the ablation: actions leak out of their windows).
**Schedule**: how layers share attention between text and audio: *progressive* (text early, audio late, the
paper's choice), *uniform*, or *reverse*; compare the plots.
**Mirror sampling**: for phases that name a side, the model also denoises the mirror image with "left" and "right"
swapped and follows whichever view the text moves more, so "cocks her head to the left" works even though the model
only learned that verb with "right". Off = the weights alone.
"""

CONFIRM_NEW_AUDIO = """
(audio, table, reset) => {
  const rows = (table && (table.data || table.value)) || [];
  const used = rows.filter((r) => Array.isArray(r) && r.some((c) => c !== null && String(c).trim() !== ""));
  if (!audio || used.length === 0) return [audio, table, true];
  const ask = "New audio: clear the " + used.length + " phase(s)? OK clears them, Cancel keeps them (trimmed to fit).";
  return [audio, table, window.confirm(ask)];
}
"""


def examples_table() -> list[list]:
    """Rows of ``examples/examples.json`` (written by ``examples/make_examples.py``) whose files all exist."""
    index = EXAMPLES_DIR / "examples.json"
    if not index.is_file():
        return []
    rows = []
    for ex in json.loads(index.read_text(encoding="utf-8")):
        files = [EXAMPLES_DIR / ex[k] for k in ("portrait", "audio", "plan")]
        if all(f.is_file() for f in files):
            base = json.loads(files[2].read_text(encoding="utf-8")).get("base", "")
            rows.append([str(files[0]), str(files[1]), base, str(files[2])])
    return rows


def video_tier_note() -> tuple[bool, str]:
    """Whether the Wan video tier can be offered, and one line saying why (no torch import unless configured)."""
    if not os.environ.get("ACTAVATAR_VIDEO_WEIGHTS", "").strip():
        return False, (
            "Running the CPU motion tier. The full-scale video tier is hidden: set ACTAVATAR_VIDEO_WEIGHTS to a "
            "Wan + ActAvatar weights folder on a machine with a CUDA GPU to enable it."
        )
    from actavatar.pipelines.video import video_tier_status

    return video_tier_status()


def _input_column(c: SimpleNamespace) -> None:
    """Portrait, speech clip and base prompt."""
    with gr.Column(scale=1, min_width=280):
        c.portrait = PortraitImage(
            label="Portrait",
            elem_id="portrait",
            type="filepath",
            sources=["upload", "webcam", "clipboard"],
            height=260,
        )
        c.audio = gr.Audio(label="Speech", elem_id="speech", type="filepath", sources=["upload", "microphone"])
        c.prompt = gr.Textbox(
            label="Base prompt (who and overall mood; seen by every frame)",
            placeholder="a woman talking calmly to the camera",
            max_length=MAX_TEXT_CHARS,
        )


def _phase_column(c: SimpleNamespace) -> None:
    """The phase editor, the same phases as a table, what the reader understood, import and export."""
    with gr.Column(scale=2, min_width=420):
        gr.Markdown("### Phases: what happens when")
        c.editor = PhaseEditor(elem_id="phase-editor")
        c.table = gr.Dataframe(
            value=[],
            headers=TABLE_HEADERS,
            datatype=["number", "number", "str"],
            column_count=3,
            type="array",
            interactive=True,
            label="Phases as a table (seconds; edit cells with the keyboard, add rows at the bottom)",
            elem_id="phase-table",
            max_height=260,
        )
        c.understood = gr.Markdown("", elem_id="understood-as")
        with gr.Row():
            c.plan_file = gr.File(
                label="Import a phase plan (.json or .srt)",
                file_types=[".json", ".srt"],
                type="filepath",
                height=150,  # at 120 px the label badge covered the upload icon
                elem_id="plan-import",
            )
            with gr.Column():
                c.export_btn = gr.Button("Export plan (JSON + SRT)", size="sm")
                c.export_files = gr.File(
                    label="Exported plan", file_count="multiple", interactive=False, visible=False
                )


def _settings_accordion(c: SimpleNamespace) -> None:
    """The generation settings, folded away: defaults from ``actavatar.defaults``."""
    with gr.Accordion("Advanced / reviewers", open=False):
        gr.Markdown(ADVANCED_HELP)
        with gr.Row():
            c.steps = gr.Slider(1, 100, value=defaults.STEPS, step=1, label="Steps")
            c.seed = gr.Number(value=0, precision=0, label="Seed")
            c.fps = gr.Slider(10, 30, value=defaults.FPS, step=1, label="Frames per second")
            c.size = gr.Slider(256, 1024, value=defaults.SIZE, step=64, label="Video size (longest side, px)")
        with gr.Row():
            c.text_guidance = gr.Slider(0, 8, value=defaults.TEXT_GUIDANCE, step=0.1, label="Text guidance")
            c.audio_guidance = gr.Slider(0, 8, value=defaults.AUDIO_GUIDANCE, step=0.1, label="Audio guidance")
            c.paca = gr.Radio(list(defaults.PACA_MODES), value="hard", label="PACA (phase-aware attention)")
            c.schedule = gr.Radio(SCHEDULES, value="trained", label="Modality schedule")
            c.mirror_sampling = gr.Checkbox(value=defaults.MIRROR_SAMPLING, label="Mirror sampling")
        video_enabled, video_reason = video_tier_note()
        c.tier = gr.Radio(
            [("motion (CPU)", "motion"), ("video (Wan, GPU)", "video")],
            value="motion",
            label="Tier",
            visible=video_enabled,
        )
        gr.Markdown(video_reason, elem_id="tier-note")


def _result_row(c: SimpleNamespace) -> None:
    """The video, its report and both plots."""
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=300):
            c.video = gr.Video(label="Result", autoplay=True, elem_id="result-video")
            c.report_file = gr.File(label="Report (JSON)", elem_id="report-file")
        with gr.Column(scale=1, min_width=300):
            # The figures carry their own titles; Gradio's label badge would cover them.
            c.schedule_plot = gr.Plot(label="Modality schedule per layer", show_label=False, elem_id="schedule-plot")
            c.phase_plot = gr.Plot(label="Phase × time", show_label=False, elem_id="phase-plot")
    gr.Markdown(PLOT_HELP)


def _wire_phase_events(c: SimpleNamespace) -> None:
    """Audio, portrait and phase edits: instant UI updates, private (not in the API) and without a spinner."""
    ui = {"concurrency_limit": None, "api_visibility": "private", "show_progress": "hidden"}
    reset_flag = gr.Checkbox(value=True, visible=False)
    for trigger in (c.audio.upload, c.audio.stop_recording):
        trigger(
            on_new_audio, [c.audio, c.table, reset_flag], [c.editor, c.table, c.wave_state], js=CONFIRM_NEW_AUDIO, **ui
        ).failure(lambda: None, None, [c.audio], **ui)  # a rejected clip is removed, not left half-loaded
    c.portrait.upload(on_portrait_upload, [c.portrait], None, **ui).failure(lambda: None, None, [c.portrait], **ui)
    c.audio.clear(on_audio_cleared, [c.table], [c.editor, c.wave_state], **ui)
    c.editor.plan_edit(on_editor_edit, None, [c.table], trigger_mode="always_last", **ui)
    c.table.input(on_table_edit, [c.table, c.wave_state], [c.editor, c.table], trigger_mode="always_last", **ui)
    c.table.change(on_phases_changed, [c.table], [c.understood], trigger_mode="always_last", **ui)
    c.plan_file.upload(on_import, [c.plan_file, c.prompt, c.wave_state], [c.editor, c.table, c.prompt], **ui)
    c.export_btn.click(on_export, [c.table, c.prompt], [c.export_files], **ui)


def _wire_generation(c: SimpleNamespace, demo: gr.Blocks) -> None:
    """Generate (the public ``generate`` API) and Stop. Generate is disabled and Stop shown while this user's run is
    queued or running. Gradio 6's frontend runs ``.then`` only after a success, so they are reset on failure too."""

    def running():
        return gr.Button(interactive=False, value="Generating…"), gr.Button(visible=True)

    def ready():
        return gr.Button(interactive=True, value="Generate"), gr.Button(visible=False)

    buttons = [c.run_btn, c.stop_btn]
    settings = [c.steps, c.seed, c.fps, c.size, c.text_guidance, c.audio_guidance, c.paca, c.schedule]
    generation = c.run_btn.click(running, None, buttons, queue=False, api_visibility="private").then(
        # On ZeroGPU the run is in a forked GPU worker that the cancel flag cannot reach: nothing to wait for.
        cancellable(generate_video, wait_s=0.0 if ON_ZERO_GPU else CANCEL_WAIT_S),
        [c.portrait, c.audio, c.prompt, c.table, *settings, c.tier, c.mirror_sampling],
        [c.video, c.schedule_plot, c.phase_plot, c.report_file],
        api_name="generate",
        concurrency_limit=CONCURRENCY,
        concurrency_id="generate",
    )
    generation.then(ready, None, buttons, queue=False, api_visibility="private")
    generation.failure(ready, None, buttons, queue=False, api_visibility="private")
    c.stop_btn.click(ready, None, buttons, cancels=[generation], queue=False, api_visibility="private")
    demo.unload(on_unload)


def build_demo() -> gr.Blocks:
    c = SimpleNamespace()  # the components, by name, for the event wiring
    with gr.Blocks(title="ActAvatar", delete_cache=(1800, 3600)) as demo:
        c.wave_state = gr.State(None)
        gr.Markdown(INTRO)
        with gr.Row(equal_height=False):
            _input_column(c)
            _phase_column(c)
        _settings_accordion(c)
        with gr.Row():
            c.run_btn = gr.Button("Generate", variant="primary", size="lg", elem_id="generate", scale=3)
            c.stop_btn = gr.Button("Stop", variant="stop", size="lg", elem_id="stop", visible=False, scale=1)
        _result_row(c)

        examples = examples_table()
        if examples:
            gr.Examples(
                examples=examples,
                inputs=[c.portrait, c.audio, c.prompt, c.plan_file],
                outputs=[c.editor, c.table, c.wave_state],
                fn=load_example,
                run_on_click=True,
                cache_examples=False,
                label="Examples (click one to load the portrait, speech, prompt and phases)",
            )
        _wire_phase_events(c)
        _wire_generation(c, demo)
    demo.queue(max_size=QUEUE_SIZE, default_concurrency_limit=CONCURRENCY)
    return demo


def sweep_outputs(older_than_s: float | None = None) -> list[Path]:
    """Remove what killed runs left in the app's output folders: stale temp files, then emptied request folders.

    Gradio's ``delete_cache`` removes only the files it served in this process, never a hidden temp or anything a
    killed server wrote; ``python app.py`` runs this once at startup. Only files and folders untouched for
    ``older_than_s`` (default ``actavatar.tempfiles.STALE_AFTER_S``) go, so another server's live run is safe."""
    import time

    from gradio.utils import get_upload_folder

    from actavatar.tempfiles import STALE_AFTER_S, sweep_stale_temps

    older_than_s = STALE_AFTER_S if older_than_s is None else older_than_s
    root = Path(get_upload_folder()) / "actavatar"
    removed = []
    for folder in sorted(root.glob("*")) if root.is_dir() else []:
        if folder.is_dir() and not folder.is_symlink():
            idle = time.time() - folder.stat().st_mtime  # before the sweep, which touches it
            removed += sweep_stale_temps(folder, older_than_s)
            with contextlib.suppress(OSError):  # not empty (a finished run's outputs), or already gone
                if idle >= older_than_s:
                    folder.rmdir()
                    removed.append(folder)
    return removed


def launch_kwargs() -> dict:
    """Settings shared by ``python app.py`` and the tests' server."""
    return {
        "max_file_size": MAX_UPLOAD,
        "allowed_paths": [str(EXAMPLES_DIR)],
        "show_error": False,  # only gr.Error messages reach the page; anything else shows a generic "Error"
    }


demo = build_demo()

if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    if swept := sweep_outputs():
        log.info("removed %d stale temp file(s) and folder(s) left by killed runs", len(swept))
    demo.launch(**launch_kwargs())
