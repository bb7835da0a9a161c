"""Glasses frames found in the portrait, so the expression warp leaves them rigid.

A frame is a strong, long edge that is not part of the face: on the photo's edges (Canny on a lightly blurred gray
image) with the brows and eyes masked out (their own landmarks move them), in the eye band (brow top to below the
lower lids), a connected edge that reaches past both outer eye corners (so across the nose bridge) and spans at
least MIN_FRAME_FW by MIN_FRAME_FH is a frame: it runs over both eyes in one piece, while wrinkles, lashes, hair
and skin texture break up into short bits. The result is a smooth weight in [0, 1] per pixel.

``PortraitRenderer`` warps the face as usual (brows rise, cheeks lift) and then draws the frame back on top, taken
from the portrait moved by the head pose alone, with this weight as its coverage: the frame is in front of the
face, so the brows slide up behind it instead of bending it, and the warp itself stays smooth (holding the frame's
pixels still inside the warp folded the skin where a brow rose into the rim).

Hat brims and earrings need no detector: they lie outside the reach of every expression basis (a brim is a quarter
face height or more above the brows, an earring below the ear lobe), which ``tests/test_render.py`` checks.
"""

from __future__ import annotations

import cv2
import numpy as np

from .face import BROW_LOWER, BROW_UPPER, EYE_CORNERS, EYE_LOWER, EYE_UPPER, face_frame

MIN_FRAME_FW = 0.5  # narrowest connected edge (face widths) across the nose bridge taken for a glasses frame
MIN_FRAME_FH = 0.1  # and its least height (face heights): a rim goes round a lens, a hair line does not


def _fill(shape: tuple[int, int], pts: np.ndarray, grow: int) -> np.ndarray:
    m = np.zeros(shape, np.uint8)
    cv2.fillPoly(m, [np.round(pts[:, :2]).astype(np.int32)], 1)
    return cv2.dilate(m, np.ones((2 * grow + 1, 2 * grow + 1), np.uint8)) if grow > 0 else m


def rigid_weight(image: np.ndarray, lm: np.ndarray) -> np.ndarray:
    """(H, W) float32 in [0, 1]: how much each pixel belongs to a glasses frame (all 0: none found)."""
    h, w = image.shape[:2]
    _, _, _, fw, fh = face_frame(lm)
    gray = cv2.GaussianBlur(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), (0, 0), max(0.6, 0.004 * fw))
    edges = cv2.Canny(gray, 40, 110) > 0
    strong = cv2.Canny(gray, 90, 220) > 0  # a frame's outline is high-contrast; the wrinkles it touches are not
    # Face features are not accessories (their own landmarks move them).
    feat, eyes, brows_m = (np.zeros((h, w), np.uint8) for _ in range(3))
    g = max(2, int(0.015 * fw))
    for s in (0, 1):
        eyes |= _fill((h, w), lm[list(EYE_UPPER[s] + EYE_LOWER[s][::-1])], g)
        # ... with the lid skin above it, which a blink stretches down over the eye (LID_SKIN_BAND of the renderer)
        up, brow = lm[list(EYE_UPPER[s]), :2], lm[list(BROW_LOWER[s]), :2]
        o = np.argsort(brow[:, 0])
        top = up.copy()
        top[:, 1] += 0.65 * (np.interp(up[:, 0], brow[o, 0], brow[o, 1]) - up[:, 1])
        eyes |= _fill((h, w), np.concatenate([up, top[::-1]]), g)
        brows_m |= _fill((h, w), lm[list(BROW_UPPER[s] + BROW_LOWER[s][::-1])], 0)
    feat |= eyes | cv2.dilate(brows_m, np.ones((2 * g + 1,) * 2, np.uint8))
    edges &= feat == 0
    strong &= feat == 0
    rigid = np.zeros((h, w), np.uint8)

    # Glasses: in the eye band, long connected edges that are not brows, lids or wrinkles (those are short).
    brows = lm[list(sum(BROW_UPPER, ()))]
    lids = lm[list(sum(EYE_LOWER, ()))]
    x0 = int(max(min(lm[EYE_CORNERS[0][0], 0], brows[:, 0].min()) - 0.12 * fw, 0))
    x1 = int(min(max(lm[EYE_CORNERS[1][0], 0], brows[:, 0].max()) + 0.12 * fw, w))
    y0 = int(max(brows[:, 1].min() - 0.05 * fh, 0))
    y1 = int(min(lids[:, 1].max() + 0.12 * fh, h))
    band = cv2.dilate(edges[y0:y1, x0:x1].astype(np.uint8), np.ones((3, 3), np.uint8))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(band, connectivity=8)
    mid = 0.5 * (lm[EYE_CORNERS[0][1], 0] + lm[EYE_CORNERS[1][1], 0]) - x0
    outer_l, outer_r = lm[EYE_CORNERS[0][0], 0] - x0, lm[EYE_CORNERS[1][0], 0] - x0
    left, width, height = (stats[:, c] for c in (cv2.CC_STAT_LEFT, cv2.CC_STAT_WIDTH, cv2.CC_STAT_HEIGHT))
    long = [
        i for i in range(1, n)
        if width[i] >= MIN_FRAME_FW * fw and height[i] >= MIN_FRAME_FH * fh
        and left[i] <= outer_l < mid < outer_r <= left[i] + width[i]
    ]  # fmt: skip
    if long:
        rigid[y0:y1, x0:x1] |= (np.isin(labels, long) & strong[y0:y1, x0:x1]).astype(np.uint8)
    if not rigid.any():
        return np.zeros((h, w), np.float32)
    # Grow to the frame's body (an edge is its outline) and soften, so the warp bends smoothly around it.
    grown = cv2.dilate(rigid, np.ones((3, 3), np.uint8), iterations=max(1, int(0.015 * fw)))
    weight = np.clip(2.0 * cv2.GaussianBlur(grown.astype(np.float32), (0, 0), 0.01 * fw), 0.0, 1.0)
    # The eyes behind the lenses (and their lid skin) are not part of the frame: lids close and irises move.
    weight *= 1.0 - cv2.GaussianBlur(eyes.astype(np.float32), (0, 0), 0.005 * fw + 0.5)
    return weight
