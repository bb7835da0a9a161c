"""A cancelled generation stops computing and leaves nothing behind.

The library: a ``progress`` callback that raises ``Cancelled`` stops ``generate`` at that step, with no mp4, temp file
or report. The app, as a real server (``python app.py``, concurrency 1): a run cancelled through ``gradio_client``
(the ``/cancel`` route that the Stop button also uses) or whose session closes (the tab; ``unload``) stops within a
step, its request folder goes, no ffmpeg is left, the server goes idle, and the next generation runs at once. In a
real browser the Stop button shows only while generating and stops the run.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import psutil
import pytest
import soundfile as sf
from conftest import speechlike
from gradio_client import Client, handle_file
from gradio_client.utils import Status

from actavatar import generate
from actavatar.api import Cancelled

try:
    from tests.test_app_server import CHECKPOINT, MODEL_READY, ROOT, AppServer
except ImportError:
    from test_app_server import CHECKPOINT, MODEL_READY, ROOT, AppServer

PORTRAIT = ROOT / "examples" / "portraits" / "astronaut.jpg"
SETTLE_S = 10.0  # a cancelled run must be gone well within this (it stops at its next step or frame)


@pytest.fixture(scope="module")
def long_speech(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cancel_audio") / "speech.wav"
    sf.write(path, speechlike(12.0, seed=3), 16000)
    return path


@pytest.fixture(scope="module")
def short_speech(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cancel_audio_short") / "short.wav"
    sf.write(path, speechlike(1.6, seed=4), 16000)
    return path


# ------------------------------------------------------------------------------------------------------ library
@pytest.mark.parametrize("stage,at", [("denoise", 3), ("render", 40), ("mux", 0)])
def test_cancel_from_progress_leaves_no_file(tiny_checkpoint, long_speech, tmp_path, monkeypatch, stage, at):
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private_tmp))
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    seen = []

    def progress(name: str, i: int, n: int) -> None:
        seen.append(name)
        if name == stage and i == at:
            if stage != "denoise":  # the partial mp4 is being written: it must go too
                assert [p for p in out_dir.iterdir() if p.name.endswith(".tmp.mp4")]
            raise Cancelled("stop")

    with pytest.raises(Cancelled):
        generate(PORTRAIT, long_speech, None, out=out_dir / "clip.mp4", report=out_dir / "clip.json", steps=4,
                 size=128, checkpoint=tiny_checkpoint, progress=progress)  # fmt: skip
    assert seen[-1] == stage and seen.count(stage) == (at if stage != "mux" else 1)  # stopped at that very call
    assert list(out_dir.iterdir()) == []
    assert list(private_tmp.iterdir()) == []
    assert [p for p in psutil.Process().children(recursive=True) if "ffmpeg" in p.name()] == []


# ---------------------------------------------------------------------------------------------------------- app
@pytest.fixture(scope="module")
def server(tmp_path_factory, request):
    checkpoint = CHECKPOINT if MODEL_READY else request.getfixturevalue("tiny_checkpoint")
    with pytest.MonkeyPatch.context() as mp:  # the server copies this environment
        mp.setenv("ACTAVATAR_CONCURRENCY", "1")
        mp.setenv("GRADIO_HEARTBEAT_INTERVAL", "0.5")  # a closed session is noticed (and unloaded) quickly
        mp.setenv("OMP_NUM_THREADS", "1")
        srv = AppServer(tmp_path_factory.mktemp("cancel"), checkpoint)
    with srv:
        yield srv


def outputs(srv: AppServer) -> Path:
    return srv.gradio_tmp / "actavatar"


def request_folders(srv: AppServer) -> set[Path]:
    return set(outputs(srv).glob("*")) if outputs(srv).is_dir() else set()


def temps(srv: AppServer) -> list[Path]:
    return [p for p in srv.gradio_tmp.rglob(".*") if p.name.endswith((".tmp.mp4", ".tmp.log", ".tmp"))]


def ffmpeg_of(srv: AppServer) -> list[psutil.Process]:
    return [p for p in psutil.Process(srv.proc.pid).children(recursive=True) if "ffmpeg" in p.name()]


def cpu_seconds(srv: AppServer) -> float:
    t = psutil.Process(srv.proc.pid).cpu_times()
    return t.user + t.system


def submit(client: Client, audio: Path, steps: int, seed: int = 0):
    return client.submit(
        portrait=handle_file(str(PORTRAIT)),
        audio=handle_file(str(audio)),
        prompt="an astronaut talking",
        phases={"headers": ["start", "end", "text"], "data": [[0.2, 1.2, "nods twice"]]},
        steps=steps,
        seed=seed,
        size=384,
        api_name="/generate",
    )


def wait_until(predicate, timeout: float, what: str, poll: float = 0.02):
    t0 = time.time()
    while time.time() - t0 < timeout:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    raise TimeoutError(f"waited {timeout} s for {what}")


def progress_desc(job) -> str:
    data = job.status().progress_data or []
    return data[-1].desc or "" if data else ""


def assert_stopped_and_clean(srv: AppServer, before: set[Path]) -> float:
    """Within SETTLE_S: the run's folder is gone, no temp, no ffmpeg. Then the server is idle. Returns the wait."""
    t0 = time.time()
    wait_until(lambda: request_folders(srv) == before and not temps(srv) and not ffmpeg_of(srv), SETTLE_S,
               "the cancelled run's files and encoder to go")  # fmt: skip
    settled = time.time() - t0
    cpu0 = cpu_seconds(srv)
    time.sleep(2.0)
    busy = cpu_seconds(srv) - cpu0
    assert busy < 0.4, f"the server still computes after the cancel ({busy:.2f} CPU s in 2 s)"
    time.sleep(1.0)  # and nothing of the run shows up later
    assert request_folders(srv) == before and not temps(srv)
    return settled


