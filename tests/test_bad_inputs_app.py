"""Every bad or unusual input of issue 7 through the app: ``gradio_client`` against one real ``python app.py``
server per module. A rejected input reaches the client as the library's one-line message (a ``gr.Error``); an
accepted one produces a video and a report; markup in user text stays literal text in the report and the plots.
"""

from __future__ import annotations

import json
import re
import urllib.request
from pathlib import Path

import gradio as gr
import pytest
from bad_inputs import (
    CASE_NAMES,
    HOPPER,
    check_accepted,
)
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from matplotlib.text import Text

import app
from actavatar.viz import phase_time_figure, schedule_figure, short

try:  # the shared server fixture
    from tests.test_app_server import app_server  # noqa: F401
except ImportError:
    from test_app_server import app_server  # noqa: F401

SIZE = 256  # the app's smallest video size
API_CASES = [n for n in CASE_NAMES if not n.startswith("plan-")]  # plan files enter through Import, not the API
PLAN_FILE_CASES = [n for n in CASE_NAMES if n.startswith("plan-")]
# Decoder and exception names mean nothing to a user: messages say what the file is and what to upload instead.
JARGON = re.compile(r"\b\w+(Error|Exception)\b|Invalid data found|errno|ffmpeg|PIL\b")
XSS = ["<script>alert(1)</script>", "<img src=x onerror=alert(2)>", '"><svg onload=alert(3)>']


@pytest.fixture(scope="module")
def client(app_server):
    return Client(app_server.url, verbose=False)


def table(phases) -> dict:
    return {"headers": ["start", "end", "text"], "data": [list(p) for p in phases or []], "metadata": None}


def generate(client, portrait: Path, audio: Path, phases, prompt: str = "a person talking", **settings):
    video, schedule_plot, phase_plot, report_path = client.predict(
        portrait=handle_file(str(portrait)),
        audio=handle_file(str(audio)),
        prompt=prompt,
        phases=table(phases),
        steps=2,
        size=SIZE,
        api_name="/generate",
        **settings,
    )
    video = Path(video["video"] if isinstance(video, dict) else video)
    return video, json.loads(Path(report_path).read_text(encoding="utf-8")), (schedule_plot, phase_plot)


@pytest.mark.parametrize("name", API_CASES)
def test_app(client, catalogue, name):
    _, cases, speech = catalogue
    case = cases[name]
    args = (case.portrait or HOPPER, case.audio or speech, case.phases, case.extra.get("prompt", "a person talking"))
    if case.needle is None:
        video, report, plots = generate(client, *args)
        check_accepted(case, report, video)
        assert all(p["type"] == "matplotlib" and p["plot"].startswith("data:image/") for p in plots)
        return
    with pytest.raises(AppError) as err:
        generate(client, *args)
    message = str(err.value)
    assert re.search(case.needle, message), message
    assert "Traceback" not in message and 'File "' not in message and "\n" not in message.strip()
    assert not JARGON.search(message), message


@pytest.mark.parametrize("name", PLAN_FILE_CASES)
def test_app_plan_import(catalogue, name):
    case = catalogue[1][name]
    with pytest.raises(gr.Error) as err:
        app.on_import(str(case.plan_file), "", None)
    assert re.search(case.needle, err.value.message), err.value.message


def test_markup_in_user_text_stays_text_in_the_report_and_plots(client, catalogue):
    _, _, speech = catalogue
    phases = [(0.0, 0.6, XSS[0]), (0.7, 1.2, XSS[1]), (1.3, 1.9, XSS[2])]
    video, report, _ = generate(client, HOPPER, speech, phases, prompt=" ".join(XSS))
    assert [p["text"] for p in report["phases"]] == XSS and report["base"] == " ".join(XSS)  # verbatim, unescaped
    drawn = [t.get_text() for fig in (schedule_figure(report), phase_time_figure(report)) for t in fig.findobj(Text)]
    for k, payload in enumerate(XSS):
        label = f"{k + 1}. {short(payload, 24)}"  # phase labels are cut at 24 characters, never escaped
        assert label in drawn, (label, drawn)
    assert f"3. {XSS[2]}" in drawn  # short enough to be drawn whole
    assert not any("&lt;" in t or "&gt;" in t or "&quot;" in t for t in drawn)


def test_server_paths_are_not_accepted_as_uploads(app_server):
    """A client cannot make the app read a server file by naming it instead of uploading it."""
    file_data = {"path": "/etc/passwd", "meta": {"_type": "gradio.FileData"}}
    data = [file_data, file_data, "x", table([]), 2, 0, 25, SIZE, 2.0, 1.5, "hard", "trained"]
    req = urllib.request.Request(
        app_server.url + "gradio_api/call/generate",
        data=json.dumps({"data": data}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        event_id = json.loads(r.read())["event_id"]
    with urllib.request.urlopen(f"{app_server.url}gradio_api/call/generate/{event_id}", timeout=60) as r:
        stream = r.read().decode()
    assert "event: error" in stream and "root:" not in stream


def test_rejected_inputs_log_one_line_and_no_traceback(client, app_server, catalogue):
    """An ordinary user error is expected: the server console gets one line for it, never a traceback."""
    _, cases, speech = catalogue
    before = len(app_server.output())
    rejected = ["portrait-not-an-image", "audio-corrupt", "phases-overlap"]
    for name in rejected:
        case = cases[name]
        with pytest.raises(AppError):
            generate(client, case.portrait or HOPPER, case.audio or speech, case.phases)
    log = app_server.output()[before:]
    assert "Traceback" not in log and 'File "' not in log, log
    lines = [line for line in log.splitlines() if "rejected input:" in line]
    assert len(lines) == len(rejected), log
    for line, name in zip(lines, rejected, strict=True):
        assert re.search(cases[name].needle, line), (name, line)


def test_unexpected_errors_still_log_their_traceback(caplog):
    with caplog.at_level("INFO", logger="actavatar.app"):
        failure = app._user_error(RuntimeError("a bug"))
        rejection = app._user_error(app.InputError("Audio is silent: upload a clip with audible speech."))
    assert failure.print_exception is False and rejection.print_exception is False  # each logged once, by us
    bug, user = caplog.records
    assert bug.levelname == "ERROR" and bug.exc_info and bug.exc_info[0] is RuntimeError
    assert user.levelname == "INFO" and user.exc_info is None and "Audio is silent" in user.getMessage()
