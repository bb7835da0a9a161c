"""``python -m actavatar eval --real DIR``: lip sync and mouth closure on real recorded speech, from rendered pixels.

``DIR`` is a set built by ``scripts/real_speech_set.py`` (``manifest.json``: clean clips, degraded conditions and each
clean clip's ground-truth pauses). For every selected file the shipped model (or ``--checkpoint``) makes a video
through the public API (``actavatar.api.generate(portrait, audio, plan, out=mp4, report=json)``): once with an empty
phase plan and, with ``action_pass``, once more with one action phase ("raises her eyebrows in surprise") over a
2.5 s window centred on one of the clip's pauses, to see whether the mouth still closes in a pause while the face
acts. Portraits rotate over ``examples/portraits`` by source clip (all conditions of a clip get the same portrait and
seed, so conditions differ only by their sound).

Motion is read back from the mp4's pixels by ``render.extract_motion(..., calibrated=True)``, never taken from the
generator. As in ``evaluate.py`` the tracker gets ``neutral_lead_frames`` frames of the portrait at rest before the
clip (its neutral reference; dropped after extraction): they are rendered and encoded like the API's video, and the
two are joined losslessly (FFV1), so the tracker sees the API's decoded pixels unchanged.

Scores per file:

- ``lip_sync_corr`` / ``lip_sync_lag_ms``: ``metrics.lip_sync`` (Pearson r of the mouth opening with the loudness
  envelope at the best lag within +-200 ms). The envelope is always that of the **clean** source recording, also for
  degraded conditions: it is the truth of when the person speaks, which the added noise, music or reverb is not.
- pause closure: for each ground-truth pause of the clean recording (``speech_conditions.pause_truth``), the share
  of its frames whose smoothed ``jaw_open`` is below the threshold of ``metrics.mouth_closed_on_silence`` (0.1 in
  calibrated units, i.e. a lip gap under ~0.035 face heights), skipping the same margin (0.1 s) after the sound stops
  and before it starts again (not at the clip's edges). A pause counts as closed when at least half of those frames
  are. ``pause_closed_share`` = closed pauses / pauses; ``pause_closed_frames`` = the frame-level share.
"""

from __future__ import annotations

import inspect
import json
import math
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from .. import defaults
from ..errors import InputError
from ..motion import MOTION_DIM, MOTION_INDEX
from . import metrics
from .evaluate import _finite
from .evaluate import _nanmean as _mean
from .evaluate import _nanmedian as _median

SPLITS = ("dev", "test", "all")
_CLOSED = inspect.signature(metrics.mouth_closed_on_silence).parameters
CLOSED_THRESHOLD = float(_CLOSED["threshold"].default)  # jaw_open below this = mouth closed (same as that metric)
CLOSED_MARGIN_S = float(_CLOSED["margin_s"].default)  # the mouth closes just after the sound stops
MIN_CLOSED_SHARE = 0.5  # a pause is "closed" when the mouth is closed on at least half of its frames
MIN_PAUSE_S = 0.3


@dataclass
class RealSpeechConfig:
    data_dir: str
    split: str = "dev"  # "dev", "test" (held out of every tuning choice) or "all"
    conditions: tuple[str, ...] = ()  # default: every condition in the manifest
    clip_ids: tuple[str, ...] = ()  # default: every clip of the split
    checkpoint: str | None = None
    portraits: tuple[str, ...] = ()
    steps: int = defaults.STEPS
    guidance_min_sigma: float = defaults.GUIDANCE_MIN_SIGMA
    text_guidance: float = defaults.TEXT_GUIDANCE
    audio_guidance: float = defaults.AUDIO_GUIDANCE
    mirror_sampling: bool = defaults.MIRROR_SAMPLING
    size: int = 384
    fps: float = 25.0
    paca: str | None = None
    schedule: str | None = None
    label: str = ""
    neutral_lead_frames: int = 5
    action_pass: bool = True
    action_text: str = "raises her eyebrows in surprise"
    action_label: str = "raise_eyebrows"  # its label in metrics (for the detection figure)
    action_window_s: float = 2.5
    max_seconds: float | None = None  # cut every clip (and its pauses) to this length: quick runs and tests
    videos_dir: str | None = None  # keep the API's mp4s (and reports) here


