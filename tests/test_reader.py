"""The phase reader ("understood as"): shipped weights, readings of plain and awkward texts, warnings for what a
face cannot do, and the frozen external phrasings kept apart from training."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from actavatar.evaluation.external import EXTERNAL_PATH as EXTERNAL
from actavatar.phases import Phase, PhasePlan
from actavatar.reader import (
    READER_PATH,
    ReadAction,
    Reading,
    action_class,
    clauses,
    pick_sides,
    read_phases,
    reader_classes,
)


def test_weights_are_shipped_small_and_match_the_classes():
    assert READER_PATH.is_file() and READER_PATH.stat().st_size < 2_000_000
    with np.load(READER_PATH) as f:
        meta = json.loads(str(f["meta"]))
        assert tuple(meta["classes"]) == reader_classes()
        assert f["w2"].shape[1] == len(reader_classes())


def test_clauses_split_like_the_model_but_keep_paired_directions():
    assert clauses("smiles, nods and then blinks") == ["smiles", "nods", "blinks"]
    assert clauses("moves her head left and right") == ["moves her head left and right"]
    assert clauses("nods up and down while smiling") == ["nods up and down", "smiling"]
    assert clauses("") == []


def test_side_free_class_of_a_label():
    assert action_class("turn_left") == "turn" and action_class("wink_right") == "wink"
    assert action_class("look_up") == "look_up" and action_class("shake_head") == "shake_head"


@pytest.mark.parametrize(
    "text,actions",
    [
        ("nods twice", {"nod"}),
        ("smiles and tilts her head to the left", {"smile", "tilt"}),
        ("raises her eyebrows", {"raise_eyebrows"}),
        ("closes her eyes", {"close_eyes"}),
        ("stays completely still", {"stay_still"}),
        ("Look up!", {"look_up"}),
    ],
)
def test_plain_texts_are_read_as_their_actions(text, actions):
    (r,) = read_phases([text])
    assert r.status == "ok" and {a.action for a in r.actions} == actions, r.describe()
    assert 0 < r.confidence <= 1


def test_side_size_and_count_are_read_per_clause():
    (r,) = read_phases(["nods three times and slightly tilts his head to the right"])
    got = {a.action: a for a in r.actions}
    assert got["nod"].count == 3 and got["tilt"].side == "right" and got["tilt"].size == "small"
    assert "×3" in r.describe() and "right" in r.describe()


def test_a_turn_that_names_no_side_gets_one_from_the_seed_and_says_which():
    texts = ["turns her head away", "smiles and glances sideways", "turns her head to the left", "nods twice"]
    plan = PhasePlan("a person", tuple(Phase(i, i + 0.9, t) for i, t in enumerate(texts)))
    readings = read_phases(texts)
    assert [a.side for a in readings[0].actions] == ["either"] and "the seed picks one" in readings[0].describe()
    assert all(r.warning() is None for r in readings)  # before a side is picked there is nothing to warn about
    sides = set()
    for seed in range(8):
        performed, picked = pick_sides(plan, readings, seed)
        assert performed == pick_sides(plan, readings, seed)[0]  # the seed decides, nothing else
        (turn,) = picked[0].actions
        assert turn.side in ("left", "right") and turn.side_picked and turn.clause == "turns her head away"
        assert performed.phases[0].text == f"turns her head away to the {turn.side}" == picked[0].performed
        assert f"to her {turn.side}" in picked[0].describe() and "picked by the seed" in picked[0].describe()
        assert "names no side" in picked[0].warning() and "'to the left' or 'to the right'" in picked[0].warning()
        glance = {a.action: a for a in picked[1].actions}["glance"]
        assert performed.phases[1].text == f"smiles and glances sideways to the {glance.side}"
        assert performed.phases[2:] == plan.phases[2:] and picked[2:] == readings[2:]  # named sides, no sides
        sides.add(turn.side)
    assert sides == {"left", "right"}  # another seed may pick the other side
    (both,) = read_phases(["tilts her head and looks away"])
    (picked,) = pick_sides(PhasePlan("", (Phase(0, 1, both.text),)), [both], 0)[1]
    (side,) = {a.side for a in picked.actions}  # one side for the phase
    assert picked.performed == f"tilts her head to the {side} and looks away to the {side}"


@pytest.mark.parametrize("text,kind", [("waves his hand", "hands"), ("walks to the door", "walking")])
def test_what_a_face_cannot_do_gets_a_warning_that_names_it(text, kind):
    (r,) = read_phases([text])
    assert r.status == "unperformable" and r.kind == kind
    warning = r.warning()
    assert warning and "cannot" in warning and text in warning and "closest" in warning


@pytest.mark.parametrize("text", ["asdf qwerty", "the quarterly report", "12345"])
def test_text_that_is_no_action_is_not_understood(text):
    (r,) = read_phases([text])
    assert r.status == "not_understood"
    assert "not understood" in r.warning() and "nods twice" in r.warning()


def test_reading_round_trips_to_the_report():
    r = Reading("nods", "ok", (ReadAction("nod", 0.9, count=2),), 0.9)
    d = r.to_dict()
    assert d["summary"] == r.describe() == "nod ×2 (90%)"
    assert json.loads(json.dumps(d))["actions"][0]["count"] == 2
    assert r.warning() is None


# ------------------------------------------------------------------------------------- the external test set
def _external():
    return json.loads(EXTERNAL.read_text(encoding="utf-8"))


def test_external_set_is_large_varied_and_labelled_with_known_actions():
    from actavatar.evaluation.metrics import SIDE_FREE, action_signature

    data = _external()
    phases = data["phases"]
    assert len(phases) >= 300
    styles = {p["style"] for p in phases}
    assert len(styles) >= 8
    for p in phases:
        for part in p["label"].split("+"):
            assert part in SIDE_FREE or action_signature(part)
    assert len({p["text"].lower() for p in phases}) == len(phases)
    assert data["unperformable"] and data["not_understood"]


_STOP = set(
    "a an the her his their your you my she he they it its is are was be being been to of in on at for with and or "
    "then while as if up down left right side one both two three four five twice once times time s not no".split()
)


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z]+", text.lower())) - _STOP


def test_no_external_text_is_a_training_text():
    """Nothing in the external set is trained on: no phrasing of the bank, verbatim or as its content words."""
    from actavatar.training.actions import ACTIONS

    bank = {" ".join(sorted(_words(t))) for a in ACTIONS.values() for t in (*a.phrasings, *a.gerunds)}
    for p in _external()["phases"]:
        assert " ".join(sorted(_words(p["text"]))) not in bank, p["text"]
