"""End-to-end speed and memory of every stage, each beside its floor measured in the same run.

    python benchmarks/run.py                 # 10, 30, 60 s clips at 512 px, 25 fps -> benchmarks/results.json
    python benchmarks/run.py --durations 10 --size 256

Each clip runs in a fresh worker process (so peak RSS is that clip's own), after one warm-up generation of the same
clip in that process; every time is the median of ``--repeat`` runs (3). The cold-start figure is a new process
running the CLI to the first finished video. The floor is ffmpeg alone (``write_video``, same settings, same
audio) encoding the very frames the generation produced, rendered beforehand into memory, so end-to-end ÷ floor
says how far we are from the cost of producing that file at all. "render fps" is the renderer alone on those
frames; "render+mux ÷ floor" streams them through the renderer into ffmpeg again (the renderer's own target,
<= 2x), on the benchmark portrait and, for the shortest clip, on every shipped portrait.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import actavatar  # noqa: E402, F401  (before torch: it sets the OpenMP wait policy)

PORTRAITS = ROOT / "examples" / "portraits"
PORTRAIT = PORTRAITS / "astronaut.jpg"
SPEECH = ROOT / "examples" / "welcome.wav"
PLAN = {
    "base": "a calm astronaut talking",
    "phases": [{"start": 1.0, "end": 3.0, "text": "nods twice"}, {"start": 4.0, "end": 6.0, "text": "smiles"}],
}
# ``--sided``: the same clip with phases that name a side, so every window also runs the mirror view (mirror
# sampling, ``defaults.MIRROR_SAMPLING``): the most diffusion work a plan can ask for at the default settings.
SIDED_PLAN = {
    "base": "a calm astronaut talking",
    "phases": [
        {"start": 1.0, "end": 3.0, "text": "tilts her head to the left"},
        {"start": 4.0, "end": 6.0, "text": "turns her head to the right"},
    ],
}


def make_audio(seconds: float, path: Path) -> Path:
    """The example speech clip tiled to ``seconds`` (real espeak-ng speech with natural pauses)."""
    import numpy as np
    import soundfile as sf

    from actavatar.audio import load_audio

    wave = load_audio(SPEECH)
    reps = int(np.ceil(seconds * 16000 / len(wave)))
    sf.write(path, np.tile(wave, reps)[: int(seconds * 16000)], 16000)
    return path


def _median_time(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def render_mux_vs_floor(portrait: Path, motion, audio: Path, tmp: Path, size: int, fps: float, repeat: int) -> dict:
    """For one portrait: the renderer alone, ffmpeg alone on the rendered frames (the floor), and both streamed."""
    from actavatar.render import PortraitRenderer, analyze_face, load_portrait, write_video

    image = load_portrait(portrait)
    renderer = PortraitRenderer(image, analyze_face(image), size=size)
    frames = len(motion)
    # The same frames the generation produced, rendered alone (no encoder competing for the cores) ...
    rendered: list = []

    def render() -> None:
        rendered[:] = renderer.render_all(motion)  # the last run's frames feed the floor below

    render_only = _median_time(render, repeat)
    # ... then encoded by ffmpeg alone: the floor, the cost of producing this very file ...
    floor = _median_time(
        lambda: write_video(iter(rendered), tmp / "floor.mp4", fps, audio_path=audio, num_frames=frames), repeat
    )
    rendered.clear()
    # ... and rendered while ffmpeg encodes, as generation does.
    render_mux = _median_time(
        lambda: write_video(renderer.render_all(motion), tmp / "render_mux.mp4", fps, audio_path=audio), repeat
    )
    return {
        "portrait": portrait.name,
        "ffmpeg_floor_s": floor,
        "render_only_fps": frames / render_only,
        "render_mux_s": render_mux,
        "render_mux_x_floor": render_mux / floor,
    }


def worker(seconds: float, size: int, fps: float, steps: int, repeat: int, portraits: bool, plan: dict) -> dict:
    """Runs in its own process: warm-up, measured generations (median), then the renderer and ffmpeg floors on the
    generated motion; with ``portraits``, render+mux vs floor on every shipped portrait too."""
    import torch

    from actavatar.api import generate

    torch.set_num_threads(int(os.environ.get("ACTAVATAR_THREADS", "2")))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        audio = make_audio(seconds, tmp / "speech.wav")
        # Warm-up on the same clip: first calls with a new tensor shape pay one-off kernel set-up (cold start below).
        generate(PORTRAIT, audio, plan, out=tmp / "warm.mp4", steps=steps, fps=fps, size=size)
        runs = []
        for _ in range(repeat):
            t = time.perf_counter()
            result = generate(PORTRAIT, audio, plan, out=tmp / "clip.mp4", steps=steps, fps=fps, size=size)
            runs.append((time.perf_counter() - t, result))
        e2e, result = sorted(runs, key=lambda r: r[0])[len(runs) // 2]  # the median run and its own timings
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # before the floor holds frames
        frames = result.report["num_frames"]
        own = render_mux_vs_floor(PORTRAIT, result.motion, audio, tmp, size, fps, repeat)
        others = []
        if portraits:
            for path in sorted(PORTRAITS.iterdir()):
                if path.suffix.lower() in (".jpg", ".jpeg", ".png") and path != PORTRAIT:
                    others.append(render_mux_vs_floor(path, result.motion, audio, tmp, size, fps, repeat))
    timings = result.report["timings_s"]
    floor = own["ffmpeg_floor_s"]
    return {
        "seconds": seconds,
        "frames": frames,
        "size": result.report["settings"]["frame_size"],
        "voice_activity_s": timings["voice_activity"],
        "encode_s": timings["encode"],
        "diffusion_s": timings["diffusion"],
        "render_s": timings["render"],
        "mux_s": timings["mux"],
        "end_to_end_s": e2e,
        "end_to_end_runs_s": [round(r[0], 3) for r in runs],
        "ffmpeg_floor_s": floor,
        "rtf": e2e / seconds,
        "x_floor": e2e / floor,
        "render_only_fps": own["render_only_fps"],
        "render_mux_s": own["render_mux_s"],
        "render_mux_x_floor": own["render_mux_x_floor"],
        "peak_rss_mb": peak_mb,
        "portraits": [own, *others],
    }


def cold_start(size: int, fps: float, steps: int, plan: dict) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        audio = make_audio(10.0, tmp / "speech.wav")
        (tmp / "plan.json").write_text(json.dumps(plan))
        t = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "actavatar",
                "generate",
                "--portrait",
                str(PORTRAIT),
                "--audio",
                str(audio),
                "--phases",
                str(tmp / "plan.json"),
                "--out",
                str(tmp / "c.mp4"),
                "--size",
                str(size),
                "--fps",
                str(fps),
                "--steps",
                str(steps),
            ],
            check=True,
            cwd=ROOT,
            capture_output=True,
        )
        return time.perf_counter() - t


def table(rows: list[dict], cold: float | None) -> str:
    head = (
        "| clip | frames | VAD s | encode s | diffusion s | render s | flush s | end-to-end s | ffmpeg floor s | "
        "× floor | RTF | render fps | render+mux ÷ floor | peak RSS MB |"
    )
    lines = [head, "|" + "---|" * 14]
    for r in rows:
        lines.append(
            f"| {r['seconds']:.0f} s | {r['frames']} | {r['voice_activity_s']:.3f} | {r['encode_s']:.2f} | "
            f"{r['diffusion_s']:.2f} | "
            f"{r['render_s']:.2f} | {r['mux_s']:.2f} | {r['end_to_end_s']:.2f} | {r['ffmpeg_floor_s']:.2f} | "
            f"{r['x_floor']:.2f} | {r['rtf']:.3f} | {r['render_only_fps']:.0f} | {r['render_mux_x_floor']:.2f} | "
            f"{r['peak_rss_mb']:.0f} |"
        )
    if len(rows) > 1:
        base = rows[0]
        for r in rows[1:]:
            lines.append(
                f"\n{r['seconds']:.0f} s ÷ {base['seconds']:.0f} s time: "
                f"{r['end_to_end_s'] / base['end_to_end_s']:.2f}× (clip ratio {r['seconds'] / base['seconds']:.0f}×)"
            )
    lines.append(
        "\nDiffusion and rendering overlap (each window's frames render while the next one denoises), so the stage "
        "columns add up to more than end-to-end; flush = ffmpeg finishing after the last frame."
    )
    if cold is not None:
        lines.append(f"\ncold start (new process → first finished 10 s video, CLI): {cold:.1f} s")
    for r in rows:
        if len(r.get("portraits", [])) > 1:
            lines.append(
                f"\nRender + encode + mux ÷ ffmpeg floor per shipped portrait, {r['seconds']:.0f} s clip "
                "(the generated motion above, each portrait's own frames and floor):\n\n"
                "| portrait | render fps | ffmpeg floor s | render+mux s | render+mux ÷ floor |\n|---|---|---|---|---|"
            )
            for p in r["portraits"]:
                lines.append(
                    f"| {p['portrait']} | {p['render_only_fps']:.0f} | {p['ffmpeg_floor_s']:.2f} | "
                    f"{p['render_mux_s']:.2f} | {p['render_mux_x_floor']:.2f} |"
                )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--durations", type=float, nargs="+", default=[10, 30, 60])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--fps", type=float, default=25)
    parser.add_argument("--steps", type=int, default=None, help="denoising steps (default: the shipped default)")
    parser.add_argument("--repeat", type=int, default=3, help="measurements per figure; medians are reported")
    parser.add_argument("--no-cold", action="store_true")
    parser.add_argument("--sided", action="store_true", help="phases that name a side (the mirror view runs too)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results.json"))
    parser.add_argument("--worker", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.steps is None:
        from actavatar.defaults import STEPS

        args.steps = STEPS
    if args.worker:
        first = args.worker == args.durations[0]  # per-portrait figures on the first (shortest) clip only
        plan = SIDED_PLAN if args.sided else PLAN
        print(json.dumps(worker(args.worker, args.size, args.fps, args.steps, args.repeat, first, plan)))
        return 0
    rows = []
    for seconds in args.durations:
        cmd = [
            sys.executable,
            __file__,
            "--worker",
            str(seconds),
            "--size",
            str(args.size),
            "--fps",
            str(args.fps),
            "--steps",
            str(args.steps),
            "--repeat",
            str(args.repeat),
            "--durations",
            *(str(d) for d in args.durations),
            *(["--sided"] if args.sided else []),
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT)
        rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        print(f"{seconds:.0f} s clip: {rows[-1]['end_to_end_s']:.2f} s end to end", file=sys.stderr)
    plan = SIDED_PLAN if args.sided else PLAN
    cold = None if args.no_cold else cold_start(args.size, args.fps, args.steps, plan)
    text = table(rows, cold)
    plan_name = "sided" if args.sided else "default"
    machine = (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print(f"{machine}; {args.size} px, {args.fps:g} fps, {args.steps} steps, {plan_name} plan\n\n{text}")
    Path(args.out).write_text(
        json.dumps(
            {
                "machine": machine,
                "rows": rows,
                "cold_start_s": cold,
                "size": args.size,
                "fps": args.fps,
                "steps": args.steps,
                "plan": plan,
            },
            indent=1,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
