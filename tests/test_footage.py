"""Real footage -> training data: motion read back from a rendered talking-head video, with its annotation."""

import json

import numpy as np
import pytest
import soundfile as sf
from conftest import speechlike

from actavatar.errors import InputError
from actavatar.motion import MOTION_INDEX
from actavatar.training.footage import build_footage_dataset
from actavatar.training.synth import load_dataset


def test_footage_folder_becomes_a_dataset(tmp_path):
    from actavatar.render import PortraitRenderer, analyze_face, load_portrait, write_video

    clips = tmp_path / "clips"
    clips.mkdir()
    sf.write(tmp_path / "a.wav", speechlike(3.0), 16000)
    image = load_portrait("examples/portraits/astronaut.jpg")
    renderer = PortraitRenderer(image, analyze_face(image), size=256)
    motion = np.zeros((75, 14), np.float32)
    motion[:, MOTION_INDEX["head_yaw"]] = 15 * np.sin(np.linspace(0, 2 * np.pi, 75))
    write_video(renderer.render_all(motion), clips / "talk.mp4", 25, audio_path=tmp_path / "a.wav")
    (clips / "talk.phases.json").write_text(
        json.dumps(
            {
                "base": "a calm astronaut",
                "phases": [{"start": 0.5, "end": 2.0, "text": "turns her head"}],
                "actions": ["turn_left"],
            }
        )
    )
    (clips / "noface.mp4").write_bytes(b"not a video")
    ds = load_dataset(build_footage_dataset(clips, tmp_path / "data"))
    assert len(ds) == 1
    sample = ds[0]
    assert sample.plan.phases[0].text == "turns her head" and sample.actions == ["turn_left"]
    assert abs(len(sample.motion) - 75) <= 1
    yaw = sample.motion[:75, MOTION_INDEX["head_yaw"]]
    assert np.corrcoef(yaw, motion[: len(yaw), MOTION_INDEX["head_yaw"]])[0, 1] > 0.9
    manifest = json.loads((tmp_path / "data" / "manifest.json").read_text())
    assert manifest["skipped"][0]["video"] == "noface.mp4"


def test_empty_folder_is_a_clear_error(tmp_path):
    with pytest.raises(InputError, match="No videos"):
        build_footage_dataset(tmp_path, tmp_path / "out")
