"""Voice activity: where a clip holds speech, from Silero VAD (MIT; its weights ship in the ``silero-vad`` wheel).

The network is Silero VAD 16 kHz as published in that wheel (``silero_vad/data/silero_vad_16k.safetensors``, the
architecture of its ``tinygrad_model.py``): every 32 ms chunk (512 samples plus the previous chunk's last 64) goes
through a learned STFT and four convolutions to one 128-d vector, an LSTM runs over the chunks, and a sigmoid gives
the chunk's speech probability. The package's own streaming wrapper calls the TorchScript model once per chunk from
Python (~0.3-0.5 s per 10 s here); here the convolutions run on all chunks in one batch and the LSTM is one
``nn.LSTM`` call (the same numbers, ~20 ms per 10 s), so it costs nothing on the generation's critical path.

What uses it: the generation's pause gate (``mouth_rest_weights``: in a pause inside a phase the mouth rests,
whatever the phase text says, unless it asks for an open mouth), the report's "no speech between ..." notes and
the clear error for audio with no speech at all (``find_speech``).
"""

from __future__ import annotations

import re
import threading
from functools import lru_cache

import numpy as np
import torch
from torch import nn

from .audio import SAMPLE_RATE
from .errors import InputError
from .phases import PhasePlan

CHUNK = 512  # samples per VAD step at 16 kHz (32 ms)
CONTEXT = 64  # samples of the previous chunk each step also sees
THRESHOLD = 0.5  # speech when the probability is at least this (Silero's default)
MIN_SPEECH_S = 0.25  # a shorter burst of "speech" (a click, a breath) is not speech
MIN_PAUSE_S = 0.3  # a shorter gap is the rhythm of speech, not a pause
MIN_TOTAL_SPEECH_S = 0.3  # a clip with less speech than this "holds no speech"
TARGET_LEVEL_DB = -20.0  # the speech level the detector hears, whatever the recording's own
MAX_GAIN_DB = 40.0  # at most this much gain: a clip of near-silence is not raised into noise that sounds like speech
LONG_GAP_S = 1.5  # a gap of at least this is named in the report ("no speech between ...")
# Phase texts that ask for an open mouth: there the text, not the audio, sets the jaw in pauses too.
OPEN_MOUTH_TEXT = re.compile(
    r"\b(?:open\w*\b.{0,25}\bmouth|mouth\b.{0,15}\bopen|yawn\w*|gasp\w*|gap(?:es|ing)\b|agape|jaw\W+drop\w*|"
    r"drop\w*\b.{0,12}\bjaw|scream\w*|shout\w*|sing(?:s|ing)?\b|o[- ]shape\w*)",
    re.IGNORECASE,
)
_LOCK = threading.Lock()


class SileroVAD(nn.Module):
    """Silero VAD v5+ (16 kHz) with every chunk's convolutions batched and the recurrence as one LSTM call."""

    def __init__(self) -> None:
        super().__init__()
        self.stft_conv = nn.Conv1d(1, 258, kernel_size=256, stride=128, bias=False)  # learned STFT: 129 bins re/im
        self.conv1 = nn.Conv1d(129, 128, kernel_size=3, padding=1)
        self.conv2 = nn.Conv1d(128, 64, kernel_size=3, stride=2, padding=1)
        self.conv3 = nn.Conv1d(64, 64, kernel_size=3, stride=2, padding=1)
        self.conv4 = nn.Conv1d(64, 128, kernel_size=3, padding=1)
        self.lstm = nn.LSTM(128, 128, batch_first=True)
        self.final_conv = nn.Conv1d(128, 1, kernel_size=1)

    @torch.no_grad()
    def forward(self, chunks: torch.Tensor) -> torch.Tensor:
        """(N, CONTEXT + CHUNK) consecutive chunks of one clip -> (N,) speech probabilities."""
        x = nn.functional.pad(chunks, (0, 64), mode="reflect")[:, None]  # (N, 1, 640)
        x = self.stft_conv(x)  # (N, 258, 4)
        x = (x[:, :129].square() + x[:, 129:].square()).sqrt()  # (N, 129, 4) magnitudes
        x = self.conv1(x).relu()
        x = self.conv2(x).relu()  # (N, 64, 2)
        x = self.conv3(x).relu()  # (N, 64, 1)
        x = self.conv4(x).relu()[..., 0]  # (N, 128)
        h, _ = self.lstm(x[None])  # (1, N, 128): the recurrence runs over the chunks in order
        return self.final_conv(h[0].relu()[..., None]).sigmoid()[:, 0, 0]  # (N,)

    @classmethod
    def from_wheel(cls) -> SileroVAD:
        from importlib import resources

        from safetensors.torch import load_file

        try:
            path = resources.files("silero_vad.data").joinpath("silero_vad_16k.safetensors")
        except ModuleNotFoundError:
            raise RuntimeError("silero-vad is not installed: pip install -r requirements.txt") from None
        state = load_file(str(path))
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):  # LSTMCell -> the one-layer LSTM's names
            state[f"lstm.{name}_l0"] = state.pop(f"lstm_cell.{name}")
        model = cls()
        model.load_state_dict(state)
        return model.eval()


@lru_cache(maxsize=1)
def _model() -> SileroVAD:
    return SileroVAD.from_wheel()


