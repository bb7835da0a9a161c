import dataclasses
import json
import pickle

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from actavatar.errors import InputError
from actavatar.phases import MAX_PHASES, Phase, PhasePlan, as_plan, plan_from_rows

EXAMPLE = {
    "base": "a woman talking calmly to the camera",
    "phases": [{"start": 0.0, "end": 2.5, "text": "nods twice"}, {"start": 2.5, "end": 6.0, "text": "smiles"}],
}


def test_design_example_round_trips_through_json_and_srt():
    plan = PhasePlan.from_dict(EXAMPLE)
    assert plan.to_dict() == EXAMPLE
    assert PhasePlan.from_json(plan.to_json()) == plan
    srt = plan.to_srt()
    assert "00:00:02,500 --> 00:00:06,000" in srt
    assert PhasePlan.from_srt(srt, base=plan.base) == plan


texts = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp", "Zs", "Cf")), min_size=1, max_size=30
)


@st.composite
def plans(draw):
    n = draw(st.integers(0, 6))
    cuts = sorted(draw(st.lists(st.integers(0, 60_000), min_size=2 * n, max_size=2 * n, unique=True)))
    phases = tuple(Phase(cuts[2 * i] / 1000, cuts[2 * i + 1] / 1000, draw(texts)) for i in range(n))
    return PhasePlan(draw(texts), phases)


@given(plans())
@example(PhasePlan("\u05e9\u05c1"))  # a base whose NFC form differs: found by hypothesis
@settings(max_examples=150, deadline=None)
def test_json_and_srt_round_trip(plan):
    assert PhasePlan.from_json(plan.to_json()) == plan
    assert PhasePlan.from_srt(plan.to_srt(), base=plan.base) == plan


@given(plans(), st.sampled_from([1, 12.5, 24, 25, 29.97, 30, 60]))
@settings(max_examples=150, deadline=None)
def test_frame_masks_follow_the_midpoint_convention(plan, fps):
    num_frames = int(61 * fps)
    masks = plan.frame_masks(num_frames, fps)
    assert masks.shape == (num_frames, len(plan.phases))
    assert (masks.sum(axis=1) <= 1).all()  # non-overlapping phases: a frame belongs to at most one
    mid = (np.arange(num_frames) + 0.5) / fps
    for k, p in enumerate(plan.phases):
        np.testing.assert_array_equal(masks[:, k], (mid >= p.start) & (mid < p.end))
    hard = plan.soft_frame_weights(num_frames, fps, 0.0)
    np.testing.assert_array_equal(hard, masks.astype(np.float32))


def test_frame_ownership_at_a_boundary():
    plan = PhasePlan.from_dict(EXAMPLE)
    index = plan.frame_phase_index(150, 25)
    assert index[61] == 0 and index[62] == 1  # frame 62 covers [2.48, 2.52): midpoint 2.50 is in phase 2
    assert (index[:62] == 0).all() and (index[62:150] == 1).all()


def test_soft_weights_feather_the_edges():
    plan = PhasePlan("", (Phase(1.0, 2.0, "nods"),))
    w = plan.soft_frame_weights(100, 25, 0.4)[:, 0]
    assert w[37] == 1.0 and w[0] == 0.0  # frame 37 midpoint 1.5 s: deep inside
    assert 0 < w[24] < 1 and 0 < w[20] < 1  # ramps across [0.8, 1.2]
    assert np.all(np.diff(w[15:30]) >= 0)


@pytest.mark.parametrize(
    ("phases", "duration", "needle"),
    [
        ([(0, 3, "nods"), (2, 4, "smiles")], 10, "overlaps"),
        ([(3, 1, "nods")], 10, "ends at or before its start"),
        ([(-1, 1, "nods")], 10, "starts before 0 s"),
        ([(0, 12, "nods")], 10, "ends after the audio ends"),
        ([(11, 12, "nods")], 10, "starts after the audio ends"),
        ([(1, 1, "nods")], 10, "ends at or before its start"),
        ([(0, 1, "   ")], 10, "has no action text"),
        ([(0, 1, "x" * 10_000)], 10, "shorten it"),
        ([(0, 0.05, "nods")], 10, "shorter than"),
    ],
)
def test_validation_names_the_phase_and_the_fix(phases, duration, needle):
    plan = PhasePlan.from_dict({"base": "", "phases": [{"start": s, "end": e, "text": t} for s, e, t in phases]})
    with pytest.raises(InputError) as err:
        plan.validate(duration)
    message = str(err.value)
    assert needle in message
    assert "phase" in message.lower() and "\n" not in message


def test_too_many_phases():
    phases = [{"start": i * 0.2, "end": i * 0.2 + 0.15, "text": "nod"} for i in range(200)]
    with pytest.raises(InputError, match=f"at most {MAX_PHASES}"):
        PhasePlan.from_dict({"phases": phases}).validate(60)


