import { createServer, type Server } from "node:http";
import { hostname } from "node:os";
import {
  CONSUMERS,
  decodeJob,
  encodeMetricBatch,
  encodeRunResult,
  ensureTopology,
  type Job,
  KEYS,
  KV_BUCKET,
  ProtocolError,
  STREAMS,
  SUBJECTS,
} from "@dtf/protocol";
import { type JsMsg, jetstream } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { headers } from "@nats-io/nats-core";
import type { NatsConnection } from "@nats-io/transport-node";
import { RunPool } from "./pool.ts";

export type NatsWorkerOptions = {
  threads: number;
  /** Stops pulling when aborted (SIGTERM); running jobs get `graceMs` to finish, then are handed back. */
  signal: AbortSignal;
  /** @default 30_000 */
  graceMs?: number;
  /** Deliveries before a failing job is dead-lettered; must match the consumer. @default 3 */
  maxDeliver?: number;
  /** The consumer's ack wait; `working()` is sent every third of it. @default 30_000 */
  ackWaitMs?: number;
  /** Redelivery delay after a failed attempt. @default 1_000 */
  nakDelayMs?: number;
  /** /healthz and /metrics (Prometheus) on this port; 0 picks one, undefined: none. */
  httpPort?: number;
  workerName?: string;
  /** The pool's task module (tests). */
  taskFile?: string;
};

export type WorkerCounters = { started: number; ok: number; diverged: number; failed: number; retried: number; deadLettered: number; running: number };

/** Publishes a dead letter: the original bytes with why in its headers. */
async function deadLetter(nc: NatsConnection, sweepId: string, data: Uint8Array, reason: string, runId = "") {
  const h = headers();
  h.set("Dtf-Reason", reason.slice(0, 1000));
  h.set("Dtf-Run-Id", runId);
  await jetstream(nc).publish(SUBJECTS.dlq(sweepId || "unknown"), data, { headers: h });
}

/**
 * One pull loop per pool thread on the shared durable consumer: heartbeats (`working()`) while a
 * job trains, metric batches and the result published (and acked by the server) before the job is
 * acked, `nak` with a delay on a failed attempt, `term` plus a dead letter for a poison message or a
 * job that failed its last delivery. Resolves when `signal` is aborted and in-flight jobs ended.
 */
export async function runNatsWorker(nc: NatsConnection, options: NatsWorkerOptions): Promise<{ counters: WorkerCounters; port: number | null }> {
  const maxDeliver = options.maxDeliver ?? 3;
  const ackWaitMs = options.ackWaitMs ?? 30_000;
  await ensureTopology(nc, { maxDeliver, ackWaitMs });
  const js = jetstream(nc);
  const consumer = await js.consumers.get(STREAMS.jobs, CONSUMERS.workers);
  const kv = await new Kvm(nc).open(KV_BUCKET);
  const name = options.workerName ?? `${hostname()}-${process.pid}`;
  const pool = new RunPool({ threads: options.threads, workerName: name, taskFile: options.taskFile });
  const counters: WorkerCounters = { started: 0, ok: 0, diverged: 0, failed: 0, retried: 0, deadLettered: 0, running: 0 };
  const handBack = new AbortController();
  const server = options.httpPort === undefined ? null : await serveHealth(options.httpPort, counters, options.signal);

  const handle = async (m: JsMsg) => {
    let job: Job;
    try {
      job = decodeJob(m.data);
    } catch (err) {
      const sweep = m.subject.split(".").slice(2).join(".");
      await deadLetter(nc, sweep, m.data, err instanceof ProtocolError ? err.message : String(err));
      counters.deadLettered++;
      m.term();
      return;
    }
    job.attempt = m.info.deliveryCount;
    const cancelled = await kv.get(KEYS.cancel(job.sweep_id));
    if (cancelled?.operation === "PUT") {
      m.ack();
      return;
    }
    counters.started++;
    counters.running++;
    const beat = setInterval(() => m.working(), Math.max(100, ackWaitMs / 3));
    try {
      const result = await pool.run(job, {
        signal: handBack.signal,
        onMetrics: async (batch) => {
          const msgID = `${job.run_id}:${job.attempt}:${batch.points[0]?.step ?? 0}`;
          await js.publish(SUBJECTS.metrics(job.sweep_id), encodeMetricBatch(batch), { msgID });
        },
      });
      if (result.status === "cancelled") {
        m.nak(); // shutting down: another worker takes it now
        return;
      }
      const publishResult = () =>
        js.publish(SUBJECTS.result(job.sweep_id), encodeRunResult({ ...result, job }), { msgID: `${job.run_id}:${job.attempt}:result` });
      if (result.status === "failed") {
        counters.failed++;
        if (job.attempt >= maxDeliver) {
          await publishResult();
          await deadLetter(nc, job.sweep_id, m.data, `failed ${job.attempt} times; last error: ${result.error}`, job.run_id);
          counters.deadLettered++;
          m.term();
        } else {
          counters.retried++;
          m.nak(options.nakDelayMs ?? 1_000);
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
  };

  const slot = async () => {
    while (!options.signal.aborted) {
      const m = await consumer.next({ expires: 1_000 }).catch(() => null);
      if (!m) continue;
      try {
        await handle(m);
      } catch (err) {
        // The broker went away mid-job (restart, network): leave the job un-acked so it is
        // redelivered, and keep pulling once the connection is back.
        process.stderr.write(`dtf worker: ${(err as Error).message}; the job will be redelivered\n`);
      }
    }
  };
  const grace = new Promise<void>((resolve) => {
    options.signal.addEventListener("abort", () => setTimeout(resolve, options.graceMs ?? 30_000).unref(), { once: true });
  });
  void grace.then(() => handBack.abort());
  await Promise.all(Array.from({ length: options.threads }, slot));
  await nc.flush(); // the last acks and naks reach the server before we report being done
  await pool.close();
  server?.close();
  const address = server?.address();
  return { counters, port: address && typeof address === "object" ? address.port : null };
}

/** /healthz (200 while pulling, 503 when draining) and /metrics in Prometheus text format. */
function serveHealth(port: number, counters: WorkerCounters, signal: AbortSignal): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.url === "/healthz") {
      res.writeHead(signal.aborted ? 503 : 200, { "content-type": "text/plain" }).end(signal.aborted ? "draining\n" : "ok\n");
      return;
    }
    if (req.url === "/metrics") {
      const lines = Object.entries(counters).map(([k, v]) => `# TYPE dtf_worker_${k} ${k === "running" ? "gauge" : "counter"}\ndtf_worker_${k}${k === "running" ? "" : "_total"} ${v}`);
      res.writeHead(200, { "content-type": "text/plain; version=0.0.4" }).end(`${lines.join("\n")}\n`);
      return;
    }
    res.writeHead(404).end();
  });
  return new Promise((resolve) => server.listen(port, "0.0.0.0", () => resolve(server)));
}
