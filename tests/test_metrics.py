"""Metrics on synthetic ground-truth motion with tracker-like noise: they must find true actions and reject
swapped ones, and flag leaks, late onsets, out-of-sync lips and open mouths on silence."""

from __future__ import annotations

import math

import numpy as np
import pytest

from actavatar.evaluation.metrics import (
    action_amplitudes,
    action_signature,
    amplitude_ratios,
    clip_baseline,
    count_repetitions,
    detect_action,
    leakage,
    lip_sync,
    mouth_closed_on_silence,
    off_target,
    onset_error_ms,
    resolve_sides,
    score_phases,
    stability_jitter,
)
from actavatar.motion import MOTION_DIM, MOTION_INDEX
from actavatar.training.actions import ACTION_LABELS, MOODS, ActionPart, add_action, idle_motion
from actavatar.training.synth import make_sample

FPS = 25.0
ANGLES = [MOTION_INDEX[c] for c in ("head_pitch", "head_yaw", "head_roll")]
GEOMETRY = [MOTION_INDEX[c] for c in ("head_tx", "head_ty", "head_scale")]


def tracker_noise(motion: np.ndarray, rng: np.random.Generator, degrees: float = 0.8) -> np.ndarray:
    """Landmark-tracker-like noise: ~0.5-1 deg on angles, 0.03 on expression channels, a few outlier frames."""
    noise = rng.normal(0, 0.03, motion.shape)
    noise[:, ANGLES] = rng.normal(0, degrees, (len(motion), 3))
    noise[:, GEOMETRY] = rng.normal(0, 0.005, (len(motion), 3))
    spikes = rng.random(len(motion)) < 0.01
    noise[spikes] *= 4
    return motion + noise


@pytest.fixture(scope="module")
def clips():
    rng = np.random.default_rng(11)
    out = []
    for _ in range(80):
        s = make_sample(rng, "heldout", stage=2)
        phases = [(label, p.start, p.end) for label, p in zip(s.actions, s.plan.phases, strict=True)]
        out.append((tracker_noise(s.motion, rng, rng.uniform(0.5, 1.0)), phases, s))
    return out


def test_every_action_has_a_signature():
    for label in ACTION_LABELS:
        (sig,) = action_signature(label)
        assert sig.channel in MOTION_INDEX and sig.threshold > 0
    assert [s.label for s in action_signature("smile+nod")] == ["smile", "nod"]
    with pytest.raises(KeyError):
        action_signature("dance")


def test_true_actions_are_detected_and_swapped_windows_are_not(clips):
    hits = total = false = trials = 0
    for motion, phases, _ in clips:
        results = score_phases(motion, FPS, phases)
        hits += sum(r["detected"] for r in results)
        total += len(results)
        base = clip_baseline(motion, FPS, phases)
        for label, start, end in phases:
            # Each other phase's action, asked about this window, where it did not happen.
            for other, _, _ in phases:
                if set(other.split("+")) & set(label.split("+")) or "stay_still" in other:
                    continue
                trials += 1
                false += detect_action(motion, FPS, other, start, end, baseline=base)
    assert hits / total >= 0.9, f"recall {hits}/{total}"
    assert trials > 50 and false / trials <= 0.08, f"false positives {false}/{trials}"


def test_detection_on_idle_speech_is_rare():
    rng = np.random.default_rng(4)
    fired = trials = 0
    for _ in range(25):
        s = make_sample(rng, "heldout", stage=1)
        motion = tracker_noise(s.motion, rng)
        for label in ACTION_LABELS:
            if label == "stay_still":
                continue
            trials += 1
            fired += detect_action(motion, FPS, label, 1.0, 2.8)
    assert fired / trials <= 0.06, f"{fired}/{trials}"


def _clip(label: str, start: float, end: float, seed: int = 0, *, t: int = 200, mood: str = "friendly"):
    rng = np.random.default_rng(seed)
    idle = idle_motion(t, FPS, rng, MOODS[mood])
    motion = add_action(idle.copy(), FPS, label, start, end, rng, idle=idle)
    return tracker_noise(motion, rng), idle


@pytest.mark.parametrize("label", ["nod", "shake_head", "turn_left", "smile", "wink_right", "blink_rapidly", "pout"])
def test_window_specific_detection(label):
    motion, _ = _clip(label, 3.0, 5.0, seed=1)
    assert detect_action(motion, FPS, label, 3.0, 5.0)
    assert not detect_action(motion, FPS, label, 5.5, 7.5)  # same clip, a window without the action
    assert not detect_action(motion, FPS, label, 0.2, 2.5)


