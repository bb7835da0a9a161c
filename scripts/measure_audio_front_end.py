"""Audio front-end options measured on the real-speech development set, before any training.

    python scripts/measure_audio_front_end.py [--data data/real_speech]
        [--out docs/results/experiments/audio-front-end.json]

For every dev clip (``scripts/real_speech_set.py``) and recording condition, each option's per-frame features are
compared with the same option's features of the clean recording:

- **invariance**: Pearson r over time between the condition's and the clean recording's features, per feature
  dimension, averaged (1 = the condition changes nothing the model can see);
- **pause contrast**: d' between the frames of the clip's pauses and of its speech (pause truth from the clean
  recording, ``actavatar.evaluation.speech_conditions``), along the clean recording's speech-minus-pause direction:
  how clearly the features still say "nobody speaks" under the condition.

The voice detector (``actavatar.vad``) is scored the same way on its per-frame speech probability. The test split is
never read. Written once per front-end choice; the numbers are in docs/EXPERIMENTS.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from actavatar.audio import HOP, N_FFT, N_MELS, SAMPLE_RATE, _mel_filters, frame_features, loudness_envelope  # noqa: E402
from actavatar.vad import CHUNK, speech_probability  # noqa: E402

FPS = 25.0
SUBFRAMES = 4


def _sub_frames(mel: np.ndarray, num_frames: int) -> np.ndarray:
    """(J, M) mel frames at 100 Hz -> (T, SUBFRAMES * M), sampled as ``frame_features`` samples them."""
    t = (np.arange(num_frames)[:, None] + (np.arange(SUBFRAMES)[None] + 0.5) / SUBFRAMES) / FPS
    pos = np.clip(t.reshape(-1) * SAMPLE_RATE / HOP, 0, mel.shape[0] - 1)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, mel.shape[0] - 1)
    a = (pos - lo)[:, None]
    return ((1 - a) * mel[lo] + a * mel[hi]).reshape(num_frames, -1)


def previous_front_end(wave: np.ndarray) -> np.ndarray:
    """The front end before this choice: raw log-mel (absolute floor) and log loudness, LayerNorm per frame."""
    x = torch.from_numpy(wave)
    spec = torch.stft(x, N_FFT, HOP, window=torch.hann_window(N_FFT), center=True, return_complex=True)
    mel = torch.log(_mel_filters() @ spec.abs().square() + 1e-6).T.numpy()
    n = int(np.ceil(len(wave) / SAMPLE_RATE * FPS - 1e-6))
    f = np.concatenate([_sub_frames(mel, n), np.log(loudness_envelope(wave, FPS, n) + 1e-5)[:, None]], axis=1)
    return (f - f.mean(1, keepdims=True)) / (f.std(1, keepdims=True) + 1e-5)


def level_normalised(wave: np.ndarray) -> np.ndarray:
    """Log-mel relative to the clip's speech level (95th percentile of frame energy), floored 52 dB below it, and
    the loudness relative to the same level; no per-band standardisation."""
    x = torch.from_numpy(wave)
    spec = torch.stft(x, N_FFT, HOP, window=torch.hann_window(N_FFT), center=True, return_complex=True)
    mel_power = (_mel_filters() @ spec.abs().square()).T.numpy()
    energy = np.log(mel_power.sum(1) + 1e-20)
    mel = np.maximum(np.log(mel_power + 1e-20) - np.percentile(energy, 95), -12.0)
    n = int(np.ceil(len(wave) / SAMPLE_RATE * FPS - 1e-6))
    return np.concatenate([_sub_frames(mel, n), frame_features(wave, FPS, n).numpy()[:, -1:]], axis=1)


def shipped_front_end(wave: np.ndarray) -> np.ndarray:
    """``actavatar.audio.frame_features``: per-band standardised log-mel + loudness relative to the speech level."""
    return frame_features(wave, FPS).numpy()


def voice_detector(wave: np.ndarray) -> np.ndarray:
    prob = speech_probability(wave)
    n = int(np.ceil(len(wave) / SAMPLE_RATE * FPS - 1e-6))
    return np.interp((np.arange(n) + 0.5) / FPS, (np.arange(len(prob)) + 0.5) * CHUNK / SAMPLE_RATE, prob)[:, None]


OPTIONS = {
    "previous: raw log-mel, per-frame LayerNorm": previous_front_end,
    "level-normalised log-mel": level_normalised,
    "per-band standardised log-mel + relative loudness (shipped)": shipped_front_end,
    "voice detector probability (actavatar.vad)": voice_detector,
}


def _mask(regions, num_frames: int) -> np.ndarray:
    mid = (np.arange(num_frames) + 0.5) / FPS
    out = np.zeros(num_frames, bool)
    for a, b in regions:
        out |= (mid >= a) & (mid < b)
    return out


def measure(data: Path) -> dict:
    manifest = json.loads((data / "manifest.json").read_text(encoding="utf-8"))
    items = [it for it in manifest["items"] if it["split"] == "dev"]
    load = lambda f: sf.read(data / f, dtype="float32")[0]  # noqa: E731
    results = {}
    for name, features in OPTIONS.items():
        invariance, contrast, clean_cache = {}, {}, {}
        for it in items:
            f = features(load(it["file"]))
            if it["clip"] not in clean_cache:
                clean_cache[it["clip"]] = features(load(it["clean_file"]))
            c = clean_cache[it["clip"]]
            n = min(len(f), len(c))
            f, c = f[:n], c[:n]
            if it["condition"] != "clean":
                fz = (f - f.mean(0)) / (f.std(0) + 1e-6)
                cz = (c - c.mean(0)) / (c.std(0) + 1e-6)
                invariance.setdefault(it["condition"], []).append(float(np.nanmean((fz * cz).mean(0))))
            pause, speech = _mask(it["pauses"], n), _mask(it["speech"], n)
            if pause.sum() > 3 and speech.sum() > 3:
                d = c[speech].mean(0) - c[pause].mean(0)
                proj = f @ (d / (np.linalg.norm(d) + 1e-9))
                spread = np.sqrt(0.5 * (proj[speech].var() + proj[pause].var()) + 1e-9)
                contrast.setdefault(it["condition"], []).append(
                    float((proj[speech].mean() - proj[pause].mean()) / spread)
                )
        results[name] = {
            "invariance_r": {k: round(float(np.mean(v)), 3) for k, v in invariance.items()},
            "pause_dprime": {k: round(float(np.mean(v)), 2) for k, v in contrast.items()},
        }
        results[name]["invariance_mean"] = round(float(np.mean([np.mean(v) for v in invariance.values()])), 3)
        results[name]["pause_dprime_min"] = round(float(min(np.mean(v) for v in contrast.values())), 2)
        print(name, json.dumps(results[name]), flush=True)
    return {"files": len(items), "split": "dev", "mel_bands": N_MELS, "options": results}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "real_speech")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "results" / "experiments" / "audio-front-end.json")
    args = parser.parse_args()
    if not (args.data / "manifest.json").is_file():
        print(f"no real-speech set in {args.data}: run python scripts/real_speech_set.py first", file=sys.stderr)
        return 2
    torch.set_num_threads(1)
    result = measure(args.data)
    args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
