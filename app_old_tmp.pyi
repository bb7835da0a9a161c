"""ActAvatar Gradio app: a portrait, a speech clip and a timeline of action phases → a talking-avatar video.

Run ``python app.py`` (no GPU, network or Spaces variables needed; the model loads on the first Generate).
The UI only adapts inputs and outputs: all work and every input check happen in the ``actavatar`` library, whose
``InputError`` messages are shown with ``gr.Error``. On Hugging Face ZeroGPU the single ``@spaces.GPU`` entry point
(`_generate_on_device`) is the only code that holds a GPU.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import html
import json
import logging
import math
import os
import shutil
import threading
import uuid
from pathlib import Path

import anyio
import gradio as gr
import numpy as np
import spaces

from actavatar import defaults
from actavatar.errors import InputError
from actavatar.phases import MAX_PHASES, MAX_TEXT_CHARS, Phase, PhasePlan, clean_text, plan_from_rows

ROOT = Path(__file__).resolve().parent
EXAMPLES_DIR = ROOT / "examples"
VENDOR_DIR = ROOT / "assets" / "vendor" / "wavesurfer"
EDITOR_DIR = ROOT / "assets" / "phase_editor"

MAX_UPLOAD = os.environ.get("ACTAVATAR_MAX_UPLOAD", "25mb")
CONCURRENCY = int(os.environ.get("ACTAVATAR_CONCURRENCY", "1"))  # generations at once (2 CPU cores / 1 GPU)
QUEUE_SIZE = int(os.environ.get("ACTAVATAR_QUEUE_SIZE", "32"))
PEAKS_PER_SECOND = 50  # waveform resolution sent to the browser (≤ 6000 numbers for a 2 min clip)
TABLE_HEADERS = ["start", "end", "text"]

PRESET_ACTIONS = [
    "nods twice",
    "shakes head",
    "smiles",
    "raises eyebrows",
    "tilts head",
    "looks left",
    "looks right",
    "looks up",
    "closes eyes",
    "blinks",
    "winks",
    "frowns",
    "looks surprised",
    "leans in",
    "pouts",
    "stays still",
]

SCHEDULES = [("as trained", "trained")] + [(name, name) for name in defaults.SCHEDULES]
SCHEDULES += [(f"power γ={g}", f"{defaults.POWER_PREFIX}{g}") for g in ("0.5", "1", "2")]  # the paper's (ℓ/L)^γ

log = logging.getLogger("actavatar.app")


def user_error(message: str | BaseException) -> gr.Error:
    """A ``gr.Error`` for an ordinary user mistake: one line on the page and one line in the server log, no traceback
    (Gradio prints one for every ``gr.Error`` unless told not to). Unexpected errors go through ``_user_error``."""
    message = str(message)
    log.info("rejected input: %s", message)
    return gr.Error(message, print_exception=False)


# ------------------------------------------------------------------------------------------------- phase editor
def _editor_template(presets: list[str]) -> str:
    # Static markup only: gr.HTML renders the template as a JS template literal, so no user text may enter it.
    chips = "".join(
        f'<button type="button" class="pe-chip" aria-disabled="true" data-action="{html.escape(p)}">'
        f"{html.escape(p)}</button>"
        for p in presets
    )
    return f"""
<div class="pe" tabindex="-1">
  <div class="pe-toolbar" role="toolbar" aria-label="Phase editor">
    <button type="button" class="pe-play">▶ Play</button>
    <button type="button" class="pe-play-phase" disabled>▶ Play phase</button>
    <button type="button" class="pe-add">+ Add phase</button>
    <button type="button" class="pe-delete" disabled>✕ Delete phase</button>
    <label class="pe-zoom-label">Zoom <input type="range" class="pe-zoom" min="0" max="400" step="10" value="0"
      aria-label="Zoom (pixels per second)"></label>
    <span class="pe-time">0.00 s</span>
  </div>
  <div class="pe-empty">Upload or record audio to draw phases on its waveform.</div>
  <div class="pe-wave" data-testid="phase-wave"></div>
  <div class="pe-timeline"></div>
  <p class="pe-hint">Drag on the waveform to create a phase · drag its body or edges to move it · click it to select
    and type its action · Delete removes it · Ctrl + wheel zooms.</p>
  <div class="pe-edit">
    <label>Action <input type="text" class="pe-text" maxlength="{MAX_TEXT_CHARS}" disabled
      placeholder="select a phase, then type e.g. “nods twice”" aria-label="Action text of the selected phase"></label>
    <div class="pe-chips" role="group" aria-label="Preset actions">{chips}</div>
  </div>
  <ol class="pe-list" aria-label="Phases"></ol>
  <div class="pe-msg" role="status" aria-live="polite"></div>
