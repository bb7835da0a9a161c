"""Primitives of the renderer's inverse warp: the forward field's Jacobian by finite differences, bilinear
sampling at scattered points, and the Newton iteration's residual and step (``PortraitRenderer._backward_map``)."""

from __future__ import annotations

import cv2
import numpy as np


def field_gradient(f: np.ndarray, axis: int, k: float) -> np.ndarray:
    """``np.gradient(f, axis=axis) / k``: central differences, one-sided at the edges."""
    kernel = np.array([[-0.5 / k, 0.0, 0.5 / k]], np.float32)
    g = cv2.filter2D(f, cv2.CV_32F, kernel if axis == 1 else kernel.T, borderType=cv2.BORDER_REPLICATE)
    edges = (np.s_[:, 0], np.s_[:, -1]) if axis == 1 else (np.s_[0], np.s_[-1])
    for e in edges:
        g[e] *= 2  # the replicated border halved the one-sided difference
    return g


def sample_points(src: np.ndarray, mx: np.ndarray, my: np.ndarray) -> np.ndarray:
    """(n, channels) bilinear samples of ``src`` at n points (x, y), zero outside: ``cv2.remap`` on a point list."""
    n = len(mx)
    cols = min(n, 8192)  # remap wants fewer than 32767 columns
    rows = -(-n // cols)
    if rows * cols != n:
        mx, my = np.resize(mx, rows * cols), np.resize(my, rows * cols)
    out = cv2.remap(
        src, mx.reshape(rows, cols), my.reshape(rows, cols), cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT
    )
    return out.reshape(rows * cols, -1)[:n]


def residual(bx: np.ndarray, by: np.ndarray, f: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """y - (s + f(s)) with s = y + b, and its squared length; ``f``: the field sampled at s (channels 0, 1)."""
    rx, ry = np.negative(bx), np.negative(by)
    rx -= f[..., 0]
    ry -= f[..., 1]
    err = rx * rx
    err += ry * ry
    return rx, ry, err


def newton_step(
    bx: np.ndarray, by: np.ndarray, rx: np.ndarray, ry: np.ndarray, f: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """b + J(s)^-1 r, each component clipped to 4 grid cells; ``f``: channels 2..5 hold J^-1 sampled at s."""
    sx = f[..., 2] * rx
    sx += f[..., 3] * ry
    sy = f[..., 4] * rx
    sy += f[..., 5] * ry
    return bx + np.clip(sx, -4.0 * k, 4.0 * k, out=sx), by + np.clip(sy, -4.0 * k, 4.0 * k, out=sy)
