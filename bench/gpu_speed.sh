#!/usr/bin/env bash
# Generation speed on a lent GPU, in one short device call (issue 15), beside the same machine's
# CPU so that the figures compare within one run.
#
# Only when the device tool's `status` says a machine can be had, one call of its `run` with
# `timeout_s: 300` and nothing carried (the device image has PyTorch and NumPy, all that
# `bench/generation_speed.py` imports):
#
#     bash bench/gpu_speed.sh
#
# It writes $OUT/gpu_speed.txt: tokens/s with and without the KV cache at 1k / 4k / 8k tokens
# of context and the 3-minute accompaniment, on cuda, then on the device's own CPU. A whole
# compose cannot run there: OpenCV's wheel alone (61 MB) nearly fills the 64 MiB a call may
# carry, and music21 and ffmpeg would not fit beside it; generation is the part a GPU changes.
# DEVICE=cpu runs the same script here (a dry run).
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
PY=${PY:-python3}
OUT=${OUT:-gpu_out}
mkdir -p "$OUT"
weights=symbolic_v2m/weights/accompaniment.safetensors
{
  echo "# $(date -u +%FT%TZ) $(uname -m), $(nproc) cores"
  "$PY" -c 'import torch; print("torch", torch.__version__, "cuda", torch.cuda.is_available(),
torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")'
  for device in ${DEVICE:-cuda cpu}; do
    echo
    echo "## $device"
    "$PY" bench/generation_speed.py --device "$device" --weights "$weights"
  done
} 2>&1 | tee "$OUT/gpu_speed.txt"
