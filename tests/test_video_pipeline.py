"""ActAvatarVideoPipeline end to end on CPU with tiny real Wan components (VAE, UMT5, scheduler, transformer)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from tiny_wan import tiny_wan_components, tiny_wav2vec2

from actavatar.errors import InputError
from actavatar.models.wan_actavatar import install_actavatar_adapters
from actavatar.phases import PhasePlan
from actavatar.pipelines.video import (
    ActAvatarVideoPipeline,
    video_tier_status,
)
from actavatar.results import build_report

pytestmark = pytest.mark.usefixtures("one_torch_thread")


PLAN = PhasePlan.from_dict(
    {
        "base": "a woman talking",
        "phases": [{"start": 0.0, "end": 0.3, "text": "nods twice"}, {"start": 0.3, "end": 0.8, "text": "smiles"}],
    }
)
PORTRAIT = Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 32, 3), dtype=np.uint8))
AUDIO = (0.1 * np.random.default_rng(1).standard_normal(16000)).astype(np.float32)  # 1.0 s -> 25 frames


def make_pipe(kind: str) -> ActAvatarVideoPipeline:
    parts = tiny_wan_components(kind)
    install_actavatar_adapters(parts["transformer"], audio_dim=12, text_len=32)
    pipe = ActAvatarVideoPipeline(**parts)
    pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.mark.parametrize("kind", ["i2v", "ti2v"])
def test_long_audio_in_overlapping_windows(kind):
    pipe = make_pipe(kind)
    feats = torch.randn(25, 12, generator=torch.Generator().manual_seed(0))
    out = pipe(
        PORTRAIT,
        AUDIO,
        PLAN,
        audio_features=feats,
        height=32,
        width=32,
        num_inference_steps=2,
        window_frames=13,
        overlap_frames=5,
        seed=3,
    )
    assert out.frames.shape == (25, 32, 32, 3) and out.frames.dtype == np.uint8
    assert out.windows == [(0, 13), (8, 21), (16, 25)]
    layers = out.layers
    for key in ("text_gate", "audio_gate", "text_share", "audio_share"):
        assert len(layers[key]) == 2, key
    assert layers["audio_share"] == [0.0, 0.0]  # fresh adapters: audio contributes exactly nothing yet
    assert set(out.timings_s) >= {"encode", "diffusion", "decode", "total"}
    # Phase attention per video frame: phase 1 before 0.3 s, phase 2 in [0.3, 0.8), neither after.
    att, t = out.phase_attention, (np.arange(25) + 0.5) / 25
    assert att.shape == (25, 2)
    assert (att[t < 0.25, 1] == 0).all() and (att[t < 0.25, 0] > 0).all()
    assert (att[(t > 0.4) & (t < 0.75), 0] == 0).all() and (att[(t > 0.4) & (t < 0.75), 1] > 0).all()
    assert (att[t > 0.85] == 0).all()
    report = build_report(out, PLAN, seed=3, timings=out.timings_s, windows=[list(w) for w in out.windows])
    assert report["num_frames"] == 25 and report["layers"] is layers
    # Same seed, same video; the pipeline is reusable (no state carried between calls).
    again = pipe(
        PORTRAIT,
        AUDIO,
        PLAN,
        audio_features=feats,
        height=32,
        width=32,
        num_inference_steps=2,
        window_frames=13,
        overlap_frames=5,
        seed=3,
    )
    assert np.array_equal(again.frames, out.frames)


def test_weights_folder_round_trip_and_wav2vec2(tmp_path, monkeypatch):
    pipe = make_pipe("i2v")
    pipe.save_pretrained(tmp_path / "weights")
    tiny_wav2vec2(tmp_path / "weights" / "wav2vec2", hidden=12)
    loaded = ActAvatarVideoPipeline.from_weights(tmp_path / "weights", torch_dtype=torch.float32, device="cpu")
    loaded.set_progress_bar_config(disable=True)
    for name, value in pipe.transformer.state_dict().items():
        assert torch.equal(loaded.transformer.state_dict()[name], value), name
    out = loaded(
        PORTRAIT,
        AUDIO[:8000],
        None,
        height=32,
        width=32,
        num_inference_steps=1,
        window_frames=13,
        text_guidance=1.0,
        audio_guidance=1.0,
    )  # wav2vec2 features from the folder
    assert out.frames.shape == (13, 32, 32, 3)

    monkeypatch.setenv("ACTAVATAR_VIDEO_WEIGHTS", str(tmp_path / "weights"))
    enabled, reason = video_tier_status()
    assert enabled is torch.cuda.is_available() and reason
    monkeypatch.setenv("ACTAVATAR_VIDEO_WEIGHTS", str(tmp_path / "missing"))
    assert video_tier_status() == (
        False,
        f"Video tier hidden: Video tier weights folder {tmp_path / 'missing'} does not exist.",
    )
    monkeypatch.delenv("ACTAVATAR_VIDEO_WEIGHTS")
    assert video_tier_status()[0] is False


def test_bad_inputs_raise_input_errors():
    pipe = make_pipe("i2v")
    feats = torch.randn(25, 12)
    with pytest.raises(InputError, match="4k \\+ 1"):
        pipe(PORTRAIT, AUDIO, PLAN, audio_features=feats, height=32, width=32, window_frames=12)
    with pytest.raises(InputError, match="multiples of 16"):
        pipe(PORTRAIT, AUDIO, PLAN, audio_features=feats, height=30, width=32)
    with pytest.raises(InputError, match="Audio features must be"):
        pipe(PORTRAIT, AUDIO, PLAN, audio_features=torch.randn(10, 12), height=32, width=32, window_frames=13)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU message")
def test_cli_video_tier_needs_cuda():
    from actavatar.api import generate

    with pytest.raises(InputError, match="The video tier needs a CUDA GPU"):
        generate("p.png", "a.wav", out="o.mp4", tier="video", weights="w")
