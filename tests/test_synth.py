"""Synthetic clips and datasets: real espeak-ng speech, phases, held-out split, shards."""

from __future__ import annotations

import json

import numpy as np
import pytest

from actavatar.errors import InputError
from actavatar.evaluation.metrics import lip_sync, mouth_closed_on_silence
from actavatar.motion import MOTION_DIM, MOTION_INDEX, MOTION_LIMITS, MOTION_NAMES
from actavatar.training.actions import parts_of
from actavatar.training.synth import build_dataset, load_dataset, make_sample, sentences, voices


def test_stage1_sample_has_base_prompt_only_and_synced_mouth():
    rng = np.random.default_rng(0)
    corrs, lags = [], []
    for _ in range(8):
        s = make_sample(rng, "train", stage=1)
        assert 3.0 <= s.duration <= 10.5 and s.audio.dtype == np.float32
        assert s.motion.shape == (int(np.ceil(s.duration * 25 - 1e-6)), MOTION_DIM) and s.motion.dtype == np.float32
        assert s.plan.phases == () and s.actions == [] and s.plan.base
        for k, name in enumerate(MOTION_NAMES):
            lo, hi = MOTION_LIMITS[name]
            assert lo <= s.motion[:, k].min() and s.motion[:, k].max() <= hi
        corr, lag = lip_sync(s.motion[:, MOTION_INDEX["jaw_open"]], s.audio, s.sample_rate, s.fps)
        corrs.append(corr)
        lags.append(lag)
        assert mouth_closed_on_silence(s.motion[:, MOTION_INDEX["jaw_open"]], s.audio, 16000, 25) >= 0.9
        assert {"voice", "rate", "pitch", "sentence", "mood"} <= set(s.meta)
    # The ground truth itself meets the lip-sync targets (per clip the best lag scatters by ~±30 ms).
    assert np.mean(corrs) > 0.55 and min(corrs) > 0.4
    assert abs(np.median(lags)) <= 25 and max(np.abs(lags)) <= 80


def test_stage2_sample_has_valid_phases_and_labels():
    rng = np.random.default_rng(1)
    counts = set()
    for _ in range(25):
        s = make_sample(rng, "train", stage=2)
        assert s.plan.validate(s.duration) == s.plan
        assert 1 <= len(s.plan.phases) <= 4 and len(s.actions) == len(s.plan.phases)
        assert all(p.end - p.start >= 0.75 for p in s.plan.phases)
        for label in s.actions:
            parts_of(label)
        counts.add(len(s.plan.phases))
    assert counts >= {1, 2, 3}


@pytest.mark.parametrize("split", ["train", "heldout"])
def test_stage2_targets_are_what_the_evaluation_detects(split):
    """The training targets themselves pass the evaluation's detectors (on the motion, no pixels): every intensity
    word above threshold, repetitions at learnable positions, no contradictory combinations. 95 % on the shipped
    synthesis, 99-100 % since issue #5."""
    from actavatar.evaluation.metrics import score_phases

    rng = np.random.default_rng(21)
    hits = []
    for _ in range(120):
        s = make_sample(rng, split, stage=2)
        assert "wink_left+wink_right" not in s.actions and "wink_right+wink_left" not in s.actions
        phases = [(label, p.start, p.end) for label, p in zip(s.actions, s.plan.phases, strict=True)]
        hits += [r["detected"] for r in score_phases(s.motion, s.fps, phases)]
    assert np.mean(hits) >= 0.97, f"{sum(hits)}/{len(hits)}"


def test_heldout_split_shares_no_sentences_or_voices_with_train():
    assert not set(sentences("train")) & set(sentences("heldout"))
    assert len(sentences("train")) + len(sentences("heldout")) >= 3000
    assert not set(voices("train")) & set(voices("heldout")) and len(voices("heldout")) >= 20
    rng = np.random.default_rng(2)
    s = make_sample(rng, "heldout", stage=2)
    assert s.meta["voice"] in voices("heldout")
    assert all(part in sentences("heldout") for part in _split_sentences(s.meta["sentence"]))


