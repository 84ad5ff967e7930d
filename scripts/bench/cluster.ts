/**
 * Cluster-mode benchmarks on loopback with a real nats-server: submit rate and cancel time
 * (--submit-runs, default 20 000 and 100 000, with the coordinator's heap sampled while it
 * streams), end-to-end jobs/s with 4 worker processes against local mode on the same sweep,
 * aggregator ingest (metric points/s), protobuf vs JSON sizes.
 *
 * `status`: `dtf status` of a sweep with N runs done (--status-runs, default 100 000), against
 * listing the done keys; then a resubmit of it (every run done: nothing
 * queued), with its heap. `membership`: the aggregator's heap and check time on metric batches of
 * a 10⁶-run sweep against a 100-run one.
 *
 * `--server 2.10` runs it all on nats-server 2.10 (scripts/fetch-nats-server.sh), where cancel purges.
 *
 *   node --import tsx scripts/bench/cluster.ts [--out FILE] [--only sizes,submit,e2e,ingest,status,membership]
 *     [--server 2.9|2.10] [--submit-runs 20000,100000] [--status-runs 100000]
 */
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { runAggregator } from "@dtf/aggregator";
import { cancelSweep, submitSweep, sweepStatus } from "@dtf/coordinator";
import { type MetricPoint, resolveRunSpec, train } from "@dtf/engine";
import { encodeJob, encodeMetricBatch, encodeRunResult, KEYS, KV_BUCKET, SUBJECTS } from "@dtf/protocol";
import { connectNats, doneRunIds, ensureTopology } from "@dtf/protocol/nats";
import { ResultStore } from "@dtf/store";
import { expandRuns, loadSweepText, runAt } from "@dtf/sweep";
import { jetstream } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { NATS_210, NatsServer } from "../../test/support/nats-server.ts";
import { arg, benchDir } from "./support.ts";

const outFile = process.argv.includes("--out") ? process.argv[process.argv.indexOf("--out") + 1] : "";
const bin = new URL("../../packages/cli/bin/dtf.mjs", import.meta.url).pathname;
const tinyBase = "{ order: 3, dim: 4, components: 8, observations: 30, steps: 50, eval_every: 25 }";
// Each benchmark sweeps different run specs (`steps`): equal specs have equal run ids, and JetStream
// drops a republished id within its duplicate window.
const sweepText = (name: string, lrs: number, seeds: number, steps = 50) =>
  `name: ${name}\nbase: ${tinyBase.replace("steps: 50", `steps: ${steps}`)}\ngrid: { lr: [${Array.from({ length: lrs }, (_, i) => ((i + 1) / 1e4).toFixed(4)).join(", ")}] }\nseeds: ${seeds}\n`;
const report: Record<string, unknown> = { machine: `${cpus()[0]?.model}, ${cpus().length} cores, Node ${process.version}` };
const lines: string[] = [];
setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;
/** Live heap (MiB): what is still reachable after a full GC, not garbage waiting for one. */
const heapMb = () => {
  gc();
  return process.memoryUsage().heapUsed / 2 ** 20;
};
/** Samples the live heap every 2 s (a full GC each: rarely, not to slow what is measured) until the returned function stops it and gives [min, max]. */
function sampleHeap(): () => [number, number] {
  const heap = [heapMb()];
  const sampler = setInterval(() => heap.push(heapMb()), 2000);
  return () => {
    clearInterval(sampler);
    heap.push(heapMb());
    return [Math.min(...heap), Math.max(...heap)];
  };
}
let submitted = 0; // each submit bench's sweep takes other steps (other run ids)

async function submitBench(server: NatsServer, runs: number) {
  const nc = await connectNats({ url: server.url });
  await ensureTopology(nc);
  const loaded = loadSweepText(sweepText(`submit${runs}`, runs / 100, 100, 50 + (submitted++ % 7)), "bench.yaml", 10_000_000);
  const sampling = sampleHeap();
  const t = performance.now();
  const summary = await submitSweep(nc, loaded);
  const ms = performance.now() - t;
  const [heapMin, heapMax] = sampling();
  const c = performance.now();
  const removed = await cancelSweep(nc, loaded.sweepId); // the end-to-end run must not queue behind these
  const cancelMs = performance.now() - c;
  await nc.close();
  const row = { runs, jobsPerSecond: (summary.published / ms) * 1000, heapMbMin: heapMin, heapMbMax: heapMax, cancelMs, removed };
  lines.push(`| submit ${runs} runs | ${row.jobsPerSecond.toFixed(0)} jobs/s | coordinator live heap ${row.heapMbMin.toFixed(0)}–${row.heapMbMax.toFixed(0)} MiB while streaming |`);
  lines.push(`| cancel ${removed} queued jobs | ${(cancelMs / 1000).toFixed(1)} s | ${((removed / cancelMs) * 1000).toFixed(0)} jobs/s deleted |`);
  return row;
}

