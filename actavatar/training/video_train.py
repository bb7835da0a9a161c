"""Two-stage training of the video tier (Wan DiT + ActAvatar adapters) with accelerate. One readable loop.

Stage 1 (audio <-> motion): text reduced to the base block; the audio adapters learn lip/head motion and
``schedule_strength`` ramps 0 -> 1 over ``schedule_warmup_steps``, moving the text weights from the pretrained
model's (1.0 everywhere) to the progressive schedule. Stage 2 (action control): phase annotations on, PACA masks,
initialised from stage 1.

    accelerate launch --config_file configs/accelerate_fsdp.yaml -m actavatar.training.video_train \
        --config configs/video_stage1.toml
    accelerate launch --config_file configs/accelerate_deepspeed_zero2.yaml -m actavatar.training.video_train \
        --config configs/video_stage2.toml

What is trained: ``train = "adapters"`` (audio projector and attention, time anchors, gates; + LoRA on the Wan
attention projections when ``lora_rank > 0`` and peft is installed) or ``"full"`` (every transformer weight). The
VAE, UMT5 and CLIP encoders are frozen. Output: ``out_dir/actavatar_adapter/`` (+ ``out_dir/transformer/`` for a
full fine-tune, + ``out_dir/lora/``); copy them into the Wan weights folder to use them with the pipeline.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import InputError
from ..models.paca import pack_phase_prompt
from ..models.wan_actavatar import (
    ADAPTER_ATTR,
    ActAvatarWan,
    WanActAvatarAdapter,
    WanConditioning,
    enable_gradient_checkpointing,
    install_actavatar_adapters,
    latent_audio_windows,
    latent_frame_times,
    load_actavatar_adapters,
    num_latent_frames,
    pad_prompt,
    video_audio_features,
    without_adapter,
)
from ..phases import PhasePlan
from .config import config_from_toml
from .video_data import VideoClipDataset

LORA_TARGETS = [
    "attn1.to_q",
    "attn1.to_k",
    "attn1.to_v",
    "attn1.to_out.0",
    "attn2.to_q",
    "attn2.to_k",
    "attn2.to_v",
    "attn2.to_out.0",
]


@dataclass
class VideoTrainConfig:
    stage: int = 1  # 1: audio<->motion (base prompt only); 2: action control on phase annotations
    weights_dir: str = ""  # diffusers Wan I2V/TI2V folder (model_index.json, transformer/, vae/, text_encoder/...)
    wav2vec2_dir: str = ""  # transformers Wav2Vec2Model folder ("" = weights_dir/wav2vec2)
    data_dir: str = "data/video"  # built by actavatar.training.video_data
    out_dir: str = "runs/video-stage1"
    init_from: str = ""  # stage 2: the stage-1 out_dir (actavatar_adapter/, transformer/ if full)
    train: str = "adapters"  # adapters | full
    lora_rank: int = 0  # > 0: LoRA on the Wan attention projections (needs peft)
    steps: int = 4000
    batch_size: int = 1  # clips per process per step (all clips share width x height x clip_frames)
    lr: float = 1e-4
    weight_decay: float = 0.01
    warmup: int = 100
    grad_clip: float = 1.0
    clip_frames: int = 81  # video frames per training clip (4k + 1), = the pipeline's window
    overlap_frames: int = 5  # known frames in continuation windows (4m - 3), as the pipeline uses
    prefix_prob: float = 0.3  # probability of training a continuation window (overlap_frames known)
    audio_dim: int = 768  # wav2vec2 width
    audio_context: int = 2
    schedule: str = "progressive"
    schedule_warmup_steps: int = 1000  # stage 1: schedule_strength 0 -> 1 over these steps
    paca_mode: str = "hard"
    drop_text: float = 0.1  # classifier-free guidance dropout (negative/empty prompt)
    drop_audio: float = 0.1  # ... zero audio
    drop_phases: float = 0.05  # stage 2: hide every phase (base only) for a clip
    gradient_checkpointing: bool = True
    mixed_precision: str = "bf16"  # no | fp16 | bf16 (accelerate autocast; weights of frozen parts in this dtype)
    seed: int = 0
    save_every: int = 500
    log_every: int = 10

    @classmethod
    def from_toml(cls, path: str | Path, **overrides) -> VideoTrainConfig:
        return config_from_toml(cls, path, overrides)


def _lr(step: int, cfg: VideoTrainConfig) -> float:
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    return cfg.lr * 0.5 * (1 + math.cos(math.pi * min(1.0, (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup))))


def load_components(cfg: VideoTrainConfig, device, dtype):
    """The pipeline (frozen VAE/UMT5/CLIP + transformer) with adapters: fresh (stage 1) or from ``init_from``."""
    from diffusers import WanTransformer3DModel

    from ..pipelines.video import ADAPTER_DIR, ActAvatarVideoPipeline

    if not (Path(cfg.weights_dir) / "model_index.json").is_file():
        raise InputError(f"weights_dir {cfg.weights_dir!r} is not a diffusers Wan folder (no model_index.json).")
    pipe = ActAvatarVideoPipeline.from_pretrained(
        cfg.weights_dir, dtype=dtype, local_files_only=True, use_safetensors=True
    )
    init = Path(cfg.init_from) if cfg.init_from else None
    if init is not None and (init / "transformer" / "config.json").is_file():
        pipe.transformer = WanTransformer3DModel.from_pretrained(
            init / "transformer", dtype=dtype, use_safetensors=True
        )
    if init is not None:
        load_actavatar_adapters(pipe.transformer, init / ADAPTER_DIR)
    else:
        install_actavatar_adapters(
            pipe.transformer, cfg.audio_dim, cfg.schedule, audio_context=cfg.audio_context, paca_mode=cfg.paca_mode
        )
    for module in (pipe.vae, pipe.text_encoder, pipe.image_encoder):
        if module is not None:
            module.requires_grad_(False).eval().to(device)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def select_trainable(transformer, cfg: VideoTrainConfig) -> list[torch.nn.Parameter]:
    """adapters (+ LoRA) or full; the adapter (incl. gates) is always trained, in fp32."""
    if cfg.train not in ("adapters", "full"):
        raise InputError(f"train must be 'adapters' or 'full', got {cfg.train!r}.")
    transformer.requires_grad_(cfg.train == "full")
    if cfg.lora_rank > 0:
        try:
            from peft import LoraConfig
        except ImportError:
            raise InputError("lora_rank > 0 needs peft: pip install peft (or set lora_rank = 0).") from None
        transformer.add_adapter(LoraConfig(r=cfg.lora_rank, lora_alpha=cfg.lora_rank, target_modules=LORA_TARGETS))
    adapter = getattr(transformer, ADAPTER_ATTR)
    adapter.float().requires_grad_(True)
    return [p for p in transformer.parameters() if p.requires_grad]


def make_batch(pipe, ds: VideoClipDataset, cfg: VideoTrainConfig, rng: np.random.Generator, feats_cache: dict, device):
    """One training batch: clean latents, I2V condition, WanConditioning, loss weight, CLIP states (Wan2.1)."""
    videos, plans, audio_windows = [], [], []
    c = pipe.vae_scale_factor_temporal
    t_lat = num_latent_frames(cfg.clip_frames, c)
    wav2vec2 = cfg.wav2vec2_dir or str(Path(cfg.weights_dir) / "wav2vec2")
    for _ in range(cfg.batch_size):
        record, start, frames, plan = ds.sample(rng, cfg.clip_frames)
        if record.id not in feats_cache:
            wave = ds.audio(record)
            feats_cache[record.id] = video_audio_features(wave, wav2vec2, record.fps, record.num_frames)
        feats = feats_cache[record.id][None]  # (1, T_clip, C)
        audio_windows.append(latent_audio_windows(feats, t_lat, cfg.audio_context, c, offset=start)[0])
        if cfg.stage == 1 or rng.random() < cfg.drop_phases:
            plan = PhasePlan(plan.base, ())
        plans.append(plan)
        videos.append(torch.from_numpy(frames).permute(3, 0, 1, 2).float() / 127.5 - 1)  # (3, F, H, W)
    video = torch.stack(videos).to(device)  # (B, 3, F, H, W)
    drop_text = rng.random(cfg.batch_size) < cfg.drop_text
    states, spans = [], []
    for plan, dropped in zip(plans, drop_text, strict=True):
        texts = [""] if dropped else [plan.base] + [p.text for p in plan.phases]
        s, m = pipe.encode_texts(texts)
        states.append((s, m))
        spans.append([] if dropped else [(p.start, p.end) for p in plan.phases])
    width = max(s.shape[1] for s, _ in states)

    def pad(t: torch.Tensor) -> torch.Tensor:  # (N, L, D) or (N, L) -> length ``width``
        return torch.nn.functional.pad(t, (0, 0, 0, width - t.shape[1]) if t.dim() == 3 else (0, width - t.shape[1]))

    base = torch.cat([pad(s[:1]) for s, _ in states])
    base_mask = torch.cat([pad(m[:1]) for _, m in states])
    prompt = pack_phase_prompt(base, base_mask, [(pad(s[1:]), pad(m[1:])) for s, m in states], spans)
    prompt = pad_prompt(prompt, pipe.adapter.config.text_len).to(device)
    times = torch.from_numpy(latent_frame_times(t_lat, ds.records[0].fps, c)).float()[None].expand(cfg.batch_size, -1)
    cond = WanConditioning(prompt, times.to(device), torch.stack(audio_windows).to(device))
    known_frames = cfg.overlap_frames if rng.random() < cfg.prefix_prob else 1
    with torch.no_grad():
        x0 = pipe.encode_video(video)  # (B, z, T_lat, h, w)
        condition, known = pipe.prepare_condition(video[:, :, :known_frames], cfg.clip_frames)
    image_embeds = None
    if pipe.image_encoder is not None:
        from PIL import Image

        first = [Image.fromarray(((v[:, 0].permute(1, 2, 0) + 1) * 127.5).byte().cpu().numpy()) for v in video]
        image_embeds = pipe.encode_image(first, device)
    weight = (1 - known) if pipe.expand_timesteps else torch.ones_like(known)  # TI2V: known latents are given
    drop_audio = torch.from_numpy(rng.random(cfg.batch_size) < cfg.drop_audio).to(device)
    return x0, condition, known, cond, weight, image_embeds, drop_audio


def save_outputs(accelerator, model, cfg: VideoTrainConfig, out: Path) -> None:
    """Gather the full state (FSDP/ZeRO) and write actavatar_adapter/ (+ transformer/ for full fine-tuning)."""
    from huggingface_hub import split_torch_state_dict_into_shards
    from safetensors.torch import save_file

    state = accelerator.get_state_dict(model)  # full tensors on the main process
    if not accelerator.is_main_process:
        return
    unwrapped = accelerator.unwrap_model(model)
    transformer = unwrapped.transformer
    prefix = f"transformer.{ADAPTER_ATTR}."
    adapter_dir = out / "actavatar_adapter"
    adapter_dir.mkdir(parents=True, exist_ok=True)
    adapter_state = {
        k[len(prefix) :]: v.detach().float().cpu().contiguous() for k, v in state.items() if k.startswith(prefix)
    }
    save_file(adapter_state, adapter_dir / "diffusion_pytorch_model.safetensors")
    getattr(transformer, ADAPTER_ATTR).save_config(adapter_dir)
    if cfg.train == "full":
        base = {
            k[len("transformer.") :]: v.detach().cpu().contiguous()
            for k, v in state.items()
            if k.startswith("transformer.") and not k.startswith(prefix) and "lora_" not in k
        }
        tdir = out / "transformer"
        tdir.mkdir(parents=True, exist_ok=True)
        split = split_torch_state_dict_into_shards(
            base, filename_pattern="diffusion_pytorch_model{suffix}.safetensors"
        )
        for filename, names in split.filename_to_tensors.items():
            save_file({n: base[n] for n in names}, tdir / filename, metadata={"format": "pt"})
        if split.is_sharded:
            index = {"metadata": split.metadata, "weight_map": split.tensor_to_filename}
            (tdir / "diffusion_pytorch_model.safetensors.index.json").write_text(json.dumps(index, indent=2))
        with without_adapter(transformer):
            transformer.save_config(tdir)
    if cfg.lora_rank > 0:
        from peft.utils import get_peft_model_state_dict

        from ..pipelines.video import ActAvatarVideoPipeline

        lora = get_peft_model_state_dict(transformer)
        ActAvatarVideoPipeline.save_lora_weights(out / "lora", transformer_lora_layers=lora)
    (out / "train_config.json").write_text(json.dumps(asdict(cfg), indent=2))


def train_video(cfg: VideoTrainConfig) -> Path:
    """Run ``cfg.steps`` optimisation steps; returns ``out_dir``."""
    from accelerate import Accelerator

    accelerator = Accelerator(mixed_precision=cfg.mixed_precision if torch.cuda.is_available() else "no")
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(cfg.mixed_precision, torch.float32)
    if not torch.cuda.is_available():
        dtype = torch.float32  # CPU smoke runs
    pipe = load_components(cfg, accelerator.device, dtype)
    transformer = pipe.transformer
    params = select_trainable(transformer, cfg)
    if cfg.gradient_checkpointing:
        enable_gradient_checkpointing(transformer)
    adapter: WanActAvatarAdapter = getattr(transformer, ADAPTER_ATTR)
    if cfg.stage == 2:
        adapter.set_schedule_strength(1.0)
    model = ActAvatarWan(transformer).train()
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay, betas=(0.9, 0.99))
    model, optimizer = accelerator.prepare(model, optimizer)
    ds = VideoClipDataset(cfg.data_dir)
    rng = np.random.default_rng([cfg.seed, accelerator.process_index])
    gen = torch.Generator().manual_seed(cfg.seed * 1_000_003 + accelerator.process_index)
    out = Path(cfg.out_dir)
    feats_cache: dict = {}
    out.mkdir(parents=True, exist_ok=True)
    log = open(out / "log.jsonl", "a", encoding="utf-8") if accelerator.is_main_process else None

    for step in range(cfg.steps):
        t0 = time.perf_counter()
        if cfg.stage == 1:
            adapter.set_schedule_strength(step / max(1, cfg.schedule_warmup_steps))
        for group in optimizer.param_groups:
            group["lr"] = _lr(step, cfg)
        x0, condition, known, cond, weight, image_embeds, drop_audio = make_batch(
            pipe, ds, cfg, rng, feats_cache, accelerator.device
        )
        # Flow matching (the scheduler's convention): x_t = (1 - s) x0 + s noise, target velocity noise - x0,
        # sigma from a logit-normal (SD3), timestep = 1000 sigma.
        sigma = torch.sigmoid(torch.randn(x0.shape[0], generator=gen)).to(x0.device)
        noise = torch.randn(x0.shape, generator=gen).to(x0.device)
        s = sigma.view(-1, 1, 1, 1, 1)
        x_t = (1 - s) * x0 + s * noise
        x_in, timestep = pipe.model_input(x_t, condition, known, sigma * 1000)
        with accelerator.autocast():
            pred = model(x_in.to(dtype), timestep, cond, image_embeds, cfg.paca_mode, drop_audio=drop_audio).sample
        err = (pred.float() - (noise - x0)) ** 2 * weight
        loss = err.sum() / (weight.expand_as(err).sum()).clamp(min=1)
        accelerator.backward(loss)
        if accelerator.sync_gradients:
            accelerator.clip_grad_norm_(params, cfg.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if log is not None and (step % cfg.log_every == 0 or step == cfg.steps - 1):
            entry = {
                "step": step,
                "loss": round(float(loss.detach()), 6),
                "lr": _lr(step, cfg),
                "s": time.perf_counter() - t0,
                "schedule_strength": float(adapter.schedule_strength),
            }
            log.write(json.dumps(entry) + "\n")
            log.flush()
        if (step + 1) % cfg.save_every == 0 or step == cfg.steps - 1:
            save_outputs(accelerator, model, cfg, out)
    accelerator.wait_for_everyone()
    if log is not None:
        log.close()
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m actavatar.training.video_train", description=__doc__.split("\n")[0])
    p.add_argument("--config", required=True, help="TOML with VideoTrainConfig fields (configs/video_stage*.toml)")
    p.add_argument("--stage", type=int, choices=[1, 2])
    p.add_argument("--steps", type=int)
    p.add_argument("--out-dir")
    p.add_argument("--weights-dir")
    args = p.parse_args(argv)
    try:
        cfg = VideoTrainConfig.from_toml(
            args.config, stage=args.stage, steps=args.steps, out_dir=args.out_dir, weights_dir=args.weights_dir
        )
        out = train_video(cfg)
    except InputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
