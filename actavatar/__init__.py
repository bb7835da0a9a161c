"""ActAvatar: temporally-aware precise action control for talking avatars (arXiv 2512.19546).

Importing this package loads no model and touches no file; heavy modules load on first attribute access.
"""

from __future__ import annotations

import importlib
import os

# OpenMP workers sleep instead of spinning while they wait. With the default (spinning) policy, torch's 2 threads on a
# 2-core machine that also runs anything else (an encoder, another job) stall at every barrier: diffusion for a 10 s
# clip went from 0.8 s to 49 s with one other busy process here; passive waiting keeps it at 1.5 s. libgomp reads this
# when torch loads, so it only applies when actavatar is imported before torch; set it yourself otherwise.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"

_LAZY = {
    "generate": "actavatar.api",
    "GenerationResult": "actavatar.api",
    "InputError": "actavatar.errors",
    "ActAvatarError": "actavatar.errors",
    "Phase": "actavatar.phases",
    "PhasePlan": "actavatar.phases",
    "MotionDiT": "actavatar.models.motion_dit",
    "ModalitySchedule": "actavatar.models.alignment",
    "PhaseAwareCrossAttnProcessor": "actavatar.models.paca",
    "ActAvatarMotionPipeline": "actavatar.pipelines.motion",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'actavatar' has no attribute {name!r}")
