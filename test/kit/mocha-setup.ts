// Loaded by mocha before any test file (.mocharc "require"): the tests' scratch directory, and the
// guarantee that no child process outlives its test, nor mocha itself.
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Context } from "mocha";
import { enterTest, killLeftovers } from "./processes.ts";

// Scratch directories (stores, sweeps, NATS data; hundreds a run) go under one directory removed at
// exit, so a plain `npx mocha` leaves nothing in /tmp. scripts/test.sh nests this inside its own.
const scratch = mkdtempSync(join(tmpdir(), "dtf-mocha-"));
chmodSync(scratch, 0o1777); // as /tmp: the install test runs dtf as user nobody
process.env.TMPDIR = scratch;

function report(killed: string[], when: string): void {
  if (killed.length > 0) console.error(`      [test kit] killed ${killed.length} process group(s) left running ${when}: ${killed.join("; ")}`);
}

function cleanUp(): void {
  report(killLeftovers(), "at exit");
  try {
    rmSync(scratch, { recursive: true, force: true, maxRetries: 3 });
  } catch {
    // a child still writing there: leave it (scripts/test.sh removes its own directory anyway)
  }
}

process.on("exit", cleanUp);
// Killed (a CI time-out, the test command's watchdog, Ctrl-C): the same clean-up, then the usual
// exit status of that signal.
for (const [signal, number] of [["SIGTERM", 15], ["SIGINT", 2]] as const) {
  process.once(signal, () => {
    console.error(`[test kit] ${signal}: stopping the tests' child processes`);
    process.exit(128 + number);
  });
}

export const mochaHooks = {
  beforeEach(this: Context) {
    enterTest(this.currentTest?.fullTitle() ?? null);
  },
  afterEach(this: Context) {
    const title = this.currentTest?.fullTitle() ?? null;
    enterTest(null);
    report(killLeftovers(title), `by "${title}"`);
  },
  afterAll() {
    report(killLeftovers(), "after the last test");
  },
};
