"""``python -m actavatar eval --external``: the frozen external phrasings, performed and scored from pixels.

``external_phrasings.json`` (next to this file) was written once, from descriptions of the motions and without
seeing the training bank, in styles people type (imperatives, noun phrases, figurative wording, typos, counts,
negations, combinations...). Nothing in it is trained on or tuned against.

Each phase text is put on a held-out synthetic clip (its speech and its phase windows, the texts replaced in file
order), the clip is generated, rendered, and its motion read back from the mp4 as in ``evaluate``. Per phase:
detected or not (a side-free text such as "looks away" must go to the side that the seed picked and the report
names, ``reader.pick_sides``; either side where the reader did not read the action), the repetitions counted
from the pixels where the text states a count, the action's size where it asks for a small or large one, and the
motion in channels the text did not ask for (``metrics.off_target``). Results are reported per style.
"""

from __future__ import annotations

import json
import math
import tempfile
import time
from pathlib import Path

import numpy as np

from ..phases import Phase, PhasePlan
from . import metrics
from .evaluate import (
    EvalConfig,
    _nanmean,
    _nanmedian,
    _portraits,
    eval_dataset,
    score_clip,
    settings_summary,
    track_clip,  # fmt: skip
)

EXTERNAL_PATH = Path(__file__).resolve().with_name("external_phrasings.json")
COUNT_PERIOD_S = 0.4  # a stated count is scored only where the window holds that many repetitions at this period


def load_external(path: str | Path = EXTERNAL_PATH) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def assign(phases: list[dict], ds) -> list[tuple[int, list[tuple[Phase, dict]]]]:
    """The external phases, in file order, on the windows of the dataset's clips: [(clip, [(phase, entry)])]."""
    out, k = [], 0
    for i in range(len(ds)):
        if k >= len(phases):
            break
        windows = []
        for p in ds[i].plan.phases:
            if k >= len(phases):
                break
            windows.append((Phase(p.start, p.end, phases[k]["text"]), phases[k]))
            k += 1
        out.append((i, windows))
    if k < len(phases):
        raise ValueError(f"{len(phases) - k} external phases left over: evaluate with more --clips")
    return out


def picked_sides(plan: PhasePlan, labels: list[str], seed: int) -> list[str]:
    """``labels`` with each side-free part ("turn") given the side that ``generate(seed=seed)`` picks for it and
    reports (``reader.pick_sides``); a part the reader did not read as that action stays side-free."""
    from ..reader import pick_sides, read_phases

    _, readings = pick_sides(plan, read_phases([p.text for p in plan.phases]), seed)
    out = []
    for label, reading in zip(labels, readings, strict=True):
        sides = {a.action: a.side for a in reading.actions if a.side_picked}
        out.append("+".join(f"{part}_{sides[part]}" if part in sides else part for part in label.split("+")))
    return out


def _phase_extras(track, entry: dict, phase: Phase, performed_as: str) -> dict:
    extras = {"style": entry["style"], "text": entry["text"]}
    count = entry.get("count")
    countable = [p for p in performed_as.split("+") if metrics.action_signature(p)[0].pattern in
                 metrics.COUNTABLE_PATTERNS]  # fmt: skip
    if count and countable and phase.end - phase.start >= count * COUNT_PERIOD_S:
        extras["count_asked"] = int(count)
        extras["count_done"] = metrics.count_repetitions(track.values, track.fps, countable[0], phase.start,
                                                         phase.end)  # fmt: skip
    extras["size_asked"] = entry.get("intensity", "")
    amplitudes = metrics.action_amplitudes(track.values, track.fps, [(performed_as, phase.start, phase.end)])
    extras["amplitude"] = [[p, a] for p, a in amplitudes]
    extras["off_target"] = metrics.off_target(track.values, track.fps, performed_as, phase.start, phase.end)
    return extras


