"""What a generation hands back, shared by both tiers: ``GenerationResult``, the JSON report and its atomic write.

Both ``actavatar.api`` (motion tier) and ``actavatar.pipelines.video`` (video tier) build on this module, so neither
imports the other's results.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .phases import PhasePlan

__all__ = ["GenerationResult", "build_report", "write_json_atomic"]


@dataclass
class GenerationResult:
    video_path: Path | None
    report: dict
    motion: np.ndarray | None  # (T, MOTION_DIM); None for the video tier (it generates pixels)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_json_atomic(path: str | Path, data: Mapping) -> Path:
    """Write JSON to a temp file in the same folder, then rename: readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, ensure_ascii=False)
        os.chmod(tmp, 0o644 & ~_umask())  # mkstemp creates 0600; outputs get the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def build_report(result, plan: PhasePlan, *, seed: int, timings: Mapping, **extra) -> dict:
    """The report contract of both tiers (docs/DESIGN.md, Report), from a pipeline output (``MotionPipelineOutput`` or
    ``VideoPipelineOutput``), then ``extra`` in order (motion tier: settings, notes; video tier: windows).

    The motion tier's report carries its motion curves; the video tier's says ``"tier": "video"`` first and has no
    motion curves (the model generates pixels)."""
    motion = getattr(result, "motion", None)
    num_frames = int((result.frames if motion is None else motion).shape[0])
    data: dict = {"tier": "video"} if motion is None else {}
    data.update(
        fps=result.fps,
        num_frames=num_frames,
        duration_s=round(num_frames / result.fps, 4),
        seed=int(seed),
    )
    if motion is not None:
        data["motion"] = {"names": list(result.names), "values": np.round(motion, 5).tolist()}
    data.update(
        layers=result.layers,
        phases=[p.to_dict() for p in plan.phases],
        base=plan.base,
        phase_attention=np.round(result.phase_attention, 4).tolist(),
        timings_s={k: round(float(v), 4) for k, v in timings.items()},
    )
    data.update(extra)
    return data