@pytest.mark.parametrize("label", ["turn_right", "close_eyes", "smile", "look_down"])
def test_a_phase_covering_almost_the_whole_clip_is_still_detected(label):
    """With < 0.5 s of the clip free of the action, the resting pose is the neutral one, not the clip's median
    (which would be the action itself)."""
    motion, _ = _clip(label, 0.05, 7.95, seed=7, t=200)
    phases = [(label, 0.05, 7.95)]
    assert score_phases(motion, FPS, phases)[0]["detected"]
    assert not score_phases(_clip("pout", 0.05, 7.95, seed=7, t=200)[0], FPS, phases)[0]["detected"]


def test_look_down_is_not_a_nod_and_left_is_not_right():
    motion, _ = _clip("look_down", 2.0, 5.0, seed=2)
    assert detect_action(motion, FPS, "look_down", 2.0, 5.0) and not detect_action(motion, FPS, "nod", 2.0, 5.0)
    motion, _ = _clip("nod", 2.0, 5.0, seed=2)
    assert detect_action(motion, FPS, "nod", 2.0, 5.0) and not detect_action(motion, FPS, "look_down", 2.0, 5.0)
    motion, _ = _clip("tilt_left+glance_right", 2.0, 5.0, seed=3)
    assert detect_action(motion, FPS, "tilt_left+glance_right", 2.0, 5.0)
    assert not detect_action(motion, FPS, "tilt_right", 2.0, 5.0)
    assert not detect_action(motion, FPS, "glance_left", 2.0, 5.0)
    assert not detect_action(motion, FPS, "tilt_left+glance_left", 2.0, 5.0)


def test_stay_still_detected_when_idle_is_suppressed():
    motion, _ = _clip("stay_still", 2.0, 5.0, seed=5, mood="excited")
    assert detect_action(motion, FPS, "stay_still", 2.0, 5.0)
    assert not detect_action(motion, FPS, "stay_still", 5.2, 7.8)
    jitter_still = stability_jitter(motion, FPS, 2.3, 4.7)
    assert jitter_still == pytest.approx(0.8, rel=0.35)  # ~ the tracker noise


def test_leakage_low_when_contained_high_when_spilled():
    clean, _ = _clip("smile", 3.0, 5.0, seed=6)
    assert leakage(clean, FPS, "smile", 3.0, 5.0) < 0.1
    rng = np.random.default_rng(6)
    idle = idle_motion(200, FPS, rng, MOODS["friendly"])
    spilled = add_action(idle.copy(), FPS, ActionPart("smile"), 3.0, 7.5, rng)  # runs 2.5 s past the window
    spilled = tracker_noise(spilled, rng)
    assert leakage(spilled, FPS, "smile", 3.0, 5.0) > 0.25
    assert math.isnan(leakage(clean, FPS, "stay_still", 3.0, 5.0))


def test_onset_error_measures_latency():
    clean, _ = _clip("turn_right", 3.0, 6.0, seed=7)
    assert abs(onset_error_ms(clean, FPS, "turn_right", 3.0, 6.0)) < 200
    late, _ = _clip("turn_right", 3.8, 6.0, seed=7)  # the action starts 800 ms into a phase that starts at 3.0
    assert onset_error_ms(late, FPS, "turn_right", 3.0, 6.0) == pytest.approx(900, abs=120)
    early, _ = _clip("turn_right", 2.6, 6.0, seed=7)  # starts 400 ms before the phase
    assert onset_error_ms(early, FPS, "turn_right", 3.0, 6.0) == pytest.approx(-300, abs=120)


def test_lip_sync_finds_correlation_and_lag():
    s = make_sample(np.random.default_rng(8), "train", stage=1)
    rng = np.random.default_rng(8)
    jaw = s.motion[:, MOTION_INDEX["jaw_open"]] + rng.normal(0, 0.03, len(s.motion))
    corr, lag = lip_sync(jaw, s.audio, s.sample_rate, FPS)
    assert corr > 0.5 and abs(lag) <= 40
    delayed = np.concatenate([np.zeros(4), jaw[:-4]])  # mouth 160 ms late
    corr_d, lag_d = lip_sync(delayed, s.audio, s.sample_rate, FPS)
    assert lag_d == pytest.approx(160, abs=40)
    shuffled, _ = lip_sync(rng.permutation(jaw), s.audio, s.sample_rate, FPS)
    assert shuffled < 0.35


def test_mouth_closed_on_silence():
    s = make_sample(np.random.default_rng(9), "train", stage=1)
    jaw = s.motion[:, MOTION_INDEX["jaw_open"]] + np.random.default_rng(9).normal(0, 0.03, len(s.motion))
    assert mouth_closed_on_silence(jaw, s.audio, 16000, FPS) >= 0.9
    assert mouth_closed_on_silence(jaw + 0.3, s.audio, 16000, FPS) <= 0.1
    assert math.isnan(mouth_closed_on_silence(jaw, 0.3 * np.ones_like(s.audio), 16000, FPS))


