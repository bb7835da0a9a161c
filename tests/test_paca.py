"""PACA at the processor level: masks decide exactly which frames a phase's text can influence."""

import numpy as np
import pytest
import torch
from diffusers.models.transformers.transformer_wan import WanAttention
from hypothesis import given, settings
from hypothesis import strategies as st

from actavatar.models.paca import (
    PhaseAttentionContext,
    PhaseAwareCrossAttnProcessor,
    TimeAnchor,
    frame_phase_weights,
    frame_times,
    pack_phase_prompt,
    phase_attention_bias,
    phase_attention_context,
)
from actavatar.phases import Phase, PhasePlan

FPS, T, D = 25, 150, 32


def make_attn(seed=0):
    torch.manual_seed(seed)
    attn = WanAttention(D, heads=2, dim_head=16, cross_attention_dim_head=16, processor=PhaseAwareCrossAttnProcessor())
    return attn.eval()


def encode(texts, seed=0):
    """Deterministic stand-in token states per text (the processor sees only tensors)."""
    out = []
    for t in texts:
        g = torch.Generator().manual_seed(abs(hash(t)) % (2**31))
        out.append(torch.randn(3 + len(t) % 4, D, generator=g))
    length = max(o.shape[0] for o in out)
    states = torch.zeros(len(out), length, D)
    mask = torch.zeros(len(out), length, dtype=torch.bool)
    for i, o in enumerate(out):
        states[i, : len(o)], mask[i, : len(o)] = o, True
    return states, mask


def run(plan: PhasePlan, mode="hard", width=0.3, record=False, x=None, attn=None):
    attn = attn or make_attn()
    base, bmask = encode([plan.base])
    pstates, pmask = (
        encode([p.text for p in plan.phases])
        if plan.phases
        else (torch.zeros(0, 1, D), torch.zeros(0, 1, dtype=torch.bool))
    )
    prompt = pack_phase_prompt(base, bmask, [(pstates, pmask)], [[(p.start, p.end) for p in plan.phases]])
    times = torch.from_numpy(frame_times(T, FPS)).float()[None]
    weights = frame_phase_weights(prompt.spans, prompt.phase_valid, times, mode, width)
    ctx = PhaseAttentionContext(
        phase_attention_bias(prompt, weights, mode), prompt.block_index, prompt.num_phases, record=record
    )
    x = x if x is not None else torch.randn(1, T, D, generator=torch.Generator().manual_seed(1))
    with phase_attention_context(ctx), torch.no_grad():
        out = attn(x, prompt.tokens)
    return out, ctx


PLAN = PhasePlan("a man talking", (Phase(0.0, 2.0, "nods twice"), Phase(3.0, 5.0, "smiles")))


@pytest.mark.parametrize("record", [False, True])
def test_changing_phase_text_changes_only_its_frames(record):
    out_a, _ = run(PLAN, record=record)
    changed = PhasePlan(PLAN.base, (PLAN.phases[0], Phase(3.0, 5.0, "frowns and closes his eyes")))
    out_b, _ = run(changed, record=record)
    diff = (out_a - out_b).abs().amax(-1)[0]  # (T,)
    inside = PLAN.frame_masks(T, FPS)[:, 1]
    assert (diff[torch.from_numpy(~inside)] == 0).all()  # exactly zero outside phase 2
    assert (diff[torch.from_numpy(inside)] > 1e-4).all()


def test_frames_outside_every_phase_see_only_the_base_block():
    out, ctx = run(PLAN, record=True)
    mass = ctx.attention[0][0]  # (T, P+1)
    gap = torch.from_numpy(PLAN.frame_phase_index(T, FPS) == -1)
    assert gap.sum() == 50  # 2-3 s and 5-6 s
    assert torch.allclose(mass[gap, 0], torch.ones(int(gap.sum())))
    assert (mass[gap, 1:] == 0).all()
    base_only, _ = run(PhasePlan(PLAN.base, ()))
    torch.testing.assert_close(out[0, gap], base_only[0, gap], atol=1e-6, rtol=1e-6)


