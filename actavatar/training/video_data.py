"""Video-tier dataset: format, builder from raw clips + an annotation file, and the loader the trainer samples from.

Format (one folder)::

    DATA/manifest.jsonl          one JSON object per clip:
        {"id": "c0001", "video": "clips/c0001.mp4", "audio": "clips/c0001.wav", "phases": "clips/c0001.phases.json",
         "motion": "clips/c0001.motion.json" | null, "fps": 25.0, "num_frames": 250, "width": 832, "height": 480}
    DATA/clips/ID.mp4            video only, resampled to the dataset fps and cropped/scaled to width x height
    DATA/clips/ID.wav            16 kHz mono speech
    DATA/clips/ID.phases.json    the docs/DESIGN.md phase plan {"base": ..., "phases": [{"start", "end", "text"}]}
    DATA/clips/ID.motion.json    motion parameters from ``python -m actavatar extract`` (quality control, eval)

Annotation file (input of the builder), JSONL, one line per raw clip::

    {"clip": "raw/interview_03.mp4", "base": "a man talking to the camera",
     "phases": [{"start": 0.0, "end": 2.0, "text": "nods twice"}, {"start": 2.0, "end": 4.5, "text": "smiles"}]}

Build::

    python -m actavatar.training.video_data --annotations ann.jsonl --out DATA --fps 25 --width 832 --height 480

Clips whose plan is invalid for their duration, or (with motion extraction) in which no face is tracked, are skipped
with a one-line reason; ``--no-extract`` skips the landmark pass (e.g. for synthetic test clips).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..phases import PhasePlan

MANIFEST = "manifest.jsonl"


@dataclass
class ClipRecord:
    id: str
    video: str
    audio: str
    phases: str
    motion: str | None
    fps: float
    num_frames: int
    width: int
    height: int


def _ffmpeg(args: list[str]) -> None:
    from ..render.mux import ffmpeg_exe

    proc = subprocess.run([ffmpeg_exe(), "-v", "error", "-nostdin", "-y", *args], capture_output=True, timeout=600)
    if proc.returncode != 0:
        raise InputError(f"ffmpeg failed: {proc.stderr.decode('utf-8', 'replace').strip().splitlines()[-1:]}")


def count_frames(path: str | Path) -> int:
    import cv2

    cap = cv2.VideoCapture(str(path))
    n = 0
    while cap.grab():
        n += 1
    cap.release()
    return n


def build_dataset(
    annotations: str | Path, out: str | Path, *, fps: float = 25.0, width: int = 832, height: int = 480,
    extract: bool = True, root: str | Path | None = None,
) -> list[ClipRecord]:  # fmt: skip
    """Build DATA from raw clips listed in ``annotations`` (paths relative to ``root``, default: its folder)."""
    annotations = Path(annotations)
    root = Path(root) if root is not None else annotations.parent
    out = Path(out)
    (out / "clips").mkdir(parents=True, exist_ok=True)
    records: list[ClipRecord] = []
    for n, line in enumerate(annotations.read_text().splitlines()):
        if not line.strip():
            continue
        item = json.loads(line)
        src = root / item["clip"]
        cid = item.get("id") or f"c{n:05d}"
        try:
            video, audio = out / "clips" / f"{cid}.mp4", out / "clips" / f"{cid}.wav"
            vf = f"fps={fps},scale={width}:{height}:force_original_aspect_ratio=increase,crop={width}:{height}"
            _ffmpeg(
                ["-i", str(src), "-an", "-vf", vf, "-c:v", "libx264", "-crf", "12", "-pix_fmt", "yuv420p", str(video)]
            )
            _ffmpeg(["-i", str(src), "-vn", "-ac", "1", "-ar", "16000", "-f", "wav", str(audio)])
            frames = count_frames(video)
            plan = PhasePlan.from_dict({"base": item.get("base", ""), "phases": item.get("phases", [])})
            plan = plan.validate(frames / fps)
            (out / "clips" / f"{cid}.phases.json").write_text(plan.to_json())
            motion = None
            if extract:
                from ..render import extract_motion

                track = extract_motion(video)
                if not np.isfinite(track.values).all():
                    raise InputError("no face tracked in every frame")
                motion = f"clips/{cid}.motion.json"
                (out / motion).write_text(json.dumps(track.to_dict()))
        except (InputError, KeyError, ValueError) as err:
            print(f"skip {src.name}: {err}", file=sys.stderr)
            continue
        records.append(
            ClipRecord(
                cid,
                f"clips/{cid}.mp4",
                f"clips/{cid}.wav",
                f"clips/{cid}.phases.json",
                motion,
                float(fps),
                frames,
                width,
                height,
            )
        )
    with open(out / MANIFEST, "w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r.__dict__) + "\n")
    return records


class VideoClipDataset:
    """Random fixed-length crops (video frames, audio, phase plan shifted to the crop) from a built DATA folder."""

    def __init__(self, data_dir: str | Path):
        self.root = Path(data_dir)
        manifest = self.root / MANIFEST
        if not manifest.is_file():
            raise InputError(
                f"No {MANIFEST} in {self.root}: build the dataset with python -m actavatar.training.video_data."
            )
        self.records = [ClipRecord(**json.loads(line)) for line in manifest.read_text().splitlines() if line.strip()]
        if not self.records:
            raise InputError(f"{manifest} lists no clips.")
        self._audio: dict[str, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.records)

    def frames(self, record: ClipRecord, start: int, count: int) -> np.ndarray:
        """(count, H, W, 3) uint8 RGB."""
        import cv2

        cap = cv2.VideoCapture(str(self.root / record.video))
        cap.set(cv2.CAP_PROP_POS_FRAMES, start)
        out = []
        for _ in range(count):
            ok, frame = cap.read()
            if not ok:
                break
            out.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
        cap.release()
        while len(out) < count:  # a short decode: repeat the last frame (rare; counts come from the same decoder)
            out.append(out[-1])
        return np.stack(out)

    def audio(self, record: ClipRecord) -> np.ndarray:
        if record.id not in self._audio:
            import soundfile as sf

            wave, sr = sf.read(self.root / record.audio, dtype="float32")
            if sr != 16000:
                raise InputError(f"{record.audio} is {sr} Hz; rebuild the dataset (16 kHz expected).")
            self._audio[record.id] = wave
        return self._audio[record.id]

    def plan(self, record: ClipRecord) -> PhasePlan:
        return PhasePlan.load(self.root / record.phases)

    def sample(self, rng: np.random.Generator, num_frames: int) -> tuple[ClipRecord, int, np.ndarray, PhasePlan]:
        """A random clip and crop start; returns (record, start, frames, plan with spans relative to the crop)."""
        usable = [r for r in self.records if r.num_frames >= num_frames]
        if not usable:
            raise InputError(f"No clip has {num_frames} frames: lower clip_frames or add longer clips.")
        record = usable[rng.integers(len(usable))]
        start = int(rng.integers(record.num_frames - num_frames + 1))
        t0, t1 = start / record.fps, (start + num_frames) / record.fps
        plan = self.plan(record)
        phases = [
            {"start": max(p.start, t0) - t0, "end": min(p.end, t1) - t0, "text": p.text}
            for p in plan.phases
            if p.end > t0 and p.start < t1
        ]
        return (
            record,
            start,
            self.frames(record, start, num_frames),
            PhasePlan.from_dict({"base": plan.base, "phases": phases}),
        )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m actavatar.training.video_data", description=__doc__.split("\n")[0])
    p.add_argument("--annotations", required=True, help="JSONL: one {clip, base, phases} per raw clip")
    p.add_argument("--out", required=True, help="dataset folder to write")
    p.add_argument("--root", help="folder the clip paths are relative to (default: the annotation file's)")
    p.add_argument("--fps", type=float, default=25.0)
    p.add_argument("--width", type=int, default=832)
    p.add_argument("--height", type=int, default=480)
    p.add_argument("--no-extract", action="store_true", help="skip motion extraction (landmark tracking)")
    args = p.parse_args(argv)
    try:
        records = build_dataset(
            args.annotations,
            args.out,
            fps=args.fps,
            width=args.width,
            height=args.height,
            extract=not args.no_extract,
            root=args.root,
        )
    except InputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"wrote {len(records)} clips to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
