"""The sped-up renderer draws the same frames as the straightforward per-frame math it replaced.

``Reference`` below is that math, kept verbatim (dense Newton with ``np.gradient`` and ``np.where``, eyelids on
copies, one 3-channel remap; the mouth interior and the glasses overlay are the renderer's own): every frame of a
talking sequence and a few extreme poses must match it at >= 45 dB PSNR. The speed itself is measured by
``benchmarks/bench_render.py``, not here.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from actavatar.motion import MOTION_DIM, MOTION_INDEX, talking_motion
from actavatar.render import PortraitRenderer, analyze_face, load_portrait
from actavatar.render.renderer import (
    EXPRESSION_BASES,
    GAZE_X_EYE_WIDTHS,
    GAZE_Y_EYE_WIDTHS,
    GRID_STEP,
    basis_weights,
    clip_motion,
)
from actavatar.render.warp import sample_points as _sample

PORTRAITS = sorted((Path(__file__).resolve().parents[1] / "examples" / "portraits").glob("*.jpg"))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def extreme_motion() -> np.ndarray:
    rows = []
    for params in (
        dict(head_yaw=25, head_pitch=-12, jaw_open=1.0, smile=1.0, brow_raise=1.0, gaze_x=1, gaze_y=-1),
        dict(head_roll=15, head_tx=0.15, head_ty=-0.1, head_scale=0.15, lip_pucker=1.0, brow_raise=-1.0),
        dict(jaw_open=0.7, smile=-1.0, blink_left=0.5, blink_right=1.0, gaze_x=-1, gaze_y=1),
    ):
        m = np.zeros(MOTION_DIM, np.float32)
        for k, v in params.items():
            m[MOTION_INDEX[k]] = v
        rows.append(m)
    return np.stack(rows)


class Reference:
    """The per-frame math before it was optimised, on a renderer's per-portrait data."""

    def __init__(self, r: PortraitRenderer):
        self.r = r
        ay0, ay1, ax0, ax1 = r._aroi
        gy, gx = np.mgrid[0 : r._gh, 0 : r._gw].astype(np.float32)
        self.gx_roi = np.ascontiguousarray(gx[ay0:ay1, ax0:ax1] - ax0)
        self.gy_roi = np.ascontiguousarray(gy[ay0:ay1, ax0:ax1] - ay0)
        w, h = r.frame_size
        self.identity = np.stack(np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32)), -1)

    def moved_landmarks(self, m: np.ndarray) -> np.ndarray:
        r = self.r
        wts = basis_weights(m)
        disp = sum(wk * r._bases[name] for wk, name in zip(wts, EXPRESSION_BASES, strict=True))
        a, t = r._head_transform(m)
        q = r._lm_ext.copy()
        q[:, 2] = r._relief
        q[:, :2] += disp
        return ((q - r._pivot) @ a.T + r._pivot[:2] + t).astype(np.float32)

    def forward_field(self, m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        r = self.r
        wts = basis_weights(m)
        a, t = r._head_transform(m)
        ay0, ay1, ax0, ax1 = r._aroi
        px, py = r._px[ay0:ay1, ax0:ax1], r._py[ay0:ay1, ax0:ax1]
        ex = np.zeros_like(px)
        ey = np.zeros_like(py)
        if np.any(wts):
            y0, y1, x0, x1 = r._roi
            e = (wts @ r._fields).reshape(y1 - y0, x1 - x0, 2)
            ex[y0 - ay0 : y1 - ay0, x0 - ax0 : x1 - ax0] = e[..., 0]
            ey[y0 - ay0 : y1 - ay0, x0 - ax0 : x1 - ax0] = e[..., 1]
        pv = r._pivot
        dx, dy = px + ex - pv[0], py + ey - pv[1]
        dz = r._z[ay0:ay1, ax0:ax1] - pv[2]
        hw = r._head_w[ay0:ay1, ax0:ax1]
        fx = ex + hw * ((a[0, 0] - 1) * dx + a[0, 1] * dy + a[0, 2] * dz + t[0])
        fy = ey + hw * (a[1, 0] * dx + (a[1, 1] - 1) * dy + a[1, 2] * dz + t[1])
        return fx, fy

    def backward_map(self, fx: np.ndarray, fy: np.ndarray) -> np.ndarray:
        k = GRID_STEP
        jxx = np.gradient(fx, axis=1) / k + 1
        jxy = np.gradient(fx, axis=0) / k
        jyx = np.gradient(fy, axis=1) / k
        jyy = np.gradient(fy, axis=0) / k + 1
        det = jxx * jyy - jxy * jyx
        det = np.where(np.abs(det) < 0.05, np.copysign(np.float32(0.05), det), det)
        packed = cv2.merge([fx, fy, jyy / det, -jxy / det])
        packed_b = cv2.merge([-jyx / det, jxx / det])
        gx, gy = self.gx_roi, self.gy_roi
        bx, by = -fx, -fy
        best_x, best_y, best_err = bx, by, np.full(bx.shape, np.inf, np.float32)
        for it in range(3):
            mx, my = gx + bx / k, gy + by / k
            f = cv2.remap(packed, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
            rx, ry = -bx - f[..., 0], -by - f[..., 1]
            err = rx * rx + ry * ry
            better = err < best_err
            best_x, best_y = np.where(better, bx, best_x), np.where(better, by, best_y)
            best_err = np.where(better, err, best_err)
            if it == 2:
                break
            g = cv2.remap(packed_b, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
            bx = bx + np.clip(f[..., 2] * rx + f[..., 3] * ry, -4.0 * k, 4.0 * k)
            by = by + np.clip(g[..., 0] * rx + g[..., 1] * ry, -4.0 * k, 4.0 * k)
        ay0, ay1, ax0, ax1 = self.r._aroi
        size = ((ax1 - ax0) * k, (ay1 - ay0) * k)
        up = cv2.resize(cv2.merge([best_x, best_y]), size, interpolation=cv2.INTER_LINEAR)
        return up + self.identity[ay0 * k : ay1 * k, ax0 * k : ax1 * k]

    def apply_eyes(self, src: np.ndarray, m: np.ndarray, dst_lm: np.ndarray) -> None:
        r = self.r
        blinks = (m[MOTION_INDEX["blink_left"]], m[MOTION_INDEX["blink_right"]])
        gaze = np.array([m[MOTION_INDEX["gaze_x"]], m[MOTION_INDEX["gaze_y"]]], np.float32)
        if not any(blinks) and not np.any(gaze):
            return
        h, w = src.shape[:2]
        for eye, blink in zip(r._eyes, blinks, strict=True):
            if blink <= 0 and not np.any(gaze):
                continue
            pts = dst_lm[eye["idx"]]
            pad = 0.15 * eye["width"] + 2
            x0, y0 = np.floor(pts.min(0) - pad).astype(int)
            x1, y1 = np.ceil(pts.max(0) + pad).astype(int)
            x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
            if x1 <= x0 or y1 <= y0:
                continue
            roi = src[y0:y1, x0:x1]
            sx, sy = roi[..., 0], roi[..., 1]
            inside = (sx > eye["x0"]) & (sx < eye["x1"])
            u = np.interp(sx, eye["ux"], eye["uy"])
            lo = np.interp(sx, eye["lx"], eye["ly"])
            opening = inside & (sy > u) & (sy < lo)
            out_x, out_y = sx.copy(), sy.copy()
            if np.any(gaze):
                off = gaze * np.array([GAZE_X_EYE_WIDTHS, GAZE_Y_EYE_WIDTHS], np.float32) * eye["width"]
                c = eye["iris"] + off
                d2 = ((sx - c[0]) ** 2 + (sy - c[1]) ** 2) / (1.6 * eye["iris_r"]) ** 2
                bump = np.exp(-(d2**2)) * opening
                out_x -= off[0] * bump
                out_y -= off[1] * bump
            if blink > 0:
                covered, lid_y = r._closing_lid(eye, sx, sy, u, lo, float(blink))
                covered &= inside
                out_x = np.where(covered, sx, out_x)
                out_y = np.where(covered, lid_y, out_y)
            roi[..., 0], roi[..., 1] = out_x, out_y

    def render(self, motion: np.ndarray) -> np.ndarray:
        r = self.r
        m = clip_motion(motion)
        if not np.any(m):
            return r.image.copy()
        dst_lm = self.moved_landmarks(m)
        src = self.backward_map(*self.forward_field(m))
        ay0, ay1, ax0, ax1 = (v * GRID_STEP for v in r._aroi)
        self.apply_eyes(src, m, dst_lm - np.array([ax0, ay0], np.float32))
        frame = r.image.copy()
        warped = np.ascontiguousarray(r._image_rgba[..., :3])  # (the portrait, glasses frames painted out)
        frame[ay0:ay1, ax0:ax1] = cv2.remap(
            warped, src[..., 0], src[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )
        # The mouth interior is the renderer's own painter (``mouth.paint_interior``): it was redrawn after the warp
        # was optimised, and is tested for its look in tests/test_render.py.
        # Likewise the glasses frames drawn back over the warp (``_draw_rigid``).
        r._draw_rigid(frame, basis_weights(m), *r._head_transform(m))
        r._paint_mouth(frame, dst_lm, basis_weights(m), *r._head_transform(m))
        return frame


@pytest.fixture(scope="module", params=PORTRAITS, ids=lambda p: p.stem)
def renderer(request) -> PortraitRenderer:
    image = load_portrait(request.param)
    return PortraitRenderer(image, analyze_face(image), size=512)


def test_frames_match_the_reference_math(renderer):
    ref = Reference(renderer)
    motion = np.concatenate([talking_motion(250, 25.0)[::5], extreme_motion()])
    worst = min(
        (psnr(new, ref.render(m)), i)
        for i, (m, new) in enumerate(zip(motion, renderer.render_all(motion), strict=True))
    )
    assert worst[0] >= 45.0, f"frame {worst[1]}: {worst[0]:.1f} dB against the reference"


def test_landmarks_and_field_match_the_reference(renderer):
    ref = Reference(renderer)
    for m in extreme_motion():
        m = clip_motion(m)
        np.testing.assert_allclose(renderer.landmarks_for(m), ref.moved_landmarks(m)[:478], atol=1e-3)
        fx, fy = renderer._forward_field(basis_weights(m), *renderer._head_transform(m))
        rx, ry = ref.forward_field(m)
        np.testing.assert_allclose(fx, rx, atol=1e-3)
        np.testing.assert_allclose(fy, ry, atol=1e-3)


def test_render_is_independent_of_call_order(renderer):
    motion = talking_motion(12, 25.0)
    streamed = list(renderer.render_all(motion))
    for i in (7, 3, 11, 0):
        assert np.array_equal(renderer.render(motion[i]), streamed[i])


def test_point_sampling_matches_remap_beyond_one_row():
    """``_sample`` splits long point lists into rows: remap refuses maps 32767 or more wide."""
    rng = np.random.default_rng(0)
    src = rng.random((40, 50, 8)).astype(np.float32)
    n = 40_001
    mx = rng.uniform(-2, 52, n).astype(np.float32)
    my = rng.uniform(-2, 42, n).astype(np.float32)
    got = _sample(src, mx, my)
    want = [
        cv2.remap(
            src, mx[None, i : i + 1000], my[None, i : i + 1000], cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT
        )[0]
        for i in range(0, n, 1000)
    ]
    assert got.shape == (n, 8)
    np.testing.assert_array_equal(got, np.concatenate(want))
