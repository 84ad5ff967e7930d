#!/usr/bin/env bash
# Regenerates the replay fixtures of packages/engine/test/replay.test.ts with the PyTorch reference
# script (needs Debian's python3-torch; run with /usr/bin/python3). Each fixture pairs the
# reference's --dump_init (data + initial parameters) with its float64 trace.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
ref="${DTF_REFERENCE:-$here/../shared/reference/deep_cp_tc.py}"
out="$here/packages/engine/test/fixtures"
mkdir -p "$out"
run() { # name, extra args
  local name=$1; shift
  /usr/bin/python3 "$ref" --order 3 --dim 5 --gt_rank 3 --n_obs 60 --steps 200 --log_every 50 --dtype float64 \
    --init_std 0.1 --seed 4 --dump_init "$out/$name.init.json" --json_out "$out/$name.trace.json" "$@" > /dev/null
}
# Plain GD keeps the reference in float64 throughout (its GroupRMSprop state is a float32 scalar).
run cp-L1 --opt gd --lr 2
run cp-L2-factor --opt gd --lr 2 --depth 2 --variant factor
run cp-L3-component --opt gd --lr 2 --depth 3 --variant component
run cp-L2-factor-grouprmsprop --opt grouprmsprop --lr 0.01 --depth 2 --variant factor
