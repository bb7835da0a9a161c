"""``python -m actavatar eval``: generate a held-out set, render it, read motion back from the pixels, score it.

Every metric is computed on motion *extracted from the rendered mp4* by the landmark tracker
(``render.extract_motion``), never on the generator's own output. Clips rotate over the shipped portraits.
A ``ground truth`` row renders the synthetic reference motion through the same renderer and tracker: it is the
ceiling the measurement chain allows, so a model row can be read against it.
"""

from __future__ import annotations

import json
import math
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from .. import defaults
from ..errors import InputError
from ..motion import MOTION_INDEX
from . import metrics

PORTRAITS_DIR = Path(__file__).resolve().parents[2] / "examples" / "portraits"
SPEECH_LABELS_WITH_OPEN_MOUTH = {"laugh", "raise_eyebrows"}  # actions that open the jaw on purpose


@dataclass
class EvalConfig:
    checkpoint: str | None = None  # MotionDiT checkpoint folder (None = shipped); "ground-truth" renders references
    split: str = "heldout"  # "heldout" (never trained on) or "train" (training phrasings, fresh clips)
    clips: int = 24
    seed: int = 1234
    data_dir: str = "data/eval"
    portraits: tuple[str, ...] = ()  # image paths (default: every file in examples/portraits)
    steps: int = defaults.STEPS
    guidance_min_sigma: float = defaults.GUIDANCE_MIN_SIGMA
    text_guidance: float = defaults.TEXT_GUIDANCE
    audio_guidance: float = defaults.AUDIO_GUIDANCE
    mirror_sampling: bool = defaults.MIRROR_SAMPLING
    size: int = 384
    paca: str | None = None  # None: the mode the checkpoint was trained with
    schedule: str | None = None
    label: str = ""
    tracks_dir: str | None = None  # if set: save each clip's extracted motion there (clipNN.npy) for re-scoring
    # Frames of the portrait at rest rendered before each clip (and dropped after extraction). The extractor takes
    # its neutral face (and its pixel-tracking reference) from a video's first frames; a clip whose first phase
    # starts at 0 s ("closes her eyes" from frame 0) otherwise becomes its own neutral and reads as no action.
    # 0 = the generated clip alone.
    neutral_lead_frames: int = 5


def _portraits(cfg: EvalConfig) -> list[Path]:
    if cfg.portraits:
        return [Path(p) for p in cfg.portraits]
    found = sorted(p for p in PORTRAITS_DIR.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png", ".webp"))
    if not found:
        raise InputError(f"No portraits in {PORTRAITS_DIR}: add images or pass --portrait.")
    return found


def eval_dataset(cfg: EvalConfig):
    from ..training.synth import SYNTHESIS_VERSION, build_dataset, load_dataset

    root = Path(cfg.data_dir) / f"{cfg.split}-{cfg.clips}-{cfg.seed}-v{SYNTHESIS_VERSION}"
    if not (root / "manifest.json").is_file():
        build_dataset(root, cfg.clips, cfg.split, 2, seed=cfg.seed, shard_size=max(cfg.clips, 1))
    return load_dataset(root)


def score_clip(
    motion: np.ndarray, fps: float, audio: np.ndarray, sr: int, plan, labels: list[str], reference=None
) -> dict:
    """All docs/DESIGN.md metrics for one clip, from a (T, 14) motion track extracted from pixels; with the clip's
    ground-truth ``reference`` motion, also each action's size relative to it (``amplitude_ratio``)."""
    phases = [(label, p.start, p.end) for label, p in zip(labels, plan.phases, strict=True)]
    scored = metrics.score_phases(motion, fps, phases)
    jaw = motion[:, MOTION_INDEX["jaw_open"]]
    corr, lag = metrics.lip_sync(jaw, audio, sr, fps)
    open_mouth = [
        (p.start, p.end)
        for label, p in zip(labels, plan.phases, strict=True)
        if set(label.split("+")) & SPEECH_LABELS_WITH_OPEN_MOUTH
    ]
    closed = metrics.mouth_closed_on_silence(jaw, audio, sr, fps, exclude=open_mouth)
    still = [
        metrics.stability_jitter(motion, fps, p.start, p.end)
        for label, p in zip(labels, plan.phases, strict=True)
        if label == "stay_still"
    ]
    scores = {
        "phases": scored,
        "lip_sync_corr": corr,
        "lip_sync_lag_ms": lag,
        "mouth_closed_on_silence": closed,
        "still_jitter_deg": still,
        "jitter_deg": metrics.stability_jitter(motion, fps),
    }
    if reference is not None:
        scores["amplitude_ratio"] = metrics.amplitude_ratios(motion, reference, fps, phases)
    return scores


def _identity(video: Path, portrait_desc: np.ndarray, others: list[np.ndarray], skip: int = 0) -> dict:
    """Face-descriptor distance of the rendered clip's first frame (after ``skip`` lead frames) to its own
    portrait vs. to other portraits."""
    import cv2

    from ..render import analyze_face

    cap = cv2.VideoCapture(str(video))
    for _ in range(skip):
        cap.read()
    ok, frame = cap.read()
    cap.release()
    if not ok:
        return {"own": math.nan, "others": math.nan}
    try:
        desc = analyze_face(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)).descriptor
    except InputError:  # e.g. a turned or small face in the first frame: no identity figure for this clip
        return {"own": math.nan, "others": math.nan}
    own = float(np.linalg.norm(desc - portrait_desc))
    other = float(np.mean([np.linalg.norm(desc - o) for o in others])) if others else math.nan
    return {"own": own, "others": other}


