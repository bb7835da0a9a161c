#!/usr/bin/env bash
# Re-run the ablation table (docs/EXPERIMENTS.md, Ablations): each row trained by the same script (configs/ablations/ROW.toml: stage 2 for
# 500 steps from runs/stage1 on data/train-stage2, i.e. after scripts/train_shipped_model.sh) and evaluated by the
# same command on the same 48 held-out clips. Two jobs at a time, one thread each (about 20 minutes on 2 otherwise
# idle cores, runs/abl5.times; other jobs on the machine stretch it).
# Results: runs/eval-ablation-ROW/results.json (copy to docs/results/experiments/ablation-ROW.json for the table).
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=1
log=runs/ablations.times
mkdir -p runs
stamp() { echo "$(date -u +%T) $*" >> "$log"; }
train() {
    rm -rf "runs/ablation-$1"
    python -m actavatar train --stage 2 --config "configs/ablations/$1.toml" > "runs/ablation-$1.log" 2>&1
    stamp "trained $1"
}
ev() {
    python -m actavatar eval --checkpoint "$2" --clips 48 --label "$3" --out "runs/eval-ablation-$1" \
        > "runs/eval-ablation-$1.log" 2>&1
    stamp "evaluated $1"
}
both() { local rc=0; for job in $(jobs -p); do wait "$job" || rc=1; done; return "$rc"; }  # fail if either failed
echo "$(date -u +%T) start" > "$log"
train full_short & train paca_off & both
train uniform & train reverse & both
train stage2_only & ev stage1_only runs/stage1 "stage 1 only (no action fine-tuning)" & both
ev full_short runs/ablation-full_short "full method (short ablation budget)" &
ev paca_off runs/ablation-paca_off "PACA off (all phase texts global)" & both
ev uniform runs/ablation-uniform "uniform schedule" & ev reverse runs/ablation-reverse "reverse schedule" & both
ev stage2_only runs/ablation-stage2_only "stage 2 only (no stage 1)"
stamp done
python -m actavatar eval --table runs/eval-ablation-*/results.json
