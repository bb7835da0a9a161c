"""The inside of the mouth: throat, tongue and two teeth rows, lit and coloured by the portrait itself.

Geometry (in the frame): the upper teeth row is fixed to the skull (it moves with the head only), the lower row rides
with the mandible (the jaw basis at the lower lip's centre, uniformly: the mandible is rigid), the tongue rests
behind the lower incisors and the throat is the darkest layer behind everything. The painter only draws inside the
parted inner-lip polygon, so the lips occlude all of it.

Colour (from the photo, so a grayscale photo gives a grayscale mouth and white balance / exposure follow the face):
teeth from the sclera (the brightest part of the eye whites, slightly darkened and tinted towards the skin), tongue
and throat from the lips, shading from the skin's own luminance. A photo that shows its teeth (open neutral mouth)
keeps them: the renderer splits them between the lips (``PortraitRenderer._teeth_split``) and this painter then
draws only the throat and tongue between the two copies.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .face import EYE_LOWER, EYE_UPPER, LIP_LOWER_INNER, LIP_LOWER_OUTER, LIP_UPPER_INNER, LIP_UPPER_OUTER

# Geometry, in face heights (fh) below / above the neutral inner-lip split line.
UPPER_TEETH_EDGE_FH = 0.02  # the upper incisal edge shows ~3 mm below the relaxed upper lip (overbite included)
LOWER_TEETH_EDGE_FH = -0.004  # the lower incisors close behind the upper ones, their edge a little higher
TEETH_HEIGHT_FH = 0.05  # visible crown height of the incisors
LOWER_TEETH_FOLLOW = 0.85  # the lower incisors sit behind the lower lip: they move a little less than it
TONGUE_RISE = 0.45  # tongue top above the lower teeth edge, as a fraction of the teeth gap (centre)
TEXTURE_SIZE, TEXTURE_AMPLITUDE = 256, 0.12  # mottling of throat and tongue: tile side (px), relative std
TEETH_HALF_WIDTH = 0.82  # fraction of the inner mouth's half-width over which teeth are visible
# Tooth boundaries from the midline outwards, as fractions of the mouth half-width (incisors, laterals, canines).
TOOTH_EDGES_UPPER = (0.0, 0.2, 0.36, 0.52, 0.66, 0.78)
TOOTH_EDGES_LOWER = (0.0, 0.13, 0.27, 0.41, 0.55, 0.68)


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def _poly_mask(shape: tuple[int, int], polys: list[np.ndarray]) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    for p in polys:
        cv2.fillPoly(mask, [np.round(p[:, :2]).astype(np.int32)], 1)
    return mask.astype(bool)


@dataclass(frozen=True)
class MouthPalette:
    """RGB float32 (3,) colours of the mouth's layers at full light, measured on the portrait."""

    teeth: np.ndarray
    tongue: np.ndarray
    throat: np.ndarray
    # (TEXTURE_SIZE, TEXTURE_SIZE) float32 around 1: the soft tissue's mottling (fixed per portrait, so it rides with
    # the mouth instead of flickering), its grain scaled to the face
    texture: np.ndarray

    @staticmethod
    def from_portrait(image: np.ndarray, lm: np.ndarray, fh: float, teeth_shown: bool) -> MouthPalette:
        h, w = image.shape[:2]
        px = image.reshape(-1, 3).astype(np.float32)
        lum = px @ np.array([0.299, 0.587, 0.114], np.float32)

        def pick(mask: np.ndarray) -> np.ndarray:
            return np.flatnonzero(mask.ravel())

        lips = _poly_mask((h, w), [lm[list(LIP_UPPER_OUTER + LIP_LOWER_OUTER[::-1])]])
        lips &= ~_poly_mask((h, w), [lm[list(LIP_UPPER_INNER + LIP_LOWER_INNER[::-1])]])
        eyes = _poly_mask((h, w), [lm[list(EYE_UPPER[s] + EYE_LOWER[s][::-1])] for s in (0, 1)])
        cheeks = np.zeros((h, w), np.uint8)
        for i in (50, 280, 101, 330):  # cheek centres and below the eyes
            cv2.circle(cheeks, tuple(np.round(lm[i, :2]).astype(int)), max(2, int(0.03 * fh)), 1, -1)
        skin_i, lip_i, eye_i = pick(cheeks.astype(bool)), pick(lips), pick(eyes)
        skin = np.median(px[skin_i], 0) if len(skin_i) else np.full(3, 150.0, np.float32)
        lip = np.median(px[lip_i], 0) if len(lip_i) else 0.8 * skin
        skin_l = float(skin @ np.array([0.299, 0.587, 0.114]))
        # Sclera: the brightest third of the eye opening (iris, lashes and lid shadow are darker).
        sclera = None
        if len(eye_i) >= 6:
            bright = eye_i[lum[eye_i] >= np.percentile(lum[eye_i], 67)]
            sclera = np.median(px[bright], 0)
        if sclera is None or float(sclera @ np.array([0.299, 0.587, 0.114])) < skin_l:
            # eyes too small or shaded to read: brighter than the skin, with half its tint
            sclera = 1.25 * float(skin.mean()) * (0.5 + 0.5 * skin / max(float(skin.mean()), 1.0))
        teeth = None
        if teeth_shown:  # the photo's own teeth: the bright part of its open mouth
            inner = pick(_poly_mask((h, w), [lm[list(LIP_UPPER_INNER + LIP_LOWER_INNER[::-1])]]))
            if len(inner) >= 6:
                bright = inner[lum[inner] >= np.percentile(lum[inner], 75)]
                cand = np.median(px[bright], 0)
                if float(cand @ np.array([0.299, 0.587, 0.114])) > skin_l:
                    teeth = cand
        if teeth is None:
            # Teeth are a little darker than the sclera and warmer: tint 25 % of the way to the skin's hue.
            def hue(c: np.ndarray) -> np.ndarray:
                return c / max(float(c.mean()), 1.0)

            # (and never darker than 1.4x the skin: a sclera behind glasses or in shadow reads too dark)
            level = max(0.9 * float(sclera.mean()), min(1.4 * float(skin.mean()), 235.0))
            teeth = level * (0.75 * hue(sclera) + 0.25 * hue(skin))
        f = np.float32
        noise = np.random.default_rng(0).standard_normal((TEXTURE_SIZE, TEXTURE_SIZE)).astype(f)
        noise = cv2.GaussianBlur(noise, (0, 0), max(0.8, 0.006 * fh))
        noise *= f(TEXTURE_AMPLITUDE / max(float(noise.std()), 1e-6))
        return MouthPalette(
            teeth=np.clip(teeth, 0, 255).astype(f),
            tongue=np.clip(0.8 * lip, 0, 255).astype(f),
            throat=np.clip(0.35 * lip, 0, 255).astype(f),
            texture=np.clip(1.0 + noise, 0.5, 1.5).astype(f),
        )