# ---------------------------------------------------------------------------------------------------- manifest
def load_manifest(data_dir: str | Path) -> dict:
    path = Path(data_dir) / "manifest.json"
    if not path.is_file():
        raise InputError(
            f"No manifest.json in {data_dir}: build the set with python scripts/real_speech_set.py --out {data_dir}"
        )
    doc = json.loads(path.read_text(encoding="utf-8"))
    if "items" not in doc or "sources" not in doc:
        raise InputError(f"{path} is not a real-speech manifest (no 'items'/'sources'): rebuild it.")
    return doc


def select_items(doc: dict, split: str, conditions=(), clip_ids=()) -> list[dict]:
    if split not in SPLITS:
        raise InputError(f"Unknown split {split!r} for --real: use dev, test or all.")
    known = {i["condition"] for i in doc["items"]}
    unknown = set(conditions) - known
    if unknown:
        raise InputError(f"Unknown condition(s) {', '.join(sorted(unknown))}: the set has {', '.join(sorted(known))}.")
    ids = {s["id"] for s in doc["sources"]}
    missing = set(clip_ids) - ids
    if missing:
        raise InputError(f"Clip(s) {', '.join(sorted(missing))} not in {len(ids)} clips of the set.")
    items = [
        i
        for i in doc["items"]
        if (split == "all" or i["split"] == split)
        and (not conditions or i["condition"] in conditions)
        and (not clip_ids or i["clip"] in clip_ids)
    ]
    if not items:
        raise InputError(f"No files of split {split!r} match the chosen conditions and clips.")
    return items


def _cut_regions(regions, end: float, min_len: float = 0.0) -> list[list[float]]:
    out = []
    for a, b in regions:
        if a < end:
            b = min(b, end)
            if b - a >= min_len - 1e-9:
                out.append([a, b])
    return out


def action_window(pauses, duration: float, length: float) -> tuple[float, float] | None:
    """A ``length`` s window centred on the clip's longest interior pause (else its longest pause), inside the
    clip; None without pauses."""
    if not pauses:
        return None
    interior = [p for p in pauses if p[0] > 0.0 and p[1] < duration - 1e-6]
    a, b = max(interior or pauses, key=lambda p: p[1] - p[0])
    length = min(length, duration)
    start = min(max(0.5 * (a + b) - 0.5 * length, 0.0), duration - length)
    return round(start, 2), round(min(start + length, duration), 2)


# ------------------------------------------------------------------------------------------------------ scores
def _frames(num: int, fps: float, start: float, end: float) -> np.ndarray:
    mid = (np.arange(num) + 0.5) / fps
    return (mid >= start) & (mid < end)


def pause_closure(jaw_open: np.ndarray, fps: float, pauses, duration: float) -> list[dict]:
    """Per ground-truth pause: ``closed_frames`` (share of its frames with the mouth closed, margins skipped),
    ``closed`` (at least ``MIN_CLOSED_SHARE`` of them) and the median ``jaw_open``; see the module docstring."""
    jaw = metrics.smooth(np.asarray(jaw_open, dtype=np.float64).reshape(-1))
    out = []
    for a, b in pauses:
        lo = a + (CLOSED_MARGIN_S if a > 1e-6 else 0.0)
        hi = b - (CLOSED_MARGIN_S if b < duration - 1e-6 else 0.0)
        sel = _frames(len(jaw), fps, lo, hi)
        if not sel.any():
            sel = _frames(len(jaw), fps, a, b)
        if not sel.any():
            continue
        share = float((jaw[sel] < CLOSED_THRESHOLD).mean())
        out.append(
            {
                "start": a,
                "end": b,
                "closed_frames": share,
                "closed": share >= MIN_CLOSED_SHARE,
                "jaw_median": float(np.median(jaw[sel])),
            }
        )
    return out


