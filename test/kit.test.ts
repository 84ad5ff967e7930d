// The test kit's guarantees, each shown on a fixture that breaks it: a test that times out, a child
// that escapes the kit, a test that never ends. Nothing they start outlives the run.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { expect } from "chai";
import { exited, runToEnd, spawnTracked, stopped } from "./kit/processes.ts";
import { tmp } from "./support/dtf.ts";

const root = new URL("../", import.meta.url).pathname;

/** Whether the process exists and is not a zombie (an orphan killed here may wait for PID 1 to reap it). */
function isAlive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
}

/** scripts/run-mocha.sh on one fixture file; the pids its tests started, by name. */
async function runFixture(fixture: string, watchdogSeconds: number) {
  const pidFile = join(tmp(), "pids");
  writeFileSync(pidFile, "");
  const env = { ...process.env, FIXTURE_PIDS: pidFile, DTF_TEST_WATCHDOG_S: String(watchdogSeconds) };
  const ran = await runToEnd("bash", [join(root, "scripts", "run-mocha.sh"), `test/kit/fixtures/${fixture}`], { cwd: root, env, timeoutMs: 120_000 });
  const pids = Object.fromEntries(
    readFileSync(pidFile, "utf8")
      .trim()
      .split("\n")
      .map((line) => line.split(" "))
      .map(([name, pid]) => [name, Number(pid)]),
  );
  const lines = ran.stdout.trim().split("\n");
  return { ...ran, pids, last: lines.at(-1), output: ran.stdout + ran.stderr };
}

describe("test kit - nothing a test starts outlives it", function () {
  this.timeout(180_000);

  it("a timed-out test's child is killed with its group and named; one that escaped the kit is killed after mocha and fails the run", async () => {
    const r = await runFixture("leftovers.fixture.ts", 100);
    expect(r.code, r.output).to.not.equal(0);
    expect(r.output).to.contain("Timeout of 1500ms exceeded");
    expect(r.output).to.match(/killed 1 process group\(s\) left running by "fixture: children left running times out while its child sleeps": sleep 300 \(pid \d+\)/);
    expect(r.output).to.contain(`left running after mocha, killed: ${r.pids.escaped} (sleep 301`);
    expect(r.last, r.output).to.equal("1 passed, 2 failed");
    expect(isAlive(r.pids.tracked), "the timed-out test's child").to.equal(false);
    expect(isAlive(r.pids.escaped), "the escaped child").to.equal(false);
  });

  it("the watchdog stops a run that never ends, names the test it was running and counts it failed", async () => {
    const started = Date.now();
    const r = await runFixture("hang.fixture.ts", 8);
    expect(r.code, r.output).to.not.equal(0);
    expect(r.output).to.contain("watchdog: the tests ran past 8 s and were stopped; running then: fixture: a hang waits for ever");
    expect(r.last, r.output).to.equal("1 passed, 1 failed");
    expect(isAlive(r.pids.tracked), "the hanging test's child").to.equal(false);
    expect(Date.now() - started, "stopped by the watchdog, not the kit's own 120 s limit").to.be.below(100_000);
  });

  it("a child that ignores its stop signal fails the test within the limit, named with its last output, and is killed (a child that stops passes)", async () => {
    const stubborn = spawnTracked(process.execPath, ["-e", "process.on('SIGTERM', () => console.log('ignoring SIGTERM')); console.log('up'); setInterval(() => {}, 1000)"]);
    while (!stubborn.log().includes("up")) await new Promise((r) => setTimeout(r, 50));
    const outcome = await stopped(stubborn, "SIGTERM", 1_000).then(() => "stopped", (err: Error) => err.message);
    expect(outcome).to.match(/^pid \d+ did not end within 1 s of SIGTERM \(killed with its group\); its last output:\n(.|\n)*ignoring SIGTERM/);
    expect(stubborn.signalCode).to.equal("SIGKILL");
    const willing = spawnTracked(process.execPath, ["-e", "setInterval(() => {}, 1000)"]);
    await stopped(willing, "SIGTERM", 1_000);
    expect(await exited(willing)).to.equal("SIGTERM");
  });
});
