"""The Wan adapter on tiny real diffusers configurations: identity at init, PACA masks on the latent time axis,
gradient checkpointing with the per-call context, wav2vec2 loading, adapter save/load."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from tiny_wan import tiny_wan_components, tiny_wav2vec2

from actavatar.models.paca import pack_phase_prompt
from actavatar.models.wan_actavatar import (
    ActAvatarWan,
    WanConditioning,
    enable_gradient_checkpointing,
    install_actavatar_adapters,
    latent_audio_windows,
    latent_frame_times,
    load_actavatar_adapters,
    load_wav2vec2_features,
    pad_prompt,
    save_actavatar_adapters,
    video_to_latent_index,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


TEXT_LEN, AUDIO_DIM, FPS = 24, 12, 25.0


def make_cond(
    phases: list[tuple[float, float]], t_lat: int = 4, seed: int = 0, batch: int = 1, text_len: int = TEXT_LEN
):
    g = torch.Generator().manual_seed(seed)
    base = torch.randn(batch, 5, 32, generator=g)
    phase_states = [
        (torch.randn(len(phases), 3, 32, generator=g), torch.ones(len(phases), 3, dtype=torch.bool))
    ] * batch
    prompt = pack_phase_prompt(base, torch.ones(batch, 5, dtype=torch.bool), phase_states, [phases] * batch)
    times = torch.from_numpy(latent_frame_times(t_lat, FPS)).float()[None].expand(batch, -1)
    feats = torch.randn(batch, 4 * (t_lat - 1) + 1, AUDIO_DIM, generator=g)
    return WanConditioning(pad_prompt(prompt, text_len), times, latent_audio_windows(feats, t_lat, context=2))


def adapted(kind: str, text_len: int = TEXT_LEN):
    base = tiny_wan_components(kind)["transformer"]
    model = copy.deepcopy(base)
    install_actavatar_adapters(model, audio_dim=AUDIO_DIM, text_len=text_len)
    return base, ActAvatarWan(model)


def latents_for(model: ActAvatarWan, t_lat: int = 4, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(1, model.transformer.config.in_channels, t_lat, 8, 8, generator=g)


def test_latent_time_axis_mapping():
    # latent 0 = video frame 0; latent t >= 1 = video frames 4t-3 .. 4t; times are the covered frames' midpoints.
    assert video_to_latent_index(9).tolist() == [0, 1, 1, 1, 1, 2, 2, 2, 2]
    np.testing.assert_allclose(latent_frame_times(3, 25.0), [0.5 / 25, 3 / 25, 7 / 25])
    feats = torch.arange(9.0)[None, :, None]  # video frame index as the feature
    win = latent_audio_windows(feats, 3, context=1)[0, :, :, 0]  # (T_lat, 6)
    assert win[0].tolist() == [0, 0, 0, 0, 0, 1]  # clamped before the clip start
    assert win[1].tolist() == [0, 1, 2, 3, 4, 5]  # frames 1..4 +- 1
    assert win[2].tolist() == [4, 5, 6, 7, 8, 8]


@pytest.mark.parametrize("kind", ["i2v", "ti2v"])
def test_identity_at_initialisation_is_exact(kind):
    base, model = adapted(kind)
    x, t = latents_for(model), torch.tensor([700.0])
    cond = make_cond([])  # base-only prompt, real audio features
    with torch.no_grad():
        expected = base(x, t, cond.prompt.tokens, return_dict=False)[0]
        got = model(x, t, cond).sample
    assert torch.equal(expected, got)
    # Phases change the text path only through the mask; audio adds exactly zero until trained.
    with torch.no_grad():
        masked = model(x, t, make_cond([(0.0, 0.2), (0.2, 0.5)]), record=True)
    assert masked.audio_norm.abs().max() == 0
    assert not torch.equal(masked.sample, expected)


def test_identity_with_wan21_image_context_is_close():
    # Wan2.1 I2V: CLIP tokens are attended separately and projected without bias; equal up to float rounding
    # (bitwise equality needs PACA to add image attention before its output projection, see docs/VIDEO_TIER.md).
    base, model = adapted("i2v-clip", text_len=512)  # Wan2.1's processor splits off the image by text length 512
    x, t = latents_for(model), torch.tensor([300.0])
    cond = make_cond([], text_len=512)
    image = torch.randn(1, 6, 8, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        expected = base(x, t, cond.prompt.tokens, image, return_dict=False)[0]
        got = model(x, t, cond, image).sample
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-5)


def test_phase_mask_on_latent_frames():
    _, model = adapted("i2v")
    # Four latent frames at 25 fps: times 0.02, 0.12, 0.28, 0.44 s. Phase 1 = [0, 0.2), phase 2 = [0.2, 1.0).
    cond = make_cond([(0.0, 0.2), (0.2, 1.0)])
    with torch.no_grad():
        out = model(latents_for(model), torch.tensor([500.0]), cond, record=True)
    attn = out.phase_attention[0]  # (T_lat, P + 1): slot 0 = base
    assert attn.shape == (4, 3)
    assert (attn[:2, 2] == 0).all() and (attn[:2, 1] > 0).all()  # latent 0, 1 see phase 1 only
    assert (attn[2:, 1] == 0).all() and (attn[2:, 2] > 0).all()  # latent 2, 3 see phase 2 only
    assert (attn[:, 0] > 0).all()  # base visible everywhere


def test_gates_and_audio_train_and_checkpointing_sees_the_context():
    torch.manual_seed(0)
    _, model = adapted("i2v")
    adapter = model.adapter
    adapter.set_schedule_strength(1.0)
    with torch.no_grad():  # a "trained" adapter: non-zero audio and anchor outputs
        for layer in adapter.layers:
            layer.audio_attn.to_out[0].weight.normal_(0, 0.3)
        adapter.time_anchor.frame[-1].weight.normal_(0, 0.3)
    x, t = latents_for(model), torch.tensor([500.0])
    cond = make_cond([(0.0, 0.2), (0.2, 1.0)])

    def grads(checkpointing: bool):
        model.zero_grad()
        if checkpointing:
            enable_gradient_checkpointing(model.transformer)
        else:
            model.transformer.disable_gradient_checkpointing()
        out = model(x, t, cond)
        out.sample.square().mean().backward()
        return out, {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}

    out_plain, g_plain = grads(False)
    out_ckpt, g_ckpt = grads(True)
    torch.testing.assert_close(out_ckpt.sample, out_plain.sample)
    assert g_plain.keys() == g_ckpt.keys()
    for name in g_plain:
        torch.testing.assert_close(g_ckpt[name], g_plain[name], msg=name)
    gate = "transformer.actavatar_adapter.modality_schedule.text_gate"
    assert g_plain[gate].abs().min() > 0 and "transformer.actavatar_adapter.audio_proj.1.weight" in g_plain
    assert out_plain.audio_norm.min() > 0
    # With the schedule fully on, the deepest layer weighs text at 0.1 (progressive).
    text_mult, audio_mult = adapter.gates()
    assert text_mult.tolist() == pytest.approx([1.0, 0.1]) and audio_mult.tolist() == pytest.approx([0.1, 1.0])


def test_adapter_save_load_round_trip(tmp_path):
    _, model = adapted("ti2v")
    with torch.no_grad():
        for p in model.adapter.parameters():
            p.add_(0.01)
    model.adapter.set_schedule_strength(0.5)
    save_actavatar_adapters(model.transformer, tmp_path / "adapter")
    fresh = tiny_wan_components("ti2v")["transformer"]
    loaded = load_actavatar_adapters(fresh, tmp_path / "adapter")
    ref = model.adapter.state_dict()
    for name, value in loaded.state_dict().items():
        assert torch.equal(value, ref[name]), name
    cond, x = make_cond([(0.0, 0.3)]), latents_for(model)
    with torch.no_grad():
        torch.testing.assert_close(
            ActAvatarWan(fresh)(x, torch.tensor([400.0]), cond).sample, model(x, torch.tensor([400.0]), cond).sample
        )


def test_wav2vec2_features_from_a_local_folder(tmp_path):
    folder = tiny_wav2vec2(tmp_path / "w2v", hidden=AUDIO_DIM)
    wave = np.random.default_rng(0).standard_normal(16000).astype(np.float32)
    feats = load_wav2vec2_features(wave, folder)
    assert feats.shape == (49, AUDIO_DIM)  # 50 Hz, minus the conv receptive field
    assert torch.isfinite(feats).all()
