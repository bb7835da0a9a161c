"""Two-stage training of MotionDiT with accelerate (one readable loop, nanoGPT-style).

Stage 1 (audio <-> motion correspondence): clips without phases, text reduced to the base block.
Stage 2 (action control): clips with 1–4 phase annotations, audio kept, initialised from stage 1.

    python -m actavatar train --stage 1 --config configs/motion_stage1.toml
    python -m actavatar train --stage 2 --config configs/motion_stage2.toml
    accelerate launch -m actavatar train --stage 2 --config configs/motion_stage2.toml   # multi-process/GPU

A single CPU process is the default. Checkpoints (weights + optimizer + EMA + data RNG position) are written
atomically every ``save_every`` steps and training resumes from the latest one automatically.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..audio import frame_features
from ..defaults import check_schedule
from ..errors import InputError
from ..models.motion_dit import MotionConditioning, MotionDiT
from ..models.paca import frame_times, pack_phase_prompt
from ..motion import FACE_DESCRIPTOR_DIM, mirror_motion
from ..phases import PhasePlan
from ..text import clause_ids, default_text_encoder, with_pooled
from .config import config_from_toml, synthesis_options


@dataclass
class TrainConfig:
    stage: int = 1  # 1: audio<->motion (base prompt only); 2: action control on phase annotations
    out_dir: str = "runs/stage1"  # checkpoint folder (transformer/, scheduler/, state/, log.jsonl)
    data_dir: str = "data/train-stage1"  # synthetic clips; built here (deterministically) if missing
    num_clips: int = 3000  # clips to synthesise when data_dir is missing
    data_seed: int = 0
    init_from: str = ""  # stage 2: the stage-1 checkpoint folder to start from ("" = from scratch)
    steps: int = 3000  # optimisation steps
    tokens_per_batch: int = 1600  # frames per batch; batch size = tokens_per_batch // window length
    min_frames: int = 75  # training windows are random crops of length in [min_frames, max_frames]
    max_frames: int = 200  # = the pipeline's inference window (time anchors stay in the trained range)
    lr: float = 4e-4
    weight_decay: float = 0.01
    warmup: int = 200
    grad_clip: float = 1.0
    ema_decay: float = 0.999
    drop_text: float = 0.1  # classifier-free guidance: probability of the null prompt
    drop_audio: float = 0.1  # ... and of null audio (independently)
    drop_phases: float = 0.05  # stage 2: probability of hiding every phase (base only) for a clip
    phase_loss_weight: float = 1.0  # loss weight of frames inside a phase window (text kept) vs. 1 elsewhere
    prefix_prob: float = 0.5  # probability of motion-prefix conditioning (long-clip windows)
    max_prefix: int = 25
    schedule: str = "progressive"  # ModalitySchedule initialisation
    paca_mode: str = "hard"  # "off" trains the ablation where all phase texts form one global prompt
    # Text generalisation (stage 2): each phase text also appears as ``text_variants`` surface variants
    # (training/augment.py; never a held-out phrasing), used with probability ``text_augment``; each token between
    # [CLS] and [SEP] of a phase text is hidden with probability ``token_dropout`` (at least one is kept); and
    # ``text_pooled_token`` puts each text's sentence embedding before its tokens (stored in the model config).
    text_variants: int = 0
    text_augment: float = 0.0
    token_dropout: float = 0.0
    text_pooled_token: bool = False
    # ... and a text of several clauses ("smiles and turns her head to the right") also one embedding per clause
    # (text.with_pooled; stored in the model config). Needs ``text_pooled_token``.
    text_clause_tokens: bool = False
    phase_clock: bool = False  # MotionDiT's phase clock (time within the phase), added at stage 2 if missing
    # Stage 2: clips are drawn with probability proportional to the largest weight of the action parts they contain
    # (e.g. {shake_head = 3.0}); parts not listed weigh 1. Empty = uniform.
    label_weights: dict[str, float] = field(default_factory=dict)
    # Stage 2: clips with a combination phase ("smiles and nods") are drawn this many times as often (times the
    # label weight); 1 = no preference.
    combination_weight: float = 1.0
    # Stage 2: probability of showing a clip mirrored (motion left <-> right, "left" <-> "right" in its phase texts;
    # training/augment.py). Clips whose mirrored text would be a held-out phrasing are never mirrored.
    mirror: float = 0.0
    model_dim: int = 128
    model_layers: int = 8
    seed: int = 0
    save_every: int = 500
    log_every: int = 25
    threads: int = 0  # torch CPU threads (0 = all cores)

    def __post_init__(self) -> None:
        self.schedule = check_schedule(self.schedule)  # a bad name fails here, before any data or model work

    @classmethod
    def from_toml(cls, path: str | Path, **overrides) -> TrainConfig:
        return config_from_toml(cls, path, overrides)


# ------------------------------------------------------------------------------------------------------ data
DIRECTION_WORDS = frozenset({"left", "right", "up", "down"})  # word pieces token dropout never hides


def direction_tokens(
    texts: list[str],
    states: dict[str, torch.Tensor],
    words: frozenset[str] = DIRECTION_WORDS,
    pieces: list[list[str]] | None = None,
) -> dict[str, np.ndarray]:
    """Text -> (L,) bool, True at its direction words (texts without one are left out). Token dropout keeps these:
    without "left", "turns her head to the left" asks for a turn of unknown sign, and a model trained on such items
    learned turns of random sign. ``pieces``: the texts' word pieces if already tokenized."""
    out = {}
    for text, text_pieces in zip(texts, pieces or default_text_encoder().tokens(texts), strict=True):
        keep = np.array([piece in words for piece in text_pieces])
        if keep.any() and len(keep) == states[text].shape[0]:
            out[text] = keep
    return out


