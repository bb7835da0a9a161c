"""Two-step training smoke tests for both stages, resume, and the trained checkpoint loading into the pipeline."""

import json

import numpy as np
import pytest
from conftest import speechlike

from actavatar.errors import InputError
from actavatar.training.train import TrainConfig, train


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    from actavatar.training.synth import build_dataset

    root = tmp_path_factory.mktemp("data")
    return build_dataset(root / "stage2", 6, "train", 2, seed=0)


def tiny(tmp_path, data_dir, **kw):
    base = dict(
        out_dir=str(tmp_path / "run"),
        data_dir=str(data_dir),
        steps=2,
        tokens_per_batch=200,
        min_frames=40,
        max_frames=60,
        model_dim=32,
        model_layers=2,
        save_every=1,
        warmup=1,
        threads=2,
    )
    return TrainConfig(**{**base, **kw})


def test_two_stages_train_resume_and_load(tmp_path, data_dir):
    from actavatar.pipelines.motion import ActAvatarMotionPipeline

    stage1 = train(tiny(tmp_path, data_dir, stage=1, out_dir=str(tmp_path / "s1")))
    log = [json.loads(line) for line in (stage1 / "log.jsonl").read_text().splitlines()]
    assert log and np.isfinite([r["loss"] for r in log]).all()
    stage2 = train(tiny(tmp_path, data_dir, stage=2, out_dir=str(tmp_path / "s2"), init_from=str(stage1)))
    assert json.loads((stage2 / "state" / "meta.json").read_text())["step"] == 2
    # Resume: asking for 3 steps continues from the saved step 2 instead of starting over.
    train(tiny(tmp_path, data_dir, stage=2, out_dir=str(tmp_path / "s2"), init_from=str(stage1), steps=3))
    assert json.loads((stage2 / "state" / "meta.json").read_text())["step"] == 3
    assert [p.name for p in stage2.iterdir() if p.name.endswith((".tmp", ".old"))] == []
    # Schedule ablation: stage 2 from the progressive stage 1 with gates re-initialised to "reverse".
    reverse = train(
        tiny(
            tmp_path,
            data_dir,
            stage=2,
            out_dir=str(tmp_path / "rev"),
            init_from=str(stage1),
            schedule="reverse",
            steps=1,
        )
    )
    config = json.loads((reverse / "transformer" / "config.json").read_text())
    assert config["schedule"] == "reverse"
    gates = ActAvatarMotionPipeline.from_checkpoint(reverse).transformer.modality_schedule.to_dict()
    assert gates["text_gate"][0] < gates["text_gate"][-1]  # reverse: text weight grows with depth
    pipe = ActAvatarMotionPipeline.from_checkpoint(stage2)
    out = pipe(speechlike(2.0), None, None, num_inference_steps=2)
    assert out.motion.shape == (50, 14) and np.isfinite(out.motion).all()


def test_bad_training_inputs(tmp_path, data_dir):
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    (corrupt / "manifest.json").write_text("{not json")
    with pytest.raises(InputError, match="corrupt"):
        train(tiny(tmp_path, corrupt, stage=1))
    with pytest.raises(InputError, match="run stage 1 first"):
        train(tiny(tmp_path, data_dir, stage=2, init_from=str(tmp_path / "nothing")))
    bad = tmp_path / "bad.toml"
    bad.write_text("stage = 1\nlearning_rate = 3\n")
    with pytest.raises(InputError, match="Unknown keys"):
        TrainConfig.from_toml(bad)


def test_phase_frames_weigh_more_in_the_loss(tmp_path, data_dir):
    import torch

    from actavatar.models.motion_dit import MotionDiT
    from actavatar.training.train import ClipBank, flow_matching_loss

    cfg = tiny(tmp_path, data_dir, stage=2, phase_loss_weight=3.0, drop_phases=0.0)
    bank = ClipBank(data_dir, 2)
    x0, cond, weight = bank.batch(np.random.default_rng(0), cfg, "cpu")
    assert weight.shape == x0.shape[:2] and set(weight.unique().tolist()) <= {1.0, 3.0}
    assert (weight == 3.0).any() and (weight == 1.0).any()
    # The weighted frames are exactly the frames whose midpoint lies in one of the crop's phase windows.
    spans, valid = cond.prompt.spans, cond.prompt.phase_valid
    t = cond.frame_times[:, :, None]
    inside = ((t >= spans[:, None, :, 0]) & (t < spans[:, None, :, 1]) & valid[:, None, :]).any(-1)
    assert torch.equal(weight == 3.0, inside)
    model = MotionDiT(dim=32, num_layers=2)
    plain = flow_matching_loss(model, x0, cond, cfg, torch.Generator().manual_seed(0))
    ones = flow_matching_loss(model, x0, cond, cfg, torch.Generator().manual_seed(0), torch.ones_like(weight))
    weighted = flow_matching_loss(model, x0, cond, cfg, torch.Generator().manual_seed(0), weight)
    assert torch.allclose(plain, ones) and torch.isfinite(weighted) and not torch.allclose(plain, weighted)


