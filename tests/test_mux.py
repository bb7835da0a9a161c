"""write_video through the real bundled ffmpeg: codecs, duration, streaming, no partial files on failure."""

from __future__ import annotations

import re
import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest

from actavatar.errors import ActAvatarError, InputError
from actavatar.render import write_video
from actavatar.render.mux import ffmpeg_exe


def make_wav(path: Path, seconds: float, sr: int = 16000) -> Path:
    t = np.arange(int(seconds * sr)) / sr
    pcm = (0.3 * np.sin(2 * np.pi * 220 * t) * 32767).astype(np.int16)
    with wave.open(str(path), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(sr)
        f.writeframes(pcm.tobytes())
    return path


def probe(path: Path) -> str:
    return subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True, text=True).stderr


def count_frames(path: Path) -> int:
    cmd = [ffmpeg_exe(), "-hide_banner", "-i", str(path), "-map", "0:v:0", "-f", "null", "-"]
    err = subprocess.run(cmd, capture_output=True, text=True).stderr
    return int(re.findall(r"frame=\s*(\d+)", err)[-1])


def frames(n: int, w: int = 64, h: int = 48):
    for i in range(n):
        f = np.zeros((h, w, 3), np.uint8)
        f[:, : (i * 3) % w] = (200, 80, 30)
        yield f


def child_processes() -> list[str]:
    """Pids of this process's live children (Linux /proc)."""
    return [pid for task in Path("/proc/self/task").iterdir() for pid in (task / "children").read_text().split()]


def no_leftovers(folder: Path) -> bool:
    return not [p for p in folder.iterdir() if p.name.startswith(".")]


def test_h264_aac_duration_matches_audio(tmp_path):
    wav = make_wav(tmp_path / "a.wav", 2.0)
    calls = []
    out = write_video(frames(50), tmp_path / "out.mp4", 25, wav, num_frames=50, progress=lambda d, t: calls.append(d))
    info = probe(out)
    assert "Video: h264" in info and "yuv420p" in info and "Audio: aac" in info
    assert count_frames(out) == 50
    dur = re.search(r"Duration: (\d+):(\d+):([\d.]+)", info).groups()
    assert abs(float(dur[2]) - 2.0) <= 1 / 25 + 0.03  # video and audio agree within a frame (+AAC padding)
    assert calls == list(range(1, 51))
    assert no_leftovers(tmp_path)


def test_video_only_at_requested_fps(tmp_path):
    out = write_video(frames(12), tmp_path / "v.mp4", 12.5)
    info = probe(out)
    assert "12.50 fps" in info and "Audio" not in info
    assert count_frames(out) == 12


def test_bad_frame_midway_leaves_nothing(tmp_path):
    def bad():
        yield from frames(5)
        yield np.zeros((10, 10, 3), np.uint8)

    out = tmp_path / "x.mp4"
    with pytest.raises(InputError):
        write_video(bad(), out, 25)
    assert not out.exists() and no_leftovers(tmp_path)


def test_existing_output_survives_failure(tmp_path):
    out = write_video(frames(3), tmp_path / "keep.mp4", 25)
    before = out.read_bytes()
    with pytest.raises(InputError):
        write_video(iter([np.zeros((5, 5, 3), np.uint8)]), out, 25)
    assert out.read_bytes() == before


def test_generator_exception_cleans_up(tmp_path):
    def boom():
        yield from frames(3)
        raise RuntimeError("renderer crashed")

    with pytest.raises(RuntimeError):
        write_video(boom(), tmp_path / "y.mp4", 25)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("case", ["odd", "empty", "float", "bad_audio", "missing_audio", "fps", "folder"])
def test_bad_input_messages(tmp_path, case):
    out = tmp_path / "z.mp4"
    kwargs = {}
    src = frames(3)
    if case == "odd":
        src = frames(3, w=63)
    elif case == "empty":
        src = iter([])
    elif case == "float":
        src = iter([np.zeros((8, 8, 3), np.float32)])
    elif case == "bad_audio":
        (tmp_path / "a.wav").write_text("not audio")
        kwargs["audio_path"] = tmp_path / "a.wav"
    elif case == "missing_audio":
        kwargs["audio_path"] = tmp_path / "nope.wav"
    elif case == "folder":
        out = tmp_path / "missing" / "z.mp4"
    fps = 0 if case == "fps" else 25
    with pytest.raises(InputError) as err:
        write_video(src, out, fps, **kwargs)
    assert "\n" not in str(err.value) and not out.exists()
    assert no_leftovers(tmp_path)


def test_encoder_failure_is_reported(tmp_path):
    # A real libx264 failure: frames wider than the encoder accepts.
    out = tmp_path / "z.mp4"
    with pytest.raises(ActAvatarError, match="Video encoding failed"):
        write_video(iter([np.zeros((2, 40000, 3), np.uint8)] * 3), out, 25)
    assert list(tmp_path.iterdir()) == []


def test_known_frame_size_starts_ffmpeg_before_the_first_frame(tmp_path):
    """With ``frame_size`` ffmpeg runs (and opens the audio) before the generator yields anything; the file is the
    same as without it. A frame of another size, or no frame at all, still fails cleanly."""
    wav = make_wav(tmp_path / "a.wav", 1.0)
    seen = []

    def slow_frames():
        seen.append(len(child_processes()))  # the audio probe has finished: a child now is the encoder
        yield from frames(25)

    out = write_video(slow_frames(), tmp_path / "early.mp4", 25, wav, frame_size=(64, 48))
    assert seen == [1]  # ffmpeg was already running when the first frame was asked for
    ref = write_video(frames(25), tmp_path / "ref.mp4", 25, wav)
    assert count_frames(out) == count_frames(ref) == 25
    assert "Audio: aac" in probe(out)
    for src, size, needle in (
        (frames(3, w=32), (64, 48), "expected uint8"),
        (iter([]), (64, 48), "No frames"),
        (frames(3), (63, 48), "even"),
    ):
        with pytest.raises(InputError, match=needle):
            write_video(src, tmp_path / "bad.mp4", 25, wav, frame_size=size)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.wav", "early.mp4", "ref.mp4"]