def score_track(motion: np.ndarray, fps: float, clean: np.ndarray, sr: int, pauses, speech, duration: float) -> dict:
    jaw = motion[:, MOTION_INDEX["jaw_open"]]
    corr, lag = metrics.lip_sync(jaw, clean, sr, fps)  # the clean recording's envelope: when the person speaks
    per_pause = pause_closure(jaw, fps, pauses, duration)
    sm = metrics.smooth(np.asarray(jaw, dtype=np.float64))
    in_speech = np.zeros(len(sm), bool)
    for a, b in speech:
        in_speech |= _frames(len(sm), fps, a, b)
    n_frames = sum(int(_frames(len(sm), fps, p["start"], p["end"]).sum()) for p in per_pause)
    closed_frames = sum(p["closed_frames"] * int(_frames(len(sm), fps, p["start"], p["end"]).sum()) for p in per_pause)
    return {
        "lip_sync_corr": corr,
        "lip_sync_lag_ms": lag,
        "pauses": per_pause,
        "num_pauses": len(per_pause),
        "pause_closed_share": float(np.mean([p["closed"] for p in per_pause])) if per_pause else math.nan,
        "pause_closed_frames": closed_frames / n_frames if n_frames else math.nan,
        "jaw_speech_mean": float(sm[in_speech].mean()) if in_speech.any() else math.nan,
        "jaw_pause_mean": float(np.mean([p["jaw_median"] for p in per_pause])) if per_pause else math.nan,
    }


# ------------------------------------------------------------------------------------------------ video -> motion
def _tracking_video(video: Path, lead_video: Path | None, out: Path) -> Path:
    """``lead_video`` + ``video`` (video streams only) as one lossless FFV1 file: the decoded pixels of both."""
    if lead_video is None:
        return video
    from ..render.mux import ffmpeg_exe

    cmd = [ffmpeg_exe(), "-v", "error", "-nostdin", "-y", "-i", str(lead_video), "-i", str(video)]
    cmd += ["-filter_complex", "[0:v][1:v]concat=n=2:v=1:a=0[v]", "-map", "[v]", "-c:v", "ffv1", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"ffmpeg could not join the lead frames to {video.name}: {proc.stderr.strip()[-300:]}")
    return out


# ---------------------------------------------------------------------------------------------------- evaluate
def _portrait_paths(cfg: RealSpeechConfig) -> list[Path]:
    from .evaluate import EvalConfig, _portraits

    return _portraits(EvalConfig(portraits=cfg.portraits))