def test_stage2_data_of_an_older_synthesis_is_refused(tmp_path, data_dir):
    import shutil

    old = tmp_path / "old"
    shutil.copytree(data_dir, old)
    manifest = json.loads((old / "manifest.json").read_text())
    del manifest["synthesis_version"]  # as written before the field existed: version 1
    (old / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(InputError, match="older synthesis .*delete the folder"):
        train(tiny(tmp_path, old, stage=2, init_from=""))
    assert not (tmp_path / "run").exists()


def test_data_only_synthesises_and_trains_nothing(tmp_path, monkeypatch):
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-m", "actavatar", "train", "--stage", "1", "--data-only", "--num-clips", "3",
         "--data", str(tmp_path / "d"), "--out", str(tmp_path / "run")],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert "stage 1 data:" in out.stdout
    assert json.loads((tmp_path / "d" / "manifest.json").read_text())["n"] == 3
    assert not (tmp_path / "run").exists()


def test_stage2_adds_the_phase_clock_to_a_stage1_model(tmp_path, data_dir):
    from actavatar.pipelines.motion import ActAvatarMotionPipeline

    stage1 = train(tiny(tmp_path, data_dir, stage=1, out_dir=str(tmp_path / "s1"), steps=1))
    assert ActAvatarMotionPipeline.from_checkpoint(stage1).transformer.phase_clock_embed is None
    stage2 = train(
        tiny(tmp_path, data_dir, stage=2, out_dir=str(tmp_path / "s2"), init_from=str(stage1), phase_clock=True)
    )
    model = ActAvatarMotionPipeline.from_checkpoint(stage2).transformer
    assert model.config.phase_clock and model.phase_clock_embed is not None
    assert model.phase_clock_embed[-1].weight.abs().sum() > 0  # trained away from its zero start


def test_text_generalisation_options_train_and_the_pooled_token_is_used_at_inference(tmp_path, data_dir):
    from actavatar.pipelines.motion import ActAvatarMotionPipeline

    options = dict(text_variants=2, text_augment=0.5, token_dropout=0.1, text_pooled_token=True)
    for clauses in (False, True):
        cfg = tiny(tmp_path / f"{clauses}", data_dir, stage=2, text_clause_tokens=clauses, **options)
        pipe = ActAvatarMotionPipeline.from_checkpoint(train(cfg))
        assert pipe.transformer.config.text_pooled_token is True
        assert pipe.transformer.config.text_clause_tokens is clauses
        seen = []
        real = pipe.text_encoder.encode

        class Spy:
            def encode(self, texts, pooled=False, clauses=False, seen=seen, real=real):
                seen.append((pooled, clauses))
                return real(texts, pooled, clauses)

        pipe._text_encoder = Spy()
        out = pipe(speechlike(2.0), None, None, num_inference_steps=2)
        assert seen == [(True, clauses)] and np.isfinite(out.motion).all()
    with pytest.raises(InputError, match="text_pooled_token"):
        train(tiny(tmp_path / "bad", data_dir, stage=2, text_clause_tokens=True))


def test_label_weights_draw_clips_with_that_action_more_often(tmp_path, data_dir):
    from actavatar.training.synth import load_dataset
    from actavatar.training.train import ClipBank

    ds = load_dataset(data_dir)
    labels = [ds[i].actions for i in range(len(ds))]
    target = next(p for acts in labels for lab in acts for p in lab.split("+") if p != "stay_still")
    has = np.array([any(target in lab.split("+") for lab in acts) for acts in labels])
    assert has.any() and not has.all()
    bank = ClipBank(data_dir, 2, label_weights={target: 50.0})
    np.testing.assert_array_equal(bank.weights, np.where(has, 50.0, 1.0))
    assert np.all(ClipBank(data_dir, 1, label_weights={target: 50.0}).weights == 1.0)  # stage 1 has no phases
    # The clips batches are cut from: those with the action dominate (uniform draws give has.mean() of them).

    class Spy:  # records the clip draws (the only choice() call with a size) of the real generator
        def __init__(self, rng):
            self.rng, self.picks = rng, []

        def __getattr__(self, name):
            return getattr(self.rng, name)

        def choice(self, *args, **kwargs):
            out = self.rng.choice(*args, **kwargs)
            if "size" in kwargs:
                self.picks.extend(np.atleast_1d(out).tolist())
            return out

    cfg = tiny(tmp_path, data_dir, stage=2, min_frames=40, max_frames=40, tokens_per_batch=80)  # 2 clips a batch
    eligible = np.flatnonzero(bank.lengths >= 40)
    assert has[eligible].any() and not has[eligible].all()

    def expected(w):  # share of draws holding the action: 2 distinct clips per batch, drawn in proportion to w
        w, total = w[eligible], w[eligible].sum()
        pairs = [
            (w[a] / total) * (w[b] / (total - w[a])) * (int(has[eligible[a]]) + int(has[eligible[b]])) / 2
            for a in range(len(w))
            for b in range(len(w))
            if a != b
        ]
        return float(sum(pairs))

    uniform, weighted = expected(np.ones(len(has))), expected(bank.weights)
    assert weighted > uniform + 0.1  # this fixture can tell a weighted draw from a uniform one
    for weights, share in (({target: 50.0}, weighted), ({}, uniform)):
        spy = Spy(np.random.default_rng(0))
        for _ in range(100):
            ClipBank.batch(bank if weights else ClipBank(data_dir, 2), spy, cfg, "cpu")
        got = has[spy.picks].mean()  # 200 draws: the standard error of the share is below 0.035
        assert abs(got - share) < 0.1, (weights, got, share, uniform)
    with pytest.raises(InputError, match="label_weights"):
        train(tiny(tmp_path, data_dir, stage=2, label_weights={"moonwalk": 2.0}))
    with pytest.raises(InputError, match="label_weights"):
        train(tiny(tmp_path, data_dir, stage=2, label_weights={target: 0.0}))
    with pytest.raises(InputError, match="mirror is a probability"):
        train(tiny(tmp_path, data_dir, stage=2, mirror=1.5))
    # Clips with a combination phase: their own weight, multiplied with the label weight.
    combined = np.array([any("+" in lab for lab in acts) for acts in labels])
    assert combined.any()  # (in some test orders every clip of the fixture holds one: the product still shows)
    both = ClipBank(data_dir, 2, label_weights={target: 50.0}, combination_weight=3.0)
    np.testing.assert_array_equal(both.weights, np.where(has, 50.0, 1.0) * np.where(combined, 3.0, 1.0))
    with pytest.raises(InputError, match="combination_weight must be positive"):
        train(tiny(tmp_path, data_dir, stage=2, combination_weight=0.0))


