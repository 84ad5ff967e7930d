#!/usr/bin/env bash
# Runs mocha (arguments passed on) under a watchdog, and ends with the plain line
# "N passed, N failed". Nothing it starts can outlive it:
# - past DTF_TEST_WATCHDOG_S seconds (default 2400) mocha is stopped, and the test it was running
#   is named and counted as failed;
# - a process still carrying this run's marker variable after mocha ended (a child that escaped
#   the test kit's process groups) is killed and named.
set -uo pipefail
cd "$(dirname "$0")/.."
limit=${DTF_TEST_WATCHDOG_S:-2400}
state=$(mktemp)
out=$(mktemp)
marker="run-$$-$RANDOM"
trap 'rm -f "$state" "$out"' EXIT

# Only mocha's side of the pipe carries the marker; timeout(1) signals mocha's whole group.
DTF_TEST_STATE="$state" DTF_TEST_RUN="$marker" timeout --kill-after=30 "$limit" npx mocha "$@" 2>&1 | tee "$out"
status=${PIPESTATUS[0]}

field() { sed -n "s/^$1=//p" "$state" 2>/dev/null | tail -1; }
summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$out" | tail -1)
passed=$(echo "$summary" | sed -nE 's/^([0-9]+) passed.*/\1/p')
failed=$(echo "$summary" | sed -nE 's/^[0-9]+ passed, ([0-9]+) failed.*/\1/p')
if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
  echo "watchdog: the tests ran past ${limit} s and were stopped; running then: $(field current)"
  passed=$(field passed)
  failed=$(($(field failed) + 1))
elif [ -z "$summary" ]; then
  echo "mocha ended (status $status) without its summary"
  passed=$(field passed)
  failed=$(($(field failed) + 1))
elif [ "$status" -eq 3 ]; then
  failed=$((failed + 1)) # the reporter ended a mocha that would not exit; it said what was open
fi

# Processes carrying the marker (a child that escaped the test kit's process groups).
marked() {
  for environ in /proc/[0-9]*/environ; do
    tr '\0' '\n' 2>/dev/null < "$environ" | grep -qx "DTF_TEST_RUN=$marker" && { p=${environ#/proc/}; echo "${p%/environ}"; }
  done
}
if [ -n "$(marked)" ]; then sleep 2; fi # one that is exiting anyway gets the time to
leftovers=""
for pid in $(marked); do
  leftovers+=" $pid ($(tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | cut -c1-100))"
  kill -9 "$pid" 2>/dev/null
done
if [ -n "$leftovers" ]; then
  echo "left running after mocha, killed:$leftovers"
  failed=$((${failed:-0} + 1))
fi
echo "${passed:-0} passed, ${failed:-0} failed"
[ "$status" -eq 0 ] && [ "${failed:-0}" -eq 0 ]
