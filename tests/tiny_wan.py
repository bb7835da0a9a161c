"""Tiny random Wan components and a tiny wav2vec2 for the video tier's CPU tests: the real diffusers/transformers
classes at toy sizes, so the pipeline, the adapters and video training run end to end in seconds without weights."""

from __future__ import annotations

from pathlib import Path

import torch

TINY_WORDS = "a woman man talking calmly to the camera nods twice smiles and raises her eyebrows looks left".split()


def tiny_wan_components(kind: str = "i2v", seed: int = 0, audio_dim: int = 12) -> dict:
    """Tiny random Wan components (VAE, UMT5 + word-level tokenizer, scheduler, transformer) for CPU tests:
    the real diffusers/transformers classes at toy sizes. ``kind``: ``i2v`` (Wan2.1/2.2 I2V layout,
    36 input channels), ``i2v-clip`` (Wan2.1 with CLIP image tokens) or ``ti2v`` (Wan2.2 TI2V, expand_timesteps)."""
    from diffusers import AutoencoderKLWan, FlowMatchEulerDiscreteScheduler, WanTransformer3DModel
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast, UMT5Config, UMT5EncoderModel

    vocab = {"<pad>": 0, "</s>": 1, "<unk>": 2, **{w: i + 3 for i, w in enumerate(TINY_WORDS)}}
    tk = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tk.pre_tokenizer = pre_tokenizers.Whitespace()
    tk.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])  # as UMT5
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tk, pad_token="<pad>", eos_token="</s>", unk_token="<unk>")
    torch.manual_seed(seed)
    text_encoder = UMT5EncoderModel(
        UMT5Config(
            vocab_size=len(vocab),
            d_model=32,
            d_kv=8,
            d_ff=32,
            num_layers=1,
            num_heads=2,
            relative_attention_num_buckets=8,
        )
    ).eval()
    vae = AutoencoderKLWan(
        base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1, temperal_downsample=[False, True, True]
    ).eval()
    in_channels = 16 if kind == "ti2v" else 36
    extra = dict(image_dim=8, added_kv_proj_dim=16) if kind == "i2v-clip" else {}
    transformer = WanTransformer3DModel(
        patch_size=(1, 2, 2),
        num_attention_heads=2,
        attention_head_dim=8,
        in_channels=in_channels,
        out_channels=16,
        text_dim=32,
        freq_dim=32,
        ffn_dim=32,
        num_layers=2,
        cross_attn_norm=True,
        rope_max_seq_len=32,
        **extra,
    ).eval()
    return dict(
        tokenizer=tokenizer,
        text_encoder=text_encoder,
        vae=vae,
        transformer=transformer,
        scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0),
        expand_timesteps=kind == "ti2v",
    )


def tiny_wav2vec2(path: str | Path, hidden: int = 12, seed: int = 0) -> Path:
    """Save a tiny random ``Wav2Vec2Model`` (50 Hz features of width ``hidden``) to ``path``."""
    from transformers import Wav2Vec2Config, Wav2Vec2Model

    torch.manual_seed(seed)
    config = Wav2Vec2Config(
        hidden_size=hidden,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=16,
        conv_dim=(8,) * 7,
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2,
    )
    Wav2Vec2Model(config).save_pretrained(path)
    return Path(path)
