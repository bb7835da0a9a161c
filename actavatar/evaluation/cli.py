"""``python -m actavatar eval``: score a checkpoint from rendered pixels; ``--table`` merges result files."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .. import defaults
from ..errors import InputError


def add_eval_parser(sub) -> None:
    p = sub.add_parser("eval", help="generate a held-out set, render, extract motion from pixels, score it")
    p.add_argument(
        "--checkpoint",
        help="MotionDiT checkpoint folder (default: shipped); 'ground-truth' renders the "
        "synthetic reference motion instead (the measurement ceiling)",
    )
    p.add_argument(
        "--split",
        choices=["heldout", "train", "dev", "test", "all"],
        default=None,
        help="synthetic set: heldout (default; phrasings/sentences/voices never trained on) or train (training "
        "phrasings); with --real: dev (default), test (held out of every tuning choice) or all",
    )
    p.add_argument(
        "--real",
        metavar="DIR",
        help="score real recorded speech instead: a set built by scripts/real_speech_set.py (e.g. data/real_speech)",
    )
    p.add_argument(
        "--conditions",
        help="with --real: comma-separated conditions (default: all; clean,noise,music,reverb,phone,clipped,quiet)",
    )
    p.add_argument("--real-clip", action="append", default=[], metavar="ID", help="with --real: only this clip")
    p.add_argument(
        "--action-pass",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="with --real: also generate each file with one action phase over a pause (default: on)",
    )
    p.add_argument("--action-text", default="raises her eyebrows in surprise", help="with --real: that phase's text")
    p.add_argument("--max-seconds", type=float, help="with --real: cut every clip to this length (quick runs)")
    p.add_argument("--videos", metavar="DIR", help="with --real: keep the generated mp4s and reports here")
    p.add_argument(
        "--external",
        action="store_true",
        help="score the frozen external phrasings (actavatar/evaluation/external_phrasings.json, results per "
        "style) on held-out clips instead of the bank's own phrasings",
    )
    p.add_argument(
        "--conflict",
        action="store_true",
        help="score the text-audio conflict phases (actavatar/evaluation/conflict_phases.json) on held-out clips; "
        "--clips N below their number runs N of them, spread over the file",
    )
    p.add_argument("--clips", type=int, default=24)
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--portrait", action="append", default=[], help="portrait image (repeatable; default: all shipped)")
    defaults.add_sampling_arguments(p)
    p.add_argument("--size", type=int, default=384)
    p.add_argument("--label", default="", help="row name in the table")
    p.add_argument(
        "--neutral-lead-frames",
        type=int,
        default=5,
        help="frames of the portrait at rest rendered before each clip (the tracker's neutral reference; dropped "
        "after extraction); 0 = the generated clip alone",
    )
    p.add_argument("--out", default="runs/eval", help="folder for results.json and results.md")
    p.add_argument(
        "--table",
        nargs="+",
        metavar="RESULTS_JSON",
        help="instead of evaluating: print one markdown table from these results.json files",
    )
    p.set_defaults(run=run_eval)


def run_eval(args) -> int:
    from .evaluate import EvalConfig, collect_table, evaluate, markdown_table, write_results

    if args.table:
        print(collect_table([Path(p) for p in args.table]))
        return 0
    if args.schedule:  # before any clip is built or generated
        defaults.check_schedule(args.schedule)
    if args.real:
        return run_real_eval(args)
    if args.split not in (None, "heldout", "train"):
        raise InputError(f"--split {args.split} is for --real sets: the synthetic set has heldout or train.")
    if args.external:
        return run_external_eval(args)
    if args.conflict:
        return run_conflict_eval(args)
    cfg = EvalConfig(split=args.split or "heldout", clips=args.clips, seed=args.seed, **_generation_settings(args))
    result = evaluate(cfg)
    write_results(result, Path(args.out))
    print(markdown_table([result["summary"]]))
    print(json.dumps(result["summary"]["accuracy_by_action"]))
    return 0


def run_external_eval(args) -> int:
    from .evaluate import EvalConfig, write_results
    from .external import evaluate_external

    if args.split not in (None, "heldout"):
        raise InputError("--external puts its own texts on held-out clips: leave --split out.")
    # Enough held-out clips for every external phase (about 2.5 windows per clip).
    clips = max(args.clips, 200)
    cfg = EvalConfig(split="heldout", clips=clips, seed=args.seed, **_generation_settings(args))
    result = evaluate_external(cfg)
    write_results(result, Path(args.out))
    print(json.dumps({k: v for k, v in result["summary"].items() if k != "accuracy_by_action"}, indent=1))
    return 0


def run_conflict_eval(args) -> int:
    from .conflict import POOL_CLIPS, conflict_markdown, evaluate_conflict, write_conflict_results
    from .evaluate import EvalConfig

    if args.split not in (None, "heldout"):
        raise InputError("--conflict puts its phases on held-out clips: leave --split out.")
    cfg = EvalConfig(split="heldout", clips=POOL_CLIPS, seed=args.seed, **_generation_settings(args))
    result = evaluate_conflict(cfg, limit=args.clips)
    write_conflict_results(result, Path(args.out))
    print(conflict_markdown(result["summary"]))
    return 0


def run_real_eval(args) -> int:
    from .real_speech import RealSpeechConfig, evaluate_real, real_markdown_table, write_real_results

    if args.split in ("heldout", "train"):
        raise InputError(f"--split {args.split} is for the synthetic set: with --real use dev, test or all.")
    if args.checkpoint == "ground-truth":
        raise InputError("--checkpoint ground-truth has no meaning with --real: real speech has no reference motion.")
    cfg = RealSpeechConfig(
        data_dir=args.real,
        split=args.split or "dev",
        conditions=tuple(c.strip() for c in (args.conditions or "").split(",") if c.strip()),
        clip_ids=tuple(args.real_clip),
        **_generation_settings(args),
        action_pass=args.action_pass,
        action_text=args.action_text,
        max_seconds=args.max_seconds,
        videos_dir=args.videos,
    )
    result = evaluate_real(cfg)
    write_real_results(result, Path(args.out))
    print(real_markdown_table(result["summary"]))
    return 0


def _generation_settings(args) -> dict:
    """The options both evaluations pass through to ``generate`` unchanged."""
    return {
        "checkpoint": args.checkpoint,
        "portraits": tuple(args.portrait),
        "steps": args.steps,
        "guidance_min_sigma": args.guidance_min_sigma,
        "text_guidance": args.text_guidance,
        "audio_guidance": args.audio_guidance,
        "mirror_sampling": args.mirror_sampling,
        "size": args.size,
        "paca": args.paca,
        "schedule": args.schedule,
        "label": args.label,
        "neutral_lead_frames": args.neutral_lead_frames,
    }
