#!/usr/bin/env bash
# Every check: set-up, type-check, lint, then all mocha suites (unit and integration) under the
# watchdog of scripts/run-mocha.sh. The last line printed is always "N passed, N failed" (CI reads
# it); a failed type-check or lint counts as one failed check. Arguments replace the spec globs.
set -uo pipefail
cd "$(dirname "$0")/.."
# The native kernels must build and load here: their bit-identity tests fail instead of skipping.
export DTF_NATIVE_REQUIRED=1
# The tests' scratch directories (stores, sweeps, NATS data; hundreds a run) go under one directory
# that is removed at the end, so repeated runs do not fill the disk.
scratch=$(mktemp -d "${TMPDIR:-/tmp}/dtf-tests-XXXXXX")
chmod 1777 "$scratch" # as /tmp: the install test runs dtf as user nobody
export TMPDIR="$scratch"
out=$(mktemp -p "$scratch")
trap 'rm -rf "$scratch"' EXIT
bash scripts/setup.sh || { echo "setup failed"; echo "0 passed, 1 failed"; exit 1; }

static_failed=0
echo "== typecheck (tsc --noEmit)"
npx tsc -p tsconfig.json || static_failed=$((static_failed + 1))
echo "== lint (biome)"
npx biome check . || static_failed=$((static_failed + 1))

echo "== tests (mocha)"
if [ $# -eq 0 ]; then set -- 'packages/*/test/**/*.test.ts' 'test/**/*.test.ts'; fi
bash scripts/run-mocha.sh "$@" | tee "$out"
mocha_status=${PIPESTATUS[0]}
summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$out" | tail -1)
passed=$(echo "$summary" | sed -nE 's/^([0-9]+) passed.*/\1/p')
failed=$(echo "$summary" | sed -nE 's/^[0-9]+ passed, ([0-9]+) failed.*/\1/p')
if [ -z "$summary" ]; then passed=0; failed=1; fi
static_passed=$((2 - static_failed))
echo "$((passed + static_passed)) passed, $((failed + static_failed)) failed"
if [ "$mocha_status" -ne 0 ] || [ "$static_failed" -ne 0 ] || [ "$failed" -ne 0 ]; then exit 1; fi
