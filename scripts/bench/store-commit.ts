/**
 * CPU of one group commit of the result store, as the local runner makes them: each commit holds
 * `--runs` finished runs, each with its metric batch (a moderate run: 11 evaluations) and its
 * result row. Reports process CPU (every thread: DuckDB works on libuv's) and wall time per commit.
 *
 *   node --import tsx scripts/bench/store-commit.ts [--runs 1,7,17] [--commits 200]
 */
import { cpus } from "node:os";
import { type MetricPoint, resolveRunSpec, train } from "@dtf/engine";
import type { Job, RunResult } from "@dtf/protocol";
import { ResultStore } from "@dtf/store";
import { arg, benchDir } from "./support.ts";

const runCounts = arg("runs", "1,7,17").split(",").map(Number);
const commits = Number(arg("commits", "200"));

const spec = resolveRunSpec({ order: 3, dim: 10, components: 100, observations: 300, steps: 1000, eval_every: 100 });
const points: MetricPoint[] = [];
const trained = await train(spec, { onMetrics: (p) => points.push(p) });

async function measure(runsPerCommit: number) {
  const store = await ResultStore.open(benchDir());
  let next = 0;
  const oneCommit = async () => {
    const writes: Promise<void>[] = [];
    for (let i = 0; i < runsPerCommit; i++) {
      const runId = `r${next++}`;
      store.stageMetricsNow({ sweep_id: "s", run_id: runId, attempt: 1, points });
      const job: Job = { sweep_id: "s", run_id: runId, run_index: next, attempt: 1, spec, point: { seed: next } };
      const result: RunResult = {
        sweep_id: "s", run_id: runId, attempt: 1, status: trained.status, stop_reason: trained.stop_reason, steps: trained.steps,
        final: points.at(-1)!, threshold_steps: {}, wall_ms: trained.wall_ms, engine: trained.engine, code_version: "bench",
        worker_id: "w/0", error: "", growth: trained.growth,
      };
      writes.push(store.writeResult(job, result, next));
    }
    await new Promise((resolve) => setImmediate(resolve)); // let every writeResult stage its row
    await store.commit();
    await Promise.all(writes);
  };
  for (let i = 0; i < 20; i++) await oneCommit(); // warm-up
  const cpu0 = process.cpuUsage();
  const wall0 = performance.now();
  for (let i = 0; i < commits; i++) await oneCommit();
  const cpu = process.cpuUsage(cpu0);
  const row = `| ${runsPerCommit} | ${((cpu.user + cpu.system) / 1000 / commits).toFixed(1)} | ${((performance.now() - wall0) / commits).toFixed(1)} |`;
  await store.close();
  return row;
}

const rows: string[] = [];
for (const n of runCounts) rows.push(await measure(n));
console.log(`Machine: ${cpus()[0]?.model ?? "?"}, ${cpus().length} cores, Node ${process.version}; ${commits} commits each, ${points.length} metric points per run.\n`);
console.log("| runs per commit | CPU ms per commit | wall ms per commit |");
console.log("|---|---|---|");
console.log(rows.join("\n"));
