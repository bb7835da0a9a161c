"""``python -m actavatar eval`` end to end on a few clips: generate or take the reference motion, render it, read
it back from the pixels, score it."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from actavatar.evaluation.evaluate import EvalConfig, evaluate


@pytest.fixture(scope="module")
def eval_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("eval-data")


def test_ground_truth_motion_is_found_in_the_pixels(eval_dir):
    cfg = EvalConfig(checkpoint="ground-truth", clips=3, data_dir=str(eval_dir), size=320, label="gt")
    result = evaluate(cfg, progress=False)
    summary = result["summary"]
    assert summary["clips"] == 3 and summary["neutral_lead_frames"] == 5
    assert summary["num_phases"] == sum(len(c["phases"]) for c in result["clips"]) >= 3
    # The reference motion went through renderer -> mp4 -> tracker: its actions must come back out.
    assert summary["phase_accuracy"] >= 0.6
    assert summary["lip_sync_corr"] > 0.4
    assert summary["identity_own"] < summary["identity_others"]
    # ... at their own size: the ground truth read back from pixels measures about 1x itself.
    assert 0.75 <= summary["amplitude_ratio_median"] <= 1.25


def test_cli_scores_the_shipped_model_and_writes_json_and_markdown(eval_dir, tmp_path):
    out = tmp_path / "res"
    proc = subprocess.run(
        [sys.executable, "-m", "actavatar", "eval", "--clips", "2", "--size", "256", "--steps", "4",
         "--label", "tiny", "--out", str(out)],
        capture_output=True, text=True, check=True, cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])},
    )  # fmt: skip
    summary = json.loads((out / "results.json").read_text())["summary"]
    assert summary["label"] == "tiny" and summary["clips"] == 2
    assert 0.0 <= summary["phase_accuracy"] <= 1.0
    assert "| tiny |" in (out / "results.md").read_text() and "| tiny |" in proc.stdout
