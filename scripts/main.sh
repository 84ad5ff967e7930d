#!/usr/bin/env bash
# The main job: set up, then run a small real sweep (examples/quickstart.yaml) on this machine
# into a result store, and print where its results are. Extra arguments go to `dtf run`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
node packages/cli/bin/dtf.mjs run examples/quickstart.yaml --out runs/quickstart "$@"
