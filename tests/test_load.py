"""Load: 8 users generate at once against one real ``python app.py`` (tiny checkpoint, 2 steps, short audio).

Every request gets its own result (its seed, its phases, its video); the concurrency limit and the queue size
hold; the server's memory stays bounded (the peak RSS is printed: run with ``-s`` to see it).
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from pathlib import Path

import numpy as np
import psutil
import pytest
import soundfile as sf
from conftest import speechlike
from gradio_client import Client, handle_file
from gradio_client.utils import Status

from actavatar.phases import Phase

try:
    from tests.test_app_server import ROOT, AppServer
except ImportError:
    from test_app_server import ROOT, AppServer

USERS = 8
QUEUE_SIZE = 8
PORTRAIT = ROOT / "examples" / "portraits" / "obama.jpg"
ACTIONS = ["nods twice", "smiles", "raises eyebrows", "tilts head right", "looks left", "winks", "frowns", "pouts"]
MAX_RSS_GB = 3.0


@pytest.fixture(scope="module")
def server(tmp_path_factory, tiny_checkpoint):
    with pytest.MonkeyPatch.context() as mp:  # the server copies this environment
        mp.setenv("ACTAVATAR_CONCURRENCY", "1")
        mp.setenv("ACTAVATAR_QUEUE_SIZE", str(QUEUE_SIZE))
        srv = AppServer(tmp_path_factory.mktemp("load"), tiny_checkpoint)
    with srv:
        yield srv


@pytest.fixture(scope="module")
def speech(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("load_audio") / "speech.wav"
    sf.write(path, speechlike(1.6, seed=9), 16000)
    return path


class RssMonitor(threading.Thread):
    """Peak resident memory of the server process and its children (ffmpeg), sampled every 20 ms."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.proc = psutil.Process(pid)
        self.peak = self.baseline = self.rss()
        self.stop = threading.Event()

    def rss(self) -> int:
        total = self.proc.memory_info().rss
        for child in self.proc.children(recursive=True):
            try:
                total += child.memory_info().rss
            except psutil.NoSuchProcess:
                pass
        return total

    def run(self) -> None:
        while not self.stop.is_set():
            self.peak = max(self.peak, self.rss())
            time.sleep(0.02)


def plan_for(user: int) -> list[Phase]:
    a = round(0.1 + 0.05 * user, 2)
    return [Phase(0.0, a, ACTIONS[user]), Phase(round(a + 0.2, 2), 1.5, ACTIONS[(user + 3) % USERS])]


def submit(client: Client | str, speech: Path, user: int):
    phases = plan_for(user)
    client = Client(client, verbose=False) if isinstance(client, str) else client
    return client.submit(
        portrait=handle_file(str(PORTRAIT)),
        audio=handle_file(str(speech)),
        prompt=f"user {user} talking",
        phases={"headers": ["start", "end", "text"], "data": [[p.start, p.end, p.text] for p in phases]},
        steps=2,
        seed=100 + user,
        size=256,
        api_name="/generate",
    )


def test_eight_users_at_once_get_their_own_results(server, speech):
    monitor = RssMonitor(server.proc.pid)
    monitor.start()
    jobs = [submit(server.url, speech, user) for user in range(USERS)]
    most_running = 0
    t0 = time.time()
    while not all(job.done() for job in jobs) and time.time() - t0 < 240:
        most_running = max(most_running, sum(job.status().code == Status.PROCESSING for job in jobs))
        time.sleep(0.02)
    results = [job.result(timeout=60) for job in jobs]
    monitor.stop.set()
    monitor.join()

    motions, videos = [], set()
    for user, (video, _, _, report_path) in enumerate(results):
        report = json.loads(Path(report_path).read_text(encoding="utf-8"))
        assert report["seed"] == 100 + user
        assert report["base"] == f"user {user} talking"
        assert report["phases"] == [p.to_dict() for p in plan_for(user)]  # no request sees another's phases
        video_path = Path(video["video"] if isinstance(video, dict) else video)
        assert video_path.stat().st_size > 5_000
        videos.add(hashlib.sha256(video_path.read_bytes()).hexdigest())
        motions.append(np.asarray(report["motion"]["values"]))
    assert len(videos) == USERS  # eight different videos
    for i in range(USERS):
        for j in range(i + 1, USERS):
            assert np.abs(motions[i] - motions[j]).max() > 1e-3
    assert most_running <= 1  # ACTAVATAR_CONCURRENCY=1: one generation at a time, the rest wait in the queue
    gb = 1024**3
    print(f"\nserver RSS (with ffmpeg children): idle {monitor.baseline / gb:.2f} GB, peak {monitor.peak / gb:.2f} GB")
    assert monitor.peak < MAX_RSS_GB * gb
    assert "Traceback" not in server.output()


def test_queue_size_limit_holds(server, tmp_path):
    slow = tmp_path / "slow.wav"  # 8 s clips: the queue fills before the first run ends
    sf.write(slow, speechlike(8.0, seed=10), 16000)
    clients = [Client(server.url, verbose=False) for _ in range(QUEUE_SIZE + 5)]
    jobs = [submit(client, slow, user % USERS) for user, client in enumerate(clients)]
    rejected, done = [], 0
    for job in jobs:
        try:
            job.result(timeout=240)
            done += 1
        except Exception as err:  # noqa: BLE001 - the client raises its own error types for a full queue
            rejected.append(str(err))
    assert rejected, "13 requests at once must overflow a queue of 8"
    assert all("queue is full" in r.lower() for r in rejected), rejected
    assert done <= QUEUE_SIZE + 1  # the queue plus the one running
    # The server keeps serving after the overflow.
    video, *_ = submit(server.url, slow, 0).result(timeout=120)
    assert Path(video["video"] if isinstance(video, dict) else video).is_file()
