"""Motion extraction from video, and the render -> mp4 -> extract round trip on the shipped portraits."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from actavatar.errors import InputError
from actavatar.motion import MOTION_DIM, MOTION_INDEX, MOTION_NAMES
from actavatar.render import (
    MotionTrack,
    PortraitRenderer,
    analyze_face,
    extract_motion,
    load_portrait,
    motion_from_landmarks,
    write_video,
)
from actavatar.render.calibrate import ROUND_TRIP_REQUIRED, ROUND_TRIP_TARGET, round_trip_motion
from actavatar.render.extract import PixelTracker

PORTRAITS = sorted((Path(__file__).resolve().parents[1] / "examples" / "portraits").glob("*.jpg"))


@pytest.fixture(scope="module", params=PORTRAITS, ids=lambda p: p.stem)
def round_trip(request, tmp_path_factory) -> tuple[np.ndarray, MotionTrack]:
    image = load_portrait(request.param)
    renderer = PortraitRenderer(image, analyze_face(image), size=512)
    curves = round_trip_motion()
    out = tmp_path_factory.mktemp("rt") / f"{request.param.stem}.mp4"
    write_video(renderer.render_all(curves), out, fps=25, num_frames=len(curves))
    return curves, extract_motion(out, calibrated=True)


def test_track_shape_and_json(round_trip):
    curves, track = round_trip
    assert track.values.shape == (len(curves), MOTION_DIM) and track.values.dtype == np.float32
    assert track.fps == pytest.approx(25.0) and track.names == MOTION_NAMES
    d = json.loads(json.dumps(track.to_dict()))
    assert d["names"] == list(MOTION_NAMES) and len(d["values"]) == len(curves) and d["fps"] == 25.0
    assert np.all(np.isfinite(track.values))
    # The neutral lead-in reads as (almost) zero motion.
    assert np.abs(track.values[:3, :3]).max() < 1.5 and np.abs(track.values[:3, 6:]).max() < 0.15


# Issue 4: every one of these reads back with Pearson >= 0.9 on every shipped portrait (the full 512 px sweep, all
# three portraits, is this test; `python -m actavatar.render.calibrate --round-trip` prints the same table).
# Grace Hopper's brows sit behind the top bar of her glasses, which the renderer keeps rigid (issue 23): raised, the
# brows come up above the bar, but the extractor's brow landmarks stay on the bar (read 0.2-0.3 for 0.9). Known and
# strict: this pair must start passing (and then lose the mark) when the extractor reads brows over glasses.
BROWS_BEHIND_GLASSES = ("grace_hopper", "brow_raise")


def _mark_brows_behind_glasses(request, name: str) -> None:
    if name == BROWS_BEHIND_GLASSES[1] and BROWS_BEHIND_GLASSES[0] in request.node.callspec.id:
        request.applymarker(pytest.mark.xfail(strict=True, reason="brows behind rigid glasses"))


@pytest.mark.parametrize("name", ROUND_TRIP_REQUIRED)
def test_round_trip_correlation(round_trip, name, request):
    _mark_brows_behind_glasses(request, name)
    curves, track = round_trip
    j = MOTION_INDEX[name]
    r = float(np.corrcoef(curves[:, j], track.values[:, j])[0, 1])
    assert r >= ROUND_TRIP_TARGET, f"{name}: Pearson {r:.3f} < {ROUND_TRIP_TARGET}"


# extract_motion divides by gains measured with `python -m actavatar.render.calibrate` (at 384 px, held steps) to
# undo the extractor's under-reading of the rendered motion; on this independent 512 px clip the calibrated read-out
# must then be in true units.
SCALE_CHECKED = ("head_pitch", "head_yaw", "head_roll", "jaw_open", "smile", "blink_left", "blink_right",
                 "brow_raise", "gaze_x")  # fmt: skip


@pytest.mark.parametrize("name", SCALE_CHECKED)
def test_round_trip_scale(round_trip, name, request):
    _mark_brows_behind_glasses(request, name)
    curves, track = round_trip
    j = MOTION_INDEX[name]
    x, y = curves[:, j].astype(np.float64), track.values[:, j].astype(np.float64)
    slope = float(x @ y / (x @ x))
    assert 0.6 <= slope <= 1.6, (
        f"{name}: extracted / rendered = {slope:.2f}: re-run python -m actavatar.render.calibrate"
    )


def test_calibration_table():
    from actavatar.render.extract import CALIBRATION_PATH, extraction_gains

    table = json.loads(CALIBRATION_PATH.read_text())
    assert set(table["gains"]) == set(MOTION_NAMES) and "actavatar.render.calibrate" in table["command"]
    gains = extraction_gains()
    assert gains.shape == (MOTION_DIM,) and np.all((gains >= 0.2) & (gains <= 1.5))


def test_round_trip_signs(round_trip):
    curves, track = round_trip
    for name in ("head_pitch", "head_yaw", "head_roll", "smile", "brow_raise", "gaze_x"):
        j = MOTION_INDEX[name]
        pos, neg = curves[:, j] > 0.5 * curves[:, j].max(), curves[:, j] < 0.5 * curves[:, j].min()
        assert track.values[pos, j].mean() > track.values[neg, j].mean(), name


def test_pixel_tracker_follows_the_pixels():
    """Refined landmarks move with the rendered skin; mediapipe's own mesh under-reads a nod and a brow raise."""
    import cv2

    image = load_portrait(PORTRAITS[-1])
    renderer = PortraitRenderer(image, analyze_face(image), size=512)
    m = np.zeros(MOTION_DIM, np.float32)
    m[MOTION_INDEX["head_pitch"]], m[MOTION_INDEX["brow_raise"]] = 10.0, 0.8
    frames = [renderer.render(np.zeros(MOTION_DIM, np.float32)), renderer.render(m)]
    mp0, mp1 = (analyze_face(f).landmarks for f in frames)
    tracker = PixelTracker(cv2.cvtColor(frames[0], cv2.COLOR_RGB2GRAY), mp0)
    refined, trusted = tracker.refine(cv2.cvtColor(frames[1], cv2.COLOR_RGB2GRAY), mp1)
    true_move = renderer.landmarks_for(m) - renderer.landmarks_for(np.zeros(MOTION_DIM, np.float32))
    idx = tracker.refine_idx
    err_mp = np.linalg.norm((mp1 - mp0)[idx, :2] - true_move[idx], axis=1).mean()
    err_refined = np.linalg.norm((refined - mp0)[idx, :2] - true_move[idx], axis=1).mean()
    assert tracker.accepted[-1] > 0.8
    assert err_refined < 0.5 * err_mp, (err_refined, err_mp)
    assert np.array_equal(refined[468:], mp1[468:])  # irises (and eyelids) stay mediapipe's
    assert trusted[468:].all() and trusted[idx].mean() == pytest.approx(tracker.accepted[-1])