</div>
"""


def _vendored_head() -> str:
    # wavesurfer's UMD builds, inlined: no CDN, and no URL that would break behind a proxy or root_path.
    files = ["wavesurfer.min.js", "plugins/regions.min.js", "plugins/timeline.min.js", "plugins/zoom.min.js"]
    return "".join(f"<script>{(VENDOR_DIR / f).read_text(encoding='utf-8')}</script>" for f in files)

from gradio.events import Dependency

class PhaseEditor(gr.HTML):
    """Waveform phase editor (wavesurfer.js 8 + regions) as a custom ``gr.HTML`` component.

    Value: ``{"audio": FileData | None, "duration": s, "peaks": [...], "phases": [{start, end, text}]}``, built by
    :func:`editor_value`. User edits fire the ``plan_edit`` event with ``{"phases": [...]}`` as event data."""

    def __init__(self, value: dict | None = None, presets: list[str] | None = None, **kwargs):
        super().__init__(
            value=value or editor_value(None, []),
            html_template=_editor_template(presets or PRESET_ACTIONS),
            css_template=(EDITOR_DIR / "phase_editor.css").read_text(encoding="utf-8"),
            js_on_load=(EDITOR_DIR / "phase_editor.js").read_text(encoding="utf-8"),
            head=_vendored_head(),
            apply_default_css=False,
            **kwargs,
        )

    def api_info(self) -> dict:
        return {"type": "object", "description": "phase editor state: audio, duration, peaks, phases"}
    from typing import Callable, Literal, Sequence, Any, TYPE_CHECKING
    from gradio.blocks import Block
    if TYPE_CHECKING:
        from gradio.components import Timer
        from gradio.components.base import Component


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
    from typing import Callable, Literal, Sequence, Any, TYPE_CHECKING
    from gradio.blocks import Block
    if TYPE_CHECKING:
        from gradio.components import Timer
        from gradio.components.base import Component


def editor_value(wave: dict | None, phases: list[dict]) -> dict:
    audio = None
    if wave:
        audio = {"path": wave["path"], "orig_name": Path(wave["path"]).name, "meta": {"_type": "gradio.FileData"}}
    return {
        "audio": audio,
        "duration": wave["duration"] if wave else None,
        "peaks": wave["peaks"] if wave else [],
        "phases": phases,
    }


def waveform(audio_path: str) -> dict:
    """Duration and display peaks of an audio file (signed extreme per bucket, normalised to ±1); ``InputError``
    for a file that is no speech recording (it is checked on upload, as Generate would)."""
    from actavatar.audio import SAMPLE_RATE, load_audio  # lazy: pulls in torch
    from actavatar.vad import find_speech

    wave = load_audio(audio_path)
    find_speech(wave, Path(audio_path).name)
    duration = len(wave) / SAMPLE_RATE
    buckets = max(1, int(math.ceil(duration * PEAKS_PER_SECOND)))
    edges = np.linspace(0, len(wave), buckets + 1).astype(int)
    peaks = np.array([_extreme(wave[a:b]) for a, b in zip(edges[:-1], edges[1:], strict=True)], dtype=np.float32)
    peaks /= max(1e-6, float(np.abs(peaks).max()))
    return {"path": audio_path, "duration": round(duration, 4), "peaks": np.round(peaks, 3).tolist()}


def _extreme(chunk: np.ndarray) -> float:
    if chunk.size == 0:
        return 0.0
    i = int(np.argmax(np.abs(chunk)))
    return float(chunk[i])


# -------------------------------------------------------------------------------------- table <-> phase plans
def rows_of(phases) -> list[list]:
    return [[round(float(p["start"]), 3), round(float(p["end"]), 3), p["text"]] for p in phases]


def phases_of(plan: PhasePlan) -> list[dict]:
    return [p.to_dict() for p in plan.phases]


def _table_rows(table) -> list[list]:
    """The Dataframe's value as plain rows (it arrives as a list of lists, a pandas frame or None)."""
    if table is None:
        return []
    if hasattr(table, "values") and hasattr(table, "columns"):
        return table.values.tolist()
    if isinstance(table, dict):
        return list(table.get("data") or [])
    return [list(r) for r in table]