def evaluate_real(cfg: RealSpeechConfig, progress: bool = True) -> dict:
    """Generate every selected file (a plain pass, and with ``action_pass`` one with an action in a long pause),
    track the rendered videos and score lip sync and closed pauses. Returns {"summary": ..., "clips": rows}."""
    from ..render import PortraitRenderer, analyze_face, load_portrait, write_video

    t0 = time.perf_counter()
    root = Path(cfg.data_dir)
    doc = load_manifest(root)
    items = select_items(doc, cfg.split, cfg.conditions, cfg.clip_ids)
    order = {s["id"]: k for k, s in enumerate(doc["sources"])}  # stable portrait / seed per source clip
    portraits = _portrait_paths(cfg)
    lead = max(0, int(cfg.neutral_lead_frames))
    per_item: list[dict] = []
    videos = Path(cfg.videos_dir) if cfg.videos_dir else None
    if videos:
        videos.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="actavatar-real-") as tmp:
        tmp = Path(tmp)
        leads: dict[Path, Path | None] = {}
        for n, item in enumerate(items):
            k = order[item["clip"]]
            portrait = portraits[k % len(portraits)]
            if portrait not in leads:
                leads[portrait] = None
                if lead:
                    image = load_portrait(portrait)
                    renderer = PortraitRenderer(image, analyze_face(image), size=cfg.size)
                    still = np.zeros((lead, MOTION_DIM), np.float32)
                    leads[portrait] = write_video(
                        renderer.render_all(still), tmp / f"lead-{len(leads)}.mp4", cfg.fps, num_frames=lead
                    )
            audio = _item_audio(cfg, root, item, tmp / f"cut{n}.wav")
            plans = [("plain", None, None)]
            window = action_window(audio.pauses, audio.duration, cfg.action_window_s) if cfg.action_pass else None
            if window is not None:
                plan = {"base": "", "phases": [{"start": window[0], "end": window[1], "text": cfg.action_text}]}
                plans.append(("action", plan, window))
            for pass_name, plan, win in plans:
                out_dir = videos or tmp
                row = _score_pass(cfg, item, audio, portrait, k, pass_name, plan, win, out_dir, leads[portrait], tmp)
                per_item.append(row)
                if progress:
                    extra = f", action {'seen' if row['action']['detected'] else 'missed'}" if win else ""
                    print(
                        f"[{n + 1}/{len(items)}] {item['id']} {pass_name} ({portrait.name}): lip r="
                        f"{row['lip_sync_corr']:.2f} at {row['lip_sync_lag_ms']:+.0f} ms, pauses closed "
                        f"{_fmt(row['pause_closed_share'], '{:.0%}')} of {row['num_pauses']}{extra}",
                        flush=True,
                    )
    summary = _real_summary(cfg, items, portraits, lead, per_item)
    summary["seconds"] = round(time.perf_counter() - t0, 1)
    return {"summary": summary, "clips": per_item}


@dataclass
class _ItemAudio:
    """One file's audio as scored: its path (cut to ``max_seconds`` if longer), the clean speech and its regions."""

    path: Path
    clean: np.ndarray
    sr: int
    duration: float
    pauses: list
    speech: list


def _item_audio(cfg: RealSpeechConfig, root: Path, item: dict, cut_path: Path) -> _ItemAudio:
    """The file's audio and the clean speech it was made from, cut to ``cfg.max_seconds`` (written to
    ``cut_path``) with the pause and speech regions cut to match."""
    clean, sr = sf.read(root / item["clean_file"], dtype="float32")
    audio_path = root / item["file"]
    duration = len(clean) / sr
    pauses, speech = item["pauses"], item["speech"]
    if cfg.max_seconds and duration > cfg.max_seconds:
        duration = float(cfg.max_seconds)
        wave, wsr = sf.read(audio_path, dtype="float32")
        audio_path = cut_path
        sf.write(audio_path, wave[: int(round(duration * wsr))], wsr)
        clean = clean[: int(round(duration * sr))]
        pauses = _cut_regions(pauses, duration, MIN_PAUSE_S)
        speech = _cut_regions(speech, duration)
    return _ItemAudio(audio_path, clean, sr, duration, pauses, speech)