def level_normalised(wave: np.ndarray) -> np.ndarray:
    """The clip with its speech level (95th percentile of 10 ms RMS) at ``TARGET_LEVEL_DB`` dBFS, gain capped at
    ``MAX_GAIN_DB``, clipped to ±1. The detector misses quiet speech (a −35 dBFS recording lost a tenth of its
    speech frames); a clip's own level says nothing about where its pauses are."""
    wave = np.asarray(wave, dtype=np.float32)
    n = len(wave) // 160
    if n == 0:
        return wave
    rms = np.sqrt(np.mean(np.square(wave[: n * 160].reshape(n, 160), dtype=np.float64), axis=1))
    level = float(np.percentile(rms, 95))
    if level <= 0.0:
        return wave
    gain = min(10.0 ** ((TARGET_LEVEL_DB - 20.0 * np.log10(level)) / 20.0), 10.0 ** (MAX_GAIN_DB / 20.0))
    return np.clip(wave * np.float32(gain), -1.0, 1.0)


def speech_probability(wave: np.ndarray) -> np.ndarray:
    """(N,) speech probability of each 32 ms chunk of a 16 kHz clip (at its own level; ``find_speech`` normalises
    the level first); chunk k covers samples [512 k, 512 (k + 1))."""
    wave = np.asarray(wave, dtype=np.float32)
    n = max(1, -(-len(wave) // CHUNK))
    padded = np.zeros(CONTEXT + n * CHUNK, dtype=np.float32)
    padded[CONTEXT : CONTEXT + len(wave)] = wave
    idx = np.arange(n)[:, None] * CHUNK + np.arange(CONTEXT + CHUNK)[None]  # (N, 576) with the previous 64
    with _LOCK:  # one model, shared by concurrent requests; the call is ~20 ms per 10 s
        return _model()(torch.from_numpy(padded[idx])).numpy()


def find_speech(wave: np.ndarray, name: str = "the audio") -> list[tuple[float, float]]:
    """The speech regions of a 16 kHz clip; ``InputError`` when it holds none (music, noise or silence only)."""
    duration = len(wave) / SAMPLE_RATE
    regions = speech_regions(speech_probability(level_normalised(wave)), duration)
    if sum(b - a for a, b in regions) < MIN_TOTAL_SPEECH_S:
        raise InputError(
            f"No speech found in {name}: the voice detector hears only music, noise or silence; upload a recording "
            "of someone speaking."
        )
    return regions


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def speech_regions(prob: np.ndarray, duration_s: float) -> list[tuple[float, float]]:
    """Speech as (start, end) seconds: chunks at or above ``THRESHOLD``, gaps under ``MIN_PAUSE_S`` bridged, bursts
    under ``MIN_SPEECH_S`` dropped."""
    step = CHUNK / SAMPLE_RATE
    mask = prob >= THRESHOLD
    for a, b in _runs(~mask):  # bridge short gaps between speech
        if 0 < a and b < len(mask) and (b - a) * step < MIN_PAUSE_S:
            mask[a:b] = True
    regions = [(a * step, min(b * step, duration_s)) for a, b in _runs(mask) if (b - a) * step >= MIN_SPEECH_S]
    return [(round(a, 3), round(b, 3)) for a, b in regions]


def pauses(
    regions: list[tuple[float, float]], duration_s: float, min_s: float = MIN_PAUSE_S
) -> list[tuple[float, float]]:
    """The gaps between speech regions (and before the first / after the last) of at least ``min_s``."""
    edges = [0.0] + [t for r in regions for t in r] + [duration_s]
    gaps = [(edges[i], edges[i + 1]) for i in range(0, len(edges), 2)]
    return [(round(a, 3), round(b, 3)) for a, b in gaps if b - a >= min_s]


def pause_weights(regions: list[tuple[float, float]], num_frames: int, fps: float, ramp_s: float = 0.08) -> np.ndarray:
    """(T,) in [0, 1]: 1 inside a pause, 0 in speech, ramping over ``ramp_s`` at each edge (the mouth closes as a
    word ends rather than snapping shut)."""
    duration = num_frames / fps
    mid = (np.arange(num_frames) + 0.5) / fps
    weight = np.zeros(num_frames)
    for a, b in pauses(regions, duration):
        rise = np.clip((mid - a) / ramp_s, 0, 1) if a > 0 else 1.0
        fall = np.clip((b - mid) / ramp_s, 0, 1) if b < duration else 1.0
        weight = np.maximum(weight, np.minimum(rise, fall) * ((mid >= a) & (mid <= b)))
    return weight.astype(np.float32)


def asks_for_open_mouth(text: str) -> bool:
    """Whether a phase text asks for an open mouth ("opens her mouth wide", "yawns", "gasps", "jaw drops")."""
    return bool(OPEN_MOUTH_TEXT.search(text))


def mouth_rest_weights(plan: PhasePlan, regions: list[tuple[float, float]], num_frames: int, fps: float) -> np.ndarray:
    """(T,) how far to pull each frame's jaw to closed: ``pause_weights`` inside the phases, except those whose text
    asks for an open mouth (``asks_for_open_mouth``); 0 outside the phases. A phase's text is the one thing that can
    hold the jaw open through a pause (a surprise, a laugh), so there the detector's pauses close it. Outside the
    phases the model follows the audio alone, and closes the pauses by itself; gating there too only cost lip sync
    where the detector missed speech (real-speech dev set, docs/EXPERIMENTS.md)."""
    gated = pause_weights(regions, num_frames, fps)
    index = plan.frame_phase_index(num_frames, fps)
    weight = np.zeros(num_frames, dtype=np.float32)
    for k, phase in enumerate(plan.phases):
        if not asks_for_open_mouth(phase.text):
            weight[index == k] = gated[index == k]
    return weight


def gap_notes(regions: list[tuple[float, float]], duration_s: float, min_s: float = LONG_GAP_S) -> list[str]:
    """One note per stretch of at least ``min_s`` without speech, for the report and the app."""
    return [
        f"no speech between {a:.1f} and {b:.1f} s: the mouth stays closed there."
        for a, b in pauses(regions, duration_s, min_s)
    ]
