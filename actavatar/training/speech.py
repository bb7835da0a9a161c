"""Speech synthesis with phoneme and word timings, by calling libespeak-ng directly (ctypes).

espeak-ng runs in ``AUDIO_OUTPUT_SYNCHRONOUS`` mode with phoneme events enabled: its synthesis callback hands us
blocks of 16-bit samples together with ``espeakEVENT_PHONEME`` / ``espeakEVENT_WORD`` events whose ``sample``
field is the exact sample index (at the engine's native rate, 22050 Hz) where that phoneme or word starts. We
keep those, resample the audio to 16 kHz and report timings in seconds of the returned audio.

The engine is process-global and not re-entrant, so every call holds ``_LOCK``; a worker process initialises
its own engine on first use. Nothing is loaded at import time.

Voices are ``language`` or ``language+variant`` names (``"en-us"``, ``"en-gb-x-rp+f3"``): see ``list_voices``
and ``list_variants``. mbrola voices need the separate mbrola program and are not listed.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import threading
from dataclasses import dataclass, field
from math import gcd

import numpy as np

from ..errors import ActAvatarError, InputError

SAMPLE_RATE = 16000
RATE_RANGE = (80, 450)  # words per minute, espeakRATE_MINIMUM..MAXIMUM
PITCH_RANGE = (0, 100)
MAX_TEXT_CHARS = 2000

# speak_lib.h constants
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_PHONEME_EVENTS = 0x0001
_INITIALIZE_DONT_EXIT = 0x8000
_CHARS_UTF8 = 1
_POS_CHARACTER = 1
_EVENT_LIST_TERMINATED, _EVENT_WORD, _EVENT_PHONEME = 0, 1, 7
_PARAM_RATE, _PARAM_PITCH, _PARAM_RANGE = 1, 3, 4
_EE_OK = 0


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    """``espeak_EVENT`` from speak_lib.h (40 bytes on x86_64)."""

    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),  # 1-based character position in the text
        ("length", ctypes.c_int),  # word length in characters (WORD events)
        ("audio_position", ctypes.c_int),  # ms
        ("sample", ctypes.c_int),  # sample index at the native rate
        ("user_data", ctypes.c_void_p),
        ("id", _EventId),
    ]


class _Voice(ctypes.Structure):
    """``espeak_VOICE`` from speak_lib.h."""

    _fields_ = [
        ("name", ctypes.c_char_p),
        ("languages", ctypes.c_void_p),  # (priority byte, zero-terminated name)* then a zero byte
        ("identifier", ctypes.c_char_p),
        ("gender", ctypes.c_ubyte),
        ("age", ctypes.c_ubyte),
        ("variant", ctypes.c_ubyte),
        ("xx1", ctypes.c_ubyte),
        ("score", ctypes.c_int),
        ("spare", ctypes.c_void_p),
    ]


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))


@dataclass
class SpeechClip:
    """Synthesised speech: mono float32 audio and what was said when (seconds of ``audio``)."""

    audio: np.ndarray  # (N,) float32 in [-1, 1]
    sample_rate: int
    phonemes: list[tuple[float, float, str]]  # (start_s, end_s, espeak phoneme name); pauses are left out
    words: list[tuple[float, float, str]]  # (start_s, end_s, word as written in the text)
    text: str = ""
    voice: str = ""
    rate: int = 175
    pitch: int = 50
    meta: dict = field(default_factory=dict)

    @property
    def duration(self) -> float:
        return len(self.audio) / self.sample_rate


@dataclass(frozen=True)
class VoiceInfo:
    """An installed espeak-ng voice: ``name`` is what ``synthesize(voice=...)`` accepts."""

    name: str  # voice file name, e.g. "en-gb-x-rp" or "en" (British English); "f3" for variants
    display_name: str  # e.g. "English_(Received_Pronunciation)"
    languages: tuple[str, ...]
    identifier: str  # file under espeak-ng-data/voices, e.g. "gmw/en-GB-x-rp"
    gender: str  # "male" | "female" | ""


class _Engine:
    """The loaded library, initialised once per process, plus the buffers the callback fills."""

    def __init__(self) -> None:
        path = ctypes.util.find_library("espeak-ng") or "libespeak-ng.so.1"
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            raise ActAvatarError(
                "libespeak-ng is not installed: install it with `apt-get install espeak-ng libespeak-ng1`."
            ) from None
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_SetSynthCallback.argtypes = [_CALLBACK]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_Synth.argtypes = [
            ctypes.c_void_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        lib.espeak_ListVoices.argtypes = [ctypes.POINTER(_Voice)]
        lib.espeak_ListVoices.restype = ctypes.POINTER(ctypes.POINTER(_Voice))
        rate = lib.espeak_Initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS, 0, None, _INITIALIZE_PHONEME_EVENTS | _INITIALIZE_DONT_EXIT
        )
        if rate <= 0:
            raise ActAvatarError(
                "espeak-ng failed to initialise: is espeak-ng-data installed (apt-get install espeak-ng)?"
            )
        self.lib = lib
        self.native_rate = int(rate)
        self.pid = os.getpid()
        self.chunks: list[np.ndarray] = []
        self.events: list[tuple[int, int, int, int, str]] = []  # (type, sample, text_position, length, phoneme)
        self._callback = _CALLBACK(self._on_synth)  # keep a reference: the C side holds only the pointer
        lib.espeak_SetSynthCallback(self._callback)

    def _on_synth(self, wav, num_samples, events) -> int:
        if wav and num_samples > 0:
            self.chunks.append(np.ctypeslib.as_array(wav, (num_samples,)).copy())
        i = 0
        while events[i].type != _EVENT_LIST_TERMINATED:
            ev = events[i]
            if ev.type in (_EVENT_WORD, _EVENT_PHONEME):
                name = (
                    bytes(ev.id.string).split(b"\0")[0].decode("utf-8", "replace") if ev.type == _EVENT_PHONEME else ""
                )
                self.events.append((ev.type, ev.sample, ev.text_position, ev.length, name))
            i += 1
        return 0


_LOCK = threading.Lock()
_ENGINE: _Engine | None = None


def _engine() -> _Engine:
    """The process's engine (call with ``_LOCK`` held); a forked child re-initialises its own."""
    global _ENGINE
    if _ENGINE is None or _ENGINE.pid != os.getpid():
        _ENGINE = _Engine()
    return _ENGINE