def test_overlap_message_points_at_the_later_phase():
    plan = PhasePlan.from_dict({"phases": [{"start": 2, "end": 4, "text": "b"}, {"start": 0, "end": 3, "text": "a"}]})
    with pytest.raises(InputError, match="move the start of phase 1 to 3 s"):
        plan.validate(10)


def test_validate_sorts_and_gaps_are_allowed():
    plan = PhasePlan.from_dict({"phases": [{"start": 4, "end": 5, "text": "b"}, {"start": 0, "end": 1, "text": "a"}]})
    assert [p.text for p in plan.validate(6).phases] == ["a", "b"]


def test_clipping_is_reported():
    plan = PhasePlan.from_dict(
        {"phases": [{"start": 0, "end": 12, "text": "a"}, {"start": 11, "end": 13, "text": "b"}]}
    )
    clipped, notes = plan.clipped(10)
    assert clipped.phases == (Phase(0, 10, "a"),)
    assert len(notes) == 2 and "trimmed" in notes[0] and "removed" in notes[1]


def test_unicode_is_kept_and_control_characters_are_removed():
    plan = PhasePlan.from_dict(
        {"base": "مرحبا 👋", "phases": [{"start": 0, "end": 1, "text": "smiles 😀\x00\x1b[31m\u202e nods"}]}
    )
    assert plan.base == "مرحبا 👋"
    assert plan.phases[0].text == "smiles 😀 [31m nods"
    plan.validate(2)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        ('{"phases": [{"start": "soon", "end": 2, "text": "x"}]}', "give a number of seconds"),
        ('{"phases": [{"start": 0, "text": "x"}]}', "missing end"),
        ('{"phases": {"a": 1}}', "must be a list"),
        ('{"base": 3}', "must be a string"),
        ('{"bass": ""}', "unknown keys"),
        ('{"phases": [{"start": 0, "end": NaN, "text": "x"}]}', "not a finite number"),
    ],
)
def test_malformed_json(text, needle):
    with pytest.raises(InputError, match=needle):
        PhasePlan.from_json(text)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("1\nhello\n", "no 'HH:MM:SS,mmm --> HH:MM:SS,mmm' timing line"),
        ("1\n00:00:01 --> later\nnods\n", "bad time"),
    ],
)
def test_malformed_srt(text, needle):
    with pytest.raises(InputError, match=needle):
        PhasePlan.from_srt(text)


def test_srt_with_crlf_bom_and_multiline_cues():
    srt = (
        "\ufeff1\r\n00:00:00,000 --> 00:00:01,500\r\nnods\r\ntwice\r\n\r\n"
        "2\r\n00:00:02.000 --> 00:00:03.250\r\nsmiles\r\n"
    )
    plan = PhasePlan.from_srt(srt)
    assert plan.phases == (Phase(0.0, 1.5, "nods twice"), Phase(2.0, 3.25, "smiles"))


def test_load_files_and_as_plan(tmp_path):
    (tmp_path / "p.json").write_text(json.dumps(EXAMPLE), encoding="utf-8")
    (tmp_path / "p.srt").write_text(PhasePlan.from_dict(EXAMPLE).to_srt(), encoding="utf-8")
    assert PhasePlan.load(tmp_path / "p.json") == PhasePlan.from_dict(EXAMPLE)
    assert as_plan(str(tmp_path / "p.srt"), prompt="base").base == "base"
    assert as_plan(json.dumps(EXAMPLE)) == PhasePlan.from_dict(EXAMPLE)
    with pytest.raises(InputError, match="not found"):
        PhasePlan.load(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(InputError, match="not UTF-8"):
        PhasePlan.load(tmp_path / "bad.json")


def test_plan_from_table_rows_skips_blank_rows():
    plan = plan_from_rows([[0, 1, "nods"], ["", "", ""], [2, 3.5, "smiles"]], base="b")
    assert plan == PhasePlan("b", (Phase(0, 1, "nods"), Phase(2, 3.5, "smiles")))
    with pytest.raises(InputError, match="Phase 2 'end'"):
        plan_from_rows([[0, 1, "a"], [1, "x", "b"]])


# ------------------------------------------------------------------------- robustness properties (issue 7)
json_values = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=True) | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(["base", "phases", "start", "end",
                                                                                  "text", "x"]), inner, max_size=4),
    max_leaves=12,
)  # fmt: skip


@given(json_values)
@settings(max_examples=300, deadline=None)
def test_any_json_is_a_plan_or_one_input_error(value):
    """Whatever JSON arrives (an upload, an API call), parsing and validation fail only with a one-line InputError."""
    for parse in (lambda: PhasePlan.from_dict(value), lambda: PhasePlan.from_json(json.dumps(value))):
        try:
            parse().validate(10.0)
        except InputError as err:
            assert str(err) and "\n" not in str(err)