def _blank(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or str(value).strip() == ""


def editor_phases_from_rows(table) -> tuple[list[dict], list[str]]:
    """Rows → phases for the editor: rows without both times are skipped (still being typed), with a note."""
    phases, notes = [], []
    for n, row in enumerate(_table_rows(table)):
        start, end, text = (list(row) + [None] * 3)[:3]
        if _blank(start) and _blank(end) and _blank(text):
            continue
        try:
            plan = plan_from_rows([[start, end, "" if _blank(text) else text]])
        except InputError as err:
            notes.append(str(err).replace("Phase 1", f"Row {n + 1}", 1))
            continue
        phases.extend(phases_of(plan))
    return phases, notes


def understood_markdown(table) -> str:
    """The "Understood as" list under the phase table: what the phase reader makes of each phase's text, warnings
    first-class (a text the face-and-head model cannot perform, or no action at all)."""
    from actavatar.reader import read_phases

    phases, _ = editor_phases_from_rows(table)
    phases = [p for p in phases if p["text"].strip()]
    if not phases:
        return ""
    lines = ["**Understood as** (what the model will perform; the seed picks a side the text does not name)"]
    for p, reading in zip(phases, read_phases([p["text"] for p in phases]), strict=True):
        mark = "⚠️ " if reading.status != "ok" else ""
        when = f"{p['start']:g}–{p['end']:g} s"
        lines.append(f"- {mark}{when} · “{html.escape(p['text'])}” → {html.escape(reading.describe())}")
    return "\n".join(lines)


def on_phases_changed(table):
    try:
        return understood_markdown(table)
    except Exception:  # the read-out is a help, never a reason to break editing: say so, log the traceback
        log.exception("phase reader failed")
        return "**Understood as**: unavailable (the phase reader failed; see the server log)."


def plan_from_table(table, prompt: str | None) -> PhasePlan:
    rows = [r for r in _table_rows(table) if not all(_blank(c) for c in (list(r) + [None] * 3)[:3])]
    rows = [["" if _blank(c) else c for c in (list(r) + [None] * 3)[:3]] for r in rows]
    return plan_from_rows(rows, base=prompt or "")


def _sanitize_event_phases(data) -> list[dict]:
    """Phases sent by the browser: trust nothing (types, count, length)."""
    raw = (data or {}).get("phases") if isinstance(data, dict) else None
    out = []
    for item in (raw or [])[: MAX_PHASES * 4]:
        try:
            start, end = float(item["start"]), float(item["end"])
        except (KeyError, TypeError, ValueError):
            continue
        if math.isfinite(start) and math.isfinite(end):
            text = clean_text(item.get("text") if isinstance(item.get("text"), str) else "")[: MAX_TEXT_CHARS * 2]
            out.append(Phase(round(start, 3), round(end, 3), text).to_dict())
    return sorted(out, key=lambda p: (p["start"], p["end"]))


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
            gr.Info(note)
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
    return rows_of(_sanitize_event_phases(evt._data))


def on_table_edit(table, wave):
    """A table edit: the waveform shows exactly the table's phases. Phases typed past the end of the audio are trimmed
    (or dropped) in both, with a note, since the waveform cannot draw past the audio; other problems get one warning
    and stay as typed in both, for the user to fix."""
    phases, notes = editor_phases_from_rows(table)
    for note in notes:
        gr.Warning(note)
    rows = gr.skip()
    if wave and phases:
        plan, clip_notes = PhasePlan("", tuple(Phase(**p) for p in phases)).clipped(wave["duration"])
        if clip_notes:
            phases = phases_of(plan)
            rows = rows_of(phases) + _unparsed_rows(table)
            for note in clip_notes:
                gr.Info(note)
    if not notes and phases:
        try:
            PhasePlan("", tuple(Phase(**p) for p in phases)).validate(wave["duration"] if wave else None)
        except InputError as err:
            gr.Warning(str(err))
    return editor_value(wave, phases), rows


def _unparsed_rows(table) -> list[list]:
    """Rows still being typed (not yet a phase): kept in the table when it is rewritten."""
    kept = []
    for row in _table_rows(table):
        cells = (list(row) + [None] * 3)[:3]
        if all(_blank(c) for c in cells):
            continue
        try:
            plan_from_rows([["" if _blank(c) else c for c in cells]])
        except InputError:
            kept.append(["" if _blank(c) else c for c in cells])
    return kept


def _load_plan(plan_path, prompt, wave):
    try:
        plan = PhasePlan.load(plan_path)
    except InputError as err:
        raise user_error(err) from None
    if wave:
        plan, notes = plan.clipped(wave["duration"])
        for note in notes:
            gr.Info(note)
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


# ----------------------------------------------------------------------------------------------- cancellation
# How Gradio 6 cancels a run (Stop via ``cancels=``, gradio_client's ``job.cancel()``): the ``/cancel`` route calls
# ``gradio.utils.cancel_tasks``, which cancels the asyncio task awaiting the handler. A sync handler is awaited through
# ``anyio.to_thread.run_sync``: its thread runs on to the end while the queue already counts the concurrency slot as
# free. Closing the tab cancels nothing: ``Queue.clean_events`` only marks the run dead (it still runs) and the
# ``unload`` event fires. So generation runs in its own thread with a ``Run`` flag that its progress callback checks.
CANCEL_WAIT_S = 15.0  # how long a cancelled handler waits for its thread to stop (CPU: one step, well under a second)


class Run:
    """One generation in flight: a cancel flag checked at every progress step, and the folder it writes."""

    def __init__(self) -> None:
        self._cancelled = threading.Event()
        self.folder: Path | None = None

    def cancel(self) -> None:
        self._cancelled.set()

    def check(self) -> None:
        """Raise the library's ``Cancelled`` if the run was cancelled."""
        if self._cancelled.is_set():
            from actavatar.api import Cancelled

            raise Cancelled("generation cancelled")

    def guard(self, progress):
        """``progress`` that first stops the run (raises ``Cancelled``) if it was cancelled."""

        def checked(*args, **kwargs):
            self.check()
            return progress(*args, **kwargs)

        return checked

    def discard(self) -> None:
        """Remove everything the run wrote."""
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)


