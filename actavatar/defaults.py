"""Modes, inference defaults and range checks of both tiers, in one torch-free place: the pipelines, the API, both
CLIs (``add_sampling_arguments``) and the app read them from here."""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass

from .errors import InputError

TIERS = ("motion", "video")
PACA_MODES = ("hard", "soft", "off")  # phase-aware cross-attention masks (models/paca.py)
SCHEDULES = ("progressive", "uniform", "reverse")  # modality schedules of the text/audio gates (models/alignment.py)
POWER_PREFIX = "power:"  # and the paper's family of audio strengths, power:<γ> (models/alignment.py)
SCHEDULE_FORMS = "progressive, uniform, reverse or power:<γ> with γ > 0 (e.g. power:0.5, power:1, power:2)"
FPS = 25
SIZE = 512  # longest side of the video in pixels

# 6 Euler steps and no audio guidance (audio guidance 1.0: two guidance branches instead of three), from rendered
# pixels on the shipped model (96 clips per split, text guidance 2.5), against 10 steps with audio guidance 1.5:
#   held-out 81.2 % vs 82.0 %, training phrasings 92.2 % vs 91.8 %, lip r 0.60 / 0.56 vs 0.59 / 0.56, mouth closed
#   on silence 98 / 96 % vs 99 / 98 %, still-phase jitter 0.10 vs 0.07 degrees;
# 10 model evaluations per window instead of 24, the largest cut in the end-to-end time
# (docs/EXPERIMENTS.md, 6 steps without audio guidance).
STEPS = 6
# Text guidance 2.5, chosen from rendered pixels (96 clips per split, the shipped model, 10 steps, audio guidance 1.5):
#   2.5: held-out 82.0 %, training phrasings 91.8 %, lip r 0.59 / 0.56, action size 1.16x / 1.39x the ground truth
#   3.5: held-out 83.3 %, training phrasings 91.8 %, lip r 0.56 / 0.52, action size 1.30x / 1.58x
# Guidance multiplies the text-driven motion: at 4.5 a "tilts her head" tilted 2-3x as far as any training tilt
# (30 degrees, the clip limit) and turns hit the 40 degree limit, which the renderer cannot draw cleanly and the
# tracker reads worse (the previous weights from pixels on training phrasings: 89.6 % at 4.5, 93.5 % at 2.5).
TEXT_GUIDANCE = 2.5
AUDIO_GUIDANCE = 1.0
# Classifier-free guidance only on steps whose noise level sigma is at least this; the steps below run the fully
# conditioned branch alone (0 = guide every step). At 6 steps that is 4 guided steps and 2 single-branch ones (at 10
# steps 7 and 3: 24 instead of 30 model evaluations per window with audio guidance). From rendered pixels on one
# model of the shipped recipe (24 clips per split, 10 steps): phase accuracy identical (held-out 69.6 %, training
# phrasings 93.3 % both ways), lip sync 0.55 vs 0.52 (held-out) and 0.46 vs 0.45, onset 93 vs 97 ms and 84 vs 94 ms.
# Guidance shapes the motion while the noise is high; the last steps only refine it (cf. Kynkaanniemi et al. 2024,
# "Applying guidance in a limited interval").
GUIDANCE_MIN_SIGMA = 0.3
# The first generation window is shorter than the others (100 frames, 4 s at 25 fps, instead of 200): its frames are
# final, and start rendering and encoding, after half the diffusion work of a full window. Same total work for a
# 10 s clip (100 + 175 frames instead of 200 + 75); phase accuracy of the generated motion unchanged (0.914 vs
# 0.916 over 371 phases on training phrasings).
FIRST_WINDOW_FRAMES = 100
# Mirror sampling (``ActAvatarMotionPipeline.__call__(mirror_sampling=...)``): on the guided steps of windows whose
# texts name a side, also denoise the mirror image under the mirrored plan ("left" <-> "right") and weigh the two
# views by their text effect. From rendered pixels (shipped weights, 96 clips per split, default settings):
#   on:  held-out 89.1 %, training phrasings 96.1 % (tilting left 11/14, turning left 19/22 held-out phases)
#   off: held-out 82.8 %, training phrasings 95.2 % (tilting left 4/14, turning left 12/22)
# Lip sync, onset, leakage and mouth closure unchanged; 10 s clip with sided phases 0.84 s end to end vs 0.78 s.
MIRROR_SAMPLING = True


# The video tier (Wan I2V + ActAvatar adapters, docs/VIDEO_TIER.md): its own sampling defaults and windows.
VIDEO_STEPS = 30
VIDEO_TEXT_GUIDANCE = 2.0
VIDEO_AUDIO_GUIDANCE = 1.5
VIDEO_WINDOW_FRAMES = 81  # video frames per window (4k + 1)
VIDEO_OVERLAP_FRAMES = 5  # known frames per window after the first (4m - 3)