def _tooth_gaps(side: np.ndarray, edges: tuple[float, ...], width: float) -> np.ndarray:
    """(w,) 1 - darkening at the boundaries between neighbouring teeth; ``side``: |x - centre| / half-width."""
    d = np.min(np.abs(side[:, None] - np.asarray(edges[1:], np.float32)[None]), axis=1)
    centre = np.abs(side - edges[0])  # the midline gap between the central incisors
    d = np.minimum(d, centre)
    return 1.0 - 0.45 * np.exp(-((d / width) ** 2))


class _Layers:
    """The interior's layers as scalar weights per pixel (coverage times shading), back to front: throat, tongue,
    teeth. Colours are mixed once at the end."""

    def __init__(self, throat: np.ndarray):
        self.throat, self.tongue, self.teeth = throat, None, None

    def cover(self, w_layer: np.ndarray | None, m: np.ndarray, shade: np.ndarray) -> np.ndarray:
        """Layer ``m`` (coverage) with ``shade`` in front of what is there: returns its weight, thins the others."""
        keep = 1.0 - m
        self.throat = self.throat * keep
        self.tongue = None if self.tongue is None else self.tongue * keep
        self.teeth = None if self.teeth is None else self.teeth * keep
        return m * shade if w_layer is None else w_layer + m * shade