class SessionRuns:
    """The runs in flight of each browser session, so that closing or reloading the tab stops them."""

    def __init__(self) -> None:
        self._runs: dict[str, set[Run]] = {}
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def track(self, request: gr.Request | None, run: Run):
        session = getattr(request, "session_hash", None)
        if session is None:
            yield
            return
        with self._lock:
            self._runs.setdefault(session, set()).add(run)
        try:
            yield
        finally:
            with self._lock:
                runs = self._runs.get(session, set())
                runs.discard(run)
                if not runs:
                    self._runs.pop(session, None)

    def cancel(self, session: str | None) -> int:
        with self._lock:
            runs = list(self._runs.get(session, ()))
        for run in runs:
            run.cancel()
        return len(runs)


SESSION_RUNS = SessionRuns()


def on_unload(request: gr.Request):
    """The tab was closed or reloaded: stop its generations (Gradio only stops sending their updates)."""
    SESSION_RUNS.cancel(getattr(request, "session_hash", None))


def cancellable(fn):
    """The sync handler ``fn`` (which takes a keyword ``run: Run``) as an async Gradio handler that really stops.

    ``fn`` runs in a worker thread. When Gradio cancels the task, the run is flagged, ``fn`` raises at its next
    progress step, and the task ends once the thread has stopped (at most ``CANCEL_WAIT_S``), so the concurrency
    slot frees when the work is over. Whenever the thread ends, the files of the cancelled run are removed."""

    @functools.wraps(fn)  # Gradio reads the parameters (API names, gr.Progress, gr.Request) through __wrapped__
    async def handler(*args, **kwargs):
        run = Run()
        work = asyncio.ensure_future(anyio.to_thread.run_sync(functools.partial(fn, *args, run=run, **kwargs)))
        try:
            return await asyncio.shield(work)
        except asyncio.CancelledError:
            run.cancel()

            def finished(_):
                if not work.cancelled():
                    work.exception()  # retrieved: the run's "stopped" error has nobody to go to
                run.discard()

            work.add_done_callback(finished)
            # On ZeroGPU the run is in a forked GPU worker that the flag cannot reach: nothing to wait for.
            deadline = asyncio.get_running_loop().time() + (0.0 if ON_ZERO_GPU else CANCEL_WAIT_S)
            while not work.done() and (left := deadline - asyncio.get_running_loop().time()) > 0:
                with contextlib.suppress(asyncio.CancelledError):  # a repeated /cancel: keep waiting
                    await asyncio.wait([work], timeout=left)
            raise

    return handler


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
        gr.Info(str(note))
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


