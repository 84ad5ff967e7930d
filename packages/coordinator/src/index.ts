import {
  CONSUMERS,
  codeVersion,
  encodeJob,
  ensureTopology,
  KEYS,
  KV_BUCKET,
  STREAMS,
  SUBJECTS,
  type SweepInfo,
  type TopologyOptions,
} from "@dtf/protocol";
import { canonicalJson, expandRuns, type LoadedSweep } from "@dtf/sweep";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";

/** Publishes in flight at once while submitting (pipelined acks). */
const WINDOW = 512;

export type SubmitSummary = { sweepId: string; total: number; published: number; skipped: number };

async function doneRuns(nc: NatsConnection, sweepId: string): Promise<Set<string>> {
  const kv = await new Kvm(nc).open(KV_BUCKET);
  const done = new Set<string>();
  const prefix = `done.${sweepId}.`;
  for await (const key of await kv.keys(KEYS.donePrefix(sweepId))) done.add(key.slice(prefix.length));
  return done;
}

/**
 * Records the sweep in KV and publishes one job per run not finished yet, with Nats-Msg-Id = run
 * id, so submitting the same sweep twice never queues a run twice within the stream's duplicate
 * window (and finished runs are skipped whatever the window). Validation happened before: a bad
 * spec never reaches this function.
 */
export async function submitSweep(nc: NatsConnection, loaded: LoadedSweep, topology: TopologyOptions = {}): Promise<SubmitSummary> {
  await ensureTopology(nc, topology);
  const { sweep, sweepId, count } = loaded;
  const kv = await new Kvm(nc).open(KV_BUCKET);
  const info: SweepInfo = { sweep_id: sweepId, name: sweep.name, spec_json: canonicalJson(sweep), total_runs: count, code_version: codeVersion(), created_ms: Date.now() };
  await kv.put(KEYS.sweep(sweepId), JSON.stringify(info));
  await kv.delete(KEYS.cancel(sweepId));
  const generation = Number((await kv.get(KEYS.generation(sweepId)))?.string() || 0);
  const done = await doneRuns(nc, sweepId);
  const js = jetstream(nc);
  const subject = SUBJECTS.job(sweepId);
  const summary: SubmitSummary = { sweepId, total: count, published: 0, skipped: 0 };
  let pending: Promise<unknown>[] = [];
  for (const run of expandRuns(sweep)) {
    if (done.has(run.runId)) {
      summary.skipped++;
      continue;
    }
    const job = encodeJob({ sweep_id: sweepId, run_id: run.runId, attempt: 1, spec: run.spec, point: run.point });
    const msgID = generation > 0 ? `${run.runId}:g${generation}` : run.runId;
    pending.push(js.publish(subject, job, { msgID }));
    summary.published++;
    if (pending.length >= WINDOW) {
      await Promise.all(pending);
      pending = [];
    }
  }
  await Promise.all(pending);
  return summary;
}

export type SweepStatus = {
  sweepId: string;
  total: number;
  done: number;
  queued: number;
  running: number;
  dead: number;
  cancelled: boolean;
  /** Milliseconds left at the pace since the sweep was submitted (null before the first run is done). */
  etaMs: number | null;
};

/** Done (stored by the aggregator), queued (in the job stream), dead-lettered, and the rest running. */
export async function sweepStatus(nc: NatsConnection, sweepId: string): Promise<SweepStatus> {
  const kv = await new Kvm(nc).open(KV_BUCKET);
  const record = await kv.get(KEYS.sweep(sweepId));
  if (record?.operation !== "PUT") throw new Error(`unknown sweep ${sweepId}`);
  const info = JSON.parse(record.string()) as SweepInfo;
  const jsm = await jetstreamManager(nc);
  const count = async (stream: string, subject: string) => {
    const s = await jsm.streams.info(stream, { subjects_filter: subject });
    return s.state.subjects?.[subject] ?? 0;
  };
  const done = (await doneRuns(nc, sweepId)).size;
  // A work-queue message stays in the stream until acked: the sweep's subject count is queued +
  // in flight. In flight = the workers' unacked deliveries (exact while one sweep runs at a time).
  const inStream = await count(STREAMS.jobs, SUBJECTS.job(sweepId));
  const consumer = await jsm.consumers.info(STREAMS.jobs, CONSUMERS.workers).catch(() => null);
  const running = Math.min(inStream, consumer?.num_ack_pending ?? 0);
  const dead = await count(STREAMS.dlq, SUBJECTS.dlq(sweepId));
  const cancel = await kv.get(KEYS.cancel(sweepId));
  const left = info.total_runs - done - dead;
  const etaMs = done > 0 ? ((Date.now() - info.created_ms) / done) * left : null;
  return { sweepId, total: info.total_runs, done, queued: inStream - running, dead, running, cancelled: cancel?.operation === "PUT", etaMs };
}

/** Flags the sweep cancelled (workers skip its jobs) and removes its queued jobs; submit resumes it. */
export async function cancelSweep(nc: NatsConnection, sweepId: string): Promise<number> {
  const kv = await new Kvm(nc).open(KV_BUCKET);
  await kv.put(KEYS.cancel(sweepId), "1");
  // Jobs purged now keep their ids in the duplicate window: a resubmission must use fresh ones.
  const generation = Number((await kv.get(KEYS.generation(sweepId)))?.string() || 0);
  await kv.put(KEYS.generation(sweepId), String(generation + 1));
  const jsm = await jetstreamManager(nc);
  const purged = await jsm.streams.purge(STREAMS.jobs, { filter: SUBJECTS.job(sweepId) });
  return purged.purged;
}

/** A dead letter: the job's bytes, why it died and its stream sequence. */
export type DeadLetter = { seq: number; reason: string; runId: string; data: Uint8Array };

export async function listDeadLetters(nc: NatsConnection, sweepId: string): Promise<DeadLetter[]> {
  const jsm = await jetstreamManager(nc);
  const info = await jsm.streams.info(STREAMS.dlq);
  const out: DeadLetter[] = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
    const m = await jsm.streams.getMessage(STREAMS.dlq, { seq }).catch(() => null);
    if (!m || m.subject !== SUBJECTS.dlq(sweepId)) continue;
    out.push({ seq, reason: m.header?.get("Dtf-Reason") ?? "", runId: m.header?.get("Dtf-Run-Id") ?? "", data: m.data });
  }
  return out;
}

/** Puts dead jobs back on the job subject (a fresh message id each time) and removes the letters. */
export async function requeueDeadLetters(nc: NatsConnection, sweepId: string): Promise<number> {
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  let n = 0;
  for (const d of await listDeadLetters(nc, sweepId)) {
    await js.publish(SUBJECTS.job(sweepId), d.data, { msgID: `${d.runId || d.seq}:requeue:${Date.now()}:${n}` });
    await jsm.streams.deleteMessage(STREAMS.dlq, d.seq);
    n++;
  }
  return n;
}
