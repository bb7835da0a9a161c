import numpy as np
import pytest
import torch
from conftest import TINY_CONFIG, make_tiny_pipeline

from actavatar.defaults import SCHEDULES
from actavatar.models.alignment import ModalitySchedule, nominal_gates
from actavatar.models.motion_dit import MotionConditioning, MotionDiT
from actavatar.models.paca import PhasePrompt, frame_times


def conditioning(frames=40, phases=((0.2, 0.8),), seed=0, batch=1):
    g = torch.Generator().manual_seed(seed)
    p = len(phases)
    tokens = torch.randn(batch, 4 + 3 * p, 384, generator=g)
    block_index = torch.tensor([0] * 4 + sum(([k + 1] * 3 for k in range(p)), []))[None].expand(batch, -1)
    spans = torch.tensor(phases, dtype=torch.float32).reshape(1, p, 2).expand(batch, -1, -1)
    prompt = PhasePrompt(tokens, block_index.clone(), spans.clone(), torch.ones(batch, p, dtype=torch.bool))
    times = torch.from_numpy(frame_times(frames, 25)).float()[None].expand(batch, -1)
    return MotionConditioning(
        torch.randn(batch, frames, 321, generator=g),
        prompt,
        times,
        torch.randn(batch, 16, generator=g),
        torch.zeros(batch, frames, 14),
        torch.zeros(batch, frames),
    )


def test_default_configuration_is_small():
    model = MotionDiT()
    assert model.num_parameters_millions <= 10.0
    assert model.config.num_layers == model.modality_schedule.num_layers


def test_fresh_model_predicts_zero_and_is_trainable():
    torch.manual_seed(0)
    model = MotionDiT(**TINY_CONFIG)
    x = torch.randn(2, 40, 14)
    out = model(x, torch.tensor([500.0, 100.0]), conditioning(batch=2))
    assert torch.equal(out.sample, torch.zeros_like(out.sample))  # adaLN-Zero / zero head: identity at init
    loss = (out.sample - torch.randn_like(out.sample)).square().mean()
    loss.backward()
    assert model.proj_out.weight.grad.abs().sum() > 0


def test_expected_slice_and_any_length():
    pipe = make_tiny_pipeline(seed=0)
    model = pipe.transformer
    torch.manual_seed(1)
    for frames in (7, 40, 333):
        out = model(torch.randn(1, frames, 14), torch.tensor([700.0]), conditioning(frames)).sample
        assert out.shape == (1, frames, 14) and torch.isfinite(out).all()
    torch.manual_seed(2)
    out = model(torch.randn(1, 40, 14), torch.tensor([700.0]), conditioning(40)).sample
    expected = torch.tensor(EXPECTED_SLICE)
    torch.testing.assert_close(out[0, :3, :3].detach(), expected, atol=1e-4, rtol=1e-4)


# Recorded with torch 2.13.0 CPU (pinned), per-clip normalised audio features into the AudioEncoder (no per-frame
# LayerNorm); a change here means the model's math changed.
EXPECTED_SLICE = [[0.25683, -0.21442, 0.10754], [0.10671, -0.33075, 0.341], [0.51291, 0.32258, 0.1058]]


def test_null_text_and_null_audio_change_the_prediction():
    model = make_tiny_pipeline(seed=0).transformer
    cond = conditioning(batch=3)
    x = torch.randn(1, 40, 14).expand(3, -1, -1)
    t = torch.full((3,), 600.0)
    out = model(
        x, t, cond, drop_text=torch.tensor([False, True, False]), drop_audio=torch.tensor([False, False, True])
    )
    cond_out, no_text, no_audio = out.sample
    assert (cond_out - no_text).abs().max() > 1e-4
    assert (cond_out - no_audio).abs().max() > 1e-4


def test_save_and_load_round_trip_in_safetensors(tmp_path):
    model = make_tiny_pipeline(seed=3).transformer
    model.save_pretrained(tmp_path, safe_serialization=True)
    assert (tmp_path / "diffusion_pytorch_model.safetensors").is_file() and (tmp_path / "config.json").is_file()
    loaded = MotionDiT.from_pretrained(tmp_path).eval()
    cond, x, t = conditioning(), torch.randn(1, 40, 14), torch.tensor([300.0])
    with torch.no_grad():
        torch.testing.assert_close(model(x, t, cond).sample, loaded(x, t, cond).sample)
    assert loaded.modality_schedule.to_dict() == model.modality_schedule.to_dict()


@pytest.mark.parametrize("kind", SCHEDULES)
def test_schedules(kind):
    text, audio = nominal_gates(kind, 8)
    if kind == "progressive":
        assert (text.diff() < 0).all() and (audio.diff() > 0).all()  # early layers text, deep layers audio
    elif kind == "reverse":
        assert (text.diff() > 0).all() and (audio.diff() < 0).all()
    else:
        assert torch.equal(text, audio) and (text.diff() == 0).all()
    sched = ModalitySchedule(8, kind)
    assert sched.text_gate.requires_grad and sched.audio_gate.requires_grad


def test_shares_are_measured_in_the_normal_forward_pass():
    model = make_tiny_pipeline(seed=0).transformer
    out = model(torch.randn(2, 40, 14), torch.tensor([500.0, 500.0]), conditioning(batch=2))
    assert out.text_norm.shape == (3, 2, 40) and out.audio_norm.shape == (3, 2, 40)  # (layers, batch, frames)
    assert (out.text_norm > 0).all() and (out.audio_norm > 0).all()
    # Gates scale the measured contribution: zeroing layer 0's audio gate zeroes its audio norm.
    with torch.no_grad():
        model.modality_schedule.audio_gate[0] = 0.0
    out = model(torch.randn(2, 40, 14), torch.tensor([500.0, 500.0]), conditioning(batch=2))
    assert (out.audio_norm[0] == 0).all() and (out.audio_norm[1:] > 0).all()


