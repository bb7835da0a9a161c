"""TOML training configs -> config dataclasses (shared by the motion and the video tier)."""

from __future__ import annotations

import tomllib
from dataclasses import fields
from pathlib import Path

from ..errors import InputError

# Options of the data synthesis (``synth.build_dataset``) that a config whose data is synthesised (one with a
# ``num_clips`` field) may set, with their defaults. A config dataclass that does not declare such an option as a
# field still accepts the key: the value is kept on the config object, and ``synthesis_options(cfg)`` hands it to
# ``build_dataset``.
SYNTHESIS_OPTIONS: dict[str, float] = {
    # Share of clips whose audio is domain-randomised (training/audio_domain.py: noise, room, channel, codec, level,
    # breaths in pauses); 0 = clean espeak-ng audio, as before. The shipped recipes use 0.8.
    "audio_domain": 0.0,
}


def config_from_toml(cls, path: str | Path, overrides: dict):
    """Read ``path`` into dataclass ``cls``; ``overrides`` that are not None win. Unknown keys are an error."""
    try:
        data = tomllib.loads(Path(path).read_text())
    except FileNotFoundError:
        raise InputError(f"Training config not found: {path}.") from None
    except tomllib.TOMLDecodeError as err:
        raise InputError(f"Training config {path} is not valid TOML: {err}.") from None
    known = {f.name for f in fields(cls)}
    synthesised = "num_clips" in known  # a synthesised-data config: the synthesis options are valid keys too
    options = {k for k in SYNTHESIS_OPTIONS if synthesised and k not in known}
    unknown = set(data) - known - options
    if unknown:
        raise InputError(f"Unknown keys in {path}: {sorted(unknown)}; valid keys: {sorted(known | options)}.")
    data.update({k: v for k, v in overrides.items() if v is not None})
    extra = {k: data.pop(k) for k in list(data) if k in options}
    for name, value in extra.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
            raise InputError(f"{name} in {path} is a probability: use a value from 0 to 1, got {value!r}.")
    cfg = cls(**data)
    for name, value in extra.items():
        object.__setattr__(cfg, name, float(value))
    return cfg


def synthesis_options(cfg) -> dict:
    """The data-synthesis options of a training config (``SYNTHESIS_OPTIONS`` defaults for those it does not set),
    as keyword arguments of ``synth.build_dataset``."""
    return {name: getattr(cfg, name, default) for name, default in SYNTHESIS_OPTIONS.items()}
