"""ActAvatar: temporally-aware precise action control for talking avatars (arXiv 2512.19546).

Importing this package loads no model and touches no file; heavy modules load on first attribute access.
"""

from __future__ import annotations

import importlib
import os

# OpenMP workers spin only briefly before they sleep. With libgomp's default (300,000 spins), torch's 2 threads on a
# 2-core machine that also runs one other busy process stall at every barrier: diffusion for a 10 s clip went from
# 0.86 s to 49 s here. 10,000 spins keep 0.86 s on a quiet machine and ~6 s next to a busy process; sleeping at once
# (OMP_WAIT_POLICY=PASSIVE) gives 1.5 s next to a busy process but 2.0 s on a quiet one, so on a shared machine
# set that yourself (or use one thread). libgomp reads these when torch loads: import actavatar before torch.
if "OMP_WAIT_POLICY" not in os.environ:
    os.environ.setdefault("GOMP_SPINCOUNT", "10000")

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
