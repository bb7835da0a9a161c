"""Speech synthesis through libespeak-ng (real library) and viseme mouth targets."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from actavatar.errors import InputError
from actavatar.training.speech import list_variants, list_voices, synthesize
from actavatar.training.visemes import VISEME_CHANNELS, is_bilabial, mouth_track

TEXT = "My mom bought a map by the bay, and Peter ate apple pie."


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if len(x) else 0.0


def test_synthesize_returns_audio_with_phoneme_and_word_timings():
    clip = synthesize(TEXT, "en-us", rate=175)
    assert clip.sample_rate == 16000 and clip.audio.dtype == np.float32 and clip.audio.ndim == 1
    assert 2.0 < clip.duration < 6.0
    starts = [s for s, _, _ in clip.phonemes]
    assert starts == sorted(starts)
    assert all(0 <= s < e <= clip.duration + 1e-6 for s, e, _ in clip.phonemes)
    assert [w.strip(",.").lower() for _, _, w in clip.words] == [w.strip(",.").lower() for w in TEXT.split()]
    assert {"m", "p", "b"} <= {p for _, _, p in clip.phonemes}
    # Speech energy sits inside the phoneme spans: the stretch before the first phoneme is near-silent.
    first = int(clip.phonemes[0][0] * clip.sample_rate)
    assert _rms(clip.audio[: max(first - 80, 0)]) < 0.1 * _rms(clip.audio)


def test_padding_shifts_times_and_adds_silence():
    plain = synthesize("Hello there.", "en-us")
    padded = synthesize("Hello there.", "en-us", pad_start=0.5, pad_end=0.25)
    assert padded.duration == pytest.approx(plain.duration + 0.75, abs=0.01)
    assert padded.phonemes[0][0] == pytest.approx(plain.phonemes[0][0] + 0.5, abs=0.01)
    assert not padded.audio[:7999].any()


def test_rate_and_voice_change_the_speech():
    slow, fast = synthesize(TEXT, "en-us", rate=120), synthesize(TEXT, "en-us", rate=300)
    assert fast.duration < 0.7 * slow.duration
    other = synthesize(TEXT, "en-gb-x-rp+f3", rate=120)
    n = min(len(slow.audio), len(other.audio))
    assert np.corrcoef(slow.audio[:n], other.audio[:n])[0, 1] < 0.5


def test_voices_and_language_aliases():
    names = {v.name for v in list_voices("en")}
    assert {"en-us", "en-gb-x-rp", "en-gb-scotland"} <= names
    assert not any(v.identifier.startswith("mb/") for v in list_voices(None))
    assert len(list_variants()) >= 20 and "f3" in list_variants()
    assert synthesize("Hi.", "en-gb+m3").duration > 0.1  # language code of a voice whose file is "en"


@pytest.mark.parametrize(
    "kwargs",
    [{"text": "  "}, {"text": "Hi", "voice": "xx-nope"}, {"text": "Hi", "rate": 20}, {"text": "Hi", "pitch": 300}],
)
def test_bad_input_raises_input_error(kwargs):
    with pytest.raises(InputError):
        synthesize(**kwargs)


def test_concurrent_calls_are_serialised():
    results: dict[int, object] = {}

    def work(k: int) -> None:
        results[k] = synthesize(f"Thread number {k} is speaking now.", "en-us")

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for k in range(4):
        assert results[k].words[1][2] == "number" and results[k].words[2][2] == str(k)
        assert 1.0 < results[k].duration < 4.0


def test_mouth_closes_on_bilabials_and_silence_and_opens_on_vowels():
    clip = synthesize(TEXT, "en-us", pad_start=0.5, pad_end=0.5)
    fps = 100  # fine sampling so short closures are visible
    mouth = mouth_track(clip.phonemes, int(np.ceil(clip.duration * fps)), fps)
    assert mouth.shape[1] == len(VISEME_CHANNELS)
    jaw = mouth[:, 0]
    at = lambda s, e: jaw[int((s + e) / 2 * fps)]  # noqa: E731
    bilabial = [at(s, e) for s, e, p in clip.phonemes if is_bilabial(p)]
    vowels = [at(s, e) for s, e, p in clip.phonemes if p[0] in "aA0OV" and e - s > 0.06]
    assert max(bilabial) < 0.12 and np.mean(bilabial) < 0.08
    assert np.mean(vowels) > 0.3
    assert jaw[:30].max() < 0.05 and jaw[-30:].max() < 0.05  # closed in the padding, 0.2 s after the speech
    # Coarticulation: no jumps between 10 ms samples.
    assert np.abs(np.diff(jaw)).max() < 0.15


def test_rounded_vowels_pucker_and_front_vowels_spread():
    clip = synthesize("Who knew. We see three bees.", "en-us", rate=140)
    fps = 100
    mouth = mouth_track(clip.phonemes, int(np.ceil(clip.duration * fps)), fps)
    at = lambda s, e, k: mouth[int((s + e) / 2 * fps), k]  # noqa: E731
    u = [at(s, e, 2) for s, e, p in clip.phonemes if p.startswith("u")]
    i = [at(s, e, 1) for s, e, p in clip.phonemes if p.startswith("i")]
    assert u and i and np.mean(u) > 0.35 and np.mean(i) > 0.15
    assert np.mean([at(s, e, 2) for s, e, p in clip.phonemes if p.startswith("i")]) < 0.15
