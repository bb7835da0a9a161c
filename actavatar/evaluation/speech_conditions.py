"""Real-speech development set: ground-truth pauses of a clean recording and deterministic degraded versions of it.

numpy and scipy only (no torch), so ``scripts/real_speech_set.py`` builds the set quickly and tests can check every
claim below on small arrays. All audio is float mono at ``SAMPLE_RATE`` (16 kHz).

**Pause rule** (``pause_truth``): loudness in dB of consecutive 10 ms spans of the *clean* recording (the spans of
``actavatar.audio.loudness_envelope`` at 100 Hz); the speech level is the 95th percentile of those values and the
noise floor their 5th percentile. A span is quiet when it is at least ``PAUSE_DB`` (30) dB below the speech level,
or at least ``PAUSE_MIN_DB`` (20) dB below it *and* within ``FLOOR_MARGIN_DB`` (10) dB of the noise floor: the
second clause finds the pauses of a recording whose background hum sits less than 30 dB under the voice, and can
never call a span within 20 dB of the speech level a pause. Loud blips up to 30 ms inside quiet stretches
(clicks, lip smacks) are counted as quiet; quiet stretches of at least ``MIN_PAUSE_S`` (0.3 s) are pauses,
including silence at the start and end of the clip. Everything else is speech. Degraded versions inherit the
clean clip's pauses and speech regions: they say when the person speaks, whatever was added to the sound.

**Conditions** (``degrade``), each from the clean clip with a seed derived from the clip id and condition name
(``condition_seed``), the same length as the clean clip and time-aligned with it:

- ``noise``: pink (1/f) noise at ``NOISE_SNR_DB`` (15) dB SNR. SNR = active speech power (mean square of the clean
  clip over its speech regions) / mean square of the added noise.
- ``music``: a synthesised music bed (chords, bass, arpeggio, kick, snare, hi-hat; random key and tempo) whose mean
  power is ``MUSIC_BELOW_DB`` (10) dB below the active speech power.
- ``reverb``: convolution with a synthetic room impulse response: a direct path plus an exponentially decaying,
  slightly low-passed noise tail with RT60 ``RT60_S`` (0.6 s) and a direct-to-reverberant energy ratio of
  ``DRR_DB`` (0 dB); the output is scaled back to the clean clip's active speech power.
- ``phone``: resampled to 8 kHz, band-passed to 300–3400 Hz (6th-order Butterworth, zero phase), resampled back to
  16 kHz and low-passed at 3.8 kHz (nothing above 4 kHz), scaled back to the clean active speech power.
- ``clipped``: normalised to -1 dBFS peak, +20 dB gain, hard-clipped at full scale (+-1).
- ``quiet``: scaled to a peak of ``QUIET_PEAK_DBFS`` (-35 dBFS).

Where a mix would exceed full scale (noise, music, reverb, phone) the whole mix is scaled down to 0.99 peak, which
keeps the stated power ratios.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence

import numpy as np

SAMPLE_RATE = 16000
LOUDNESS_RATE = 100.0  # Hz: 10 ms spans, as the lip-sync metric's envelope
PAUSE_DB = 30.0
PAUSE_MIN_DB = 20.0
FLOOR_MARGIN_DB = 10.0
MIN_PAUSE_S = 0.3
MAX_BLIP_S = 0.03
NOISE_SNR_DB = 15.0
MUSIC_BELOW_DB = 10.0
RT60_S = 0.6
DRR_DB = 0.0
PHONE_BAND_HZ = (300.0, 3400.0)
CLIP_GAIN_DB = 20.0
QUIET_PEAK_DBFS = -35.0
MAX_PEAK = 0.99

CONDITIONS: dict[str, str] = {
    "clean": "the recording itself (16 kHz mono)",
    "noise": f"pink noise at {NOISE_SNR_DB:.0f} dB SNR (active speech power / noise power)",
    "music": f"synthesised music bed (chords, bass, arpeggio, drums) {MUSIC_BELOW_DB:.0f} dB below the active speech",
    "reverb": f"synthetic room impulse response, RT60 {RT60_S} s, direct-to-reverberant ratio {DRR_DB:.0f} dB",
    "phone": "telephone band: 8 kHz, 300-3400 Hz band-pass, back to 16 kHz (no energy above 4 kHz)",
    "clipped": f"normalised to -1 dBFS peak, +{CLIP_GAIN_DB:.0f} dB gain, hard clip at full scale",
    "quiet": f"scaled to {QUIET_PEAK_DBFS:.0f} dBFS peak",
}
DEGRADED = tuple(c for c in CONDITIONS if c != "clean")


# ------------------------------------------------------------------------------------------------ pause truth
def loudness_db(wave: np.ndarray, sr: int = SAMPLE_RATE, rate: float = LOUDNESS_RATE) -> np.ndarray:
    """(K,) RMS loudness in dBFS of consecutive spans of 1 / ``rate`` s (span k = [k / rate, (k + 1) / rate))."""
    wave = np.asarray(wave, dtype=np.float64).reshape(-1)
    num = max(1, int(math.ceil(len(wave) / sr * rate - 1e-6)))
    edges = np.clip(np.round(np.arange(num + 1) * sr / rate).astype(np.int64), 0, len(wave))
    sq = np.concatenate([[0.0], np.cumsum(wave**2)])
    counts = np.maximum(edges[1:] - edges[:-1], 1)
    rms = np.sqrt(np.maximum(sq[edges[1:]] - sq[edges[:-1]], 0.0) / counts)
    return 20.0 * np.log10(np.maximum(rms, 1e-6))


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) index runs where ``mask`` is true."""
    m = np.concatenate([[False], np.asarray(mask, bool), [False]])
    d = np.diff(m.astype(np.int8))
    return list(zip(np.nonzero(d == 1)[0].tolist(), np.nonzero(d == -1)[0].tolist(), strict=True))


