"""Portrait rendering: face analysis, motion -> warped frames, motion extraction from video, mux to mp4.

Names are resolved lazily so ``import actavatar.render`` does no work (mediapipe, OpenCV and scipy load on first use).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "FaceAnalysis": "face",
    "analyze_face": "face",
    "load_portrait": "face",
    "PortraitRenderer": "renderer",
    "write_video": "mux",
    "MotionTrack": "extract",
    "extract_motion": "extract",
    "motion_from_landmarks": "extract",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
