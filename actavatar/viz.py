"""Plots of a generation report: the per-layer modality schedule and the phase × time view.

Both take the report dict of ``actavatar.api.generate`` (docs/DESIGN.md "Report") and return a matplotlib ``Figure``
(Agg backend, no display needed) that the app shows in ``gr.Plot`` and the CLI/docs can save. User text (phase
text) is drawn as plain text: ``$`` never starts mathtext. Phase text in any script is drawn with the fonts the
machine has (DejaVu, then CJK and symbol fonts where installed: Debian's fonts-wqy-microhei and fonts-symbola, see
packages.txt); a character none of them holds is drawn as "?", never as an empty box.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache, wraps
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: no display on servers and CI

import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

TEXT_COLOR = "#2563eb"  # text cross-attention (what to do)
AUDIO_COLOR = "#ea580c"  # audio cross-attention (lips, rhythm)
PHASE_COLORS = ["#22c55e", "#a855f7", "#eab308", "#06b6d4", "#ef4444", "#64748b", "#ec4899", "#84cc16"]
MAX_LABEL_CHARS = 32
# Tried in order for each character (matplotlib's per-glyph font fallback); only the installed ones are used.
FONT_FAMILIES = ("DejaVu Sans", "WenQuanYi Micro Hei", "Noto Sans CJK JP", "Symbola")
# Where Debian puts the fallback fonts: registered directly, since matplotlib's font cache may predate their install.
FONT_FILES = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/ancient-scripts/Symbola_hint.ttf",
)


@lru_cache(maxsize=1)
def _fonts() -> tuple[tuple[str, ...], frozenset[int]]:
    """The installed families of ``FONT_FAMILIES`` and the union of their character maps."""
    from matplotlib import font_manager
    from matplotlib.ft2font import FT2Font

    known = {f.fname for f in font_manager.fontManager.ttflist}
    for path in FONT_FILES:
        if path not in known and Path(path).is_file():
            font_manager.fontManager.addfont(path)
    families, covered = [], set()
    for family in FONT_FAMILIES:
        try:
            path = font_manager.findfont(font_manager.FontProperties(family=family), fallback_to_default=False)
            covered.update(FT2Font(path).get_charmap())
        except (ValueError, RuntimeError, OSError):  # not installed (or unreadable): skip it
            continue
        families.append(family)
    return tuple(families) or ("DejaVu Sans",), frozenset(covered)


def drawable(text: str) -> str:
    """``text`` as the plot fonts can draw it: a character none of them holds becomes "?" instead of an empty box;
    invisible format characters (zero-width joiners) and marks without a glyph (emoji variation selectors) go."""
    import unicodedata

    _, covered = _fonts()
    out = []
    for c in text:
        if c.isspace() or ord(c) in covered:
            out.append(c)
        elif c.isprintable() and unicodedata.category(c) not in ("Mn", "Me"):
            out.append("?")
    return "".join(out)


def short(text: str, limit: int = MAX_LABEL_CHARS) -> str:
    """User text as a one-line, drawable label of at most ``limit`` characters."""
    text = drawable(" ".join(str(text).split()))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _with_plot_fonts(build):
    """Build a figure with the installed ``FONT_FAMILIES``: every text object takes its fonts when it is created."""

    @wraps(build)
    def wrapper(*args, **kwargs):
        with matplotlib.rc_context({"font.family": list(_fonts()[0])}):
            return build(*args, **kwargs)

    return wrapper


def _as_plain_text(fig: Figure) -> Figure:
    """Draw every label literally: user text with ``$`` or ``\\`` must not be parsed as mathtext."""
    from matplotlib.text import Text

    for text in fig.findobj(Text):
        text.set_parse_math(False)
    return fig


def depth_trend(shares: Sequence[float], level: float = 0.95) -> dict:
    """Least-squares slope of a per-layer share over the layer index, its ``level`` t-interval, and what it says:
    ``"falls"`` / ``"rises"`` only where the interval excludes 0, else ``"unclear"`` (also with fewer than 3 layers).
    The residuals of the fit carry the layer-to-layer zig-zag, so a ragged profile gives a wide interval."""
    y = np.asarray(shares, dtype=float)
    y = y[np.isfinite(y)]
    if y.size < 3:
        return {"slope": float("nan"), "low": float("nan"), "high": float("nan"), "verdict": "unclear"}
    from scipy.stats import t as student_t

    x = np.arange(1, y.size + 1, dtype=float)
    xc = x - x.mean()
    slope = float((xc * (y - y.mean())).sum() / (xc * xc).sum())
    resid = y - y.mean() - slope * xc
    se = float(np.sqrt((resid @ resid) / (y.size - 2) / (xc * xc).sum()))
    half = float(student_t.ppf(0.5 + level / 2, y.size - 2)) * se
    low, high = slope - half, slope + half
    verdict = "falls" if high < 0 else "rises" if low > 0 else "unclear"
    return {"slope": slope, "low": low, "high": high, "verdict": verdict}


def schedule_title(layers: Mapping) -> str:
    """What the measured text share shows across depth, from ``depth_trend`` (never what the schedule intends)."""
    trend = depth_trend(layers.get("text_share") or [])
    if not np.isfinite(trend["slope"]):
        return "Modality schedule per layer: too few layers measured for a depth trend"
    head = {
        "falls": "Measured text share falls with depth",
        "rises": "Measured text share rises with depth",
        "unclear": "No clear depth trend in the measured text share",
    }[trend["verdict"]]
    return f"{head}\n(slope {trend['slope']:+.3f} per layer, 95 % CI {trend['low']:+.3f} to {trend['high']:+.3f})"


@_with_plot_fonts
def schedule_figure(report: Mapping) -> Figure:
    """Per-layer modality schedule: configured gates (dashed), measured shares (solid) with their 10–90 % band over
    denoising steps and frames (where the report has it), layer on the x axis; the title states the measured trend."""
    layers = report["layers"]
    fig = Figure(figsize=(6.4, 3.8), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    series = [
        ("text_gate", "text gate", TEXT_COLOR, "--", None),
        ("audio_gate", "audio gate", AUDIO_COLOR, "--", None),
        ("text_share", "text share (measured)", TEXT_COLOR, "-", "o"),
        ("audio_share", "audio share (measured)", AUDIO_COLOR, "-", "s"),
    ]
    for key, label, color, style, marker in series:
        values = np.asarray(layers.get(key) or [], dtype=float)
        if values.size:
            ax.plot(np.arange(1, values.size + 1), values, style, color=color, marker=marker, label=label, lw=2)
    over = layers.get("share_spread", "steps")
    for side, color in (("text", TEXT_COLOR), ("audio", AUDIO_COLOR)):
        low = np.asarray(layers.get(f"{side}_share_p10") or [], dtype=float)
        high = np.asarray(layers.get(f"{side}_share_p90") or [], dtype=float)
        if low.size and low.size == high.size:
            x = np.arange(1, low.size + 1)
            ax.fill_between(x, low, high, color=color, alpha=0.15, lw=0, label=f"{side} share 10–90 % ({over})")
    num_layers = max((len(layers.get(k) or []) for k, *_ in series), default=0)
    if num_layers:
        ax.set_xticks(np.arange(1, num_layers + 1))
    ax.set_xlabel("transformer layer (input → output)")
    ax.set_ylabel("weight / share")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    # Below the axes: inside, it covered the gate lines wherever they crossed.
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, fontsize=8, frameon=False)
    ax.set_title(schedule_title(layers), fontsize=10)
    return _as_plain_text(fig)


def _pick_curves(names: Sequence[str], values: np.ndarray, max_curves: int) -> list[int]:
    """The curves that move most (largest standard deviation), so the phase actions are visible."""
    if values.size == 0:
        return []
    spread = values.std(axis=0)
    order = np.argsort(-spread, kind="stable")
    return [int(i) for i in order[:max_curves] if spread[i] > 0] or [int(order[0])]


@_with_plot_fonts
def phase_time_figure(report: Mapping, curves: Sequence[str] | None = None, max_curves: int = 4) -> Figure:
    """Phase windows shaded over motion curves (top) and each phase block's per-frame attention mass (bottom)."""
    fps = float(report.get("fps") or 25)
    motion = report.get("motion") or {}
    names = list(motion.get("names") or [])
    values = np.asarray(motion.get("values") or [], dtype=float).reshape(-1, len(names) if names else 0)
    phases = list(report.get("phases") or [])
    attention = report.get("phase_attention")
    attention = np.asarray(attention, dtype=float) if attention is not None and len(attention) else None
    num_frames = int(report.get("num_frames") or (len(values) if values.size else 0))
    duration = float(report.get("duration_s") or (num_frames / fps if num_frames else 1.0))

    rows = 2 if attention is not None and attention.ndim == 2 and attention.shape[1] else 1
    fig = Figure(figsize=(6.4, 2.4 + 1.6 * rows), dpi=100, layout="constrained")
    axes = fig.subplots(rows, 1, sharex=True, squeeze=False)[:, 0]

    for ax in axes:
        for k, phase in enumerate(phases):
            ax.axvspan(phase["start"], phase["end"], color=PHASE_COLORS[k % len(PHASE_COLORS)], alpha=0.15, lw=0)
        ax.set_xlim(0, duration)
        ax.grid(alpha=0.3)

    ax = axes[0]
    if curves is not None:
        picked = [names.index(c) for c in curves if c in names]
    else:
        picked = _pick_curves(names, values, max_curves)
    t = (np.arange(len(values)) + 0.5) / fps
    for i in picked:
        ax.plot(t, values[:, i], lw=1.5, label=names[i])
    ax.set_ylabel("motion")
    if picked:
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7)
    for k, phase in enumerate(phases):  # phase labels just above the axes, at each window's start
        ax.text(
            phase["start"],
            1.01,
            f"{k + 1}. {short(phase['text'], 24)}",
            transform=ax.get_xaxis_transform(),
            va="bottom",
            ha="left",
            fontsize=7,
            color=PHASE_COLORS[k % len(PHASE_COLORS)],
            clip_on=False,
        )
    fig.suptitle("Phase × time: each action should happen inside its shaded window", fontsize=10)

    if rows == 2:
        ax = axes[1]
        ta = (np.arange(attention.shape[0]) + 0.5) / fps
        for k in range(attention.shape[1]):
            label = f"phase {k + 1}" if k >= len(phases) else f"{k + 1}. {short(phases[k]['text'], 20)}"
            ax.plot(ta, attention[:, k], color=PHASE_COLORS[k % len(PHASE_COLORS)], lw=1.5, label=label)
        ax.set_ylabel("attention on\nphase block")
        ax.set_ylim(bottom=0)
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7)
    axes[-1].set_xlabel("time (s)")
    return _as_plain_text(fig)