def pause_truth(wave: np.ndarray, sr: int = SAMPLE_RATE) -> dict:
    """Ground-truth pauses and speech regions of a clean recording (the module docstring's rule).

    Returns ``pauses`` and ``speech`` as lists of ``[start_s, end_s]`` (together they tile the clip), plus the
    ``speech_level_db``, ``floor_db`` and ``threshold_db`` the rule used."""
    db = loudness_db(wave, sr)
    level, floor = float(np.percentile(db, 95)), float(np.percentile(db, 5))
    threshold = max(level - PAUSE_DB, min(floor + FLOOR_MARGIN_DB, level - PAUSE_MIN_DB))
    quiet = db < threshold
    blip = int(round(MAX_BLIP_S * LOUDNESS_RATE))
    for a, b in _runs(~quiet):  # short loud blips between quiet spans count as quiet
        if b - a <= blip and a > 0 and b < len(quiet):
            quiet[a:b] = True
    duration = len(wave) / sr
    span = 1.0 / LOUDNESS_RATE
    pauses = [
        [round(a * span, 3), round(min(b * span, duration), 3)]
        for a, b in _runs(quiet)
        if (b - a) * span >= MIN_PAUSE_S - 1e-9
    ]
    speech, t = [], 0.0
    for a, b in pauses:
        if a > t:
            speech.append([round(t, 3), a])
        t = b
    if t < duration:
        speech.append([round(t, 3), round(duration, 3)])
    return {
        "pauses": pauses,
        "speech": speech,
        "speech_level_db": round(level, 2),
        "floor_db": round(floor, 2),
        "threshold_db": round(threshold, 2),
    }


def region_mask(num_samples: int, regions: Sequence[Sequence[float]], sr: int = SAMPLE_RATE) -> np.ndarray:
    """(N,) bool: samples inside any ``[start_s, end_s)`` region."""
    mask = np.zeros(num_samples, bool)
    for a, b in regions:
        mask[max(0, int(round(a * sr))) : min(num_samples, int(round(b * sr)))] = True
    return mask


def active_power(wave: np.ndarray, speech: Sequence[Sequence[float]], sr: int = SAMPLE_RATE) -> float:
    """Mean square of ``wave`` over the speech regions (the whole clip if there are none)."""
    wave = np.asarray(wave, dtype=np.float64)
    mask = region_mask(len(wave), speech, sr)
    return float(np.mean(wave[mask] ** 2)) if mask.any() else float(np.mean(wave**2))


def peak_dbfs(wave: np.ndarray) -> float:
    return 20.0 * math.log10(max(float(np.max(np.abs(wave))), 1e-12))


# ------------------------------------------------------------------------------------------------ generators
def condition_seed(clip_id: str, condition: str) -> int:
    """Stable across runs and machines (not Python's salted ``hash``)."""
    return zlib.crc32(f"{clip_id}:{condition}".encode())


def pink_noise(num_samples: int, rng: np.random.Generator) -> np.ndarray:
    """Unit-variance noise with a 1/f power spectrum (flat below 20 Hz)."""
    spec = np.fft.rfft(rng.standard_normal(num_samples))
    f = np.fft.rfftfreq(num_samples, 1.0 / SAMPLE_RATE)
    spec *= 1.0 / np.sqrt(np.maximum(f, 20.0))
    spec[0] = 0.0
    x = np.fft.irfft(spec, num_samples)
    return x / (np.std(x) + 1e-12)