def test_soft_mask_feathers_and_off_mixes_everything():
    _, hard = run(PLAN, "hard", record=True)
    _, soft = run(PLAN, "soft", width=0.4, record=True)
    _, off = run(PLAN, "off", record=True)
    h, s, o = (c.attention[0][0] for c in (hard, soft, off))
    edge = 48  # frame midpoint 1.94 s: within 0.2 s of phase 1's end
    assert s[edge, 1] > 0 and h[edge, 1] > 0
    assert s[52, 1] > 0 and h[52, 1] == 0  # midpoint 2.10 s: past the end, feathered only in soft mode
    assert (s[60:70, 1:] == 0).all()  # deep in the gap nothing leaks
    assert (o[:, 1:] > 0).all()  # off: every frame sees every phase


def test_padding_for_batches_with_different_numbers_of_phases():
    attn = make_attn()
    plans = [PLAN, PhasePlan("a man talking", (Phase(1.0, 4.0, "shakes his head"),))]
    base, bmask = encode([p.base for p in plans])
    phase_states, spans = [], []
    for p in plans:
        phase_states.append(encode([ph.text for ph in p.phases]))
        spans.append([(ph.start, ph.end) for ph in p.phases])
    prompt = pack_phase_prompt(base, bmask, phase_states, spans)
    assert prompt.num_phases == 2 and prompt.phase_valid.tolist() == [[True, True], [True, False]]
    times = torch.from_numpy(frame_times(T, FPS)).float()[None].expand(2, -1)
    w = frame_phase_weights(prompt.spans, prompt.phase_valid, times, "hard", 0)
    ctx = PhaseAttentionContext(phase_attention_bias(prompt, w, "hard"), prompt.block_index, 2)
    x = torch.randn(1, T, D, generator=torch.Generator().manual_seed(1))
    with phase_attention_context(ctx), torch.no_grad():
        batched = attn(x.expand(2, -1, -1), prompt.tokens)
    for i, p in enumerate(plans):
        single, _ = run(p, attn=attn, x=x)
        torch.testing.assert_close(batched[i], single[0], atol=1e-5, rtol=1e-5)


@given(st.lists(st.tuples(st.integers(0, 100), st.integers(1, 50)), max_size=5), st.sampled_from([24, 25, 30]))
@settings(max_examples=80, deadline=None)
def test_tensor_masks_match_phase_plan_masks(raw, fps):
    phases, t = [], 0
    for gap, length in raw:
        start = t + gap / 10
        phases.append(Phase(start, start + length / 10, "x"))
        t = start + length / 10
    plan = PhasePlan("", tuple(phases))
    n = 200
    spans = torch.tensor([[(p.start, p.end) for p in phases]], dtype=torch.float64).reshape(1, -1, 2)
    valid = torch.ones(1, len(phases), dtype=torch.bool)
    w = frame_phase_weights(spans, valid, torch.from_numpy(frame_times(n, fps))[None], "hard", 0)
    np.testing.assert_array_equal(w[0].numpy().astype(bool), plan.frame_masks(n, fps))


def test_time_anchors_mark_phase_tokens_only():
    torch.manual_seed(0)
    anchor = TimeAnchor(D)
    base, bmask = encode(["base"])
    pstates, pmask = encode(["nods"])
    prompt = pack_phase_prompt(base, bmask, [(pstates, pmask)], [[(1.0, 2.0)]])
    anchored = anchor.anchor_tokens(prompt, prompt.tokens)
    is_base = prompt.block_index[0] == 0
    assert torch.equal(anchored[0, is_base], prompt.tokens[0, is_base])
    assert not torch.allclose(anchored[0, ~is_base], prompt.tokens[0, ~is_base])
    later = pack_phase_prompt(base, bmask, [(pstates, pmask)], [[(4.0, 5.0)]])
    assert not torch.allclose(anchor.anchor_tokens(later, later.tokens), anchored)  # the span is encoded