@given(st.text(max_size=300))
@settings(max_examples=300, deadline=None)
def test_any_text_is_an_srt_plan_or_one_input_error(text):
    try:
        PhasePlan.from_srt(text).validate(None)
    except InputError as err:
        assert str(err) and "\n" not in str(err)


@given(st.lists(st.tuples(st.floats(-5, 30), st.floats(-5, 30), st.text(max_size=12)), max_size=8), st.floats(0.5, 20))
@settings(max_examples=300, deadline=None)
def test_a_validated_plan_is_sorted_disjoint_and_inside_the_audio(rows, duration):
    plan = PhasePlan("", tuple(Phase(s, e, t) for s, e, t in rows))
    try:
        valid = plan.validate(duration)
    except InputError as err:
        assert "\n" not in str(err)
        return
    spans = [(p.start, p.end) for p in valid.phases]
    assert spans == sorted(spans) and all(0 <= s < e for s, e in spans)
    assert all(a[1] <= b[0] + 1e-9 for a, b in zip(spans, spans[1:], strict=False))
    assert all(e <= duration + 0.04 for _, e in spans) and all(p.text for p in valid.phases)


@given(plans(), st.floats(0.5, 60))
@example(PhasePlan("0", (Phase(0.4, 0.401, "0"),)), 0.5)  # found by a random run: a short phase near the end
@settings(max_examples=200, deadline=None)
def test_clipping_always_yields_a_valid_plan(plan, duration):
    clipped, notes = plan.clipped(duration)
    long_enough = PhasePlan(clipped.base, tuple(p for p in clipped.phases if p.duration >= 0.1))
    long_enough.validate(duration)  # never raises: everything left lies inside the audio
    past_end = [p for p in plan.phases if p.end > duration]
    assert len(notes) == len(past_end)  # one note per phase that ran past the end, none for the others
    for p, note in zip(past_end, notes, strict=True):
        if "starts after the audio ends" in note:
            assert p.start >= duration  # the note says exactly what happened
        elif "would be only" in note:
            assert p.start < duration and duration - p.start < 0.1 and p not in clipped.phases
        else:
            assert "trimmed to end at" in note and duration - p.start >= 0.1
            assert Phase(p.start, duration, p.text) in clipped.phases
    assert all(p in clipped.phases for p in plan.phases if p.end <= duration)  # inside the audio: kept as it is


def test_clipping_names_a_phase_left_too_short_by_trimming():
    plan = PhasePlan("", (Phase(0.45, 0.8, "nods"), Phase(0.1, 0.2, "blinks")))
    clipped, notes = plan.clipped(0.5)
    assert clipped.phases == (Phase(0.1, 0.2, "blinks"),)
    assert notes == [
        'phase 1 (0.45–0.8 s, "nods") runs past the audio\'s end (0.5 s) and would be only 0.05 s long once trimmed '
        "(the minimum is 0.1 s): removed."
    ]


def test_a_phase_shorter_than_the_minimum_inside_the_audio_is_rejected_by_validation_not_clipping():
    plan = PhasePlan("0", (Phase(0.4, 0.401, "0"),))
    clipped, notes = plan.clipped(0.5)
    assert clipped == plan and notes == []
    with pytest.raises(InputError, match=r'phase 1 \(0.4–0.401 s, "0"\) is 0.001 s long, shorter than the minimum'):
        clipped.validate(0.5)


@given(st.text(max_size=80))
@settings(max_examples=300, deadline=None)
def test_clean_text_is_idempotent_and_strips_controls(text):
    from actavatar.phases import _CONTROL, clean_text

    once = clean_text(text)
    assert clean_text(once) == once and not _CONTROL.search(once) and once == once.strip()


def test_a_validated_plan_is_not_validated_again_for_the_same_audio():
    plan = PhasePlan("a woman", (Phase(2.0, 3.0, "smiles"), Phase(0.0, 1.5, "nods")))
    checked = plan.validate(4.0)
    assert checked.validate(4.0) is checked  # the pipeline's check of the plan the API validated
    assert checked == plan.sorted() and checked.to_dict() == plan.sorted().to_dict()  # no part of the plan's value
    restored = pickle.loads(pickle.dumps(checked))  # ZeroGPU hands the plan to a forked worker
    assert restored == checked and restored.validate(4.0) is restored
    with pytest.raises(InputError, match="ends after the audio ends"):
        checked.validate(2.5)  # another audio length: validated anew
    changed = dataclasses.replace(checked, phases=(Phase(0.0, 1.5, ""),))
    with pytest.raises(InputError, match="has no action text"):
        changed.validate(4.0)  # a changed copy is validated anew
