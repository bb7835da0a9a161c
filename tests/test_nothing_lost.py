"""Nothing lost, nothing left behind: a run that fails or is stopped mid-encode leaves no partial mp4, no temp
file and no ffmpeg process; outputs appear only complete (temp file + rename); the app's cache is cleaned.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest
import soundfile as sf
from conftest import speechlike

import app
from actavatar import generate

ROOT = Path(__file__).resolve().parents[1]
PORTRAIT = ROOT / "examples" / "portraits" / "grace_hopper.jpg"


@pytest.fixture
def long_speech(tmp_path) -> Path:
    path = tmp_path / "inputs" / "speech.wav"
    path.parent.mkdir()
    sf.write(path, speechlike(12.0), 16000)
    return path


def ffmpeg_children() -> list[psutil.Process]:
    return [p for p in psutil.Process().children(recursive=True) if "ffmpeg" in p.name()]


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_failure_mid_encode_leaves_nothing(tiny_checkpoint, long_speech, tmp_path, monkeypatch, error):
    """The progress callback raises while frames stream into ffmpeg (a renderer crash, or a user's Ctrl+C)."""
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private_tmp))
    out_dir = tmp_path / "out"
    out_dir.mkdir()

    def progress(stage: str, i: int, n: int) -> None:
        if stage == "render" and i == n // 2:
            assert [p.name for p in out_dir.iterdir() if p.name.endswith(".tmp.mp4")], "encoding had started"
            raise error("stopped mid-encode")

    with pytest.raises(error):
        generate(PORTRAIT, long_speech, None, out=out_dir / "clip.mp4", report=out_dir / "clip.json", steps=2,
                 size=128, checkpoint=tiny_checkpoint, progress=progress)  # fmt: skip
    assert list(out_dir.iterdir()) == []
    assert list(private_tmp.iterdir()) == []
    assert ffmpeg_children() == []


def _cli(tiny_checkpoint, audio: Path, out_dir: Path) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "actavatar", "generate", "--portrait", str(PORTRAIT), "--audio", str(audio)]
    cmd += ["--out", str(out_dir / "clip.mp4"), "--report", str(out_dir / "clip.json"), "--steps", "2"]
    cmd += ["--size", "512", "--checkpoint", str(tiny_checkpoint)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _is_ffmpeg(child: psutil.Process) -> bool:
    try:
        return "ffmpeg" in child.name()
    except psutil.NoSuchProcess:  # a short-lived child (e.g. ffprobe) ended between listing and reading its name
        return False


def _wait_for_encoding(proc: subprocess.Popen, out_dir: Path, timeout: float = 120) -> psutil.Process:
    t0 = time.time()
    while time.time() - t0 < timeout:
        assert proc.poll() is None, proc.communicate()
        temps = [p for p in out_dir.iterdir() if p.name.endswith(".tmp.mp4")]
        encoders = [p for p in psutil.Process(proc.pid).children() if _is_ffmpeg(p)]
        if temps and encoders and temps[0].stat().st_size > 0:
            return encoders[0]
        time.sleep(0.05)
    raise TimeoutError("the CLI never started encoding")


def test_cli_terminated_mid_encode_leaves_nothing(tiny_checkpoint, long_speech, tmp_path):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    proc = _cli(tiny_checkpoint, long_speech, out_dir)
    encoder = _wait_for_encoding(proc, out_dir)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and err.strip().splitlines()[-1] == "error: interrupted"
    assert list(out_dir.iterdir()) == []
    assert not encoder.is_running() or encoder.status() == psutil.STATUS_ZOMBIE


def test_app_cache_is_cleaned_and_failed_runs_leave_no_folder(tmp_path):
    assert app.demo.delete_cache == (1800, 3600)  # Gradio deletes cached files older than 1 h, every 30 min
    from gradio.utils import get_upload_folder
    from PIL import Image

    Image.new("RGB", (300, 300), (200, 180, 160)).save(tmp_path / "wall.png")
    folder = Path(get_upload_folder()) / "actavatar"
    before = set(folder.glob("*"))
    with pytest.raises(app.gr.Error, match="No face found"):
        app.generate_video(str(tmp_path / "wall.png"), str(ROOT / "examples" / "welcome.wav"), "", [], 2, 0, 25, 256,
                           2.0, 1.5, "hard", "trained", progress=lambda *a, **k: None)  # fmt: skip
    assert set(folder.glob("*")) == before  # the request folder made for this run is gone again


def test_cli_killed_mid_encode_leaves_only_temps_the_next_run_sweeps(tiny_checkpoint, long_speech, tmp_path):
    """SIGKILL cannot be cleaned up after; the atomic rename still guarantees no partial file under the real name.
    What remains is the hidden temp file and ffmpeg's log (``.clip.<hex>.tmp.mp4``/``.tmp.log``): they are kept
    while they could be a live run's, and the next ``generate`` into that folder removes them once they are an hour
    old (``actavatar.tempfiles``)."""
    from actavatar.tempfiles import STALE_AFTER_S, sweep_stale_temps

    out_dir = tmp_path / "out"
    out_dir.mkdir()
    proc = _cli(tiny_checkpoint, long_speech, out_dir)
    encoder = _wait_for_encoding(proc, out_dir)
    proc.kill()
    proc.communicate(timeout=60)
    encoder.wait(timeout=60)  # ffmpeg sees its input end and finishes the temp file
    names = [p.name for p in out_dir.iterdir()]
    assert "clip.mp4" not in names and "clip.json" not in names
    assert all(n.startswith(".clip.") and n.endswith((".tmp.mp4", ".tmp.log")) for n in names), names
    leftovers = sorted(out_dir.iterdir())
    assert [p.name.rsplit(".", 1)[-1] for p in leftovers] == ["log", "mp4"], leftovers
    assert sweep_stale_temps(out_dir) == []  # fresh: as far as anyone can tell, a run still writing them
    old = time.time() - STALE_AFTER_S - 60
    for p in leftovers:
        os.utime(p, (old, old))

    short = tmp_path / "inputs" / "short.wav"
    sf.write(short, speechlike(1.5), 16000)
    proc = _cli(tiny_checkpoint, short, out_dir)
    _, err = proc.communicate(timeout=180)
    assert proc.returncode == 0, err
    assert sorted(p.name for p in out_dir.iterdir()) == ["clip.json", "clip.mp4"]
