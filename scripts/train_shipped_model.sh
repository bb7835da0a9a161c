#!/usr/bin/env bash
# The shipped MotionDiT recipe: synthesise data, train both stages, copy the EMA weights into assets/. (The shipped
# weights were trained with it at f4dcf78, on that commit's phrasing bank.)
# CPU recipe for 2 cores: stage 1 uses one intra-op thread, so stage 2's data is synthesised and its texts encoded
# (cached in the data folder) on the other core while it trains; stage 2 then uses both (configs/*.toml: threads). About 72 minutes on the project's machine with test
# runs sharing it (MODEL_CARD.md).
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=1
start=$SECONDS
stamp() { echo "[train_shipped_model] $(date -u +%H:%M:%S) +$(( (SECONDS - start) / 60 )) min: $*"; }
stamp "start"
python -m actavatar train --stage 2 --data-only &   # configs/motion_stage2.toml's data and text states, one worker
data_pid=$!
python -m actavatar train --stage 1                 # configs/motion_stage1.toml -> runs/stage1
stamp "stage 1 trained"
wait "$data_pid"
stamp "stage 2 data ready"
OMP_NUM_THREADS=2 python -m actavatar train --stage 2  # configs/motion_stage2.toml -> runs/stage2 (from runs/stage1)
stamp "stage 2 trained"
dest=assets/checkpoints/actavatar-motion
mkdir -p "$dest"
rm -rf "$dest/transformer" "$dest/scheduler"
cp -r runs/stage2/transformer runs/stage2/scheduler "$dest/"
cp runs/stage2/train_config.json "$dest/train_config.json"
echo "shipped $dest"
