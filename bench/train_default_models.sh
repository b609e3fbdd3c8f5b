#!/usr/bin/env bash
# Train (or resume) the default models' runs on a CPU machine: each named stage in its own
# process with one thread (on 2 cores, name two stages at a time).
#
#   bash bench/train_default_models.sh [chord] [melody] [accompaniment]   (default: all three)
#   RUNS=/somewhere/kept bash bench/train_default_models.sh melody chord
#
# Each run lives in $RUNS/<stage>-kr (default runs/): started with the settings below if new,
# resumed exactly (`train --resume`) if it has a checkpoint, so the script can be run again in
# every session until the schedules end. Logs: $RUNS/<stage>-kr.log; history: sessions.jsonl.
# EXTEND=N carries a finished run on for N more epochs with a warm restart to half the peak
# learning rate (`train --resume RUN --extend N`; the run's config.json records it, so later
# resumes need no EXTEND). Since 2026-12-07 the chord and melody runs are being extended this
# way by 22 epochs (to 3,200 steps, 26 M tokens each) for the next default weights.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-runs}
DATA=${DATA:-data/pop909}
BIN=${BIN:-.venv/bin}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} MKL_NUM_THREADS=${MKL_NUM_THREADS:-1}
common="--dropout 0.1 --lr 0.0006 --warmup 100 --seed 0 --pitch key-relative --rotary"
declare -A SETTINGS=(
  [chord]="--d-model 128 --layers 3 --heads 4 --ff 512 --seq-len 256 --batch-size 32 --epochs 10 --steps-per-epoch 100"
  [melody]="--d-model 192 --layers 4 --heads 4 --ff 768 --seq-len 512 --batch-size 16 --epochs 10 --steps-per-epoch 100"
  [accompaniment]="--d-model 128 --layers 4 --heads 4 --ff 512 --seq-len 512 --batch-size 16 --epochs 8 --steps-per-epoch 100"
)
stages=("$@")
[ ${#stages[@]} -gt 0 ] || stages=(chord melody accompaniment)
mkdir -p "$RUNS"
for stage in "${stages[@]}"; do
  run="$RUNS/$stage-kr"
  if [ -f "$run/last.pt" ] && [ -n "${EXTEND:-}" ]; then
    args="--resume $run --extend $EXTEND --restart-peak 0.5"
  elif [ -f "$run/last.pt" ]; then
    args="--resume $run"
  else
    args="--stage $stage --data $DATA --out $run ${SETTINGS[$stage]} $common"
  fi
  echo "$(date -u +%FT%TZ) $stage: symbolic-v2m train $args" | tee -a "$RUNS/$stage-kr.log"
  "$BIN/symbolic-v2m" train $args -q >>"$RUNS/$stage-kr.log" 2>&1 &
done
wait
