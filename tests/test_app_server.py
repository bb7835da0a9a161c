"""The app as a real server: ``python app.py`` in a subprocess on a free local port, shared by the app tests.

Other test modules import the ``app_server`` fixture from here. This module also checks what the server itself
must guarantee: it starts with no GPU, network or Spaces variables, and it serves no file outside its folders.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHECKPOINT = Path(os.environ.get("ACTAVATAR_CHECKPOINT") or ROOT / "assets" / "checkpoints" / "actavatar-motion")

# The server uses the shipped (trained) checkpoint when it exists, else conftest's tiny random one: the whole
# generation path runs either way, only the motion's quality differs.
MODEL_READY = (CHECKPOINT / "transformer" / "config.json").is_file()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class AppServer:
    def __init__(self, tmp: Path, checkpoint: Path | None = None):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.gradio_tmp = tmp / "gradio"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SPACE", "ZERO_GPU", "CUDA"))}
        env.update(
            GRADIO_SERVER_PORT=str(self.port),
            GRADIO_SERVER_NAME="127.0.0.1",
            GRADIO_ANALYTICS_ENABLED="False",
            GRADIO_TEMP_DIR=str(self.gradio_tmp),
            CUDA_VISIBLE_DEVICES="",
            PYTHONUNBUFFERED="1",
        )
        if checkpoint is not None:
            env["ACTAVATAR_CHECKPOINT"] = str(checkpoint)
        self.log = (tmp / "server.log").open("w+")
        self.proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=self.log, stderr=self.log)

    def wait(self, timeout: float = 60.0) -> float:
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"app.py exited with {self.proc.returncode}:\n{self.output()}")
            try:
                with urllib.request.urlopen(self.url, timeout=2) as r:
                    if r.status == 200:
                        return time.perf_counter() - t0
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.2)
        raise TimeoutError(f"app.py did not answer within {timeout} s:\n{self.output()}")

    def output(self) -> str:
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def __enter__(self) -> AppServer:
        """Waits until the app answers (stopping it if it never does); leaving the block stops it."""
        try:
            self.wait()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


@pytest.fixture(scope="module")
def app_server(tmp_path_factory, request):
    checkpoint = None if MODEL_READY else request.getfixturevalue("tiny_checkpoint")
    with AppServer(tmp_path_factory.mktemp("app"), checkpoint) as server:
        yield server


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as err:
        return err.code, b""


def test_server_starts_without_gpu_network_or_spaces(app_server):
    status, body = _get(app_server.url)
    assert status == 200 and b"<html" in body.lower()
    assert "Traceback" not in app_server.output()


@pytest.mark.parametrize(
    "path",
    [
        "gradio_api/file=/etc/passwd",
        "gradio_api/file=../../../../etc/passwd",
        "gradio_api/file=%2Fetc%2Fpasswd",
        "gradio_api/file=app.py",
        "gradio_api/file=" + str(ROOT / "app.py"),
        "gradio_api/file=" + str(ROOT / "examples" / ".." / "app.py"),
        "gradio_api/file=examples/../../../../etc/passwd",
        "gradio_api/file=%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "gradio_api/file=%252e%252e/%252e%252e/%252e%252e/etc/passwd",
        "gradio_api/file=" + str(ROOT / "examples") + "/%2e%2e/app.py",
        "gradio_api/file=..%5c..%5c..%5c..%5cetc%5cpasswd",
        "file=../../etc/passwd",
        "file=/etc/passwd",
        "file=%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "gradio_api/file=" + str(ROOT / "assets" / "checkpoints"),
        "gradio_api/file=/proc/self/environ",
    ],
)
def test_no_file_outside_allowed_folders_is_served(app_server, path):
    status, body = _get(app_server.url + path)
    assert status in (403, 404), (path, status)
    assert b"root:" not in body and b"import gradio" not in body


def test_example_files_are_served(app_server):
    status, body = _get(app_server.url + "gradio_api/file=" + str(ROOT / "examples" / "welcome.phases.json"))
    assert status == 200 and b'"phases"' in body
