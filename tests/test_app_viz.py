"""The report plots the app shows (``actavatar.viz``): they draw what the report says, and user text stays text."""

from __future__ import annotations

import io

import numpy as np
import pytest
from matplotlib.text import Text

from actavatar.viz import depth_trend, phase_time_figure, schedule_figure, schedule_title, short

NAMES = ["head_pitch", "head_yaw", "smile", "jaw_open", "blink_left"]
TRICKY = r"costs $5 and $x^2$ \alpha <img src=x onerror=alert(1)>"


def make_report(num_frames: int = 150, fps: int = 25, num_layers: int = 6) -> dict:
    rng = np.random.default_rng(0)
    values = np.zeros((num_frames, len(NAMES)))
    values[:62, 0] = np.sin(np.arange(62) / 3)  # a nod in phase 1
    values[75:, 2] = 0.8  # a smile in phase 2
    gate = np.linspace(0.9, 0.1, num_layers)
    return {
        "fps": fps,
        "num_frames": num_frames,
        "duration_s": num_frames / fps,
        "seed": 0,
        "motion": {"names": NAMES, "values": values.tolist()},
        "layers": {
            "text_gate": gate.tolist(),
            "audio_gate": (1 - gate).tolist(),
            "text_share": (gate * 0.9).tolist(),
            "audio_share": (1 - gate * 0.9).tolist(),
        },
        "phases": [{"start": 0.0, "end": 2.5, "text": TRICKY}, {"start": 3.0, "end": 6.0, "text": "smiles"}],
        "phase_attention": rng.uniform(0, 1, (num_frames, 2)).tolist(),
    }


def texts(fig) -> list[str]:
    return [t.get_text() for t in fig.findobj(Text) if t.get_text()]


def render(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")  # mathtext would raise on "$x^2$ \alpha" halves or render it as maths
    return buf.getvalue()


def test_schedule_plot_has_one_line_per_series_over_the_layers():
    report = make_report(num_layers=6)
    fig = schedule_figure(report)
    (ax,) = fig.axes
    assert len(ax.lines) == 4
    for line, key in zip(ax.lines, ["text_gate", "audio_gate", "text_share", "audio_share"], strict=True):
        assert list(line.get_xdata()) == [1, 2, 3, 4, 5, 6]
        assert np.allclose(line.get_ydata(), report["layers"][key])
    assert render(fig).startswith(b"\x89PNG")


def test_schedule_plot_draws_the_measured_spread_as_bands():
    report = make_report(num_layers=6)
    share = np.asarray(report["layers"]["text_share"])
    report["layers"].update(
        text_share_p10=(share - 0.1).tolist(), text_share_p90=(share + 0.1).tolist(),
        audio_share_p10=(0.9 - share).tolist(), audio_share_p90=(1.1 - share).tolist(),
        share_spread="steps x frames",
    )  # fmt: skip
    (ax,) = schedule_figure(report).axes
    assert len(ax.lines) == 4 and len(ax.collections) == 2  # the four series and one band per modality
    text_band = ax.collections[0].get_paths()[0].vertices
    assert text_band[:, 1].min() == pytest.approx(share.min() - 0.1) and text_band[:, 1].max() == pytest.approx(
        share.max() + 0.1
    )
    assert any("10–90 % (steps x frames)" in t for t in texts(ax.get_legend()))


def test_depth_trend_says_falls_only_when_the_slope_is_clearly_negative():
    assert depth_trend([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])["verdict"] == "falls"
    assert depth_trend([0.2, 0.3, 0.4, 0.5])["verdict"] == "rises"
    zigzag = depth_trend([0.83, 0.69, 0.63, 0.65, 0.37, 0.78, 0.58, 0.35])  # the measured shares of issue 25
    assert zigzag["slope"] < 0 and zigzag["low"] < 0 < zigzag["high"] and zigzag["verdict"] == "unclear"
    assert depth_trend([0.5, 0.4])["verdict"] == "unclear"  # two points: no interval


@pytest.mark.parametrize(
    ("share", "title"),
    [
        ([0.9, 0.75, 0.6, 0.45, 0.3, 0.15], "Measured text share falls with depth"),
        ([0.83, 0.69, 0.63, 0.65, 0.37, 0.78, 0.58, 0.35], "No clear depth trend in the measured text share"),
        ([0.1, 0.3, 0.5, 0.7], "Measured text share rises with depth"),
    ],
)
def test_schedule_title_states_what_the_measured_shares_show(share, title):
    report = make_report(num_layers=len(share))
    report["layers"]["text_share"] = share
    drawn = schedule_figure(report).axes[0].get_title()
    assert drawn.startswith(title) and drawn == schedule_title(report["layers"])
    assert "text early" not in drawn and "slope" in drawn


def test_phase_time_plot_shades_each_phase_and_shows_attention():
    report = make_report()
    fig = phase_time_figure(report)
    top, bottom = fig.axes
    assert len(top.patches) == 2 and len(bottom.patches) == 2  # one band per phase in each panel
    spans = sorted((p.get_x(), p.get_x() + p.get_width()) for p in top.patches)
    assert spans == [(0.0, 2.5), (3.0, 6.0)]
    assert {line.get_label() for line in top.lines} >= {"head_pitch", "smile"}  # the curves that move
    assert len(bottom.lines) == 2
    assert render(fig).startswith(b"\x89PNG")


def test_phase_time_plot_without_attention_has_one_panel():
    report = make_report()
    del report["phase_attention"]
    assert len(phase_time_figure(report).axes) == 1


@pytest.mark.parametrize("fig_fn", [schedule_figure, phase_time_figure])
def test_user_text_is_drawn_literally(fig_fn):
    fig = fig_fn(make_report())
    assert all(not t.get_parse_math() for t in fig.findobj(Text))
    render(fig)
    if fig_fn is phase_time_figure:
        assert any(t.startswith("1. " + short(TRICKY, 24)[:10]) for t in texts(fig))
