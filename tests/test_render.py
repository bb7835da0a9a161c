"""Portrait renderer: framing, neutral fidelity, each motion parameter's effect, streaming."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from actavatar.motion import MOTION_DIM, MOTION_INDEX, MOTION_NAMES
from actavatar.render import PortraitRenderer, analyze_face, load_portrait

PORTRAITS = sorted((Path(__file__).resolve().parents[1] / "examples" / "portraits").glob("*.jpg"))


def motion(**params: float) -> np.ndarray:
    m = np.zeros(MOTION_DIM, np.float32)
    for k, v in params.items():
        m[MOTION_INDEX[k]] = v
    return m


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


@pytest.fixture(scope="module", params=PORTRAITS, ids=lambda p: p.stem)
def renderer(request) -> PortraitRenderer:
    image = load_portrait(request.param)
    return PortraitRenderer(image, analyze_face(image), size=512)


def region(r: PortraitRenderer, idx: list[int], pad: int = 4) -> tuple[slice, slice]:
    pts = r.face.landmarks[idx, :2]
    x0, y0 = np.floor(pts.min(0)).astype(int) - pad
    x1, y1 = np.ceil(pts.max(0)).astype(int) + pad
    return slice(max(y0, 0), y1), slice(max(x0, 0), x1)


def test_framing_keeps_whole_portrait(renderer):
    w, h = renderer.frame_size
    assert max(w, h) == 512 and w % 2 == 0 and h % 2 == 0
    src_h, src_w = load_portrait(next(p for p in PORTRAITS if p.stem in str(renderer.face.bbox) or True)).shape[:2]
    assert renderer.render(motion()).shape == (h, w, 3)


@pytest.mark.parametrize("size", [256, 320])
def test_sizes_and_aspect(size):
    image = load_portrait(PORTRAITS[0])
    wide = np.pad(image, ((0, 0), (100, 101), (0, 0)), mode="edge")
    r = PortraitRenderer(wide, analyze_face(wide), size=size)
    w, h = r.frame_size
    assert w == size and h % 2 == 0 and abs(h / w - wide.shape[0] / wide.shape[1]) < 0.01
    assert r.render(motion(jaw_open=0.3)).shape == (h, w, 3)


def test_neutral_equals_resized_input(renderer):
    frame = renderer.render(motion())
    assert psnr(frame, renderer.image) >= 40.0
    # A tiny motion is still (almost) the photo: the warp itself does not blur the portrait.
    assert psnr(renderer.render(motion(head_yaw=0.01)), renderer.image) >= 40.0


@pytest.mark.parametrize("name", MOTION_NAMES)
def test_each_parameter_moves_the_face_not_the_background(renderer, name):
    lo = {"head_pitch": 12, "head_yaw": 15, "head_roll": 10, "head_tx": 0.1, "head_ty": 0.1, "head_scale": 0.1}
    frame = renderer.render(motion(**{name: lo.get(name, 0.8)}))
    diff = np.abs(frame.astype(np.int16) - renderer.image.astype(np.int16)).max(-1)
    x0, y0, x1, y1 = renderer.face.bbox
    face = diff[y0:y1, x0:x1]
    assert (face > 12).mean() > 0.002, f"{name} should visibly change the face"
    corners = [diff[:8, :8], diff[:8, -8:], diff[-8:, :8], diff[-8:, -8:]]
    assert max(c.max() for c in corners) <= 2, f"{name} must leave the background corners still"
    assert np.isfinite(frame).all()


def test_jaw_open_shows_dark_mouth_then_closes(renderer):
    sl = region(renderer, [13, 14, 61, 291, 17], pad=0)
    open_frame = renderer.render(motion(jaw_open=0.6))
    lm = renderer.landmarks_for(motion(jaw_open=0.6))
    cx, cy = ((lm[13] + lm[14]) / 2).astype(int)
    inside = open_frame[cy - 2 : cy + 3, cx - 2 : cx + 3].astype(float).mean()
    assert inside < 110, "the inside of an open mouth is a dark cavity"
    assert lm[14, 1] - lm[13, 1] > 0.15 * (renderer.face.landmarks[152, 1] - renderer.face.landmarks[10, 1])
    closed = renderer.render(motion(jaw_open=0.0, smile=0.0))
    assert psnr(closed[sl], renderer.image[sl]) >= 40.0


def test_closed_eye_is_covered_by_skin(renderer):
    lm = renderer.face.landmarks
    x0, x1 = lm[33, 0] + 0.3 * (lm[133, 0] - lm[33, 0]), lm[133, 0] - 0.3 * (lm[133, 0] - lm[33, 0])
    y0, y1 = lm[159, 1] + 1, lm[145, 1] - 1
    sl = slice(int(y0), int(np.ceil(y1))), slice(int(x0), int(np.ceil(x1)))
    eye_open = renderer.image[sl].astype(float)
    closed = renderer.render(motion(blink_left=1.0))[sl].astype(float)
    # Closed: the dark iris/pupil in the middle of the eye is replaced by (brighter) lid skin.
    assert closed.mean() > eye_open.mean() + 5
    # The other eye is untouched.
    other = region(renderer, [386, 374, 263, 362], pad=0)
    assert psnr(renderer.render(motion(blink_left=1.0))[other], renderer.image[other]) >= 40
    assert lm.shape == (478, 3)


def test_gaze_moves_the_iris(renderer):
    lm = renderer.face.landmarks
    sl = region(renderer, [33, 133, 159, 145], pad=0)

    def iris_x(frame: np.ndarray) -> float:
        dark = 255.0 - frame[sl].astype(float).mean(-1)
        dark = np.clip(dark - np.percentile(dark, 60), 0, None)
        xs = np.arange(dark.shape[1])[None]
        return float((dark * xs).sum() / max(dark.sum(), 1e-6))

    left, right = iris_x(renderer.render(motion(gaze_x=-1))), iris_x(renderer.render(motion(gaze_x=1)))
    assert right - left > 0.08 * (lm[133, 0] - lm[33, 0])


def test_head_turn_moves_nose_relative_to_cheeks(renderer):
    for yaw in (-20.0, 20.0):
        lm = renderer.landmarks_for(motion(head_yaw=yaw))
        rel = (lm[1, 0] - (lm[234, 0] + lm[454, 0]) / 2) - (
            renderer.face.landmarks[1, 0] - (renderer.face.landmarks[234, 0] + renderer.face.landmarks[454, 0]) / 2
        )
        assert np.sign(rel) == np.sign(yaw)
    down = renderer.landmarks_for(motion(head_pitch=15.0))
    assert down[1, 1] > renderer.face.landmarks[1, 1]  # nod: nose goes down


def test_no_seams_smooth_head_turn(renderer):
    # Adjacent output pixels never jump by much more than the photo's own gradients (no tears or folds).
    frame = renderer.render(motion(head_yaw=20, head_pitch=8, smile=0.5, brow_raise=0.6)).astype(float)
    base = renderer.image.astype(float)
    g_frame = np.abs(np.diff(frame, axis=1)).mean()
    g_base = np.abs(np.diff(base, axis=1)).mean()
    assert g_frame < 1.15 * g_base


def test_render_all_streams(renderer):
    seq = np.zeros((5, MOTION_DIM), np.float32)
    seq[:, MOTION_INDEX["jaw_open"]] = np.linspace(0, 0.5, 5)
    it = renderer.render_all(seq)
    assert iter(it) is it
    frames = list(it)
    assert len(frames) == 5 and all(f.shape == frames[0].shape for f in frames)
    with pytest.raises(ValueError):
        list(renderer.render_all(np.zeros((3, 5))))
    with pytest.raises(ValueError):
        renderer.render(np.zeros(3))


def test_out_of_range_and_nan_are_clipped(renderer):
    frame = renderer.render(np.full(MOTION_DIM, np.nan, np.float32))
    assert psnr(frame, renderer.image) >= 40
    extreme = renderer.render(np.full(MOTION_DIM, 1e6, np.float32))
    assert extreme.dtype == np.uint8
