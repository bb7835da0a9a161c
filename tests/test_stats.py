"""``evaluation.stats``: intervals and paired tests against answers known in closed form."""

from __future__ import annotations

import math

import numpy as np
import pytest

from actavatar.evaluation.stats import format_ci, mean_ci, paired_difference, sign_flip_p


def test_constant_values_have_a_zero_width_interval():
    ci = mean_ci([0.7] * 12)
    assert ci == {
        "mean": pytest.approx(0.7),
        "low": pytest.approx(0.7),
        "high": pytest.approx(0.7),
        "runs": 1,
        "clips": 12,
    }


def test_clip_bootstrap_matches_the_normal_interval_for_many_clips():
    x = np.random.default_rng(3).normal(5.0, 2.0, 2000)
    ci = mean_ci(x, n_boot=4000)
    half = 1.96 * x.std() / math.sqrt(len(x))  # the textbook 95 % interval of a mean
    assert ci["mean"] == pytest.approx(x.mean())
    assert ci["high"] - ci["low"] == pytest.approx(2 * half, rel=0.1)
    assert ci["low"] < x.mean() < ci["high"]


def test_interval_is_deterministic_given_the_seed():
    x = np.random.default_rng(0).uniform(size=30)
    assert mean_ci(x, seed=5) == mean_ci(x, seed=5)
    assert mean_ci(x, seed=5)["low"] != mean_ci(x, seed=6)["low"]


def test_seed_variation_widens_the_interval():
    """Runs that differ by a constant offset: clip resampling alone cannot see it, run resampling does."""
    clips = np.random.default_rng(1).normal(0, 0.01, 40)
    runs = np.stack([clips + offset for offset in (-1.0, 0.0, 1.0)])  # (3 seeds, 40 clips)
    ci = mean_ci(runs)
    assert ci["runs"] == 3 and ci["clips"] == 40 and ci["mean"] == pytest.approx(clips.mean())
    assert ci["high"] - ci["low"] > 1.0  # the seed means are -1, 0, +1
    assert mean_ci(runs[1])["high"] - mean_ci(runs[1])["low"] < 0.02


def test_nan_clips_are_left_out():
    ci = mean_ci([1.0, math.nan, 3.0])
    assert ci["mean"] == 2.0 and ci["clips"] == 2
    assert math.isnan(mean_ci([math.nan, math.nan])["mean"])


def test_sign_flip_p_is_exact_for_few_clips():
    # 3 positive differences: of the 8 sign patterns, all + and all - reach |mean| = 1, so p = 2/8.
    assert sign_flip_p([1.0, 1.0, 1.0]) == pytest.approx(0.25)
    # [3, 1]: patterns (+,+), (-,-) reach |mean| 2, (+,-), (-,+) reach 1: p = 2/4.
    assert sign_flip_p([3.0, 1.0]) == pytest.approx(0.5)
    assert sign_flip_p([1.0, -1.0]) == 1.0


def test_sign_flip_p_monte_carlo_floor_and_null():
    assert sign_flip_p(np.ones(40), n_perm=999) == pytest.approx(1 / 1000)  # nothing beats the observed pattern
    null = np.random.default_rng(2).normal(0, 1, 40)
    assert sign_flip_p(null) > 0.05


def test_paired_difference_of_a_constant_shift():
    a = np.random.default_rng(4).uniform(size=25)
    d = paired_difference(a + 0.2, a)
    assert d["mean"] == pytest.approx(0.2) and d["low"] == pytest.approx(0.2) and d["high"] == pytest.approx(0.2)
    assert d["p"] == pytest.approx(1 / 10_001) and d["clips"] == 25


def test_pairing_removes_the_clip_variation():
    """Clips vary a lot, the conditions differ little but consistently: paired, the small difference is clear."""
    rng = np.random.default_rng(7)
    clip = rng.normal(0, 1.0, 60)
    a, b = clip + 0.1 + rng.normal(0, 0.02, 60), clip + rng.normal(0, 0.02, 60)
    d = paired_difference(a, b)
    assert d["low"] > 0.05 and d["high"] < 0.15 and d["p"] < 0.001
    unpaired = mean_ci(a)["high"] - mean_ci(a)["low"]
    assert unpaired > 5 * (d["high"] - d["low"])


def test_paired_difference_over_seeds_and_nan_clips():
    a = np.array([[1.0, 2.0, math.nan, 4.0], [1.0, 2.0, math.nan, 6.0]])  # 2 seeds
    b = np.array([[0.0, 2.0, 1.0, 3.0]])
    d = paired_difference(a, b)
    assert d["clips"] == 3 and d["runs_a"] == 2 and d["runs_b"] == 1
    assert d["mean"] == pytest.approx(((1 - 0) + (2 - 2) + (5 - 3)) / 3)
    with pytest.raises(ValueError, match="same clips"):
        paired_difference([1.0, 2.0], [1.0, 2.0, 3.0])


def test_format_ci():
    assert format_ci({"mean": 0.5, "low": 0.25, "high": 0.75}, "{:.2f}") == "0.50 [0.25, 0.75]"
    assert format_ci({"mean": math.nan}) == "–"
