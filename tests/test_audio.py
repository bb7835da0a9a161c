import subprocess

import imageio_ffmpeg
import numpy as np
import pytest
import soundfile as sf
import torch
from conftest import speechlike
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from actavatar.audio import (
    FEATURE_DIM,
    AudioEncoder,
    frame_features,
    load_audio,
    loudness_envelope,
    num_video_frames,
)
from actavatar.errors import InputError


def click_at(seconds: float, total: float = 3.0, sr: int = 16000) -> np.ndarray:
    wave = np.zeros(int(total * sr), dtype=np.float32)
    i = int(round(seconds * sr))
    wave[i : i + 80] = np.hanning(80) * 0.9  # a 5 ms click starting at `seconds`
    return wave


def test_click_at_one_second_lands_in_frame_25():
    feats = frame_features(click_at(1.0), fps=25)
    assert feats.shape == (75, FEATURE_DIM)
    assert int(feats[:, -1].argmax()) == 25  # exact-span loudness
    assert int(feats[:, :-1].mean(dim=1).argmax()) == 25  # and the log-mel sub-frames agree


@given(st.floats(0.05, 2.9), st.sampled_from([12.5, 24, 25, 30, 50]))
@settings(max_examples=60, deadline=None)
def test_events_land_in_the_frame_that_covers_them(t, fps):
    centre = round(t * 16000) / 16000 + 0.0025  # the 5 ms click's energy centre
    assume(abs(centre * fps - round(centre * fps)) * 1000 / fps > 1.5)  # not within 1.5 ms of a frame edge
    env = loudness_envelope(click_at(t), fps)
    assert int(env.argmax()) == int(np.floor(centre * fps))


@given(st.integers(1, 16000 * 30), st.sampled_from([10, 24, 25, 29.97, 30, 60]))
def test_frame_count_covers_the_audio(n, fps):
    frames = num_video_frames(n, fps)
    assert (frames - 1) / fps < n / 16000 <= frames / fps + 1e-9


def _encode(wave, sr, path, extra=()):
    sf.write(path.with_suffix(".wav"), wave, sr)
    cmd = [
        imageio_ffmpeg.get_ffmpeg_exe(),
        "-v",
        "error",
        "-y",
        "-i",
        str(path.with_suffix(".wav")),
        *extra,
        str(path),
    ]
    subprocess.run(cmd, check=True)
    return path


@pytest.mark.parametrize("ext", ["wav", "flac", "ogg", "mp3", "m4a"])
def test_every_format_loads_to_16k_mono(tmp_path, ext):
    wave = speechlike(2.0, sr=44100)
    stereo = np.stack([wave, 0.5 * wave], axis=1)
    path = tmp_path / f"clip.{ext}"
    if ext in ("wav", "flac", "ogg"):
        sf.write(path, stereo, 44100)
    else:
        _encode(stereo, 44100, path)
    out = load_audio(path)
    assert out.dtype == np.float32 and out.ndim == 1
    assert abs(len(out) / 16000 - 2.0) < 0.08  # mp3/aac encoders add a little padding
    assert np.abs(out).max() > 0.05


@pytest.mark.parametrize("sr", [8000, 48000])
def test_resampling_keeps_timing(tmp_path, sr):
    path = tmp_path / "c.wav"
    sf.write(path, np.stack([click_at(1.0, sr=sr)] * 2, axis=1), sr)
    env = loudness_envelope(load_audio(path), 25)
    assert int(env.argmax()) == 25


def test_bad_audio_messages(tmp_path, monkeypatch):
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        load_audio(empty)
    corrupt = tmp_path / "corrupt.mp3"
    corrupt.write_bytes(b"ID3" + bytes(range(256)) * 10)
    with pytest.raises(InputError, match="Cannot decode audio"):
        load_audio(corrupt)
    with pytest.raises(InputError, match="not found"):
        load_audio(tmp_path / "nope.wav")
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(16000 * 2, dtype=np.float32), 16000)
    with pytest.raises(InputError, match="silent"):
        load_audio(silent)
    short = tmp_path / "short.wav"
    sf.write(short, speechlike(0.2), 16000)
    with pytest.raises(InputError, match="only 0.20 s"):
        load_audio(short)
    monkeypatch.setenv("ACTAVATAR_MAX_AUDIO_S", "2")
    long = tmp_path / "long.wav"
    sf.write(long, speechlike(4.0), 16000)
    with pytest.raises(InputError, match="limit is 2 s"):
        load_audio(long)


def test_audio_encoder_gives_one_token_per_frame():
    torch.manual_seed(0)
    enc = AudioEncoder(dim=16)
    feats = frame_features(speechlike(2.0), 25)[None]
    tokens = enc(feats)
    assert tokens.shape == (1, 50, 16)
    # Local receptive field: changing frame 40's features leaves frames < 38 untouched.
    feats2 = feats.clone()
    feats2[0, 40] += torch.randn(FEATURE_DIM)
    diff = (enc(feats2) - tokens).abs().sum(-1)[0]
    assert diff[:38].max() == 0 and diff[40] > 0
