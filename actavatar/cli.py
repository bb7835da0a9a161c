"""Command line: ``python -m actavatar generate|extract|train|eval``.

Exit code 0 on success; on bad input one line on stderr and exit code 2, with no partial output file."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from . import defaults
from .errors import ActAvatarError, InputError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2 (argparse's default prints usage too)
        raise InputError(f"{self.prog}: {message} (see --help)")


def _add_generate(sub) -> None:
    p = sub.add_parser("generate", help="portrait + speech + phase plan -> talking video and report")
    p.add_argument("--portrait", required=True, help="image file (png/jpg/webp...) with one clear face")
    p.add_argument("--audio", required=True, help="speech clip (wav/mp3/m4a/flac/ogg)")
    p.add_argument("--phases", help="phase plan: .json (DESIGN.md format) or .srt (one cue per phase)")
    p.add_argument("--prompt", help="base prompt (overrides the plan's 'base')")
    p.add_argument("--out", required=True, help="output .mp4")
    p.add_argument("--report", help="write the JSON report here")
    p.add_argument("--steps", type=int, default=defaults.STEPS)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--fps", type=float, default=25)
    p.add_argument("--size", type=int, default=512, help="longest side of the video in pixels")
    p.add_argument("--text-guidance", type=float, default=defaults.TEXT_GUIDANCE)
    p.add_argument("--audio-guidance", type=float, default=defaults.AUDIO_GUIDANCE)
    p.add_argument(
        "--guidance-min-sigma",
        type=float,
        default=defaults.GUIDANCE_MIN_SIGMA,
        help="steps below this noise level skip guidance (0 = guide every step)",
    )
    p.add_argument(
        "--mirror-sampling",
        action=argparse.BooleanOptionalAction,
        default=defaults.MIRROR_SAMPLING,
        help="where a phase names a side, also denoise the mirror image with left/right swapped (default: on)",
    )
    p.add_argument("--paca", choices=["hard", "soft", "off"], help="PACA mask (default: the checkpoint's, hard)")
    p.add_argument(
        "--schedule",
        default=None,
        help="force a modality schedule: progressive, uniform, reverse or power:<γ> (e.g. power:2; default: the "
        "checkpoint's learned gates)",
    )
    p.add_argument("--clip-phases", action="store_true", help="trim phases that run past the audio instead of failing")
    p.add_argument("--checkpoint", help="MotionDiT checkpoint folder (default: the shipped one)")
    # The video tier's options are declared here: importing pipelines.video to build the parser costs ~10 s
    # (diffusers' Wan pipeline + transformers) on every command and prints a torchvision warning on stderr.
    p.add_argument("--tier", choices=["motion", "video"], default="motion", help="video needs a CUDA GPU")
    p.add_argument("--weights", help="video tier weights folder (default: $ACTAVATAR_VIDEO_WEIGHTS)")
    p.add_argument("--window-frames", type=int, default=81, help="video tier: frames per window (4k+1)")
    p.add_argument("--overlap-frames", type=int, default=5, help="video tier: known frames per window (4m-3)")
    p.add_argument("--negative-prompt", default="", help="video tier: text for the unconditional branch")


def _add_extract(sub) -> None:
    p = sub.add_parser("extract", help="motion parameters from a real video (landmark tracking)")
    p.add_argument("--video", required=True)
    p.add_argument("--out", required=True, help="output motion .json")


def _run_generate(args) -> int:
    from .api import generate, progress_label

    def progress(stage: str, i: int, n: int) -> None:
        if stage == "denoise" and (i == n or i % 20 == 0):
            print(progress_label(stage, i, n, args.steps), file=sys.stderr)

    result = generate(
        args.portrait,
        args.audio,
        args.phases,
        prompt=args.prompt,
        out=args.out,
        report=args.report,
        steps=args.steps,
        seed=args.seed,
        fps=args.fps,
        size=args.size,
        text_guidance=args.text_guidance,
        audio_guidance=args.audio_guidance,
        guidance_min_sigma=args.guidance_min_sigma,
        mirror_sampling=args.mirror_sampling,
        paca=args.paca,
        schedule=args.schedule,
        clip_phases=args.clip_phases,
        checkpoint=args.checkpoint,
        progress=progress,
        tier=args.tier,
        weights=args.weights,
        video_options={
            "window_frames": args.window_frames,
            "overlap_frames": args.overlap_frames,
            "negative_prompt": args.negative_prompt,
        },
    )
    for phase, reading in zip(result.report["phases"], result.report.get("understood_as") or [], strict=False):
        print(f"{phase['start']:g}-{phase['end']:g} s '{phase['text']}': understood as {reading['summary']}")
    for note in result.report.get("notes") or []:
        print(f"note: {note}", file=sys.stderr)
    print(generate_summary(result.video_path, result.report))
    return 0


def _run_extract(args) -> int:
    from .api import write_json_atomic
    from .render import extract_motion

    if Path(args.out).suffix.lower() != ".json":
        raise InputError(f"Output {Path(args.out).name} must end in .json.")
    track = extract_motion(args.video)
    write_json_atomic(args.out, track.to_dict())
    print(f"wrote {args.out} ({track.values.shape[0]} frames at {track.fps:g} fps)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m actavatar", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    _add_generate(sub)
    _add_extract(sub)
    from .evaluation.cli import add_eval_parser
    from .training.cli import add_train_parser

    add_train_parser(sub)
    add_eval_parser(sub)
    return parser


_MAIN_PID: int | None = None  # the process that installed ``_interrupt``


def _interrupt(signum, frame):
    if os.getpid() != _MAIN_PID:  # a forked worker (data synthesis) that its pool shuts down: end as by default
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
        return
    raise KeyboardInterrupt  # `kill` and timeouts stop a run like Ctrl+C: partial files are removed on the way out


def generate_summary(video_path, report: dict) -> str:
    """One line on what ``generate`` wrote: the video's own length, apart from how long making it took."""
    frames, fps = report["num_frames"], report["fps"]
    return (
        f"wrote {video_path}: {frames / fps:.2f} s of video ({frames} frames at {fps:g} fps), "
        f"generated in {report['timings_s']['total']:.1f} s"
    )


def main(argv: Sequence[str] | None = None) -> int:
    global _MAIN_PID
    in_main_thread = threading.current_thread() is threading.main_thread()
    _MAIN_PID = os.getpid()
    previous = signal.signal(signal.SIGTERM, _interrupt) if in_main_thread else None
    try:
        args = build_parser().parse_args(argv)
        if args.command == "generate":
            return _run_generate(args)
        if args.command == "extract":
            return _run_extract(args)
        return args.run(args)
    except InputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except ActAvatarError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
