// Loaded by mocha (.mocharc "require") before any test file: the tests' scratch directories
// (stores, sweeps, NATS data; hundreds a run) go under one fresh directory, removed when mocha
// exits, so a plain `npx mocha` does not leave them in /tmp. scripts/test.sh does the same around
// its set-up; this nests inside it there.
const { mkdtempSync, chmodSync, rmSync } = require("node:fs");
const { join } = require("node:path");
const { tmpdir } = require("node:os");

const scratch = mkdtempSync(join(tmpdir(), "dtf-mocha-"));
chmodSync(scratch, 0o1777); // as /tmp: the install test runs dtf as user nobody
process.env.TMPDIR = scratch;
const remove = () => {
  try {
    rmSync(scratch, { recursive: true, force: true, maxRetries: 3 });
  } catch {
    // a child still writing there: leave it (scripts/test.sh removes its own directory anyway)
  }
};
process.on("exit", remove);
// killed (e.g. by a CI timeout): remove, then die of the same signal
process.once("SIGTERM", () => {
  remove();
  process.kill(process.pid, "SIGTERM");
});