class ClipBank:
    """Training clips held in memory with precomputed audio features and encoded texts."""

    def __init__(
        self,
        data_dir: Path,
        stage: int,
        fps_expected: float = 25.0,
        text_variants: int = 0,
        seed: int = 0,
        label_weights: dict[str, float] | None = None,
        token_dropout: float = 0.0,
        mirror: bool = False,
        combination_weight: float = 1.0,
        clause_tokens: bool = False,
    ):
        from ..text import mirror_text
        from .augment import contains_heldout, contains_heldout_verbatim, variants
        from .synth import load_dataset

        ds = load_dataset(data_dir)
        if len(ds) == 0:
            raise InputError(f"Dataset {data_dir} has no clips: rebuild it.")
        self.fps = ds.fps
        self.motion, self.features, self.plans, weights, labels = [], [], [], [], []
        label_weights = dict(label_weights or {})
        for sample in ds:
            parts = [part for label in (sample.actions if stage == 2 else []) for part in label.split("+")]
            combined = stage == 2 and any("+" in label for label in sample.actions)
            weights.append(
                max([label_weights.get(part, 1.0) for part in parts], default=1.0)
                * (combination_weight if combined else 1.0)
            )
            n = sample.motion.shape[0]
            self.motion.append(torch.from_numpy(sample.motion))
            self.features.append(frame_features(sample.audio, ds.fps, n).half())
            plan = sample.plan if stage == 2 else PhasePlan(sample.plan.base, ())
            self.plans.append(plan)
            labels.append(sample.actions if stage == 2 else [])
        texts = sorted({t for p in self.plans for t in [p.base, *(ph.text for ph in p.phases)]})
        self.variants: dict[str, list[str]] = {}
        if text_variants > 0:
            rng = np.random.default_rng([seed, 17])
            phase_texts = sorted({ph.text for p in self.plans for ph in p.phases})
            self.variants = {t: variants(t, rng, text_variants) for t in phase_texts}
        # Mirrored plans. None: nothing to mirror; the mirror image of a text would be a held-out phrasing; or a
        # sided action's text names no side (its mirrored motion would contradict the unchanged text).
        self.mirrored: list[PhasePlan | None] = [None] * len(self.plans)
        if mirror:
            leaks = lambda t: contains_heldout_verbatim(t) or contains_heldout(t)  # noqa: E731
            for i, (plan, actions) in enumerate(zip(self.plans, labels, strict=True)):
                flipped = [mirror_text(ph.text) for ph in plan.phases]
                changed = [f != ph.text for f, ph in zip(flipped, plan.phases, strict=True)]
                sided = [("left" in a or "right" in a) for a in actions]
                if any(changed) and changed == sided and not any(map(leaks, flipped)):
                    phases = tuple(dataclasses.replace(ph, text=t) for ph, t in zip(plan.phases, flipped, strict=True))
                    self.mirrored[i] = dataclasses.replace(plan, phases=phases)
            for original, vs in list(self.variants.items()):  # a mirrored text's variants: mirrored
                flipped = mirror_text(original)
                if flipped != original:
                    extra = [f for f in map(mirror_text, vs) if not leaks(f)]
                    self.variants[flipped] = list(dict.fromkeys([*self.variants.get(flipped, []), *extra]))
        texts = sorted(
            set(texts)
            | {ph.text for p in self.mirrored if p is not None for ph in p.phases}
            | {v for vs in self.variants.values() for v in vs}
        )
        self.text = encode_texts_cached(texts, Path(data_dir))
        # Word pieces, only if an option needs them (tokenizing loads MiniLM, which a cached encoding otherwise skips).
        protect = stage == 2 and token_dropout > 0
        pieces = default_text_encoder().tokens(texts) if protect or clause_tokens else None
        self.protected = direction_tokens(texts, self.text, pieces=pieces) if protect else {}
        self.clauses: dict[str, np.ndarray] = {}  # text -> clause of each token (texts of one clause left out)
        if clause_tokens:
            for text, text_pieces in zip(texts, pieces, strict=True):
                ids = np.asarray(clause_ids(text_pieces))
                if ids.max() > 0 and len(ids) == self.text[text].shape[0]:
                    self.clauses[text] = ids
        self.lengths = np.array([m.shape[0] for m in self.motion])
        self.weights = np.asarray(weights, dtype=np.float64)  # relative probability of drawing each clip

    def __len__(self) -> int:
        return len(self.motion)

    def batch(
        self, rng: np.random.Generator, cfg: TrainConfig, device
    ) -> tuple[torch.Tensor, MotionConditioning, torch.Tensor]:
        """A batch of random crops: normalised motion (B, T, D), its conditioning, and per-frame loss weights
        (B, T): ``cfg.phase_loss_weight`` on frames whose midpoint lies in one of the crop's phase windows, else 1."""
        from ..pipelines.motion import normalize_motion

        frames = int(rng.integers(cfg.min_frames, cfg.max_frames + 1))
        eligible = np.flatnonzero(self.lengths >= frames)
        if len(eligible) == 0:
            frames = int(self.lengths.max())
            eligible = np.flatnonzero(self.lengths >= frames)
        size = max(2, cfg.tokens_per_batch // frames)
        if np.all(self.weights == 1.0):  # uniform: the exact draws of recipes without label weights
            picks = rng.choice(eligible, size=size, replace=len(eligible) < size)
        else:
            p = self.weights[eligible] / self.weights[eligible].sum()
            picks = rng.choice(eligible, size=size, replace=len(eligible) < size, p=p)
        motion, feats, base, phase_states, spans = [], [], [], [], []
        for i in picks:
            start = int(rng.integers(0, self.lengths[i] - frames + 1))
            crop, plan = self.motion[i][start : start + frames], self.plans[i]
            if cfg.mirror > 0 and self.mirrored[i] is not None and rng.random() < cfg.mirror:
                crop, plan = mirror_motion(crop), self.mirrored[i]
            motion.append(crop)
            feats.append(self.features[i][start : start + frames].float())
            t0, t1 = start / self.fps, (start + frames) / self.fps
            keep = [p for p in plan.phases if p.end > t0 and p.start < t1]
            if keep and rng.random() < cfg.drop_phases:
                keep = []
            base.append(self._states(plan.base, rng, cfg, augment=False))
            phase_states.append([self._states(p.text, rng, cfg) for p in keep])
            spans.append([(p.start - t0, p.end - t0) for p in keep])
        base_t, base_m = _pad([*base])
        packed = []
        for states in phase_states:
            if states:
                packed.append(_pad(states))
            else:
                packed.append((torch.zeros(0, 1, base_t.shape[-1]), torch.zeros(0, 1, dtype=torch.bool)))
        prompt = pack_phase_prompt(base_t, base_m, packed, spans)
        x0 = normalize_motion(torch.stack(motion))  # (B, T, D)
        batch = len(picks)
        prefix = torch.zeros_like(x0)
        prefix_mask = torch.zeros(batch, frames)
        for b in range(batch):
            if rng.random() < cfg.prefix_prob:
                k = int(rng.integers(1, min(cfg.max_prefix, frames - 1) + 1))
                prefix[b, :k] = x0[b, :k]
                prefix_mask[b, :k] = 1.0
        times = torch.from_numpy(frame_times(frames, self.fps)).float()[None].expand(batch, -1)
        weight = torch.ones(batch, frames)
        for b, item in enumerate(spans):
            for a, e in item:
                weight[b, (times[b] >= a) & (times[b] < e)] = cfg.phase_loss_weight
        # Synthetic motion does not depend on the face: random descriptors teach the model to work for any face.
        face = torch.from_numpy(rng.standard_normal((batch, FACE_DESCRIPTOR_DIM)).astype(np.float32))
        cond = MotionConditioning(torch.stack(feats), prompt, times, face, prefix, prefix_mask)
        return x0.to(device), cond, weight.to(device)

    def _states(self, text: str, rng: np.random.Generator, cfg: TrainConfig, augment: bool = True) -> torch.Tensor:
        """(L, D) token states of ``text`` as the model sees them in this batch: maybe a variant, maybe with tokens
        hidden, maybe led by the sentence embedding (see ``TrainConfig.text_variants``)."""
        if augment and cfg.text_augment > 0 and self.variants.get(text) and rng.random() < cfg.text_augment:
            options = self.variants[text]
            text = options[int(rng.integers(len(options)))]
        states = self.text[text].float()
        clauses = self.clauses.get(text) if cfg.text_clause_tokens else None
        if augment and cfg.token_dropout > 0 and states.shape[0] > 3:
            keep = rng.random(states.shape[0]) >= cfg.token_dropout
            keep[0] = keep[-1] = True  # [CLS] and [SEP]
            if text in self.protected:
                keep |= self.protected[text]
            if not keep[1:-1].any():
                keep[1 + int(rng.integers(states.shape[0] - 2))] = True
        else:
            keep = np.ones(states.shape[0], dtype=bool)
        if not keep.all():
            states = states[torch.from_numpy(keep)]
            clauses = clauses[keep] if clauses is not None else None
        return with_pooled(states, clauses) if cfg.text_pooled_token else states


_TEXT_ENCODING = "all-MiniLM-L6-v2"


def encode_texts_cached(texts: list[str], cache_dir: Path) -> dict[str, torch.Tensor]:
    """MiniLM token states (fp16) of ``texts``, cached in ``cache_dir``: one safetensors file per distinct text list
    and encoding, written atomically, that lists its texts. A re-run on the same list (a resume, an ablation row)
    reads its file; another list (another seed's text variants) takes the texts it shares with earlier files from
    them and encodes only the rest."""
    import hashlib

    digest = hashlib.sha1("\n".join([_TEXT_ENCODING, *texts]).encode("utf-8")).hexdigest()[:16]
    path = cache_dir / f".text-states-{digest}.safetensors"
    exact, listed = _read_text_states(path, texts)
    if exact is not None:
        if not listed:  # a file of an older version, which did not list its texts: list them for other lists
            _write_text_states(path, texts, exact)
        return exact
    out = _cached_text_states(cache_dir, set(texts))
    missing = [t for t in texts if t not in out]
    if missing:
        encoder = default_text_encoder()
        for i in range(0, len(missing), 256):
            chunk = missing[i : i + 256]
            states, mask = encoder.encode(chunk)
            for j, t in enumerate(chunk):
                out[t] = states[j, : int(mask[j].sum())].half()
    if texts:
        _write_text_states(path, texts, out)
    return {t: out[t] for t in texts}


def _read_text_states(path: Path, texts: list[str] | None = None) -> tuple[dict[str, torch.Tensor] | None, bool]:
    """(the states of a cache file by text, or None if it is missing, damaged or of another list; whether the file
    lists its texts). ``texts``: the file's text list, for a file that does not list its own. A damaged cache is
    rebuilt, never trusted."""
    from safetensors import safe_open

    try:
        with safe_open(path, "pt") as f:
            listed = (f.metadata() or {}).get("texts")
            names = json.loads(listed) if listed is not None else texts
            states, offsets = f.get_tensor("states"), f.get_tensor("offsets").tolist()
    except Exception:  # noqa: BLE001 - missing or unreadable
        return None, False
    if names is None or (texts is not None and names != texts) or len(offsets) != len(names) + 1:
        return None, False
    return {t: states[offsets[i] : offsets[i + 1]] for i, t in enumerate(names)}, listed is not None


def _cached_text_states(cache_dir: Path, wanted: set[str]) -> dict[str, torch.Tensor]:
    """Whatever of ``wanted`` the cache files in ``cache_dir`` that list their texts already hold."""
    found: dict[str, torch.Tensor] = {}
    for path in sorted(cache_dir.glob(".text-states-*.safetensors")):
        if len(found) == len(wanted):
            break
        states = _read_text_states(path)[0] or {}
        found.update({t: s for t, s in states.items() if t in wanted and t not in found})
    return found


def _write_text_states(path: Path, texts: list[str], states: dict[str, torch.Tensor]) -> None:
    from safetensors.torch import save_file

    lengths = torch.tensor([0] + [states[t].shape[0] for t in texts])
    tmp = path.with_name(path.name + ".tmp")
    tensors = {"states": torch.cat([states[t] for t in texts]), "offsets": lengths.cumsum(0)}
    try:
        save_file(tensors, tmp, metadata={"encoding": _TEXT_ENCODING, "texts": json.dumps(texts)})
        os.replace(tmp, path)
    except OSError:  # read-only data folder: train without the cache
        tmp.unlink(missing_ok=True)


def _pad(seqs: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    length = max(s.shape[0] for s in seqs)
    out = torch.zeros(len(seqs), length, seqs[0].shape[-1])
    mask = torch.zeros(len(seqs), length, dtype=torch.bool)
    for i, s in enumerate(seqs):
        out[i, : s.shape[0]] = s
        mask[i, : s.shape[0]] = True
    return out, mask


# ---------------------------------------------------------------------------------------------------- training
def flow_matching_loss(
    model: MotionDiT,
    x0: torch.Tensor,
    cond: MotionConditioning,
    cfg: TrainConfig,
    gen: torch.Generator,
    weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """Rectified flow: x_t = (1 - s) x0 + s noise, target velocity noise - x0; s ~ logit-normal (SD3).

    ``weight`` (B, T): per-frame loss weights (the weighted mean is returned); items whose text is dropped for
    classifier-free guidance get weight 1 everywhere, since they cannot know what the phases ask for."""
    batch = x0.shape[0]
    sigma = torch.sigmoid(torch.randn(batch, generator=gen))  # (B,)
    noise = torch.randn(x0.shape, generator=gen)
    x_t = (1 - sigma[:, None, None]) * x0 + sigma[:, None, None] * noise
    drop_text = torch.rand(batch, generator=gen) < cfg.drop_text
    drop_audio = torch.rand(batch, generator=gen) < cfg.drop_audio
    out = model(x_t, sigma * 1000.0, cond, drop_text=drop_text, drop_audio=drop_audio, paca_mode=cfg.paca_mode)
    err = (out.sample - (noise - x0)).square().mean(dim=-1)  # (B, T)
    if weight is None:
        return err.mean()
    weight = torch.where(drop_text[:, None], torch.ones_like(weight), weight)
    return (err * weight).sum() / weight.sum()


def _lr(step: int, cfg: TrainConfig) -> float:
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    progress = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    return cfg.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0))))