def generate_options(cfg) -> dict:
    """The sampling settings of an evaluation config (``EvalConfig``, ``RealSpeechConfig``) as ``generate`` takes
    them."""
    keys = ("steps", "guidance_min_sigma", "text_guidance", "audio_guidance", "mirror_sampling", "size", "paca")
    return {**{k: getattr(cfg, k) for k in keys}, "schedule": cfg.schedule, "checkpoint": cfg.checkpoint}


def track_clip(
    cfg: EvalConfig,
    portrait: Path,
    face,
    audio: np.ndarray,
    sr: int,
    fps: float,
    plan,
    index: int,
    tmp: Path,
    reference: np.ndarray | None = None,
):
    """Generate one clip (or take ``reference`` for the ground-truth row), render it after the neutral lead frames
    exactly as ``generate(out=...)`` would, and read its motion back from the mp4. Returns (track, video path)."""
    from ..api import generate
    from ..render import PortraitRenderer, extract_motion, load_portrait, write_video

    wav, video = tmp / f"clip{index}.wav", tmp / f"clip{index}.mp4"
    sf.write(wav, audio, sr)
    lead = max(0, int(cfg.neutral_lead_frames))
    if cfg.checkpoint == "ground-truth":
        motion = reference
    else:
        motion = generate(portrait, wav, plan, out=None, seed=index, fps=fps, **generate_options(cfg)).motion
    renderer = PortraitRenderer(load_portrait(portrait), face, size=cfg.size)
    padded = np.concatenate([np.zeros((lead, motion.shape[1]), np.float32), motion]).astype(np.float32)
    write_video(renderer.render_all(padded), video, fps, num_frames=len(padded))
    track = extract_motion(video, calibrated=True)  # our renderer's pixels: undo mediapipe's under-reading
    if lead:
        track.values = track.values[lead:]
    if cfg.tracks_dir:
        Path(cfg.tracks_dir).mkdir(parents=True, exist_ok=True)
        np.save(Path(cfg.tracks_dir) / f"clip{index:02d}.npy", np.asarray(track.values, np.float32))
    return track, video


def settings_summary(cfg: EvalConfig, portraits: list[Path]) -> dict:
    return {
        "label": cfg.label or (cfg.checkpoint or "shipped"),
        "portraits": [p.name for p in portraits],
        "neutral_lead_frames": int(cfg.neutral_lead_frames),
        "steps": int(cfg.steps),
        "guidance_min_sigma": float(cfg.guidance_min_sigma),
        "text_guidance": float(cfg.text_guidance),
        "audio_guidance": float(cfg.audio_guidance),
        "mirror_sampling": bool(cfg.mirror_sampling),
    }


def evaluate(cfg: EvalConfig, progress: bool = True) -> dict:
    from ..render import analyze_face, load_portrait

    t0 = time.perf_counter()
    ds = eval_dataset(cfg)
    portraits = _portraits(cfg)
    faces = {p: analyze_face(load_portrait(p)) for p in portraits}
    per_clip = []
    with tempfile.TemporaryDirectory(prefix="actavatar-eval-") as tmp:
        for i in range(len(ds)):
            sample = ds[i]
            portrait = portraits[i % len(portraits)]
            track, video = track_clip(
                cfg, portrait, faces[portrait], sample.audio, sample.sample_rate, sample.fps, sample.plan, i,
                Path(tmp), sample.motion,
            )  # fmt: skip
            scores = score_clip(
                track.values, track.fps, sample.audio, sample.sample_rate, sample.plan, sample.actions, sample.motion
            )
            others = [faces[p].descriptor for p in portraits if p != portrait]
            scores["identity"] = _identity(video, faces[portrait].descriptor, others, skip=cfg.neutral_lead_frames)
            scores["portrait"] = portrait.name
            per_clip.append(scores)
            if progress:
                hit = np.mean([p["detected"] for p in scores["phases"]]) if scores["phases"] else math.nan
                print(
                    f"[{i + 1}/{len(ds)}] {portrait.name}: phases {hit:.2f}, lip r={scores['lip_sync_corr']:.2f}",
                    flush=True,
                )
    summary = summarize(per_clip)
    summary.update(settings_summary(cfg, portraits))
    summary.update({"split": cfg.split, "clips": len(ds), "seconds": round(time.perf_counter() - t0, 1)})
    return {"summary": summary, "clips": per_clip}