def test_gradient_checkpointing_gives_same_gradients():
    pipe = make_tiny_pipeline(seed=0)
    model = pipe.transformer.train()
    cond, x, t = conditioning(), torch.randn(1, 40, 14), torch.tensor([300.0])
    model(x, t, cond).sample.square().sum().backward()
    ref = [p.grad.clone() for p in model.parameters() if p.grad is not None]
    model.zero_grad()
    model.enable_gradient_checkpointing()
    model(x, t, cond).sample.square().sum().backward()
    got = [p.grad for p in model.parameters() if p.grad is not None]
    for a, b in zip(ref, got, strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)
    np.testing.assert_equal(len(ref) > 10, True)


def test_local_audio_attention_sees_only_its_window():
    """Band-masked SDPA equals attending, frame by frame, to the audio tokens t-w..t+w (clipped at the ends)."""
    from actavatar.models.motion_dit import LocalWindowAttnProcessor

    torch.manual_seed(0)
    block = MotionDiT(**TINY_CONFIG).blocks[0]
    for p in block.audio_attn.parameters():
        torch.nn.init.normal_(p, std=0.2)
    attn, w = block.audio_attn, 3
    x, audio = torch.randn(2, 17, TINY_CONFIG["dim"]), torch.randn(2, 17, TINY_CONFIG["dim"])
    out = LocalWindowAttnProcessor(w)(attn, x, audio)
    q = attn.norm_q(attn.to_q(x)).unflatten(2, (attn.heads, -1))
    k = attn.norm_k(attn.to_k(audio)).unflatten(2, (attn.heads, -1))
    v = attn.to_v(audio).unflatten(2, (attn.heads, -1))
    rows = []
    for t in range(17):
        lo, hi = max(t - w, 0), min(t + w + 1, 17)
        s = torch.einsum("bhd,bjhd->bhj", q[:, t], k[:, lo:hi]) / q.shape[-1] ** 0.5
        rows.append(torch.einsum("bhj,bjhd->bhd", s.softmax(-1), v[:, lo:hi]).flatten(1))
    ref = attn.to_out[0](torch.stack(rows, 1))
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)
    # Changing audio far outside frame 0's window leaves frame 0 untouched.
    audio2 = audio.clone()
    audio2[:, 10:] += 5.0
    out2 = LocalWindowAttnProcessor(w)(attn, x, audio2)
    torch.testing.assert_close(out2[:, : 10 - w], out[:, : 10 - w], atol=0, rtol=0)
    assert (out2[:, 10 - w :] - out[:, 10 - w :]).abs().max() > 1e-3


def test_cached_audio_keys_values_give_the_same_prediction():
    model = make_tiny_pipeline(seed=0).transformer
    enc = model.encode_conditions(conditioning(batch=2))
    x = torch.randn(2, 40, 14)
    t = torch.tensor([600.0, 200.0])
    plain = model(x, t, enc).sample
    cached = model(x, t, model.cache_audio_kv(enc)).sample
    torch.testing.assert_close(cached, plain, atol=1e-6, rtol=1e-6)


def test_phase_clock_tells_frames_where_they_are_inside_their_phase():
    torch.manual_seed(0)
    plain = MotionDiT(**TINY_CONFIG).eval()
    clocked = MotionDiT(**TINY_CONFIG, phase_clock=True).eval()
    missing, unexpected = clocked.load_state_dict(plain.state_dict(), strict=False)
    assert not unexpected and missing and all(k.startswith("phase_clock_embed.") for k in missing)
    cond = conditioning(frames=40, phases=((0.2, 0.8), (1.0, 1.5)))
    x, t = torch.randn(1, 40, 14), torch.tensor([500.0])
    with torch.no_grad():
        # Zero-initialised output layer: a stage-1 model gains the clock without changing its predictions.
        assert torch.equal(plain(x, t, cond).sample, clocked(x, t, cond).sample)
        feats = clocked._phase_clock_features(cond.prompt, cond.frame_times)[0]  # (T, 2F)
    times = cond.frame_times[0]
    outside = (times < 0.2) | ((times >= 0.8) & (times < 1.0)) | (times >= 1.5)
    assert (feats[outside] == 0).all() and (feats[~outside].abs().sum(-1) > 0).all()
    # Two frames at the same offset into different phases of the same length share the "since start" half.
    a, b = int(torch.nonzero(times >= 0.2)[0]), int(torch.nonzero(times >= 1.0)[0])
    f = feats.shape[-1] // 2
    assert torch.allclose(feats[a, :f], feats[b, :f], atol=1e-5)
    with torch.no_grad():
        torch.nn.init.normal_(clocked.phase_clock_embed[-1].weight, std=0.1)
        dropped = clocked.encode_conditions(cond.repeat(2), drop_text=torch.tensor([False, True]))
        off = clocked.encode_conditions(cond, paca_mode="off")
    assert dropped.phase_clock[0].abs().sum() > 0 and (dropped.phase_clock[1] == 0).all()  # the null prompt: no clock
    assert off.phase_clock is None  # PACA off: no time anchoring at all
