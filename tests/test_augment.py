"""Stage-2 text generalisation: surface variants (never a held-out phrasing), token dropout, the pooled token."""

import numpy as np
import torch

from actavatar.training.actions import ACTIONS, sample_action
from actavatar.training.augment import (
    contains_heldout,
    contains_heldout_verbatim,
    content_key,
    heldout_phrasings,
    protected_words,
    typo,
    variants,
)


def _heldout_phrases():
    for action in ACTIONS.values():
        yield from action.phrasings_for("heldout")
        yield from action.gerunds_for("heldout")
        yield from action.sideless_for("heldout")


def test_content_key_ignores_pronouns_subjects_and_verb_form():
    assert content_key("She shakes her head.") == content_key("shake the head") == ("shake", "head")
    assert content_key("the speaker nods twice") == ("nod", "twice")
    assert content_key("tilts her head to the left") != content_key("tilts her head to the right")


def test_variants_are_different_texts_and_never_a_heldout_phrasing():
    rng = np.random.default_rng(0)
    texts = [sample_action(rng, "train").text for _ in range(400)]
    made = 0
    for text in texts:
        out = variants(text, rng, 3)
        assert len(out) == len(set(out)) and text not in out
        for v in out:
            made += 1
            assert not contains_heldout_verbatim(v), (text, v)
            if not contains_heldout(text):
                assert not contains_heldout(v), (text, v)
    assert made > 2.5 * len(texts)  # nearly every text gets its 3 variants


def test_a_pronoun_swap_onto_a_heldout_phrasing_is_rejected():
    # Every held-out phrasing, rewritten with another pronoun or subject, is still recognised as held out.
    for phrase in _heldout_phrases():
        swapped = phrase.replace("her ", "his ").replace("the ", "their ")
        assert contains_heldout(f"then {swapped}"), phrase
        assert contains_heldout_verbatim(f"she {phrase} twice"), phrase


def test_variants_cover_the_forms_users_type():
    rng = np.random.default_rng(1)
    seen = set()
    for _ in range(40):
        seen.update(variants("she nods her head twice", rng, 3))
    assert any(v.lower().startswith("nod ") for v in seen)  # imperative
    assert any("their head" in v or "his head" in v for v in seen)  # pronouns
    assert any(v[0].isupper() for v in seen) and any(v.endswith(".") for v in seen)


def test_heldout_phrasings_include_the_sideless_ones():
    held = set(heldout_phrasings())
    for action in ACTIONS.values():
        assert {p.lower() for p in action.sideless_for("heldout")} <= held


def test_typos_never_touch_side_or_count_words():
    import re

    rng = np.random.default_rng(4)
    texts = [sample_action(rng, "train").text for _ in range(300)]
    texts += ["tilts her head to the left three times", "winks her right eye twice", "shakes her head 3 times"]
    changed = 0
    for text in texts:
        for _ in range(5):
            t = typo(text, rng)
            a, b = text.split(" "), t.split(" ")
            assert len(a) == len(b)
            diff = [(x, y) for x, y in zip(a, b, strict=True) if x != y]
            assert len(diff) <= 1, (text, t)
            for x, y in diff:
                changed += 1
                assert len(x) >= 5 and abs(len(x) - len(y)) <= 1 and x[0] == y[0], (x, y)
                assert not re.search("left|right", x, re.I) and x.lower() not in protected_words(), (x, y)
            for side in ("left", "right", "leftward", "rightward"):
                assert a.count(side) == b.count(side)
    assert changed > 500
    assert {"twice", "three", "times", "couple", "thrice"} <= protected_words()
    assert typo("nods twice", rng) == "nods twice"  # no word of five letters that may change


def test_variants_of_noun_phrases_and_second_person_keep_their_form():
    rng = np.random.default_rng(5)
    seen = set()
    for text in ("a slight head tilt to the left", "her head tilted to the left", "you nod your head"):
        for _ in range(30):
            for v in variants(text, rng, 3):
                seen.add(v)
                low = v.lower()
                assert not low.startswith(("she ", "he ", "the speaker ", "the person ", "they ", "then ")), v
                if text.startswith("you"):
                    assert low.startswith(("you nod", "nod")), v
                else:
                    assert "left" in low, v
    assert any(v.lower().startswith("nod your") for v in seen)  # the imperative of "you nod your head"
    forms = set()
    for _ in range(300):
        for v in variants("she smiles and turns her head to the left", rng, 3):
            forms.add("caps" if v.isupper() else "!!" if v.endswith("!!") else "lower" if v == v.lower() else "")
    assert {"caps", "!!", "lower"} <= forms


def test_pooled_token_is_the_sentence_embedding(text_encoder):
    plain, pmask = text_encoder.encode(["nods twice", "smiles"])
    pooled, mask = text_encoder.encode(["nods twice", "smiles"], pooled=True)
    assert (mask.sum(1) == pmask.sum(1) + 1).all()
    for i in range(2):
        n = int(pmask[i].sum())
        assert torch.allclose(pooled[i, 0], plain[i, :n].mean(0))
        assert torch.equal(pooled[i, 1 : n + 1], plain[i, :n])