def _note(midi: float) -> float:
    return 440.0 * 2.0 ** ((midi - 69.0) / 12.0)


def synth_music(num_samples: int, rng: np.random.Generator, sr: int = SAMPLE_RATE) -> np.ndarray:
    """Unit-RMS music bed: a I-V-vi-IV chord pad, a bass on every beat, an eighth-note arpeggio, kick on 1 and 3,
    snare on 2 and 4, hi-hat on every eighth. Key, tempo and start point are drawn from ``rng``."""
    key = 48 + int(rng.integers(0, 12))  # C3..B3
    bpm = float(rng.uniform(90.0, 124.0))
    beat = 60.0 / bpm
    offset = float(rng.uniform(0.0, 4 * beat))  # the clip starts somewhere inside a bar
    n = num_samples
    t = np.arange(n) / sr + offset
    out = np.zeros(n)
    chords = [(0, 4, 7), (7, 11, 14), (9, 12, 16), (5, 9, 12)]  # I V vi IV (semitones above the key)
    bar = 4 * beat

    def add(start: float, dur: float, freq: float, amp: float, decay: float, harmonics=(1.0, 0.5, 0.25)) -> None:
        i0 = int(round((start - offset) * sr))
        i1 = min(n, i0 + int(dur * sr))
        if i1 <= 0 or i0 >= n:
            return
        lo = max(i0, 0)
        tt = (np.arange(lo, i1) - i0) / sr
        env = np.exp(-tt / decay) * np.minimum(1.0, tt / 0.005)
        tone = sum(h * np.sin(2 * np.pi * freq * (k + 1) * tt) for k, h in enumerate(harmonics))
        out[lo:i1] += amp * env * tone

    t_end = t[-1] + bar
    b = math.floor(offset / bar) * bar
    while b < t_end:
        root = key + chords[int(round(b / bar)) % 4][0]
        chord = chords[int(round(b / bar)) % 4]
        for s in chord:  # pad
            add(b, bar, _note(key + s), 0.10, bar * 0.8)
        for k in range(4):  # bass
            add(b + k * beat, beat, _note(root - 12), 0.25, beat * 0.5, (1.0, 0.3))
        for k in range(8):  # arpeggio
            add(b + k * beat / 2, beat, _note(key + 12 + chord[k % 3] + (12 if k >= 6 else 0)), 0.08, 0.25)
        b += bar
    # drums
    start_beat = math.floor(offset / beat)
    for k in range(start_beat, int(t_end / beat) + 1):
        tb = k * beat
        i0 = int(round((tb - offset) * sr))
        if k % 2 == 0:  # kick: falling sine
            m = int(0.25 * sr)
            tt = np.arange(m) / sr
            kick = np.sin(2 * np.pi * np.cumsum(50.0 + 90.0 * np.exp(-tt / 0.03)) / sr) * np.exp(-tt / 0.08)
            _place(out, i0, 0.6 * kick)
        else:  # snare: noise burst
            m = int(0.18 * sr)
            tt = np.arange(m) / sr
            _place(out, i0, 0.25 * rng.standard_normal(m) * np.exp(-tt / 0.05))
        for h in (0.0, 0.5):  # hi-hat: high-passed noise tick
            m = int(0.04 * sr)
            hat = np.diff(rng.standard_normal(m + 1)) * np.exp(-np.arange(m) / sr / 0.01)
            _place(out, int(round((tb + h * beat - offset) * sr)), 0.08 * hat)
    return out / (np.sqrt(np.mean(out**2)) + 1e-12)


def _place(out: np.ndarray, i0: int, x: np.ndarray) -> None:
    lo, hi = max(i0, 0), min(len(out), i0 + len(x))
    if hi > lo:
        out[lo:hi] += x[lo - i0 : hi - i0]


def room_impulse_response(
    rng: np.random.Generator, rt60: float = RT60_S, drr_db: float = DRR_DB, sr: int = SAMPLE_RATE
) -> np.ndarray:
    """Direct path (1.0 at t = 0) plus a noise tail decaying by 60 dB in ``rt60`` s, starting 2.5 ms later, gently
    low-passed (one pole at ~5 kHz), with tail energy ``drr_db`` dB below the direct path's."""
    from scipy.signal import lfilter

    length = int(1.5 * rt60 * sr)
    gap = int(0.0025 * sr)
    tt = np.arange(length - gap) / sr
    tail = lfilter([0.35], [1.0, -0.65], rng.standard_normal(len(tt))) * np.exp(-3.0 * math.log(10.0) * tt / rt60)
    tail *= math.sqrt(10.0 ** (-drr_db / 10.0) / float(np.sum(tail**2)))
    h = np.zeros(length)
    h[0] = 1.0
    h[gap:] = tail
    return h