def test_text_cache_encodes_only_the_texts_no_earlier_list_holds(tmp_path, monkeypatch):
    import torch

    from actavatar.text import default_text_encoder
    from actavatar.training import train as train_module

    encoder, asked = default_text_encoder(), []

    class Counting:
        def encode(self, texts):
            asked.extend(texts)
            return encoder.encode(texts)

    monkeypatch.setattr(train_module, "default_text_encoder", lambda: Counting())
    first = train_module.encode_texts_cached(["nods twice", "smiles", "looks up"], tmp_path)
    assert sorted(asked) == ["looks up", "nods twice", "smiles"]
    asked.clear()
    # Another list (another seed's variants): only its new text is encoded, the shared ones come from the first file.
    second = train_module.encode_texts_cached(["smiles", "winks", "nods twice"], tmp_path)
    assert asked == ["winks"]
    assert torch.equal(second["smiles"], first["smiles"]) and torch.equal(second["nods twice"], first["nods twice"])
    fresh = encoder.encode(["winks"])[0][0, : second["winks"].shape[0]].half()
    assert torch.equal(second["winks"], fresh)
    # The same list again reads its own file; a damaged file is rebuilt, not trusted.
    asked.clear()
    assert torch.equal(train_module.encode_texts_cached(["smiles", "winks", "nods twice"], tmp_path)["winks"], fresh)
    assert asked == []
    for path in tmp_path.glob(".text-states-*.safetensors"):
        path.write_bytes(b"not a safetensors file")
    again = train_module.encode_texts_cached(["smiles", "winks", "nods twice"], tmp_path)
    assert sorted(asked) == ["nods twice", "smiles", "winks"] and torch.equal(again["winks"], fresh)

    # A file written before files listed their texts is read for its own list, and then lists them.
    from safetensors.torch import load_file, save_file

    for path in tmp_path.glob(".text-states-*.safetensors"):
        path.unlink()
    train_module.encode_texts_cached(["smiles", "winks", "nods twice"], tmp_path)
    (path,) = tmp_path.glob(".text-states-*.safetensors")
    save_file(load_file(path), path)  # the same tensors, no metadata
    asked.clear()
    train_module.encode_texts_cached(["smiles", "winks", "nods twice"], tmp_path)
    assert asked == []
    train_module.encode_texts_cached(["winks", "yawns"], tmp_path)
    assert asked == ["yawns"]


def test_token_dropout_never_hides_a_direction_word(tmp_path, data_dir):
    from actavatar.text import default_text_encoder
    from actavatar.training.train import ClipBank, direction_tokens, encode_texts_cached

    texts = ["she turns her head to the left", "looks up", "smiles"]
    states = encode_texts_cached(texts, tmp_path)
    marks = direction_tokens(texts, states)
    assert set(marks) == {texts[0], texts[1]}  # "smiles" has no direction word
    pieces = default_text_encoder().tokens([texts[0]])[0]
    assert [p for p, m in zip(pieces, marks[texts[0]], strict=True) if m] == ["left"]
    bank = ClipBank(data_dir, 2)
    bank.text.update(states)
    bank.protected.update(marks)
    cfg = tiny(tmp_path, data_dir, stage=2, token_dropout=0.9)
    rng = np.random.default_rng(0)
    left = states[texts[0]][pieces.index("left")].float()
    draws = [bank._states(texts[0], rng, cfg) for _ in range(50)]
    assert all(any(np.allclose(row, left) for row in d) for d in draws)
    assert min(d.shape[0] for d in draws) < len(pieces) - 3  # other tokens were dropped
