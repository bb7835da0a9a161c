"""``python -m actavatar eval --conflict``: phases where the text and the audio want the same channels, from pixels.

``conflict_phases.json`` (next to this file, written once) lists them in three groups: mouth actions during speech
(smile, pout, frown, laugh: the audio drives the jaw and lips at the same time), expressive head actions over fast
speech (nod, shake, tilt: prosody drives the head too), and long phases (>= 4 s) of one action over many syllables.

Each phase goes alone on its own held-out synthetic clip (``evaluate.eval_dataset``), over the window of its group's
length that is most covered by the clip's words (fast-speech phases only on clips spoken at ``FAST_WPM`` or more).
The clip is generated, rendered and read back from the mp4 (``evaluate.track_clip``), then both sides are scored:
the text's (the action detected, ``metrics.score_phases``, and its size, ``metrics.action_amplitudes`` divided by
the detection threshold so actions of different units can be averaged) and the audio's (lip sync inside the phase
window, ``metrics.lip_sync_in_window``). Rows are per phase, one clip each (every phase on ``REPEATS`` clips), in
file order, so two runs on the same clips compare pairwise (``stats.paired_difference``).
"""

from __future__ import annotations

import json
import math
import tempfile
import time
from pathlib import Path

import numpy as np

from ..motion import MOTION_INDEX
from ..phases import Phase, PhasePlan
from . import metrics, stats
from .evaluate import EvalConfig, _portraits, eval_dataset, score_clip, settings_summary, track_clip

CONFLICT_PATH = Path(__file__).resolve().with_name("conflict_phases.json")
POOL_CLIPS = 96  # held-out clips the phases are placed on (only the chosen ones are generated)
FAST_WPM = 190  # espeak-ng rate (words per minute) from which a clip's speech counts as fast
MIN_SPEECH = 0.7  # share of a phase window covered by words
REPEATS = 2  # each phase on this many clips (19 phases -> 38 clips per run)
METRICS = ("detected", "amplitude_rel", "lip_sync_in_phase")  # the per-phase values summarised and compared


def load_conflict(path: str | Path = CONFLICT_PATH) -> dict:
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    for entry in data["phases"]:
        if entry["group"] not in data["groups"]:
            raise ValueError(f"phase {entry['text']!r} has unknown group {entry['group']!r}")
        metrics.action_signature(entry["label"])  # KeyError naming the known labels
    return data


def speech_window(words: list, duration: float, seconds: float) -> tuple[float, float, float]:
    """``(start, end, coverage)``: the ``seconds``-long window inside ``[0, duration]`` most covered by ``words``
    (``[[start, end, word], ...]``), starting at a word onset (earliest on ties); coverage 0 if none fits."""
    best = (0.0, 0.0, 0.0)
    for onset, _, _ in words:
        # To the millisecond, never later than ``duration - seconds``: the window must end inside the audio.
        start = min(round(max(0.0, float(onset) - 0.05), 3), math.floor((duration - seconds) * 1000) / 1000)
        if start < 0:
            break
        end = start + seconds
        covered = sum(max(0.0, min(end, float(b)) - max(start, float(a))) for a, b, _ in words)
        if covered / seconds > best[2] + 1e-9:
            best = (start, round(end, 3), covered / seconds)
    return best


def place(data: dict, ds, repeats: int = REPEATS) -> list[dict]:
    """Each phase of ``data``, ``repeats`` times, on the first unused clip of ``ds`` with a fitting speech window:
    ``[{"clip", "phase", "entry", "coverage", "rate_wpm"}]`` in file order (all phases, then again). ``ValueError``
    if the clips run out."""
    used, out = set(), []
    for entry in [e for _ in range(repeats) for e in data["phases"]]:
        group = data["groups"][entry["group"]]
        for i in range(len(ds)):
            if i in used:
                continue
            meta = ds[i].meta
            if group["speech"] == "fast" and meta["rate"] < FAST_WPM:
                continue
            duration = len(ds[i].audio) / ds[i].sample_rate
            start, end, coverage = speech_window(meta["words"], duration, float(group["seconds"]))
            if coverage >= MIN_SPEECH:
                used.add(i)
                out.append({"clip": i, "phase": Phase(start, end, entry["text"]), "entry": entry,
                            "coverage": round(coverage, 3), "rate_wpm": meta["rate"]})  # fmt: skip
                break
        else:
            raise ValueError(f"no held-out clip left for conflict phase {entry['text']!r}: use a larger pool")
    return out


def _subset(placed: list[dict], limit: int | None, per_repeat: int) -> list[dict]:
    """``limit`` phases spread evenly over the file (each repeat of ``per_repeat`` phases in turn), or all."""
    if not limit or limit >= len(placed):
        return placed
    out = []
    for r in range(0, len(placed), per_repeat):
        take = min(limit - len(out), per_repeat)
        out += [placed[r + int(k)] for k in np.unique(np.linspace(0, per_repeat - 1, take).round())] if take else []
    return out


