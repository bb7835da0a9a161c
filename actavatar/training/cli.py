"""``python -m actavatar train``: one stage per call, configured by a TOML file plus command-line overrides."""

from __future__ import annotations

from pathlib import Path

from ..defaults import PACA_MODES, SCHEDULE_FORMS

DEFAULT_CONFIGS = {1: "configs/motion_stage1.toml", 2: "configs/motion_stage2.toml"}


def add_train_parser(sub) -> None:
    p = sub.add_parser("train", help="train MotionDiT: stage 1 (audio<->motion) or stage 2 (action control)")
    p.add_argument("--stage", type=int, choices=[1, 2], required=True)
    p.add_argument("--config", help="TOML config (default: configs/motion_stage{1,2}.toml)")
    p.add_argument("--out", dest="out_dir", help="checkpoint folder")
    p.add_argument("--data", dest="data_dir", help="training data folder (synthesised there if missing)")
    p.add_argument("--init-from", dest="init_from", help="stage-2 start: a stage-1 checkpoint folder")
    p.add_argument("--steps", type=int)
    p.add_argument("--num-clips", type=int, dest="num_clips")
    p.add_argument("--schedule", help=f"initial gates: {SCHEDULE_FORMS}")
    p.add_argument("--paca", dest="paca_mode", choices=PACA_MODES)
    p.add_argument("--seed", type=int)
    p.add_argument("--save-every", type=int, dest="save_every")
    p.add_argument(
        "--data-only",
        action="store_true",
        help="only synthesise (or check) the training data and encode its texts (cached in the data folder), "
        "with one worker, and exit (e.g. stage 2's data while stage 1 trains on the other core)",
    )
    p.set_defaults(run=run_train)


def run_train(args) -> int:
    from .train import TrainConfig, prepare_data, train

    config = args.config or DEFAULT_CONFIGS[args.stage]
    if not Path(config).is_file():
        from ..errors import InputError

        raise InputError(f"Training config {config} not found: pass --config PATH (see configs/).")
    overrides = {
        k: getattr(args, k)
        for k in (
            "out_dir",
            "data_dir",
            "init_from",
            "steps",
            "num_clips",
            "schedule",
            "paca_mode",
            "seed",
            "save_every",
        )
    }
    cfg = TrainConfig.from_toml(config, stage=args.stage, **overrides)
    if args.data_only:
        print(f"stage {cfg.stage} data: {prepare_data(cfg, workers=1)}")
        return 0
    out = train(cfg)
    print(f"stage {cfg.stage} checkpoint: {out}")
    return 0
