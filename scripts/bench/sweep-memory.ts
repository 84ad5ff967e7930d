/**
 * Memory of a long local sweep: `dtf run`'s runner (pool + store) on N tiny runs, the runner's
 * live heap (after a full GC) sampled as the sweep goes, and the process's peak RSS.
 *
 *   node --expose-gc --import tsx scripts/bench/sweep-memory.ts [--runs 10000] [--threads 2]
 */
import { mkdtempSync, rmSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { runSweepLocally } from "@dtf/coordinator/local";
import { resolveRunSpec } from "@dtf/engine";
import { loadSweepText } from "@dtf/sweep";
import { arg } from "./support.ts";

const runs = Number(arg("runs", "10000"));
const threads = Number(arg("threads", "2"));
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("run with node --expose-gc");

const { seed: _, ...base } = resolveRunSpec({ order: 3, dim: 4, components: 8, observations: 30, steps: 50, eval_every: 25 });
const loaded = loadSweepText(`name: memory-${runs}\nbase: ${JSON.stringify(base)}\nseeds: ${runs}\n`, "memory.yaml", runs);
const out = mkdtempSync(join(tmpdir(), "dtf-memory-"));
const mib = (b: number) => b / 2 ** 20;
const samples: { done: number; heapMiB: number; rssMiB: number }[] = [];
let done = 0;
let nextSample = 0;
const sample = () => {
  gc();
  const m = process.memoryUsage();
  samples.push({ done, heapMiB: mib(m.heapUsed), rssMiB: mib(m.rss) });
};
const progress = {
  skip: () => undefined,
  start: () => undefined,
  finish: () => {
    done++;
    if (done >= nextSample) {
      nextSample += runs / 10;
      sample();
    }
  },
};
const started = performance.now();
await runSweepLocally(loaded, { out, threads, signal: new AbortController().signal, progress });
const seconds = (performance.now() - started) / 1000;
sample();
rmSync(out, { recursive: true, force: true });
const peakRss = process.resourceUsage().maxRSS / 1024;
console.log(`Machine: ${cpus()[0]?.model ?? "?"}, ${cpus().length} cores, Node ${process.version}; ${runs} tiny runs, ${threads} threads, ${seconds.toFixed(0)} s.`);
console.log("| runs done | live heap MiB (after GC) | RSS MiB |");
console.log("|---|---|---|");
for (const s of samples) console.log(`| ${s.done} | ${s.heapMiB.toFixed(1)} | ${s.rssMiB.toFixed(0)} |`);
console.log(`\nPeak RSS: ${peakRss.toFixed(0)} MiB`);
