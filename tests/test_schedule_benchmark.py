"""scripts/schedule_benchmark.py: the table from per-run result files (written here in the evaluations' format)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "schedule_benchmark.py"


def write_run(root: Path, name: str, detected: list[float], lip: list[float]) -> None:
    conflict = [
        {"group": "long_phase" if k % 2 else "mouth_during_speech", "detected": d, "amplitude_rel": 2.0 + d,
         "lip_sync_in_phase": r}
        for k, (d, r) in enumerate(zip(detected, lip, strict=True))
    ]  # fmt: skip
    heldout = [
        {"phases": [{"detected": d}, {"detected": True}], "lip_sync_corr": r}
        for d, r in zip(detected, lip, strict=True)
    ]
    for kind, data in (("conflict", {"phases": conflict}), ("heldout", {"clips": heldout})):
        (root / name / kind).mkdir(parents=True, exist_ok=True)
        (root / name / kind / "results.json").write_text(json.dumps(data))


def test_table_has_intervals_and_paired_differences(tmp_path):
    lip = [0.5, 0.6, 0.4, 0.55, 0.45, 0.5]
    for seed in (0, 1):
        write_run(tmp_path, f"progressive-seed{seed}", [1.0, 0.0, 1.0, 0.0, 1.0, 0.0], lip)
        write_run(tmp_path, f"power-2-seed{seed}", [1.0] * 6, [r - 0.1 for r in lip])
    out = tmp_path / "table"
    args = ["--runs", str(tmp_path), "--schedules", "progressive", "power:2", "--seeds", "0", "1", "--out", str(out)]
    subprocess.run([sys.executable, str(SCRIPT), *args], check=True, capture_output=True)
    table = json.loads(out.with_suffix(".json").read_text())
    ref, power = table["rows"]["progressive"], table["rows"]["power:2"]
    assert ref["mean_ci"]["detected"]["mean"] == pytest.approx(0.5) and ref["mean_ci"]["detected"]["runs"] == 2
    assert power["mean_ci"]["detected"]["low"] == 1.0  # always detected: a zero-width interval
    assert "vs_reference" not in ref
    lip_diff = power["vs_reference"]["lip_sync_in_phase"]
    assert lip_diff["mean"] == pytest.approx(-0.1) and lip_diff["high"] == pytest.approx(-0.1)
    assert lip_diff["p"] == pytest.approx(2 / 64)  # 6 clips: exact sign-flip test, all 64 patterns
    assert power["vs_reference"]["detected"]["mean"] == pytest.approx(0.5)
    assert power["vs_reference"]["phase_accuracy"]["mean"] == pytest.approx(0.25)  # one of two phases per clip
    assert ref["mean_ci"]["detected@long_phase"]["mean"] == pytest.approx(0.0)  # odd rows: long phases, missed
    md = out.with_suffix(".md").read_text()
    assert "| Δ power:2 − progressive |" in md and "p=0.031" in md


def test_missing_runs_are_named(tmp_path):
    args = ["--runs", str(tmp_path), "--schedules", "progressive", "--seeds", "0", "--out", str(tmp_path / "t")]
    done = subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True)
    assert done.returncode != 0 and "progressive-seed0" in done.stderr
