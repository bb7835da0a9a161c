"""The modality schedules (``models.alignment``): the named three unchanged, the paper's (ℓ/L)^γ family, bad names."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from conftest import speechlike

from actavatar.cli import main
from actavatar.defaults import SCHEDULES, check_schedule
from actavatar.errors import InputError
from actavatar.models.alignment import (
    GATE_HIGH,
    GATE_LOW,
    ModalitySchedule,
    ShareMeter,
    nominal_gates,
)
from actavatar.phases import Phase, PhasePlan
from actavatar.training.train import TrainConfig

STAGE2_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "motion_stage2.toml"


def _named_before_the_power_family(kind: str, num_layers: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``nominal_gates`` as it was before the power family was added (the reference the named three must keep)."""
    depth = torch.linspace(0.0, 1.0, num_layers) if num_layers > 1 else torch.zeros(1)
    falling, rising = 1.0 - 0.9 * depth, 0.1 + 0.9 * depth
    return {"progressive": (falling, rising), "reverse": (rising, falling)}.get(
        kind, (torch.full((num_layers,), 0.55), torch.full((num_layers,), 0.55))
    )


@pytest.mark.parametrize("num_layers", [1, 2, 8, 12])
@pytest.mark.parametrize("kind", SCHEDULES)
def test_named_schedules_are_unchanged(kind, num_layers):
    text, audio = nominal_gates(kind, num_layers)
    ref_text, ref_audio = _named_before_the_power_family(kind, num_layers)
    assert torch.equal(text, ref_text) and torch.equal(audio, ref_audio)


@pytest.mark.parametrize("gamma", [0.5, 1.0, 2.0, 3.7])
def test_power_schedule_is_the_papers_audio_strength(gamma):
    text, audio = nominal_gates(f"power:{gamma}", 8)
    layer = torch.arange(1, 9, dtype=torch.float32)
    torch.testing.assert_close(audio, GATE_LOW + (GATE_HIGH - GATE_LOW) * (layer / 8) ** gamma)
    torch.testing.assert_close(text + audio, torch.full((8,), GATE_LOW + GATE_HIGH))  # text is the complement
    assert (audio.diff() > 0).all() and (text.diff() < 0).all()  # early layers text, deep layers audio
    assert audio[-1] == pytest.approx(GATE_HIGH) and text[-1] == pytest.approx(GATE_LOW)
    assert GATE_LOW < audio[0] < GATE_HIGH  # (1/L)^γ > 0: the first layer hears some audio


def test_larger_gamma_keeps_audio_out_of_more_layers():
    audio = {g: nominal_gates(f"power:{g}", 8)[1] for g in (0.5, 1, 2)}
    assert (audio[0.5][:-1] > audio[1][:-1]).all() and (audio[1][:-1] > audio[2][:-1]).all()
    # power:1 is a linear ramp like progressive, but over ℓ/L, not (ℓ - 1)/(L - 1): its first layer is not 0.1.
    assert audio[1][0] == pytest.approx(0.1 + 0.9 / 8) and not torch.equal(
        audio[1], nominal_gates("progressive", 8)[1]
    )


@pytest.mark.parametrize(
    ("name", "canonical"),
    [("power:1", "power:1"), ("power:1.0", "power:1"), ("power:0.50", "power:0.5"), ("power:2", "power:2")],
)
def test_schedule_names_are_canonical(name, canonical):
    assert check_schedule(name) == canonical
    sched = ModalitySchedule(4, name)
    assert sched.kind == canonical
    sched.reset("uniform")
    assert sched.kind == "uniform"


@pytest.mark.parametrize(
    "bad", ["sideways", "power", "power:", "power:0", "power:-1", "power:nan", "power:inf", "pow:2"]
)
def test_bad_schedule_names_say_which_forms_exist(bad):
    with pytest.raises(InputError, match=r"progressive, uniform, reverse or power:<γ> with γ > 0"):
        check_schedule(bad)
    with pytest.raises(ValueError):  # InputError is a ValueError: callers that catch ValueError keep working
        nominal_gates(bad, 8)