def _split_sentences(text: str) -> list[str]:
    out, cur = [], []
    for word in text.split():
        cur.append(word)
        if word[-1] in ".?":
            out.append(" ".join(cur))
            cur = []
    return out


def test_build_and_load_dataset_roundtrip(tmp_path):
    root = build_dataset(tmp_path / "ds", 7, "train", stage=2, seed=3, shard_size=3)
    manifest = json.loads((root / "manifest.json").read_text())
    assert manifest["n"] == 7 and len(manifest["shards"]) == 3
    assert not list(root.glob("*.tmp*"))
    ds = load_dataset(root)
    assert len(ds) == 7
    item = ds[4]
    assert item.motion.shape[1] == MOTION_DIM and item.fps == 25.0
    assert item.motion.shape[0] == int(np.ceil(item.duration * 25 - 1e-6))
    assert len(item.actions) == len(item.plan.phases) >= 1
    assert np.abs(item.audio).max() <= 1.0 and np.abs(item.audio).max() > 0.05
    assert [s.actions for s in ds][4] == item.actions and ds[-1].meta == ds[6].meta


def test_dataset_bad_folders_raise_input_error(tmp_path):
    with pytest.raises(InputError, match="manifest.json"):
        load_dataset(tmp_path)
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(InputError, match="corrupt"):
        load_dataset(tmp_path)
    root = build_dataset(tmp_path / "ds", 2, "heldout", stage=1, seed=0)
    (root / "shard-00000.npz").write_bytes(b"garbage")
    with pytest.raises(InputError, match="rebuild"):
        load_dataset(root)[0]
    with pytest.raises(InputError):
        make_sample(np.random.default_rng(0), "test", 2)


def _build(out: str, barrier) -> None:
    """Build a 2-shard dataset; both builders write each shard's temp file before either renames it."""
    import actavatar.training.synth as synth

    savez = np.savez_compressed

    def lockstep(path, **arrays):
        barrier.wait(60)
        savez(path, **arrays)
        barrier.wait(60)

    synth.np.savez_compressed = lockstep
    build_dataset(out, 2, "heldout", 2, seed=3, shard_size=1)


def test_two_processes_building_the_same_dataset_both_succeed(tmp_path):
    """Two evaluations started together build the same folder: each writes its own temp files and renames them
    (with one shared temp name, the second rename found the file gone)."""
    import multiprocessing as mp

    ctx = mp.get_context("fork")
    barrier = ctx.Barrier(2)
    procs = [ctx.Process(target=_build, args=(str(tmp_path / "same"), barrier)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0]
    ds = load_dataset(tmp_path / "same")
    assert len(ds) == 2 and ds[1].motion.shape[1] == MOTION_DIM
    assert not [p.name for p in (tmp_path / "same").iterdir() if ".tmp." in p.name]


def test_action_jaw_closes_in_the_speech_pauses_of_a_sample():
    """The audio owns the mouth: inside a surprise or laugh phase, the frames of a pause in the speech have the
    speech's own (closed) mouth, so the ground truth keeps the mouth closed on silence without exceptions."""
    from actavatar.training.actions import MOUTH_FADE_S
    from actavatar.training.audio_domain import pauses

    rng = np.random.default_rng(4)
    found = 0
    for _ in range(150):
        s = make_sample(rng, "train", stage=2)
        jaw = s.motion[:, MOTION_INDEX["jaw_open"]]
        mid = (np.arange(len(jaw)) + 0.5) / s.fps
        for label, phase in zip(s.actions, s.plan.phases, strict=True):
            if not {"raise_eyebrows", "laugh"} & set(label.split("+")):
                continue
            for a, b in pauses(s.meta["words"], s.duration):
                # Past the fade and the last word's own closing (the visemes' coarticulation tail).
                core = (mid >= max(a, phase.start) + MOUTH_FADE_S + 0.12) & (mid < min(b, phase.end) - 0.15)
                if core.sum() >= 3:
                    found += 1
                    assert jaw[core].max() < 0.05, (label, a, b, jaw[core])
        if found >= 3:
            break
    assert found >= 3
