"""The text-audio conflict benchmark (``evaluation.conflict``): its frozen phases, their placement over speech, the
in-window lip sync, and one phase end to end through the renderer and the tracker."""

from __future__ import annotations

import math

import numpy as np
import pytest

from actavatar.evaluation import metrics
from actavatar.evaluation.conflict import (
    FAST_WPM,
    MIN_SPEECH,
    POOL_CLIPS,
    REPEATS,
    _subset,
    evaluate_conflict,
    load_conflict,
    place,
    speech_window,
)
from actavatar.evaluation.evaluate import EvalConfig, eval_dataset


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    return eval_dataset(EvalConfig(clips=POOL_CLIPS, seed=1234, data_dir=str(tmp_path_factory.mktemp("eval"))))


def test_conflict_phases_use_only_detectable_labels_and_cover_the_three_groups():
    data = load_conflict()
    assert set(data["groups"]) == {"mouth_during_speech", "head_during_fast_speech", "long_phase"}
    assert data["groups"]["long_phase"]["seconds"] >= 4.0
    labels = {p["group"]: set() for p in data["phases"]}
    for p in data["phases"]:
        labels[p["group"]].add(p["label"])
        assert metrics.action_signature(p["label"])  # the metrics can detect it
    assert {"smile", "pout", "frown"} <= labels["mouth_during_speech"]
    assert {"nod", "shake_head"} <= labels["head_during_fast_speech"]


def test_speech_window_is_the_best_covered_window():
    words = [[0.2, 0.6, "a"], [2.0, 2.5, "b"], [2.6, 3.0, "c"], [3.1, 3.5, "d"]]
    start, end, coverage = speech_window(words, 4.0, 1.5)
    assert (start, end) == (1.95, 3.45) and coverage == pytest.approx((0.5 + 0.4 + 0.35) / 1.5)
    assert speech_window(words, 1.0, 2.0)[2] == 0.0  # no window fits a 1 s clip
    # Speech up to the end of a clip whose length is no whole millisecond: the window still ends inside it.
    start, end, _ = speech_window([[2.06, 4.5, "word"]], 4.50887, 2.5)
    assert (start, end) == (2.008, 4.508)


def test_each_phase_goes_on_its_own_clip_over_speech(pool):
    data = load_conflict()
    placed = place(data, pool)
    assert len(placed) == REPEATS * len(data["phases"])
    assert len({p["clip"] for p in placed}) == len(placed)  # one clip per phase: pairs across runs are clips
    for p in placed:
        group = data["groups"][p["entry"]["group"]]
        assert p["phase"].end - p["phase"].start == pytest.approx(group["seconds"])
        assert p["coverage"] >= MIN_SPEECH
        assert p["phase"].end <= len(pool[p["clip"]].audio) / pool[p["clip"]].sample_rate
        if group["speech"] == "fast":
            assert p["rate_wpm"] >= FAST_WPM
    assert [p["clip"] for p in place(data, pool)] == [p["clip"] for p in placed]  # deterministic
    picked = _subset(placed, 3, len(data["phases"]))
    assert {p["entry"]["group"] for p in picked} == set(data["groups"])  # a smoke subset still spans the groups


def test_lip_sync_in_window_sees_only_the_window():
    fps, sr = 25.0, 16000
    t = np.arange(int(4 * sr)) / sr
    env = 0.5 + 0.5 * np.sin(2 * np.pi * 3 * t)  # 3 Hz syllables
    audio = (np.random.default_rng(0).normal(0, 1, len(t)) * env * 0.1).astype(np.float32)
    frames = (np.arange(100) + 0.5) / fps
    jaw = 0.5 + 0.5 * np.sin(2 * np.pi * 3 * frames)
    jaw[50:] = np.random.default_rng(1).uniform(0, 1, 50)  # the mouth stops following in the second half
    r_first, _ = metrics.lip_sync_in_window(jaw, audio, sr, fps, 0.0, 2.0)
    r_second, _ = metrics.lip_sync_in_window(jaw, audio, sr, fps, 2.0, 4.0)
    assert r_first > 0.8 and r_second < 0.5
    assert all(math.isnan(v) for v in metrics.lip_sync_in_window(jaw, audio, sr, fps, 1.0, 1.05))


def test_one_conflict_phase_end_to_end(tiny_checkpoint, tmp_path):
    cfg = EvalConfig(checkpoint=str(tiny_checkpoint), clips=POOL_CLIPS, data_dir=str(tmp_path), steps=2, size=192)
    result = evaluate_conflict(cfg, limit=1, progress=False)
    (row,) = result["phases"]
    assert row["group"] == "mouth_during_speech" and row["detected"] in (0.0, 1.0)
    assert math.isfinite(row["lip_sync_clip"]) and -1 <= row["lip_sync_in_phase"] <= 1
    assert result["summary"]["all"]["phases"] == 1 and result["summary"]["split"] == "conflict"