def test_clauses_split_at_and_while_and_commas_once_a_clause_has_a_word(text_encoder):
    from actavatar.text import clause_ids

    def clauses(text):
        pieces = text_encoder.tokens([text])[0]
        words = {}
        for piece, k in zip(pieces, clause_ids(pieces), strict=True):
            words.setdefault(k, []).append(piece)
        return [" ".join(w) for w in words.values()]

    assert clauses("smiles and nods") == ["[CLS] smiles", "and nods [SEP]"]
    assert clauses("then turns her head to the left while blinking") == [
        "[CLS] then turns her head to the left",
        "while blinking [SEP]",
    ]
    assert clauses("nods, smiles") == ["[CLS] nods", ", smiles [SEP]"]
    for one in ("smiles", "and smiles", "smiles and", "nods twice"):
        assert len(clauses(one)) == 1, one


def test_clause_tokens_follow_the_sentence_embedding(text_encoder):
    from actavatar.text import clause_ids, with_pooled

    texts = ["smiles and turns her head to the right", "smiles"]
    plain, pmask = text_encoder.encode(texts)
    both, mask = text_encoder.encode(texts, pooled=True, clauses=True)
    assert mask.sum(1).tolist() == [pmask[0].sum() + 3, pmask[1].sum() + 1]  # 2 clauses; 1 clause: no extra
    n = int(pmask[0].sum())
    ids = torch.tensor(clause_ids(text_encoder.tokens(texts[:1])[0]))
    assert torch.allclose(both[0, 0], plain[0, :n].mean(0))
    assert torch.allclose(both[0, 1], plain[0, :n][ids == 0].mean(0))
    assert torch.allclose(both[0, 2], plain[0, :n][ids == 1].mean(0))
    assert torch.equal(both[0, 3 : n + 3], plain[0, :n])
    assert not torch.allclose(both[0, 1], both[0, 2])
    # A clause emptied by token dropout gets no embedding.
    states = plain[0, :n]
    keep = ids == 0
    assert with_pooled(states[keep], ids[keep]).shape[0] == int(keep.sum()) + 1


def test_bank_states_drop_tokens_keep_cls_sep_and_lead_with_the_pooled_token(tmp_path):
    from actavatar.training.synth import build_dataset
    from actavatar.training.train import ClipBank, TrainConfig

    data = build_dataset(tmp_path / "d", 3, "train", 2, seed=0)
    bank = ClipBank(data, 2, text_variants=2, seed=0)
    phase_texts = {ph.text for p in bank.plans for ph in p.phases}
    assert phase_texts and all(t in bank.variants for t in phase_texts)
    assert all(v in bank.text for vs in bank.variants.values() for v in vs)  # variants are encoded too
    text = max(phase_texts, key=lambda t: bank.text[t].shape[0])
    full = bank.text[text].float()
    rng = np.random.default_rng(0)
    cfg = TrainConfig(token_dropout=0.5)
    for _ in range(20):
        s = bank._states(text, rng, cfg)
        assert 3 <= s.shape[0] <= full.shape[0]
        assert torch.equal(s[0], full[0]) and torch.equal(s[-1], full[-1])  # [CLS], [SEP]
    cfg = TrainConfig(text_pooled_token=True)
    s = bank._states(text, rng, cfg)
    assert torch.allclose(s[0], full.mean(0)) and torch.equal(s[1:], full)
    # Clause embeddings: the bank adds them as the pipeline does, also to what token dropout leaves.
    from actavatar.text import clause_ids, default_text_encoder
    from actavatar.training.train import encode_texts_cached

    combo = "smiles and nods twice"
    bank.text.update(encode_texts_cached([combo], tmp_path))
    ids = np.asarray(clause_ids(default_text_encoder().tokens([combo])[0]))
    bank.clauses[combo] = ids
    cfg = TrainConfig(text_pooled_token=True, text_clause_tokens=True)
    want, _ = default_text_encoder().encode([combo], pooled=True, clauses=True)
    got = bank._states(combo, rng, cfg)
    assert got.shape[0] == want.shape[1] == len(ids) + 3 and torch.allclose(got, want[0], atol=1e-2)
    assert bank._states(combo, rng, TrainConfig(text_pooled_token=True)).shape[0] == len(ids) + 1  # only when asked
    cfg.token_dropout = 0.6
    full = bank.text[combo].float()
    leads = set()
    for _ in range(30):
        got = bank._states(combo, rng, cfg)
        match = [[i for i in range(len(ids)) if torch.equal(row, full[i])] for row in got]
        lead = max(j for j, m in enumerate(match) if 0 in m)  # the summaries, then the kept tokens from [CLS]
        kept = [m[-1] for m in match[lead:]]
        rows, k = full[kept], ids[kept]
        expect = [rows.mean(0)] + ([rows[k == c].mean(0) for c in sorted(set(k))] if len(set(k)) > 1 else [])
        assert lead == len(expect) and all(torch.allclose(got[j], e) for j, e in enumerate(expect))
        leads.add(len(kept))
    assert len(leads) >= 2  # dropout hid different numbers of tokens ([CLS] and [SEP] keep both clauses present)
    # Variants are used only when asked, and then they are other texts of the same bank.
    cfg = TrainConfig(text_augment=1.0)
    picked = {tuple(bank._states(text, rng, cfg).shape) for _ in range(30)}
    assert picked <= {tuple(bank.text[v].shape) for v in bank.variants[text]}
    # A second bank on the same data reads the encoded texts from the cache file instead of re-encoding.
    assert list(data.glob(".text-states-*.safetensors"))
    again = ClipBank(data, 2, text_variants=2, seed=0)
    assert torch.equal(again.text[text], bank.text[text])


