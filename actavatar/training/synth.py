"""Synthetic training clips: espeak-ng speech + viseme mouth motion + idle motion + phase-anchored actions.

``make_sample`` draws one clip: a voice (language voice + variant), rate and pitch; 1–3 sentences (3–10 s with
silence around them); mouth targets from the phoneme timings; idle motion shaped by the base prompt's mood; and
for stage 2, 1–4 non-overlapping phases, each with an action phrased in the split's own phrasings (an action's
jaw opening, unless it asks for an open mouth, fades out in the speech's pauses: the audio owns the mouth). The
``heldout`` split uses sentences, phrasings, modifier words, base-prompt templates and voice variants that
``train`` never sees. With probability ``audio_domain`` (default 0: clean espeak-ng) the clip's audio is then made to
sound like a real recording (``audio_domain.randomize``: noise, room, channel, codec, level, breaths in pauses);
the motion targets always follow the clean phoneme timings, and the randomiser keeps them in sync.

``build_dataset`` writes shards ``shard-00000.npz`` (audio as int16 and motion as float32, concatenated, with
offsets) plus ``shard-00000.json`` (plans, action labels, meta per clip) and a ``manifest.json``; every shard is
written to a temporary name and renamed, so an interrupted build never leaves a half shard. ``load_dataset``
returns an indexable ``SynthDataset`` a torch ``Dataset`` can wrap directly.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..motion import MOTION_INDEX, MOTION_LIMITS, MOTION_NAMES
from ..phases import Phase, PhasePlan
from . import audio_domain as domain
from .action_motion import MOODS, add_action, idle_motion, sample_base_prompt
from .actions import heldout_part, sample_action, split_items
from .speech import SAMPLE_RATE, list_variants, list_voices, synthesize
from .visemes import VISEME_CHANNELS, mouth_track

MIN_CLIP_S, MAX_CLIP_S = 3.0, 10.0
MIN_PHASE_S = 0.8
FORMAT_VERSION = 1
# What the synthetic clips contain (actions, intensities, timing): bumped when that changes, so a cached dataset of an
# older synthesis is not silently trained or evaluated on. 2: repetitions at fixed positions, zero-mean nods, eyelid
# actions replace idle blinks, intensities above the detectors, no contradictory combinations. 3: an action's jaw
# opening (raised eyebrows, laughing) fades out in the speech's pauses; optional audio domain randomisation. 4: the
# phrasing bank in actions.toml (40+ phrasings per action in several styles, sideless turns/tilts/glances, more
# modifiers, three-action combinations); meta["sides_stated"] per phase and part; an action that moves no head angle
# holds the head steadier (actions.HEAD_HOLD). 5: a sideless turn, tilt or glance names its side at the end of its
# clause (text.with_side), as the pipeline completes a user's text that names none.
SYNTHESIS_VERSION = 5
_MOUTH = [MOTION_INDEX[c] for c in VISEME_CHANNELS]
_LOW = np.array([MOTION_LIMITS[n][0] for n in MOTION_NAMES], np.float32)
_HIGH = np.array([MOTION_LIMITS[n][1] for n in MOTION_NAMES], np.float32)


@dataclass
class Sample:
    """One synthetic clip: 16 kHz audio, (T, 14) ground-truth motion at ``fps``, its phase plan and labels."""

    audio: np.ndarray  # (N,) float32
    motion: np.ndarray  # (T, MOTION_DIM) float32, T = ceil(duration * fps)
    plan: PhasePlan
    actions: list[str]  # action label of each phase ("nod", "smile+nod", ...), in plan order
    meta: dict = field(default_factory=dict)
    fps: float = 25.0
    sample_rate: int = SAMPLE_RATE

    @property
    def duration(self) -> float:
        return len(self.audio) / self.sample_rate


# ---------------------------------------------------------------------------------------------------- sentences
_NAMES = (
    "Anna",
    "Peter",
    "Maria",
    "David",
    "Sophie",
    "James",
    "Emma",
    "Oliver",
    "Lucy",
    "Daniel",
    "Grace",
    "Thomas",
    "Hannah",
    "Michael",
    "Olivia",
    "Samuel",
    "Chloe",
    "Robert",
    "Alice",
    "Henry",
)
_NOUNS = (
    "report",
    "garden",
    "meeting",
    "project",
    "kitchen",
    "river",
    "library",
    "market",
    "window",
    "concert",
    "bicycle",
    "mountain",
    "letter",
    "museum",
    "station",
    "painting",
    "festival",
    "recipe",
    "budget",
    "journey",
    "weather",
    "computer",
    "village",
    "lecture",
    "harbor",
    "bakery",
    "forest",
    "newspaper",
    "hospital",
    "theater",
)
_ADJS = (
    "quiet",
    "busy",
    "beautiful",
    "difficult",
    "simple",
    "bright",
    "strange",
    "wonderful",
    "cold",
    "early",
    "important",
    "small",
    "famous",
    "modern",
    "peaceful",
    "noisy",
    "careful",
    "gentle",
    "huge",
    "tiny",
)
_VERBS_PAST = (
    "visited",
    "finished",
    "described",
    "cleaned",
    "painted",
    "discovered",
    "explained",
    "remembered",
    "planned",
    "opened",
    "watched",
    "repaired",
    "mentioned",
    "organized",
    "photographed",
    "measured",
    "closed",
    "moved",
)
_VERBS = (
    "visit",
    "finish",
    "describe",
    "clean",
    "paint",
    "discover",
    "explain",
    "remember",
    "plan",
    "open",
    "watch",
    "repair",
    "mention",
    "organize",
    "check",
    "improve",
    "share",
    "change",
)
_TIMES = (
    "yesterday",
    "last week",
    "this morning",
    "on Monday",
    "every summer",
    "after lunch",
    "before dinner",
    "tomorrow",
    "next month",
    "at night",
    "in the spring",
    "this afternoon",
    "on the weekend",
    "soon",
)
_PLACES = (
    "in the city",
    "near the station",
    "by the sea",
    "at home",
    "in the office",
    "across the street",
    "in the park",
    "at school",
    "on the hill",
    "in the old town",
    "downstairs",
    "behind the house",
)
_TEMPLATES = (
    "{name} {vpast} the {adj} {noun} {time}.",
    "I think we should {verb} the {noun} {time}.",
    "Have you ever seen such a {adj} {noun} {place}?",
    "The {noun} {place} was {adj} {time}.",
    "{name} told me that the {noun} is very {adj}.",
    "We {vpast} the {noun} together {time}, and it was {adj}.",
    "Could you please {verb} the {noun} before {name} arrives?",
    "My friend {name} {vpast} a {adj} {noun} {place}.",
    "Nobody expected the {noun} to be so {adj}.",
    "Let me {verb} the {noun} for you {time}.",
    "It is a {adj} day, so {name} wants to {verb} the {noun}.",
    "Why did {name} {verb} the {noun} {place}?",
    "Honestly, the {adj} {noun} surprised everyone {time}.",
    "If you {verb} the {noun} {time}, {name} will be happy.",
    "There is a {adj} {noun} {place} that I love.",
    "After the {noun}, we {vpast} everything {place}.",
    "{name} and I will {verb} the {adj} {noun} {time}.",
    "Thank you for the {adj} {noun}, {name}.",
    "Remember to {verb} the {noun} {time}, it is {adj}.",
    "The {adj} {noun} was {vpast} by {name} {time}.",
)
NUM_SENTENCES = 4000


@lru_cache(maxsize=1)
def all_sentences() -> tuple[str, ...]:
    """A fixed list of ``NUM_SENTENCES`` distinct English sentences (templates x word lists, seed 0)."""
    rng = np.random.default_rng(0)
    pick = lambda items: items[int(rng.integers(len(items)))]  # noqa: E731
    seen: dict[str, None] = {}
    while len(seen) < NUM_SENTENCES:
        template = pick(_TEMPLATES)
        text = template.format(
            name=pick(_NAMES),
            noun=pick(_NOUNS),
            adj=pick(_ADJS),
            vpast=pick(_VERBS_PAST),
            verb=pick(_VERBS),
            time=pick(_TIMES),
            place=pick(_PLACES),
        )
        seen[text[0].upper() + text[1:]] = None
    return tuple(seen)


@lru_cache(maxsize=2)
def sentences(split: str) -> tuple[str, ...]:
    """The sentences of ``split``: 15% of ``all_sentences()`` are held out."""
    return split_items(all_sentences(), split, share=0.15, salt="sentence")


# ------------------------------------------------------------------------------------------------------- voices
_ODD_VARIANTS = {"Demonic", "UniRobot", "anikaRobot", "whisper", "whisperf", "croak", "kaukovalta"}


@lru_cache(maxsize=2)
def voices(split: str) -> tuple[str, ...]:
    """``language+variant`` voice names of ``split``: 20% of the variants (and every voice using them) are held
    out; the plain language voices belong to train."""
    languages = [v.name for v in list_voices("en")]
    variants = [v for v in list_variants() if v not in _ODD_VARIANTS and not v.startswith("robosoft")]
    held = heldout_part(variants, salt="voice")
    chosen = [v for v in variants if (v in held) == (split == "heldout")]
    out = [f"{lang}+{v}" for lang in languages for v in chosen]
    if split == "train":
        out += languages
    return tuple(out)


# ------------------------------------------------------------------------------------------------------ samples
def _num_frames(num_samples: int, fps: float, sr: int) -> int:
    """``ceil(duration * fps)``, the same count as ``actavatar.audio.num_video_frames``."""
    return max(1, int(np.ceil(num_samples / sr * fps - 1e-6)))


def _speech(rng: np.random.Generator, split: str):
    """Synthesize 1–3 sentences in a random voice, rate and pitch, padded with silence to 3–10 s."""
    pool, voice_pool = sentences(split), voices(split)
    for _ in range(8):
        voice = voice_pool[int(rng.integers(len(voice_pool)))]
        rate = int(rng.integers(130, 231))
        pitch = int(rng.integers(25, 76))
        count = int(rng.choice([1, 2, 2, 3]))
        text = " ".join(pool[int(i)] for i in rng.choice(len(pool), size=count, replace=False))
        head, tail = float(rng.uniform(0.1, 0.7)), float(rng.uniform(0.2, 0.9))
        clip = synthesize(
            text, voice, rate, pitch, pitch_range=int(rng.integers(30, 81)), pad_start=head, pad_end=tail
        )
        if clip.duration > MAX_CLIP_S:
            continue
        if clip.duration < MIN_CLIP_S:  # too short: more trailing silence
            extra = np.zeros(
                int(np.ceil((MIN_CLIP_S - clip.duration + rng.uniform(0, 0.5)) * SAMPLE_RATE)), np.float32
            )
            clip.audio = np.concatenate([clip.audio, extra])
        return clip
    raise RuntimeError("could not draw a 3–10 s utterance in 8 tries")  # pragma: no cover - sentence lists are short


def _phase_windows(rng: np.random.Generator, duration: float, count: int) -> list[tuple[float, float]]:
    """``count`` non-overlapping windows of >= MIN_PHASE_S inside [0, duration), with optional gaps."""
    count = max(1, min(count, int(duration // (MIN_PHASE_S + 0.2))))
    # Every slot gets MIN_PHASE_S plus a random (Dirichlet) share of the remaining time.
    slots = MIN_PHASE_S + (duration - count * MIN_PHASE_S) * rng.dirichlet(np.full(count, 2.0))
    bounds = np.concatenate([[0.0], np.cumsum(slots)])
    windows = []
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        span = b - a
        slack = max(0.0, span - MIN_PHASE_S)
        lead = rng.uniform(0, 0.4) * slack if rng.random() < 0.6 else 0.0
        trail = rng.uniform(0, 0.4) * (slack - lead) if rng.random() < 0.6 else 0.0
        start, end = np.ceil((a + lead) * 100) / 100, np.floor((b - trail) * 100) / 100  # inside the slot
        windows.append((float(start), float(min(end, duration))))
    return windows


def _audio_rng(rng: np.random.Generator) -> np.random.Generator:
    """The audio randomiser's generator: seeded from ``rng``'s current state, which it does not advance. Every draw
    stays a function of the sample's position in its stream, and a clean and a randomised build of the same seed
    hold the same clips (text, voice, plan, motion), differing only in their audio."""
    state = json.dumps(rng.bit_generator.state, sort_keys=True, default=lambda a: np.asarray(a).tolist())
    return np.random.default_rng([int.from_bytes(hashlib.sha1(state.encode()).digest()[:16], "little"), 1])


def _check_audio_domain(audio_domain: float) -> float:
    if not 0.0 <= float(audio_domain) <= 1.0:
        raise InputError(
            f"audio_domain is a probability: use a value from 0 (clean audio) to 1 (every clip), got {audio_domain}."
        )
    return float(audio_domain)


def make_sample(
    rng: np.random.Generator,
    split: str = "train",
    stage: int = 2,
    fps: float = 25.0,
    *,
    audio_domain: float = 0.0,
    domain_options: domain.DomainOptions | None = None,
) -> Sample:
    """Draw one synthetic clip for ``split`` ("train" | "heldout") and training ``stage`` (1: base prompt only,
    idle motion; 2: 1–4 action phases). With probability ``audio_domain`` its audio is domain-randomised
    (``audio_domain.randomize`` with ``domain_options``); ``meta["audio_domain"]`` records what was applied."""
    if split not in ("train", "heldout"):
        raise InputError(f"split must be 'train' or 'heldout', not {split!r}.")
    if stage not in (1, 2):
        raise InputError(f"stage must be 1 or 2, not {stage!r}.")
    audio_domain = _check_audio_domain(audio_domain)
    clip = _speech(rng, split)
    num_frames = _num_frames(len(clip.audio), fps, clip.sample_rate)
    base, mood = sample_base_prompt(rng, split)

    # Mouth: visemes with per-speaker articulation and per-word emphasis.
    articulation = mood.articulation * float(rng.uniform(0.8, 1.2))
    gains = [(s, e, float(rng.uniform(0.85, 1.2))) for s, e, _ in clip.words]
    mouth = mouth_track(clip.phonemes, num_frames, fps, articulation=articulation, word_gains=gains)
    idle = idle_motion(num_frames, fps, rng, mood, clip.words)
    motion = idle.copy()
    motion[:, _MOUTH] += mouth

    phases: list[Phase] = []
    labels: list[str] = []
    sides: list[list[bool]] = []  # per phase and part: False for a turn/tilt/glance whose text names no side
    if stage == 2:
        count = int(rng.choice([1, 2, 2, 3, 3, 4]))
        previous = None
        for start, end in _phase_windows(rng, clip.duration, count):
            spec = sample_action(rng, split)
            while spec.label == previous:  # neighbouring phases differ, so the windows matter
                spec = sample_action(rng, split)
            add_action(motion, fps, spec, start, end, rng, idle=idle, words=clip.words)
            phases.append(Phase(start, end, spec.text))
            labels.append(spec.label)
            sides.append(list(spec.sides_stated))
            previous = spec.label
    motion = np.clip(motion, _LOW, _HIGH).astype(np.float32)
    audio, record = clip.audio, {"applied": False}
    if audio_domain > 0:
        arng = _audio_rng(rng)
        if arng.random() < audio_domain:
            record["applied"] = True
            audio = domain.randomize(arng, clip.audio, clip.sample_rate, clip.words, domain_options, record)
    meta = {
        "voice": clip.voice,
        "rate": clip.rate,
        "pitch": clip.pitch,
        "sentence": clip.text,
        "mood": mood.name,
        "split": split,
        "stage": stage,
        "words": [[round(s, 3), round(e, 3), w] for s, e, w in clip.words],
        "audio_domain": record,
        "sides_stated": sides,
    }
    return Sample(audio, motion, PhasePlan(base, tuple(phases)), labels, meta, fps, clip.sample_rate)


# ------------------------------------------------------------------------------------------------------ dataset
def _shard_seed(seed: int, split: str, stage: int, shard: int) -> list[int]:
    tag = int(hashlib.sha1(f"{split}/{stage}".encode()).hexdigest()[:8], 16)
    return [seed, tag, shard]


def _save_npz(path: Path, **arrays: np.ndarray) -> None:
    """``np.savez_compressed`` at zlib level 1: speech PCM barely compresses further and level 6 is 5x slower."""
    import zipfile

    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for name, value in arrays.items():
            with zf.open(f"{name}.npy", "w", force_zip64=True) as f:
                np.lib.format.write_array(f, np.asanyarray(value), allow_pickle=False)


def _write_shard(args: tuple) -> dict:
    out_dir, index, count, split, stage, seed, fps, audio_domain = args
    rng = np.random.default_rng(_shard_seed(seed, split, stage, index))
    samples = [make_sample(rng, split, stage, fps, audio_domain=audio_domain) for _ in range(count)]
    return write_shard(out_dir, index, samples)


def write_shard(out_dir: str | Path, index: int, samples: list[Sample]) -> dict:
    """Write samples as ``shard-NNNNN.npz`` + ``.json`` (temp names, then renamed); returns the manifest entry."""
    audio_off = np.cumsum([0] + [len(s.audio) for s in samples]).astype(np.int64)
    motion_off = np.cumsum([0] + [len(s.motion) for s in samples]).astype(np.int64)
    audio = np.concatenate([s.audio for s in samples])
    pcm = np.clip(np.round(audio * 32767.0), -32768, 32767).astype(np.int16)
    stem = Path(out_dir) / f"shard-{index:05d}"
    # Temp names unique to this writer: two processes building the same dataset at once (two evals started
    # together) each rename their own complete file into place; the shards are identical, so either may win.
    tag = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp, tmp_json = stem.with_suffix(f".{tag}.tmp.npz"), stem.with_suffix(f".{tag}.tmp.json")
    records = [{"plan": s.plan.to_dict(), "actions": s.actions, "meta": s.meta} for s in samples]
    try:
        np.savez_compressed(
            tmp,
            audio=pcm,
            audio_offsets=audio_off,
            motion=np.concatenate([s.motion for s in samples]),
            motion_offsets=motion_off,
        )
        os.replace(tmp, stem.with_suffix(".npz"))
        tmp_json.write_text(json.dumps(records, ensure_ascii=False))
        os.replace(tmp_json, stem.with_suffix(".json"))
    finally:
        tmp.unlink(missing_ok=True)
        tmp_json.unlink(missing_ok=True)
    return {
        "shard": stem.name,
        "count": len(samples),
        "frames": int(motion_off[-1]),
        "seconds": float(len(pcm) / SAMPLE_RATE),
    }


def write_manifest(out: Path, manifest: dict) -> None:
    tmp = out / f"manifest.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp.json"
    try:
        tmp.write_text(json.dumps(manifest, indent=1))
        os.replace(tmp, out / "manifest.json")
    finally:
        tmp.unlink(missing_ok=True)


def build_dataset(
    out_dir: str | Path,
    n: int,
    split: str = "train",
    stage: int = 2,
    seed: int = 0,
    workers: int = 1,
    *,
    fps: float = 25.0,
    shard_size: int = 250,
    progress: bool = False,
    audio_domain: float = 0.0,
) -> Path:
    """Write ``n`` clips to ``out_dir`` as shards plus ``manifest.json``; returns ``out_dir``.

    ``audio_domain``: the share of clips whose audio is domain-randomised (``make_sample``); 0, the default, keeps
    the clean espeak-ng audio (the evaluation's held-out set). It is recorded in the manifest, and it changes only
    the audio: the same seed gives the same clips (sentences, voices, plans, motion) at any value.

    Every draw (sentences, voices, prompts, phases, actions, motion parameters) depends only on
    ``(seed, split, stage, shard)``. espeak-ng's waveform is not bit-exact across call histories (its glottal
    phase and jitter state carry over between utterances), so audio, and timings at the sample level, may differ
    by a few samples between builds with a different ``workers`` count."""
    if n < 1:
        raise InputError(f"A dataset needs at least one clip, not {n}.")
    if split not in ("train", "heldout") or stage not in (1, 2):
        raise InputError("split must be 'train' or 'heldout' and stage 1 or 2.")
    audio_domain = _check_audio_domain(audio_domain)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    jobs = [
        (str(out), i, min(shard_size, n - i * shard_size), split, stage, seed, fps, audio_domain)
        for i in range((n + shard_size - 1) // shard_size)
    ]
    started = time.perf_counter()
    if workers > 1:
        import multiprocessing as mp

        # fork where available (no re-import of the caller's script); each worker process starts its own
        # espeak-ng engine on first use, since ``speech`` keys the engine by process id.
        method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
        with mp.get_context(method).Pool(workers) as pool:
            results = list(_progress(pool.imap(_write_shard, jobs), len(jobs), progress))
    else:
        results = list(_progress(map(_write_shard, jobs), len(jobs), progress))
    manifest = {
        "format_version": FORMAT_VERSION,
        "synthesis_version": SYNTHESIS_VERSION,
        "n": n,
        "split": split,
        "stage": stage,
        "seed": seed,
        "fps": fps,
        "audio_domain": audio_domain,
        "sample_rate": SAMPLE_RATE,
        "motion_names": list(MOTION_NAMES),
        "shards": results,
        "build_seconds": round(time.perf_counter() - started, 2),
        "moods": sorted(MOODS),
    }
    write_manifest(out, manifest)
    return out


def _progress(it: Iterator, total: int, enabled: bool) -> Iterator:
    if not enabled:
        return it
    from tqdm import tqdm

    return tqdm(it, total=total, desc="shards")


class SynthDataset:
    """Clips of a dataset folder, indexable like a list of ``Sample``; shards are decompressed on first use and
    kept (``cache_shards`` most recent) so a torch ``DataLoader`` with shuffling stays fast."""

    def __init__(self, root: str | Path, cache_shards: int | None = None):
        self.root = Path(root)
        path = self.root / "manifest.json"
        if not path.is_file():
            raise InputError(f"No dataset at {self.root}: manifest.json is missing; build it with build_dataset().")
        try:
            self.manifest = json.loads(path.read_text())
        except json.JSONDecodeError:
            raise InputError(f"{path} is corrupt (not JSON): rebuild the dataset.") from None
        if self.manifest.get("format_version") != FORMAT_VERSION:
            raise InputError(f"{self.root} was written by another dataset format version: rebuild it.")
        if list(self.manifest.get("motion_names", [])) != list(MOTION_NAMES):
            raise InputError(f"{self.root} uses different motion parameters: rebuild it.")
        # Synthetic datasets written before the field existed are version 1; real footage (no synthesis) is 0.
        default_version = 0 if self.manifest.get("source") == "footage" else 1
        self.synthesis_version = int(self.manifest.get("synthesis_version", default_version))
        self.fps = float(self.manifest["fps"])
        self.sample_rate = int(self.manifest["sample_rate"])
        self._index: list[tuple[int, int]] = []
        for s, shard in enumerate(self.manifest["shards"]):
            self._index += [(s, k) for k in range(shard["count"])]
        self._cache: dict[int, tuple[dict, list]] = {}
        self._cache_size = cache_shards if cache_shards is not None else len(self.manifest["shards"])

    def __len__(self) -> int:
        return len(self._index)

    def _shard(self, s: int) -> tuple[dict, list]:
        if s not in self._cache:
            name = self.manifest["shards"][s]["shard"]
            try:
                with np.load(self.root / f"{name}.npz") as z:
                    arrays = {k: z[k] for k in z.files}
                records = json.loads((self.root / f"{name}.json").read_text())
            except (OSError, ValueError, json.JSONDecodeError) as err:
                raise InputError(f"Shard {name} of {self.root} is missing or corrupt ({err}): rebuild it.") from None
            while len(self._cache) >= max(1, self._cache_size):
                self._cache.pop(next(iter(self._cache)))
            self._cache[s] = (arrays, records)
        return self._cache[s]

    def __getitem__(self, i: int) -> Sample:
        if not -len(self) <= i < len(self):
            raise IndexError(i)
        s, k = self._index[i]
        arrays, records = self._shard(s)
        a0, a1 = arrays["audio_offsets"][k : k + 2]
        m0, m1 = arrays["motion_offsets"][k : k + 2]
        rec = records[k]
        return Sample(
            audio=arrays["audio"][a0:a1].astype(np.float32) / 32767.0,
            motion=arrays["motion"][m0:m1],
            plan=PhasePlan.from_dict(rec["plan"]),
            actions=list(rec["actions"]),
            meta=dict(rec["meta"]),
            fps=self.fps,
            sample_rate=self.sample_rate,
        )

    def __iter__(self) -> Iterator[Sample]:
        for i in range(len(self)):
            yield self[i]


def load_dataset(root: str | Path, cache_shards: int | None = None) -> SynthDataset:
    """Open a folder written by ``build_dataset``."""
    return SynthDataset(root, cache_shards)
