/**
 * Local-mode overhead: a sweep of tiny runs through the run pool alone (piscina threads, protobuf
 * jobs, comlink metric batches) and through the local runner of `dtf run` (pool + result store),
 * with 1 and 2 threads, plus the
 * store's ingest rate. Per-run overhead = wall time × threads / runs − the training's own time
 * (measured inside the thread by the engine).
 *
 *   node --import tsx scripts/bench/pool.ts [--runs 500] [--kinds tiny,moderate] [--out FILE]
 */
import { writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { runSweepLocally } from "@dtf/coordinator/local";
import { type MetricPoint, resolveRunSpec, train } from "@dtf/engine";
import type { Job, RunResult } from "@dtf/protocol";
import { ResultStore } from "@dtf/store";
import { loadSweepText } from "@dtf/sweep";
import { RunPool } from "@dtf/worker";
import { arg, benchDir } from "./support.ts";

const runs = Number(arg("runs", "500"));
const outFile = arg("out", "");
const kinds = arg("kinds", "tiny,moderate").split(",") as (keyof typeof specs)[];

/** tiny: a 4×4×4 CP run of 50 steps (≈ 0.1 ms of training); moderate: ≈ 40 ms of training. */
const specs = {
  tiny: resolveRunSpec({ order: 3, dim: 4, components: 8, observations: 30, steps: 50, eval_every: 25 }),
  moderate: resolveRunSpec({ order: 3, dim: 10, components: 100, observations: 300, steps: 1000, eval_every: 100 }),
};

/** The pool alone: jobs straight to the threads, results kept in memory (no store, no runner). */
async function poolOnly(kind: keyof typeof specs, threads: number) {
  const pool = new RunPool({ threads });
  // warm the threads (module loading, addon, JIT) outside the timed region
  await Promise.all(Array.from({ length: threads }, (_, i) => pool.run(job(kind, -1 - i))));
  const results: RunResult[] = [];
  const started = performance.now();
  const inFlight = new Set<Promise<void>>();
  for (let i = 0; i < runs; i++) {
    const p = pool.run(job(kind, i)).then((r) => {
      results.push(r);
    });
    inFlight.add(p);
    const settle = () => inFlight.delete(p);
    p.then(settle, settle);
    if (inFlight.size >= 2 * threads) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
  const wall = performance.now() - started;
  await pool.close();
  return { wall, results };
}

/** The local runner `dtf run` uses (pool + store + resume bookkeeping), on a sweep of `runs` seeds. */
async function localRunner(kind: keyof typeof specs, threads: number) {
  const { seed: _, ...base } = specs[kind];
  const loaded = loadSweepText(`name: bench-${kind}\nbase: ${JSON.stringify(base)}\nseeds: ${runs}\n`, "bench.yaml");
  const results: RunResult[] = [];
  const progress = { skip: () => undefined, start: () => undefined, finish: (r: RunResult) => void results.push(r) };
  const started = performance.now(); // includes the pool's thread start-up (≈ 0.1 s per thread)
  await runSweepLocally(loaded, { out: benchDir(), threads, signal: new AbortController().signal, progress });
  return { wall: performance.now() - started, results };
}

async function sweep(kind: keyof typeof specs, threads: number, withStore: boolean) {
  const { wall, results } = withStore ? await localRunner(kind, threads) : await poolOnly(kind, threads);
  const training = results.reduce((s, r) => s + r.wall_ms, 0) / results.length;
  if (results.some((r) => r.status !== "ok")) throw new Error("a benchmark run failed");
  return { runsPerSecond: (runs / wall) * 1000, trainingMs: training, overheadMs: (wall * threads) / runs - training };
}

function job(kind: keyof typeof specs, i: number): Job {
  const spec = { ...specs[kind], seed: Math.abs(i) };
  return { sweep_id: "bench", run_id: `${kind}-${i}`, run_index: Math.abs(i), attempt: 1, spec, point: { seed: i } };
}

async function ingest(): Promise<number> {
  const points: MetricPoint[] = [];
  await train({ ...specs.moderate, steps: 5000, eval_every: 10 }, { onMetrics: (p) => points.push(p) });
  const store = await ResultStore.open(benchDir());
  const started = performance.now();
  let written = 0;
  for (let run = 0; run < 20; run++) {
    for (let b = 0; b < points.length; b += 50) {
      await store.stageMetrics({ sweep_id: "bench", run_id: `r${run}`, attempt: 1, points: points.slice(b, b + 50) });
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
for (const kind of kinds) {
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
