#!/usr/bin/env bash
# Wheels the GPU image (Python 3.12, torch preinstalled) lacks, for benchmarks/gpu_check.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .gpu/wheels
for package in av==18.1.0 face-alignment==1.5.0 platformdirs safetensors; do
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
        --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
        --platform manylinux2014_x86_64 --platform any -d .gpu/wheels "$package"
done
ls -la .gpu/wheels
