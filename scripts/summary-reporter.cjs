// Mocha's spec reporter plus the plain closing line CI reads: "N passed, N failed[, N skipped]".
// With DTF_TEST_STATE set it also keeps the counts and the test now running in that file, so the
// test command's watchdog can say which test hung and what had passed (scripts/run-mocha.sh).
const { writeFileSync } = require("node:fs");
const Mocha = require("mocha");

/** After the last test, how long the process may take to exit before its handles are listed and it is ended. */
const EXIT_GRACE_MS = 30_000;

class SummaryReporter extends Mocha.reporters.Spec {
  constructor(runner, options) {
    super(runner, options);
    const stateFile = process.env.DTF_TEST_STATE;
    const save = (current) => {
      if (!stateFile) return;
      const { passes, failures, pending } = this.stats;
      writeFileSync(stateFile, `passed=${passes}\nfailed=${failures}\nskipped=${pending}\ncurrent=${current}\n`);
    };
    // The test running, else the hook (a before-all hook can hang too).
    const running = { test: "", hook: "" };
    for (const kind of ["test", "hook"]) {
      runner.on(kind, (runnable) => {
        running[kind] = runnable.fullTitle();
        save(running.test || running.hook);
      });
      runner.on(`${kind} end`, () => {
        running[kind] = "";
        save(running.test || running.hook);
      });
    }
    runner.once("end", () => {
      save("");
      const { passes, failures, pending } = this.stats;
      console.log(`${passes} passed, ${failures} failed${pending ? `, ${pending} skipped` : ""}`);
      // Something left open (a connection, a timer, a child) would keep mocha alive for ever after
      // its summary: say what it is and end the process instead.
      setTimeout(() => {
        console.error(`mocha: still running ${EXIT_GRACE_MS / 1000} s after the last test; open: ${process.getActiveResourcesInfo().join(", ")}`);
        process.exit(failures > 0 ? 1 : 3);
      }, EXIT_GRACE_MS).unref();
    });
  }
}

module.exports = SummaryReporter;