def test_stability_jitter_measures_noise_not_motion():
    t = np.arange(250) / FPS
    smooth_motion = np.zeros((250, MOTION_DIM))
    smooth_motion[:, ANGLES[0]] = 10 * np.sin(2 * np.pi * 0.5 * t)
    assert stability_jitter(smooth_motion, FPS) < 0.1
    noisy = smooth_motion + np.random.default_rng(0).normal(0, 1.0, smooth_motion.shape)
    assert stability_jitter(noisy, FPS) == pytest.approx(1.0, rel=0.15)


def test_amplitude_ratio_tells_natural_from_exaggerated(clips):
    """A clip read back with tracker noise measures ~1x its ground truth; the same clip twice as big, ~2x."""
    rng = np.random.default_rng(5)
    natural, doubled = [], []
    for noisy, phases, s in clips[:40]:
        natural += [r for _, r in amplitude_ratios(noisy, s.motion, FPS, phases)]
        doubled += [r for _, r in amplitude_ratios(tracker_noise(2 * s.motion, rng), s.motion, FPS, phases)]
    assert len(natural) >= 20
    assert 0.9 <= np.median(natural) <= 1.15
    assert 1.8 <= np.median(doubled) <= 2.2
    # One hold: a 20 degree left turn between 1 and 3 s measures 20 (degrees from the clip's rest pose).
    m = np.zeros((100, MOTION_DIM))
    m[25:75, MOTION_INDEX["head_yaw"]] = 20.0
    ((part, amp),) = action_amplitudes(m, FPS, [("turn_left", 1.0, 3.0)])
    assert part == "turn_left" and abs(amp - 20.0) < 0.5
    assert action_amplitudes(m, FPS, [("turn_right", 1.0, 3.0)])[0][1] <= 0  # the other way: no size


@pytest.mark.parametrize(
    "label", ["turn_left", "turn_right", "tilt_left", "tilt_right", "glance_left", "glance_right"]
)
def test_a_side_free_text_is_scored_as_the_side_the_motion_took(label):
    """ "looks away" names no side: the phase is the side the motion went, and is detected only if it went."""
    kind = label.split("_")[0]
    motion, _ = _clip(label, 2.0, 5.0, seed=4)
    assert resolve_sides(motion, FPS, kind, 2.0, 5.0) == label
    (scored,) = score_phases(motion, FPS, [(kind, 2.0, 5.0)])
    assert scored["detected"] and scored["label"] == kind and scored["performed_as"] == label
    still, _ = _clip("smile", 2.0, 5.0, seed=4)
    assert not score_phases(still, FPS, [(kind, 2.0, 5.0)])[0]["detected"]
    assert resolve_sides(motion, FPS, f"smile+{kind}", 2.0, 5.0) == f"smile+{label}"


@pytest.mark.parametrize("label,count", [("nod", 1), ("nod", 3), ("shake_head", 2), ("wink_left", 2)])
def test_repetitions_are_counted_from_the_motion(label, count):
    rng = np.random.default_rng(count)
    idle = idle_motion(200, FPS, rng, MOODS["calm"])
    motion = add_action(idle.copy(), FPS, ActionPart(label, count=count), 2.0, 5.0, rng, idle=idle)
    motion = tracker_noise(motion, rng, 0.5)
    assert count_repetitions(motion, FPS, label, 2.0, 5.0) == count
    assert count_repetitions(tracker_noise(idle, rng, 0.5), FPS, label, 2.0, 5.0) == 0


def test_off_target_head_motion_is_measured_against_a_still_phase():
    rng = np.random.default_rng(3)
    idle = idle_motion(200, FPS, rng, MOODS["calm"])
    brows = tracker_noise(add_action(idle.copy(), FPS, "raise_eyebrows", 2.0, 5.0, rng, idle=idle), rng, 0.5)
    turned = brows.copy()
    t = np.arange(200) / FPS
    turned[:, MOTION_INDEX["head_yaw"]] += np.where((t >= 2.0) & (t < 5.0), 15 * np.sin(np.pi * (t - 2.0) / 3), 0)
    still = tracker_noise(add_action(idle.copy(), FPS, "stay_still", 2.0, 5.0, rng, idle=idle), rng, 0.5)
    yardstick = off_target(still, FPS, "stay_still", 2.0, 5.0)["head_deg"]
    calm = off_target(brows, FPS, "raise_eyebrows", 2.0, 5.0)
    leaking = off_target(turned, FPS, "raise_eyebrows", 2.0, 5.0)
    assert "brow_raise" not in calm and "smile" in calm  # the asked channel is not off-target
    assert 0 < yardstick < calm["head_deg"]  # a still head moves less than a speaking one
    assert leaking["head_deg"] > 3 * yardstick and leaking["head_deg"] > calm["head_deg"] + 5
    assert "head_deg" not in off_target(turned, FPS, "nod", 2.0, 5.0)  # a head action's head is on target