def _finite(values) -> list[float]:
    return [float(v) for v in values if v is not None and math.isfinite(float(v))]


def _nanmean(values) -> float:
    values = _finite(values)
    return float(np.mean(values)) if values else math.nan


def _nanmedian(values) -> float:
    values = _finite(values)
    return float(np.median(values)) if values else math.nan


def _nanpercentile(values, q: float) -> float:
    values = _finite(values)
    return float(np.percentile(values, q)) if values else math.nan


def summarize(per_clip: list[dict]) -> dict:
    phases = [p for c in per_clip for p in c["phases"]]
    by_label: dict[str, list[bool]] = {}
    for p in phases:
        by_label.setdefault(p["label"], []).append(bool(p["detected"]))
    return {
        "phase_accuracy": _nanmean([float(p["detected"]) for p in phases]),
        "leakage_median": _nanmedian([p["leakage"] for p in phases]),
        "leakage_mean": _nanmean([p["leakage"] for p in phases]),
        "onset_error_ms_median": _nanmedian([abs(p["onset_ms"]) for p in phases if p["detected"]]),
        "lip_sync_corr": _nanmean([c["lip_sync_corr"] for c in per_clip]),
        "lip_sync_lag_ms": _nanmedian([c["lip_sync_lag_ms"] for c in per_clip]),
        "mouth_closed_on_silence": _nanmean([c["mouth_closed_on_silence"] for c in per_clip]),
        "identity_own": _nanmean([c["identity"]["own"] for c in per_clip]),
        "identity_others": _nanmean([c["identity"]["others"] for c in per_clip]),
        "still_jitter_deg": _nanmean([j for c in per_clip for j in c["still_jitter_deg"]]),
        "jitter_deg": _nanmean([c["jitter_deg"] for c in per_clip]),
        "num_phases": len(phases),
        # Action size from pixels ÷ the clip's ground-truth (synthetic) size: ~1 natural, >1 exaggerated.
        "amplitude_ratio_median": _nanmedian([r for c in per_clip for _, r in c.get("amplitude_ratio", [])]),
        "amplitude_ratio_p90": _nanpercentile([r for c in per_clip for _, r in c.get("amplitude_ratio", [])], 90),
        "accuracy_by_action": {k: round(float(np.mean(v)), 3) for k, v in sorted(by_label.items())},
    }


COLUMNS = [
    ("label", "row", "{}"),
    ("phase_accuracy", "phase acc. ↑", "{:.1%}"),
    ("leakage_median", "leakage ↓", "{:.2f}"),
    ("onset_error_ms_median", "onset ms ↓", "{:.0f}"),
    ("lip_sync_corr", "lip r ↑", "{:.2f}"),
    ("lip_sync_lag_ms", "lag ms", "{:+.0f}"),
    ("mouth_closed_on_silence", "closed on silence ↑", "{:.0%}"),
    ("identity_own", "id. dist own ↓", "{:.2f}"),
    ("identity_others", "id. dist others", "{:.2f}"),
    ("still_jitter_deg", "still jitter °", "{:.2f}"),
    ("amplitude_ratio_median", "size ÷ truth", "{:.2f}"),
    ("amplitude_ratio_p90", "size p90", "{:.2f}"),
]


def markdown_table(rows: list[dict]) -> str:
    head = "| " + " | ".join(c[1] for c in COLUMNS) + " |"
    sep = "|" + "|".join("---" for _ in COLUMNS) + "|"
    lines = [head, sep]
    for r in rows:
        cells = []
        for key, _, fmt in COLUMNS:
            v = r.get(key)
            cells.append("–" if v is None or (isinstance(v, float) and math.isnan(v)) else fmt.format(v))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_results(result: dict, out: Path) -> None:
    from ..results import write_json_atomic

    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out / "results.json", result)
    (out / "results.md").write_text(markdown_table([result["summary"]]) + "\n", encoding="utf-8")


def collect_table(paths: list[Path]) -> str:
    rows = [json.loads(Path(p).read_text())["summary"] for p in paths]
    return markdown_table(rows)
