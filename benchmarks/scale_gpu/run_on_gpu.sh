#!/usr/bin/env bash
# The scale suite on a lent GPU machine (the `device` tool's `run`, from the repository root):
# PyTorch on CUDA, onnxruntime with whatever provider its image loads. Writes under $OUT
# (info.json, log.txt, scale_gpu/: scale.json, scale.md and the plots); the budget keeps the
# whole command inside one 10-minute call (a cell may run up to 240 s past it).
set -uo pipefail
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1 PYTHONWARNINGS=ignore
out=${OUT:-/tmp/scale_gpu_out}
mkdir -p "$out/scale_gpu"
# RESUME=1: keep the ok cells of the published run (benchmarks/scale_gpu/scale.json), run the rest
resume=()
if [ -n "${RESUME:-}" ]; then cp benchmarks/scale_gpu/scale.json "$out/scale_gpu/"; resume=(--resume); fi
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv \
  | tee "$out/log.txt"
python3 -m triptych.cli info --json "$out/info.json" 2>&1 | tee -a "$out/log.txt"
python3 -m triptych.cli bench --suite scale -f torch --device ${DEVICE:-cuda} --threads "${THREADS:-16}" \
  --max-seconds 1 --budget-min "${BUDGET_MIN:-5}" --out "$out/scale_gpu" "${resume[@]}" \
  --note "Run on a lent GPU machine by benchmarks/scale_gpu/run_on_gpu.sh." 2>&1 \
  | grep -v "━" | tee -a "$out/log.txt"
