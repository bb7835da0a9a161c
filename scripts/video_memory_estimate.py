"""Memory estimate for the video tier: parameters and activation memory per frame, from the Wan configurations.

    python scripts/video_memory_estimate.py            # prints a markdown table

Parameters are counted exactly by instantiating diffusers' ``WanTransformer3DModel`` (and our adapters) on the meta
device (no memory, no download). Activation memory is an analytic estimate (bf16, batch 1, flash/efficient
attention so no N x N score matrices), from the tensors a ``WanTransformerBlock`` keeps for backward, per token:

    block(h, f, a) ~= 52 h + 4 f + 8 a bytes     h = width, f = FFN width, a = audio-attention width
    (fp32 LayerNorm inputs 3 x 4h, modulated inputs 3 x 2h, q/k/v before and after RMSNorm and RoPE ~ 20h,
     attention outputs and projections ~ 10h, cross-attention query/output ~ 6h, FFN 2 x 2f + 2 x 2h, audio 8a)

Without checkpointing every block keeps that; with per-block gradient checkpointing each block keeps only its bf16
input (2h) and one block at a time is recomputed. Not measured on a GPU: treat as +-30 %, for planning only.

Configuration numbers are transcribed from the diffusers-format configs on the Hugging Face Hub:
``Wan-AI/Wan2.1-I2V-14B-480P-Diffusers`` (transformer/config.json, vae/config.json) and
``Wan-AI/Wan2.2-TI2V-5B-Diffusers`` (transformer/config.json, vae/config.json); they agree with the Wan technical
report (arXiv 2503.20314, Table 1: 14B = 5120 wide, 40 layers, 40 heads, FFN 13824; 5B = 3072 / 30 / 24 / 14336).
"""

from __future__ import annotations

import torch

WAN21_I2V_14B = dict(
    patch_size=(1, 2, 2),
    num_attention_heads=40,
    attention_head_dim=128,
    in_channels=36,
    out_channels=16,
    text_dim=4096,
    freq_dim=256,
    ffn_dim=13824,
    num_layers=40,
    cross_attn_norm=True,
    qk_norm="rms_norm_across_heads",
    eps=1e-6,
    image_dim=1280,
    added_kv_proj_dim=5120,
    rope_max_seq_len=1024,
)
WAN22_TI2V_5B = dict(
    patch_size=(1, 2, 2),
    num_attention_heads=24,
    attention_head_dim=128,
    in_channels=48,
    out_channels=48,
    text_dim=4096,
    freq_dim=256,
    ffn_dim=14336,
    num_layers=30,
    cross_attn_norm=True,
    qk_norm="rms_norm_across_heads",
    eps=1e-6,
    rope_max_seq_len=1024,
)
MODELS = {
    # name: (transformer config, VAE spatial compression, VAE temporal compression)
    "Wan2.1-I2V-14B": (WAN21_I2V_14B, 8, 4),
    "Wan2.2-TI2V-5B": (WAN22_TI2V_5B, 16, 4),
}
RESOLUTIONS = {"480p": (480, 832), "720p": (720, 1280)}
GB = 1024**3


def count_parameters(config: dict) -> tuple[int, int]:
    """(base, adapter) parameter counts, exact, on the meta device."""
    from diffusers import WanTransformer3DModel

    from actavatar.models.wan_actavatar import install_actavatar_adapters

    with torch.device("meta"):
        transformer = WanTransformer3DModel(**config)
        base = sum(p.numel() for p in transformer.parameters())
        adapter = install_actavatar_adapters(transformer, audio_dim=768)
        return base, sum(p.numel() for p in adapter.parameters())


def block_bytes_per_token(config: dict, audio_width: int) -> int:
    h = config["num_attention_heads"] * config["attention_head_dim"]
    return 52 * h + 4 * config["ffn_dim"] + 8 * audio_width


def rows() -> list[dict]:
    out = []
    for name, (config, spatial, temporal) in MODELS.items():
        base, adapter = count_parameters(config)
        h = config["num_attention_heads"] * config["attention_head_dim"]
        audio_width = min(config["num_attention_heads"], 8) * config["attention_head_dim"]
        per_block = block_bytes_per_token(config, audio_width)
        layers = config["num_layers"]
        for res, (height, width) in RESOLUTIONS.items():
            p = spatial * config["patch_size"][1]
            tokens = (height // p) * (width // p)  # tokens per latent frame
            full = tokens * per_block * layers  # bytes per latent frame, no checkpointing
            ckpt = tokens * 2 * h * layers  # block inputs only (+ one block recomputed per clip, below)
            recompute_81 = tokens * 21 * per_block  # one block of an 81-frame clip (21 latent frames)
            out.append(
                dict(
                    model=name,
                    res=f"{res} ({width}x{height})",
                    base=base,
                    adapter=adapter,
                    tokens=tokens,
                    full_frame=full / temporal,
                    ckpt_frame=ckpt / temporal,
                    full_81=full * 21,
                    ckpt_81=ckpt * 21 + recompute_81,
                )
            )
    return out


def markdown() -> str:
    lines = [
        "| model | resolution | params (base + adapters) | tokens / latent frame | activations / video frame, "
        "no ckpt | with ckpt | 81-frame clip, no ckpt | with ckpt |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows():
        lines.append(
            f"| {r['model']} | {r['res']} | {r['base'] / 1e9:.2f} B + {r['adapter'] / 1e9:.2f} B | {r['tokens']} | "
            f"{r['full_frame'] / GB:.2f} GB | {r['ckpt_frame'] / GB:.3f} GB | {r['full_81'] / GB:.0f} GB | "
            f"{r['ckpt_81'] / GB:.1f} GB |"
        )
    lines.append("")
    lines.append(
        "bf16 weights take 2 bytes/parameter; AdamW training of a full fine-tune adds ~12 bytes/parameter "
        "(fp32 master + 2 moments), sharded across GPUs by FSDP / ZeRO. Activations are per GPU at batch 1 "
        "(no sequence parallelism); a video frame is a quarter of a latent frame."
    )
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown())
