"""The app through its public API (``gradio_client`` against ``python app.py``) and its UI adapters.

Bad input must come back as the library's one-line message (a ``gr.Error``), never as a traceback.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

import app
from actavatar.phases import PhasePlan

try:  # fixtures shared with the browser tests
    from tests.test_app_server import ROOT, app_server  # noqa: F401
except ImportError:
    from test_app_server import ROOT, app_server  # noqa: F401

EXAMPLES = ROOT / "examples"
PORTRAIT = EXAMPLES / "portraits" / "astronaut.jpg"
AUDIO = EXAMPLES / "orbit.wav"
HEADERS = ["start", "end", "text"]


def table(*rows) -> dict:
    return {"headers": HEADERS, "data": [list(r) for r in rows], "metadata": None}


@pytest.fixture(scope="module")
def client(app_server):
    return Client(app_server.url, verbose=False)


def predict(client, *, portrait=PORTRAIT, audio=AUDIO, prompt="an astronaut", phases=None, **settings):
    return client.predict(
        portrait=handle_file(str(portrait)) if portrait else None,
        audio=handle_file(str(audio)) if audio else None,
        prompt=prompt,
        phases=phases or table(),
        api_name="/generate",
        **settings,
    )


# ------------------------------------------------------------------------------------------------- public API
def test_only_generate_is_public(client):
    info = client.view_api(return_format="dict", print_info=False)
    assert list(info["named_endpoints"]) == ["/generate"]
    params = [p["parameter_name"] for p in info["named_endpoints"]["/generate"]["parameters"]]
    assert params[:4] == ["portrait", "audio", "prompt", "phases"]
    assert {"steps", "seed", "fps", "size", "text_guidance", "audio_guidance", "paca", "schedule"} <= set(params)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"portrait": None}, "Upload a portrait"),
        ({"audio": None}, "Upload or record a speech clip"),
        ({"phases": table([0, 2, "nods"], [1.5, 3, "smiles"])}, "overlaps"),
        ({"phases": table([1, 9, "nods"])}, "ends after the audio ends"),
        ({"phases": table([3, 1, "nods"])}, "ends at or before its start"),
        ({"phases": table([0, 2, ""])}, "has no action text"),
        ({"phases": table(["soon", 2, "nods"])}, "give a number of seconds"),
        ({"phases": table([0, 2, "x" * 600])}, "shorten it"),
        ({"audio": EXAMPLES / "welcome.phases.json"}, "audio"),
    ],
)
def test_bad_input_is_one_line_gr_error(client, kwargs, message):
    with pytest.raises(AppError) as err:
        predict(client, **kwargs)
    text = str(err.value)
    assert message.lower() in text.lower()
    assert "Traceback" not in text and 'File "' not in text and "\n" not in text.strip()


def test_silent_audio_is_rejected(client, tmp_path):
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(16000 * 2, dtype=np.float32), 16000)
    with pytest.raises(AppError, match="silent"):
        predict(client, audio=silent)


def test_generate_end_to_end(client):
    plan = PhasePlan.load(EXAMPLES / "orbit.phases.json")
    rows = [[p.start, p.end, p.text] for p in plan.phases]
    job = client.submit(
        portrait=handle_file(str(PORTRAIT)),
        audio=handle_file(str(AUDIO)),
        prompt=plan.base,
        phases=table(*rows),
        steps=4,
        seed=3,
        api_name="/generate",
    )
    seen: list[str] = []
    while not job.done():
        for unit in job.status().progress_data or []:
            if unit.desc and (not seen or seen[-1] != unit.desc):
                seen.append(unit.desc)
        time.sleep(0.02)
    video, schedule_plot, phase_plot, report_path = job.result()
    stages = {desc.split(" ")[0].rstrip(":") for desc in seen}
    assert {"Denoising", "Rendering"} <= stages, seen  # gr.Progress names the stages
    # 6.3 s at 25 fps is two windows of 4 denoising steps each: counted as a person reads it, never "step 5/8".
    # (Once the first frames render, the bar follows rendering: the later windows finish meanwhile.)
    denoising = [d for d in seen if d.startswith("Denoising")]
    # (The client's status is polled, so a loaded machine can skip some steps: every label seen is checked; the exact
    # sequence is test_streaming's.)
    assert denoising and all(re.fullmatch(r"Denoising: window [12]/2, step [1-4]/4", d) for d in denoising), denoising
    assert all(d == "Loading the model (first run only)" for d in seen if d.startswith("Loading")), seen
    video_path = Path(video["video"] if isinstance(video, dict) else video)
    assert video_path.stat().st_size > 10_000 and video_path.suffix == ".mp4"
    report = json.loads(Path(report_path).read_text())
    assert report["seed"] == 3 and report["phases"] == [p.to_dict() for p in plan.phases]
    assert report["settings"]["mirror_sampling"] is True  # the app default, as everywhere
    assert {"text_gate", "audio_gate", "text_share", "audio_share"} <= set(report["layers"])
    for plot in (schedule_plot, phase_plot):
        assert plot["type"] == "matplotlib" and plot["plot"].startswith("data:image/")


# ------------------------------------------------------------------------------------------- UI adapters
def test_waveform_peaks_and_duration():
    wave = app.waveform(str(AUDIO))
    seconds = sf.info(str(AUDIO)).duration
    assert wave["duration"] == pytest.approx(seconds, abs=0.01)
    peaks = np.asarray(wave["peaks"])
    assert len(peaks) == int(np.ceil(seconds * app.PEAKS_PER_SECOND))
    assert np.abs(peaks).max() == pytest.approx(1.0) and (peaks < 0).any()


def test_table_rows_to_editor_phases_skip_rows_being_typed():
    rows = [[0, 2, "nods"], [None, None, None], [3, "", "half typed"], [4, 5.5, ""], ["x", 2, "bad"]]
    phases, notes = app.editor_phases_from_rows(rows)
    assert phases == [{"start": 0.0, "end": 2.0, "text": "nods"}, {"start": 4.0, "end": 5.5, "text": ""}]
    assert len(notes) == 2 and notes[0].startswith("Row 3") and notes[1].startswith("Row 5")


def test_editor_event_data_is_sanitised():
    data = {
        "phases": [
            {"start": "2", "end": 3, "text": "smiles\u202e\x00 <b>x</b>"},
            {"start": 0, "end": 1, "text": 5},
            {"start": "nan", "end": 1, "text": "bad"},
            {"end": 1},
            "junk",
        ]
    }
    assert app.on_editor_edit(type("E", (), {"_data": data})()) == [[0.0, 1.0, ""], [2.0, 3.0, "smiles <b>x</b>"]]
    assert app.on_editor_edit(type("E", (), {"_data": None})()) == []


def test_export_writes_json_and_srt_that_import_back():
    json_path, srt_path = app.export_plan([[2.5, 6, "smiles"], [0, 2.5, "nods twice"]], "a woman")
    plan = PhasePlan.load(json_path)
    assert plan.base == "a woman" and [p.text for p in plan.phases] == ["nods twice", "smiles"]
    assert PhasePlan.load(srt_path).phases == plan.phases


def test_examples_are_complete():
    rows = app.examples_table()
    assert len(rows) >= 4
    for portrait, audio, prompt, plan_path in rows:
        plan = PhasePlan.load(plan_path)
        assert Path(portrait).is_file() and prompt == plan.base and plan.phases
        plan.validate(sf.info(audio).duration)
        assert sf.info(audio).samplerate == 16000


def test_upload_size_is_limited_by_the_server(app_server, tmp_path):
    import httpx

    huge = tmp_path / "huge.wav"
    sf.write(huge, np.random.default_rng(0).uniform(-0.5, 0.5, 16000 * 60 * 20).astype(np.float32), 16000)
    assert huge.stat().st_size > 30 * 2**20
    with huge.open("rb") as f:  # straight to the upload route: the server itself must refuse it
        r = httpx.post(app_server.url + "gradio_api/upload", files={"files": ("huge.wav", f)}, timeout=60)
    assert r.status_code == 413 and "maximum allowed size" in r.text


def test_import_srt_clips_to_the_audio_and_keeps_the_prompt(tmp_path):
    srt = tmp_path / "plan.srt"
    srt.write_text("1\n00:00:00,000 --> 00:00:02,500\nnods twice\n\n2\n00:00:05,000 --> 00:00:09,000\nsmiles\n")
    wave = app.waveform(str(AUDIO))  # 6.3 s
    editor, rows, prompt = app.on_import(str(srt), "an astronaut", wave)
    assert rows[0] == [0.0, 2.5, "nods twice"] and rows[1][::2] == [5.0, "smiles"]
    assert rows[1][1] == pytest.approx(wave["duration"], abs=1e-3)  # trimmed to the end of the clip
    assert editor["phases"][1]["end"] == pytest.approx(wave["duration"]) and editor["audio"]["path"] == str(AUDIO)
    assert prompt == "an astronaut"
