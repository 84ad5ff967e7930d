import { execFile } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { type MetricPoint, type RunSpecInput, resolveRunSpec, train } from "@dtf/engine";
import type { Job, RunResult } from "@dtf/protocol";
import { expect } from "chai";
import { runToEnd } from "../../../test/kit/processes.ts";
import { ResultStore, StagingDiscardedError, StoreError, serveSnapshots } from "../src/index.ts";

const execFileAsync = promisify(execFile);
const fresh = () => mkdtempSync(join(tmpdir(), "dtf-store-"));

/** A real training of `input` as sweep s1's run `runId`: its job, its result (growth fits included) and its metrics. */
async function trainedRun(input: RunSpecInput, runId: string, point: Record<string, unknown>) {
  const spec = resolveRunSpec(input);
  const points: MetricPoint[] = [];
  const r = await train(spec, { onMetrics: (p) => points.push(p) });
  const job: Job = { sweep_id: "s1", run_id: runId, run_index: 0, attempt: 1, spec, point };
  const result: RunResult = {
    sweep_id: "s1", run_id: runId, attempt: 1, status: r.status, stop_reason: r.stop_reason, steps: r.steps, final: points.at(-1)!,
    threshold_steps: {}, wall_ms: r.wall_ms, engine: r.engine, code_version: "test", worker_id: "w/0", error: "", growth: r.growth,
  };
  return { job, result, points };
}

const realRun = () => trainedRun({ order: 3, dim: 4, components: 8, observations: 30, steps: 100, eval_every: 25 }, "run-a", { depth: 1, seed: 0 });

/** A shallow plain-GD run with a growth trace: its result carries growth fits. */
async function tracedRun() {
  const run = await trainedRun(
    {
      order: 3, dim: 6, components: 10, target_rank: 1, target_norm: 10, observations: 120, init_std: 0.1, init_mode: "balanced",
      optimizer: "gd", lr: 0.1, steps: 3000, eval_every: 500, trace_every: 5, seed: 1,
    },
    "run-b",
    { seed: 1 },
  );
  expect(run.result.growth!.length).to.be.greaterThan(0);
  return run;
}

/** A store in `dir` holding one real run (run-a of sweep s1) with its metrics. */
async function storeWithRun(dir: string) {
  const run = await realRun();
  const store = await ResultStore.open(dir);
  await store.stageMetrics({ sweep_id: "s1", run_id: "run-a", attempt: 1, points: run.points });
  await store.writeResult(run.job, run.result);
  return { store, ...run };
}

/**
 * Runs `body` on a fresh 8 MiB tmpfs with an opener of the store on it; then closes what it opened
 * and unmounts. The test is skipped where mounting is not permitted.
 */
async function onSmallDisk(ctx: Mocha.Context, body: (disk: string, open: () => Promise<ResultStore>) => Promise<void>): Promise<void> {
  const disk = fresh();
  try {
    await execFileAsync("mount", ["-t", "tmpfs", "-o", "size=8m", "tmpfs", disk], { timeout: 30_000 });
  } catch (err) {
    console.log(`      skipped: mounting a small tmpfs is not permitted here (${(err as Error).message.split("\n")[0]})`);
    ctx.skip();
  }
  const opened: ResultStore[] = [];
  try {
    await body(disk, async () => {
      const store = await ResultStore.open(join(disk, "sweep"));
      opened.push(store);
      return store;
    });
  } finally {
    for (const store of opened) await store.close().catch(() => undefined);
    await execFileAsync("umount", ["--lazy", disk], { timeout: 30_000 });
  }
}

/** Fills `disk`: large files, then small ones for what is left. */
function fill(disk: string): void {
  for (const size of [256 << 10, 4 << 10]) {
    try {
      for (let i = 0; ; i++) writeFileSync(join(disk, `fill-${size}-${i}`), Buffer.alloc(size));
    } catch {}
  }
}

function unfill(disk: string): void {
  for (const f of readdirSync(disk)) if (f.startsWith("fill-")) rmSync(join(disk, f));
}

