// The NATS pull loop of a worker: jobs in, metrics and results out, heartbeats and drain.
import { hostname } from "node:os";
import {
  CONSUMERS,
  codeVersion,
  decodeJob,
  decodeSweepRecord,
  encodeMetricBatch,
  encodeRunResult,
  type Job,
  KEYS,
  KV_BUCKET,
  ProtocolError,
  STREAMS,
  SUBJECTS,
  sweepTokenOf,
} from "@dtf/protocol";
import { connectionProbe, ensureTopology, publishDeadLetter, waitForTopology, workerSettings } from "@dtf/protocol/nats";
import { type JsMsg, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { type KV, Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { serveHealth, type WorkerCounters } from "./health.ts";
import { RunPool } from "./pool.ts";

export type { WorkerCounters } from "./health.ts";

/** Pause after a pull that failed at once, before the next. */
const PULL_RETRY_MS = 500;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** How long a draining worker lets running jobs finish before handing them back. */
export const DEFAULT_GRACE_MS = 30_000;

export type NatsWorkerOptions = {
  threads: number;
  /** Stops pulling when aborted (SIGTERM); running jobs get `graceMs` to finish, then are handed back. */
  signal: AbortSignal;
  /** @default 30_000 */
  graceMs?: number;
  /** Used only when this worker creates the consumer; an existing consumer's settings are read. */
  maxDeliver?: number;
  /** Used only when this worker creates the consumer; `working()` is sent every third of the one in force. */
  ackWaitMs?: number;
  /** Redelivery delay after a failed attempt. @default 1_000 */
  nakDelayMs?: number;
  /** /healthz and /metrics (Prometheus) on this port; 0 picks one, undefined: none. */
  httpPort?: number;
  /** The address the HTTP endpoints listen on. @default 127.0.0.1 */
  httpHost?: string;
  workerName?: string;
  /** The pool's task module (tests). */
  taskFile?: string;
  /** Warnings (settings that differ, another code version), one line each. @default stderr */
  log?: (line: string) => void;
};

/** What a worker tells its caller once it listens and pulls. */
export type WorkerStarted = { address: string | null; ackWaitMs: number; maxDeliver: number };

/**
 * Publishes with retries while the broker is briefly unavailable (a JetStream leader election when
 * a cluster node goes or comes back answers "temporarily unavailable" or "not enabled" for a few
 * seconds). Safe to repeat: every publish carries a message id the stream deduplicates. The job's
 * heartbeats go on meanwhile, so a computed result is not thrown away for a hiccup, and the run's
 * delivery budget (max deliver) is spent on failures of the run, not of the broker.
 */
export async function publishPatiently(publish: () => Promise<unknown>, patienceMs: number): Promise<void> {
  const deadline = Date.now() + patienceMs;
  for (let wait = 250; ; wait = Math.min(wait * 2, 5_000)) {
    try {
      await publish();
      return;
    } catch (err) {
      if (Date.now() + wait > deadline) throw err;
      await sleep(wait);
    }
  }
}

type JobContext = { nc: NatsConnection; kv: KV; pool: RunPool; counters: WorkerCounters; handBack: AbortSignal; ackWaitMs: number; maxDeliver: number; nakDelayMs: number; checkVersion: (job: Job) => Promise<void> };

/**
 * One delivery of a job: decode (a poison message is dead-lettered and `term()`ed), skip cancelled
 * sweeps, train with `working()` heartbeats, publish every metric batch and then the result (each
 * acked by the server) before acking the job; a failed attempt is `nak`ed with a delay, and on its
 * last delivery published as failed, dead-lettered and `term()`ed.
 */
async function handleJob(m: JsMsg, ctx: JobContext): Promise<void> {
  const { counters } = ctx;
  let job: Job;
  try {
    job = decodeJob(m.data);
  } catch (err) {
    await publishDeadLetter(ctx.nc, sweepTokenOf(m.subject), m.data, err instanceof ProtocolError ? err.message : String(err));
    counters.deadLettered++;
    m.term();
    return;
  }
  job.attempt = m.info.deliveryCount;
  const cancelled = await ctx.kv.get(KEYS.cancel(job.sweep_id));
  if (cancelled?.operation === "PUT") {
    m.ack();
    return;
  }
  await ctx.checkVersion(job);
  const js = jetstream(ctx.nc);
  counters.started++;
  counters.running++;
  const beat = setInterval(() => m.working(), Math.max(100, ctx.ackWaitMs / 3));
  // as long as a redelivery would take anyway: the broker has that long to come back
  const patience = Math.max(30_000, ctx.ackWaitMs);
  try {
    const result = await ctx.pool.run(job, {
      signal: ctx.handBack,
      onMetrics: async (batch) => {
        const msgID = `${job.sweep_id}:${job.run_id}:${job.attempt}:${batch.points[0]?.step ?? 0}`;
        await publishPatiently(() => js.publish(SUBJECTS.metrics(job.sweep_id), encodeMetricBatch(batch), { msgID }), patience);
      },
    });
    if (result.status === "cancelled") {
      m.nak(); // shutting down: another worker takes it now
      return;
    }
    const publishResult = () =>
      publishPatiently(
        () => js.publish(SUBJECTS.result(job.sweep_id), encodeRunResult({ ...result, job }), { msgID: `${job.sweep_id}:${job.run_id}:${job.attempt}:result` }),
        patience,
      );
    if (result.status === "failed") {
      counters.failed++;
      if (job.attempt >= ctx.maxDeliver) {
        await publishResult();
        await publishDeadLetter(ctx.nc, job.sweep_id, m.data, `failed ${job.attempt} times; last error: ${result.error}`, job.run_id);
        counters.deadLettered++;
        m.term();
      } else {
        counters.retried++;
        m.nak(ctx.nakDelayMs);
      }
      return;
    }
    await publishResult();
    counters[result.status === "ok" ? "ok" : "diverged"]++;
    m.ack();
  } finally {
    clearInterval(beat);
    counters.running--;
  }
}

/** Warns once per sweep when the sweep was submitted by another code version than this worker's. */
function versionCheck(kv: KV, log: (line: string) => void): (job: Job) => Promise<void> {
  const checked = new Set<string>();
  return async (job) => {
    if (checked.has(job.sweep_id)) return;
    checked.add(job.sweep_id);
    const record = await kv.get(KEYS.sweep(job.sweep_id)).catch(() => null);
    if (record?.operation !== "PUT") return;
    let submitted: string;
    try {
      submitted = decodeSweepRecord(record.value, job.sweep_id).code_version;
    } catch (err) {
      return log(`warning: ${(err as Error).message}`); // the aggregator refuses such a sweep's results
    }
    if (submitted !== codeVersion()) {
      log(`warning: sweep ${job.sweep_id} was submitted by code version ${submitted}; this worker runs ${codeVersion()} (each result records the version that computed it)`);
    }
  };
}

/**
 * One pull loop per pool thread on the shared durable consumer (see `handleJob`). Resolves when
 * `signal` is aborted and in-flight jobs ended. `onStarted` is told the HTTP address and the
 * consumer settings in force (read from the server, which may differ from the options).
 */
export async function runNatsWorker(
  nc: NatsConnection,
  options: NatsWorkerOptions,
  onStarted: (started: WorkerStarted) => void = () => undefined,
): Promise<{ counters: WorkerCounters; port: number | null }> {
  const log = options.log ?? ((line: string) => process.stderr.write(`dtf worker: ${line}\n`));
  const counters: WorkerCounters = { started: 0, ok: 0, diverged: 0, failed: 0, retried: 0, deadLettered: 0, running: 0 };
  // health first: a worker waiting for its first sweep is alive, and says so
  const server = options.httpPort === undefined ? null : await serveHealth(options.httpHost ?? "127.0.0.1", options.httpPort, counters, options.signal, connectionProbe(nc));
  const address = server?.address();
  const port = address && typeof address === "object" ? address.port : null;
  if (server) log(`/healthz and /metrics on http://${(address as { address: string }).address}:${port}`);
  if (!(await waitForTopology(nc, options.signal, log))) {
    server?.close();
    return { counters, port };
  }
  await ensureTopology(nc, { maxDeliver: options.maxDeliver, ackWaitMs: options.ackWaitMs });
  const settings = await workerSettings(await jetstreamManager(nc));
  for (const [flag, asked, used] of [["max-deliver", options.maxDeliver, settings.maxDeliver], ["ack-wait-ms", options.ackWaitMs, settings.ackWaitMs]] as const) {
    if (asked !== undefined && asked !== used) log(`warning: --${flag} ${asked} ignored: the ${CONSUMERS.workers} consumer exists with ${used}`);
  }
  const consumer = await jetstream(nc).consumers.get(STREAMS.jobs, CONSUMERS.workers);
  const kv = await new Kvm(nc).open(KV_BUCKET);
  const name = options.workerName ?? `${hostname()}-${process.pid}`;
  const pool = new RunPool({ threads: options.threads, workerName: name, taskFile: options.taskFile });
  const handBack = new AbortController();
  onStarted({ address: address && typeof address === "object" ? `http://${address.address}:${address.port}` : null, ...settings });
  const ctx: JobContext = {
    nc,
    kv,
    pool,
    counters,
    handBack: handBack.signal,
    ackWaitMs: settings.ackWaitMs,
    maxDeliver: settings.maxDeliver,
    nakDelayMs: options.nakDelayMs ?? 1_000,
    checkVersion: versionCheck(kv, log),
  };

  const slot = async () => {
    while (!options.signal.aborted) {
      let pullFailed = false;
      const m = await consumer.next({ expires: 1_000 }).catch(() => {
        pullFailed = true;
        return null;
      });
      // a pull that fails at once (no connection, no consumer leader during an election) must not
      // spin: a loop of settled promises would starve the event loop, reconnects included
      if (pullFailed) await sleep(PULL_RETRY_MS);
      if (!m) continue;
      try {
        await handleJob(m, ctx);
      } catch (err) {
        // The broker went away mid-job (restart, network): leave the job un-acked so it is
        // redelivered, and keep pulling once the connection is back.
        log(`${(err as Error).message}; the job will be redelivered`);
      }
    }
  };
  const grace = new Promise<void>((resolve) => {
    options.signal.addEventListener("abort", () => setTimeout(resolve, options.graceMs ?? DEFAULT_GRACE_MS).unref(), { once: true });
  });
  void grace.then(() => handBack.abort());
  await Promise.all(Array.from({ length: options.threads }, slot));
  await nc.flush(); // the last acks and naks reach the server before we report being done
  await pool.close();
  server?.close();
  return { counters, port };
}
