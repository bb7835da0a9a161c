"""The stale temp sweep: exactly our write-then-rename temp names, only when untouched for an hour, never a live one.

The real thing (a CLI run SIGKILLed mid-encode, then swept) is in ``test_nothing_lost.py``.
"""

from __future__ import annotations

import os
import tempfile
import time
import uuid
from pathlib import Path

import pytest

import app
from actavatar.tempfiles import STALE_AFTER_S, is_temp_name, sweep_stale_temps

OLD = time.time() - STALE_AFTER_S - 60


def touch(path: Path, mtime: float | None = None) -> Path:
    path.write_bytes(b"x")
    if mtime is not None:
        os.utime(path, (mtime, mtime), follow_symlinks=False)
    return path


def json_temp(folder: Path, name: str) -> Path:
    """A temp name made the way ``results.write_json_atomic`` makes it."""
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=folder)
    os.close(fd)
    return Path(tmp)


def video_temp(folder: Path, stem: str, token: str | None = None) -> tuple[Path, Path]:
    """The temp mp4 and ffmpeg log names that ``render.mux.write_video`` uses."""
    tmp = folder / f".{stem}.{token or uuid.uuid4().hex}.tmp.mp4"
    return tmp, tmp.with_suffix(".log")


def test_only_stale_temps_of_ours_are_removed(tmp_path):
    killed_mp4, killed_log = video_temp(tmp_path, "clip")
    live_mp4, live_log = video_temp(tmp_path, "clip")  # a concurrent run still encoding
    orphan_log = video_temp(tmp_path, "other")[1]
    for p in (killed_mp4, killed_log, orphan_log, live_log):  # ffmpeg's log is not written while all goes well
        touch(p, OLD)
    touch(live_mp4)
    old_json = touch(json_temp(tmp_path, "clip.json"), OLD)
    new_json = touch(json_temp(tmp_path, "clip.json"))
    keep_old = [
        "clip.mp4",
        "clip.json",
        ".clip.mp4",
        ".hidden",
        "notes.tmp",
        ".clip.tmp.mp4",
        f".clip.{uuid.uuid4().hex[:31]}.tmp.mp4",  # 31 hex digits: not a uuid4 hex
        f".clip.{uuid.uuid4().hex.upper()}.tmp.mp4",
        f".clip.{uuid.uuid4().hex}.mp4",
        f".clip.{uuid.uuid4().hex}.tmp.mp4.bak",
        ".clip.json.ABCDEFGH.tmp",  # mkstemp never makes upper case
        ".clip.json.abcdefg.tmp",  # 7 characters
        "clip.json.abcdefgh.tmp",  # not hidden
    ]
    for name in keep_old:
        assert not is_temp_name(name), name
        touch(tmp_path / name, OLD)
    nested = tmp_path / "sub"
    nested.mkdir()
    nested_temp = touch(video_temp(nested, "clip")[0], OLD)  # not recursive: temps live next to their output
    folder_named_like_a_temp = video_temp(tmp_path, "dir")[0]
    folder_named_like_a_temp.mkdir()
    os.utime(folder_named_like_a_temp, (OLD, OLD))
    target = touch(tmp_path / "target.bin", OLD)
    link = video_temp(tmp_path, "link")[0]
    link.symlink_to(target)
    os.utime(link, (OLD, OLD), follow_symlinks=False)

    removed = sweep_stale_temps(tmp_path)

    assert sorted(removed) == sorted([killed_mp4, killed_log, orphan_log, old_json])
    left = {p.name for p in tmp_path.iterdir()}
    assert not {p.name for p in removed} & left
    assert {live_mp4.name, live_log.name, new_json.name, *keep_old} <= left
    assert nested_temp.exists() and folder_named_like_a_temp.is_dir() and link.is_symlink() and target.exists()
    assert sweep_stale_temps(tmp_path) == []  # idempotent


def test_threshold_and_missing_folder(tmp_path):
    mp4 = touch(video_temp(tmp_path, "clip")[0], time.time() - 120)
    assert sweep_stale_temps(tmp_path) == []  # two minutes old: could be live
    assert sweep_stale_temps(tmp_path, older_than_s=60) == [mp4]
    assert sweep_stale_temps(tmp_path / "missing") == []
    assert sweep_stale_temps(touch(tmp_path / "a_file")) == []


def test_app_sweeps_its_output_folders(tmp_path, monkeypatch):
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path))
    root = tmp_path / "actavatar"
    killed = root / uuid.uuid4().hex  # a server killed mid-encode: only the temps
    killed.mkdir(parents=True)
    killed_files = [touch(p, OLD) for p in video_temp(killed, "actavatar")]
    done = root / uuid.uuid4().hex  # a finished run of a killed server (and a stale temp next to it)
    done.mkdir()
    video = touch(done / "actavatar.mp4", OLD)
    done_temp = touch(json_temp(done, "report.json"), OLD)
    live = root / uuid.uuid4().hex  # another server's run that just started
    live.mkdir()
    live_mp4 = touch(video_temp(live, "actavatar")[0])
    fresh = root / uuid.uuid4().hex  # a request folder just made
    fresh.mkdir()
    for folder in (killed, done):
        os.utime(folder, (OLD, OLD))

    removed = app.sweep_outputs()

    assert sorted(removed) == sorted([*killed_files, killed, done_temp])
    assert not killed.exists() and video.exists() and not done_temp.exists()
    assert live_mp4.exists() and fresh.is_dir()


@pytest.mark.parametrize("missing", [True, False])
def test_app_sweep_without_outputs(tmp_path, monkeypatch, missing):
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))
    if not missing:
        (tmp_path / "gradio" / "actavatar").mkdir(parents=True)
    assert app.sweep_outputs() == []