@dataclass(frozen=True)
class Sampling:
    """The sampling defaults of one tier."""

    steps: int
    text_guidance: float
    audio_guidance: float


SAMPLING = {
    "motion": Sampling(STEPS, TEXT_GUIDANCE, AUDIO_GUIDANCE),
    "video": Sampling(VIDEO_STEPS, VIDEO_TEXT_GUIDANCE, VIDEO_AUDIO_GUIDANCE),
}

# Valid ranges (inclusive) of the options every entry point takes.
FPS_RANGE = (1, 60)
SIZE_RANGE = (64, 2048)
STEPS_RANGE = (1, 200)
GUIDANCE_RANGE = (0.0, 10.0)
GUIDANCE_MIN_SIGMA_RANGE = (0.0, 1.0)


def check_options(
    *,
    tier: str = "motion",
    fps: float | None = None,
    size: int | None = None,
    steps: int | None = None,
    text_guidance: float | None = None,
    audio_guidance: float | None = None,
    guidance_min_sigma: float | None = None,
    paca: str | None = None,
    schedule: str | None = None,
) -> None:
    """Raise ``InputError`` for the first given option out of its range (``None``: not checked)."""

    def outside(value, bounds) -> bool:
        return value is not None and not (bounds[0] <= value <= bounds[1])

    if outside(fps, FPS_RANGE):
        raise InputError(f"fps {fps} is out of range: use 1 to 60 ({FPS} is standard).")
    if outside(size, SIZE_RANGE):
        raise InputError(f"size {size} is out of range: use 64 to 2048 pixels for the longest side.")
    if outside(steps, STEPS_RANGE):
        raise InputError(f"steps {steps} is out of range: use 1 to 200 ({SAMPLING[tier].steps} is the default).")
    for name, g in (("text guidance", text_guidance), ("audio guidance", audio_guidance)):
        if outside(g, GUIDANCE_RANGE):
            raise InputError(f"{name} {g} is out of range: use 0 to 10 (1 = no guidance).")
    if outside(guidance_min_sigma, GUIDANCE_MIN_SIGMA_RANGE):
        raise InputError(
            f"guidance_min_sigma {guidance_min_sigma} is out of range: use 0 (guide every step) to 1 "
            f"({GUIDANCE_MIN_SIGMA} is the default)."
        )
    if paca is not None and paca not in PACA_MODES:
        raise InputError(f"PACA mode {paca!r} is unknown: use one of {', '.join(PACA_MODES)}.")
    if schedule is not None:
        check_schedule(schedule)


def check_schedule(kind: str) -> str:
    """The canonical name of a schedule (``"power:1.0"`` -> ``"power:1"``); a clear ``InputError`` otherwise."""
    if kind in SCHEDULES:
        return kind
    if isinstance(kind, str) and kind.startswith(POWER_PREFIX):
        try:
            gamma = float(kind[len(POWER_PREFIX) :])
        except ValueError:
            gamma = math.nan
        if math.isfinite(gamma) and gamma > 0:
            return f"{POWER_PREFIX}{gamma:g}"
    raise InputError(f"Schedule {kind!r} is unknown: use {SCHEDULE_FORMS}.")


def add_sampling_arguments(parser: argparse.ArgumentParser, *, per_tier: bool = False) -> None:
    """--steps, --text-guidance, --audio-guidance, --guidance-min-sigma, --mirror-sampling, --paca and --schedule,
    declared once for ``python -m actavatar generate`` and ``eval``. ``per_tier``: steps and guidance default to
    None, so that ``api.generate`` takes the chosen tier's defaults; else the motion tier's."""
    motion, video = SAMPLING["motion"], SAMPLING["video"]
    for flag, kind, name, what in (
        ("--steps", int, "steps", "denoising steps"),
        ("--text-guidance", float, "text_guidance", "classifier-free guidance weight of the phase texts"),
        ("--audio-guidance", float, "audio_guidance", "classifier-free guidance weight of the audio"),
    ):
        value = getattr(motion, name)
        said = f"{value:g} (motion tier), {getattr(video, name):g} (video tier)" if per_tier else f"{value:g}"
        parser.add_argument(flag, type=kind, default=None if per_tier else value, help=f"{what} (default: {said})")
    parser.add_argument(
        "--guidance-min-sigma",
        type=float,
        default=GUIDANCE_MIN_SIGMA,
        help=f"steps below this noise level skip guidance (0 = guide every step; default: {GUIDANCE_MIN_SIGMA:g})",
    )
    parser.add_argument(
        "--mirror-sampling",
        action=argparse.BooleanOptionalAction,
        default=MIRROR_SAMPLING,
        help="where a phase names a side, also denoise the mirror image with left/right swapped (default: on)",
    )
    parser.add_argument("--paca", choices=PACA_MODES, help="PACA mask (default: the checkpoint's trained mode)")
    parser.add_argument(
        "--schedule", help=f"force a modality schedule: {SCHEDULE_FORMS} (default: the checkpoint's learned gates)"
    )
