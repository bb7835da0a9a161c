"""The one home of modes, defaults and range checks (``actavatar.defaults``): torch-free, shared by every entry."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from actavatar import defaults
from actavatar.errors import InputError


def test_importing_defaults_loads_no_torch():
    code = "import sys, actavatar.defaults; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"fps": 0}, "fps 0 is out of range: use 1 to 60 (25 is standard)."),
        ({"size": 32}, "size 32 is out of range"),
        ({"steps": 0}, f"steps 0 is out of range: use 1 to 200 ({defaults.STEPS} is the default)."),
        ({"steps": 201, "tier": "video"}, f"({defaults.VIDEO_STEPS} is the default)"),
        ({"text_guidance": 11.0}, "text guidance 11.0 is out of range"),
        ({"audio_guidance": -1.0}, "audio guidance -1.0 is out of range"),
        ({"guidance_min_sigma": 2.0}, "guidance_min_sigma 2.0 is out of range"),
        ({"paca": "hrad"}, "PACA mode 'hrad' is unknown: use one of hard, soft, off."),
        ({"schedule": "random"}, "Schedule 'random' is unknown"),
    ],
)
def test_range_checks(options, message):
    with pytest.raises(InputError) as err:
        defaults.check_options(**options)
    assert message in str(err.value)


def test_range_checks_pass_defaults_and_unset_options():
    for tier, sampling in defaults.SAMPLING.items():
        defaults.check_options(tier=tier, fps=defaults.FPS, size=defaults.SIZE, **vars(sampling))
    defaults.check_options()


def test_sampling_arguments_declared_once_for_both_clis():
    per_tier, motion = argparse.ArgumentParser(), argparse.ArgumentParser()
    defaults.add_sampling_arguments(per_tier, per_tier=True)
    defaults.add_sampling_arguments(motion)
    unset = per_tier.parse_args([])
    assert (unset.steps, unset.text_guidance, unset.audio_guidance) == (None, None, None)  # the tier decides
    args = motion.parse_args(["--no-mirror-sampling", "--paca", "soft"])
    assert (args.steps, args.text_guidance, args.audio_guidance) == tuple(vars(defaults.SAMPLING["motion"]).values())
    assert args.mirror_sampling is False and args.paca == "soft" and args.guidance_min_sigma == 0.3
