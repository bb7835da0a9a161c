"""ActAvatar: temporally-aware precise action control for talking avatars (arXiv 2512.19546).

Importing this package loads no model and touches no file; heavy modules load on first attribute access.
"""

from __future__ import annotations

import importlib
import os

# OpenMP workers spin only briefly before they sleep. With libgomp's default (300,000 spins), torch's 2 threads on a
# 2-core machine that also runs one other busy process stall at every barrier: diffusion for a 10 s clip went from
# 0.85 s to 49 s here. Measured (quiet / next to one busy process): 1,000 spins 0.95 s / 2.5 s; 3,000 spins
# 0.85 s / 3.6 s; 10,000 spins 0.83 s / 6 s; sleeping at once (OMP_WAIT_POLICY=PASSIVE) 2.0 s / 1.5 s; one thread
# 1.26 s / 1.26 s. On a machine you share, prefer PASSIVE or one thread. libgomp reads these when torch loads:
# import actavatar before torch.
if "OMP_WAIT_POLICY" not in os.environ:
    os.environ.setdefault("GOMP_SPINCOUNT", "3000")

__version__ = "0.1.0"

_LAZY = {
    "generate": "actavatar.api",
    "GenerationResult": "actavatar.results",
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