def test_training_config_takes_power_schedules_and_refuses_bad_ones():
    assert TrainConfig(schedule="power:2.0").schedule == "power:2"
    assert TrainConfig.from_toml(STAGE2_CONFIG, schedule="power:0.5").schedule == "power:0.5"
    with pytest.raises(InputError, match="power:<γ>"):
        TrainConfig(schedule="power:-2")


def test_cli_refuses_a_bad_schedule_with_exit_code_2(capsys):
    assert main(["train", "--stage", "2", "--config", str(STAGE2_CONFIG), "--schedule", "power:x"]) == 2
    assert "power:<γ>" in capsys.readouterr().err
    assert main(["eval", "--schedule", "diagonal", "--clips", "1"]) == 2
    assert "Schedule 'diagonal' is unknown" in capsys.readouterr().err


def test_pipeline_runs_a_power_schedule(tiny_pipeline):
    plan = PhasePlan("a woman talking", (Phase(0.0, 1.0, "nods"),))
    out = tiny_pipeline(speechlike(2.0), plan, None, num_inference_steps=2, schedule="power:2")
    text, audio = nominal_gates("power:2", 3)
    assert out.layers["text_gate"] == pytest.approx(text.tolist(), abs=1e-5)
    assert out.layers["audio_gate"] == pytest.approx(audio.tolist(), abs=1e-5)


def test_share_meter_keeps_the_mean_and_its_spread_over_steps_and_frames():
    meter = ShareMeter(2)
    # Layer 0: text 3x audio on every frame of step 1; equal on step 2. Layer 1: frame 0 text only, frame 1 audio only.
    meter.add(torch.tensor([[3.0, 3.0], [1.0, 0.0]]), torch.tensor([[1.0, 1.0], [0.0, 1.0]]))
    meter.add(torch.tensor([[1.0, 1.0], [1.0, 0.0]]), torch.tensor([[1.0, 1.0], [0.0, 1.0]]))
    out = meter.shares()
    assert out["text_share"] == pytest.approx(
        [4 / 6, 0.5], abs=1e-5
    )  # frame-averaged norms summed over steps, as before
    assert out["text_norm"] == pytest.approx([2.0, 0.5]) and out["passes"] == 2
    assert out["text_share_step_p10"] == pytest.approx([0.5 + 0.1 * 0.25, 0.5])  # steps' shares 0.75 and 0.5
    assert out["text_share_step_p90"] == pytest.approx([0.5 + 0.9 * 0.25, 0.5])
    # Over (step, frame): layer 1's frames are 1 and 0, which its frame-averaged share (0.5) hides.
    assert out["text_share_p10"][1] == pytest.approx(0.0) and out["text_share_p90"][1] == pytest.approx(1.0)
    assert out["audio_share_p10"] == pytest.approx([1 - v for v in out["text_share_p90"]])
    assert out["share_spread"] == "steps x frames"


def test_share_meter_with_frame_means_spreads_over_steps():
    meter = ShareMeter(1)
    meter.add(torch.tensor([1.0]), torch.tensor([1.0]))
    meter.add(torch.tensor([3.0]), torch.tensor([1.0]))
    out = meter.shares()
    assert out["share_spread"] == "steps" and out["text_share_p10"] == out["text_share_step_p10"]
    assert out["text_share"] == pytest.approx([4 / 6], abs=1e-5)


def test_pipeline_report_keeps_its_keys_and_adds_the_spread(tiny_pipeline):
    plan = PhasePlan("a woman talking", (Phase(0.0, 1.0, "nods"),))
    layers = tiny_pipeline(speechlike(2.0), plan, None, num_inference_steps=3).layers
    assert {"text_gate", "audio_gate", "text_share", "audio_share", "text_norm", "audio_norm"} <= set(layers)
    assert layers["share_spread"] == "steps x frames" and layers["passes"] == 3
    for low, mid, high in zip(
        layers["text_share_p10"], layers["text_share_p50"], layers["text_share_p90"], strict=True
    ):
        assert 0 <= low <= mid <= high <= 1
