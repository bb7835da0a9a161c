"""Temp files left behind by killed runs: recognise them and remove the stale ones.

Outputs are written under a hidden temp name next to their destination and renamed into place, so readers never
see half a file:

- ``render.mux.write_video``: ``.{stem}.{uuid4 hex}.tmp.mp4`` plus ffmpeg's log ``.{stem}.{uuid4 hex}.tmp.log``;
- ``results.write_json_atomic``: ``.{name}.{8 mkstemp characters}.tmp``.

A run that ends, fails or is interrupted removes its own; a SIGKILL (or a power cut) cannot. The app sweeps its
output folder at startup and ``api.generate`` sweeps the destination folder before writing.

Only temps untouched for ``STALE_AFTER_S`` go, so a concurrent run's live temp is never deleted: the mp4 temp is
written continuously while frames stream in (a frame takes milliseconds), and the JSON temp lives for one write.
ffmpeg's log is not written on success, so its age says nothing: it goes only with (or after) its mp4 temp.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

STALE_AFTER_S = 3600.0  # no live temp goes an hour without a write (see the module docstring)

VIDEO_TEMP = re.compile(r"^\.(?P<stem>.+)\.(?P<token>[0-9a-f]{32})\.tmp\.(?P<kind>mp4|log)$")
JSON_TEMP = re.compile(r"^\.(?P<name>.+)\.[a-z0-9_]{8}\.tmp$")  # tempfile.mkstemp's random part: 8 of [a-z0-9_]


def is_temp_name(name: str) -> bool:
    """Whether ``name`` is one of our hidden write-then-rename temp names."""
    return bool(VIDEO_TEMP.match(name) or JSON_TEMP.match(name))


def sweep_stale_temps(folder: str | Path, older_than_s: float = STALE_AFTER_S) -> list[Path]:
    """Remove our temp files directly in ``folder`` not modified for ``older_than_s`` seconds; return what went.

    Not recursive, follows no symlink, never raises for a file it cannot stat or remove (another sweep may have
    taken it first); a missing folder is simply empty."""
    now = time.time()
    try:
        entries = list(os.scandir(folder))
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return []
    ages: dict[str, float] = {}
    for entry in entries:
        if is_temp_name(entry.name):
            try:
                if entry.is_file(follow_symlinks=False):
                    ages[entry.name] = now - entry.stat(follow_symlinks=False).st_mtime
            except OSError:
                continue
    removed = []
    for name, age in ages.items():
        if age < older_than_s:
            continue
        video = VIDEO_TEMP.match(name)
        if video and video["kind"] == "log":
            sibling = name[: -len("log")] + "mp4"
            if ages.get(sibling, older_than_s) < older_than_s:  # its encode is still running
                continue
        path = Path(folder) / name
        try:
            path.unlink()
        except OSError:
            continue
        removed.append(path)
    return removed