def ensure_dataset(cfg: TrainConfig, workers: int | None = None) -> Path:
    """The config's data folder, synthesised there first if missing (``workers`` processes; default: all cores)."""
    from .synth import SYNTHESIS_VERSION, build_dataset, load_dataset

    data = Path(cfg.data_dir)
    options = synthesis_options(cfg)
    if (data / "manifest.json").is_file():
        ds = load_dataset(data)
        found = ds.synthesis_version
        # 0: real footage. Version 2 changed phase actions only: stage-1 clips (no phases) are the same in 1 and 2.
        if found not in (0, SYNTHESIS_VERSION) and ds.manifest.get("stage") == 2:
            raise InputError(
                f"{data} holds clips of an older synthesis (version {found}, now {SYNTHESIS_VERSION}): delete the "
                f"folder to rebuild it, or set data_dir to a new folder."
            )
        built = float(ds.manifest.get("audio_domain", 0.0))
        if found != 0 and abs(built - options["audio_domain"]) > 1e-9:
            raise InputError(
                f"{data} was synthesised with audio_domain = {built:g}, the config asks for "
                f"{options['audio_domain']:g}: delete the folder to rebuild it, or set data_dir to a new folder."
            )
    else:
        print(f"building {cfg.num_clips} stage-{cfg.stage} clips in {data} ...", flush=True)
        build_dataset(
            data,
            cfg.num_clips,
            "train",
            cfg.stage,
            cfg.data_seed,
            workers=workers or max(1, (os.cpu_count() or 1)),
            progress=True,
            **options,
        )
    return data


