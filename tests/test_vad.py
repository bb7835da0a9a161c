"""Voice activity (actavatar.vad): Silero VAD from its wheel, the pause gate that gives the mouth to the audio, and the
clear answers for audio without speech."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch
from conftest import speechlike

from actavatar import generate
from actavatar.errors import InputError
from actavatar.motion import MOTION_INDEX
from actavatar.phases import Phase, PhasePlan
from actavatar.vad import (
    asks_for_open_mouth,
    find_speech,
    gap_notes,
    level_normalised,
    mouth_rest_weights,
    pause_weights,
    pauses,
    speech_probability,
    speech_regions,
)

SR = 16000


def with_silence(before: float, gap: float, after: float) -> np.ndarray:
    """Speech, a stretch of room tone (quiet noise, not digital zeros), speech."""
    rng = np.random.default_rng(0)
    tone = 0.002 * rng.standard_normal(int(gap * SR)).astype(np.float32)
    return np.concatenate([speechlike(before, seed=1), tone, speechlike(after, seed=2)])


def test_the_network_is_silero_vad_as_its_wheel_ships_it():
    silero_vad = pytest.importorskip("silero_vad")
    wave = speechlike(6.0)
    ours = speech_probability(wave)
    reference = silero_vad.load_silero_vad().audio_forward(torch.from_numpy(wave), SR)[0].numpy()
    assert ours.shape == reference.shape  # one probability per 32 ms chunk
    # Same architecture and the wheel's safetensors weights; its TorchScript build differs slightly.
    assert ((ours >= 0.5) == (reference >= 0.5)).mean() > 0.95 and np.abs(ours - reference).mean() < 0.05


def test_speech_and_a_pause_of_room_tone_are_found():
    wave = with_silence(2.0, 2.0, 2.0)
    regions = speech_regions(speech_probability(wave), len(wave) / SR)
    gaps = pauses(regions, len(wave) / SR)
    assert any(a <= 2.15 and b >= 3.85 for a, b in gaps), gaps  # the 2 s of room tone at 2-4 s
    assert sum(b - a for a, b in regions) > 2.5
    notes = gap_notes(regions, len(wave) / SR)
    assert len(notes) == 1 and notes[0].startswith("no speech between ") and "mouth stays closed" in notes[0]


def test_music_noise_and_silence_hold_no_speech():
    t = np.arange(4 * SR) / SR
    music = 0.3 * sum(np.sin(2 * np.pi * f * t) for f in (261.6, 329.6, 392.0)) * (1 + np.sin(2 * np.pi * 2 * t)) / 2
    noise = 0.05 * np.random.default_rng(1).standard_normal(4 * SR)
    for wave in (music, noise, np.zeros(4 * SR)):
        assert speech_regions(speech_probability(wave.astype(np.float32)), 4.0) == []


def test_pause_weights_ramp_at_the_edges_of_a_pause():
    w = pause_weights([(0.0, 1.0), (2.0, 3.0)], num_frames=75, fps=25)  # pause 1-2 s
    assert w[:23].max() == 0 and w[52:].max() == 0  # speech: the mouth is the model's
    assert (w[28:47] == 1).all()  # inside the pause: closed
    assert 0 < w[25] < 1  # ramping as the word ends


def test_only_a_text_that_asks_for_an_open_mouth_keeps_it_open_in_a_pause():
    for text in ("opens her mouth wide", "yawns", "gasps in surprise", "his jaw drops", "sings along", "Mouth open!"):
        assert asks_for_open_mouth(text), text
    for text in ("raises her eyebrows in surprise", "smiles", "a single nod", "closes her mouth", "nods twice"):
        assert not asks_for_open_mouth(text), text
    plan = PhasePlan("", (Phase(0.0, 1.6, "raises her eyebrows"), Phase(1.6, 2.4, "yawns")))
    w = mouth_rest_weights(plan, [], num_frames=75, fps=25)  # all pause
    assert (w[:40] == 1).all() and (w[40:60] == 0).all()
    assert (w[60:] == 0).all()  # outside the phases the model alone follows the audio: no gate


def test_quiet_speech_is_found_at_any_level():
    wave = speechlike(4.0)
    loud = find_speech(wave)
    for gain_db in (-20.0, -35.0):
        quiet = find_speech(wave * np.float32(10 ** (gain_db / 20)))
        assert sum(b - a for a, b in quiet) >= 0.9 * sum(b - a for a, b in loud), gain_db
    assert np.allclose(level_normalised(wave * 0.01), level_normalised(wave), atol=1e-4)
    assert not np.any(level_normalised(np.zeros(16000, np.float32)))


def test_the_pipeline_closes_the_jaw_where_asked(tiny_pipeline):
    wave = speechlike(2.0)
    free = tiny_pipeline(wave, None, None, num_inference_steps=2, seed=0)
    rest = np.zeros(50, np.float32)
    rest[20:40] = 1.0
    gated = tiny_pipeline(wave, None, None, num_inference_steps=2, seed=0, mouth_rest=rest)
    jaw = MOTION_INDEX["jaw_open"]
    assert (gated.motion[20:40, jaw] == 0).all() and np.array_equal(gated.motion[:20], free.motion[:20])
    others = [k for k in range(free.motion.shape[1]) if k != jaw]
    assert np.array_equal(gated.motion[:, others], free.motion[:, others])  # only the jaw
    with pytest.raises(ValueError, match="one weight per frame"):
        tiny_pipeline(wave, None, None, num_inference_steps=2, mouth_rest=np.zeros(10))


def test_generate_refuses_music_and_notes_long_gaps(tiny_checkpoint, tmp_path):
    t = np.arange(3 * SR) / SR
    music = tmp_path / "tune.wav"
    sf.write(music, (0.3 * np.sin(2 * np.pi * 440 * t) * np.sin(2 * np.pi * 1.5 * t) ** 2).astype(np.float32), SR)
    with pytest.raises(InputError, match=r"No speech found in tune.wav: .* upload a recording of someone speaking"):
        generate(None, music, None, steps=2, checkpoint=tiny_checkpoint)
    gappy = tmp_path / "gappy.wav"
    sf.write(gappy, with_silence(1.5, 2.5, 1.5), SR)
    plan = PhasePlan("", (Phase(0.0, 5.5, "raises her eyebrows in surprise"),))  # a text that may hold the jaw open
    result = generate(None, gappy, plan, steps=2, checkpoint=tiny_checkpoint)
    notes = [n for n in result.report["notes"] if n.startswith("no speech between")]
    assert len(notes) == 1 and "the mouth stays closed there" in notes[0], result.report["notes"]
    jaw = result.motion[:, MOTION_INDEX["jaw_open"]]
    a, b = next((a, b) for a, b in pauses([tuple(r) for r in result.report["speech"]], 5.5) if b - a > 2)
    inside = slice(int((a + 0.1) * 25), int((b - 0.1) * 25))
    assert (jaw[inside] == 0).all()  # the audio owns the mouth, whatever the phase's text
