import {
  CONSUMERS,
  decodeJob,
  decodeMetricBatch,
  decodeRunResult,
  ensureTopology,
  KEYS,
  KV_BUCKET,
  STREAMS,
  SUBJECTS,
} from "@dtf/protocol";
import type { ResultStore } from "@dtf/store";
import { type JsMsg, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { headers } from "@nats-io/nats-core";
import type { NatsConnection } from "@nats-io/transport-node";

export type AggregatorOptions = {
  /** Stops consuming when aborted; what was received is committed and acked first. */
  signal: AbortSignal;
  /** Commit (and then ack) at least this often. @default 200 */
  commitEveryMs?: number;
  /** Only this sweep's messages are stored (others are left for another aggregator). */
  sweepId?: string;
};

export type AggregatorCounters = { metricBatches: number; points: number; results: number; deadLettered: number; commits: number };

/**
 * The durable consumer of metric batches and results: writes them into the store (idempotent
 * upserts) and acks each message only after the commit that contains it, then marks finished runs
 * done in KV (what resubmission and `dtf status` read). Killed at any point, it loses nothing (un-acked
 * messages are redelivered) and duplicates nothing (upserts). It is a singleton per store: DuckDB
 * takes one writer, so run one aggregator per sweep directory.
 */
export async function runAggregator(nc: NatsConnection, store: ResultStore, options: AggregatorOptions): Promise<AggregatorCounters> {
  await ensureTopology(nc);
  const js = jetstream(nc);
  const kv = await new Kvm(nc).open(KV_BUCKET);
  const consumer = await js.consumers.get(STREAMS.results, CONSUMERS.aggregator);
  const counters: AggregatorCounters = { metricBatches: 0, points: 0, results: 0, deadLettered: 0, commits: 0 };
  let received: JsMsg[] = [];
  let done: string[] = [];
  let committing: Promise<void> = Promise.resolve();

  const commit = () => {
    const run = committing.then(async () => {
      const msgs = received;
      const keys = done;
      received = [];
      done = [];
      if (msgs.length === 0) return;
      try {
        await store.commit();
        counters.commits++;
        for (const key of keys) await kv.put(key, "1");
        for (const m of msgs) m.ack();
      } catch (err) {
        // e.g. the server is restarting: keep them for the next commit (upserts make a retry harmless)
        received = [...msgs, ...received];
        done = [...keys, ...done];
        throw err;
      }
    });
    committing = run.catch(() => undefined); // one failed commit must not stop the later ones
    return run;
  };
  const timer = setInterval(() => void commit().catch(() => undefined), options.commitEveryMs ?? 200);
  const collecting = collectUndeliverable(nc, counters);

  const messages = await consumer.consume({ max_messages: 1000, expires: 1000 });
  options.signal.addEventListener("abort", () => void messages.close(), { once: true });
  try {
    for await (const m of messages) {
      const ofSweep = options.sweepId === undefined || m.subject.endsWith(`.${SUBJECTS.job(options.sweepId).split(".").at(-1)}`);
      if (!ofSweep) {
        m.nak(5_000);
        continue;
      }
      try {
        if (m.subject.startsWith("dtf.metrics.")) {
          const batch = decodeMetricBatch(m.data);
          await store.writeMetrics(batch);
          counters.metricBatches++;
          counters.points += batch.points.length;
        } else {
          const result = decodeRunResult(m.data);
          if (!result.job) throw new Error(`RunResult ${result.run_id} carries no job`);
          void store.writeResult(result.job, result).catch(() => undefined); // committed by commit()
          counters.results++;
          if (result.status === "ok" || result.status === "diverged") done.push(KEYS.done(result.sweep_id, result.run_id));
        }
        received.push(m);
      } catch (err) {
        const h = headers();
        h.set("Dtf-Reason", `aggregator: ${(err as Error).message}`.slice(0, 1000));
        await js.publish(SUBJECTS.dlq(m.subject.split(".").slice(2).join(".")), m.data, { headers: h });
        counters.deadLettered++;
        m.term();
      }
    }
  } finally {
    clearInterval(timer);
    collecting.unsubscribe();
    await commit();
  }
  return counters;
}

/**
 * A job delivered max_deliver times without an ack (its workers died or hung on every delivery)
 * stays in the work queue, undelivered; the server says so with a MAX_DELIVERIES advisory. Move
 * such a job to the dead letters with the reason. A queue group: with several aggregators, one
 * handles each advisory.
 */
function collectUndeliverable(nc: NatsConnection, counters: AggregatorCounters) {
  const subject = `$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${STREAMS.jobs}.${CONSUMERS.workers}`;
  const sub = nc.subscribe(subject, { queue: "dtf-dead-letters" });
  void (async () => {
    const jsm = await jetstreamManager(nc);
    const js = jetstream(nc);
    for await (const advisory of sub) {
      try {
        const { stream_seq, deliveries } = advisory.json<{ stream_seq: number; deliveries: number }>();
        const job = await jsm.streams.getMessage(STREAMS.jobs, { seq: stream_seq });
        if (!job) continue;
        let runId = "";
        try {
          runId = decodeJob(job.data).run_id;
        } catch {
          // a malformed job: dead-lettered all the same
        }
        const h = headers();
        h.set("Dtf-Reason", `delivered ${deliveries} times without an ack (its worker died or hung each time)`);
        h.set("Dtf-Run-Id", runId);
        await js.publish(job.subject.replace("dtf.jobs.", "dtf.dlq."), job.data, { headers: h });
        await jsm.streams.deleteMessage(STREAMS.jobs, stream_seq);
        counters.deadLettered++;
      } catch {
        // the next advisory is independent; this job stays visible in `dtf status` as queued
      }
    }
  })();
  return sub;
}
