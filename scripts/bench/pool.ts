/**
 * Local-mode overhead: a sweep of tiny runs through the run pool (piscina threads, protobuf jobs,
 * comlink metric batches) with 1 and 2 threads, with and without the result store, plus the
 * store's ingest rate. Per-run overhead = wall time × threads / runs − the training's own time
 * (measured inside the thread by the engine).
 *
 *   node --import tsx scripts/bench/pool.ts [--runs 500] [--out FILE]
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { type MetricPoint, resolveRunSpec, train } from "../../packages/engine/src/index.ts";
import type { Job, RunResult } from "../../packages/protocol/src/index.ts";
import { ResultStore } from "../../packages/store/src/index.ts";
import { RunPool } from "../../packages/worker/src/index.ts";

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
};
const runs = Number(arg("runs", "500"));
const outFile = arg("out", "");

/** tiny: a 4×4×4 CP run of 50 steps (≈ 0.1 ms of training); moderate: ≈ 40 ms of training. */
const specs = {
  tiny: resolveRunSpec({ order: 3, dim: 4, components: 8, observations: 30, steps: 50, eval_every: 25 }),
  moderate: resolveRunSpec({ order: 3, dim: 10, components: 100, observations: 300, steps: 1000, eval_every: 100 }),
};

async function sweep(kind: keyof typeof specs, threads: number, withStore: boolean) {
  const pool = new RunPool({ threads });
  const store = withStore ? await ResultStore.open(mkdtempSync(join(tmpdir(), "dtf-bench-"))) : null;
  // warm the threads (module loading, addon, JIT) outside the timed region
  await Promise.all(Array.from({ length: threads }, (_, i) => pool.run(job(kind, -1 - i))));
  const results: RunResult[] = [];
  const started = performance.now();
  const inFlight = new Set<Promise<void>>();
  const commits: Promise<void>[] = [];
  for (let i = 0; i < runs; i++) {
    const j = job(kind, i);
    const p = pool
      .run(j, { onMetrics: store ? (b) => store.writeMetrics(b) : undefined })
      .then((r) => {
        results.push(r);
        if (store) commits.push(store.writeResult(j, r, i));
      });
    inFlight.add(p);
    const settle = () => inFlight.delete(p);
    p.then(settle, settle);
    if (inFlight.size >= 2 * threads) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
  await Promise.all(commits);
  const wall = performance.now() - started;
  await pool.close();
  await store?.close();
  const training = results.reduce((s, r) => s + r.wall_ms, 0) / results.length;
  if (results.some((r) => r.status !== "ok")) throw new Error("a benchmark run failed");
  return { runsPerSecond: (runs / wall) * 1000, trainingMs: training, overheadMs: (wall * threads) / runs - training };
}

function job(kind: keyof typeof specs, i: number): Job {
  const spec = { ...specs[kind], seed: Math.abs(i) };
  return { sweep_id: "bench", run_id: `${kind}-${i}`, attempt: 1, spec, point: { seed: i } };
}

async function ingest(): Promise<number> {
  const points: MetricPoint[] = [];
  await train({ ...specs.moderate, steps: 5000, eval_every: 10 }, { onMetrics: (p) => points.push(p) });
  const store = await ResultStore.open(mkdtempSync(join(tmpdir(), "dtf-bench-")));
  const started = performance.now();
  let written = 0;
  for (let run = 0; run < 20; run++) {
    for (let b = 0; b < points.length; b += 50) {
      await store.writeMetrics({ sweep_id: "bench", run_id: `r${run}`, attempt: 1, points: points.slice(b, b + 50) });
      written += Math.min(50, points.length - b);
    }
    await store.commit(); // one run's metrics committed, as writeResult does
  }
  const rate = (written / (performance.now() - started)) * 1000;
  await store.close();
  return rate;
}

const rows: string[] = [];
const table: Record<string, unknown> = {};
for (const kind of ["tiny", "moderate"] as const) {
  for (const withStore of [false, true]) {
    const one = await sweep(kind, 1, withStore);
    const two = await sweep(kind, 2, withStore);
    table[`${kind}${withStore ? "+store" : ""}`] = { one, two };
    rows.push(
      `| ${kind}${withStore ? " + store" : ""} | ${one.trainingMs.toFixed(2)} | ${one.runsPerSecond.toFixed(0)} | ${one.overheadMs.toFixed(2)} | ${two.runsPerSecond.toFixed(0)} | ${two.overheadMs.toFixed(2)} | ${(two.runsPerSecond / one.runsPerSecond).toFixed(2)}× |`,
    );
    console.error(`bench: ${kind}${withStore ? " + store" : ""} done`);
  }
}
const rate = await ingest();
table.ingestPointsPerSecond = rate;
console.log(`Machine: ${cpus()[0]?.model ?? "?"}, ${cpus().length} cores, Node ${process.version}; ${runs} runs per row.\n`);
console.log("| runs | training ms/run | 1 thread runs/s | 1 thread overhead ms/run | 2 threads runs/s | 2 threads overhead ms/run | 2 vs 1 threads |");
console.log("|---|---|---|---|---|---|---|");
console.log(rows.join("\n"));
console.log(`\nStore ingest: ${rate.toFixed(0)} metric points/s (batches of 50, each with 10 component norms).`);
if (outFile) writeFileSync(outFile, JSON.stringify(table, null, 1));
