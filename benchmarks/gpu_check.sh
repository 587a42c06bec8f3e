#!/usr/bin/env bash
# Issue 7's GPU check, for one NVIDIA GPU (H100/H200). Finishes in under 5 minutes.
#
# Weights cannot be downloaded on the GPU machines, so FAN-4 and S3FD get random-init weights
# (speed does not depend on weights) and every frame's face box comes from the dlib backend,
# computed beforehand on a CPU and carried in the cache folder below, so each frame carries one
# face through every stage of both paths.
#
# Prepare on a CPU machine (once):
#   AU_ANNOTATOR_CACHE=$PWD/.gpu/cache au-annotator process annotator/demo/WolfgangLanger_Pexels.mp4
#   bash benchmarks/gpu_wheels.sh          # wheels the GPU image lacks, into .gpu/wheels
# Then on the GPU machine, from the repository root:
#   bash benchmarks/gpu_check.sh [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-${OUT:-/tmp}}
if [ -d .gpu/wheels ]; then
    python3 -m pip install -q --no-index --no-deps --target /tmp/site .gpu/wheels/*.whl
    export PYTHONPATH=/tmp/site:$PWD
fi
export AU_ANNOTATOR_CACHE=$PWD/.gpu/cache PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee "$out/card.txt"
python3 -m annotator.cli bench annotator/demo/WolfgangLanger_Pexels.mp4 --device cuda \
    --backend fan --random-weights --boxes dlib --repeat 10 2>&1 | tee "$out/bench_cuda.txt"
python3 benchmarks/fan_accuracy.py --device cuda 2>&1 | tee "$out/fan_accuracy.txt"
