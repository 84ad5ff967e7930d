/**
 * Does a sweep run at its kernels' speed? The quickstart sweep through `dtf run`'s runner (pool +
 * store), against the sum over its runs of steps × the benchmarked step time ÷ threads. The gap is
 * split into the trainings' own extra time (evaluations, metric batches: `train()` in one thread
 * minus its steps) and the rest (pool, messages, store, start-up).
 *
 *   node --import tsx scripts/bench/sweep-overhead.ts [--spec examples/quickstart.yaml] [--threads 2]
 */
import { mkdtempSync, rmSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { runSweepLocally } from "@dtf/coordinator/local";
import { type RunSpec, setupRun } from "@dtf/engine";
import { GradientStep, makeOptimizer } from "@dtf/engine/internal";
import type { RunResult } from "@dtf/protocol";
import { expandRuns, loadSweepFile } from "@dtf/sweep";
import { arg } from "./support.ts";

const file = arg("spec", join(import.meta.dirname, "..", "..", "examples", "quickstart.yaml"));
const threads = Number(arg("threads", "2"));
const loaded = await loadSweepFile(file);

/** Median ms of one bare step (loss, gradients, update) of `spec`, after 20 warm-up steps. */
async function stepMs(spec: RunSpec): Promise<number> {
  const { model, kernels } = await setupRun(spec);
  const step = new GradientStep(model, makeOptimizer(spec, kernels));
  const times: number[] = [];
  for (let i = 0; i < 220; i++) {
    const t0 = performance.now();
    step.gradients();
    step.update();
    if (i >= 20) times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return times[times.length >> 1];
}

const out = mkdtempSync(join(tmpdir(), "dtf-overhead-"));
const results: RunResult[] = [];
const progress = { skip: () => undefined, start: () => undefined, finish: (r: RunResult) => void results.push(r) };
const started = performance.now();
await runSweepLocally(loaded, { out, threads, signal: new AbortController().signal, progress });
const wallMs = performance.now() - started;
rmSync(out, { recursive: true, force: true });

// the kernels' time: each run's steps at its spec's benchmarked step time (measured after the
// sweep, on an idle machine; runs differing only in seed share a step time)
const stepTime = new Map<string, number>();
let kernelMs = 0;
let trainMs = 0;
const specs = new Map([...expandRuns(loaded.sweep)].map((r) => [r.runId, r.spec]));
for (const r of results) {
  const spec = specs.get(r.run_id)!;
  const key = JSON.stringify({ ...spec, seed: 0 });
  if (!stepTime.has(key)) stepTime.set(key, await stepMs(spec));
  kernelMs += r.steps * stepTime.get(key)!;
  trainMs += r.wall_ms;
}
const ideal = kernelMs / threads;
console.log(`Machine: ${cpus()[0]?.model ?? "?"}, ${cpus().length} cores, Node ${process.version}; ${file}, ${results.length} runs, ${threads} threads.\n`);
console.log("| what | seconds | × kernel time ÷ threads |");
console.log("|---|---|---|");
console.log(`| Σ steps × step time ÷ threads (the kernels) | ${(ideal / 1000).toFixed(2)} | 1.00 |`);
console.log(`| Σ train() wall time ÷ threads (+ evaluations, metric batches) | ${(trainMs / threads / 1000).toFixed(2)} | ${(trainMs / threads / ideal).toFixed(2)} |`);
console.log(`| sweep wall time (+ pool, messages, store, start-up) | ${(wallMs / 1000).toFixed(2)} | ${(wallMs / ideal).toFixed(2)} |`);