def test_mirror_text_swaps_sides_only():
    from actavatar.text import mirror_text

    assert mirror_text("turns her head to the left") == "turns her head to the right"
    assert mirror_text("Right eye wink, looks leftward brightly") == "Left eye wink, looks rightward brightly"
    assert mirror_text("winks with her left-eye") == "winks with her right-eye"
    assert mirror_text("smiles brightly and nods") == "smiles brightly and nods"
    for action in ACTIONS.values():  # every phrasing of a sided action names its side
        sided = "left" in action.label or "right" in action.label
        for p in action.phrasings:
            assert mirror_text(mirror_text(p)) == p
            if sided:
                assert mirror_text(p) != p, p


def test_mirror_motion_is_the_image_flipped():
    from actavatar.motion import MOTION_INDEX, mirror_motion

    rng = np.random.default_rng(0)
    m = rng.standard_normal((5, len(MOTION_INDEX))).astype(np.float32)
    f = mirror_motion(m)
    for name in ("head_yaw", "head_roll", "head_tx", "gaze_x"):
        assert np.array_equal(f[:, MOTION_INDEX[name]], -m[:, MOTION_INDEX[name]])
    for name in ("head_pitch", "head_ty", "head_scale", "jaw_open", "smile", "brow_raise", "gaze_y"):
        assert np.array_equal(f[:, MOTION_INDEX[name]], m[:, MOTION_INDEX[name]])
    assert np.array_equal(f[:, MOTION_INDEX["blink_left"]], m[:, MOTION_INDEX["blink_right"]])
    assert np.array_equal(mirror_motion(f), m)
    assert torch.equal(mirror_motion(torch.from_numpy(m)), torch.from_numpy(f))
    # The synthetic actions agree: a left turn mirrored is a right turn.
    from actavatar.training.actions import ActionPart, _part_motion

    t = np.linspace(0, 2, 50)
    left = _part_motion(ActionPart("turn_left", 1.0, 1.0, 1), t, 2.0, np.random.default_rng(1))
    right = _part_motion(ActionPart("turn_right", 1.0, 1.0, 1), t, 2.0, np.random.default_rng(1))
    assert np.allclose(left["head_yaw"], -right["head_yaw"]) and np.allclose(left["gaze_x"], -right["gaze_x"])


def test_bank_mirrors_sided_clips_never_into_a_heldout_phrasing(tmp_path):
    from actavatar.motion import mirror_motion
    from actavatar.pipelines.motion import normalize_motion
    from actavatar.text import mirror_text
    from actavatar.training.synth import build_dataset
    from actavatar.training.train import ClipBank, TrainConfig

    data = build_dataset(tmp_path / "d", 24, "train", 2, seed=3)
    plain = ClipBank(data, 2, text_variants=2, seed=0)
    assert all(p is None for p in plain.mirrored)  # off unless asked
    bank = ClipBank(data, 2, text_variants=2, seed=0, mirror=True)
    mirrored = [i for i, p in enumerate(bank.mirrored) if p is not None]
    assert mirrored, "24 clips should include a turn, tilt, glance or wink"
    for i in mirrored:
        plan, flipped = bank.plans[i], bank.mirrored[i]
        assert flipped.base == plan.base
        for ph, fl in zip(plan.phases, flipped.phases, strict=True):
            assert (fl.start, fl.end) == (ph.start, ph.end) and fl.text == mirror_text(ph.text)
            assert not contains_heldout(fl.text) and not contains_heldout_verbatim(fl.text)
            assert fl.text in bank.text  # encoded
            for v in bank.variants.get(fl.text, []):
                assert v in bank.text and not contains_heldout_verbatim(v)
    # A mirrored draw shows the mirrored motion with the mirrored texts.
    i = mirrored[0]
    n = len(bank.motion[i])
    for attr in ("motion", "features", "plans", "mirrored"):
        setattr(bank, attr, [getattr(bank, attr)[i]])
    bank.lengths, bank.weights = np.array([n]), np.ones(1)
    cfg = TrainConfig(stage=2, min_frames=n, max_frames=n, tokens_per_batch=2 * n, mirror=1.0, prefix_prob=0.0)
    x0, cond, _ = bank.batch(np.random.default_rng(0), cfg, "cpu")
    assert torch.allclose(x0[0], normalize_motion(mirror_motion(bank.motion[0])[None])[0])
    cfg.mirror = 0.0
    x0, _, _ = bank.batch(np.random.default_rng(0), cfg, "cpu")
    assert torch.allclose(x0[0], normalize_motion(bank.motion[0][None])[0])