def assert_next_generation_succeeds(srv: AppServer, audio: Path) -> None:
    job = submit(Client(srv.url, verbose=False), audio, steps=2, seed=7)
    wait_until(lambda: job.status().code in (Status.PROCESSING, Status.PROGRESS, Status.FINISHED), 5.0,
               "the next generation to start")  # fmt: skip
    video, _, _, report_path = job.result(timeout=120)
    assert Path(video["video"] if isinstance(video, dict) else video).stat().st_size > 5_000
    assert json.loads(Path(report_path).read_text(encoding="utf-8"))["seed"] == 7


@pytest.mark.parametrize("stage", ["denoise", "render"])
def test_cancelled_job_stops_and_leaves_nothing(server, long_speech, short_speech, stage):
    before = request_folders(server)
    job = submit(Client(server.url, verbose=False), long_speech, steps=100)
    if stage == "denoise":
        wait_until(lambda: progress_desc(job).startswith("Denoising"), 120, "denoising to start")
    else:  # mid-encode: the hidden mp4 temp exists and ffmpeg runs
        wait_until(lambda: any(p.name.endswith(".tmp.mp4") for p in temps(server)) and ffmpeg_of(server), 240,
                   "encoding to start")  # fmt: skip
    assert len(request_folders(server) - before) == 1
    t0 = time.time()
    job.cancel()  # returns once the server has handled /cancel
    cancel_s = time.time() - t0
    wait_until(job.done, SETTLE_S, "the job to end")
    assert job.status().code == Status.CANCELLED and job.outputs() == []
    settled = assert_stopped_and_clean(server, before)
    print(f"\ncancelled during {stage}: /cancel took {cancel_s:.2f} s, all clean {settled:.2f} s later")
    assert_next_generation_succeeds(server, short_speech)
    assert "Traceback" not in server.output()


def test_cancel_frees_the_slot_for_the_waiting_job(server, long_speech, short_speech):
    """Concurrency 1: a job waiting behind a cancelled one starts only once that one has stopped, and promptly."""
    before = request_folders(server)
    first = submit(Client(server.url, verbose=False), long_speech, steps=100)
    wait_until(lambda: progress_desc(first).startswith("Denoising"), 120, "denoising to start")
    waiting = submit(Client(server.url, verbose=False), short_speech, steps=2, seed=7)
    wait_until(lambda: waiting.status().code == Status.IN_QUEUE, 10, "the second job to queue")
    first.cancel()
    t0 = time.time()
    wait_until(lambda: waiting.status().code != Status.IN_QUEUE, SETTLE_S, "the waiting job to start")
    print(f"\nthe waiting job started {time.time() - t0:.2f} s after the cancel")
    video, *_ = waiting.result(timeout=120)
    assert Path(video["video"] if isinstance(video, dict) else video).is_file()
    assert len(request_folders(server) - before) == 1  # only the waiting job's results: nothing of the first


def test_closing_the_session_stops_its_run(server, long_speech, short_speech):
    """What closing the tab does: the session's heartbeat connection ends, Gradio fires ``unload``."""
    before = request_folders(server)
    client = Client(server.url, verbose=False)
    job = submit(client, long_speech, steps=100)
    wait_until(lambda: progress_desc(job).startswith("Denoising"), 120, "denoising to start")
    client.close()  # ends the heartbeat, as a closed tab does
    assert_stopped_and_clean(server, before)
    assert_next_generation_succeeds(server, short_speech)
    assert "Traceback" not in server.output()