def _save_atomic(folder: Path, write) -> None:
    """Write a folder under a temp name, then swap it in: a crash never leaves a half checkpoint."""
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    write(tmp)
    old = folder.with_name(folder.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if folder.exists():
        folder.rename(old)
    tmp.rename(folder)
    shutil.rmtree(old, ignore_errors=True)


def _check_config(cfg: TrainConfig) -> Path | None:
    """Refuse a bad recipe before any data or model work; returns the ``init_from`` transformer folder (or None)."""
    if cfg.stage not in (1, 2):
        raise InputError(f"stage must be 1 or 2, not {cfg.stage}.")
    from .actions import ACTIONS

    unknown = sorted(set(cfg.label_weights) - set(ACTIONS))
    if unknown or any(not (w > 0) for w in cfg.label_weights.values()):
        raise InputError(
            f"label_weights must map action names ({', '.join(sorted(ACTIONS))}) to positive weights; "
            f"got {cfg.label_weights}."
        )
    if not (cfg.combination_weight > 0):
        raise InputError(f"combination_weight must be positive (1 = no preference), got {cfg.combination_weight}.")
    if not (0.0 <= cfg.mirror <= 1.0):
        raise InputError(f"mirror is a probability: use a value from 0 to 1 (shipped recipe: 0.5), got {cfg.mirror}.")
    if cfg.text_clause_tokens and not cfg.text_pooled_token:
        raise InputError(
            "text_clause_tokens adds clause embeddings after the sentence embedding: set text_pooled_token = true."
        )
    init = Path(cfg.init_from) / "transformer" if cfg.init_from else None
    if init is not None and not (init / "config.json").is_file():
        raise InputError(f"init_from {cfg.init_from} has no transformer/ checkpoint: run stage 1 first.")
    return init


def _build_model(cfg: TrainConfig, init: Path | None) -> MotionDiT:
    """A fresh MotionDiT, or the ``init_from`` one set up for this stage (its PACA mode, text tokens and schedule;
    a stage-1 model gets the phase clock, starting as a no-op)."""
    if init is None:
        return MotionDiT(
            dim=cfg.model_dim,
            num_layers=cfg.model_layers,
            schedule=cfg.schedule,
            paca_mode=cfg.paca_mode,
            text_pooled_token=cfg.text_pooled_token,
            text_clause_tokens=cfg.text_clause_tokens,
            phase_clock=cfg.phase_clock,
        )
    model = MotionDiT.from_pretrained(init, use_safetensors=True)
    if cfg.phase_clock and model.phase_clock_embed is None:  # a stage-1 model: add the clock, starting as a no-op
        stage1 = model
        config = {k: v for k, v in stage1.config.items() if not k.startswith("_")}  # incl. _use_default_values
        model = MotionDiT.from_config({**config, "phase_clock": True})
        missing, unexpected = model.load_state_dict(stage1.state_dict(), strict=False)
        if unexpected or any(not k.startswith("phase_clock_embed.") for k in missing):
            raise InputError(f"init_from {cfg.init_from} does not match this model: {missing or unexpected}")
    model.register_to_config(
        paca_mode=cfg.paca_mode,
        text_pooled_token=cfg.text_pooled_token,
        text_clause_tokens=cfg.text_clause_tokens,
    )
    if cfg.schedule != model.config.schedule:  # schedule ablations: gates re-initialised for this stage
        model.modality_schedule.reset(cfg.schedule)
        model.register_to_config(schedule=cfg.schedule)
    return model


def _resume(accelerator, ema: MotionDiT, state_dir: Path) -> int:
    """Load the saved training state (optimizer, model, EMA) if there is one; returns the step to continue from."""
    if not (state_dir / "meta.json").is_file():
        return 0
    accelerator.load_state(str(state_dir / "accelerate"))
    meta = json.loads((state_dir / "meta.json").read_text())
    step = int(meta["step"])
    from safetensors.torch import load_file

    ema.load_state_dict(load_file(state_dir / "ema.safetensors"))
    accelerator.print(f"resumed from step {step}")
    return step


def _save(accelerator, ema: MotionDiT, scheduler, out: Path, step: int, cfg: TrainConfig) -> None:
    """Save the training state (to resume) and the checkpoint (EMA weights + scheduler), each folder atomically."""

    def write_state(tmp: Path) -> None:
        from safetensors.torch import save_file

        accelerator.save_state(str(tmp / "accelerate"))
        save_file({k: v.contiguous() for k, v in ema.state_dict().items()}, tmp / "ema.safetensors")
        (tmp / "meta.json").write_text(json.dumps({"step": step, "config": asdict(cfg)}))

    if accelerator.is_main_process:
        _save_atomic(out / "state", write_state)
        _save_atomic(out / "transformer", lambda tmp: ema.save_pretrained(tmp, safe_serialization=True))
        _save_atomic(out / "scheduler", lambda tmp: scheduler.save_pretrained(tmp))
        (out / "train_config.json").write_text(json.dumps(asdict(cfg), indent=1))


def _train_step(accelerator, model, ema: MotionDiT, optimizer, bank: ClipBank, rng, gen, cfg: TrainConfig, step: int):
    """One optimizer step on a fresh batch, then the EMA update (its decay warms up over the first steps).
    Returns the batch's loss."""
    x0, cond, weight = bank.batch(rng, cfg, accelerator.device)
    for group in optimizer.param_groups:
        group["lr"] = _lr(step, cfg)
    loss = flow_matching_loss(model, x0, cond, cfg, gen, weight)
    optimizer.zero_grad(set_to_none=True)
    accelerator.backward(loss)
    if cfg.grad_clip:
        accelerator.clip_grad_norm_(model.parameters(), cfg.grad_clip)
    optimizer.step()
    with torch.no_grad():
        decay = min(cfg.ema_decay, (1 + step) / (10 + step))
        for p_ema, p in zip(ema.parameters(), accelerator.unwrap_model(model).parameters(), strict=True):
            p_ema.lerp_(p.detach(), 1 - decay)
    return float(loss.detach())


def clip_bank(cfg: TrainConfig, data_dir: Path) -> ClipBank:
    """The run's clips, audio features and encoded texts (their encodings cached in ``data_dir``:
    ``encode_texts_cached``), as ``train`` holds them."""
    return ClipBank(
        data_dir,
        cfg.stage,
        text_variants=cfg.text_variants if cfg.stage == 2 else 0,
        seed=cfg.seed,
        label_weights=cfg.label_weights,
        token_dropout=cfg.token_dropout,
        mirror=cfg.stage == 2 and cfg.mirror > 0,
        combination_weight=cfg.combination_weight,
        clause_tokens=cfg.text_clause_tokens,
    )


def prepare_data(cfg: TrainConfig, workers: int = 1) -> Path:
    """Synthesise (or check) the run's data and encode its texts into the data folder's cache, so that ``train``
    of the same config starts at once (the shipped recipe does this for stage 2 while stage 1 trains)."""
    data_dir = ensure_dataset(cfg, workers=workers)
    clip_bank(cfg, data_dir)
    return data_dir


def train(cfg: TrainConfig) -> Path:
    """Run (or resume) one stage. Returns the checkpoint folder with ``transformer/`` and ``scheduler/``."""
    from accelerate import Accelerator
    from diffusers import FlowMatchEulerDiscreteScheduler
    from tqdm import tqdm

    init = _check_config(cfg)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    accelerator = Accelerator()
    data_dir = ensure_dataset(cfg) if accelerator.is_main_process else Path(cfg.data_dir)
    accelerator.wait_for_everyone()
    out = Path(cfg.out_dir)  # only once the data is known good: a refused run leaves no empty run folder
    out.mkdir(parents=True, exist_ok=True)
    t_load = time.perf_counter()
    bank = clip_bank(cfg, data_dir)
    accelerator.print(f"{len(bank)} clips, {len(bank.text)} texts loaded in {time.perf_counter() - t_load:.1f} s")

    torch.manual_seed(cfg.seed)
    model = _build_model(cfg, init)
    model.train()
    ema = MotionDiT.from_config(model.config)
    ema.load_state_dict(model.state_dict())
    ema.requires_grad_(False).eval()
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, betas=(0.9, 0.99))
    model, optimizer = accelerator.prepare(model, optimizer)

    step = _resume(accelerator, ema, out / "state")
    rng = np.random.default_rng([cfg.seed, accelerator.process_index, step])
    gen = torch.Generator().manual_seed(cfg.seed * 1_000_003 + accelerator.process_index * 7919 + step)
    scheduler = FlowMatchEulerDiscreteScheduler()

    log = open(out / "log.jsonl", "a", encoding="utf-8") if accelerator.is_main_process else None
    bar = tqdm(total=cfg.steps, initial=step, desc=f"stage {cfg.stage}", disable=not accelerator.is_main_process)
    running, t0 = None, time.perf_counter()
    while step < cfg.steps:
        value = _train_step(accelerator, model, ema, optimizer, bank, rng, gen, cfg, step)
        step += 1
        running = value if running is None else 0.98 * running + 0.02 * value
        bar.update()
        bar.set_postfix(loss=f"{running:.4f}")
        if log is not None and (step % cfg.log_every == 0 or step == cfg.steps):
            elapsed = round(time.perf_counter() - t0, 1)
            line = {"step": step, "loss": round(running, 5), "lr": _lr(step, cfg), "elapsed_s": elapsed}
            log.write(json.dumps(line) + "\n")
            log.flush()
        if step % cfg.save_every == 0 or step == cfg.steps:
            _save(accelerator, ema, scheduler, out, step, cfg)
    bar.close()
    if log is not None:
        log.close()
    accelerator.wait_for_everyone()
    if not (out / "transformer" / "config.json").is_file():
        _save(accelerator, ema, scheduler, out, step, cfg)
    return out
