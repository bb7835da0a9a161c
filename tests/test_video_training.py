"""Video-tier training on CPU: dataset built from raw clips (ffmpeg), 2 steps of each stage, save/load round trip."""

from __future__ import annotations

import json
import subprocess
from dataclasses import replace

import pytest
import torch
from diffusers import WanImageToVideoPipeline, WanTransformer3DModel
from tiny_wan import tiny_wan_components, tiny_wav2vec2

from actavatar.models.wan_actavatar import load_actavatar_adapters
from actavatar.render.mux import ffmpeg_exe
from actavatar.training.video_data import VideoClipDataset, build_dataset
from actavatar.training.video_train import VideoTrainConfig, train_video

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def raw_clip(path, seconds: float = 1.0) -> None:
    """A test-pattern video with a tone: what a raw clip looks like to the builder."""
    cmd = [
        ffmpeg_exe(),
        "-v",
        "error",
        "-y",
        "-f",
        "lavfi",
        "-i",
        f"testsrc=size=48x40:rate=30:duration={seconds}",
        "-f",
        "lavfi",
        "-i",
        f"sine=frequency=220:sample_rate=44100:duration={seconds}",
        "-shortest",
        "-c:v",
        "libx264",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        str(path),
    ]
    subprocess.run(cmd, check=True, capture_output=True, timeout=60)


def test_two_stages_train_save_and_reload(tmp_path):
    # Weights folder: a plain diffusers Wan I2V layout (no adapters yet) + a wav2vec2 folder.
    weights = tmp_path / "wan"
    WanImageToVideoPipeline(**tiny_wan_components("i2v")).save_pretrained(weights)
    tiny_wav2vec2(weights / "wav2vec2", hidden=12)

    raw = tmp_path / "raw"
    raw.mkdir()
    raw_clip(raw / "a.mp4")
    raw_clip(raw / "b.mp4", seconds=0.2)  # too short for its annotation: skipped with a reason
    ann = [
        {
            "clip": "a.mp4",
            "base": "a woman talking",
            "phases": [{"start": 0.0, "end": 0.4, "text": "nods twice"}, {"start": 0.4, "end": 0.9, "text": "smiles"}],
        },
        {"clip": "b.mp4", "base": "a man", "phases": [{"start": 0.0, "end": 0.9, "text": "looks left"}]},
    ]
    (raw / "ann.jsonl").write_text("\n".join(json.dumps(a) for a in ann))
    records = build_dataset(raw / "ann.jsonl", tmp_path / "data", fps=25, width=32, height=32, extract=False)
    assert [r.num_frames for r in records] == [25]
    assert len(VideoClipDataset(tmp_path / "data")) == 1

    cfg = VideoTrainConfig(
        stage=1,
        weights_dir=str(weights),
        data_dir=str(tmp_path / "data"),
        out_dir=str(tmp_path / "s1"),
        steps=2,
        clip_frames=13,
        audio_dim=12,
        lr=1e-3,
        warmup=1,
        schedule_warmup_steps=2,
        prefix_prob=0.5,
        mixed_precision="bf16",
        save_every=100,
    )
    s1 = train_video(cfg)
    log = [json.loads(line) for line in (s1 / "log.jsonl").read_text().splitlines()]
    assert [e["step"] for e in log] == [0, 1] and all(torch.isfinite(torch.tensor(e["loss"])) for e in log)
    assert (s1 / "actavatar_adapter" / "config.json").is_file() and not (s1 / "transformer").exists()

    # Stage 2: phases on, from stage 1, full fine-tune (base weights written in the diffusers layout).
    s2 = train_video(replace(cfg, stage=2, init_from=str(s1), out_dir=str(tmp_path / "s2"), train="full"))
    base_state = WanTransformer3DModel.from_pretrained(weights / "transformer").state_dict()
    tuned = WanTransformer3DModel.from_pretrained(s2 / "transformer")
    changed = [n for n, v in tuned.state_dict().items() if not torch.equal(v, base_state[n])]
    assert changed, "full fine-tuning changed no base weight"
    adapter = load_actavatar_adapters(tuned, s2 / "actavatar_adapter")
    s1_adapter = load_actavatar_adapters(
        WanTransformer3DModel.from_pretrained(weights / "transformer"), s1 / "actavatar_adapter"
    )
    assert float(s1_adapter.schedule_strength) == 0.5 and float(adapter.schedule_strength) == 1.0
    moved = [n for n, v in adapter.state_dict().items() if not torch.equal(v, s1_adapter.state_dict()[n])]
    assert any("audio_attn" in n for n in moved) and any("time_anchor" in n for n in moved)