def test_round_trip_under_changing_light(tmp_path):
    """A real-footage stand-in: light drifting across the face and flickering, sensor noise, a shaking camera."""
    import cv2

    image = load_portrait(PORTRAITS[0])
    renderer = PortraitRenderer(image, analyze_face(image), size=512)
    curves = round_trip_motion()
    rng = np.random.default_rng(0)

    def degraded():
        for t, frame in enumerate(renderer.render_all(curves)):
            h, w = frame.shape[:2]
            ph = t / len(curves)
            shade = (1 + 0.15 * np.sin(2 * np.pi * 1.3 * ph)) * (
                1 + 0.25 * np.sin(2 * np.pi * ph) * np.linspace(-1, 1, w)
            )
            f = frame * shade[None, :, None] + rng.normal(0, 4, frame.shape)
            shake = np.float32([[1, 0, 3 * np.sin(11 * ph)], [0, 1, 2 * np.cos(13 * ph)]])
            yield cv2.warpAffine(np.clip(f, 0, 255).astype(np.uint8), shake, (w, h), borderMode=cv2.BORDER_REFLECT)

    video = write_video(degraded(), tmp_path / "light.mp4", fps=25, num_frames=len(curves))
    values = extract_motion(video, calibrated=True).values
    for name in ("head_pitch", "head_yaw", "head_roll", "jaw_open", "smile", "brow_raise"):
        j = MOTION_INDEX[name]
        r = float(np.corrcoef(curves[:, j], values[:, j])[0, 1])
        assert r >= ROUND_TRIP_TARGET, f"{name}: Pearson {r:.3f} under changing light"


def test_motion_from_landmarks_identity_and_missing():
    image = load_portrait(PORTRAITS[0])
    lm = analyze_face(image).landmarks
    seq = np.stack([lm, np.full_like(lm, np.nan), lm])
    m = motion_from_landmarks(seq, lm, (image.shape[1], image.shape[0]))
    assert m.shape == (3, MOTION_DIM)
    assert np.isnan(m[1]).all()
    assert np.abs(m[[0, 2]]).max() < 0.05


def test_no_face_video(tmp_path):
    frames = (np.full((64, 64, 3), 40 * i % 255, np.uint8) for i in range(5))
    video = write_video(frames, tmp_path / "blank.mp4", 25)
    with pytest.raises(InputError, match="No face found in any frame"):
        extract_motion(video)


def test_bad_video_files(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        extract_motion(tmp_path / "missing.mp4")
    junk = tmp_path / "junk.mp4"
    junk.write_text("not a video")
    with pytest.raises(InputError):
        extract_motion(junk)
