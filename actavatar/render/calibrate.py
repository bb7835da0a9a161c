"""Per-parameter gain calibration of ``extract_motion`` on this renderer's own output.

Why: with the renderer's exact landmarks, ``motion_from_landmarks`` recovers every parameter at gain 1.0. On rendered
video, though, mediapipe's landmarks follow the image warp only partly (eyelids that are painted shut still read as
half open, the iris landmark lags the shifted iris, a nod or smile moves the mesh less than the pixels), so the
extracted motion is well correlated with the rendered one but systematically too small. This module measures that
under-reading and stores one gain per parameter (extracted / rendered, the median over portraits, amplitudes and
signs); ``extract_motion`` divides each channel by its gain so extracted motion comes out in true motion units.

How it is measured: for every portrait in ``examples/portraits``, at 384 px, one video is rendered holding each
parameter alone at two amplitudes (both signs for signed parameters), separated by neutral frames; it is written
with ``write_video`` at 25 fps and read back with ``extract_motion(..., calibrated=False)``; the median over the
middle of each hold divided by the rendered value is one gain sample. Gains are clipped to [0.2, 1.5]. A parameter
whose sign the extractor does not reliably recover (fewer than 80% of samples with the rendered sign) is not
measurable by this instrument: a gain would only amplify noise, so it keeps gain 1.0 and is listed as unreliable.

Re-run it (after changing the renderer, the extractor or the mediapipe version) with::

    OMP_NUM_THREADS=1 python -m actavatar.render.calibrate

which rewrites ``actavatar/render/extract_calibration.json``. It takes a few minutes on one CPU core.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

from ..motion import MOTION_DIM, MOTION_INDEX, MOTION_NAMES

CALIBRATION_PATH = Path(__file__).with_name("extract_calibration.json")
PORTRAIT_DIR = Path(__file__).resolve().parents[2] / "examples" / "portraits"
SIZE = 384
FPS = 25.0
LEAD_IN = 8  # neutral frames first: the extractor's neutral reference
HOLD = 12  # frames each step is held
GAP = 5  # neutral frames between steps
EDGE = 3  # frames at each end of a hold left out of the median (ramp-in of the smoothing / fit warm start)
GAIN_RANGE = (0.2, 1.5)
MIN_SIGN_AGREEMENT = 0.8  # a parameter read with the right sign on fewer samples than this cannot be calibrated
COMMAND = "OMP_NUM_THREADS=1 python -m actavatar.render.calibrate"

# Two amplitudes per parameter; signed parameters are also measured at the negative of each.
AMPLITUDES: dict[str, tuple[float, float]] = {
    "head_pitch": (5.0, 10.0),
    "head_yaw": (8.0, 16.0),
    "head_roll": (5.0, 10.0),
    "head_tx": (0.03, 0.06),
    "head_ty": (0.03, 0.06),
    "head_scale": (0.05, 0.1),
    "jaw_open": (0.3, 0.6),
    "smile": (0.4, 0.8),
    "lip_pucker": (0.4, 0.8),
    "blink_left": (0.5, 0.9),
    "blink_right": (0.5, 0.9),
    "brow_raise": (0.4, 0.8),
    "gaze_x": (0.4, 0.8),
    "gaze_y": (0.4, 0.8),
}
SIGNED = {"head_pitch", "head_yaw", "head_roll", "head_tx", "head_ty", "head_scale", "smile", "brow_raise",
          "gaze_x", "gaze_y"}  # fmt: skip


def calibration_steps() -> list[tuple[str, float]]:
    """(parameter, held value) for every step of the calibration video."""
    steps = []
    for name in MOTION_NAMES:
        for a in AMPLITUDES[name]:
            steps.append((name, a))
            if name in SIGNED:
                steps.append((name, -a))
    return steps


def calibration_motion(steps: list[tuple[str, float]]) -> tuple[np.ndarray, list[slice]]:
    """The (T, 14) motion holding each step in turn, and the frames of each hold that are measured."""
    n = LEAD_IN + len(steps) * (HOLD + GAP)
    motion = np.zeros((n, MOTION_DIM), np.float32)
    windows = []
    t = LEAD_IN
    for name, value in steps:
        motion[t : t + HOLD, MOTION_INDEX[name]] = value
        windows.append(slice(t + EDGE, t + HOLD - EDGE))
        t += HOLD + GAP
    return motion, windows


def measure_portrait(path: Path, workdir: Path) -> list[tuple[str, float, float]]:
    """(parameter, rendered value, extracted median) for every step on one portrait."""
    from . import PortraitRenderer, analyze_face, extract_motion, load_portrait, write_video

    image = load_portrait(path)
    renderer = PortraitRenderer(image, analyze_face(image), size=SIZE)
    steps = calibration_steps()
    motion, windows = calibration_motion(steps)
    video = workdir / f"{path.stem}.mp4"
    write_video(renderer.render_all(motion), video, fps=FPS, num_frames=len(motion))
    values = extract_motion(video, calibrated=False).values
    return [
        (name, value, float(np.median(values[win, MOTION_INDEX[name]])))
        for (name, value), win in zip(steps, windows, strict=True)
    ]


def fit_gains(samples: list[tuple[str, float, float]]) -> tuple[dict[str, float], dict[str, list[float]], list[str]]:
    """One gain per parameter: median of extracted / rendered over all samples, clipped to ``GAIN_RANGE``.

    Returns (gains, ratios per parameter, unreliable parameters); unreliable ones (sign not recovered) get 1.0.
    """
    ratios: dict[str, list[float]] = {name: [] for name in MOTION_NAMES}
    for name, value, extracted in samples:
        ratios[name].append(extracted / value)
    gains, unreliable = {}, []
    for name, r in ratios.items():
        if not r or np.mean(np.asarray(r) > 0) < MIN_SIGN_AGREEMENT:
            gains[name] = 1.0
            unreliable += [name] if r else []
        else:
            gains[name] = round(float(np.clip(np.median(r), *GAIN_RANGE)), 3)
    return gains, ratios, unreliable


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=CALIBRATION_PATH, help="where to write the calibration JSON")
    args = parser.parse_args(argv)
    portraits = sorted(PORTRAIT_DIR.glob("*.jpg"))
    if not portraits:
        raise SystemExit(f"No portraits found in {PORTRAIT_DIR}.")
    samples = []
    per_portrait = {}
    with tempfile.TemporaryDirectory() as tmp:
        for path in portraits:
            s = measure_portrait(path, Path(tmp))
            samples += s
            per_portrait[path.stem] = fit_gains(s)[0]
            print(f"{path.stem}: " + ", ".join(f"{k}={v:.2f}" for k, v in per_portrait[path.stem].items()))
    gains, ratios, unreliable = fit_gains(samples)
    result = {
        "gains": gains,
        "unreliable": unreliable,
        "median_ratio": {k: round(float(np.median(v)), 3) for k, v in ratios.items()},
        "per_portrait": per_portrait,
        "measured_on": [f"examples/portraits/{p.name}" for p in portraits],
        "size": SIZE,
        "fps": FPS,
        "amplitudes": {k: list(v) for k, v in AMPLITUDES.items()},
        "command": COMMAND,
        "note": "extract_motion divides each channel by its gain: mediapipe under-reads this renderer's motion.",
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    for name in MOTION_NAMES:
        r = np.round(ratios[name], 2).tolist()
        flag = "  UNRELIABLE (sign not recovered): gain left at 1.0" if name in unreliable else ""
        print(f"{name:12s} gain {gains[name]:.3f}  samples {r}{flag}")
    print(f"Wrote {args.out}")


if __name__ == "__main__":
    main()
