"""Streaming generation: each window's final frames go to the renderer while the next window denoises."""

import threading
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import speechlike

from actavatar.api import generate
from actavatar.errors import Cancelled
from actavatar.phases import PhasePlan

PORTRAIT = Path(__file__).resolve().parents[1] / "examples" / "portraits" / "astronaut.jpg"


def test_on_frames_chunks_are_the_final_motion_in_order(tiny_pipeline, one_torch_thread):
    audio = speechlike(10.0)  # 250 frames: windows [0, 100) and [75, 250)
    chunks = []
    out = tiny_pipeline(
        audio,
        PhasePlan("a person talking", ()),
        num_inference_steps=3,
        on_frames=lambda start, rows: chunks.append((start, rows.copy())),
    )
    assert [s for s, _ in chunks] == [0, 75]  # the cross-faded overlap waits for the second window
    assert np.array_equal(np.concatenate([r for _, r in chunks]), out.motion)
    # Without the callback the result is the same.
    again = tiny_pipeline(audio, PhasePlan("a person talking", ()), num_inference_steps=3)
    assert np.array_equal(again.motion, out.motion)


@pytest.fixture(scope="module")
def long_wav(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("stream") / "long.wav"
    sf.write(path, speechlike(9.0, seed=3), 16000)
    return path


def test_video_matches_the_motion_only_run_and_the_renderer_starts_before_diffusion_ends(
    tiny_checkpoint, long_wav, tmp_path, monkeypatch
):
    from actavatar.api import get_pipeline

    events, rendering = [], threading.Event()

    def progress(stage, i, n):
        events.append((stage, threading.current_thread().name))
        if stage == "render":
            rendering.set()

    # The tiny model denoises the second window faster than the first frame renders, so it waits for that frame:
    # with streaming the frame comes while the diffusion is still running; without it, only after the 30 s timeout.
    transformer = get_pipeline(tiny_checkpoint).transformer
    forward, calls = transformer.forward, []

    def second_window_waits(*args, **kwargs):
        calls.append(threading.current_thread().name)
        if calls.count("actavatar-diffusion") > 3:  # 3 steps per window: the second window
            rendering.wait(30)
        return forward(*args, **kwargs)

    monkeypatch.setattr(transformer, "forward", second_window_waits)
    plan = {"base": "a calm person", "phases": [{"start": 1.0, "end": 3.0, "text": "nods"}]}
    kw = dict(steps=3, size=128, seed=5, checkpoint=tiny_checkpoint)
    video = generate(PORTRAIT, long_wav, plan, out=tmp_path / "a.mp4", progress=progress, **kw)
    motion_only = generate(PORTRAIT, long_wav, plan, **kw)
    assert video.video_path.is_file() and video.report["num_frames"] == 225
    # The worker thread denoises on one intra-op thread once frames stream: same motion up to float rounding.
    np.testing.assert_allclose(video.motion, motion_only.motion, atol=2e-3)
    stages = [s for s, _ in events]
    # One progress stream: denoising steps, then rendered frames, then the mux; never interleaved.
    first_render = stages.index("render")
    assert "load" not in stages[1:]  # a first run in the process loads the model first ("load"), before anything else
    before = set(stages[:first_render]) - {"load"}
    assert before == {"encode", "denoise"} or before == {"denoise"}
    assert set(stages[first_render:-1]) == {"render"} and stages[-1] == "mux"
    assert stages.count("render") == 225
    # The first window's frames were rendered before the second window was denoised (3 steps per window).
    assert stages.count("denoise") == 3 and rendering.is_set()
    timings = video.report["timings_s"]
    assert timings["video"] >= timings["diffusion"] and timings["mux"] >= 0


def test_a_diffusion_error_reaches_the_caller_and_leaves_nothing(tiny_checkpoint, long_wav, tmp_path):
    def progress(stage, i, n):
        if stage == "denoise" and i == 5:  # second window, while the first one's frames are rendering
            raise RuntimeError("boom in the worker")

    out_dir = tmp_path / "out"
    out_dir.mkdir()
    # Progress of later windows is not shown once frames render, so the error comes from the first window here.
    with pytest.raises((RuntimeError, Cancelled)):
        generate(PORTRAIT, long_wav, None, out=out_dir / "c.mp4", steps=6, size=128, checkpoint=tiny_checkpoint,
                 progress=progress)  # fmt: skip
    assert list(out_dir.iterdir()) == []
    assert [t.name for t in threading.enumerate() if t.name == "actavatar-diffusion"] == []