def build_demo() -> gr.Blocks:
    with gr.Blocks(title="ActAvatar", delete_cache=(1800, 3600)) as demo:
        wave_state = gr.State(None)
        gr.Markdown(INTRO)
        with gr.Row(equal_height=False):
            with gr.Column(scale=1, min_width=280):
                portrait = PortraitImage(
                    label="Portrait",
                    elem_id="portrait",
                    type="filepath",
                    sources=["upload", "webcam", "clipboard"],
                    height=260,
                )
                audio = gr.Audio(label="Speech", elem_id="speech", type="filepath", sources=["upload", "microphone"])
                prompt = gr.Textbox(
                    label="Base prompt (who and overall mood; seen by every frame)",
                    placeholder="a woman talking calmly to the camera",
                    max_length=MAX_TEXT_CHARS,
                )
            with gr.Column(scale=2, min_width=420):
                gr.Markdown("### Phases: what happens when")
                editor = PhaseEditor(elem_id="phase-editor")
                table = gr.Dataframe(
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
                understood = gr.Markdown("", elem_id="understood-as")
                with gr.Row():
                    plan_file = gr.File(
                        label="Import a phase plan (.json or .srt)",
                        file_types=[".json", ".srt"],
                        type="filepath",
                        height=150,  # at 120 px the label badge covered the upload icon
                        elem_id="plan-import",
                    )
                    with gr.Column():
                        export_btn = gr.Button("Export plan (JSON + SRT)", size="sm")
                        export_files = gr.File(
                            label="Exported plan", file_count="multiple", interactive=False, visible=False
                        )
        with gr.Accordion("Advanced / reviewers", open=False):
            gr.Markdown(ADVANCED_HELP)
            with gr.Row():
                steps = gr.Slider(1, 100, value=defaults.STEPS, step=1, label="Steps")
                seed = gr.Number(value=0, precision=0, label="Seed")
                fps = gr.Slider(10, 30, value=defaults.FPS, step=1, label="Frames per second")
                size = gr.Slider(256, 1024, value=defaults.SIZE, step=64, label="Video size (longest side, px)")
            with gr.Row():
                text_guidance = gr.Slider(0, 8, value=defaults.TEXT_GUIDANCE, step=0.1, label="Text guidance")
                audio_guidance = gr.Slider(0, 8, value=defaults.AUDIO_GUIDANCE, step=0.1, label="Audio guidance")
                paca = gr.Radio(list(defaults.PACA_MODES), value="hard", label="PACA (phase-aware attention)")
                schedule = gr.Radio(SCHEDULES, value="trained", label="Modality schedule")
                mirror_sampling = gr.Checkbox(value=defaults.MIRROR_SAMPLING, label="Mirror sampling")
            video_enabled, video_reason = video_tier_note()
            tier = gr.Radio(
                [("motion (CPU)", "motion"), ("video (Wan, GPU)", "video")],
                value="motion",
                label="Tier",
                visible=video_enabled,
            )
            gr.Markdown(video_reason, elem_id="tier-note")
        with gr.Row():
            run_btn = gr.Button("Generate", variant="primary", size="lg", elem_id="generate", scale=3)
            stop_btn = gr.Button("Stop", variant="stop", size="lg", elem_id="stop", visible=False, scale=1)
        with gr.Row(equal_height=False):
            with gr.Column(scale=1, min_width=300):
                video = gr.Video(label="Result", autoplay=True, elem_id="result-video")
                report_file = gr.File(label="Report (JSON)", elem_id="report-file")
            with gr.Column(scale=1, min_width=300):
                # The figures carry their own titles; Gradio's label badge would cover them.
                schedule_plot = gr.Plot(label="Modality schedule per layer", show_label=False, elem_id="schedule-plot")
                phase_plot = gr.Plot(label="Phase × time", show_label=False, elem_id="phase-plot")
        gr.Markdown(PLOT_HELP)

        examples = examples_table()
        if examples:
            gr.Examples(
                examples=examples,
                inputs=[portrait, audio, prompt, plan_file],
                outputs=[editor, table, wave_state],
                fn=load_example,
                run_on_click=True,
                cache_examples=False,
                label="Examples (click one to load the portrait, speech, prompt and phases)",
            )

        # ---------------------------------------------------------------------------------------------- events
        ui = {"concurrency_limit": None, "api_visibility": "private", "show_progress": "hidden"}
        reset_flag = gr.Checkbox(value=True, visible=False)
        for trigger in (audio.upload, audio.stop_recording):
            trigger(
                on_new_audio, [audio, table, reset_flag], [editor, table, wave_state], js=CONFIRM_NEW_AUDIO, **ui
            ).failure(lambda: None, None, [audio], **ui)  # a rejected clip is removed, not left half-loaded
        portrait.upload(on_portrait_upload, [portrait], None, **ui).failure(lambda: None, None, [portrait], **ui)
        audio.clear(on_audio_cleared, [table], [editor, wave_state], **ui)
        editor.plan_edit(on_editor_edit, None, [table], trigger_mode="always_last", **ui)
        table.input(on_table_edit, [table, wave_state], [editor, table], trigger_mode="always_last", **ui)
        table.change(on_phases_changed, [table], [understood], trigger_mode="always_last", **ui)
        plan_file.upload(on_import, [plan_file, prompt, wave_state], [editor, table, prompt], **ui)
        export_btn.click(on_export, [table, prompt], [export_files], **ui)

        # Generate is disabled and Stop shown while this user's run is queued or running. Gradio 6's frontend runs
        # `.then` only after a success, so reset them on failure too.
        def running():
            return gr.Button(interactive=False, value="Generating…"), gr.Button(visible=True)

        def ready():
            return gr.Button(interactive=True, value="Generate"), gr.Button(visible=False)

        buttons = [run_btn, stop_btn]
        generation = run_btn.click(running, None, buttons, queue=False, api_visibility="private").then(
            cancellable(generate_video),
            [
                portrait,
                audio,
                prompt,
                table,
                steps,
                seed,
                fps,
                size,
                text_guidance,
                audio_guidance,
                paca,
                schedule,
                tier,
                mirror_sampling,
            ],
            [video, schedule_plot, phase_plot, report_file],
            api_name="generate",
            concurrency_limit=CONCURRENCY,
            concurrency_id="generate",
        )
        generation.then(ready, None, buttons, queue=False, api_visibility="private")
        generation.failure(ready, None, buttons, queue=False, api_visibility="private")
        stop_btn.click(ready, None, buttons, cancels=[generation], queue=False, api_visibility="private")
        demo.unload(on_unload)
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