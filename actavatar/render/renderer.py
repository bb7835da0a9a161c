"""Motion parameters -> frames of the uploaded portrait.

Per portrait (once): the 468 face-mesh landmarks plus two rings around the face oval and anchors on the image
border are triangulated; a coarse grid (one point per 4 x 4 pixels) gets its barycentric weights in that mesh, so
every expression basis (jaw, smile, frown, pucker, brows up/down) becomes a precomputed dense displacement field.
Depth comes from mediapipe's relative z, so head rotation is a real 3D rotation of the face surface about a neck
pivot, blended into the still background by a smooth head mask.

Per frame: blend the basis fields, apply the rigid head motion, invert the forward field by Newton iteration on
the coarse grid (a point stops as soon as it has converged), upsample, then resolve eyelids/gaze (occlusion, not
warping) on the eye regions, ``cv2.remap`` the portrait once and paint the mouth interior where the lips part.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np

from ..motion import MOTION_DIM, MOTION_INDEX
from .bases import (  # noqa: F401  (JAW_*, rotation_angles, speech_jaw: part of the renderer's namespace)
    EXPRESSION_BASES,
    JAW_GAP_FH,
    JAW_SPEECH_MAX,
    JAW_SPEECH_P95,
    NUM_MESH_LANDMARKS,
    basis_weights,
    clip_motion,
    expression_bases,
    face_relief,
    head_pivot,
    rotation_angles,
    rotation_matrix,
    speech_jaw,
)
from .face import (
    BROW_LOWER,
    BROW_UPPER,
    CHIN,
    EYE_CORNERS,
    EYE_LOWER,
    EYE_UPPER,
    FACE_OVAL,
    FOREHEAD,
    IRIS,
    LIP_LOWER_INNER,
    LIP_LOWER_MID,
    LIP_UPPER_INNER,
    LIP_UPPER_MID,
    FaceAnalysis,
    face_frame,
)
from .mouth import (
    LOWER_TEETH_EDGE_FH,
    LOWER_TEETH_FOLLOW,
    UPPER_TEETH_EDGE_FH,
    MouthPalette,
    paint_interior,
)
from .rigid import rigid_weight
from .warp import field_gradient, newton_step, residual, sample_points

RIGID_HOLE = 0.25  # glasses weight above which the frame is painted out of the warped copy (and fully redrawn)
GAZE_X_EYE_WIDTHS, GAZE_Y_EYE_WIDTHS = 0.22, 0.10  # iris travel at gaze = +-1

# The warp field is solved on a grid of one point per GRID_STEP x GRID_STEP pixels and upsampled. 4 instead of 2:
# 40 % less time per frame (obama 3.6 -> 2.2 ms on one core); frames 41-53 dB PSNR from the 2 px solve, and the lip
# edges of an open mouth come out smoother (the field is smooth; only its upsampling changes).
GRID_STEP = 4
_NEWTON_ITERS = 2
_NEWTON_TOL = 0.03  # pixels (~ the remap's 1/32 px resolution): a grid point whose residual is below stops
# The mesh around the face: two rings at these multiples of the face oval's radius (the inner one moves half as far
# as the oval, the outer one not at all) and this many anchors per image side, pinned.
OVAL_RING_INNER, OVAL_RING_OUTER = 1.3, 1.8
BORDER_ANCHORS_PER_SIDE = 9


def _usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


# ----------------------------------------------------------------------------------------------------------------
# Renderer


class PortraitRenderer:
    """Renders motion frames of one portrait. Build once per portrait (~0.1 s), then ``render`` per frame."""

    def __init__(self, image: np.ndarray, face: FaceAnalysis, size: int = 512):
        if size < 64 or size % 2:
            raise ValueError(f"size must be an even number >= 64, got {size}")
        h0, w0 = image.shape[:2]
        s = size / max(h0, w0)
        w, h = (size, max(2, 2 * round(h0 * s / 2))) if w0 >= h0 else (max(2, 2 * round(w0 * s / 2)), size)
        interp = cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC
        self.image = np.ascontiguousarray(cv2.resize(image, (w, h), interpolation=interp))
        self.face = face.scaled(w / w0, h / h0)
        self.width, self.height = w, h
        self._image_rgba = cv2.cvtColor(self.image, cv2.COLOR_RGB2RGBA)
        lm = self.face.landmarks
        self._lm = lm
        self._bases = expression_bases(lm)
        self._split_teeth(lm)
        self._bases_stack = np.stack([self._bases[name] for name in EXPRESSION_BASES]).astype(np.float32)
        origin, ex, ey, fw, fh = face_frame(lm)
        self._fw, self._fh, self._ex, self._ey = fw, fh, ex, ey
        self._pivot = head_pivot(lm)
        tri, verts, mesh_idx = self._build_mesh(lm, self._lm_ext)
        wmat = self._grid_weights(tri, verts)
        self._grid_depth(wmat, mesh_idx, len(verts))
        self._basis_fields(wmat, mesh_idx, len(verts))
        self._head_mask(lm)
        self._active_region()
        self._mouth_interior(lm)
        self._glasses(lm)
        self._eye_contours(lm)

    # ------------------------------------------------------------------------------------------------------------
    # Construction steps, in order: each sets the attributes the next ones and ``render`` read.

    def _split_teeth(self, lm: np.ndarray) -> None:
        """Open neutral mouth (teeth showing): split its inside along the midline so upper teeth ride with the upper
        lip and lower teeth with the jaw; the gap between the two copies is where the cavity is painted. Sets the
        extended landmarks (``_lm_ext``: the split points appended) and bases, and the lips' inner contours."""
        up_i, lo_i = list(LIP_UPPER_INNER), list(LIP_LOWER_INNER)
        self._gap0 = float(np.linalg.norm(lm[LIP_LOWER_MID, :2] - lm[LIP_UPPER_MID, :2]))
        self._teeth_split = self._gap0 > 3.0
        extra, extra_b = [], {name: [] for name in EXPRESSION_BASES}
        if self._teeth_split:
            for a, b in zip(up_i[1:-1], lo_i[1:-1], strict=True):
                mid = (lm[a] + lm[b]) / 2
                for src, off in ((a, -0.3), (b, 0.3)):
                    extra.append(mid + np.array([*(off * self._ey_of(lm)), 0.0], np.float32))
                    for name in EXPRESSION_BASES:
                        extra_b[name].append(self._bases[name][src])
            self._mouth_upper = [up_i[0]] + [len(lm) + 2 * i for i in range(len(up_i) - 2)] + [up_i[-1]]
            self._mouth_lower = [lo_i[0]] + [len(lm) + 2 * i + 1 for i in range(len(lo_i) - 2)] + [lo_i[-1]]
            self._gap0 = 0.6
        else:
            self._mouth_upper, self._mouth_lower = up_i, lo_i
        if extra:
            lm_ext = np.concatenate([lm, np.stack(extra)]).astype(np.float32)
            self._bases = {
                k: np.concatenate([v, np.stack(extra_b[k])]).astype(np.float32) for k, v in self._bases.items()
            }
        else:
            lm_ext = lm
        self._lm_ext = lm_ext

    def _build_mesh(self, lm: np.ndarray, lm_ext: np.ndarray):
        """Delaunay mesh of the face landmarks (and split points) + two rings around the oval + anchors on the
        image border, so every field fades to zero before the frame edge. Returns the triangulation, its (V, 2)
        vertices and the indices into ``lm_ext`` of its first vertices (the landmarks; rings and border follow)."""
        from scipy.spatial import Delaunay

        w, h = self.width, self.height
        oval = lm[list(FACE_OVAL)]
        centre = oval[:, :2].mean(0)
        ring1 = centre + OVAL_RING_INNER * (oval[:, :2] - centre)
        ring2 = centre + OVAL_RING_OUTER * (oval[:, :2] - centre)
        bx = np.linspace(-1.0, w, BORDER_ANCHORS_PER_SIDE)
        by = np.linspace(-1.0, h, BORDER_ANCHORS_PER_SIDE)
        border = np.concatenate(
            [np.stack([bx, np.full_like(bx, -1.0)], 1), np.stack([bx, np.full_like(bx, h)], 1),
             np.stack([np.full_like(by, -1.0), by], 1)[1:-1], np.stack([np.full_like(by, w), by], 1)[1:-1]]
        )  # fmt: skip
        mesh_idx = list(range(NUM_MESH_LANDMARKS)) + list(range(len(lm), len(lm_ext)))
        verts = np.concatenate([lm_ext[mesh_idx, :2], ring1, ring2, border]).astype(np.float64)
        return Delaunay(verts), verts, mesh_idx

    def _grid_weights(self, tri, verts: np.ndarray):
        """The coarse grid (``GRID_STEP`` pixels per point) and each point's barycentric weights in the mesh, as a
        sparse (points, vertices) matrix: any per-vertex quantity becomes a grid field by one product. The pixel
        centre of grid cell (i, j) is ((j + .5) * k - .5, (i + .5) * k - .5)."""
        from scipy import sparse

        k = GRID_STEP
        gh, gw = self.height // k, self.width // k
        self._gh, self._gw = gh, gw
        gy, gx = np.mgrid[0:gh, 0:gw].astype(np.float32)
        px, py = (gx + 0.5) * k - 0.5, (gy + 0.5) * k - 0.5
        self._gx_idx, self._gy_idx = gx, gy
        self._px, self._py = px, py
        gpts = np.stack([px.ravel(), py.ravel()], 1).astype(np.float64)
        simplex = tri.find_simplex(gpts)
        simplex = np.where(simplex < 0, 0, simplex)  # every grid point is inside the border anchors' hull
        trans = tri.transform[simplex]
        b2 = np.einsum("nij,nj->ni", trans[:, :2], gpts - trans[:, 2])
        bary = np.clip(np.concatenate([b2, 1 - b2.sum(1, keepdims=True)], 1), 0.0, 1.0)
        bary /= bary.sum(1, keepdims=True)
        rows = np.repeat(np.arange(len(gpts)), 3)
        return sparse.csr_matrix((bary.ravel(), (rows, tri.simplices[simplex].ravel())), shape=(len(gpts), len(verts)))

    def _grid_depth(self, wmat, mesh_idx: list[int], n_verts: int) -> None:
        """Depth per vertex: the landmarks' own z; rings and border at the pivot depth (they only move in-plane)."""
        relief = self._relief = face_relief(self._lm_ext)
        self._q0 = np.concatenate([self._lm_ext[:, :2], relief[:, None]], 1).astype(np.float32)
        z_verts = np.concatenate([relief[mesh_idx], np.full(n_verts - len(mesh_idx), self._pivot[2])])
        self._z = (wmat @ z_verts).reshape(self._gh, self._gw).astype(np.float32)

    def _basis_fields(self, wmat, mesh_idx: list[int], n_verts: int) -> None:
        """Expression basis fields on the grid (the inner ring moves half as far as the oval, the outer ring and
        the border not at all), cropped to the rectangle ``_roi`` where any of them is non-zero."""
        gh, gw = self._gh, self._gw
        n_lm, n_ring = len(mesh_idx), len(FACE_OVAL)
        fields = []
        for name in EXPRESSION_BASES:
            b = self._bases[name][mesh_idx]
            ring_b = 0.5 * b[list(FACE_OVAL)]
            vb = np.concatenate([b, ring_b, np.zeros((n_verts - n_lm - n_ring, 2), np.float32)])
            fields.append((wmat @ vb).reshape(gh, gw, 2))
        fields = np.stack(fields).astype(np.float32)  # (K, gh, gw, 2)
        nz = np.abs(fields).max(axis=(0, 3)) > 1e-3
        ys, xs = np.nonzero(nz)
        if len(ys):
            self._roi = (int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1)
        else:
            self._roi = (0, 1, 0, 1)
        y0, y1, x0, x1 = self._roi
        self._fields = np.ascontiguousarray(fields[:, y0:y1, x0:x1].reshape(len(EXPRESSION_BASES), -1))
        self._fields_xy = np.ascontiguousarray(np.moveaxis(fields[:, y0:y1, x0:x1], -1, 1))  # (K, 2, h, w)

    def _head_mask(self, lm: np.ndarray) -> None:
        """Head mask: 1 over the head, smooth falloff into neck, shoulders and background."""
        w, h, px, py, fw, fh = self.width, self.height, self._px, self._py, self._fw, self._fh
        hc = np.array([self._pivot[0], (lm[FOREHEAD, 1] + lm[CHIN, 1]) / 2 - 0.15 * fh])
        r = np.sqrt(((px - hc[0]) / (0.8 * fw)) ** 2 + ((py - hc[1]) / (0.85 * fh)) ** 2)
        border_d = np.minimum(np.minimum(px, w - 1 - px), np.minimum(py, h - 1 - py)) / max(w, h)
        pin = _smoothstep((border_d - 0.02) / 0.06)  # the frame edge never moves, however close the head is
        self._head_w = ((1 - _smoothstep((r - 1.0) / 0.8)) * pin).astype(np.float32)

    def _active_region(self) -> None:
        """The grid box ``_aroi`` that any motion can move (head mask or expression fields), and its per-frame
        constants, precomputed: its grid (remap maps), the rigid motion's inputs premultiplied by the head mask,
        and the full-resolution identity map."""
        k = GRID_STEP
        active = self._head_w > 1e-4
        y0, y1, x0, x1 = self._roi
        active[y0:y1, x0:x1] = True
        ys, xs = np.nonzero(active)
        self._aroi = (int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1)
        ay0, ay1, ax0, ax1 = self._aroi
        gx, gy, px, py = self._gx_idx, self._gy_idx, self._px, self._py
        self._grid_roi = (
            np.ascontiguousarray(gx[ay0:ay1, ax0:ax1] - ax0),
            np.ascontiguousarray(gy[ay0:ay1, ax0:ax1] - ay0),
        )
        pv = self._pivot
        hw = self._head_w[ay0:ay1, ax0:ax1]
        self._hw_roi = np.ascontiguousarray(hw)
        # Grid points relative to the pivot: x depends on the column only, y on the row only.
        self._rel_x = np.ascontiguousarray(px[ay0 : ay0 + 1, ax0:ax1] - pv[0])  # (1, w)
        self._rel_y = np.ascontiguousarray(py[ay0:ay1, ax0 : ax0 + 1] - pv[1])  # (h, 1)
        self._rel_z = np.ascontiguousarray(self._z[ay0:ay1, ax0:ax1] - pv[2])
        ys_full = np.arange(ay0 * k, ay1 * k, dtype=np.float32)
        xs_full = np.arange(ax0 * k, ax1 * k, dtype=np.float32)
        self._identity_roi = np.ascontiguousarray(np.stack(np.meshgrid(xs_full, ys_full), -1))

    def _mouth_interior(self, lm: np.ndarray) -> None:
        """Mouth interior: colours from the photo, incisal edges of both teeth rows along the neutral lip split."""
        relief, fh = self._relief, self._fh
        self._palette = MouthPalette.from_portrait(self.image, lm, fh, self._teeth_split)
        up_i, lo_i = list(LIP_UPPER_INNER), list(LIP_LOWER_INNER)
        mid = np.concatenate([(lm[up_i, :2] + lm[lo_i, :2]) / 2, (relief[up_i] + relief[lo_i])[:, None] / 2], 1)
        down = np.array([*self._ey, 0.0], np.float32) * fh
        self._teeth_q0 = (
            (mid + UPPER_TEETH_EDGE_FH * down).astype(np.float32),
            (mid + LOWER_TEETH_EDGE_FH * down).astype(np.float32),
        )
        jaw_lip = LOWER_TEETH_FOLLOW * self._bases["jaw_open"][LIP_LOWER_MID]
        self._teeth_jaw = np.array([*jaw_lip, 0.0], np.float32)  # rigid mandible: one displacement for the row

    def _glasses(self, lm: np.ndarray) -> None:
        """Glasses frames: drawn back over the expression warp from the head-moved portrait (``_draw_rigid``), in a
        grid-aligned box around them padded for the head's travel."""
        k = GRID_STEP
        self._rigid = rigid_weight(self.image, lm)
        self._rigid_box = None
        if self._rigid.max() <= 0.01:
            return
        ys, xs = np.nonzero(self._rigid > 0.01)
        pad = int(0.08 * self._fw)  # the box follows the head (below); this covers a roll's spread across the rim
        ay0, ay1, ax0, ax1 = (v * k for v in self._aroi)
        y0, y1 = max((ys.min() - pad) // k * k, ay0), min(-(-(ys.max() + pad) // k) * k, ay1)
        x0, x1 = max((xs.min() - pad) // k * k, ax0), min(-(-(xs.max() + pad) // k) * k, ax1)
        self._rigid_box = (int(y0), int(y1), int(x0), int(x1))
        # The warp moves a copy of the portrait with the frame painted out (else the brows would carry a bent
        # ghost of the rim up with them); the frame itself is drawn over it, fully covering what was painted out.
        hole = (self._rigid > RIGID_HOLE).astype(np.uint8)
        # The brows stay in the warped copy: raised, they come up from behind the frame's top bar.
        for side in (0, 1):
            brow_poly = np.round(lm[list(BROW_UPPER[side] + BROW_LOWER[side][::-1]), :2]).astype(np.int32)
            cv2.fillPoly(hole, [brow_poly], 0)
        cover = np.clip(self._rigid / RIGID_HOLE, 0.0, 1.0)
        self._rigid_rgba = np.dstack([self.image, (255 * cover + 0.5).astype(np.uint8)])
        clean = cv2.inpaint(self.image, hole, max(3, int(0.02 * self._fw)), cv2.INPAINT_TELEA)
        self._image_rgba = cv2.cvtColor(clean, cv2.COLOR_RGB2RGBA)

    def _eye_contours(self, lm: np.ndarray) -> None:
        """Eyes (source coordinates): lid contours as functions of x, brow, iris."""
        self._eyes = []
        for side in (0, 1):
            up, lo = lm[list(EYE_UPPER[side])], lm[list(EYE_LOWER[side])]
            brow = lm[list(BROW_LOWER[side])]
            xs_u, xs_l = np.argsort(up[:, 0]), np.argsort(lo[:, 0])
            iris = lm[list(IRIS[side])]
            width = float(np.linalg.norm(lm[EYE_CORNERS[side][0], :2] - lm[EYE_CORNERS[side][1], :2]))
            self._eyes.append(
                dict(
                    ux=up[xs_u, 0], uy=up[xs_u, 1], lx=lo[xs_l, 0], ly=lo[xs_l, 1],
                    bx=np.sort(brow[:, 0]), by=brow[np.argsort(brow[:, 0]), 1],
                    x0=float(min(up[:, 0].min(), lo[:, 0].min())), x1=float(max(up[:, 0].max(), lo[:, 0].max())),
                    iris=iris[0, :2].copy(), iris_r=float(np.linalg.norm(iris[1:, :2] - iris[0, :2], axis=1).mean()),
                    width=width, idx=list(EYE_UPPER[side] + EYE_LOWER[side] + BROW_LOWER[side]),
                )
            )  # fmt: skip

    # ------------------------------------------------------------------------------------------------------------

    @staticmethod
    def _ey_of(lm: np.ndarray) -> np.ndarray:
        return face_frame(lm)[2]

    @property
    def frame_size(self) -> tuple[int, int]:
        """(width, height) of rendered frames."""
        return self.width, self.height

    def _head_transform(self, m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(2, 3) rows of s*R and the (2,) offset so that x' = A @ (p3 - pivot) + pivot + t."""
        rot = rotation_matrix(m[MOTION_INDEX["head_pitch"]], m[MOTION_INDEX["head_yaw"]], m[MOTION_INDEX["head_roll"]])
        a = np.exp(m[MOTION_INDEX["head_scale"]]) * rot[:2]
        t = np.array([m[MOTION_INDEX["head_tx"]], m[MOTION_INDEX["head_ty"]]]) * self._fw
        return a.astype(np.float32), t.astype(np.float32)

    def landmarks_for(self, motion: np.ndarray) -> np.ndarray:
        """(478, 2) where each landmark lands in the rendered frame for ``motion``."""
        return self._moved_landmarks(clip_motion(motion))[: len(self._lm)]

    def _moved_landmarks(self, m: np.ndarray) -> np.ndarray:
        return self._moved(basis_weights(m), *self._head_transform(m))

    def _moved(self, wts: np.ndarray, a: np.ndarray, t: np.ndarray) -> np.ndarray:
        q = self._q0.copy()  # (x, y, relief z) of every mesh point
        q[:, :2] += np.einsum("k,kij->ij", wts, self._bases_stack)  # (no BLAS threads: see _forward_field)
        q -= self._pivot
        return (q @ a.T + self._pivot[:2] + t).astype(np.float32)

    def _forward_field(self, wts: np.ndarray, a: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Forward displacement (source -> frame) in pixels of the grid points inside the active region, (x, y).

        ``wts``: basis weights, ``a``, ``t``: head transform of the frame's motion.
        """
        hw = self._hw_roi
        # rigid part, blended by the head mask: w * (A (q - pivot) + pivot + t - q) with q = (p + e, z)
        rx, ry, rz = self._rel_x, self._rel_y, self._rel_z
        fx = cv2.scaleAdd(rz, float(a[0, 2]), ((a[0, 0] - 1) * rx + t[0]) + a[0, 1] * ry)
        fx *= hw
        fy = cv2.scaleAdd(rz, float(a[1, 2]), (a[1, 0] * rx + t[1]) + (a[1, 1] - 1) * ry)
        fy *= hw
        nz = np.flatnonzero(wts)
        if len(nz):
            ay0, _, ax0, _ = self._aroi
            y0, y1, x0, x1 = self._roi  # expression region, inside the active region
            # sum_k w_k field_k, one fused pass per active basis. (Not tensordot: it goes through BLAS, whose threads
            # spin against the encoder and the diffusion for the cores; that made it the renderer's largest cost.)
            acc = self._fields_xy[nz[0]].reshape(-1, x1 - x0) * wts[nz[0]]
            for i in nz[1:]:
                acc = cv2.scaleAdd(self._fields_xy[i].reshape(-1, x1 - x0), float(wts[i]), acc)
            ex, ey = acc.reshape(2, y1 - y0, x1 - x0)
            sl = np.s_[y0 - ay0 : y1 - ay0, x0 - ax0 : x1 - ax0]
            w = hw[sl]
            # e moves q too: fx += ex + w ((a00 - 1) ex + a01 ey), likewise fy
            for f, e, c0, c1 in ((fx, ex, a[0, 0] - 1, a[0, 1]), (fy, ey, a[1, 0], a[1, 1] - 1)):
                d = cv2.addWeighted(ex, float(c0), ey, float(c1), 0.0)
                d *= w
                d += e
                f[sl] += d
        return fx, fy

    def _backward_map(self, fx: np.ndarray, fy: np.ndarray) -> np.ndarray:
        """Invert the forward field: (h, w, 2) source coordinates of every output pixel of the active region."""
        k = GRID_STEP
        # Newton on s + f(s) = y with the field's Jacobian (fixed-point iteration diverges where the skin stretches
        # more than 2x, e.g. between a low brow and the eye when the brows go up).
        jxx, jxy, jyx, jyy = (
            field_gradient(fx, 1, k),
            field_gradient(fx, 0, k),
            field_gradient(fy, 1, k),
            field_gradient(fy, 0, k),
        )
        jxx += 1
        jyy += 1
        det = jxx * jyy
        det -= jxy * jyx
        np.copyto(det, np.copysign(np.float32(0.05), det), where=np.abs(det) < 0.05)
        inv = np.float32(1) / det
        # The field and its inverse Jacobian (rows (i00, i01), (i10, i11)), sampled together by one remap: OpenCV
        # interpolates 8 float channels (two spare) faster than 6.
        zero = np.zeros_like(fx)
        packed = cv2.merge([fx, fy, jyy * inv, -jxy * inv, -jyx * inv, jxx * inv, zero, zero])
        field = cv2.merge([fx, fy])
        gx, gy = self._grid_roi
        # First iterate s = y + b with b = -f(y), on the whole region.
        bx, by = -fx, -fy
        mx, my = cv2.scaleAdd(bx, 1.0 / k, gx), cv2.scaleAdd(by, 1.0 / k, gy)
        f = cv2.remap(packed, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)  # zero field outside
        rx, ry, err = residual(bx, by, f)
        best_x, best_y, best_err = bx, by, err
        # Later iterates: keep each point's best (Newton can overshoot at the lip corners). A point whose residual
        # is below the remap's own resolution stops: its next step would move it by less than that. The second step
        # runs on the rectangle around the points still moving (the outer head mask has converged), later ones on
        # the moving points alone (mostly around the parting lips), as flat indices ``idx``.
        width = bx.shape[1]
        going = err > _NEWTON_TOL**2
        rows, cols = np.flatnonzero(going.any(1)), np.flatnonzero(going.any(0))
        n_iters = _NEWTON_ITERS if len(rows) else 0  # (0: all converged already)
        y0, y1, x0, x1 = (rows[0], rows[-1] + 1, cols[0], cols[-1] + 1) if len(rows) else (0, 0, 0, 0)
        box = np.s_[y0:y1, x0:x1]
        bx, by, rx, ry, f = bx[box], by[box], rx[box], ry[box], f[box]
        idx = None
        for it in range(1, n_iters + 1):
            bx, by = newton_step(bx, by, rx, ry, f, k)
            if idx is None:
                mx, my = cv2.scaleAdd(bx, 1.0 / k, gx[box]), cv2.scaleAdd(by, 1.0 / k, gy[box])
                f = cv2.remap(field, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
                rx, ry, err = residual(bx, by, f)
                better = err < best_err[box]
                np.copyto(best_x[box], bx, where=better)
                np.copyto(best_y[box], by, where=better)
                np.copyto(best_err[box], err, where=better)
            else:
                mx, my = gx.ravel()[idx] + bx / k, gy.ravel()[idx] + by / k
                f = sample_points(field, mx, my)
                rx, ry, err = residual(bx, by, f)
                better = err < best_err.ravel()[idx]
                sel = idx[better]
                best_x.ravel()[sel], best_y.ravel()[sel], best_err.ravel()[sel] = bx[better], by[better], err[better]
            if it == n_iters:
                break
            going = np.flatnonzero(err > _NEWTON_TOL**2)
            if idx is None:  # box -> whole-grid flat indices
                iy, ix = np.divmod(going, err.shape[1])
                idx = (iy + y0) * width + (ix + x0)
            else:
                idx = idx[going]
            if not len(idx):
                break
            bx, by, rx, ry, mx, my = (a.ravel()[going] for a in (bx, by, rx, ry, mx, my))
            f = sample_points(packed, mx, my)
        ay0, ay1, ax0, ax1 = self._aroi
        size = ((ax1 - ax0) * k, (ay1 - ay0) * k)
        up = cv2.resize(cv2.merge([best_x, best_y]), size, interpolation=cv2.INTER_LINEAR)
        up += self._identity_roi
        return up

    def _apply_eyes(self, src: np.ndarray, m: np.ndarray, dst_lm: np.ndarray) -> None:
        """Eyelids close over the eye (skin above the lid slides down) and irises shift, in place on ``src``."""
        blinks = (m[MOTION_INDEX["blink_left"]], m[MOTION_INDEX["blink_right"]])
        gaze = np.array([m[MOTION_INDEX["gaze_x"]], m[MOTION_INDEX["gaze_y"]]], np.float32)
        if not any(blinks) and not np.any(gaze):
            return
        h, w = src.shape[:2]
        for eye, blink in zip(self._eyes, blinks, strict=True):
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
            sx, sy = roi[..., 0], roi[..., 1]  # views: updated in place below
            inside = (sx > eye["x0"]) & (sx < eye["x1"])
            u = np.interp(sx, eye["ux"], eye["uy"])
            lo = np.interp(sx, eye["lx"], eye["ly"])
            covered = lid_y = None
            if blink > 0:
                covered, lid_y = self._closing_lid(eye, sx, sy, u, lo, float(blink))
                covered &= inside
            if np.any(gaze):
                opening = inside & (sy > u) & (sy < lo)
                if covered is not None:
                    opening &= ~covered  # the lid hides the iris: covered pixels keep their source x
                off = gaze * np.array([GAZE_X_EYE_WIDTHS, GAZE_Y_EYE_WIDTHS], np.float32) * eye["width"]
                c = eye["iris"] + off
                d2 = ((sx - c[0]) ** 2 + (sy - c[1]) ** 2) / (1.6 * eye["iris_r"]) ** 2
                bump = np.exp(-(d2**2)) * opening
                sx -= off[0] * bump
                sy -= off[1] * bump
            if covered is not None:
                np.copyto(sy, lid_y, where=covered)

    # The closing upper lid, as a resampling of the portrait (fractions of the eye width "ew", or of the lid-to-brow
    # distance). The lid skin is the band LID_SKIN_BAND of the way from the lid margin up to the brow, stretched over
    # the eye: clear of the lashes, the crease and any iris just above the margin (which, stretched, left a dark
    # "open eye" blob on the lid, mostly behind glasses), and of the brow or a glasses rim near the brow. The lowest
    # LID_LASH_EW of the lid is the lid margin itself, unstretched: a closed eye shows a thin dark lash line. A fully
    # closed lid reaches LID_OVERLAP_EW past the lower lid landmarks mid-eye, so no iris is left showing beneath it.
    # Without these, mediapipe read a fully closed lid as 16-60 % closed; with them ~65 % (its own closed-eye floor).
    LID_SKIN_BAND = (0.3, 0.6)
    LID_LASH_EW = 0.06
    LID_OVERLAP_EW = 0.05

    def _closing_lid(
        self, eye: dict, sx: np.ndarray, sy: np.ndarray, u: np.ndarray, lo: np.ndarray, blink: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """(covered, source y) for output pixels whose unlidded source is (sx, sy); ``u``/``lo``: lid contours."""
        span = np.maximum(u - np.interp(sx, eye["bx"], eye["by"]), 1.0)
        lash = self.LID_LASH_EW * eye["width"]
        top = u - self.LID_SKIN_BAND[1] * span
        # The skin band moves up from the margin to its final place over the first half of the blink: continuous
        # with the open eye at blink 0.
        clear = float(_smoothstep(np.float32(2.0 * blink)))
        skin_end = u - lash - clear * np.maximum(self.LID_SKIN_BAND[0] * span - lash, 0.0)
        t = np.clip((sx - eye["x0"]) / max(eye["x1"] - eye["x0"], 1e-3), 0.0, 1.0)
        edge = u + blink * (lo + self.LID_OVERLAP_EW * eye["width"] * np.sin(np.pi * t) - u)
        covered = (sy > top) & (sy < edge)
        skin_y = top + (sy - top) * (skin_end - top) / np.maximum(edge - lash - top, 1e-3)
        return covered, np.where(sy > edge - lash, u - (edge - sy), skin_y)

    def _draw_rigid(self, frame: np.ndarray, wts: np.ndarray, a: np.ndarray, t: np.ndarray) -> None:
        """Glasses frames over the warped face, moved by the head pose only (in place on ``frame``)."""
        if self._rigid_box is None:
            return
        k = GRID_STEP
        y0, y1, x0, x1 = self._rigid_box
        ay0, ay1, ax0, ax1 = self._aroi
        # The box moves with the head: shifted by the head's displacement at its centre, in whole grid cells.
        rc, cc = (y0 + y1) // (2 * k) - ay0, (x0 + x1) // (2 * k) - ax0
        rz_c, hw_c = float(self._rel_z[rc, cc]), float(self._hw_roi[rc, cc])
        rx_c, ry_c = float(self._rel_x[0, cc]), float(self._rel_y[rc, 0])
        dx = hw_c * ((a[0, 0] - 1) * rx_c + a[0, 1] * ry_c + a[0, 2] * rz_c + t[0])
        dy = hw_c * (a[1, 0] * rx_c + (a[1, 1] - 1) * ry_c + a[1, 2] * rz_c + t[1])
        sy, sx = int(round(dy / k)), int(round(dx / k))
        sy = min(max(sy, ay0 - y0 // k), ay1 - y1 // k)
        sx = min(max(sx, ax0 - x0 // k), ax1 - x1 // k)
        y0, y1, x0, x1 = y0 + sy * k, y1 + sy * k, x0 + sx * k, x1 + sx * k
        r0, r1, c0, c1 = y0 // k - ay0, y1 // k - ay0, x0 // k - ax0, x1 // k - ax0
        # The head's displacement on the box's grid points (the rigid part of ``_forward_field``), then the backward
        # map to first order: a pixel's source is itself minus that displacement (smooth, nearly uniform here).
        rx, ry, rz, hw = (
            self._rel_x[:, c0:c1],
            self._rel_y[r0:r1],
            self._rel_z[r0:r1, c0:c1],
            self._hw_roi[r0:r1, c0:c1],
        )
        fx = hw * (((a[0, 0] - 1) * rx + t[0]) + a[0, 1] * ry + a[0, 2] * rz)
        fy = hw * ((a[1, 0] * rx + t[1]) + (a[1, 1] - 1) * ry + a[1, 2] * rz)
        disp = cv2.resize(cv2.merge([fx, fy]), (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
        src = self._identity_roi[y0 - ay0 * k : y1 - ay0 * k, x0 - ax0 * k : x1 - ax0 * k] - disp
        patch = cv2.remap(self._rigid_rgba, src, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        cover = patch[..., 3].astype(np.float32)
        cover *= np.float32(1 / 255)
        roi = frame[y0:y1, x0:x1]
        roi[:] = cv2.blendLinear(np.ascontiguousarray(patch[..., :3]), roi, cover, 1.0 - cover)

    def _paint_mouth(
        self, frame: np.ndarray, dst_lm: np.ndarray, wts: np.ndarray, a: np.ndarray, t: np.ndarray
    ) -> None:
        """Throat, tongue and teeth inside the parted lips (``mouth.paint_interior``), fading in past neutral."""
        up_mid, lo_mid = self._mouth_upper[len(self._mouth_upper) // 2], self._mouth_lower[len(self._mouth_lower) // 2]
        gap = float(np.linalg.norm(dst_lm[lo_mid] - dst_lm[up_mid]))
        alpha_open = float(np.clip((gap - self._gap0) / (0.03 * self._fh), 0.0, 1.0))
        if alpha_open <= 0:
            return
        upper, lower = dst_lm[self._mouth_upper], dst_lm[self._mouth_lower]
        poly = np.concatenate([upper, lower[::-1]])
        h, w = frame.shape[:2]
        x0, y0 = np.floor(poly.min(0)).astype(int) - 2
        x1, y1 = np.ceil(poly.max(0)).astype(int) + 3
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
        if x1 - x0 < 2 or y1 - y0 < 2:
            return
        mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
        cv2.fillPoly(mask, [np.round((poly - [x0, y0]) * 4).astype(np.int32)], 255, cv2.LINE_AA, shift=2)
        alpha = cv2.GaussianBlur(mask, (3, 3), 0).astype(np.float32)
        alpha *= np.float32(alpha_open / 255.0)
        # Teeth rows: the upper one moves with the skull only, the lower one with the mandible (jaw weight).
        q = np.concatenate([self._teeth_q0[0], self._teeth_q0[1] + np.float32(wts[0]) * self._teeth_jaw])
        q -= self._pivot
        edges = (q @ a.T + self._pivot[:2] + t).astype(np.float32)
        n = len(self._teeth_q0[0])
        paint_interior(
            frame[y0:y1, x0:x1], alpha, x0, y0, upper, lower, edges[:n], edges[n:], self._palette, self._fh,
            teeth=not self._teeth_split,
        )  # fmt: skip

    def area_change(self, motion: np.ndarray) -> np.ndarray:
        """(H, W) Jacobian determinant of the backward map (source area per frame pixel) for ``motion``'s warp.

        1 where nothing moves; below 1 the skin is stretched, above 1 compressed. Eyelids and the painted mouth are
        not part of it (they resample or paint over the warp).
        """
        m = clip_motion(motion)
        det = np.ones((self.height, self.width), np.float32)
        if not np.any(m):
            return det
        wts = basis_weights(m)
        a, t = self._head_transform(m)
        src = self._backward_map(*self._forward_field(wts, a, t))
        sx, sy = src[..., 0], src[..., 1]
        gxx, gxy = np.gradient(sx, axis=1), np.gradient(sx, axis=0)
        gyx, gyy = np.gradient(sy, axis=1), np.gradient(sy, axis=0)
        ay0, ay1, ax0, ax1 = (v * GRID_STEP for v in self._aroi)
        det[ay0:ay1, ax0:ax1] = gxx * gyy - gxy * gyx
        return det

    def render(self, motion: np.ndarray) -> np.ndarray:
        """One frame (H, W, 3) uint8 for a motion vector (14,); all zeros returns the resized portrait."""
        m = clip_motion(motion)
        if not np.any(m):
            return self.image.copy()
        wts = basis_weights(m)
        a, t = self._head_transform(m)
        dst_lm = self._moved(wts, a, t)
        src = self._backward_map(*self._forward_field(wts, a, t))
        ay0, ay1, ax0, ax1 = (v * GRID_STEP for v in self._aroi)
        self._apply_eyes(src, m, dst_lm - np.array([ax0, ay0], np.float32))
        frame = self.image.copy()
        # (OpenCV remaps 4 channels faster than 3.)
        warped = cv2.remap(self._image_rgba, src, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        cv2.cvtColor(warped, cv2.COLOR_RGBA2RGB, dst=frame[ay0:ay1, ax0:ax1])
        self._draw_rigid(frame, wts, a, t)
        self._paint_mouth(frame, dst_lm, wts, a, t)
        return frame

    def render_all(self, motion: np.ndarray, threads: int | None = None) -> Iterator[np.ndarray]:
        """Frames for a (T, 14) motion sequence, produced one at a time, in order.

        Frames are independent, so up to ``threads`` of them (default: one per CPU core, at most 4) render at once,
        each ahead of the consumer by at most that many frames: while the caller encodes one, the next ones are
        already being drawn (OpenCV and numpy release the GIL).
        """
        motion = np.asarray(motion, dtype=np.float32)
        if motion.ndim != 2 or motion.shape[1] != MOTION_DIM:
            raise ValueError(f"motion must have shape (T, {MOTION_DIM}), got {motion.shape}")
        threads = min(4, _usable_cpus()) if threads is None else threads
        if threads <= 1 or len(motion) < 2:
            for row in motion:
                yield self.render(row)
            return
        with ThreadPoolExecutor(threads, thread_name_prefix="render") as pool:
            pending: deque = deque()
            try:
                for row in motion:
                    pending.append(pool.submit(self.render, row))
                    if len(pending) > threads:
                        yield pending.popleft().result()
                while pending:
                    yield pending.popleft().result()
            finally:  # the consumer stopped early (or a frame failed): drop what has not started
                for future in pending:
                    future.cancel()