def score_phase(track, sample, placed: dict) -> dict:
    """One conflict phase from the extracted motion: the text's side and the audio's side."""
    phase, entry = placed["phase"], placed["entry"]
    plan = PhasePlan(sample.plan.base, (phase,))
    scores = score_clip(track.values, track.fps, sample.audio, sample.sample_rate, plan, [entry["label"]])
    scored = scores["phases"][0]
    sigs = {s.label: s for s in metrics.action_signature(scored["performed_as"])}
    sizes = metrics.action_amplitudes(track.values, track.fps, [(scored["performed_as"], phase.start, phase.end)])
    jaw = track.values[:, MOTION_INDEX["jaw_open"]]
    r, lag = metrics.lip_sync_in_window(jaw, sample.audio, sample.sample_rate, track.fps, phase.start, phase.end)
    return {
        "clip": placed["clip"],
        "group": entry["group"],
        "text": entry["text"],
        "label": entry["label"],
        "phrasing": entry["phrasing"],
        "start": phase.start,
        "end": phase.end,
        "speech_coverage": placed["coverage"],
        "rate_wpm": placed["rate_wpm"],
        "performed_as": scored["performed_as"],
        "detected": float(scored["detected"]),
        "onset_ms": scored["onset_ms"],
        "leakage": scored["leakage"],
        "amplitude": [[p, a] for p, a in sizes],
        # Size in units of the detector's threshold (1 = just detectable), averaged over the parts that have one.
        "amplitude_rel": float(np.mean([a / sigs[p].threshold for p, a in sizes])) if sizes else math.nan,
        "lip_sync_in_phase": r,
        "lip_sync_lag_ms": lag,
        "lip_sync_clip": scores["lip_sync_corr"],
    }


def summarize_conflict(rows: list[dict], seed: int = 0) -> dict:
    """Mean and 95 % bootstrap interval over phases (clips) of each of ``METRICS``, overall and per group."""

    def block(sel: list[dict]) -> dict:
        out = {"phases": len(sel)}
        for key in METRICS:
            out[key] = stats.mean_ci([r[key] for r in sel], seed=seed) if sel else None
        return out

    groups = sorted({r["group"] for r in rows})
    return {"all": block(rows), "by_group": {g: block([r for r in rows if r["group"] == g]) for g in groups}}


def evaluate_conflict(cfg: EvalConfig, path: str | Path = CONFLICT_PATH, limit: int | None = None,
                      progress: bool = True) -> dict:  # fmt: skip
    """Generate, render, track and score the conflict phases (``limit``: that many, spread over the file)."""
    from ..render import analyze_face, load_portrait

    t0 = time.perf_counter()
    data = load_conflict(path)
    ds = eval_dataset(cfg)
    placed = _subset(place(data, ds), limit, len(data["phases"]))
    portraits = _portraits(cfg)
    faces = {p: analyze_face(load_portrait(p)) for p in portraits}
    rows = []
    with tempfile.TemporaryDirectory(prefix="actavatar-conflict-") as tmp:
        for n, item in enumerate(placed):
            i, sample = item["clip"], ds[item["clip"]]
            portrait = portraits[n % len(portraits)]
            plan = PhasePlan(sample.plan.base, (item["phase"],))
            track, _ = track_clip(cfg, portrait, faces[portrait], sample.audio, sample.sample_rate, sample.fps,
                                  plan, i, Path(tmp))  # fmt: skip
            row = score_phase(track, sample, item)
            row["portrait"] = portrait.name
            rows.append(row)
            if progress:
                done = f"detected {row['detected']:.0f}, size {row['amplitude_rel']:.2f}"
                print(
                    f"[{n + 1}/{len(placed)}] {row['text']!r}: {done}, lip r {row['lip_sync_in_phase']:.2f}",
                    flush=True,
                )
    summary = summarize_conflict(rows, seed=cfg.seed)
    summary.update(settings_summary(cfg, portraits))
    summary.update({"split": "conflict", "schedule": cfg.schedule, "clips": len(rows),
                    "seconds": round(time.perf_counter() - t0, 1)})  # fmt: skip
    return {"summary": summary, "phases": rows}


def conflict_markdown(summary: dict) -> str:
    lines = ["| phases | n | action rate ↑ | size ÷ threshold | lip r in phase ↑ |", "|---|---|---|---|---|"]
    for name, block in [("all", summary["all"]), *summary["by_group"].items()]:
        cells = [stats.format_ci(block[k], "{:.2f}") if block[k] else "–" for k in METRICS]
        lines.append(f"| {name} | {block['phases']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_conflict_results(result: dict, out: Path) -> None:
    from ..api import write_json_atomic

    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out / "results.json", result)
    (out / "results.md").write_text(conflict_markdown(result["summary"]) + "\n", encoding="utf-8")
