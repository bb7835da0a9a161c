"""Audio: loading any common format to 16 kHz mono, log-mel features aligned to video frames, ``AudioEncoder``.

Alignment: video frame ``t`` at ``fps`` covers ``[t / fps, (t + 1) / fps)`` (see ``phases``). Its features are
``SUBFRAMES`` log-mel vectors sampled at the centres of equal sub-intervals of that span, plus the exact
log-RMS loudness of the samples inside the span, so an event at time ``s`` lands in frame ``floor(s * fps)``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .errors import InputError

SAMPLE_RATE = 16000
N_MELS = 80
N_FFT = 400  # 25 ms analysis window
HOP = 160  # 10 ms between mel frames
SUBFRAMES = 4  # mel vectors per video frame
FEATURE_DIM = SUBFRAMES * N_MELS + 1  # + exact per-frame loudness
MIN_AUDIO_S = 0.5
SILENCE_DBFS = -60.0
MEL_FLOOR = 1e-8  # log-mel floor, relative to the clip's loud frames (80 dB below them)
MIN_BAND_STD = 1.0  # nepers (4.3 dB): a log-mel band varying less than this over a clip is not amplified
LOUDNESS_FLOOR = 6.0  # nepers (52 dB) below the clip's speech level: quieter frames all read as silence


def max_audio_seconds() -> float:
    """Longest accepted clip in seconds: ``ACTAVATAR_MAX_AUDIO_S`` (default 120)."""
    try:
        return float(os.environ.get("ACTAVATAR_MAX_AUDIO_S", "120"))
    except ValueError:
        return 120.0


def _ffmpeg_exe() -> str:
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except Exception:  # noqa: BLE001 - fall back to a system ffmpeg if the bundled one is unavailable
        exe = shutil.which("ffmpeg")
        if exe is None:
            raise InputError("No ffmpeg found to decode this audio: pip install imageio-ffmpeg or moviepy.") from None
        return exe


def _decode_with_ffmpeg(path: Path, sr: int, max_s: float) -> np.ndarray:
    cmd = [_ffmpeg_exe(), "-v", "error", "-nostdin", "-i", str(path), "-vn", "-map", "0:a:0?", "-t", str(max_s + 1)]
    cmd += ["-f", "f32le", "-acodec", "pcm_f32le", "-ac", "1", "-ar", str(sr), "-"]
    proc = subprocess.run(cmd, capture_output=True, timeout=120)
    if proc.returncode != 0:
        from .filetypes import describe

        raise InputError(
            f"Cannot decode audio {path.name}: it is {describe(path)} that holds no readable sound (damaged or not "
            "a recording); upload a wav, mp3, m4a, flac or ogg file."
        )
    return np.frombuffer(proc.stdout, dtype=np.float32).copy()


def load_audio(
    src: str | Path, sr: int = SAMPLE_RATE, max_seconds: float | None = None, allow_silent: bool = False
) -> np.ndarray:
    """Load wav/mp3/m4a/flac/ogg (or any ffmpeg-readable file) as float32 mono at ``sr``; validate it.

    Raises ``InputError`` for a missing, empty, undecodable, silent, too short or too long clip."""
    max_s = max_audio_seconds() if max_seconds is None else max_seconds
    path = Path(src)
    if not path.is_file():
        raise InputError(f"Audio file not found: {path}. Check the path or upload the file again.")
    if path.stat().st_size == 0:
        raise InputError(f"Audio file {path.name} is empty (0 bytes): upload a speech recording.")
    wave, native_sr = None, None
    try:
        import soundfile as sf

        info = sf.info(str(path))
        if info.duration > max_s + 1:
            raise InputError(
                f"Audio is {info.duration:.0f} s long: the limit is {max_s:.0f} s; trim it (or raise "
                "ACTAVATAR_MAX_AUDIO_S)."
            )
        data, native_sr = sf.read(str(path), dtype="float32", always_2d=True)
        wave = data.mean(axis=1)
    except InputError:
        raise
    except Exception:  # noqa: BLE001 - libsndfile does not read m4a/aac and some mp3s: ffmpeg decodes them
        wave = None
    if wave is None:
        wave = _decode_with_ffmpeg(path, sr, max_s)
    elif native_sr != sr:
        import soxr

        wave = soxr.resample(wave, native_sr, sr).astype(np.float32)
    wave = np.nan_to_num(np.asarray(wave, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    duration = len(wave) / sr
    if len(wave) == 0:
        raise InputError(f"Audio {path.name} contains no samples: upload a speech recording.")
    if duration > max_s:
        raise InputError(
            f"Audio is {duration:.0f} s long: the limit is {max_s:.0f} s; trim it (or raise ACTAVATAR_MAX_AUDIO_S)."
        )
    if duration < MIN_AUDIO_S:
        raise InputError(f"Audio is only {duration:.2f} s long: upload at least {MIN_AUDIO_S} s of speech.")
    peak = float(np.max(np.abs(wave)))
    if not allow_silent and (peak == 0.0 or 20 * np.log10(peak + 1e-12) < SILENCE_DBFS):
        raise InputError(f"Audio {path.name} is silent: upload a clip with audible speech.")
    return wave


def num_video_frames(num_samples: int, fps: float, sr: int = SAMPLE_RATE) -> int:
    """Frames needed to cover the audio: ``ceil(duration * fps)`` (the last frame may be partly past the end)."""
    return max(1, int(np.ceil(num_samples / sr * fps - 1e-6)))


@lru_cache(maxsize=1)
def _mel_filters() -> torch.Tensor:
    import librosa

    return torch.from_numpy(librosa.filters.mel(sr=SAMPLE_RATE, n_fft=N_FFT, n_mels=N_MELS)).float()  # (M, F)


def log_mel(wave: np.ndarray) -> torch.Tensor:
    """(N,) 16 kHz -> (frames, N_MELS) log-mel; mel frame j is centred at ``j * HOP / SAMPLE_RATE`` seconds.

    The log's floor is relative to the clip (``MEL_FLOOR`` times the power of its loud frames), not absolute, so a
    quiet recording gives the same log-mel as a loud one up to a constant."""
    x = torch.from_numpy(np.ascontiguousarray(wave, dtype=np.float32))
    spec = torch.stft(x, N_FFT, HOP, window=torch.hann_window(N_FFT), center=True, return_complex=True)  # (F, J)
    power = spec.real.square() + spec.imag.square()
    mel = _mel_filters() @ power  # (M, J)
    loud = torch.quantile(mel.sum(0), 0.95) if mel.shape[1] else torch.tensor(0.0)
    return torch.log(mel + MEL_FLOOR * loud / N_MELS + 1e-20).T.contiguous()  # (J, M)


def frame_features(wave: np.ndarray, fps: float, num_frames: int | None = None) -> torch.Tensor:
    """(T, FEATURE_DIM) per-video-frame audio features: SUBFRAMES log-mels + exact log loudness of the span, each
    normalised per clip so that neither the speaker's level nor the channel decides what the model hears.

    The log-mels are standardised per mel band over the clip (cepstral mean/variance normalisation, as in speech
    recognition: a gain or a microphone's colouring is a per-band offset in the log domain and cancels; a band with
    almost no variation, e.g. above 4 kHz on a phone line, stays near 0 instead of being amplified). The loudness
    is in nepers relative to the clip's speech level (its 95th percentile), floored ``LOUDNESS_FLOOR`` below it, so
    a pause reads as quiet whether the recording's pauses are digital zeros or room tone. Measured on the
    real-speech development set against the raw log-mel with a per-frame LayerNorm (docs/EXPERIMENTS.md)."""
    num_frames = num_video_frames(len(wave), fps) if num_frames is None else num_frames
    # numpy from here on: these arrays are small, and torch's intra-op threads only add sync overhead.
    mel = log_mel(wave).numpy()  # (J, M)
    # Sub-interval centres of each frame's span, in mel-frame units; linear interpolation between mel frames.
    t = (np.arange(num_frames)[:, None] + (np.arange(SUBFRAMES)[None, :] + 0.5) / SUBFRAMES) / fps  # (T, K) s
    pos = np.clip(t.reshape(-1) * SAMPLE_RATE / HOP, 0, mel.shape[0] - 1)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, mel.shape[0] - 1)
    w = (pos - lo)[:, None].astype(np.float32)
    sub = ((1 - w) * mel[lo] + w * mel[hi]).reshape(num_frames, SUBFRAMES, N_MELS)  # (T, K, M)
    std = np.maximum(sub.std(axis=(0, 1)), MIN_BAND_STD)  # (M,)
    sub = ((sub - sub.mean(axis=(0, 1))) / std).reshape(num_frames, SUBFRAMES * N_MELS)  # (T, K*M)
    loud = np.log(loudness_envelope(wave, fps, num_frames) + 1e-5)  # (T,)
    loud = np.maximum(loud - np.percentile(loud, 95), -LOUDNESS_FLOOR) / LOUDNESS_FLOOR + 1.0  # (T,) in [0, ~1]
    return torch.from_numpy(np.concatenate([sub, loud[:, None]], axis=1).astype(np.float32))  # (T, FEATURE_DIM)


def loudness_envelope(wave: np.ndarray, fps: float, num_frames: int | None = None) -> np.ndarray:
    """(T,) RMS loudness of each frame's exact span [t*sr/fps, (t+1)*sr/fps) (linear amplitude); the loudness
    feature of ``frame_features`` and the lip-sync metric's envelope."""
    num_frames = num_video_frames(len(wave), fps) if num_frames is None else num_frames
    edges = np.round(np.arange(num_frames + 1) * SAMPLE_RATE / fps).astype(np.int64)
    sq = np.concatenate([[0.0], np.cumsum(np.asarray(wave, dtype=np.float64) ** 2)])
    edges_c = np.clip(edges, 0, len(wave))
    counts = np.maximum(edges[1:] - edges[:-1], 1)
    return np.sqrt(np.maximum(sq[edges_c[1:]] - sq[edges_c[:-1]], 0.0) / counts).astype(np.float32)


class AudioEncoder(nn.Module):
    """Per-frame audio tokens: per-clip normalised features -> linear -> two temporal convolutions (±2 frames
    context). No per-frame normalisation: it would rescale a quiet frame's noise floor into a speech-sized vector."""

    def __init__(self, feature_dim: int = FEATURE_DIM, dim: int = 128):
        super().__init__()
        self.proj = nn.Linear(feature_dim, dim)
        self.conv1 = nn.Conv1d(dim, dim, kernel_size=3, padding=1)
        self.conv2 = nn.Conv1d(dim, dim, kernel_size=3, padding=1)
        self.act = nn.GELU()

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        x = self.proj(features)  # (B, T, D)
        y = self.act(self.conv1(x.transpose(1, 2)))  # (B, D, T)
        y = self.conv2(y).transpose(1, 2)  # (B, T, D)
        return x + y
