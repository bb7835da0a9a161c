"""ActAvatar: temporally-aware precise action control for talking avatars (arXiv 2512.19546).

Importing this package loads no model and touches no file; heavy modules load on first attribute access.
"""

from __future__ import annotations

import importlib

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