/** Runs SQL on a closed store's file directly (to write what an older dtf wrote). */
async function rewriteStore(dir: string, sql: string): Promise<void> {
  const { DuckDBInstance } = await import("@duckdb/node-api");
  const instance = await DuckDBInstance.create(join(dir, "results.duckdb"));
  const db = await instance.connect();
  await db.run(sql);
  db.closeSync();
  instance.closeSync();
}

/** Schema v3's layout from the current one: component norms in a table of their own, not lists in metrics. */
const V3_LAYOUT = `
  CREATE TABLE norms_v3 AS SELECT * FROM component_norms;
  DROP VIEW component_norms;
  CREATE TABLE component_norms (sweep_id VARCHAR NOT NULL, run_id VARCHAR NOT NULL, step INTEGER NOT NULL, k INTEGER NOT NULL, norm DOUBLE, gamma DOUBLE, PRIMARY KEY (sweep_id, run_id, step, k));
  INSERT INTO component_norms SELECT * FROM norms_v3;
  DROP TABLE norms_v3;
  ALTER TABLE metrics DROP COLUMN component_norms;
  ALTER TABLE metrics DROP COLUMN component_gammas;`;

describe("result store", () => {
  it("idempotent writes - the same batch and result written twice leave one row per key", async () => {
    const dir = fresh();
    const { job, result, points } = await realRun();
    const store = await ResultStore.open(dir);
    const batch = { sweep_id: "s1", run_id: "run-a", attempt: 1, points };
    await store.stageMetrics(batch);
    await store.stageMetrics(batch);
    await store.stageMetrics({ ...batch, points: points.slice(2) }); // a redelivered partial batch
    await store.writeResult(job, result, 0);
    await store.writeResult(job, { ...result, attempt: 2 }, 0); // a later result never replaces a finished one
    const [{ n }] = await store.query<{ n: number }>("SELECT count(*)::INTEGER AS n FROM metrics");
    expect(n).to.equal(points.length);
    const [{ c }] = await store.query<{ c: number }>("SELECT count(*)::INTEGER AS c FROM component_norms WHERE step = 100");
    expect(c).to.equal(8);
    const runs = await store.query<{ run_id: string; attempt: number; recon_error: number }>("SELECT run_id, attempt, recon_error FROM runs");
    expect(runs).to.have.length(1);
    expect(runs[0].attempt).to.equal(1);
    expect(runs[0].recon_error).to.equal(points.at(-1)!.recon_error);
    expect(store.takeConflicts(), "identical repeats are not conflicts").to.deep.equal([]);
    await store.close();
  });

  it("held metrics - batches staged between commits (more than the 4 096 rows held in memory) are durable with the next commit, not before, and the first row of a key still wins", async () => {
    const dir = fresh();
    const { points } = await realRun();
    const store = await ResultStore.open(dir);
    // 900 runs × 5 evaluations: 4 500 rows, more than are held, so they go to the appender early
    for (let i = 0; i < 900; i++) store.stageMetricsNow({ sweep_id: "s1", run_id: `r${i}`, attempt: 1, points });
    // (countMetricSteps reads the committed rows without committing, unlike query; it waits for that hand-off)
    expect(await store.countMetricSteps("s1", "r0"), "nothing is committed before the commit").to.equal(0);
    // 200 more runs: 1 000 rows, still held in memory when the commit starts
    for (let i = 900; i < 1100; i++) store.stageMetricsNow({ sweep_id: "s1", run_id: `r${i}`, attempt: 1, points });
    // a repeat of run r0's first step with another loss: staged later, so it loses
    store.stageMetricsNow({ sweep_id: "s1", run_id: "r0", attempt: 1, points: [{ ...points[0], train_loss: 123 }] });
    expect(await store.countMetricSteps("s1", "r1099")).to.equal(0);
    await store.commit();
    expect(await store.countMetricSteps("s1", "r1099")).to.equal(points.length);
    const [{ n }] = await store.query<{ n: number }>("SELECT count(*)::INTEGER AS n FROM metrics");
    expect(n).to.equal(1100 * points.length);
    const [{ loss }] = await store.query<{ loss: number }>(`SELECT train_loss AS loss FROM metrics WHERE run_id = 'r0' AND step = ${points[0].step}`);
    expect(loss).to.equal(points[0].train_loss);
    expect(store.takeConflicts()).to.deep.equal([{ table: "metrics", sweep_id: "s1", run_id: "r0" }]);
    await store.close();
    const reopened = await ResultStore.open(dir);
    const [{ again }] = await reopened.query<{ again: number }>("SELECT count(*)::INTEGER AS again FROM metrics");
    expect(again).to.equal(1100 * points.length);
    await reopened.close();
  });

  it("keep first - a metric row repeated with other values is kept as first written and reported as a conflict; a failed run is replaced by a finished retry", async () => {
    const dir = fresh();
    const { job, result, points } = await realRun();
    const store = await ResultStore.open(dir);
    await store.stageMetrics({ sweep_id: "s1", run_id: "run-a", attempt: 1, points });
    await store.commit();
    const forged = { ...points[1], train_loss: 42, wall_ms: 0 };
    await store.stageMetrics({ sweep_id: "s1", run_id: "run-a", attempt: 1, points: [forged] });
    await store.stageMetrics({ sweep_id: "s1", run_id: "run-a", attempt: 2, points: [{ ...points[2], wall_ms: 99 }] }); // a retry: other wall time only
    await store.commit();
    const [row] = await store.query<{ train_loss: number }>("SELECT train_loss FROM metrics WHERE step = $1", [points[1].step]);
    expect(row.train_loss).to.equal(points[1].train_loss);
    expect(store.takeConflicts()).to.deep.equal([{ table: "metrics", sweep_id: "s1", run_id: "run-a" }]);
    await store.writeResult(job, { ...result, status: "failed", final: null, error: "boom" });
    await store.writeResult(job, { ...result, attempt: 2 });
    await store.writeResult(job, { ...result, attempt: 3, status: "failed", final: null, error: "late" });
    const [run] = await store.query<{ status: string; attempt: number }>("SELECT status, attempt FROM runs");
    expect(run).to.deep.equal({ status: "ok", attempt: 2 });
    await store.close();
  });

  it("one commit - repeats staged between two commits merge as when committed apart: the finished retry of a failed run wins, then the first of a key", async () => {
    const dir = fresh();
    const { job, result } = await realRun();
    const store = await ResultStore.open(dir);
    const failed = { ...result, status: "failed" as const, final: null, error: "boom" };
    // run-a: failed, then its finished retry, then a failed third attempt; run-b: the reverse order
    await store.stageResult(job, failed);
    await store.stageResult(job, { ...result, attempt: 2 });
    await store.stageResult(job, { ...failed, attempt: 3 });
    const jobB = { ...job, run_id: "run-b" };
    await store.stageResult(jobB, { ...result, run_id: "run-b", attempt: 4 });
    await store.stageResult(jobB, { ...failed, run_id: "run-b", attempt: 5 });
    await store.stageResult({ ...job, run_id: "run-c" }, { ...failed, run_id: "run-c" }); // a key staged once
    await store.commit();
    const runs = await store.query<{ run_id: string; status: string; attempt: number }>("SELECT run_id, status, attempt FROM runs ORDER BY run_id");
    expect(runs).to.deep.equal([
      { run_id: "run-a", status: "ok", attempt: 2 },
      { run_id: "run-b", status: "ok", attempt: 4 },
      { run_id: "run-c", status: "failed", attempt: 1 },
    ]);
    // the next commit's keys are all distinct again, and a stored finished run still stays
    await store.stageResult(job, { ...failed, attempt: 6 });
    await store.stageResult({ ...job, run_id: "run-c" }, { ...result, run_id: "run-c", attempt: 7 });
    await store.commit();
    const after = await store.query<{ run_id: string; attempt: number }>("SELECT run_id, attempt FROM runs ORDER BY run_id");
    expect(after.map((r) => r.attempt)).to.deep.equal([2, 4, 7]);
    await store.close();
  });

  it("full disk - a commit that cannot be written fails for its writers, keeps none of their rows, and the store commits again once there is room", async function () {
    await onSmallDisk(this, async (disk, open) => {
      const { job, result, points } = await realRun();
      const opened = await open();
      const write = (runId: string) => {
        opened.stageMetricsNow({ sweep_id: "s1", run_id: runId, attempt: 1, points });
        return opened.writeResult({ ...job, run_id: runId }, { ...result, run_id: runId });
      };
      await write("run-a");
      fill(disk);
      const refused = await Promise.allSettled([write("run-b"), write("run-c")]);
      for (const r of refused) {
        expect(r.status).to.equal("rejected");
        const err = (r as PromiseRejectedResult).reason as Error;
        expect(err).to.be.instanceOf(StoreError);
        expect(err.message).to.match(/^commit failed, the rows staged since the last commit were discarded: .*No space left on device/);
      }
      unfill(disk);
      await write("run-d");
      const stored = async (s: ResultStore) => ({
        runs: await s.query("SELECT run_id FROM runs ORDER BY run_id"),
        metrics: await s.query("SELECT run_id, count(*)::INTEGER AS n FROM metrics GROUP BY run_id ORDER BY run_id"),
      });
      const expected = {
        runs: [{ run_id: "run-a" }, { run_id: "run-d" }],
        metrics: [
          { run_id: "run-a", n: points.length },
          { run_id: "run-d", n: points.length },
        ],
      };
      expect(await stored(opened)).to.deep.equal(expected);
      await opened.close();
      expect(await stored(await open())).to.deep.equal(expected);
    });
  });

  it("full disk, a result behind the failed commit - a result staged after a commit that discarded its run's metrics is refused, so no run is stored without them (a control staged without the check is)", async function () {
    await onSmallDisk(this, async (disk, open) => {
      const { job, result, points } = await realRun();
      const opened = await open();
      const stageRun = (runId: string) => opened.stageMetrics({ sweep_id: "s1", run_id: runId, attempt: 1, points });
      const runOf = (runId: string) => [{ ...job, run_id: runId }, { ...result, run_id: runId }] as const;
      fill(disk);
      await stageRun("run-a");
      await stageRun("run-b");
      const discards = opened.discards;
      // the commit is queued first, the results after it: they are staged once it has failed
      const failing = opened.commit();
      const checked = opened.stageResult(...runOf("run-a"), null, discards);
      const unchecked = opened.stageResult(...runOf("run-b"), null); // the control: what the aggregator did before
      const [commitOutcome, checkedOutcome] = await Promise.allSettled([failing, checked]);
      expect(commitOutcome.status === "rejected" && commitOutcome.reason).to.be.instanceOf(StoreError).and.match(/No space left on device/);
      expect(checkedOutcome.status === "rejected" && checkedOutcome.reason).to.be.instanceOf(StagingDiscardedError).and.match(/run-a/);
      await unchecked;
      expect(opened.discards).to.equal(discards + 1);
      unfill(disk);
      await opened.commit();
      const stored = await opened.query<{ run_id: string; n: number }>(
        "SELECT r.run_id, (SELECT count(*) FROM metrics m WHERE m.run_id = r.run_id)::INTEGER AS n FROM runs r ORDER BY r.run_id",
      );
      expect(stored, "run-b: the hazard the check prevents, a run stored without its metrics").to.deep.equal([{ run_id: "run-b", n: 0 }]);
    });
  });

  it("commitPromptly - results waiting for the group commit, and every later one, are committed without waiting for the delay", async () => {
    const { job, result } = await realRun();
    const store = await ResultStore.open(fresh(), { commitDelayMs: 3_600_000 });
    const within = async <T>(p: Promise<T>) => {
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error("still waiting for the hour-long commit delay")), 30_000);
      });
      try {
        return await Promise.race([p, late]);
      } finally {
        clearTimeout(timer);
      }
    };
    try {
      let settled = false;
      const first = store.writeResult(job, result).then(() => {
        settled = true;
      });
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(settled, "the result waits for its group commit").to.equal(false);
      expect(await store.storedRun("s1", job.run_id), "not committed yet").to.equal(null);
      store.commitPromptly();
      await within(first);
      await within(store.writeResult({ ...job, run_id: "run-b" }, { ...result, run_id: "run-b" }));
      expect((await store.storedRun("s1", "run-b"))?.status, "committed with no commit call after it").to.equal("ok");
    } finally {
      await store.close(); // commits what still waits, so no timer outlives the test
    }
  });

  it("sweeps - two sweeps that share a run keep one row each, metrics included", async () => {
    const dir = fresh();
    const { job, result, points } = await realRun();
    const store = await ResultStore.open(dir);
    for (const sweep of ["s1", "s2"]) {
      await store.stageMetrics({ sweep_id: sweep, run_id: "run-a", attempt: 1, points });
      await store.writeResult({ ...job, sweep_id: sweep }, { ...result, sweep_id: sweep });
    }
    const rows = await store.query<{ sweep_id: string; n: number }>(
      "SELECT r.sweep_id, count(m.step)::INTEGER AS n FROM runs r JOIN metrics m USING (sweep_id, run_id) GROUP BY r.sweep_id ORDER BY 1",
    );
    expect(rows).to.deep.equal([
      { sweep_id: "s1", n: points.length },
      { sweep_id: "s2", n: points.length },
    ]);
    await store.close();
  });

  it("bounds - a value its column cannot hold is refused before staging, naming the column; the store keeps committing", async () => {
    const dir = fresh();
    const { job, result, points } = await realRun();
    const store = await ResultStore.open(dir);
    const huge = { ...job, run_id: "huge", spec: { ...job.spec, components: 3_000_000_000 } };
    let refused = "";
    await store.writeResult(huge, { ...result, run_id: "huge" }).catch((e: Error) => {
      refused = e.message;
    });
    expect(refused).to.contain("runs.components must be an integer within ±2147483647, got 3000000000");
    await store.stageMetrics({ sweep_id: "s1", run_id: "run-a", attempt: 1, points: [{ ...points[0], step: 2 ** 40 }] }).catch((e: Error) => {
      refused = e.message;
    });
    expect(refused).to.contain("metrics.step must be an integer");
    // the unqueued form (dtf run's threads ack their metrics with it) refuses at once, synchronously
    expect(() => store.stageMetricsNow({ sweep_id: "s1", run_id: "run-a", attempt: 1, points: [{ ...points[0], step: 0.5 }] })).to.throw(
      StoreError,
      "metrics.step must be an integer",
    );
    store.stageMetricsNow({ sweep_id: "s1", run_id: "run-a", attempt: 1, points });
    await store.writeResult(job, result); // would fail with "incomplete append to row" had the bad rows been half-appended
    expect(await store.query("SELECT run_id FROM runs")).to.deep.equal([{ run_id: "run-a" }]);
    expect(await store.query("SELECT count(*)::INTEGER AS n FROM metrics")).to.deep.equal([{ n: points.length }]);
    await store.close();
  });

  it("migration - a store written by schema v1 opens with every row, now keyed by sweep", async () => {
    const dir = fresh();
    const { DuckDBInstance } = await import("@duckdb/node-api");
    const db = await (await DuckDBInstance.create(join(dir, "results.duckdb"))).connect();
    await db.run(readFileSync(new URL("./fixtures/schema-v1.sql", import.meta.url), "utf8"));
    db.closeSync();
    const store = await ResultStore.open(dir);
    expect(await store.query("SELECT sweep_id, run_id, status FROM runs")).to.deep.equal([{ sweep_id: "old", run_id: "r1", status: "ok" }]);
    expect(await store.query("SELECT sweep_id, run_id, step FROM metrics ORDER BY step")).to.deep.equal([
      { sweep_id: "old", run_id: "r1", step: 0 },
      { sweep_id: "old", run_id: "r1", step: 25 },
    ]);
    expect(await store.query("SELECT sweep_id, k, norm FROM component_norms")).to.deep.equal([{ sweep_id: "old", k: 0, norm: 1.5 }]);
    expect(await store.query("SELECT value FROM meta WHERE key = 'schema_version'")).to.deep.equal([{ value: "4" }]);
    expect(await store.query("SELECT growth_json FROM runs")).to.deep.equal([{ growth_json: null }]);
    await store.close();
  });

  it("migration - a schema v2 store (no growth_json) gains the column, keeps its rows and takes traced results", async () => {
    const dir = fresh();
    const { store: old, result } = await storeWithRun(dir);
    await old.close();
    // what schema v2 wrote: v3's tables without the column
    await rewriteStore(dir, `${V3_LAYOUT} ALTER TABLE runs DROP COLUMN growth_json; UPDATE meta SET value = '2' WHERE key = 'schema_version';`);
    const store = await ResultStore.open(dir);
    expect(await store.query("SELECT run_id, status, growth_json FROM runs")).to.deep.equal([{ run_id: "run-a", status: result.status, growth_json: null }]);
    const traced = await tracedRun();
    await store.writeResult(traced.job, traced.result);
    const [{ growth_json }] = await store.query<{ growth_json: string }>("SELECT growth_json FROM runs WHERE run_id = 'run-b'");
    expect(JSON.parse(growth_json)[0].exponent).to.equal(traced.result.growth![0].exponent);
    expect(await store.query("SELECT value FROM meta WHERE key = 'schema_version'")).to.deep.equal([{ value: "4" }]);
    await store.close();
  });

  it("migration - a schema v3 store (a row per component) keeps every metric and norm, now as lists, and the component_norms rows read the same", async () => {
    const dir = fresh();
    const { store: current, job, result, points } = await storeWithRun(dir);
    const metricsBefore = await current.query("SELECT * FROM metrics ORDER BY step");
    const normsBefore = await current.query("SELECT * FROM component_norms ORDER BY step, k");
    await current.close();
    expect(normsBefore.length).to.be.greaterThan(points.length); // several components per point
    await rewriteStore(dir, `${V3_LAYOUT} UPDATE meta SET value = '3' WHERE key = 'schema_version';`);
    // a step with component rows but no metrics row must not lose them either
    await rewriteStore(dir, "INSERT INTO component_norms VALUES ('s1', 'run-a', 999999, 1, 2.5, NULL), ('s1', 'run-a', 999999, 0, 3.5, 0.5);");
    const store = await ResultStore.open(dir);
    expect(await store.query("SELECT value FROM meta WHERE key = 'schema_version'")).to.deep.equal([{ value: "4" }]);
    expect(await store.query("SELECT * FROM metrics WHERE step < 999999 ORDER BY step")).to.deep.equal(metricsBefore);
    expect(await store.query("SELECT * FROM component_norms WHERE step < 999999 ORDER BY step, k")).to.deep.equal(normsBefore);
    expect(await store.query("SELECT k, norm, gamma FROM component_norms WHERE step = 999999 ORDER BY k")).to.deep.equal([
      { k: 0, norm: 3.5, gamma: 0.5 },
      { k: 1, norm: 2.5, gamma: null },
    ]);
    await store.writeResult({ ...job, run_id: "run-b" }, { ...result, run_id: "run-b" });
    expect(await store.query("SELECT count(*)::INTEGER AS n FROM runs")).to.deep.equal([{ n: 2 }]);
    await store.close();
  });

  it("readers - while one process writes the store, another reads a consistent snapshot it serves", async () => {
    const dir = fresh();
    const { job, result, points } = await realRun();
    const store = await ResultStore.open(dir);
    const stop = await serveSnapshots(store);
    await store.stageMetrics({ sweep_id: "s1", run_id: "run-a", attempt: 1, points });
    await store.writeResult(job, result);
    // a second process: DuckDB refuses it the locked file; openForReading asks the writer for a snapshot
    // (asynchronously: this process must keep serving while the child waits)
    const child = await runToEnd(
      process.execPath,
      ["--import", "tsx", "-e", `const { openForReading } = await import(${JSON.stringify(new URL("../src/index.ts", import.meta.url).href)}); const s = await openForReading(${JSON.stringify(dir)}); console.log(JSON.stringify(await s.query("SELECT count(*)::INTEGER AS n FROM metrics"))); await s.close();`],
      { timeoutMs: 60_000 },
    );
    expect(child.stderr).to.equal("");
    expect(JSON.parse(child.stdout)).to.deep.equal([{ n: points.length }]);
    await stop();
    await store.close();
  });

  it("persistence - a reopened store keeps its rows; finishedAmong and countFinished see ok and diverged runs only", async () => {
    const dir = fresh();
    const { job, result } = await realRun();
    let store = await ResultStore.open(dir);
    await store.writeResult(job, result);
    await store.writeResult({ ...job, run_id: "run-b" }, { ...result, run_id: "run-b", status: "diverged" });
    await store.writeResult({ ...job, run_id: "run-c" }, { ...result, run_id: "run-c", status: "failed", final: null, error: "boom" });
    await store.close();
    store = await ResultStore.open(dir);
    expect([...(await store.finishedAmong("s1", ["run-b", "run-c", "run-x", "run-a"]))].sort()).to.deep.equal(["run-a", "run-b"]);
    expect([...(await store.finishedAmong("s1", ["run-c"]))]).to.deep.equal([]);
    expect([...(await store.finishedAmong("other", ["run-a"]))]).to.deep.equal([]);
    expect(await store.countFinished("s1")).to.equal(2);
    const [failed] = await store.query<{ error: string; recon_error: number | null }>("SELECT error, recon_error FROM runs WHERE run_id = 'run-c'");
    expect(failed).to.deep.equal({ error: "boom", recon_error: null });
    await store.close();
  });

  it("values - floats round-trip exactly, lists stay lists, NaN becomes NULL", async () => {
    const dir = fresh();
    const { points } = await realRun();
    const store = await ResultStore.open(dir);
    const p = { ...points[1], heldout_mse: Number.NaN };
    await store.stageMetrics({ sweep_id: "s1", run_id: "r", attempt: 1, points: [p] });
    const [row] = await store.query<{ train_loss: number; heldout_mse: number | null; unfolding_eranks: number[] }>(
      "SELECT train_loss, heldout_mse, unfolding_eranks FROM metrics",
    );
    expect(row.train_loss).to.equal(p.train_loss);
    expect(row.heldout_mse).to.equal(null);
    expect(row.unfolding_eranks).to.deep.equal(p.unfolding_eranks);
    await store.close();
  });

  it("export - CSV and Parquet files of every table, CSV rows equal to the table's", async () => {
    const dir = fresh();
    const { job, result, points } = await realRun();
    const store = await ResultStore.open(dir);
    await store.stageMetrics({ sweep_id: "s1", run_id: "run-a", attempt: 1, points });
    await store.writeResult(job, result);
    const csv = await store.exportTables(join(dir, "csv"), "csv");
    expect(csv.map((f) => f.split("/").at(-1))).to.deep.equal(["sweeps.csv", "runs.csv", "metrics.csv", "component_norms.csv"]);
    const lines = readFileSync(join(dir, "csv", "metrics.csv"), "utf8").trim().split("\n");
    expect(lines[0]).to.contain("run_id,step,train_loss");
    expect(lines).to.have.length(points.length + 1);
    const parquet = await store.exportTables(join(dir, "pq"), "parquet");
    const [{ n }] = await store.query<{ n: number }>(`SELECT count(*)::INTEGER AS n FROM read_parquet('${parquet[2]}')`);
    expect(n).to.equal(points.length);
    await store.close();
  });
});
