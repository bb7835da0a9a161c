"""Renderer speed: frames/s at 512x512 and (render + encode + mux) / (ffmpeg-only encode) for a 10 s clip.

    python -m benchmarks.bench_render [--portrait examples/portraits/obama.jpg] [--seconds 10] [--fps 25] [--repeat 3]

Both timings come from the same run on the same frames, so the ratio is comparable across machines. CPU times are
printed beside wall times: on a shared machine (another process busy on a core) the wall times, and so the ratio, say
more about the neighbour than about this code.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
import wave
from pathlib import Path

import numpy as np

from actavatar.motion import talking_motion
from actavatar.render import PortraitRenderer, analyze_face, load_portrait, write_video

ROOT = Path(__file__).resolve().parents[1]


def write_wav(path: Path, seconds: float, sr: int = 16000) -> Path:
    t = np.arange(int(seconds * sr)) / sr
    pcm = (0.2 * np.sin(2 * np.pi * 180 * t) * 32767).astype(np.int16)
    with wave.open(str(path), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(sr)
        f.writeframes(pcm.tobytes())
    return path


def _children_cpu() -> float:
    """CPU seconds (user + system) of finished child processes, i.e. ffmpeg."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--portrait", type=Path, default=ROOT / "examples" / "portraits" / "obama.jpg")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--fps", type=float, default=25.0)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--repeat", type=int, default=3, help="measurements per figure; the median is reported")
    args = parser.parse_args()

    image = load_portrait(args.portrait)
    t0 = time.perf_counter()
    renderer = PortraitRenderer(image, analyze_face(image), size=args.size)
    setup_s = time.perf_counter() - t0
    n = int(round(args.seconds * args.fps))
    motion = talking_motion(n, args.fps)

    for row in motion[:10]:  # warm-up
        renderer.render(row)
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        wav = write_wav(Path(tmp) / "a.wav", n / args.fps)
        for _ in range(args.repeat):
            # The renderer alone, one frame after the other (wall and CPU time of this process).
            c0, t0 = time.process_time(), time.perf_counter()
            frames = [renderer.render(row) for row in motion]
            render_s, render_cpu = time.perf_counter() - t0, time.process_time() - c0
            # ffmpeg alone on those frames: the floor.
            k0, t0 = _children_cpu(), time.perf_counter()
            write_video(iter(frames), Path(tmp) / "encode_only.mp4", args.fps, wav)
            encode_s, encode_cpu = time.perf_counter() - t0, _children_cpu() - k0
            del frames
            # Frames streamed from the renderer into ffmpeg.
            k0, c0, t0 = _children_cpu(), time.process_time(), time.perf_counter()
            write_video(renderer.render_all(motion), Path(tmp) / "full.mp4", args.fps, wav, num_frames=n)
            full_s, full_cpu, full_ff = time.perf_counter() - t0, time.process_time() - c0, _children_cpu() - k0
            runs.append((render_s, render_cpu, encode_s, encode_cpu, full_s, full_cpu, full_ff, full_s / encode_s))
    med = dict(
        zip(
            ("render_s", "render_cpu", "encode_s", "encode_cpu", "full_s", "full_cpu", "full_ff", "ratio"),
            np.median(np.array(runs), axis=0),
            strict=True,
        )
    )

    w, h = renderer.frame_size
    print(f"portrait {args.portrait.name}  frame {w}x{h}  {n} frames  renderer setup {setup_s * 1000:.0f} ms")
    print(f"medians of {args.repeat} runs; CPU = user + system seconds")
    print(
        f"render only:           {med['render_s']:6.2f} s  = {n / med['render_s']:6.1f} frames/s"
        f"  (CPU {med['render_cpu']:.2f} s)"
    )
    print(
        f"ffmpeg encode only:    {med['encode_s']:6.2f} s  (same frames, h264 + aac;"
        f" ffmpeg CPU {med['encode_cpu']:.2f} s)"
    )
    print(
        f"render + encode + mux: {med['full_s']:6.2f} s  (CPU: python {med['full_cpu']:.2f} s, "
        f"ffmpeg {med['full_ff']:.2f} s)"
    )
    print(
        f"ratio (render+mux) / encode-only = {med['ratio']:.2f}  (target <= 2; per run: "
        + ", ".join(f"{r[-1]:.2f}" for r in runs)
        + ")"
    )


if __name__ == "__main__":
    main()
