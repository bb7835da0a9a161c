#!/usr/bin/env bash
# The modality-schedule benchmark (issue 25): for each schedule and training seed, train stage 2 from a given
# stage-1 run at a reduced budget (configs/motion_stage2.toml with --steps), evaluate it on the text-audio conflict
# phases (eval --conflict) and on the held-out set (eval), then write the table with 95 % intervals over seeds and
# clips and the paired differences against progressive (scripts/schedule_benchmark.py).
#
#   scripts/schedule_benchmark.sh STAGE1_RUN [STEPS]        e.g. scripts/schedule_benchmark.sh runs/stage1 1500
#
# Environment (defaults in brackets): SCHEDULES [progressive uniform reverse power:0.5 power:1 power:2],
# SEEDS [0 1 2], HELDOUT_CLIPS [48], CONFLICT_CLIPS [0 = every conflict phase], DATA [data/train-stage2],
# NUM_CLIPS [the config's], RUNS [runs/schedule-benchmark], RESULTS [docs/results/schedule-benchmark],
# OMP_NUM_THREADS [1]. A finished training run or evaluation is skipped, so an interrupted benchmark resumes.
set -euo pipefail
cd "$(dirname "$0")/.."
stage1=${1:?usage: scripts/schedule_benchmark.sh STAGE1_RUN [STEPS]}
steps=${2:-500}
schedules=${SCHEDULES:-progressive uniform reverse power:0.5 power:1 power:2}
seeds=${SEEDS:-0 1 2}
runs=${RUNS:-runs/schedule-benchmark}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
train_extra=()
if [[ -n ${NUM_CLIPS:-} ]]; then train_extra+=(--num-clips "$NUM_CLIPS"); fi
mkdir -p "$runs"
start=$SECONDS
stamp() { echo "[schedule_benchmark] $(date -u +%H:%M:%S) +$((SECONDS - start)) s: $*" | tee -a "$runs/times.log"; }
stamp "start: schedules ($schedules), seeds ($seeds), $steps steps from $stage1"
for schedule in $schedules; do
    for seed in $seeds; do
        run="$runs/${schedule/:/-}-seed$seed"
        if [[ ! -f "$run/done" ]]; then
            python -m actavatar train --stage 2 --init-from "$stage1" --data "${DATA:-data/train-stage2}" \
                "${train_extra[@]}" --steps "$steps" --save-every "$steps" --schedule "$schedule" --seed "$seed" \
                --out "$run" > "$run.train.log" 2>&1
            touch "$run/done"
            stamp "trained $run"
        fi
        if [[ ! -f "$run/conflict/results.json" ]]; then
            python -m actavatar eval --conflict --checkpoint "$run" --clips "${CONFLICT_CLIPS:-0}" \
                --label "$schedule seed $seed" --out "$run/conflict" > "$run.conflict.log" 2>&1
            stamp "conflict-evaluated $run"
        fi
        if [[ ! -f "$run/heldout/results.json" ]]; then
            python -m actavatar eval --checkpoint "$run" --clips "${HELDOUT_CLIPS:-48}" \
                --label "$schedule seed $seed" --out "$run/heldout" > "$run.heldout.log" 2>&1
            stamp "held-out-evaluated $run"
        fi
    done
done
# shellcheck disable=SC2086  # word splitting of the lists is intended
python scripts/schedule_benchmark.py --runs "$runs" --schedules $schedules --seeds $seeds \
    --out "${RESULTS:-docs/results/schedule-benchmark}"
stamp "done"
