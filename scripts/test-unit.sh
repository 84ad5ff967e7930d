#!/usr/bin/env bash
# The fast tier (~25 s): every package's unit tests, no nats-server, chromium, network namespaces or
# whole sweeps (files named *.integration.test.ts are left to the full command), or only those of
# the packages named:
#   npm run test:unit                 every package
#   npm run test:unit -- sweep store  two packages
# Ends with "N passed, N failed" like the full command (scripts/test.sh), which stays CI's.
set -uo pipefail
cd "$(dirname "$0")/.."
specs=()
for name in "$@"; do
  if [ ! -d "packages/$name/test" ]; then
    echo "test-unit: no package '$name' with tests (packages: $(cd packages && echo */ | tr -d /))" >&2
    exit 2
  fi
  specs+=("packages/$name/test/**/*.test.ts")
done
[ ${#specs[@]} -gt 0 ] || specs=('packages/*/test/**/*.test.ts')
bash scripts/setup.sh --no-system >/dev/null || { echo "setup failed"; echo "0 passed, 1 failed"; exit 1; }
exec bash scripts/run-mocha.sh --ignore '**/*.integration.test.ts' "${specs[@]}"
