"""The hardening catalogue (issue 7): every bad or unusual input, built as real files, with what must happen.

Shared by the library/CLI suite (``test_bad_inputs.py``) and the app suite (``test_bad_inputs_app.py``). A case
with ``needle=None`` is accepted (and ``note`` says what the report must mention, if anything); otherwise every
surface must reject it with a one-line message containing ``needle``.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import soundfile as sf
from conftest import speechlike
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
PORTRAITS = ROOT / "examples" / "portraits"
HOPPER = PORTRAITS / "grace_hopper.jpg"
OBAMA = PORTRAITS / "obama.jpg"
SR = 16000
AUDIO_S = 2.0  # every generated clip is this long unless the case is about length
FAST = {"steps": 2, "size": 128}  # tiny generations: the suite checks behaviour, not quality


@dataclass
class Case:
    name: str
    portrait: Path | None = None  # None: the default portrait
    audio: Path | None = None  # None: the default speech clip
    phases: list | None = None  # [(start, end, text)] for the app table; the library/CLI get a .json plan
    plan_file: Path | None = None  # a plan file (JSON/SRT) for the library/CLI; the app imports it
    needle: str | None = None  # part of the expected error message; None = accepted
    note: str | None = None  # accepted, with this text in the report's notes
    check: str | None = None  # extra check of an accepted result (see test files)
    extra: dict = field(default_factory=dict)


# ------------------------------------------------------------------------------------------------- portraits
def _rgb(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def _face_box(image: np.ndarray) -> tuple[int, int, int, int]:
    from actavatar.render import analyze_face

    return analyze_face(image).bbox


def cartoon(size=(480, 360)) -> Image.Image:
    """A gradient with a smiley drawn on it: face-like to a person, not a face to the landmark model."""
    from PIL import ImageDraw

    w, h = size
    grad = np.linspace(0, 255, w, dtype=np.float32)[None, :, None] * np.array([1.0, 0.6, 0.3], np.float32)
    img = Image.fromarray(np.broadcast_to(grad, (h, w, 3)).astype(np.uint8))
    d = ImageDraw.Draw(img)
    cx, cy, r = w // 2, h // 2, min(w, h) // 3
    d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=(255, 220, 0), outline=(0, 0, 0), width=4)
    for ex in (cx - r // 3, cx + r // 3):
        d.ellipse([ex - 12, cy - r // 3 - 12, ex + 12, cy - r // 3 + 12], fill=(0, 0, 0))
    d.arc([cx - r // 2, cy - r // 4, cx + r // 2, cy + r // 2], 20, 160, fill=(0, 0, 0), width=6)
    return img


def portrait_cases(folder: Path) -> list[Case]:
    folder.mkdir(parents=True, exist_ok=True)
    hopper = _rgb(HOPPER)
    h, w = hopper.shape[:2]
    cases = []

    corrupt = folder / "corrupt.jpg"
    corrupt.write_bytes(HOPPER.read_bytes()[:3000])  # a real JPEG header, then nothing
    cases.append(Case("portrait-corrupt", portrait=corrupt, needle="corrupt or truncated"))

    empty = folder / "empty.png"
    empty.write_bytes(b"")
    cases.append(Case("portrait-zero-bytes", portrait=empty, needle="is empty"))

    text = folder / "notes.png"
    text.write_text("this is a shopping list, not a photo\n")
    cases.append(Case("portrait-not-an-image", portrait=text, needle="as an image"))

    gif = folder / "animated.gif"
    Image.fromarray(hopper).save(gif, save_all=True, append_images=[Image.fromarray(hopper[:, ::-1].copy())])
    cases.append(Case("portrait-animated-gif", portrait=gif, needle=r"is animated \(2 frames\)"))

    noface = folder / "cartoon.png"
    cartoon().save(noface)
    cases.append(Case("portrait-no-face", portrait=noface, needle="No face found"))

    obama = np.asarray(Image.open(OBAMA).convert("RGB").resize((w, h)))
    pair = folder / "two_faces.png"
    Image.fromarray(np.concatenate([hopper, obama], axis=1)).save(pair)
    cases.append(Case("portrait-several-faces", portrait=pair, note="2 faces found; animated the largest"))

    x0, y0, x1, y1 = _face_box(hopper)
    scale = 40 / (x1 - x0)  # a 40 px face on a 320x320 canvas
    small = np.asarray(Image.fromarray(hopper).resize((round(w * scale), round(h * scale)), Image.LANCZOS))
    canvas = np.full((320, 320, 3), 235, np.uint8)
    canvas[100 : 100 + small.shape[0], 140 : 140 + small.shape[1]] = small
    tiny = folder / "tiny_face.png"
    Image.fromarray(canvas).save(tiny)
    cases.append(Case("portrait-tiny-face", portrait=tiny, needle="pixels across|No face found"))

    edge = folder / "edge.png"  # cropped through the face: the right ~40 % of it is outside the photo
    Image.fromarray(np.ascontiguousarray(hopper[:, : x0 + int(0.6 * (x1 - x0))])).save(edge)
    cases.append(Case("portrait-face-at-edge", portrait=edge, needle="cut off by the edge|No face found"))

    big = folder / "huge_8000x6000.jpg"
    Image.fromarray(hopper).resize((8000, 6000), Image.BILINEAR).save(big, quality=70)
    cases.append(Case("portrait-8000x6000", portrait=big, check="frame_size"))

    gray = folder / "gray.png"
    Image.fromarray(hopper).convert("L").save(gray)
    cases.append(Case("portrait-grayscale", portrait=gray))

    rgba = folder / "rgba.png"
    alpha = np.full((h, w), 255, np.uint8)
    alpha[:, : w // 8] = 0  # a transparent strip: composited on white
    Image.fromarray(np.dstack([hopper, alpha]), "RGBA").save(rgba)
    cases.append(Case("portrait-rgba", portrait=rgba))

    exif_jpg = folder / "exif_rotated.jpg"  # stored sideways, EXIF orientation 6 says "rotate to display"
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(np.ascontiguousarray(np.rot90(hopper, 1))).save(exif_jpg, exif=exif, quality=92)
    cases.append(Case("portrait-exif-rotated", portrait=exif_jpg, check="upright"))
    return cases


# ----------------------------------------------------------------------------------------------------- audio
def _ffmpeg(src: Path, dst: Path, *args: str) -> Path:
    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", "-i", str(src), *args, str(dst)]
    subprocess.run(cmd, check=True)
    return dst


def chords(seconds: float, sr: int = 44100) -> np.ndarray:
    """Pure music, no voice: a I-V-vi-IV chord progression of sine triads, one chord per 0.5 s, with attacks."""
    t = np.arange(int(seconds * sr)) / sr
    roots = [261.63, 392.00, 440.00, 349.23]  # C G Am F
    out = np.zeros_like(t)
    for k in range(int(np.ceil(seconds / 0.5))):
        seg = (t >= 0.5 * k) & (t < 0.5 * (k + 1))
        root = roots[k % 4]
        minor = k % 4 == 2
        tt = t[seg] - 0.5 * k
        env = np.exp(-3.0 * tt)  # plucked: loud attack, decay inside each chord
        for ratio in (1.0, 1.189 if minor else 1.26, 1.498):
            out[seg] += env * np.sin(2 * np.pi * root * ratio * tt)
    return (0.25 * out).astype(np.float32)


def audio_cases(folder: Path) -> list[Case]:
    folder.mkdir(parents=True, exist_ok=True)
    speech = speechlike(AUDIO_S, sr=44100, seed=1)
    cases = []

    corrupt = folder / "corrupt.wav"  # a broken RIFF header followed by PCM bytes
    sf.write(corrupt, speech, 44100)
    corrupt.write_bytes(b"RIFF\xff\xff\xff\xffWAVEjunk" + corrupt.read_bytes()[44:4000])
    cases.append(Case("audio-corrupt", audio=corrupt, needle="Cannot decode audio"))

    zero_bytes = folder / "zero.mp3"
    zero_bytes.write_bytes(b"")
    cases.append(Case("audio-zero-bytes", audio=zero_bytes, needle="is empty"))

    no_samples = folder / "no_samples.wav"  # a valid wav header with zero samples
    sf.write(no_samples, np.zeros(0, np.float32), SR)
    cases.append(Case("audio-zero-length", audio=no_samples, needle="no samples|Cannot decode audio"))

    silent = folder / "silent.wav"
    sf.write(silent, np.zeros(int(AUDIO_S * SR), np.float32), SR)
    cases.append(Case("audio-silent", audio=silent, needle="is silent"))

    music = folder / "chords.wav"
    sf.write(music, chords(AUDIO_S), 44100)
    cases.append(Case("audio-pure-music", audio=music, needle="No speech found in chords.wav"))

    lo = folder / "speech_8k.wav"
    sf.write(lo, speechlike(AUDIO_S, sr=8000, seed=2), 8000)
    cases.append(Case("audio-8khz", audio=lo, check="duration"))

    hi = folder / "speech_48k_stereo.wav"
    s48 = speechlike(AUDIO_S, sr=48000, seed=3)
    sf.write(hi, np.stack([s48, 0.7 * s48], axis=1), 48000)
    cases.append(Case("audio-48khz-stereo", audio=hi, check="duration"))

    clipped = folder / "clipped.wav"
    sf.write(clipped, np.clip(speech * 8.0, -1.0, 1.0), 44100, subtype="PCM_16")
    cases.append(Case("audio-clipped", audio=clipped, check="duration"))

    long = folder / "ten_minutes.flac"  # 10 min: rejected above ACTAVATAR_MAX_AUDIO_S (default 120 s)
    tone = speechlike(10.0, sr=8000, seed=4)
    sf.write(long, np.tile(tone, 60), 8000)
    cases.append(Case("audio-10-minutes", audio=long, needle="the limit is 120 s"))

    src = folder / "speech_src.wav"
    sf.write(src, speech, 44100)
    for ext, args in {
        "mp3": ("-c:a", "libmp3lame", "-b:a", "96k"),
        "m4a": ("-c:a", "aac", "-b:a", "96k"),
        "ogg": ("-c:a", "libvorbis"),
        "flac": (),
        "wav": (),
    }.items():
        cases.append(
            Case(f"audio-format-{ext}", audio=_ffmpeg(src, folder / f"speech.{ext}", *args), check="duration")
        )
    return cases


# ------------------------------------------------------------------------------------------------ phase plans
RTL = "تبتسم ثم تومئ برأسها"  # Arabic: "smiles, then nods"
HEBREW = "מחייכת"


def phase_cases(folder: Path) -> list[Case]:
    folder.mkdir(parents=True, exist_ok=True)
    cases = [
        Case("phases-overlap", phases=[(0.0, 1.2, "nods"), (0.8, 1.9, "smiles")], needle="overlaps"),
        Case("phases-reversed", phases=[(1.5, 0.5, "nods")], needle="ends at or before its start"),
        Case("phases-negative", phases=[(-0.5, 1.0, "nods")], needle="starts before 0 s"),
        Case("phases-past-the-end", phases=[(0.5, 3.5, "nods")], needle="ends after the audio ends"),
        Case("phases-start-past-the-end", phases=[(2.5, 3.0, "nods")], needle="starts after the audio ends"),
        Case("phases-zero-length", phases=[(1.0, 1.0, "nods")], needle="ends at or before its start"),
        Case(
            "phases-200",
            phases=[(round(i * 0.01, 3), round(i * 0.01 + 0.005, 4), "nod") for i in range(200)],
            needle="at most 32 are supported",
        ),
        Case("phases-empty-text", phases=[(0.0, 1.0, "   ")], needle="has no action text"),
        Case("phases-10000-chars", phases=[(0.0, 1.0, "nods " * 2000)], needle="at most 500"),
        Case("base-10000-chars", phases=[(0.0, 1.0, "nods")], extra={"prompt": "calm " * 2000}, needle="at most 500"),
        Case("phases-emoji", phases=[(0.0, 1.0, "smiles 😀👍🏽"), (1.2, 1.9, "🙂‍↔️ shakes head")], check="texts"),
        Case(
            "phases-rtl",
            phases=[(0.0, 1.0, RTL), (1.0, 1.8, HEBREW)],
            extra={"prompt": "امرأة تتحدث"},
            check="texts",
            note="is not understood as a face or head action",  # the reader knows English only: it says so
        ),
        Case(
            "phases-control-chars",
            phases=[(0.0, 1.0, "nods\x00\x07 twice\x1b[31m\u202e"), (1.2, 1.8, "smiles\r\nbroadly\t")],
            check="texts",
            extra={"expected_texts": ["nods twice [31m", "smiles broadly"]},
        ),
    ]
    bad_json = folder / "broken.phases.json"
    bad_json.write_text('{"base": "x", "phases": [{"start": 0, "end": 1, "text": "nods"},]}', encoding="utf-8")
    cases.append(Case("plan-malformed-json", plan_file=bad_json, needle="not valid JSON"))
    wrong_shape = folder / "wrong_shape.phases.json"
    wrong_shape.write_text('{"phases": [{"from": 0, "to": 1, "action": "nods"}]}', encoding="utf-8")
    cases.append(Case("plan-json-wrong-keys", plan_file=wrong_shape, needle="missing start, end, text"))
    bad_srt = folder / "broken.srt"
    bad_srt.write_text("1\n00:00:00,000 --> 00:00:01,000\nnods\n\n2\n00:00:01,500 -> 00:00:02,000\nsmiles\n")
    cases.append(Case("plan-malformed-srt", plan_file=bad_srt, needle="SRT cue 2 has no"))
    bad_time = folder / "bad_time.srt"
    bad_time.write_text("1\n00:00:00,000 --> 00:00:xx,000\nnods\n")
    cases.append(Case("plan-srt-bad-time", plan_file=bad_time, needle="SRT cue 1 has a bad time"))
    binary = folder / "binary.json"
    binary.write_bytes(b"\xff\xfe\x00\x01garbage\x80")
    cases.append(Case("plan-not-utf8", plan_file=binary, needle="is not UTF-8"))
    return cases


def plan_json(case: Case, folder: Path) -> Path | None:
    """The case's phases as a docs/DESIGN.md plan file (for the library and the CLI)."""
    if case.plan_file is not None:
        return case.plan_file
    if case.phases is None:
        return None
    path = folder / f"{case.name}.phases.json"
    data = {
        "base": case.extra.get("prompt", "a person talking"),
        "phases": [{"start": s, "end": e, "text": t} for s, e, t in case.phases],
    }
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def default_speech(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "speech.wav"
    if not path.exists():
        sf.write(path, speechlike(AUDIO_S, seed=5), SR)
    return path


def all_cases(folder: Path) -> dict[str, Case]:
    cases = portrait_cases(folder / "portraits") + audio_cases(folder / "audio") + phase_cases(folder / "plans")
    assert [c.name for c in cases] == CASE_NAMES
    return {c.name: c for c in cases}


CASE_NAMES = [
    *("portrait-" + n for n in ("corrupt", "zero-bytes", "not-an-image", "animated-gif", "no-face", "several-faces",
                                "tiny-face", "face-at-edge", "8000x6000", "grayscale", "rgba", "exif-rotated")),
    *("audio-" + n for n in ("corrupt", "zero-bytes", "zero-length", "silent", "pure-music", "8khz", "48khz-stereo",
                             "clipped", "10-minutes", "format-mp3", "format-m4a", "format-ogg", "format-flac",
                             "format-wav")),
    "phases-overlap", "phases-reversed", "phases-negative", "phases-past-the-end", "phases-start-past-the-end",
    "phases-zero-length", "phases-200", "phases-empty-text", "phases-10000-chars", "base-10000-chars",
    "phases-emoji", "phases-rtl", "phases-control-chars",
    "plan-malformed-json", "plan-json-wrong-keys", "plan-malformed-srt", "plan-srt-bad-time", "plan-not-utf8",
]  # fmt: skip
REJECTED = [n for n in CASE_NAMES if n not in {
    "portrait-several-faces", "portrait-8000x6000", "portrait-grayscale", "portrait-rgba", "portrait-exif-rotated",
    "audio-8khz", "audio-48khz-stereo", "audio-clipped", "audio-format-mp3", "audio-format-m4a",
    "audio-format-ogg", "audio-format-flac", "audio-format-wav", "phases-emoji", "phases-rtl", "phases-control-chars",
}]  # fmt: skip
ACCEPTED = [n for n in CASE_NAMES if n not in REJECTED]


def check_accepted(case: Case, report: dict, video: Path, alone: bool = True) -> None:
    """What an accepted case must produce: a real video, the report contract, and the case's own check.

    ``alone=False``: the run combined several accepted inputs, so other inputs may have added notes."""
    assert video.is_file() and video.stat().st_size > 5_000, case.name
    assert report["num_frames"] > 0 and report["settings"]["frame_size"], case.name
    notes = report["notes"]
    if case.note:
        assert any(case.note in n for n in notes), (case.name, notes)
    elif alone:
        assert notes == [], (case.name, notes)
    width, height = report["settings"]["frame_size"]
    if case.check == "frame_size":  # 8000x6000 (4:3) arrives at the requested size, aspect kept
        assert max(width, height) == report["settings"]["size"] and abs(width / height - 4 / 3) < 0.03
    elif case.check == "upright":  # stored 600x512 sideways; EXIF says portrait orientation (512 wide, 600 high)
        assert width < height, (width, height)
    elif case.check == "duration":
        assert abs(report["duration_s"] - AUDIO_S) < 0.1, report["duration_s"]
    elif case.check == "texts":
        expected = case.extra.get("expected_texts") or [t for _, _, t in case.phases]
        assert [p["text"] for p in report["phases"]] == expected
