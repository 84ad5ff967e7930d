#!/usr/bin/env bash
# The main job: set up, then run one real deep CP training and print its metrics.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
node packages/cli/bin/dtf.mjs train examples/train-s3-depth3.yaml "$@"
