import torch

from actavatar.text import TEXT_DIM


def test_minilm_token_states_offline(text_encoder):
    states, mask = text_encoder.encode(["a woman talking calmly", "nods twice", "smiles and raises her eyebrows"])
    assert states.shape[0] == 3 and states.shape[2] == TEXT_DIM
    assert mask.dtype == torch.bool and mask[0].sum() >= 5  # [CLS] a woman talking calmly [SEP]
    assert (states[~mask] == 0).all()
    # Real model: related phrasings are closer than unrelated ones (mean-pooled token states).
    pooled = lambda s, m: (s * m[..., None]).sum(1) / m.sum(1, keepdim=True)  # noqa: E731
    a, b, c = pooled(*text_encoder.encode(["nods twice", "nods his head two times", "closes her eyes"]))
    cos = torch.nn.functional.cosine_similarity
    assert cos(a, b, dim=0) > cos(a, c, dim=0)


def test_cache_returns_identical_states_and_handles_duplicates(text_encoder):
    s1, m1 = text_encoder.encode(["nods", "nods", ""])
    s2, m2 = text_encoder.encode(["nods"])
    assert torch.equal(s1[0, : m2[0].sum()], s2[0, : m2[0].sum()])
    assert torch.equal(s1[0], s1[1])
    assert m1[2].sum() == 2  # empty text -> [CLS] [SEP]