def paint_interior(
    roi: np.ndarray,
    alpha: np.ndarray,
    x0: int,
    y0: int,
    lip_up: np.ndarray,
    lip_lo: np.ndarray,
    teeth_up: np.ndarray | None,
    teeth_lo: np.ndarray | None,
    palette: MouthPalette,
    fh: float,
    teeth: bool = True,
) -> None:
    """Composite the mouth interior onto ``roi`` (h, w, 3) uint8 in place with coverage ``alpha`` (h, w) in [0, 1].

    ``lip_up`` / ``lip_lo``: (n, 2) inner-lip lines, ``teeth_up`` / ``teeth_lo``: (n, 2) incisal edges of the
    upper / lower teeth rows, all in frame pixels; ``(x0, y0)``: the roi's corner. ``teeth=False`` (the photo's own
    teeth are in the frame already) paints only the throat and the tongue.
    """
    h, w = roi.shape[:2]
    f32 = np.float32
    xx = np.arange(x0, x0 + w, dtype=f32)
    yy = np.arange(y0, y0 + h, dtype=f32)[:, None]

    def line(pts: np.ndarray) -> np.ndarray:
        o = np.argsort(pts[:, 0])
        return np.interp(xx, pts[o, 0], pts[o, 1]).astype(f32)

    yu, yl = line(lip_up), line(lip_lo)
    cx = f32((lip_up[:, 0].min() + lip_up[:, 0].max()) / 2)
    half = f32(max((lip_up[:, 0].max() - lip_up[:, 0].min()) / 2, 1.0))
    side = np.clip(np.abs(xx - cx) / half, 0, 1).astype(f32)  # (w,)
    side2 = side * side
    gap = np.maximum(yl - yu, f32(1e-3))  # (w,)
    # Throat: darkest in the middle of the opening and deep in the corners; the walls near the lips catch light.
    t = np.clip((yy - yu) / gap, 0, 1)
    wall = 1.0 - 4.0 * t * (1.0 - t)  # 1 at the lips, 0 half-way
    core = np.exp(-(((xx - cx) / (0.5 * half)) ** 2) - ((t - 0.45) / 0.35) ** 2)  # the throat's opening
    layers = _Layers((0.4 + 1.6 * wall) * (1.0 - 0.45 * side2) * (1.0 - 0.6 * core))
    lift = np.float32(0.012 * fh)  # lips shadow the teeth and tongue just inside them
    lip_shadow = (0.7 + 0.3 * _smoothstep((yy - yu) / lift)) * (0.7 + 0.3 * _smoothstep((yl - yy) / lift))

    if teeth_lo is not None:
        ylt = line(teeth_lo)
        ylt += f32(0.012 * fh) * side2  # the lower arch curves down and back towards the sides
        # Tongue: a dome behind the lower incisors, lit on top, falling off into the throat.
        teeth_gap = np.maximum(ylt - (line(teeth_up) if teeth_up is not None else yu), 0.0)
        y_tongue = ylt - TONGUE_RISE * teeth_gap * (1.0 - side2) - f32(0.004 * fh)
        tongue_m = _smoothstep((yy - y_tongue) / 2.0)
        below = np.maximum(yy - y_tongue, 0.0) / f32(0.03 * fh)
        groove = 1.0 - 0.12 * np.exp(-(((xx - cx) / (0.08 * half)) ** 2))
        t_shade = (0.55 + 0.5 * np.exp(-below)) * ((1.0 - 0.45 * side2) * groove)
        layers.tongue = layers.cover(layers.tongue, tongue_m, t_shade)
    if teeth_lo is not None and teeth:
        layers.teeth = layers.cover(layers.teeth, *_lower_teeth(yy, ylt, side, side2, fh))
    if teeth_up is not None and teeth:
        layers.teeth = layers.cover(layers.teeth, *_upper_teeth(yy, line(teeth_up), side, side2, fh))
    # Throat and tongue are mottled: the texture tile is anchored at the upper lip's centre, so it moves with it.
    c = TEXTURE_SIZE // 2
    ty0, tx0 = y0 - int(round(float(np.interp(cx, xx, yu)))) + c // 2, x0 - int(round(float(cx))) + c
    if 0 <= ty0 and ty0 + h <= TEXTURE_SIZE and 0 <= tx0 and tx0 + w <= TEXTURE_SIZE:
        grain = palette.texture[ty0 : ty0 + h, tx0 : tx0 + w]
        layers.throat = layers.throat * grain
        layers.tongue = None if layers.tongue is None else layers.tongue * grain
    _composite(roi, alpha * lip_shadow, alpha, layers, palette)


def _lower_teeth(yy, ylt, side, side2, fh: float) -> tuple[np.ndarray, np.ndarray]:
    """(coverage, shading) of the lower teeth row below its incisal edge ``ylt`` (w,)."""
    lower_m = _smoothstep((yy - ylt) / 1.2) * _smoothstep((TEETH_HALF_WIDTH * 0.92 - side) / 0.08)
    lower_m *= _smoothstep((ylt + np.float32(TEETH_HEIGHT_FH * 0.8 * fh) - yy) / 1.5)
    s = (0.8 - 0.5 * side2) * _tooth_gaps(side, TOOTH_EDGES_LOWER, 0.012)
    s = s * (0.85 + 0.15 * _smoothstep((yy - ylt) / (0.01 * fh)))  # translucent incisal edge
    return lower_m, s


def _upper_teeth(yy, yut, side, side2, fh: float) -> tuple[np.ndarray, np.ndarray]:
    """(coverage, shading) of the upper teeth row above its incisal edge ``yut`` (w,)."""
    yut -= np.float32(0.01 * fh) * side2  # the smile arc: the upper edge rises towards the canines
    upper_m = _smoothstep((yut - yy) / 1.2) * _smoothstep((TEETH_HALF_WIDTH - side) / 0.08)
    upper_m *= _smoothstep((yy - (yut - np.float32(TEETH_HEIGHT_FH * fh))) / 1.5)
    s = (1.0 - 0.55 * side2) * _tooth_gaps(side, TOOTH_EDGES_UPPER, 0.012)
    s = s * (0.86 + 0.14 * _smoothstep((yut - yy) / (0.012 * fh)))
    return upper_m, s


def _composite(roi: np.ndarray, shadow: np.ndarray, alpha: np.ndarray, layers: _Layers, palette: MouthPalette):
    """out = roi + alpha * (shadow * sum_k w_k colour_k - roi), mixed in OpenCV's 3-channel ops, in place."""
    colour = cv2.merge([layers.throat * shadow] * 3) * palette.throat
    for w_layer, rgb in ((layers.tongue, palette.tongue), (layers.teeth, palette.teeth)):
        if w_layer is not None:
            colour += cv2.merge([w_layer * shadow] * 3) * rgb
    keep = cv2.merge([1.0 - alpha] * 3)
    colour += roi * keep
    colour += 0.5
    np.clip(colour, 0, 255, out=colour)
    roi[:] = colour.astype(np.uint8)