def evaluate_external(cfg: EvalConfig, path: str | Path = EXTERNAL_PATH, progress: bool = True) -> dict:
    from ..render import analyze_face, load_portrait

    t0 = time.perf_counter()
    data = load_external(path)
    ds = eval_dataset(cfg)
    plan_of = assign(data["phases"], ds)
    portraits = _portraits(cfg)
    faces = {p: analyze_face(load_portrait(p)) for p in portraits}
    per_clip = []
    with tempfile.TemporaryDirectory(prefix="actavatar-eval-") as tmp:
        for n, (i, windows) in enumerate(plan_of):
            sample = ds[i]
            plan = PhasePlan(sample.plan.base, tuple(p for p, _ in windows))
            labels = picked_sides(plan, [e["label"] for _, e in windows], seed=i)  # track_clip's seed
            portrait = portraits[i % len(portraits)]
            track, _ = track_clip(cfg, portrait, faces[portrait], sample.audio, sample.sample_rate, sample.fps,
                                  plan, i, Path(tmp))  # fmt: skip
            scores = score_clip(track.values, track.fps, sample.audio, sample.sample_rate, plan, labels)
            for scored, (phase, entry) in zip(scores["phases"], windows, strict=True):
                scored.update(_phase_extras(track, entry, phase, scored["performed_as"]))
            scores["portrait"] = portrait.name
            per_clip.append(scores)
            if progress:
                hit = np.mean([p["detected"] for p in scores["phases"]])
                print(f"[{n + 1}/{len(plan_of)}] {portrait.name}: phases {hit:.2f}", flush=True)
    summary = summarize_external(per_clip)
    summary.update(settings_summary(cfg, portraits))
    summary.update({"split": "external", "clips": len(per_clip), "seconds": round(time.perf_counter() - t0, 1)})
    return {"summary": summary, "clips": per_clip}


def _size_effect(phases: list[dict]) -> dict:
    """Median amplitude of small-, normal- and large-asked phases, per atomic action, as a ratio to normal."""
    by: dict[str, dict[str, list[float]]] = {}
    for p in phases:
        if p["style"] == "combination":
            continue
        for part, amp in p["amplitude"]:
            by.setdefault(part, {}).setdefault(p["size_asked"] or "normal", []).append(amp)
    out = {}
    for part, sizes in sorted(by.items()):
        normal = _nanmedian(sizes.get("normal", []))
        if not math.isfinite(normal) or normal <= 0:
            continue
        out[part] = {k: round(_nanmedian(v) / normal, 2) for k, v in sizes.items() if k != "normal"}
    small = [r["small"] for r in out.values() if "small" in r]
    large = [r["large"] for r in out.values() if "large" in r]
    return {"by_action": out, "small_median": _nanmedian(small), "large_median": _nanmedian(large)}


def _off_target_summary(phases: list[dict]) -> dict:
    """Median head range (10–90 %, degrees) inside single-action phases that do not move the head, per action, as
    a ratio to the median head range of the stay-still phases (the issue's bound: ≤ 3×)."""
    still = _nanmedian([p["off_target"].get("head_deg") for p in phases if p["label"] == "stay_still"])
    by: dict[str, list[float]] = {}
    for p in phases:
        if "+" not in p["performed_as"] and p["label"] != "stay_still" and "head_deg" in p["off_target"]:
            by.setdefault(p["performed_as"], []).append(p["off_target"]["head_deg"])
    heads = {k: _nanmedian(v) for k, v in sorted(by.items())}
    ratios = {k: round(v / still, 2) for k, v in heads.items()} if still and math.isfinite(still) else {}
    return {
        "still_head_deg": still,
        "head_deg_by_action": {k: round(v, 2) for k, v in heads.items()},
        "ratio_to_still": ratios,
        "worst_ratio": max(ratios.values()) if ratios else math.nan,
    }


def summarize_external(per_clip: list[dict]) -> dict:
    phases = [p for c in per_clip for p in c["phases"]]
    styles = sorted({p["style"] for p in phases})
    by_style = {s: round(_nanmean([float(p["detected"]) for p in phases if p["style"] == s]), 3) for s in styles}
    counted = [p for p in phases if "count_asked" in p]
    by_label: dict[str, list[bool]] = {}
    for p in phases:
        by_label.setdefault(p["label"], []).append(bool(p["detected"]))
    return {
        "phase_accuracy": _nanmean([float(p["detected"]) for p in phases]),
        "accuracy_by_style": by_style,
        "worst_style": min(by_style, key=by_style.get) if by_style else None,
        "accuracy_by_action": {k: round(float(np.mean(v)), 3) for k, v in sorted(by_label.items())},
        "count_exact": _nanmean([float(p["count_done"] == p["count_asked"]) for p in counted]),
        "count_within_one": _nanmean([float(abs(p["count_done"] - p["count_asked"]) <= 1) for p in counted]),
        "counted_phases": len(counted),
        "size_effect": _size_effect(phases),
        "off_target": _off_target_summary(phases),
        "lip_sync_corr": _nanmean([c["lip_sync_corr"] for c in per_clip]),
        "mouth_closed_on_silence": _nanmean([c["mouth_closed_on_silence"] for c in per_clip]),
        "num_phases": len(phases),
    }
