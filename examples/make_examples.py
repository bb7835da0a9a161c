"""Make the app's example speech clips and phase plans (``python examples/make_examples.py``).

Each example is a portrait from ``examples/portraits/``, a short speech clip synthesised with the ``espeak-ng``
CLI (resampled to 16 kHz mono 16-bit wav to keep it small) and a ``*.phases.json`` plan whose windows are given
as fractions of the clip so they always fit the synthesised audio. ``examples.json`` lists the examples for the
app. The exact commands are in ``README.md``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

HERE = Path(__file__).resolve().parent
SAMPLE_RATE = 16000

# name, portrait, espeak voice, words per minute, text, base prompt, phases as (start, end) fractions of the clip
EXAMPLES = [
    (
        "welcome",
        "grace_hopper.jpg",
        "en-us+f3",
        150,
        "Hello, and welcome. I am so glad you could join us today. Let me show you what we have built.",
        "a woman talking warmly to the camera",
        [
            (0.0, 0.3, "nods twice"),
            (0.35, 0.7, "smiles and raises her eyebrows"),
            (0.75, 1.0, "tilts her head to the right"),
        ],
    ),
    (
        "orbit",
        "astronaut.jpg",
        "en-us",
        145,
        "Houston, this is the crew. We have reached orbit, and the view from up here is beautiful.",
        "an astronaut reporting calmly from the station",
        [(0.0, 0.35, "looks to the left"), (0.45, 1.0, "smiles broadly")],
    ),
    (
        "doubt",
        "obama.jpg",
        "en-us+m3",
        140,
        "I am not sure that is right. No, no. But let us think about it together, one step at a time.",
        "a man speaking thoughtfully at a press briefing",
        [(0.0, 0.25, "frowns slightly"), (0.25, 0.5, "shakes head"), (0.6, 1.0, "nods slowly")],
    ),
    (
        "surprise",
        "grace_hopper.jpg",
        "en-gb+f2",
        155,
        "Oh! Really? That is wonderful news. I never expected it to work on the very first try.",
        "a woman reacting to good news",
        [
            (0.0, 0.3, "looks surprised, eyebrows up and mouth open"),
            (0.3, 0.6, "closes eyes"),
            (0.65, 1.0, "leans in and smiles"),
        ],
    ),
]


def espeak_command(voice: str, wpm: int, text: str, out: Path) -> list[str]:
    return ["espeak-ng", "-v", voice, "-s", str(wpm), "-w", str(out), text]


def make_clip(voice: str, wpm: int, text: str, out: Path) -> float:
    """Synthesise ``text`` with espeak-ng (22.05 kHz) and write it as 16 kHz mono PCM-16; return the seconds."""
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.wav"
        subprocess.run(espeak_command(voice, wpm, text, raw), check=True)
        wave, sr = sf.read(str(raw), dtype="float32", always_2d=True)
    wave = soxr.resample(wave.mean(axis=1), sr, SAMPLE_RATE)
    wave = 0.9 * wave / max(1e-6, float(np.max(np.abs(wave))))  # espeak output is quiet; peak-normalise
    sf.write(str(out), wave, SAMPLE_RATE, subtype="PCM_16")
    return len(wave) / SAMPLE_RATE


def main() -> None:
    index = []
    for name, portrait, voice, wpm, text, base, fractions in EXAMPLES:
        if not (HERE / "portraits" / portrait).is_file():
            sys.exit(f"missing portrait examples/portraits/{portrait}")
        audio = HERE / f"{name}.wav"
        duration = make_clip(voice, wpm, text, audio)
        # Round inward to 0.1 s so every window stays inside the clip and neighbours never overlap.
        phases = [
            {
                "start": float(np.ceil(a * duration * 10) / 10),
                "end": float(np.floor(b * duration * 10) / 10),
                "text": t,
            }
            for a, b, t in fractions
        ]
        plan = {"base": base, "phases": phases}
        (HERE / f"{name}.phases.json").write_text(json.dumps(plan, indent=2) + "\n", encoding="utf-8")
        index.append(
            {
                "name": name,
                "portrait": f"portraits/{portrait}",
                "audio": audio.name,
                "plan": f"{name}.phases.json",
                "text": text,
            }
        )
        print(f"{name}: {duration:.2f} s, {len(phases)} phases, {audio.stat().st_size // 1024} KiB")
    # The app and the docs read this index: which portrait, clip and plan make up each example.
    (HERE / "examples.json").write_text(json.dumps(index, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