def synthesize(
    text: str,
    voice: str = "en-us",
    rate: int = 175,
    pitch: int = 50,
    *,
    pitch_range: int = 50,
    sample_rate: int = SAMPLE_RATE,
    pad_start: float = 0.0,
    pad_end: float = 0.0,
) -> SpeechClip:
    """Speak ``text`` with an espeak-ng voice; ``pad_start``/``pad_end`` add that many seconds of silence.

    ``rate`` is words per minute (80..450), ``pitch`` and ``pitch_range`` are 0..100 (50 = the voice's default).
    Phoneme and word times are in seconds of the returned audio (padding included)."""
    text = " ".join(str(text).split())
    if not text:
        raise InputError("No text to speak: give a non-empty sentence.")
    if len(text) > MAX_TEXT_CHARS:
        raise InputError(f"Text has {len(text)} characters: at most {MAX_TEXT_CHARS} can be spoken at once.")
    if not RATE_RANGE[0] <= rate <= RATE_RANGE[1]:
        raise InputError(f"Speech rate {rate} is outside {RATE_RANGE[0]}..{RATE_RANGE[1]} words per minute.")
    for name, value in (("pitch", pitch), ("pitch_range", pitch_range)):
        if not PITCH_RANGE[0] <= value <= PITCH_RANGE[1]:
            raise InputError(f"Speech {name} {value} is outside {PITCH_RANGE[0]}..{PITCH_RANGE[1]}.")
    if pad_start < 0 or pad_end < 0:
        raise InputError("Silence padding must be zero or positive seconds.")
    data = text.encode("utf-8") + b"\0"
    with _LOCK:
        eng = _engine()
        if not _set_voice(eng, voice):
            raise InputError(
                f"Unknown espeak-ng voice {voice!r}: pick one of list_voices(), e.g. 'en-us' or 'en-us+f3'."
            )
        eng.lib.espeak_SetParameter(_PARAM_RATE, int(rate), 0)
        eng.lib.espeak_SetParameter(_PARAM_PITCH, int(pitch), 0)
        eng.lib.espeak_SetParameter(_PARAM_RANGE, int(pitch_range), 0)
        eng.chunks, eng.events = [], []
        err = eng.lib.espeak_Synth(data, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
        chunks, events, native = eng.chunks, eng.events, eng.native_rate
        eng.chunks, eng.events = [], []
    if err != _EE_OK:
        raise ActAvatarError(f"espeak-ng synthesis failed with error {err}.")
    raw = np.concatenate(chunks).astype(np.float32) / 32768.0 if chunks else np.zeros(0, np.float32)
    audio = _resample(raw, native, sample_rate)
    phonemes, words = _timings(events, text, native, len(raw))
    head, tail = int(round(pad_start * sample_rate)), int(round(pad_end * sample_rate))
    if head or tail:
        audio = np.concatenate([np.zeros(head, np.float32), audio, np.zeros(tail, np.float32)])
        shift = head / sample_rate
        phonemes = [(a + shift, b + shift, p) for a, b, p in phonemes]
        words = [(a + shift, b + shift, w) for a, b, w in words]
    return SpeechClip(audio, sample_rate, phonemes, words, text, voice, int(rate), int(pitch), {"native_rate": native})


def _set_voice(eng: _Engine, voice: str) -> bool:
    """Select ``voice`` by file name (``en-gb-x-rp+f3``) or, failing that, by language code (``en-gb`` -> ``en``)."""
    if eng.lib.espeak_SetVoiceByName(voice.encode("utf-8")) == _EE_OK:
        return True
    base, plus, variant = voice.partition("+")
    for v in _read_voices(eng.lib.espeak_ListVoices(None)):
        if base.lower() in (lang.lower() for lang in v.languages[:1]) and not v.identifier.startswith("mb/"):
            return eng.lib.espeak_SetVoiceByName((v.name + plus + variant).encode("utf-8")) == _EE_OK
    return False


def _resample(x: np.ndarray, src: int, dst: int) -> np.ndarray:
    if src == dst or len(x) == 0:
        return x.astype(np.float32)
    from scipy.signal import resample_poly

    g = gcd(src, dst)
    return resample_poly(x, dst // g, src // g).astype(np.float32)


def _is_pause(name: str) -> bool:
    return not name or name.startswith("_")


def _timings(events, text: str, native_rate: int, num_samples: int):
    """Phoneme segments run from one phoneme event to the next (pauses mark ends but are dropped)."""
    marks = sorted((sample, kind, pos, length, name) for kind, sample, pos, length, name in events)
    phon = [(s / native_rate, n) for s, k, _, _, n in marks if k == _EVENT_PHONEME]
    total_s = num_samples / native_rate
    phonemes: list[tuple[float, float, str]] = []
    for i, (start_s, name) in enumerate(phon):
        end_s = phon[i + 1][0] if i + 1 < len(phon) else total_s
        if not _is_pause(name) and end_s > start_s:
            phonemes.append((start_s, end_s, name))
    word_events = [(s / native_rate, pos, length) for s, k, pos, length, _ in marks if k == _EVENT_WORD]
    words: list[tuple[float, float, str]] = []
    for i, (start_s, pos, length) in enumerate(word_events):
        nxt = word_events[i + 1][0] if i + 1 < len(word_events) else total_s + 1.0
        inside = [b for a, b, _ in phonemes if start_s - 1e-6 <= a < nxt - 1e-6]
        if not inside:
            continue
        word = text[max(pos - 1, 0) : max(pos - 1, 0) + length].strip()
        first = min(a for a, _, _ in phonemes if start_s - 1e-6 <= a < nxt - 1e-6)
        words.append((min(start_s, first) if first - start_s > 0.05 else first, max(inside), word))
    return phonemes, words


def list_voices(language: str | None = "en") -> list[VoiceInfo]:
    """Installed espeak-ng language voices (mbrola ones excluded), optionally only those whose language starts
    with ``language`` (e.g. ``"en"``); ``None`` lists every language."""
    with _LOCK:
        eng = _engine()
        items = _read_voices(eng.lib.espeak_ListVoices(None))
    out = [v for v in items if not v.identifier.startswith("mb/")]
    if language:
        out = [v for v in out if any(lang == language or lang.startswith(language + "-") for lang in v.languages)]
    return out


def list_variants() -> list[str]:
    """Voice variants (``"f3"``, ``"klatt2"``, ...) that can be appended to a language voice: ``"en-us+f3"``."""
    spec = _Voice()
    spec.languages = ctypes.cast(ctypes.c_char_p(b"variant"), ctypes.c_void_p)
    with _LOCK:
        eng = _engine()
        items = _read_voices(eng.lib.espeak_ListVoices(ctypes.byref(spec)))
    return sorted({v.identifier.split("/", 1)[-1] for v in items if v.identifier.startswith("!v/")})


def _read_voices(ptr) -> list[VoiceInfo]:
    out = []
    i = 0
    while ptr[i]:
        v = ptr[i].contents
        langs, addr = [], v.languages
        while addr:
            if ctypes.c_ubyte.from_address(addr).value == 0:  # priority 0 marks the end of the list
                break
            name = ctypes.string_at(addr + 1)
            if not name:
                break
            langs.append(name.decode("utf-8", "replace"))
            addr += 1 + len(name) + 1
        identifier = (v.identifier or b"").decode("utf-8", "replace")
        out.append(
            VoiceInfo(
                name=identifier.split("/")[-1] if identifier.startswith("!v/") else identifier.split("/")[-1].lower(),
                display_name=(v.name or b"").decode("utf-8", "replace"),
                languages=tuple(langs),
                identifier=identifier,
                gender={1: "male", 2: "female"}.get(v.gender, ""),
            )
        )
        i += 1
    return out
