"""Real talking-head footage -> motion-tier training data, in the same shard format as the synthetic clips.

    python -m actavatar.training.footage --videos clips/ --out data/real [--fps 25]

Each video's motion is read back with the landmark tracker (``render.extract_motion``) and resampled to ``fps``;
its audio is decoded to 16 kHz mono. An optional ``<video>.phases.json`` (docs/DESIGN.md phase plan; an optional
``"actions"`` list of labels, one per phase, enables action metrics) annotates stage-2 phases. Videos without a
face or without audio are skipped with the reason printed; nothing is written for them.
The result trains with ``python -m actavatar train --stage N --data data/real``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from ..audio import SAMPLE_RATE, load_audio, num_video_frames
from ..errors import InputError
from ..motion import MOTION_NAMES
from ..phases import PhasePlan
from .synth import FORMAT_VERSION, Sample, write_manifest, write_shard

VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v")


def footage_sample(video: Path, fps: float = 25.0) -> Sample:
    """One annotated clip from a real video. Raises ``InputError`` (no face, no audio, bad annotation)."""
    from ..render import extract_motion

    track = extract_motion(video)
    audio = load_audio(video)
    n = num_video_frames(len(audio), fps)
    t_src = (np.arange(len(track.values)) + 0.5) / track.fps
    t_dst = (np.arange(n) + 0.5) / fps
    motion = np.stack([np.interp(t_dst, t_src, track.values[:, c]) for c in range(track.values.shape[1])], axis=1)
    plan, actions = PhasePlan(), []
    note = video.with_suffix(".phases.json")
    if note.is_file():
        data = json.loads(note.read_text(encoding="utf-8"))
        actions = list(data.pop("actions", []))
        plan = PhasePlan.from_dict(data).validate(len(audio) / SAMPLE_RATE)
        if actions and len(actions) != len(plan.phases):
            raise InputError(f"{note.name}: 'actions' must have one label per phase ({len(plan.phases)}).")
    return Sample(audio, motion.astype(np.float32), plan, actions, {"source": video.name}, fps, SAMPLE_RATE)


def build_footage_dataset(videos: Path, out: Path, fps: float = 25.0, shard_size: int = 100) -> Path:
    files = sorted(p for p in Path(videos).rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES)
    if not files:
        raise InputError(f"No videos ({', '.join(VIDEO_SUFFIXES)}) found in {videos}.")
    out.mkdir(parents=True, exist_ok=True)
    samples, shards, skipped = [], [], []
    for f in files:
        try:
            samples.append(footage_sample(f, fps))
            print(f"ok   {f.name}: {len(samples[-1].motion)} frames", file=sys.stderr)
        except InputError as err:
            skipped.append({"video": f.name, "reason": str(err)})
            print(f"skip {f.name}: {err}", file=sys.stderr)
        if len(samples) == shard_size:
            shards.append(write_shard(out, len(shards), samples))
            samples = []
    if samples:
        shards.append(write_shard(out, len(shards), samples))
    if not shards:
        raise InputError(f"None of the {len(files)} videos in {videos} gave usable training data (see the reasons).")
    write_manifest(
        out,
        {
            "format_version": FORMAT_VERSION,
            "n": sum(s["count"] for s in shards),
            "split": "train",
            "stage": 2,
            "fps": fps,
            "sample_rate": SAMPLE_RATE,
            "motion_names": list(MOTION_NAMES),
            "shards": shards,
            "skipped": skipped,
            "source": "footage",
        },
    )
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--fps", type=float, default=25.0)
    args = parser.parse_args(argv)
    try:
        build_footage_dataset(args.videos, args.out, args.fps)
    except InputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
