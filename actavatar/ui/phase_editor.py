"""The app's waveform phase editor (a custom ``gr.HTML`` component on wavesurfer.js) and the conversions between
its phases, the phase table's rows and the library's ``PhasePlan``. Browser input is untrusted: every value that
comes back from the page is re-checked here or by ``actavatar.phases``."""

from __future__ import annotations

import html
import math
from pathlib import Path

import gradio as gr
import numpy as np

from ..errors import InputError
from ..phases import MAX_PHASES, MAX_TEXT_CHARS, Phase, PhasePlan, clean_text, plan_from_rows

ROOT = Path(__file__).resolve().parents[2]
VENDOR_DIR = ROOT / "assets" / "vendor" / "wavesurfer"
EDITOR_DIR = ROOT / "assets" / "phase_editor"

PEAKS_PER_SECOND = 50  # waveform resolution sent to the browser (≤ 6000 numbers for a 2 min clip)
TABLE_HEADERS = ["start", "end", "text"]

PRESET_ACTIONS = [
    "nods twice",
    "shakes head",
    "smiles",
    "raises eyebrows",
    "tilts head right",
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
    lines = ["**Understood as** (what the model will perform)"]
    for p, reading in zip(phases, read_phases([p["text"] for p in phases]), strict=True):
        mark = "⚠️ " if reading.status != "ok" else ""
        when = f"{p['start']:g}–{p['end']:g} s"
        lines.append(f"- {mark}{when} · “{html.escape(p['text'])}” → {html.escape(reading.describe())}")
    return "\n".join(lines)


def plan_from_table(table, prompt: str | None) -> PhasePlan:
    rows = [r for r in _table_rows(table) if not all(_blank(c) for c in (list(r) + [None] * 3)[:3])]
    rows = [["" if _blank(c) else c for c in (list(r) + [None] * 3)[:3]] for r in rows]
    return plan_from_rows(rows, base=prompt or "")


def sanitize_event_phases(data) -> list[dict]:
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


def unparsed_rows(table) -> list[list]:
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