def _score_pass(cfg, item, audio: _ItemAudio, portrait: Path, k: int, pass_name, plan, win, out_dir, lead_video, tmp):
    """Generate one pass of one file, track the video (after the neutral lead frames, if any) and score it: one row
    of the per-file results."""
    from ..api import generate
    from ..render import extract_motion
    from .evaluate import generate_options

    lead = max(0, int(cfg.neutral_lead_frames))
    stem = f"{item['clip']}@{item['condition']}@{pass_name}"
    mp4, report = out_dir / f"{stem}.mp4", out_dir / f"{stem}.json"
    result = generate(portrait, audio.path, plan, out=mp4, report=report, seed=k, fps=cfg.fps, **generate_options(cfg))
    track = extract_motion(
        _tracking_video(mp4, lead_video, tmp / "track.mkv"), calibrated=True
    )  # our renderer's pixels: undo mediapipe's measured under-reading, as evaluate.py does
    values = np.asarray(track.values[lead if lead_video else 0 :], np.float32)
    values = values[: int(result.report["num_frames"])]
    scores = score_track(values, track.fps, audio.clean, audio.sr, audio.pauses, audio.speech, audio.duration)
    row = {
        "id": item["id"],
        "clip": item["clip"],
        "condition": item["condition"],
        "split": item["split"],
        "pass": pass_name,
        "portrait": portrait.name,
        "seed": k,
        "duration_s": round(audio.duration, 3),
        "frames": len(values),
        **scores,
    }
    if win is not None:
        covered = [p for p in scores["pauses"] if p["start"] < win[1] and p["end"] > win[0]]
        row["action"] = {
            "text": cfg.action_text,
            "start": win[0],
            "end": win[1],
            "detected": bool(metrics.detect_action(values, track.fps, cfg.action_label, *win)),
            "pauses_in_window": len(covered),
            "pause_closed_share": float(np.mean([p["closed"] for p in covered])) if covered else math.nan,
        }
    return row


def _real_summary(cfg: RealSpeechConfig, items: list[dict], portraits: list[Path], lead: int, per_item) -> dict:
    """The run's settings and headline numbers (the synthetic eval's column names, over the plain pass)."""
    rows = summarize_real(per_item)
    plain = [r for r in per_item if r["pass"] == "plain"]
    return {
        "label": cfg.label or (cfg.checkpoint or "shipped"),
        "kind": "real_speech",
        "data_dir": str(cfg.data_dir),
        "split": cfg.split,
        "conditions": sorted({i["condition"] for i in items}),
        "clips": len({i["clip"] for i in items}),
        "files": len(items),
        "portraits": [p.name for p in portraits],
        "neutral_lead_frames": lead,
        "steps": int(cfg.steps),
        "guidance_min_sigma": float(cfg.guidance_min_sigma),
        "text_guidance": float(cfg.text_guidance),
        "audio_guidance": float(cfg.audio_guidance),
        "mirror_sampling": bool(cfg.mirror_sampling),
        "size": int(cfg.size),
        "action_pass": bool(cfg.action_pass),
        "action_text": cfg.action_text if cfg.action_pass else None,
        "max_seconds": cfg.max_seconds,
        # The synthetic eval's column names, for ``eval --table``: every file of the plain pass.
        "lip_sync_corr": _mean([r["lip_sync_corr"] for r in plain]),
        "lip_sync_lag_ms": _median([r["lip_sync_lag_ms"] for r in plain]),
        "mouth_closed_on_silence": _pooled(plain),
        "rows": rows,
    }


# --------------------------------------------------------------------------------------------------- summaries
def _pooled(rows: list[dict]) -> float:
    flags = [p["closed"] for r in rows for p in r["pauses"]]
    return float(np.mean(flags)) if flags else math.nan


def _stats(rows: list[dict]) -> dict:
    lags = _finite(r["lip_sync_lag_ms"] for r in rows)
    out = {
        "files": len(rows),
        "lip_r_mean": _mean(r["lip_sync_corr"] for r in rows),
        "lip_r_min": min(_finite(r["lip_sync_corr"] for r in rows), default=math.nan),
        "abs_lag_ms_mean": float(np.mean(np.abs(lags))) if lags else math.nan,
        "pauses": sum(r["num_pauses"] for r in rows),
        "pause_closed_share": _pooled(rows),  # closed pauses / pauses, pooled over the files
        "pause_closed_frames": _mean(r["pause_closed_frames"] for r in rows),
    }
    acted = [r["action"] for r in rows if "action" in r]
    if acted:
        out["action_detected"] = float(np.mean([a["detected"] for a in acted]))
        out["action_pause_closed_share"] = _mean(a["pause_closed_share"] for a in acted)
    return out


