"""The real-speech development set: its manifest and licenses, the ground-truth pause rule, the degraded
conditions, and ``python -m actavatar eval --real`` end to end on a short clip.

Everything here runs on the committed clips (``assets/real_speech``); the test of the moonshine-voice clips skips
when their wheel is not in the script's cache (it needs PyPI once: ``python scripts/real_speech_set.py``)."""

import hashlib
import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from actavatar.evaluation import speech_conditions as sc
from actavatar.evaluation.real_speech import action_window, pause_closure, select_items

ROOT = Path(__file__).resolve().parents[1]
ASSETS = ROOT / "assets" / "real_speech"
SR = sc.SAMPLE_RATE


def _script():
    spec = importlib.util.spec_from_file_location("real_speech_set", ROOT / "scripts" / "real_speech_set.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def sources():
    return json.loads((ASSETS / "manifest.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The committed part of the set, built by the script (no download)."""
    out = tmp_path_factory.mktemp("real-speech")
    doc = _script().build(out, out / "cache", moonshine=False)
    return out, doc


# ------------------------------------------------------------------------------------------------ the manifest
def test_committed_manifest_is_complete(sources):
    clips = sources["clips"]
    required = {"id", "file", "speaker", "split", "sex", "sex_basis", "language", "license", "source", "duration_s"}
    for clip in clips:
        assert required <= set(clip), clip["id"]
        assert clip["split"] in ("dev", "test") and clip["sex"] in ("female", "male")
        assert 6.0 <= clip["duration_s"] <= 12.0 + 1e-6, clip["id"]
        assert "trim_s" in clip["source"] and ("repo" in clip["source"] or "pypi" in clip["source"])
    committed = [c for c in clips if c["committed"]]
    # The committed clips alone meet the bar: >= 10 clips of >= 6 s, >= 6 speakers, both sexes, not only
    # English; so do dev and test on their own for the sexes.
    assert len(committed) >= 10
    assert len({c["speaker"] for c in committed}) >= 6
    assert {c["sex"] for c in committed} == {"female", "male"}
    assert any(c["language"] != "en" for c in committed)
    for split in ("dev", "test"):
        assert {c["sex"] for c in committed if c["split"] == split} == {"female", "male"}, split
    for clip in committed:
        path = ASSETS / clip["file"]
        assert hashlib.sha256(path.read_bytes()).hexdigest() == clip["sha256"], clip["id"]
        info = sf.info(str(path))
        assert info.samplerate == SR and info.channels == 1 and info.format == "FLAC"
        assert abs(info.duration - clip["duration_s"]) < 1e-3
        assert len(clip["source"]["commit"]) == 40
    assert sum((ASSETS / c["file"]).stat().st_size for c in committed) < 3_000_000


def test_splits_hold_out_whole_speakers(sources):
    clips = sources["clips"]
    split_of = {}
    for clip in clips:
        assert split_of.setdefault(clip["speaker"], clip["split"]) == clip["split"], clip["speaker"]
    share = np.mean([c["split"] == "test" for c in clips])
    assert 0.25 <= share <= 0.45


def test_every_source_has_its_license_beside_it(sources):
    text = (ASSETS / "LICENSES.md").read_text(encoding="utf-8")
    for clip in sources["clips"]:
        src = clip["source"]
        name = src.get("repo") or src["pypi"].split("==")[0]
        assert name in text, name
        assert clip["license"] in text
        if "commit" in src:
            assert src["commit"] in text
    assert "Permission is hereby granted" in text  # MIT's text
    assert "TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION" in text  # Apache-2.0's


def test_built_set_is_consistent(built, sources):
    out, doc = built
    committed = [c for c in sources["clips"] if c["committed"]]
    assert {s["id"] for s in doc["sources"]} == {c["id"] for c in committed}
    assert len(doc["items"]) == len(committed) * len(sc.CONDITIONS)
    by_clip = {s["id"]: s for s in doc["sources"]}
    for item in doc["items"]:
        src = by_clip[item["clip"]]
        x, sr = sf.read(out / item["file"])
        assert sr == SR and x.ndim == 1
        assert len(x) == sf.info(str(out / item["clean_file"])).frames  # time-aligned with the clean clip
        assert abs(len(x) / SR - src["duration_s"]) < 1e-3
        assert np.isfinite(x).all() and np.abs(x).max() <= 1.0
        # Degraded versions inherit the clean clip's truth; pauses and speech tile the clip.
        assert item["pauses"] == src["pauses"] and item["speech"] == src["speech"]
        tiles = sorted(item["pauses"] + item["speech"])
        assert tiles[0][0] == 0.0 and abs(tiles[-1][1] - src["duration_s"]) < 1e-3
        assert all(abs(a[1] - b[0]) < 1e-9 for a, b in zip(tiles, tiles[1:], strict=False))
        assert all(b - a >= sc.MIN_PAUSE_S - 1e-6 for a, b in item["pauses"])
    assert sum(len(s["pauses"]) for s in doc["sources"]) >= 20
    # Idempotent: nothing changes on a second run.
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*.flac")}
    again = _script().build(out, out / "cache", moonshine=False)
    assert again["recipe"] == doc["recipe"]
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.flac")} == before


def test_split_selection(built):
    _, doc = built
    dev = select_items(doc, "dev")
    test = select_items(doc, "test")
    assert dev and test and len(dev) + len(test) == len(select_items(doc, "all"))
    assert not {i["clip"] for i in dev} & {i["clip"] for i in test}
    assert {i["condition"] for i in select_items(doc, "dev", ("clean", "phone"))} == {"clean", "phone"}


# ----------------------------------------------------------------------------------------------- pause truth
def _bursts(spec, floor_db=-70.0, seed=0):
    """Speech-like harmonic bursts at (start, end) s in a noise floor, 6 s long."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(6.0 * SR)) / SR
    x = 10 ** (floor_db / 20) * rng.standard_normal(len(t))
    for a, b in spec:
        sel = (t >= a) & (t < b)
        x[sel] += 0.3 * sum(np.sin(2 * np.pi * f * t[sel]) / k for k, f in enumerate((150, 300, 450), 1))
    return x


def test_pause_rule_finds_the_silences():
    truth = sc.pause_truth(_bursts([(0.5, 2.0), (2.2, 3.5), (4.1, 5.6)]))
    # 0.2 s gaps are not pauses; the 0.5 s lead, the 0.6 s gap and the 0.4 s tail are.
    assert truth["pauses"] == [[0.0, 0.5], [3.5, 4.1], [5.6, 6.0]]
    assert truth["speech"] == [[0.5, 3.5], [4.1, 5.6]]


def test_pause_rule_under_a_hum_closer_than_30_db():
    hum = _bursts([(1.0, 3.0), (3.8, 5.0)], floor_db=-40.0)  # floor ~24 dB under the voice
    truth = sc.pause_truth(hum)
    assert truth["pauses"] == [[0.0, 1.0], [3.0, 3.8], [5.0, 6.0]]
    # ... but nothing within 20 dB of the speech level is ever a pause.
    loud = _bursts([(1.0, 3.0), (3.8, 5.0)], floor_db=-25.0)
    assert sc.pause_truth(loud)["pauses"] == []


# ------------------------------------------------------------------------------------------------ conditions
@pytest.fixture(scope="module")
def jane(built):
    out, doc = built
    src = next(s for s in doc["sources"] if s["id"] == "echomimic-jane")
    read = lambda c: sf.read(out / c / "echomimic-jane.flac")[0]  # noqa: E731
    return src, read


def _gain(x, clean):
    """Least-squares gain of ``clean`` inside ``x`` (the limiter's, when a mix was scaled to fit full scale)."""
    return float(np.dot(x, clean) / np.dot(clean, clean))


def test_noise_and_music_are_at_the_stated_levels(jane):
    src, read = jane
    clean = read("clean")
    for condition, expected in (("noise", sc.NOISE_SNR_DB), ("music", sc.MUSIC_BELOW_DB)):
        x = read(condition)
        g = _gain(x, clean)
        added = x - g * clean
        snr = 10 * math.log10(sc.active_power(g * clean, src["speech"]) / np.mean(added**2))
        assert abs(snr - expected) < 0.3, (condition, snr)
    # Pink: about -3 dB per octave (power per Hz) between 200 Hz and 6.4 kHz.
    noise = sc.pink_noise(SR * 8, np.random.default_rng(1))
    spec = np.abs(np.fft.rfft(noise)) ** 2
    f = np.fft.rfftfreq(len(noise), 1 / SR)
    octave = [spec[(f >= lo) & (f < 2 * lo)].mean() for lo in (200, 400, 800, 1600, 3200)]
    slopes = np.diff(10 * np.log10(octave))
    assert np.all(np.abs(slopes + 3.0) < 0.5), slopes


def test_phone_band_has_no_energy_above_4_khz(jane):
    from scipy.signal import welch

    _, read = jane
    f, p = welch(read("phone"), SR, nperseg=2048)
    assert p[f > 4000].sum() / p.sum() < 1e-6
    assert p[(f > 300) & (f < 3400)].sum() / p.sum() > 0.95
    f, p = welch(read("clean"), SR, nperseg=2048)
    assert p[f > 4000].sum() / p.sum() > 1e-3  # the clean clip did have some


def test_quiet_and_clipped(jane):
    _, read = jane
    assert abs(sc.peak_dbfs(read("quiet")) - sc.QUIET_PEAK_DBFS) < 0.1
    clipped = read("clipped")
    assert np.mean(np.abs(clipped) >= 0.999) > 0.01
    assert np.mean(np.abs(read("clean")) >= 0.999) < 0.001


def test_reverb_room_and_level(jane):
    src, read = jane
    h = sc.room_impulse_response(np.random.default_rng(3))
    assert abs(sc.rt60_of(h) - sc.RT60_S) < 0.05
    drr = 10 * math.log10(h[0] ** 2 / np.sum(h[1:] ** 2))
    assert abs(drr - sc.DRR_DB) < 0.01
    clean, wet = read("clean"), read("reverb")
    ratio = sc.active_power(wet, src["speech"]) / sc.active_power(clean, src["speech"])
    # Back at the clean clip's active speech power, unless the mix had to be scaled down to fit full scale.
    assert abs(ratio - 1) < 0.01 or (0.5 < ratio < 1 and abs(np.abs(wet).max() - sc.MAX_PEAK) < 1e-3)
    # The pauses fill with the room's tail: louder than in the clean clip.
    pauses = sc.region_mask(len(clean), src["pauses"])
    assert np.mean(wet[pauses] ** 2) > 10 * np.mean(clean[pauses] ** 2)


def test_conditions_are_deterministic_and_per_clip():
    x = _bursts([(0.5, 2.0), (3.0, 5.0)])
    speech = sc.pause_truth(x)["speech"]
    for condition in sc.DEGRADED:
        a = sc.degrade(x, condition, sc.condition_seed("a", condition), speech)
        b = sc.degrade(x, condition, sc.condition_seed("a", condition), speech)
        assert len(a) == len(x) and np.array_equal(a, b), condition
    assert sc.condition_seed("a", "noise") == 784850384  # crc32: the same on every machine and run
    n1 = sc.degrade(x, "noise", sc.condition_seed("a", "noise"), speech) - x
    n2 = sc.degrade(x, "noise", sc.condition_seed("b", "noise"), speech) - x
    assert abs(np.corrcoef(n1, n2)[0, 1]) < 0.1


# ---------------------------------------------------------------------------------------------- pause scoring
def test_pause_closure_and_action_window():
    fps = 25.0
    jaw = np.full(150, 0.3)  # 6 s of open mouth ...
    jaw[50:75] = 0.0  # ... closed over 2.0-3.0 s
    pauses = [[0.0, 0.5], [2.0, 3.0], [4.0, 4.6]]
    got = pause_closure(jaw, fps, pauses, 6.0)
    assert [p["closed"] for p in got] == [False, True, False]
    assert got[1]["closed_frames"] == 1.0  # margins skipped: the 3-frame smoothing at its edges does not count
    assert action_window(pauses, 6.0, 2.5) == (1.25, 3.75)  # the longest interior pause, centred
    assert action_window([[0.0, 1.0]], 6.0, 2.5) == (0.0, 2.5)  # kept inside the clip
    assert action_window([], 6.0, 2.5) is None


def test_real_eval_rejects_a_synthetic_split(built, capsys):
    from actavatar.cli import main

    out, _ = built
    assert main(["eval", "--real", str(out), "--split", "heldout"]) == 2
    assert "--split heldout is for the synthetic set" in capsys.readouterr().err
    assert main(["eval", "--real", str(out / "nowhere")]) == 2
    assert "real_speech_set.py" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------------ end to end
def test_eval_real_end_to_end_on_a_short_clip(built, tmp_path):
    out, _ = built
    res = tmp_path / "res"
    subprocess.run(
        [sys.executable, "-m", "actavatar", "eval", "--real", str(out), "--real-clip", "echomimic-walden",
         "--conditions", "clean,phone", "--max-seconds", "3", "--steps", "2", "--size", "256",
         "--label", "tiny-real", "--out", str(res)],
        capture_output=True, text=True, check=True, cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"},
    )  # fmt: skip
    result = json.loads((res / "results.json").read_text())
    summary, clips = result["summary"], result["clips"]
    assert summary["label"] == "tiny-real" and summary["files"] == 2 and summary["kind"] == "real_speech"
    assert {(c["condition"], c["pass"]) for c in clips} == {
        (c, p) for c in ("clean", "phone") for p in ("plain", "action")
    }
    for c in clips:
        assert c["frames"] == 75 and c["duration_s"] == 3.0
        assert math.isfinite(c["lip_sync_corr"]) and -1 <= c["lip_sync_corr"] <= 1
        assert math.isfinite(c["lip_sync_lag_ms"]) and abs(c["lip_sync_lag_ms"]) <= 200
        assert c["num_pauses"] >= 1 and 0 <= c["pause_closed_share"] <= 1 and 0 <= c["pause_closed_frames"] <= 1
        if c["pass"] == "action":
            assert c["action"]["pauses_in_window"] >= 1 and isinstance(c["action"]["detected"], bool)
    rows = {(r["pass"], r["condition"]): r for r in summary["rows"]}
    for key in ("lip_r_mean", "lip_r_min", "abs_lag_ms_mean", "pause_closed_share"):
        assert math.isfinite(rows[("plain", "all")][key]), key
    assert math.isfinite(rows[("action", "phone")]["action_detected"])
    assert "| plain | clean | dev |" in (res / "results.md").read_text()


# ------------------------------------------------------------------------------------------- moonshine clips
MOONSHINE_CACHE = ROOT / "data" / "cache" / "moonshine-voice"


def test_moonshine_clips_from_the_cached_wheel(sources, tmp_path):
    wheel = MOONSHINE_CACHE / sources["moonshine_wheel"]["wheel"]
    if not wheel.is_file():
        pytest.skip(f"moonshine-voice wheel not cached in {MOONSHINE_CACHE}: run python scripts/real_speech_set.py")
    doc = _script().build(tmp_path / "set", MOONSHINE_CACHE, moonshine=True)
    assert doc["moonshine"].startswith("moonshine-voice 0.1.5")
    moon = [s for s in doc["sources"] if s["id"].startswith("moonshine-")]
    assert len(moon) == sum(not c["committed"] for c in sources["clips"]) >= 4
    assert len(doc["sources"]) >= 14 and len({s["speaker"] for s in doc["sources"]}) >= 8
    for s in moon:
        assert 6.0 <= s["duration_s"] <= 12.0 + 1e-6 and s["pauses"]
