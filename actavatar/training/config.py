"""TOML training configs -> config dataclasses (shared by the motion and the video tier)."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import tomllib

from ..errors import InputError


def config_from_toml(cls, path: str | Path, overrides: dict):
    """Read ``path`` into dataclass ``cls``; ``overrides`` that are not None win. Unknown keys are an error."""
    try:
        data = tomllib.loads(Path(path).read_text())
    except FileNotFoundError:
        raise InputError(f"Training config not found: {path}.") from None
    except tomllib.TOMLDecodeError as err:
        raise InputError(f"Training config {path} is not valid TOML: {err}.") from None
    known = {f.name for f in fields(cls)}
    unknown = set(data) - known
    if unknown:
        raise InputError(f"Unknown keys in {path}: {sorted(unknown)}; valid keys: {sorted(known)}.")
    data.update({k: v for k, v in overrides.items() if v is not None})
    return cls(**data)