def summarize_real(per_item: list[dict]) -> list[dict]:
    """One row per (pass, condition, split), plus each pass's rows over all conditions (condition "all") and over
    both splits (split "all") where the files span more than one."""
    rows = []
    passes = list(dict.fromkeys(r["pass"] for r in per_item))
    conditions = list(dict.fromkeys(r["condition"] for r in per_item))
    splits = sorted({r["split"] for r in per_item})
    for ps in passes:
        for cond in [*conditions, "all"]:
            for split in [*splits, "all"] if len(splits) > 1 else splits:
                sel = [
                    r
                    for r in per_item
                    if r["pass"] == ps
                    and (cond == "all" or r["condition"] == cond)
                    and (split == "all" or r["split"] == split)
                ]
                if sel:
                    rows.append({"pass": ps, "condition": cond, "split": split, **_stats(sel)})
    return rows


def _fmt(v, fmt: str) -> str:
    return "–" if v is None or (isinstance(v, float) and not math.isfinite(v)) else fmt.format(v)


REAL_COLUMNS = [
    ("pass", "pass", "{}"),
    ("condition", "condition", "{}"),
    ("split", "split", "{}"),
    ("files", "files", "{}"),
    ("lip_r_mean", "lip r mean ↑", "{:.2f}"),
    ("lip_r_min", "lip r min ↑", "{:.2f}"),
    ("abs_lag_ms_mean", "mean abs lag ms ↓", "{:.0f}"),
    ("pauses", "pauses", "{}"),
    ("pause_closed_share", "pauses closed ↑", "{:.0%}"),
    ("pause_closed_frames", "pause frames closed ↑", "{:.0%}"),
    ("action_detected", "action seen", "{:.0%}"),
    ("action_pause_closed_share", "closed in action window ↑", "{:.0%}"),
]


def real_markdown_table(summary: dict) -> str:
    lines = [
        f"**{summary['label']}**: {summary['clips']} clips, {summary['files']} files, split {summary['split']}, "
        f"{summary['seconds']:.0f} s",
        "",
        "| " + " | ".join(c[1] for c in REAL_COLUMNS) + " |",
        "|" + "|".join("---" for _ in REAL_COLUMNS) + "|",
    ]
    for r in summary["rows"]:
        lines.append("| " + " | ".join(_fmt(r.get(k), f) for k, _, f in REAL_COLUMNS) + " |")
    return "\n".join(lines)


def real_clip_table(per_item: list[dict]) -> str:
    """Per clip and pass, one cell per condition: lip r / lag ms / closed pauses of all pauses."""
    conditions = list(dict.fromkeys(r["condition"] for r in per_item))
    keys = list(dict.fromkeys((r["clip"], r["split"], r["pass"]) for r in per_item))
    cells = {(r["clip"], r["pass"], r["condition"]): r for r in per_item}
    lines = [
        "| clip | split | pass | " + " | ".join(conditions) + " |",
        "|" + "|".join("---" for _ in range(3 + len(conditions))) + "|",
    ]
    for clip, split, ps in keys:
        row = []
        for cond in conditions:
            r = cells.get((clip, ps, cond))
            closed = sum(p["closed"] for p in r["pauses"]) if r else 0
            row.append(
                f"{_fmt(r['lip_sync_corr'], '{:.2f}')} / {_fmt(r['lip_sync_lag_ms'], '{:+.0f}')} / "
                f"{closed}/{r['num_pauses']}"
                if r
                else "–"
            )
        lines.append(f"| {clip} | {split} | {ps} | " + " | ".join(row) + " |")
    return "\n".join(lines)


def write_real_results(result: dict, out: Path) -> None:
    from ..results import write_json_atomic

    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out / "results.json", result)
    text = real_markdown_table(result["summary"]) + "\n\nPer clip (lip r / lag ms / pauses closed):\n\n"
    (out / "results.md").write_text(text + real_clip_table(result["clips"]) + "\n", encoding="utf-8")
