"""Per-parameter gain calibration of ``extract_motion`` on this renderer's own output, and the round-trip check.

Why: with the renderer's exact landmarks, ``motion_from_landmarks`` recovers every parameter at gain 1.0. On rendered
video the read-out is well correlated with the rendered motion but some channels come out systematically small
(a painted-shut eyelid reads only about two-thirds closed to mediapipe, the iris landmark lags the shifted iris, the
inner lips of an opening mouth are left to mediapipe's under-reading mesh). This module measures that under-reading
and stores one gain per parameter (extracted / rendered, the median over portraits, amplitudes and signs);
``extract_motion(..., calibrated=True)`` divides each channel by its gain so extracted motion comes out in true units.

How it is measured: for every portrait in ``examples/portraits``, at 384 px, one video is rendered holding each
parameter alone at two amplitudes (both signs for signed parameters), separated by neutral frames; it is written
with ``write_video`` at 25 fps and read back with ``extract_motion(..., calibrated=False)``; the median over the
middle of each hold divided by the rendered value is one gain sample. Gains are clipped to [0.2, 1.5]. A parameter
whose sign the extractor does not reliably recover (fewer than 80% of samples with the rendered sign) is not
measurable by this instrument: a gain would only amplify noise, so it keeps gain 1.0 and is listed as unreliable.
These held steps are a different clip (size, shapes, timing) from the round trip below, which the gains are not
fitted to.

Re-run it (after changing the renderer, the extractor or the mediapipe version) with::

    OMP_NUM_THREADS=1 python -m actavatar.render.calibrate

which rewrites ``actavatar/render/extract_calibration.json`` (about half a minute on one CPU core).

Round trip (issue 4): ``--round-trip`` renders ``round_trip_motion()`` (a neutral lead-in, each parameter swept alone
as a smooth bump, both signs where signed, then combinations) on every shipped portrait at 512 px, extracts it back
from the mp4 with the calibrated extractor and prints the Pearson correlation and the slope (extracted / rendered)
per parameter and portrait; ``tests/test_extract.py`` asserts the same correlations::

    OMP_NUM_THREADS=1 python -m actavatar.render.calibrate --round-trip
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
    "jaw_open": (0.2, 0.35),  # below the renderer's speech bound (JAW_SPEECH_P95): the gain is the extractor's alone
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


# Round trip: parameters required to read back with Pearson >= ROUND_TRIP_TARGET on every shipped portrait.
ROUND_TRIP_REQUIRED = ("head_pitch", "head_yaw", "head_roll", "jaw_open", "smile", "blink_left", "blink_right",
                       "brow_raise")  # fmt: skip
ROUND_TRIP_TARGET = 0.9
ROUND_TRIP_SIZE = 512


def round_trip_motion() -> np.ndarray:
    """(333, 14): neutral lead-in, then each parameter swept alone (both signs where signed), then combinations."""

    def bump(n: int, **peaks: float) -> np.ndarray:
        t = np.sin(np.linspace(0, np.pi, n)) ** 2
        m = np.zeros((n, MOTION_DIM), np.float32)
        for k, v in peaks.items():
            m[:, MOTION_INDEX[k]] = v * t
        return m

    alone = [("head_pitch", 12), ("head_pitch", -10), ("head_yaw", 18), ("head_yaw", -18), ("head_roll", 12),
             ("head_roll", -10), ("jaw_open", 0.6), ("smile", 0.9), ("smile", -0.8), ("blink_left", 1.0),
             ("blink_right", 1.0), ("brow_raise", 0.9), ("brow_raise", -0.8), ("lip_pucker", 0.8),
             ("gaze_x", 0.9), ("gaze_x", -0.9)]  # fmt: skip
    segs = [np.zeros((5, MOTION_DIM), np.float32)] + [bump(16, **{k: v}) for k, v in alone]
    segs += [bump(24, head_yaw=12, jaw_open=0.4, smile=0.5), bump(24, head_pitch=8, brow_raise=0.8, blink_left=1,
             blink_right=1), bump(24, head_roll=-8, jaw_open=0.5, brow_raise=-0.6)]  # fmt: skip
    return np.concatenate(segs)


def round_trip(path: Path, workdir: Path, size: int = ROUND_TRIP_SIZE, **extract_kw) -> tuple[np.ndarray, np.ndarray]:
    """Render ``round_trip_motion()`` on the portrait at ``path``, write an mp4, extract it (calibrated) again.

    Returns (rendered, extracted), both (T, 14).
    """
    from . import PortraitRenderer, analyze_face, extract_motion, load_portrait, write_video

    image = load_portrait(path)
    renderer = PortraitRenderer(image, analyze_face(image), size=size)
    motion = round_trip_motion()
    video = workdir / f"{path.stem}_round_trip.mp4"
    write_video(renderer.render_all(motion), video, fps=FPS, num_frames=len(motion))
    return motion, extract_motion(video, calibrated=True, **extract_kw).values


def round_trip_table(portraits: list[Path], names: tuple[str, ...] = MOTION_NAMES) -> dict[str, dict[str, tuple]]:
    """{portrait: {parameter: (pearson, slope)}} of the round trip; constant channels give NaN."""
    table = {}
    with tempfile.TemporaryDirectory() as tmp:
        for path in portraits:
            rendered, extracted = round_trip(path, Path(tmp))
            row = {}
            for name in names:
                x, y = rendered[:, MOTION_INDEX[name]].astype(np.float64), extracted[:, MOTION_INDEX[name]]
                r = float(np.corrcoef(x, y)[0, 1]) if x.std() > 0 and y.std() > 0 else float("nan")
                row[name] = (r, float(x @ y / (x @ x)) if x @ x > 0 else float("nan"))
            table[path.stem] = row
    return table


def print_round_trip(portraits: list[Path]) -> bool:
    """Print the round-trip table; True if every required parameter reaches the target on every portrait."""
    names = tuple(n for n in MOTION_NAMES if n not in ("head_tx", "head_ty", "head_scale", "gaze_y"))
    table = round_trip_table(portraits, names)
    print(f"Pearson r (slope) per parameter, rendered at {ROUND_TRIP_SIZE} px -> mp4 -> extract_motion(calibrated)")
    print(f"{'':12s}" + "".join(f"{stem:>20s}" for stem in table))
    ok = True
    for name in names:
        cells = []
        for row in table.values():
            r, slope = row[name]
            fail = name in ROUND_TRIP_REQUIRED and not r >= ROUND_TRIP_TARGET
            ok &= not fail
            cells.append(f"{r:7.3f} ({slope:5.2f}){' !' if fail else '  '}")
        req = "*" if name in ROUND_TRIP_REQUIRED else " "
        print(f"{name:11s}{req}" + "".join(f"{c:>20s}" for c in cells))
    print(f"* required: Pearson >= {ROUND_TRIP_TARGET} on every portrait -> {'all pass' if ok else 'FAIL (!)'}")
    return ok


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=CALIBRATION_PATH, help="where to write the calibration JSON")
    parser.add_argument("--round-trip", action="store_true", help="print the round-trip table instead of calibrating")
    args = parser.parse_args(argv)
    portraits = sorted(PORTRAIT_DIR.glob("*.jpg"))
    if not portraits:
        raise SystemExit(f"No portraits found in {PORTRAIT_DIR}.")
    if args.round_trip:
        raise SystemExit(0 if print_round_trip(portraits) else 1)
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
        "note": "extract_motion(calibrated=True) divides each channel by its gain: the extractor under-reads some of "
        "this renderer's motion (closed lids, iris shift, opening jaw).",
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    for name in MOTION_NAMES:
        r = np.round(ratios[name], 2).tolist()
        flag = "  UNRELIABLE (sign not recovered): gain left at 1.0" if name in unreliable else ""
        print(f"{name:12s} gain {gains[name]:.3f}  samples {r}{flag}")
    print(f"Wrote {args.out}")


if __name__ == "__main__":
    main()
