"""Jaw opening of real talking-head footage, read with the project's own extractor (raw, as for real footage).

    OMP_NUM_THREADS=1 python scripts/measure_speech_opening.py VIDEO [VIDEO ...] [--json out.json]

For each clip: ``extract_motion(video, calibrated=False)`` and its ``jaw_open`` channel. The extractor's neutral is
the clip's first frames, which in footage may already be mid-word; so each clip's jaw is also shown relative to its
own 2nd percentile (its most closed frames). Prints p50 / p95 / p99 / max per clip and over all frames pooled; the
renderer's speech bound (``renderer.JAW_SPEECH_P95`` / ``JAW_SPEECH_MAX``) comes from this table.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from actavatar.motion import MOTION_INDEX
from actavatar.render import extract_motion


def stats(x: np.ndarray) -> dict[str, float]:
    return {k: round(float(np.percentile(x, q)), 3) for k, q in (("p50", 50), ("p95", 95), ("p99", 99), ("max", 100))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("videos", nargs="+", type=Path)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    rows, pooled, pooled_rel = {}, [], []
    for video in args.videos:
        try:
            track = extract_motion(video, calibrated=False)
        except Exception as e:  # a clip without a usable face is reported, not fatal
            print(f"{video.name}: skipped ({e})")
            continue
        jaw = track.values[:, MOTION_INDEX["jaw_open"]]
        rel = np.clip(jaw - np.percentile(jaw, 2), 0, None)
        pooled.append(jaw)
        pooled_rel.append(rel)
        rows[video.name] = {"frames": len(jaw), "fps": track.fps, "raw": stats(jaw), "rel_p2": stats(rel)}
        print(video.name, rows[video.name], flush=True)
    summary = {
        "clips": rows,
        "pooled_raw": stats(np.concatenate(pooled)),
        "pooled_rel_p2": stats(np.concatenate(pooled_rel)),
    }
    print("pooled raw", summary["pooled_raw"])
    print("pooled rel_p2", summary["pooled_rel_p2"])
    if args.json:
        args.json.write_text(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
