"""Domain randomisation of the synthetic training audio: clean espeak-ng clips made to sound like real recordings.

The model has otherwise only heard clean espeak-ng: digital-zero pauses, no noise, no room, no channel. On real
recordings lip sync suffered and the mouth stayed open in pauses (room tone, breath and noise, not zeros).
``randomize`` turns one clean clip into a plausible recording by a random subset of the steps below, in the order
a real signal path applies them. Every step keeps the timing: the output has the input's length and its speech
starts on the same sample, because the mouth targets are computed from the clean phoneme timings.

Components (each with why):

- breaths: short (0.2–0.4 s) quiet band-passed noise bursts inside pauses, because real speakers inhale between
  phrases and the mouth must stay closed on that sound.
- mouth clicks: a few ms damped transients in pauses (often just before a word), because lips and tongue click
  audibly in close-miked speech, and a click is not speech.
- room reverb: a synthetic impulse response (direct path at sample 0, sparse early reflections, exponentially
  decaying low-passed noise, RT60 0.2–1.0 s), because most recordings are made in rooms; the direct peak at
  sample 0 means no delay.
- room tone: a faint rumble-and-hiss floor 40–65 dB below the speech, always (unless switched off), because no
  real pause is digital zero.
- additive noise at an SNR drawn uniformly in dB (0–35 dB; uniform in dB = log-uniform in power): white (hiss),
  pink/brown (fans, traffic, wind), babble (other espeak voices saying other sentences), a synthesised music
  bed (chords, arpeggio and drums), because real clips are recorded over such backgrounds.
- mains hum (50/60 Hz and harmonics), because cheap microphones and cables pick it up.
- clipping (gain up 3–18 dB, then hard clip), because overdriven recordings are common.
- band limits: phone band (8 kHz resample + 300–3400 Hz), random low-pass (2.5–7 kHz), random high-pass
  (80–400 Hz), all zero phase, because telephones, cheap mics and web audio cut the spectrum.
- codec round trip through the bundled ffmpeg (mp3 / aac / opus at low bitrates), for a fraction of clips (it
  costs two subprocesses), because uploads are compressed; encoder padding is measured by cross-correlation with
  the codec's input and removed, so timing stays within 1 ms.
- level: the final peak (or the speech loudness) drawn between −40 and 0 dBFS, because uploads come at any gain.
- converter floor: white noise at about −85 dBFS after the level, because a 16-bit file of a real recording
  never holds digital zeros, even at −40 dBFS.

``DomainOptions`` holds the probabilities (all defaults below); ``synth.make_sample`` applies ``randomize`` to a
clip with probability ``audio_domain`` (0 = clean audio, as before). Deterministic given the ``np.random.Generator``
(the babble pool is synthesised once per process with fixed texts, voices and seed).
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from functools import lru_cache

import numpy as np

NOISE_KINDS = ("white", "pink", "brown", "babble", "music")
CODECS = {  # name: (encoder, muxer, demuxer, bitrates in kbit/s at 16 kHz)
    "mp3": ("libmp3lame", "mp3", "mp3", (16, 24, 32, 48)),
    "aac": ("aac", "adts", "aac", (16, 24, 32)),
    "opus": ("libopus", "ogg", "ogg", (8, 12, 16, 24)),
}
# Opus at its lowest encoder complexity: half the CPU of the default (10), the same kind of artefacts; decoded by
# libopus itself (ffmpeg's native decoder warns about the ogg timestamps of such a stream).
_CODEC_ARGS = {"opus": (["-compression_level", "0"], ["-c:a", "libopus"])}
MAX_CODEC_DELAY_S = 0.25  # searched lag range when re-aligning a codec's output with its input
MIN_PAUSE_S = 0.25  # a gap between words at least this long is a pause (breaths and clicks go there)


@dataclass(frozen=True)
class DomainOptions:
    """Probabilities (per randomised clip) and ranges of each component of ``randomize``."""

    noise: float = 0.65  # one additive noise of ``noise_weights``' kinds
    second_noise: float = 0.2  # ... and a second, different kind on top (given the first)
    noise_weights: tuple[float, ...] = (0.2, 0.2, 0.1, 0.25, 0.25)  # white, pink, brown, babble, music
    snr_db: tuple[float, float] = (0.0, 35.0)  # uniform in dB
    hum: float = 0.12
    hum_snr_db: tuple[float, float] = (15.0, 40.0)
    room_tone: float = 1.0
    room_tone_snr_db: tuple[float, float] = (40.0, 65.0)
    reverb: float = 0.45
    rt60_s: tuple[float, float] = (0.2, 1.0)
    phone: float = 0.12
    lowpass: float = 0.2  # not drawn together with the phone band
    highpass: float = 0.25
    codec: float = 0.08
    clipping: float = 0.06
    breath: float = 0.4  # clips with breaths (then each pause of >= 0.35 s holds one with probability 0.6)
    clicks: float = 0.25  # clips with 1–3 mouth clicks
    level_dbfs: tuple[float, float] = (-40.0, 0.0)
    converter_floor: float = 1.0

    @classmethod
    def only(cls, *names: str, **values) -> DomainOptions:
        """Every probability 0 except ``names`` (set to 1) and ``values``: one component at a time (tests)."""
        probs = {f.name: 0.0 for f in fields(cls) if isinstance(f.default, float)}
        probs.update({name: 1.0 for name in names})
        return replace(cls(), **{**probs, **values})


DEFAULT_OPTIONS = DomainOptions()


# ---------------------------------------------------------------------------------------------------- helpers
def db(x: float) -> float:
    return float(10.0 * np.log10(max(float(x), 1e-30)))


def active_power(x: np.ndarray, sr: int) -> float:
    """Mean power over the 20 ms frames within 40 dB of the loudest one (the speech, not its pauses)."""
    hop = max(1, sr // 50)
    n = len(x) // hop * hop
    if n == 0:
        return float(np.mean(np.square(x, dtype=np.float64))) if len(x) else 0.0
    p = np.square(x[:n], dtype=np.float64).reshape(-1, hop).mean(axis=1)
    top = p.max()
    return float(p[p >= top * 1e-4].mean()) if top > 0 else 0.0


def pauses(words: Sequence[tuple[float, float, str]] | None, duration: float, min_pause: float = MIN_PAUSE_S):
    """``(start, end)`` in seconds of the clip's pauses: before the first word, gaps of at least ``min_pause``
    between words, after the last word (the whole clip when nothing is said)."""
    spans = sorted((float(w[0]), float(w[1])) for w in (words or ()))
    if not spans:
        return [(0.0, duration)]
    out = []
    if spans[0][0] > 0:
        out.append((0.0, spans[0][0]))
    end = spans[0][1]
    for start, stop in spans[1:]:
        if start - end >= min_pause:
            out.append((end, start))
        end = max(end, stop)
    if duration > end:
        out.append((end, duration))
    return out


def _pauses_from_audio(x: np.ndarray, sr: int, min_pause: float = MIN_PAUSE_S):
    """Pauses from the clean signal when no word timings are given: 10 ms frames 60 dB below the loudest."""
    hop = sr // 100
    n = len(x) // hop
    if n == 0:
        return []
    p = np.square(x[: n * hop], dtype=np.float64).reshape(n, hop).mean(axis=1)
    quiet = p <= p.max() * 1e-6
    out, k = [], 0
    while k < n:
        if not quiet[k]:
            k += 1
            continue
        j = k
        while j < n and quiet[j]:
            j += 1
        if (j - k) * hop / sr >= min_pause:
            out.append((k * hop / sr, min(j * hop, len(x)) / sr))
        k = j
    return out


def _sos(order: int, cutoff, btype: str, sr: int):
    """Butterworth sections, cutoffs rounded to 10 Hz and cached (a design costs about as much as filtering)."""
    key = tuple(np.round(np.atleast_1d(cutoff), -1).tolist())
    return _butter(order, key, btype, sr)


@lru_cache(maxsize=1024)
def _butter(order: int, cutoff: tuple[float, ...], btype: str, sr: int):
    from scipy.signal import butter

    return butter(order, cutoff if len(cutoff) > 1 else cutoff[0], btype=btype, fs=sr, output="sos")


def _zero_phase(sos, x: np.ndarray) -> np.ndarray:
    from scipy.signal import sosfiltfilt

    return sosfiltfilt(sos, x).astype(np.float32)


# ------------------------------------------------------------------------------------------------------ noises
def coloured_noise(rng: np.random.Generator, n: int, alpha: float, sr: int, f_min: float = 30.0) -> np.ndarray:
    """Unit-RMS noise with power spectrum ~ 1/f^alpha (0 white, 1 pink, 2 brown), flat below ``f_min``."""
    import scipy.fft as sfft

    white = rng.standard_normal(n, dtype=np.float32)
    if alpha == 0:
        return white
    m = sfft.next_fast_len(n, real=True)
    spec = sfft.rfft(white, m)
    f = np.maximum(np.fft.rfftfreq(m, 1.0 / sr), f_min)
    spec *= (f_min / f) ** (alpha / 2)
    out = sfft.irfft(spec, m)[:n].astype(np.float32)
    return out / (np.sqrt(np.mean(np.square(out, dtype=np.float64))) + 1e-12)


def room_tone(rng: np.random.Generator, n: int, sr: int) -> tuple[np.ndarray, int]:
    """Unit-power room tone: rumble (white through a one-pole low-pass at 80–1200 Hz: flat, then 1/f^2) plus a
    little hiss 10–30 dB below it; cheap (one IIR pass), since every randomised clip gets it."""
    from scipy.signal import lfilter

    corner = rng.uniform(80, 1200)
    a = np.exp(-2 * np.pi * corner / sr)
    white = rng.random(n, dtype=np.float32) - np.float32(0.5)
    rumble = lfilter([1 - a], [1, -a], white)
    rumble /= np.sqrt(np.mean(rumble**2)) + 1e-12
    out = rumble + (10 ** (-rng.uniform(10, 30) / 20) * np.sqrt(12)) * white
    return (out / (np.sqrt(np.mean(out**2)) + 1e-12)).astype(np.float32), int(corner)


BABBLE_SENTENCES = (  # spoken only by the background talkers: no sentence of either split
    "The train to the airport leaves every twenty minutes from platform four.",
    "I would like a small coffee with milk and a glass of water, please.",
    "They finally painted the fence green after arguing about it all summer.",
    "Please remember to switch off the lights when you leave the room.",
    "We are going to need a much bigger table for all of these guests.",
    "Somebody left an umbrella and a pair of gloves on the bus again.",
    "The weather forecast says it will rain for most of the afternoon.",
    "My brother is learning to play the piano and practises every evening.",
    "Could you tell me where the nearest pharmacy is, by any chance?",
    "The children built a sandcastle and watched the tide wash it away.",
    "Nobody knows exactly how old that tree in the middle of the square is.",
    "Turn left at the bakery and walk straight on until you see the bridge.",
)


def _synthesize_pool() -> list[np.ndarray]:
    from .speech import synthesize
    from .synth import voices

    rng = np.random.default_rng(20240521)
    pool = voices("train")
    out = []
    for text in BABBLE_SENTENCES:
        voice = pool[int(rng.integers(len(pool)))]
        clip = synthesize(text, voice, int(rng.integers(140, 221)), int(rng.integers(20, 81)), pad_end=0.15)
        out.append((clip.audio / (np.sqrt(active_power(clip.audio, clip.sample_rate)) + 1e-9)).astype(np.float32))
    return out


@lru_cache(maxsize=1)
def _babble_pool() -> tuple[np.ndarray, ...]:
    """One utterance per babble sentence, in training voices at random rates and pitches (fixed seed), cached
    per process (about 0.2 s of synthesis once).

    Synthesised in a forked child with its own espeak-ng engine: the engine's state carries over between
    utterances and changes the next clip's waveform, even its length by tens of ms, which would make the clips
    after the first randomised one differ from a clean build's (other durations, other draws)."""
    import os

    if not hasattr(os, "fork"):  # pragma: no cover - Linux and macOS have fork
        return tuple(_synthesize_pool())
    from . import speech

    read, write = os.pipe()
    with speech._LOCK:  # no other thread is inside the engine while the process is copied
        pid = os.fork()
    if pid == 0:  # the child: synthesise, send (lengths, samples), exit without running the parent's cleanup
        code = 1
        try:
            import threading

            os.close(read)
            speech._LOCK = threading.Lock()
            parts = _synthesize_pool()
            lengths = np.array([len(p) for p in parts], np.int64)
            with os.fdopen(write, "wb") as f:
                f.write(np.int64(len(parts)).tobytes() + lengths.tobytes() + np.concatenate(parts).tobytes())
            code = 0
        finally:
            os._exit(code)
    os.close(write)
    with os.fdopen(read, "rb") as f:
        data = f.read()
    _, status = os.waitpid(pid, 0)
    if status != 0 or len(data) < 8:
        raise RuntimeError("the babble pool could not be synthesised (espeak-ng failed in the child process)")
    count = int(np.frombuffer(data[:8], np.int64)[0])
    lengths = np.frombuffer(data[8 : 8 + 8 * count], np.int64)
    samples = np.frombuffer(data[8 + 8 * count :], np.float32)
    return tuple(np.split(samples.copy(), np.cumsum(lengths)[:-1]))


