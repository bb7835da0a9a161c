"""The action vocabulary, its held-out split, and the motion each action makes inside its window."""

from __future__ import annotations

import numpy as np
import pytest

from actavatar.motion import MOTION_DIM, MOTION_INDEX
from actavatar.training.actions import (
    ACTION_LABELS,
    ACTIONS,
    COMBINATIONS,
    MOODS,
    ActionPart,
    add_action,
    idle_motion,
    sample_action,
    sample_base_prompt,
    window_frames,
)

FPS = 25.0
REQUIRED = (
    "nod shake_head tilt_left tilt_right turn_left turn_right look_up look_down smile laugh frown raise_eyebrows "
    "furrow close_eyes blink_rapidly wink_left wink_right pout glance_left glance_right lean_in stay_still"
).split()


def test_vocabulary_covers_the_issue_with_15_phrasings_each():
    assert set(REQUIRED) <= set(ACTION_LABELS) and len(ACTION_LABELS) >= 20
    for action in ACTIONS.values():
        assert len(set(action.phrasings)) >= 15, action.label
        train, held = set(action.phrasings_for("train")), set(action.phrasings_for("heldout"))
        assert train and held and not train & held and train | held == set(action.phrasings)
    assert "nod+smile" in COMBINATIONS and "shake_head+turn_left" not in COMBINATIONS


def test_split_is_deterministic_and_heldout_texts_use_heldout_phrasings():
    rng = np.random.default_rng(0)
    for _ in range(200):
        spec = sample_action(rng, "heldout", combo_prob=0.0)
        action = ACTIONS[spec.label]
        assert any(p in spec.text for p in action.phrasings_for("heldout")), spec.text
        assert spec.label == spec.parts[0].label
    a = [sample_action(np.random.default_rng(5), "train").text for _ in range(3)]
    assert len(set(a)) == 1


def test_modifiers_set_the_parameters():
    rng = np.random.default_rng(1)
    specs = [sample_action(rng, "train", label="nod") for _ in range(300)]
    assert {p.count for s in specs for p in s.parts} >= {None, 1, 2, 3}
    for s in specs:
        part = s.parts[0]
        if part.count == 2:
            assert any(w in s.text for w in ("twice", "two times", "a couple of times"))
        if part.intensity < 1:
            assert part.intensity >= 0.5
    prompts = {sample_base_prompt(rng, "train")[1].name for _ in range(100)}
    assert prompts == set(MOODS)


@pytest.mark.parametrize("label", REQUIRED)
def test_action_moves_only_inside_its_window_with_ramps(label):
    t = 150
    start, end = 2.0, 4.4
    motion = add_action(np.zeros((t, MOTION_DIM), np.float32), FPS, label, start, end, np.random.default_rng(0))
    inside = window_frames(t, FPS, start, end)
    outside = np.setdiff1d(np.arange(t), inside)
    assert not motion[outside].any()
    if label == "stay_still":
        assert not motion.any()
        return
    energy = np.abs(motion[inside]).max(axis=1)
    assert energy.max() > 0.1
    assert energy[0] < 0.6 * energy.max() and energy[-1] < 0.6 * energy.max()  # ramps, no steps at the edges


def test_nod_count_and_direction():
    for count in (1, 2, 3):
        m = add_action(np.zeros((125, MOTION_DIM)), FPS, ActionPart("nod", count=count), 1.0, 4.0)
        pitch = m[:, MOTION_INDEX["head_pitch"]]
        peaks = np.sum((pitch[1:-1] > pitch[:-2]) & (pitch[1:-1] >= pitch[2:]) & (pitch[1:-1] > 3))
        assert peaks == count and pitch.min() >= 0  # chin goes down (pitch > 0) and back
    left = add_action(np.zeros((100, MOTION_DIM)), FPS, "turn_left+wink_left", 0.5, 3.5)
    assert left[:, MOTION_INDEX["head_yaw"]].max() > 15  # subject's left = image right = yaw > 0
    assert left[:, MOTION_INDEX["blink_right"]].max() > 0.9 > 0.2 > left[:, MOTION_INDEX["blink_left"]].max()


def test_idle_motion_blinks_every_2_to_6_s_and_stay_still_suppresses_it():
    rng = np.random.default_rng(3)
    t = int(60 * FPS)
    idle = idle_motion(t, FPS, rng, MOODS["calm"], words=[(k * 0.5, k * 0.5 + 0.3, "w") for k in range(100)])
    blink = idle[:, MOTION_INDEX["blink_left"]]
    closed = np.nonzero((blink[1:] > 0.5) & (blink[:-1] <= 0.5))[0] / FPS
    gaps = np.diff(closed)
    assert 10 <= len(closed) <= 30 and gaps.min() > 1.5 and gaps.max() < 6.5
    assert np.abs(np.diff(idle[:, MOTION_INDEX["gaze_x"]])).max() > 0.02  # gaze shifts happen
    head = [MOTION_INDEX[c] for c in ("head_pitch", "head_yaw", "head_roll")]
    assert idle[:, head].std(axis=0).min() > 0.5
    still = add_action(idle.copy(), FPS, "stay_still", 20.0, 30.0, idle=idle)
    core = window_frames(t, FPS, 20.3, 29.7)
    assert np.abs(still[np.ix_(core, head)]).max() < 1e-5
    assert np.array_equal(still[:, MOTION_INDEX["blink_left"]], blink)  # blinking goes on
