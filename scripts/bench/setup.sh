#!/usr/bin/env bash
# What the engine benchmark's baselines need (Debian): PyTorch and an optimized BLAS for it.
# Without libopenblas0-pthread Debian's torch falls back to the reference BLAS (10x slower GEMMs),
# which would flatter dtf.
set -euo pipefail
need=()
/usr/bin/python3 -c "import torch" 2>/dev/null || need+=(python3-torch python3-numpy)
dpkg -s libopenblas0-pthread >/dev/null 2>&1 || need+=(libopenblas0-pthread)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
fi
