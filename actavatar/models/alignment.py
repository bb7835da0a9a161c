"""Progressive audio-visual alignment: per-layer text/audio gates and their measurement.

Every block adds ``text_gate[l] * text_xattn(x)`` and ``audio_gate[l] * audio_xattn(x)`` to the residual stream.
``progressive`` (the paper's schedule) starts text-heavy and ends audio-heavy: early layers decide *what* to do
(the action), deep layers *how the lips move*. ``uniform`` and ``reverse`` are the ablations; ``power:<γ>`` is the
paper's family of audio strengths f(ℓ) = (ℓ/L)^γ (arXiv 2512.19546). Gates are learnable and initialised from the
schedule; ``ShareMeter`` measures what each modality actually contributed in a run.
"""

from __future__ import annotations

import torch
from torch import nn

from ..defaults import POWER_PREFIX, check_schedule

GATE_LOW, GATE_HIGH = 0.1, 1.0


def nominal_gates(kind: str, num_layers: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(text_gate, audio_gate), each (L,), text + audio = GATE_LOW + GATE_HIGH in every layer.

    progressive ramps audio linearly 0.1 -> 1.0 over depth (ℓ - 1) / (L - 1) and text 1.0 -> 0.1; ``power:<γ>`` sets
    audio = 0.1 + 0.9 (ℓ/L)^γ for ℓ = 1..L (the paper's f(ℓ)) and text the complement. Unlike progressive, the
    power family's first layer is above 0.1 (0.1 + 0.9 / L^γ), so power:1 is not progressive."""
    kind = check_schedule(kind)
    if kind.startswith(POWER_PREFIX):
        gamma = float(kind[len(POWER_PREFIX) :])
        strength = (torch.arange(1, num_layers + 1, dtype=torch.float32) / num_layers) ** gamma  # f(ℓ) = (ℓ/L)^γ
        rising = GATE_LOW + (GATE_HIGH - GATE_LOW) * strength
        return GATE_HIGH + GATE_LOW - rising, rising
    depth = torch.linspace(0.0, 1.0, num_layers) if num_layers > 1 else torch.zeros(1)
    falling = GATE_HIGH - (GATE_HIGH - GATE_LOW) * depth
    rising = GATE_LOW + (GATE_HIGH - GATE_LOW) * depth
    if kind == "progressive":
        return falling, rising
    if kind == "reverse":
        return rising, falling
    mid = torch.full((num_layers,), (GATE_HIGH + GATE_LOW) / 2)
    return mid, mid.clone()


class ModalitySchedule(nn.Module):
    """Per-layer text and audio gates (learnable parameters initialised from a named schedule)."""

    def __init__(self, num_layers: int, kind: str = "progressive", learnable: bool = True):
        super().__init__()
        text, audio = nominal_gates(kind, num_layers)
        self.kind = check_schedule(kind)
        self.text_gate = nn.Parameter(text, requires_grad=learnable)
        self.audio_gate = nn.Parameter(audio, requires_grad=learnable)

    @property
    def num_layers(self) -> int:
        return self.text_gate.shape[0]

    @torch.no_grad()
    def reset(self, kind: str) -> None:
        """Overwrite the gates with a schedule's nominal values (an inference-time ablation)."""
        text, audio = nominal_gates(kind, self.num_layers)
        self.text_gate.copy_(text)
        self.audio_gate.copy_(audio)
        self.kind = check_schedule(kind)

    def to_dict(self) -> dict[str, list[float]]:
        return {
            "text_gate": [round(float(v), 5) for v in self.text_gate.detach()],
            "audio_gate": [round(float(v), 5) for v in self.audio_gate.detach()],
        }


class ShareMeter:
    """Accumulates, per layer, the L2 norm of each gated cross-attention's residual contribution over forward passes.

    ``text_share[l] = |text| / (|text| + |audio|)`` with the norms averaged over frames and every pass (denoising step)
    it saw. The spread of the share: ``text_share_step_p10``/``_p90``, the 10th/90th percentile over passes of each
    pass's share; ``text_share_p10``/``_p50``/``_p90``, percentiles over every (pass, frame) when ``add`` gets
    per-frame norms (MotionDiT), else over passes (``share_spread`` says which). ``audio_share_p*`` mirror them."""

    QUANTILES = (0.1, 0.5, 0.9)

    def __init__(self, num_layers: int):
        self.text = torch.zeros(num_layers, dtype=torch.float64)
        self.audio = torch.zeros(num_layers, dtype=torch.float64)
        self.count = 0
        self.step_shares: list[torch.Tensor] = []  # (L,) per pass
        self.frame_shares: list[torch.Tensor] = []  # (L, T) per pass, if per-frame norms were given

    def add(self, text_norms: torch.Tensor, audio_norms: torch.Tensor) -> None:
        """One pass's norms: (L,) frame means, or (L, T) per frame."""
        text, audio = text_norms.detach().double().cpu(), audio_norms.detach().double().cpu()
        if text.ndim == 2:
            self.frame_shares.append(text / (text + audio).clamp(min=1e-12))
            text, audio = text.mean(dim=1), audio.mean(dim=1)
        self.text += text
        self.audio += audio
        self.step_shares.append(text / (text + audio).clamp(min=1e-12))
        self.count += 1

    def _quantiles(self, samples: list[torch.Tensor]) -> torch.Tensor:
        """(len(QUANTILES), L) per-layer quantiles of the shares in ``samples`` ((L,) or (L, T) each)."""
        if not samples:
            return torch.zeros(len(self.QUANTILES), self.text.shape[0], dtype=torch.float64)
        values = torch.cat([x.reshape(x.shape[0], -1) for x in samples], dim=1)  # (L, N)
        return torch.quantile(values, torch.tensor(self.QUANTILES, dtype=torch.float64), dim=1)

    def shares(self) -> dict[str, list[float] | str | int]:
        total = (self.text + self.audio).clamp(min=1e-12)
        text, audio = self.text / total, self.audio / total
        spread = self._quantiles(self.frame_shares or self.step_shares)
        steps = self._quantiles(self.step_shares)

        def r(v: torch.Tensor) -> list[float]:
            return [round(float(x), 5) for x in v]

        return {
            "text_share": r(text),
            "audio_share": r(audio),
            "text_norm": [round(float(v), 6) for v in self.text / max(self.count, 1)],
            "audio_norm": [round(float(v), 6) for v in self.audio / max(self.count, 1)],
            "text_share_p10": r(spread[0]),
            "text_share_p50": r(spread[1]),
            "text_share_p90": r(spread[2]),
            "audio_share_p10": r(1 - spread[2]),
            "audio_share_p90": r(1 - spread[0]),
            "text_share_step_p10": r(steps[0]),
            "text_share_step_p90": r(steps[2]),
            "share_spread": "steps x frames" if self.frame_shares else "steps",
            "passes": self.count,
        }