function role(args: string[]) {
  return spawn(process.execPath, [bin, ...args], { stdio: "ignore" });
}

async function endToEnd(server: NatsServer, runs: number) {
  const dir = benchDir();
  const text = sweepText("e2e", runs / 10, 10, 60);
  const file = join(dir, "s.yaml");
  writeFileSync(file, text);
  // local mode, 2 threads (this machine's cores), same sweep
  let t = performance.now();
  await new Promise<void>((resolve) => role(["run", file, "--out", join(dir, "local"), "--threads", "2"]).on("exit", () => resolve()));
  const localMs = performance.now() - t;
  // cluster: 4 worker processes (1 thread each) + an in-process aggregator
  const nc = await connectNats({ url: server.url });
  const loaded = loadSweepText(text, "s.yaml");
  await submitSweep(nc, loaded);
  const store = await ResultStore.open(join(dir, "cluster"));
  const stop = new AbortController();
  const aggregating = runAggregator(nc, store, { signal: stop.signal });
  t = performance.now();
  const workers = Array.from({ length: 4 }, () => role(["worker", "--threads", "1", "--nats", server.url]));
  for (;;) {
    const s = await sweepStatus(nc, loaded.sweepId);
    if (s.done >= runs) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const clusterMs = performance.now() - t;
  for (const w of workers) w.kill("SIGTERM");
  stop.abort();
  await aggregating;
  await store.close();
  await nc.close();
  const row = { runs, localJobsPerSecond: (runs / localMs) * 1000, clusterJobsPerSecond: (runs / clusterMs) * 1000, overheadMsPerJob: (clusterMs - localMs) / runs };
  lines.push(
    `| end to end, ${runs} tiny runs | local (2 threads): ${row.localJobsPerSecond.toFixed(0)} jobs/s · cluster (4 worker processes): ${row.clusterJobsPerSecond.toFixed(0)} jobs/s | cluster − local: ${row.overheadMsPerJob.toFixed(2)} ms per job |`,
  );
  return row;
}

async function ingest(server: NatsServer) {
  const points: MetricPoint[] = [];
  await train({ order: 3, dim: 10, components: 100, observations: 300, steps: 2500, eval_every: 5 }, { onMetrics: (p) => points.push(p) });
  const nc = await connectNats({ url: server.url });
  // a submitted sweep of 100 runs (its jobs removed again): the aggregator stores only runs of a sweep
  const loaded = loadSweepText(sweepText("ingest", 1, 100, 60), "ingest.yaml");
  await submitSweep(nc, loaded);
  await cancelSweep(nc, loaded.sweepId);
  const js = jetstream(nc);
  let published = 0;
  let pending: Promise<unknown>[] = [];
  for (const run of expandRuns(loaded.sweep)) {
    for (let b = 0; b < points.length; b += 50) {
      const batch = { sweep_id: loaded.sweepId, run_id: run.runId, run_index: run.index, attempt: 1, points: points.slice(b, b + 50) };
      pending.push(js.publish(SUBJECTS.metrics(loaded.sweepId), encodeMetricBatch(batch)));
      published += batch.points.length;
      if (pending.length > 500) {
        await Promise.all(pending);
        pending = [];
      }
    }
  }
  await Promise.all(pending);
  const store = await ResultStore.open(benchDir());
  const stop = new AbortController();
  const t = performance.now();
  const aggregating = runAggregator(nc, store, { signal: stop.signal });
  for (;;) {
    const [{ n }] = await store.query<{ n: number }>("SELECT count(*)::INTEGER AS n FROM metrics");
    if (n >= published) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const ms = performance.now() - t;
  stop.abort();
  await aggregating;
  await store.close();
  await nc.close();
  const row = { points: published, pointsPerSecond: (published / ms) * 1000 };
  lines.push(`| aggregator ingest | ${row.pointsPerSecond.toFixed(0)} metric points/s (${published} points in batches of 50, each with 10 component norms) | |`);
  return row;
}

/** dtf status of a sweep whose `runs` runs are all done (markers written here), 3 times; and listing the keys instead. */
async function statusBench(server: NatsServer, runs: number) {
  const nc = await connectNats({ url: server.url });
  await ensureTopology(nc);
  const loaded = loadSweepText(sweepText(`status${runs}`, runs / 100, 100, 58), "bench.yaml", 10_000_000);
  await submitSweep(nc, loaded);
  await cancelSweep(nc, loaded.sweepId); // no jobs: only the markers matter here
  const kv = await new Kvm(nc).open(KV_BUCKET);
  let pending: Promise<unknown>[] = [];
  for (const run of expandRuns(loaded.sweep)) {
    pending.push(kv.create(KEYS.done(loaded.sweepId, run.runId), "1"));
    if (pending.length >= 512) {
      await Promise.all(pending);
      pending = [];
    }
  }
  await Promise.all(pending);
  const times: number[] = [];
  for (let i = 0; i < 3; i++) {
    const t = performance.now();
    const s = await sweepStatus(nc, loaded.sweepId);
    times.push(performance.now() - t);
    if (s.done !== runs) throw new Error(`status counted ${s.done} of ${runs}`);
  }
  // every run done: a resubmit queues nothing, asking per run past DONE_SET_MAX done runs
  const sampling = sampleHeap();
  const r = performance.now();
  const again = await submitSweep(nc, loaded);
  const resubmitMs = performance.now() - r;
  const [heapMin, heapMax] = sampling();
  if (again.skipped !== runs) throw new Error(`resubmit skipped ${again.skipped} of ${runs}`);
  // last: the listing holds every key for a while, which the heap samples above would count
  const t = performance.now();
  const listed = (await doneRunIds(nc, loaded.sweepId)).size;
  const listMs = performance.now() - t;
  await nc.close();
  const row = { runs, statusMs: times, listKeysMs: listMs, listed, resubmitMs, heapMbMin: heapMin, heapMbMax: heapMax };
  lines.push(`| status, ${runs} runs done | ${Math.min(...times).toFixed(0)}–${Math.max(...times).toFixed(0)} ms (3 calls) | listing the done keys, as before: ${(listMs / 1000).toFixed(1)} s |`);
  lines.push(
    `| resubmit, ${runs} runs all done | ${(resubmitMs / 1000).toFixed(1)} s (${((runs / resubmitMs) * 1000).toFixed(0)} runs/s checked) | live heap ${row.heapMbMin.toFixed(0)}–${row.heapMbMax.toFixed(0)} MiB |`,
  );
  return row;
}

/**
 * The aggregator's membership check at 10⁶ runs: metric batches of 100 runs spread over the sweep,
 * ingested by an in-process aggregator; its heap growth (after GC) and time, against a 100-run
 * sweep; and, as before, the map of every run id the aggregator used to build.
 */
async function membershipBench(server: NatsServer) {
  const nc = await connectNats({ url: server.url });
  const rows: Record<string, number>[] = [];
  for (const runs of [100, 1_000_000]) {
    const loaded = loadSweepText(sweepText(`member${runs}`, runs / 100, 100, 59), "bench.yaml", 10_000_000);
    await submitSweep(nc, loaded);
    await cancelSweep(nc, loaded.sweepId);
    const first = runAt(loaded.sweep, 0);
    const points: MetricPoint[] = [];
    await train(first.spec, { onMetrics: (p) => points.push(p) });
    const js = jetstream(nc);
    for (let k = 0; k < 100; k++) {
      const run = runAt(loaded.sweep, k * (runs / 100));
      await js.publish(SUBJECTS.metrics(loaded.sweepId), encodeMetricBatch({ sweep_id: loaded.sweepId, run_id: run.runId, run_index: run.index, attempt: 1, points: [points[0]] }));
    }
    const store = await ResultStore.open(benchDir());
    const stop = new AbortController();
    const before = heapMb();
    const t = performance.now();
    const aggregating = runAggregator(nc, store, { signal: stop.signal });
    for (;;) {
      const [{ n }] = await store.query<{ n: number }>("SELECT count(*)::INTEGER AS n FROM metrics");
      if (n >= 100) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    const ms = performance.now() - t;
    const grown = heapMb() - before;
    stop.abort();
    await aggregating;
    await store.close();
    rows.push({ runs, ms, heapGrowthMb: grown });
    lines.push(`| aggregator, 100 runs' metric batches of a ${runs}-run sweep | ${ms.toFixed(0)} ms | heap +${grown.toFixed(1)} MiB after GC |`);
  }
  // as before: every run id of the 10⁶-run sweep in a map
  const loaded = loadSweepText(sweepText("member1000000", 10_000, 100, 59), "bench.yaml", 10_000_000);
  const before = heapMb();
  const t = performance.now();
  const ids = new Map<string, number>();
  for (const run of expandRuns(loaded.sweep)) ids.set(run.runId, run.index);
  const mapMs = performance.now() - t;
  const mapMb = heapMb() - before;
  lines.push(`| as before: the map of its 10⁶ run ids | ${(mapMs / 1000).toFixed(1)} s | heap +${mapMb.toFixed(0)} MiB (${ids.size} ids) |`);
  await nc.close();
  return { rows, mapMs, mapMb };
}

function sizes() {
  const points: MetricPoint[] = [];
  return train({ order: 3, dim: 10, components: 100, observations: 300, steps: 500, eval_every: 10 }, { onMetrics: (p) => points.push(p) }).then((r) => {
    const spec = resolveRunSpec({ order: 3, dim: 10, components: 100, observations: 300, steps: 500 });
    const job = { sweep_id: "s", run_id: "0123456789abcdef0123", run_index: 12_345, attempt: 1, spec, point: { depth: 1, seed: 0 } };
    const batch = { sweep_id: "s", run_id: job.run_id, run_index: job.run_index, attempt: 1, points: points.slice(0, 50) };
    const result = { sweep_id: "s", run_id: job.run_id, attempt: 1, status: "ok" as const, stop_reason: "max_steps", steps: r.steps, final: points.at(-1)!, threshold_steps: {}, wall_ms: 1, engine: "native", code_version: "x", worker_id: "w", error: "", job };
    const rows = [
      ["Job", encodeJob(job).length, JSON.stringify(job).length],
      ["MetricBatch (50 points)", encodeMetricBatch(batch).length, JSON.stringify(batch).length],
      ["RunResult (with its job)", encodeRunResult(result).length, JSON.stringify(result).length],
    ] as const;
    for (const [what, pb, json] of rows) lines.push(`| size of ${what} | protobuf ${pb} B | JSON ${json} B (${(json / pb).toFixed(1)}×) |`);
    return rows;
  });
}

const serverVersion = arg("server", "2.9");
const server = await NatsServer.start(null, {}, { binary: serverVersion === "2.10" ? NATS_210 : undefined });
try {
  const probe = await connectNats({ url: server.url });
  report.server = probe.info?.version;
  await probe.close();
  // --only sizes,submit,e2e,ingest runs a part of the table
  const only = process.argv.includes("--only") ? process.argv[process.argv.indexOf("--only") + 1].split(",") : null;
  const part = (name: string) => only === null || only.includes(name);
  if (part("sizes")) report.sizes = await sizes();
  if (part("submit")) report.submit = [];
  for (const runs of part("submit") ? arg("submit-runs", "20000,100000").split(",").map(Number) : []) (report.submit as unknown[]).push(await submitBench(server, runs));
  if (part("e2e")) report.endToEnd = await endToEnd(server, 1000);
  if (part("ingest")) report.ingest = await ingest(server);
  if (part("status")) report.status = await statusBench(server, Number(arg("status-runs", "100000")));
  if (part("membership")) report.membership = await membershipBench(server);
} finally {
  await server.stop();
}
console.log(`Machine: ${report.machine}; nats-server ${report.server} on loopback, file storage.\n`);
console.log("| what | measured | note |\n|---|---|---|");
console.log(lines.join("\n"));
if (outFile) writeFileSync(outFile, JSON.stringify(report, null, 1));
setTimeout(() => process.exit(0), 200);
