#!/usr/bin/env bash
# Check biasbench's GPU paths against the CPU in one go (see benchmarks/README.md); exits 1 on a disagreement.
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE="${HF_HUB_OFFLINE:-1}"
exec "${PYTHON:-python}" benchmarks/gpu_check.py "$@"
