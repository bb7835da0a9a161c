"""The schedule benchmark's table (run by scripts/schedule_benchmark.sh, which trains and evaluates first).

Reads RUNS/<schedule>-seed<k>/{conflict,heldout}/results.json ("power:2" is spelled "power-2" in folder names) and
writes OUT.json and OUT.md: per schedule, the mean with its 95 % bootstrap interval over seeds and clips of

- conflict set: action rate, action size ÷ detection threshold, lip sync inside the phase window (per phase, one clip
  each; overall and per group);
- held-out set: phase accuracy per clip and lip sync per clip;

and each schedule's paired difference from the reference schedule on the same clips (mean, 95 % interval, sign-flip
p-value; evaluation/stats.py).

    python scripts/schedule_benchmark.py --runs runs/schedule-benchmark --schedules progressive uniform \\
        --seeds 0 1 2 --out docs/results/schedule-benchmark
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from actavatar.evaluation.stats import format_ci, mean_ci, paired_difference  # noqa: E402

CONFLICT_METRICS = {
    "detected": "action rate",
    "amplitude_rel": "size ÷ threshold",
    "lip_sync_in_phase": "lip r in phase",
}
HELDOUT_METRICS = {"phase_accuracy": "held-out phase acc.", "lip_sync_corr": "held-out lip r"}


def run_dir(runs: Path, schedule: str, seed: int) -> Path:
    return runs / f"{schedule.replace(':', '-')}-seed{seed}"


def _load(path: Path) -> dict:
    if not path.is_file():
        raise SystemExit(f"missing {path}: run scripts/schedule_benchmark.sh first (or fix --runs/--seeds)")
    return json.loads(path.read_text(encoding="utf-8"))


def per_clip(runs: Path, schedule: str, seeds: list[int]) -> dict[str, np.ndarray]:
    """Metric name -> (seeds, clips) values; conflict metrics per group as "detected@long_phase" too."""
    rows: dict[str, list[list[float]]] = {}
    for seed in seeds:
        conflict = _load(run_dir(runs, schedule, seed) / "conflict" / "results.json")["phases"]
        heldout = _load(run_dir(runs, schedule, seed) / "heldout" / "results.json")["clips"]
        values = {k: [r[k] for r in conflict] for k in CONFLICT_METRICS}
        for group in sorted({r["group"] for r in conflict}):
            for k in CONFLICT_METRICS:
                values[f"{k}@{group}"] = [r[k] if r["group"] == group else math.nan for r in conflict]
        values["phase_accuracy"] = [np.mean([p["detected"] for p in c["phases"]]) if c["phases"] else math.nan
                                    for c in heldout]  # fmt: skip
        values["lip_sync_corr"] = [c["lip_sync_corr"] for c in heldout]
        for k, v in values.items():
            rows.setdefault(k, []).append([math.nan if x is None else float(x) for x in v])
    out = {}
    for k, v in rows.items():
        if len({len(r) for r in v}) != 1:
            raise SystemExit(f"{schedule}: the seeds were evaluated on different numbers of clips for {k}")
        out[k] = np.array(v)
    return out


def build_table(runs: Path, schedules: list[str], seeds: list[int], reference: str, seed: int = 0) -> dict:
    values = {s: per_clip(runs, s, seeds) for s in schedules}
    table: dict = {"schedules": schedules, "seeds": seeds, "reference": reference, "rows": {}}
    for s in schedules:
        row = {"mean_ci": {k: mean_ci(v, seed=seed) for k, v in values[s].items()}}
        if s != reference and reference in values:
            row["vs_reference"] = {
                k: paired_difference(v, values[reference][k], seed=seed)
                for k, v in values[s].items()
                if k in values[reference] and v.shape[1] == values[reference][k].shape[1]
            }
        table["rows"][s] = row
    return table


def markdown(table: dict) -> str:
    metrics = {**CONFLICT_METRICS, **HELDOUT_METRICS}
    ref = table["reference"]
    head = "| schedule | " + " | ".join(metrics.values()) + " |"
    lines = [
        f"Mean [95 % interval] over seeds {table['seeds']} and clips; Δ: paired difference from {ref} on the same "
        "clips [95 % interval], p: sign-flip test.",
        "",
        head,
        "|" + "---|" * (len(metrics) + 1),
    ]
    for s, row in table["rows"].items():
        cells = [format_ci(row["mean_ci"][k], "{:.3f}") for k in metrics]
        lines.append(f"| {s} | " + " | ".join(cells) + " |")
        if "vs_reference" in row:
            diffs = [row["vs_reference"].get(k) for k in metrics]
            cells = [
                f"{format_ci(d, '{:+.3f}')}, p={d['p']:.3f}" if d and math.isfinite(d["mean"]) else "–" for d in diffs
            ]
            lines.append(f"| Δ {s} − {ref} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=Path, default=Path("runs/schedule-benchmark"))
    p.add_argument("--schedules", nargs="+", required=True)
    p.add_argument("--seeds", nargs="+", type=int, required=True)
    p.add_argument("--reference", default="progressive", help="the schedule the others are compared with")
    p.add_argument("--out", type=Path, default=Path("docs/results/schedule-benchmark"), help="writes OUT.json, OUT.md")
    args = p.parse_args(argv)
    table = build_table(args.runs, args.schedules, args.seeds, args.reference)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(table, indent=1) + "\n", encoding="utf-8")
    text = markdown(table)
    args.out.with_suffix(".md").write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
