"""Confidence intervals and paired comparisons for evaluation results (numpy only, deterministic given a seed).

Values come as a (runs, clips) array: one row per training seed, one column per evaluation clip, the same clips in
every row (``nan`` = no value for that clip, e.g. no phase of that kind). A single run is a (clips,) array.

- ``mean_ci``: the mean and its 95 % percentile-bootstrap interval. Each replicate resamples runs with replacement and,
  independently, clips with replacement, so the interval covers both the training seed's and the clip's variation
  (with one run it is the ordinary bootstrap over clips).
- ``paired_difference``: two conditions (e.g. two schedules) on the same clips. Per clip, the difference of the
  run-averaged values; its mean with a bootstrap interval (runs of each side and clips resampled), and a two-sided
  sign-flip permutation p-value on the per-clip differences (exact enumeration when it is small enough).
"""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np

LEVEL = 0.95
BOOTSTRAP = 10_000
PERMUTATIONS = 10_000


def _as_runs(values) -> np.ndarray:
    """(runs, clips) float array from a (clips,) or (runs, clips) array-like."""
    x = np.asarray(values, dtype=np.float64)
    if x.ndim == 1:
        x = x[None]
    if x.ndim != 2 or x.shape[1] == 0:
        raise ValueError(f"values must be (clips,) or (runs, clips) with at least one clip, got shape {x.shape}")
    return x


def _interval(replicates: np.ndarray, level: float) -> tuple[float, float]:
    replicates = replicates[np.isfinite(replicates)]
    if not len(replicates):
        return math.nan, math.nan
    alpha = (1.0 - level) / 2
    low, high = np.quantile(replicates, [alpha, 1.0 - alpha])
    return float(low), float(high)


def _bootstrap_means(x: np.ndarray, rng: np.random.Generator, n_boot: int, clips: np.ndarray | None = None):
    """(n_boot,) means of ``x`` (runs, clips) over resampled runs and clips (``clips``: given clip indices)."""
    runs = rng.integers(0, x.shape[0], size=(n_boot, x.shape[0]))
    if clips is None:
        clips = rng.integers(0, x.shape[1], size=(n_boot, x.shape[1]))
    picked = x[runs[:, :, None], clips[:, None, :]]  # (n_boot, runs, clips)
    return _nanmean(picked.reshape(n_boot, -1), axis=1)


def _nanmean(x: np.ndarray, axis: int) -> np.ndarray:
    """``np.nanmean`` without its "mean of empty slice" warning: an all-nan slice is a nan (dropped later)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(x, axis=axis)


def mean_ci(values, *, seed: int = 0, n_boot: int = BOOTSTRAP, level: float = LEVEL) -> dict:
    """``{"mean", "low", "high", "runs", "clips"}``: the mean of the finite values and its bootstrap interval over
    runs and clips (see the module doc). ``clips`` counts clips with a finite value in some run."""
    x = _as_runs(values)
    x = x[:, np.isfinite(x).any(axis=0)]
    if x.shape[1] == 0:
        return {"mean": math.nan, "low": math.nan, "high": math.nan, "runs": int(x.shape[0]), "clips": 0}
    rng = np.random.default_rng(seed)
    low, high = _interval(_bootstrap_means(x, rng, n_boot), level)
    return {"mean": float(np.nanmean(x)), "low": low, "high": high, "runs": int(x.shape[0]), "clips": int(x.shape[1])}


def sign_flip_p(diffs, *, seed: int = 0, n_perm: int = PERMUTATIONS) -> float:
    """Two-sided p-value of "the mean of ``diffs`` is 0" by flipping their signs (exchangeable under the null that
    either condition is as likely to score higher on a clip). Exact when 2^n <= ``n_perm``, else Monte Carlo with
    the observed assignment counted (p >= 1 / (n_perm + 1))."""
    d = np.asarray(diffs, dtype=np.float64)
    d = d[np.isfinite(d)]
    if not len(d):
        return math.nan
    observed = abs(d.mean())
    tol = 1e-12 * max(1.0, float(np.abs(d).max()))
    if 2 ** len(d) <= n_perm:
        signs = np.array(list(itertools.product((1.0, -1.0), repeat=len(d))))
        return float(np.mean(np.abs(signs @ d / len(d)) >= observed - tol))
    signs = np.random.default_rng(seed).choice((1.0, -1.0), size=(n_perm, len(d)))
    return float((1 + np.sum(np.abs(signs @ d / len(d)) >= observed - tol)) / (n_perm + 1))


def paired_difference(
    a, b, *, seed: int = 0, n_boot: int = BOOTSTRAP, n_perm: int = PERMUTATIONS, level: float = LEVEL
) -> dict:
    """``a - b`` on the same clips: ``{"mean", "low", "high", "p", "clips", "runs_a", "runs_b"}``. ``a`` and ``b``
    are (clips,) or (runs, clips) with the same clips; clips without a finite value on both sides are left out."""
    a, b = _as_runs(a), _as_runs(b)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"a paired comparison needs the same clips on both sides: {a.shape[1]} vs {b.shape[1]} clips")
    keep = np.isfinite(_nanmean(a, axis=0)) & np.isfinite(_nanmean(b, axis=0))
    a, b = a[:, keep], b[:, keep]
    out = {"clips": int(keep.sum()), "runs_a": int(a.shape[0]), "runs_b": int(b.shape[0])}
    if not keep.any():
        return {"mean": math.nan, "low": math.nan, "high": math.nan, "p": math.nan, **out}
    diffs = _nanmean(a, axis=0) - _nanmean(b, axis=0)  # (clips,) per-clip difference of run means
    rng = np.random.default_rng(seed)
    clips = rng.integers(0, a.shape[1], size=(n_boot, a.shape[1]))  # the same clips on both sides: pairing kept
    replicates = _bootstrap_means(a, rng, n_boot, clips) - _bootstrap_means(b, rng, n_boot, clips)
    low, high = _interval(replicates, level)
    p = sign_flip_p(diffs, seed=seed, n_perm=n_perm)
    return {"mean": float(diffs.mean()), "low": low, "high": high, "p": p, **out}


def format_ci(ci: dict, fmt: str = "{:.3f}") -> str:
    """``"0.612 [0.580, 0.641]"`` (mean and interval), or "–" without a value."""
    if not math.isfinite(ci.get("mean", math.nan)):
        return "–"
    return f"{fmt.format(ci['mean'])} [{fmt.format(ci['low'])}, {fmt.format(ci['high'])}]"