def rt60_of(h: np.ndarray, sr: int = SAMPLE_RATE) -> float:
    """RT60 of an impulse response from its Schroeder decay curve (the -5 to -25 dB slope, extrapolated)."""
    energy = np.cumsum(h[::-1] ** 2)[::-1]
    edc = 10.0 * np.log10(energy / energy[0] + 1e-300)
    t = np.arange(len(h)) / sr
    sel = (edc <= -5.0) & (edc >= -25.0)
    slope = np.polyfit(t[sel], edc[sel], 1)[0]
    return float(-60.0 / slope)


def _limit(x: np.ndarray) -> np.ndarray:
    peak = float(np.max(np.abs(x)))
    return x * (MAX_PEAK / peak) if peak > MAX_PEAK else x


def _match_power(x: np.ndarray, clean: np.ndarray, speech) -> np.ndarray:
    return x * math.sqrt(active_power(clean, speech) / max(active_power(x, speech), 1e-20))


def phone_band(clean: np.ndarray) -> np.ndarray:
    from scipy.signal import butter, resample_poly, sosfiltfilt

    x8 = resample_poly(clean, 1, 2)
    x8 = sosfiltfilt(butter(6, PHONE_BAND_HZ, btype="bandpass", fs=SAMPLE_RATE / 2, output="sos"), x8)
    y = resample_poly(x8, 2, 1)[: len(clean)]
    y = sosfiltfilt(butter(10, 3800.0, btype="lowpass", fs=SAMPLE_RATE, output="sos"), y)
    return np.concatenate([y, np.zeros(len(clean) - len(y))])


def degrade(clean: np.ndarray, condition: str, seed: int, speech: Sequence[Sequence[float]]) -> np.ndarray:
    """The ``condition`` version of a clean 16 kHz clip (float64, same length); ``speech`` = its speech regions."""
    from scipy.signal import fftconvolve

    clean = np.asarray(clean, dtype=np.float64).reshape(-1)
    rng = np.random.default_rng(seed)
    p_speech = active_power(clean, speech)
    if condition == "clean":
        return clean.copy()
    if condition == "noise":
        noise = pink_noise(len(clean), rng) * math.sqrt(p_speech / 10.0 ** (NOISE_SNR_DB / 10.0))
        return _limit(clean + noise)
    if condition == "music":
        music = synth_music(len(clean), rng) * math.sqrt(p_speech / 10.0 ** (MUSIC_BELOW_DB / 10.0))
        return _limit(clean + music)
    if condition == "reverb":
        wet = fftconvolve(clean, room_impulse_response(rng))[: len(clean)]
        return _limit(_match_power(wet, clean, speech))
    if condition == "phone":
        return _limit(_match_power(phone_band(clean), clean, speech))
    if condition == "clipped":
        x = clean * (10.0 ** (-1.0 / 20.0) / max(float(np.max(np.abs(clean))), 1e-12))
        return np.clip(x * 10.0 ** (CLIP_GAIN_DB / 20.0), -1.0, 1.0)
    if condition == "quiet":
        return clean * (10.0 ** (QUIET_PEAK_DBFS / 20.0) / max(float(np.max(np.abs(clean))), 1e-12))
    raise ValueError(f"unknown condition {condition!r}; known: {', '.join(CONDITIONS)}")


# --------------------------------------------------------------------------------------------------- metadata
def median_f0(wave: np.ndarray, speech: Sequence[Sequence[float]], sr: int = SAMPLE_RATE) -> float:
    """Median F0 (Hz, librosa.pyin 60-400 Hz) of the voiced 10 ms frames inside the speech regions that are within
    25 dB of the speech level: the basis of the manifest's *estimated* speaker sex (< 165 Hz male)."""
    import librosa

    wave = np.asarray(wave, dtype=np.float32)
    f0, voiced, _ = librosa.pyin(wave, fmin=60, fmax=400, sr=sr, frame_length=1024, hop_length=sr // 100)
    db = loudness_db(wave, sr)
    n = min(len(f0), len(db))
    t = (np.arange(n) + 0.5) / LOUDNESS_RATE
    in_speech = np.zeros(n, bool)
    for a, b in speech:
        in_speech |= (t >= a) & (t < b)
    sel = voiced[:n] & in_speech & (db[:n] > np.percentile(db, 95) - 25.0) & np.isfinite(f0[:n])
    return float(np.median(f0[:n][sel])) if sel.any() else math.nan
