"""``python -m actavatar eval``: score a checkpoint from rendered pixels; ``--table`` merges result files."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .. import defaults


def add_eval_parser(sub) -> None:
    p = sub.add_parser("eval", help="generate a held-out set, render, extract motion from pixels, score it")
    p.add_argument(
        "--checkpoint",
        help="MotionDiT checkpoint folder (default: shipped); 'ground-truth' renders the "
        "synthetic reference motion instead (the measurement ceiling)",
    )
    p.add_argument(
        "--split",
        choices=["heldout", "train"],
        default="heldout",
        help="heldout: phrasings/sentences/voices never trained on; train: training phrasings",
    )
    p.add_argument("--clips", type=int, default=24)
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--portrait", action="append", default=[], help="portrait image (repeatable; default: all shipped)")
    p.add_argument("--steps", type=int, default=defaults.STEPS, help="denoising steps (default: the shipped default)")
    p.add_argument(
        "--guidance-min-sigma",
        type=float,
        default=defaults.GUIDANCE_MIN_SIGMA,
        help="steps below this noise level skip guidance (default: the shipped default)",
    )
    p.add_argument(
        "--text-guidance",
        type=float,
        default=defaults.TEXT_GUIDANCE,
        help="classifier-free guidance weight of the phase texts (default: the shipped default)",
    )
    p.add_argument(
        "--audio-guidance",
        type=float,
        default=defaults.AUDIO_GUIDANCE,
        help="classifier-free guidance weight of the audio (default: the shipped default)",
    )
    p.add_argument(
        "--mirror-sampling",
        action=argparse.BooleanOptionalAction,
        default=defaults.MIRROR_SAMPLING,
        help="where a phase names a side, also denoise the mirror image with left/right swapped (default: on)",
    )
    p.add_argument("--size", type=int, default=384)
    p.add_argument("--paca", choices=["hard", "soft", "off"], help="default: the checkpoint's trained mode")
    p.add_argument("--schedule", choices=["progressive", "uniform", "reverse"])
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
    cfg = EvalConfig(
        checkpoint=args.checkpoint,
        split=args.split,
        clips=args.clips,
        seed=args.seed,
        portraits=tuple(args.portrait),
        steps=args.steps,
        guidance_min_sigma=args.guidance_min_sigma,
        text_guidance=args.text_guidance,
        audio_guidance=args.audio_guidance,
        mirror_sampling=args.mirror_sampling,
        size=args.size,
        paca=args.paca,
        schedule=args.schedule,
        label=args.label,
        neutral_lead_frames=args.neutral_lead_frames,
    )
    result = evaluate(cfg)
    write_results(result, Path(args.out))
    print(markdown_table([result["summary"]]))
    print(json.dumps(result["summary"]["accuracy_by_action"]))
    return 0