def babble(rng: np.random.Generator, n: int, sr: int, talkers: int) -> np.ndarray:
    """``talkers`` background voices, each a random run of pool utterances from a random offset, summed."""
    pool = _babble_pool()
    out = np.zeros(n, np.float32)
    for _ in range(talkers):
        parts, total = [], 0
        while total < n + sr:
            utt = pool[int(rng.integers(len(pool)))]
            parts.append(utt)
            total += len(utt)
        voice = np.concatenate(parts)
        k = int(rng.integers(0, sr))
        out += float(10 ** (rng.uniform(-4, 4) / 20)) * voice[k : k + n]
    return out


_MAJOR = ((0, 4, 7), (7, 11, 14), (9, 12, 16), (5, 9, 12))  # I V vi IV
_MINOR = ((0, 3, 7), (8, 12, 15), (3, 7, 10), (10, 14, 17))  # i VI III VII


def music(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    """A looped 4-bar bed: sustained chords, an eighth-note arpeggio, and (mostly) kick, snare and hi-hat."""
    bpm = rng.uniform(72, 136)
    beat = 60.0 / bpm
    chords = _MINOR if rng.random() < 0.5 else _MAJOR
    shift = int(rng.integers(0, 4))
    chords = chords[shift:] + chords[:shift]
    root = 45 + int(rng.integers(0, 12))  # MIDI A2..G#3
    loop = int(round(16 * beat * sr))
    out = np.zeros(loop + sr, np.float32)
    hz = lambda midi: 440.0 * 2 ** ((midi - 69) / 12)  # noqa: E731
    gains = {"pad": rng.uniform(0.2, 1.0), "arp": rng.uniform(0.0, 0.8), "drums": float(rng.random() < 0.75)}

    def add(at: float, sig: np.ndarray) -> None:
        k = int(at * sr)
        out[k : k + len(sig)] += sig[: len(out) - k]

    bar = int(4 * beat * sr)
    tb = np.arange(bar, dtype=np.float32) / sr
    pad_env = np.minimum(1.0, tb / 0.08) * np.exp(-tb / (6 * beat)).astype(np.float32)
    note = int(0.45 * beat * sr)
    tn = np.arange(note, dtype=np.float32) / sr
    pluck = np.exp(-tn / 0.12).astype(np.float32)
    for b, chord in enumerate(chords):
        pad = sum(np.sin(2 * np.pi * hz(root + 12 + i) * tb) for i in chord) + 0.6 * np.sin(2 * np.pi * hz(root) * tb)
        add(b * 4 * beat, gains["pad"] * 0.25 * pad_env * pad)
        if gains["arp"] > 0:
            for e in range(8):
                f = hz(root + 24 + chord[e % 3] + 12 * (e // 6))
                tone = np.sin(2 * np.pi * f * tn) + 0.3 * np.sin(4 * np.pi * f * tn)
                add((b * 4 + e / 2) * beat, gains["arp"] * 0.3 * pluck * tone)
    if gains["drums"]:
        tk = np.arange(int(0.25 * sr), dtype=np.float32) / sr
        kick = np.sin(2 * np.pi * (50 * tk + 70 * 0.04 * (1 - np.exp(-tk / 0.04)))) * np.exp(-tk / 0.12)
        snare = rng.standard_normal(len(tk)).astype(np.float32) * np.exp(-tk / 0.06) * 0.5
        snare += 0.4 * np.sin(2 * np.pi * 185 * tk) * np.exp(-tk / 0.05)
        th = tk[: int(0.06 * sr)]
        hat = np.diff(rng.standard_normal(len(th) + 1)).astype(np.float32) * np.exp(-th / 0.015) * 0.2
        level = rng.uniform(0.3, 1.0)
        for q in range(16):
            add(q * beat, level * (kick if q % 2 == 0 else snare))
            add((q + 0.5) * beat, level * hat)
    out = out[:loop]
    return np.resize(out, n).astype(np.float32) if n > loop else out[:n]


def hum(rng: np.random.Generator, n: int, sr: int) -> tuple[np.ndarray, int]:
    """Mains hum: 50 or 60 Hz (±0.3 %) and its harmonics below 1 kHz, odd ones stronger (buzz)."""
    mains = 50 if rng.random() < 0.5 else 60
    f0 = mains * (1 + rng.uniform(-0.003, 0.003))
    slope = rng.uniform(0.5, 1.5)
    cycle = np.arange(1024) / 1024  # one period as a wavetable, then read at f0 (one pass instead of one per harmonic)
    table = np.zeros(1025)
    for k in range(1, int(1000 // f0) + 1):
        amp = rng.uniform(0.3, 1.0) * k**-slope * (1.0 if k % 2 else rng.uniform(0.1, 0.6))
        table[:1024] += amp * np.sin(2 * np.pi * k * cycle + rng.uniform(0, 2 * np.pi))
    table[1024] = table[0]
    phase = (np.arange(n) * (f0 / sr) % 1.0) * 1024
    return np.interp(phase, np.arange(1025), table).astype(np.float32), mains


def make_noise(rng: np.random.Generator, kind: str, n: int, sr: int) -> tuple[np.ndarray, dict]:
    """Noise of ``kind`` (``NOISE_KINDS``), unit power over its active part, and what was drawn."""
    info: dict = {"kind": kind}
    if kind == "white":
        x = rng.standard_normal(n, dtype=np.float32)
    elif kind in ("pink", "brown"):
        alpha = rng.uniform(0.8, 1.2) if kind == "pink" else rng.uniform(1.6, 2.0)
        x = coloured_noise(rng, n, alpha, sr)
        info["alpha"] = round(float(alpha), 2)
    elif kind == "babble":
        talkers = int(rng.integers(3, 8))
        x = babble(rng, n, sr, talkers)
        info["talkers"] = talkers
    elif kind == "music":
        x = music(rng, n, sr)
    else:
        raise ValueError(f"unknown noise kind {kind!r}; known: {NOISE_KINDS}")
    return x / np.float32(np.sqrt(active_power(x, sr)) + 1e-12), info


def mix_at_snr(speech: np.ndarray, noise: np.ndarray, snr_db: float, sr: int, speech_power: float | None = None):
    """``speech + g * noise`` with ``g`` such that active speech power / active noise power = ``snr_db``."""
    ps = active_power(speech, sr) if speech_power is None else speech_power
    pn = active_power(noise, sr)
    if ps <= 0 or pn <= 0:
        return speech.astype(np.float32)
    g = np.sqrt(ps / pn / 10 ** (snr_db / 10))
    return (speech + np.float32(g) * noise).astype(np.float32)


# ------------------------------------------------------------------------------------------- speaker sounds
def breath(rng: np.random.Generator, duration: float, sr: int) -> np.ndarray:
    """One inhale: band-passed noise (a random band in 300–4000 Hz) under an asymmetric raised-cosine swell."""
    from scipy.signal import sosfilt

    m = int(duration * sr)
    lo = rng.uniform(300, 900)
    hi = rng.uniform(max(lo * 2, 1800), 4000)
    pad = int(0.02 * sr)
    x = sosfilt(_sos(2, [lo, hi], "bandpass", sr), rng.standard_normal(m + pad))[pad:]
    peak = rng.uniform(0.35, 0.6)
    u = np.arange(m) / max(m - 1, 1)
    env = np.where(u < peak, 0.5 - 0.5 * np.cos(np.pi * u / peak), 0.5 + 0.5 * np.cos(np.pi * (u - peak) / (1 - peak)))
    out = x * env
    return (out / (np.sqrt(np.mean(out**2)) + 1e-12)).astype(np.float32)


def click(rng: np.random.Generator, sr: int) -> np.ndarray:
    """A mouth click: a 2–6 ms damped oscillation at 1.5–4.5 kHz, unit peak."""
    m = int(rng.uniform(0.002, 0.006) * sr) + 1
    t = np.arange(m) / sr
    x = np.sin(2 * np.pi * rng.uniform(1500, 4500) * t + rng.uniform(0, np.pi)) * np.exp(-t / (m / sr / 3))
    x += 0.3 * rng.standard_normal(m) * np.exp(-t / (m / sr / 4))
    return (x / (np.abs(x).max() + 1e-12)).astype(np.float32)


def _speaker_sounds(rng, x, sr, gaps, opts: DomainOptions, record: dict) -> np.ndarray:
    """Breaths and clicks inside ``gaps`` (seconds), quiet relative to the clip's speech."""
    rms = np.sqrt(active_power(x, sr))
    if rms <= 0:
        return x
    out = x.copy()
    if rng.random() < opts.breath:
        count = 0
        for a, b in gaps:
            room = b - a - 0.1  # 50 ms clear of the words on each side
            if room < 0.25 or rng.random() >= 0.6:
                continue
            dur = rng.uniform(0.2, min(0.4, room))
            start = b - 0.05 - dur - rng.uniform(0, room - dur) * rng.uniform(0, 1)  # mostly just before speaking
            k = int(start * sr)
            sig = breath(rng, dur, sr) * np.float32(rms * 10 ** (-rng.uniform(22, 38) / 20))
            out[k : k + len(sig)] += sig[: len(out) - k]
            count += 1
        record["breaths"] = count
    if rng.random() < opts.clicks:
        usable = [(a, b) for a, b in gaps if b - a >= 0.08]
        count = 0
        for _ in range(int(rng.integers(1, 4)) if usable else 0):
            a, b = usable[int(rng.integers(len(usable)))]
            if rng.random() < 0.6:  # a lip smack just before a word
                at = b - rng.uniform(0.02, min(0.15, b - a - 0.02))
            else:
                at = rng.uniform(a + 0.02, b - 0.03)
            k = int(at * sr)
            sig = click(rng, sr) * np.float32(rms * 10 ** (-rng.uniform(6, 20) / 20))
            out[k : k + len(sig)] += sig[: len(out) - k]
            count += 1
        record["clicks"] = count
    return out


# ------------------------------------------------------------------------------------------------------ room
def room_ir(rng: np.random.Generator, sr: int, rt60: float, drr_db: float) -> np.ndarray:
    """A room impulse response with its direct path (1.0, the largest tap) at sample 0: 3–10 early reflections
    at 2–40 ms, then exponentially decaying (−60 dB at ``rt60``) low-passed noise from a 5–25 ms pre-delay; the
    reverberant energy is set to ``drr_db`` below the direct path's."""
    from scipy.signal import lfilter

    m = int(min(1.2 * rt60, 1.25) * sr)
    t = np.arange(m) / sr
    tail = rng.standard_normal(m) * np.exp(-6.9078 * t / rt60)
    a = np.exp(-2 * np.pi * rng.uniform(2000, 7000) / sr)  # air and wall absorption of highs
    tail = lfilter([1 - a], [1, -a], tail)
    pre = rng.uniform(0.005, 0.025)
    tail *= np.clip((t - pre / 2) / (pre / 2), 0, 1)
    for _ in range(int(rng.integers(3, 11))):
        k = int(rng.uniform(0.002, 0.04) * sr)
        tail[k] += rng.choice([-1.0, 1.0]) * rng.uniform(0.2, 0.7) * np.exp(-6.9078 * k / sr / rt60) * 4
    tail[0] = 0.0
    tail *= np.sqrt(10 ** (-drr_db / 10) / (np.sum(tail**2) + 1e-12))
    top = np.abs(tail).max()
    if top > 0.7:  # keep the direct path the clear maximum, so alignment and onsets stay on sample 0
        tail *= 0.7 / top
    tail[0] = 1.0
    return tail.astype(np.float32)


def reverberate(x: np.ndarray, ir: np.ndarray) -> np.ndarray:
    """``x`` through the room, same length and no delay (``ir``'s direct path is at sample 0)."""
    from scipy.signal import fftconvolve

    return fftconvolve(x, ir)[: len(x)].astype(np.float32)


# ------------------------------------------------------------------------------------------------- channel
def phone_band(x: np.ndarray, sr: int) -> np.ndarray:
    """Telephone channel: down to 8 kHz, 300–3400 Hz band-pass (zero phase), back to ``sr``."""
    from scipy.signal import resample_poly

    if sr <= 8000:
        return _zero_phase(_sos(4, [300, min(3400, 0.45 * sr)], "bandpass", sr), x)
    from math import gcd

    g = gcd(8000, sr)
    narrow = resample_poly(x, 8000 // g, sr // g)
    narrow = _zero_phase(_sos(4, [300, 3400], "bandpass", 8000), narrow)
    return resample_poly(narrow, sr // g, 8000 // g)[: len(x)].astype(np.float32)


def lowpass(x: np.ndarray, sr: int, cutoff: float, order: int = 4) -> np.ndarray:
    return _zero_phase(_sos(order, min(cutoff, 0.45 * sr), "lowpass", sr), x)


def highpass(x: np.ndarray, sr: int, cutoff: float, order: int = 2) -> np.ndarray:
    return _zero_phase(_sos(order, cutoff, "highpass", sr), x)


def _ffmpeg() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def estimate_lag(y: np.ndarray, x: np.ndarray, max_lag: int) -> int:
    """The lag (samples) at which ``y`` best matches ``x`` (``y[k + lag] ~ x[k]``), within ``±max_lag``."""
    from scipy.signal import correlate

    n = min(len(x), len(y))
    if n == 0:
        return 0
    c = correlate(y[: n + max_lag].astype(np.float64), x[:n].astype(np.float64), mode="full", method="fft")
    zero = n - 1
    lo, hi = max(0, zero - max_lag), min(len(c), zero + max_lag + 1)
    return int(np.argmax(c[lo:hi]) + lo - zero)


def codec_roundtrip(x: np.ndarray, sr: int, codec: str, kbps: int) -> tuple[np.ndarray, int]:
    """Encode ``x`` with ``codec`` at ``kbps`` and decode it (bundled ffmpeg, one thread each), re-aligned with
    the input by cross-correlation (encoder padding and priming removed) and cut or padded to its length.
    Returns ``(audio, delay)``, ``delay`` being the samples the codec had added in front."""
    encoder, muxer, demuxer, _ = CODECS[codec]
    exe = _ffmpeg()
    raw = ["-f", "f32le", "-ar", str(sr), "-ac", "1"]
    enc = [exe, "-v", "error", "-nostdin", "-threads", "1", *raw, "-i", "pipe:0"]
    enc_args, dec_args = _CODEC_ARGS.get(codec, ([], []))
    enc += ["-c:a", encoder, "-b:a", f"{kbps}k", *enc_args, "-f", muxer, "pipe:1"]
    dec = [exe, "-v", "error", "-nostdin", "-threads", "1", *dec_args, "-f", demuxer, "-i", "pipe:0", *raw, "pipe:1"]
    src = np.ascontiguousarray(x, dtype=np.float32)
    coded = subprocess.run(enc, input=src.tobytes(), capture_output=True, timeout=60, check=True).stdout
    pcm = subprocess.run(dec, input=coded, capture_output=True, timeout=60, check=True).stdout
    y = np.frombuffer(pcm, dtype=np.float32)
    lag = estimate_lag(y, src, int(MAX_CODEC_DELAY_S * sr))
    out = np.zeros(len(src), np.float32)
    a, b = max(lag, 0), min(len(y), lag + len(src))
    out[a - lag : b - lag] = y[a:b]
    return out, lag


# ------------------------------------------------------------------------------------------------- randomize
def randomize(
    rng: np.random.Generator,
    audio: np.ndarray,
    sr: int,
    words: Sequence[tuple[float, float, str]] | None = None,
    options: DomainOptions | None = None,
    record: dict | None = None,
) -> np.ndarray:
    """A randomised recording of the clean clip ``audio`` (same length, same timing): see the module docstring.

    ``words`` (``(start_s, end_s, word)``, as ``SpeechClip.words`` or ``Sample.meta["words"]``) tell where the
    pauses are (without them: from the clean signal's digital silence). ``record``, if given, is filled with
    what was applied (JSON-serialisable; ``synth.make_sample`` stores it as ``meta["audio_domain"]``).

    The stages run in a fixed order, each drawing from ``rng`` in turn, so a seed gives the same recording."""
    opts = DEFAULT_OPTIONS if options is None else options
    rec: dict = {} if record is None else record
    x = np.asarray(audio, dtype=np.float32)
    n = len(x)
    if n == 0:
        return x.copy()
    gaps = pauses(words, n / sr) if words is not None else _pauses_from_audio(x, sr)

    y = _speaker_sounds(rng, x, sr, gaps, opts, rec)
    if rng.random() < opts.reverb:
        rt60, drr = rng.uniform(*opts.rt60_s), rng.uniform(-3.0, 12.0)
        y = reverberate(y, room_ir(rng, sr, rt60, drr))
        rec["reverb"] = {"rt60_s": _r(rt60, 2), "drr_db": _r(drr)}
    y = _add_noises(rng, y, sr, opts, rec)
    y = _channel(rng, y, sr, opts, rec)
    y = _set_level(rng, y, sr, opts, rec)
    return np.clip(y, -1.0, 1.0).astype(np.float32)


def _r(v, k: int = 1) -> float:
    """A value as the record stores it: a float rounded to ``k`` decimals."""
    return round(float(v), k)


def _add_noises(rng: np.random.Generator, y: np.ndarray, sr: int, opts: DomainOptions, rec: dict) -> np.ndarray:
    """Room tone, one or two noises and mains hum, each at its SNR relative to the (reverberant) speech."""
    n = len(y)
    speech_power = active_power(y, sr)
    if rng.random() < opts.room_tone:
        snr = rng.uniform(*opts.room_tone_snr_db)
        tone, corner = room_tone(rng, n, sr)
        y = mix_at_snr(y, tone, snr, sr, speech_power)
        rec["room_tone"] = {"snr_db": _r(snr), "corner_hz": corner}
    if rng.random() < opts.noise:
        weights = np.asarray(opts.noise_weights, np.float64)
        kinds = [NOISE_KINDS[int(rng.choice(len(NOISE_KINDS), p=weights / weights.sum()))]]
        if rng.random() < opts.second_noise:
            rest = weights.copy()
            rest[NOISE_KINDS.index(kinds[0])] = 0.0
            if rest.sum() > 0:
                kinds.append(NOISE_KINDS[int(rng.choice(len(NOISE_KINDS), p=rest / rest.sum()))])
        rec["noise"] = []
        for kind in kinds:
            noise, info = make_noise(rng, kind, n, sr)
            snr = rng.uniform(*opts.snr_db)
            y = mix_at_snr(y, noise, snr, sr, speech_power)
            rec["noise"].append({**info, "snr_db": _r(snr)})
    if rng.random() < opts.hum:
        sig, mains = hum(rng, n, sr)
        snr = rng.uniform(*opts.hum_snr_db)
        y = mix_at_snr(y, sig, snr, sr, speech_power)
        rec["hum"] = {"hz": mains, "snr_db": _r(snr)}
    return y


def _channel(rng: np.random.Generator, y: np.ndarray, sr: int, opts: DomainOptions, rec: dict) -> np.ndarray:
    """What the recording chain does to the mix: clipping, a phone band or low-pass, a high-pass, a lossy codec."""
    if rng.random() < opts.clipping:
        over = rng.uniform(3.0, 18.0)
        y = np.clip(y * np.float32(10 ** (over / 20) / (np.abs(y).max() + 1e-12)), -1.0, 1.0)
        rec["clipping_db"] = _r(over)

    if rng.random() < opts.phone:
        y = phone_band(y, sr)
        rec["band"] = {"kind": "phone"}
    elif rng.random() < opts.lowpass:
        cutoff, order = round(rng.uniform(2500, 7000), -1), int(rng.choice([2, 4, 6]))
        y = lowpass(y, sr, cutoff, order)
        rec["band"] = {"kind": "lowpass", "hz": int(cutoff), "order": order}
    if rng.random() < opts.highpass:
        cutoff = round(rng.uniform(80, 400), -1)
        y = highpass(y, sr, cutoff)
        rec["highpass_hz"] = int(cutoff)

    if rng.random() < opts.codec:
        name = sorted(CODECS)[int(rng.integers(len(CODECS)))]
        kbps = int(rng.choice(CODECS[name][3]))
        try:
            y, delay = codec_roundtrip(y, sr, name, kbps)
            rec["codec"] = {"name": name, "kbps": kbps, "delay_samples": delay}
        except (ImportError, OSError, subprocess.SubprocessError, RuntimeError) as err:  # no ffmpeg: left uncoded
            rec["codec"] = {"name": name, "kbps": kbps, "error": type(err).__name__}
    return y


def _set_level(rng: np.random.Generator, y: np.ndarray, sr: int, opts: DomainOptions, rec: dict) -> np.ndarray:
    """The file's final gain (peak, or speech loudness with the peak kept at or below 0 dBFS), then, sometimes,
    a converter's noise floor."""
    peak = float(np.abs(y).max())
    lo, hi = opts.level_dbfs
    if peak > 0:
        if rng.random() < 0.5:
            target = rng.uniform(lo, max(lo, min(hi, -0.1)))
            gain = 10 ** (target / 20) / peak
            rec["level"] = {"mode": "peak", "dbfs": _r(target)}
        else:
            target = rng.uniform(lo, max(lo, min(hi, -10.0)))  # louder speech than -10 dBFS: limited anyway
            gain = min(10 ** (target / 20) / np.sqrt(max(active_power(y, sr), 1e-30)), 0.999 / peak)
            rec["level"] = {"mode": "loudness", "dbfs": _r(target)}
        y = y * np.float32(gain)
        rec["gain_db"] = _r(20 * np.log10(gain), 2)
    if rng.random() < opts.converter_floor:
        floor = rng.uniform(-90.0, -80.0)  # RMS; uniform (rectangular) noise, as a converter's dither
        y = y + np.float32(10 ** (floor / 20) * np.sqrt(12)) * (rng.random(len(y), dtype=np.float32) - np.float32(0.5))
        rec["floor_dbfs"] = _r(floor)
    return y
