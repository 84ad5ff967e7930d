import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { RunResult } from "@dtf/protocol";
import { ResultStore } from "@dtf/store";
import { expandRuns, loadSweepText } from "@dtf/sweep";
import { expect } from "chai";
import { runSweepLocally, withFinished } from "../src/local.ts";

const faulty = new URL("../../worker/test/fixtures/faulty.mjs", import.meta.url).href;

describe("local runner", function () {
  this.timeout(60_000);

  it("unstorable result - a run whose result no store column holds is stored as failed with the reason; the sweep goes on", async () => {
    const loaded = loadSweepText("name: s\nbase: { order: 3, dim: 4, components: 8, observations: 30, steps: 50, eval_every: 25 }\nseeds: [0, 670, 1]\n", "s.yaml");
    const out = mkdtempSync(join(tmpdir(), "dtf-local-"));
    const finished: RunResult[] = [];
    const progress = { skip: () => undefined, start: () => undefined, finish: (r: RunResult) => void finished.push(r) };
    const summary = await runSweepLocally(loaded, { out, threads: 2, signal: new AbortController().signal, progress, taskFile: faulty });
    expect(summary).to.deep.equal({ ran: 3, skipped: 0, cancelled: false });
    expect(finished.map((r) => r.status).sort()).to.deep.equal(["failed", "ok", "ok"]);
    const store = await ResultStore.open(out);
    const rows = await store.query<{ seed: number; status: string; error: string | null }>("SELECT seed::INTEGER AS seed, status, error FROM runs ORDER BY seed");
    await store.close();
    expect(rows.map((r) => [r.seed, r.status])).to.deep.equal([
      [0, "ok"],
      [1, "ok"],
      [670, "failed"],
    ]);
    expect(rows[2].error).to.contain("cannot store the result: cannot store the result of run").and.to.contain("runs.steps must be an integer");
  });

  it("resume - the store is asked a page of runs at a time; every finished run is skipped, on every page, and no other", async () => {
    const loaded = loadSweepText("name: s\nbase: { order: 3, dim: 4, components: 8, observations: 30, steps: 50, eval_every: 25 }\nseeds: 8\n", "s.yaml");
    const out = mkdtempSync(join(tmpdir(), "dtf-local-"));
    const progress = { skip: () => undefined, start: () => undefined, finish: () => undefined };
    // a first pass runs seeds 0–7; then every run but 1, 4 and 6 is marked failed, as if they had not finished
    await runSweepLocally(loaded, { out, threads: 2, signal: new AbortController().signal, progress });
    const store = await ResultStore.open(out);
    const planned = [...expandRuns(loaded.sweep)];
    const kept = new Set([1, 4, 6].map((i) => planned[i].runId));
    for (const p of planned) if (!kept.has(p.runId)) await store.query("UPDATE runs SET status = 'failed' WHERE run_id = $1", [p.runId]);
    for (const pageSize of [1, 3, 8, 100]) {
      const seen: [string, boolean][] = [];
      for await (const { planned: p, finished } of withFinished(store, loaded.sweepId, planned, pageSize)) seen.push([p.runId, finished]);
      expect(seen, `page size ${pageSize}`).to.deep.equal(planned.map((p) => [p.runId, kept.has(p.runId)]));
    }
    await store.close();
    const summary = await runSweepLocally(loaded, { out, threads: 2, signal: new AbortController().signal, progress });
    expect(summary).to.deep.equal({ ran: 5, skipped: 3, cancelled: false });
  });
});
