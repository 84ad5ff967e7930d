// Cluster mode's coordinator: submit a sweep, its status, cancel, and the dead letters.
import { CONSUMERS, codeVersion, DLQ_HEADERS, decodeJob, decodeSweepRecord, encodeJob, encodeSweepRecord, KEYS, KV_BUCKET, STREAMS, SUBJECTS, type SweepInfo, UnknownSweepError } from "@dtf/protocol";
import {
  countKeys,
  deleteQueuedJobs,
  doneRunIds,
  ensureTopology,
  keyIsSet,
  messagesOnSubject,
  nextOnSubject,
  type TopologyOptions,
  topologyExists,
  whileClusterRecovers,
} from "@dtf/protocol/nats";
import { canonicalJson, expandRuns, type LoadedSweep, type PlannedRun, runAtIfNamed, type SweepSpec, sweepIdOf } from "@dtf/sweep";
import { jetstream, jetstreamManager, type PubAck } from "@nats-io/jetstream";
import { type KV, Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";

/** Publishes in flight at once while submitting (pipelined acks). */
const WINDOW = 512;

/**
 * Done runs up to which submit lists their ids into a set (one pass over the keys); beyond, it asks
 * for each run's done key as it goes, so its memory stays flat in the sweep's size (~10 MB here).
 */
export const DONE_SET_MAX = 100_000;

/** How to submit: the topology's settings, should it be created now, and `doneSetMax` (tests). */
export type SubmitOptions = TopologyOptions & { doneSetMax?: number };

/** A sweep id the server does not know (never submitted there); the CLI exits 2. */
export { UnknownSweepError };

/**
 * What a submit did. `published`: jobs the server stored; `alreadyQueued`: jobs it dropped as
 * duplicates of ones still in its duplicate window (another submit of the sweep at the same time);
 * `skipped`: runs already done; `replaced`: jobs an earlier submit had left queued, cleared first.
 */
export type SubmitSummary = { sweepId: string; total: number; published: number; alreadyQueued: number; skipped: number; replaced: number };

/** The KV bucket, or an UnknownSweepError when nothing was ever submitted to this server. */
async function sweepsBucket(nc: NatsConnection, sweepId: string): Promise<KV> {
  if (!(await topologyExists(nc))) throw new UnknownSweepError(`no sweep ${sweepId} on this server (nothing was submitted to it yet)`);
  return new Kvm(nc).open(KV_BUCKET);
}

async function sweepRecord(kv: KV, sweepId: string): Promise<SweepInfo> {
  const record = await kv.get(KEYS.sweep(sweepId));
  if (record?.operation !== "PUT") throw new UnknownSweepError(`no sweep ${sweepId} on this server`);
  return decodeSweepRecord(record.value, sweepId);
}

/**
 * Records the sweep in KV and publishes one job per run not finished yet. The message id is the
 * sweep, the run and the cancel generation: submitting the same sweep twice never queues a run
 * twice within the stream's duplicate window, while another sweep that shares run specs gets its
 * own jobs. The summary counts what the server stored, not what was sent. Validation happened
 * before: a bad spec never reaches this function.
 */
export async function submitSweep(nc: NatsConnection, loaded: LoadedSweep, options: SubmitOptions = {}): Promise<SubmitSummary> {
  const { doneSetMax = DONE_SET_MAX, ...topology } = options;
  await ensureTopology(nc, topology);
  const { sweep, sweepId, count } = loaded;
  const kv = await new Kvm(nc).open(KV_BUCKET);
  const info: SweepInfo = { sweep_id: sweepId, name: sweep.name, spec_json: canonicalJson(sweep), total_runs: count, code_version: codeVersion(), created_ms: Date.now() };
  const previous = await kv.get(KEYS.sweep(sweepId));
  if (previous?.operation === "PUT") info.created_ms = decodeSweepRecord(previous.value, sweepId).created_ms;
  await kv.put(KEYS.sweep(sweepId), encodeSweepRecord(info));
  await kv.delete(KEYS.cancel(sweepId));
  const { generation, replaced } = await replaceQueuedJobs(nc, kv, sweepId);
  const isDone = await doneCheck(nc, kv, sweepId, doneSetMax);
  const js = jetstream(nc);
  const subject = SUBJECTS.job(sweepId);
  const summary: SubmitSummary = { sweepId, total: count, published: 0, alreadyQueued: 0, skipped: 0, replaced };
  const tally = (ack: PubAck) => {
    if (ack.duplicate) summary.alreadyQueued++;
    else summary.published++;
  };
  const submit = async (run: PlannedRun) => {
    if (await isDone(run.runId)) {
      summary.skipped++;
      return;
    }
    const job = encodeJob({ sweep_id: sweepId, run_id: run.runId, run_index: run.index, attempt: 1, spec: run.spec, point: run.point });
    tally(await js.publish(subject, job, { msgID: `${sweepId}:${run.runId}:g${generation}` }));
  };
  let pending: Promise<void>[] = [];
  for (const run of expandRuns(sweep)) {
    pending.push(submit(run));
    if (pending.length >= WINDOW) {
      await Promise.all(pending);
      pending = [];
    }
  }
  await Promise.all(pending);
  return summary;
}

/**
 * Clears the jobs an earlier submit of the sweep left queued, so that this one replaces them
 * rather than doubles them: past the stream's duplicate window (10 minutes) their message ids no
 * longer stop a second copy. A work queue keeps a job until its ack, so the jobs in flight go too
 * and are queued again: at most one run per worker thread trains twice (the aggregator takes the
 * same outcome twice as a rerun). Returns the generation for the new jobs' message ids: a new one
 * when jobs were cleared, as their ids stay in the duplicate window, and how many were cleared.
 */
async function replaceQueuedJobs(nc: NatsConnection, kv: KV, sweepId: string): Promise<{ generation: number; replaced: number }> {
  const generation = Number((await kv.get(KEYS.generation(sweepId)))?.string() || 0);
  const queued = await messagesOnSubject(await jetstreamManager(nc), STREAMS.jobs, SUBJECTS.job(sweepId));
  if (queued === 0) return { generation, replaced: 0 };
  await kv.put(KEYS.generation(sweepId), String(generation + 1));
  return { generation: generation + 1, replaced: await deleteQueuedJobs(nc, sweepId) };
}

/**
 * Whether a run of the sweep is done: from a set of the done ids when there are few, else asked per
 * run. Both come from the bucket's stream leader: a replica catching up after a restart would answer
 * "not done" for finished runs, and they would be queued again. A bucket with one copy has no
 * replica to be behind: its direct gets are faster (115 s against 175 s for 10⁶ runs).
 */
async function doneCheck(nc: NatsConnection, kv: KV, sweepId: string, setMax: number): Promise<(runId: string) => boolean | Promise<boolean>> {
  const count = await countKeys(nc, KEYS.donePrefix(sweepId));
  if (count === 0) return () => false;
  if (count <= setMax) {
    const done = await doneRunIds(nc, sweepId);
    return (runId) => done.has(runId);
  }
  if ((await kv.status()).replicas <= 1) return async (runId) => (await kv.get(KEYS.done(sweepId, runId)))?.operation === "PUT";
  return (runId) => keyIsSet(nc, KEYS.done(sweepId, runId));
}

export type SweepStatus = {
  sweepId: string;
  total: number;
  /** Runs stored finished (ok + diverged). */
  done: number;
  ok: number;
  diverged: number;
  /** Runs whose last attempt failed (dead-lettered) and that have not finished since. */
  failed: number;
  queued: number;
  running: number;
  /** Dead letters of the sweep: failed jobs, and refused messages (forgeries, conflicts). */
  dead: number;
  cancelled: boolean;
  /** Nothing queued or running and every run accounted for: done, or failed. */
  finished: boolean;
  /** Milliseconds left at the pace since the sweep was submitted; null before the first run is done, and once cancelled or finished. */
  etaMs: number | null;
};

/**
 * Runs by outcome (the aggregator's markers in KV, counted by the server), queued (in the job
 * stream), dead letters, and the rest running. Read-only, so asked again while a cluster elects a
 * leader rather than failing. Nothing that grows with the sweep crosses the wire (the server's
 * count scans the keys: 0.3 s at 10⁶ done runs on nats-server 2.10, docs/performance.md).
 */
export function sweepStatus(nc: NatsConnection, sweepId: string): Promise<SweepStatus> {
  return whileClusterRecovers(() => readSweepStatus(nc, sweepId));
}

async function readSweepStatus(nc: NatsConnection, sweepId: string): Promise<SweepStatus> {
  const kv = await sweepsBucket(nc, sweepId);
  const info = await sweepRecord(kv, sweepId);
  const jsm = await jetstreamManager(nc);
  const count = (stream: string, subject: string) => messagesOnSubject(jsm, stream, subject);
  const [done, diverged, failedEver, recovered] = await Promise.all(
    (["done", "diverged", "failed", "recovered"] as const).map((outcome) => countKeys(nc, KEYS.outcomePrefix(outcome, sweepId))),
  );
  const failed = Math.max(0, failedEver - recovered);
  const dead = await count(STREAMS.dlq, SUBJECTS.dlq(sweepId));
  // A work-queue message stays in the stream until acked: the sweep's subject count is queued +
  // in flight. In flight = the workers' unacked deliveries (exact while one sweep runs at a time).
  // Neither can exceed the runs not done: a message whose ack the server lost is stale. (A failed
  // run requeued is queued again, and failed until it finishes.)
  const notDone = Math.max(0, info.total_runs - done);
  const inStream = Math.min(await count(STREAMS.jobs, SUBJECTS.job(sweepId)), notDone);
  const consumer = await jsm.consumers.info(STREAMS.jobs, CONSUMERS.workers).catch(() => null);
  const running = Math.min(inStream, consumer?.num_ack_pending ?? 0);
  const cancelled = (await kv.get(KEYS.cancel(sweepId)))?.operation === "PUT";
  const finished = inStream === 0 && done + failed >= info.total_runs;
  const left = Math.max(0, notDone - failed);
  const etaMs = done > 0 && !cancelled && !finished ? ((Date.now() - info.created_ms) / done) * left : null;
  return { sweepId, total: info.total_runs, done, ok: done - diverged, diverged, failed, queued: inStream - running, running, dead, cancelled, finished, etaMs };
}

/** Flags the sweep cancelled (workers skip its jobs) and removes its queued jobs; submit resumes it. */
export async function cancelSweep(nc: NatsConnection, sweepId: string): Promise<number> {
  const kv = await sweepsBucket(nc, sweepId);
  await sweepRecord(kv, sweepId);
  await kv.put(KEYS.cancel(sweepId), "1");
  // Jobs purged now keep their ids in the duplicate window: a resubmission must use fresh ones.
  const generation = Number((await kv.get(KEYS.generation(sweepId)))?.string() || 0);
  await kv.put(KEYS.generation(sweepId), String(generation + 1));
  return deleteQueuedJobs(nc, sweepId);
}

/** A dead letter: the message's bytes, why it died and its stream sequence. */
export type DeadLetter = { seq: number; reason: string; runId: string; data: Uint8Array };

/** Dead letters `listDeadLetters` returns at most, unless asked for more. */
export const DEAD_LETTER_PAGE = 1_000;

/**
 * The sweep's dead letters, oldest first, at most `limit` of them, and how many it has in all.
 * Each is fetched as the next message on the sweep's own subject (`next_by_subj`), so other
 * sweeps' letters, however many, cost nothing.
 */
export async function listDeadLetters(nc: NatsConnection, sweepId: string, limit = DEAD_LETTER_PAGE): Promise<{ letters: DeadLetter[]; total: number }> {
  const kv = await sweepsBucket(nc, sweepId);
  await sweepRecord(kv, sweepId);
  const jsm = await jetstreamManager(nc);
  const subject = SUBJECTS.dlq(sweepId);
  const total = await messagesOnSubject(jsm, STREAMS.dlq, subject);
  const letters: DeadLetter[] = [];
  for (let seq = 1; letters.length < Math.min(limit, total); ) {
    const m = await nextOnSubject(jsm, STREAMS.dlq, subject, seq);
    if (!m) break; // the rest went meanwhile (discarded as the oldest, or requeued)
    letters.push({ seq: m.seq, reason: m.header?.get(DLQ_HEADERS.reason) ?? "", runId: m.header?.get(DLQ_HEADERS.runId) ?? "", data: m.data });
    seq = m.seq + 1;
  }
  return { letters, total };
}

export type RequeueSummary = { requeued: number; kept: number; refused: number };

/**
 * Puts the sweep's dead jobs back on its job subject, each rebuilt from the sweep's own record
 * (the run at the letter's index, which must carry the letter's run id; spec and point are
 * recomputed), never from the letter's bytes: a letter is anyone's to write who may publish dead
 * letters (a worker), and a forged job must not reach the workers. A letter naming no run of the
 * sweep is `refused` and stays; letters that are not jobs (a refused result, a conflict report) are
 * `kept`: records, not work. A run's letters go back as one job. Memory grows with the letters,
 * not with the sweep.
 */
export async function requeueDeadLetters(nc: NatsConnection, sweepId: string): Promise<RequeueSummary> {
  const kv = await sweepsBucket(nc, sweepId);
  const sweep = sweepSpecOf(await sweepRecord(kv, sweepId), sweepId);
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  const out: RequeueSummary = { requeued: 0, kept: 0, refused: 0 };
  const byRun = new Map<string, { run: PlannedRun; seqs: number[] }>();
  const { letters } = await listDeadLetters(nc, sweepId, Number.MAX_SAFE_INTEGER);
  for (const d of letters) {
    const named = deadJobOf(d, sweepId);
    if (named === null) {
      out.kept++;
      continue;
    }
    const run = runAtIfNamed(sweep, named.runId, named.index);
    if (!run) out.refused++;
    else byRun.set(run.runId, { run, seqs: [...(byRun.get(run.runId)?.seqs ?? []), d.seq] });
  }
  for (const { run, seqs } of byRun.values()) {
    const job = { sweep_id: sweepId, run_id: run.runId, run_index: run.index, attempt: 1, spec: run.spec, point: run.point };
    await js.publish(SUBJECTS.job(sweepId), encodeJob(job), { msgID: `${run.runId}:requeue:${Date.now()}` });
    for (const seq of seqs) await jsm.streams.deleteMessage(STREAMS.dlq, seq);
    out.requeued++;
  }
  return out;
}

/** The run a dead job letter names (its header, else its decoded job) and its index, or null for a letter that is no job. */
function deadJobOf(d: DeadLetter, sweepId: string): { runId: string; index: number } | null {
  try {
    const job = decodeJob(d.data);
    return job.sweep_id === sweepId ? { runId: d.runId || job.run_id, index: job.run_index } : null;
  } catch {
    return null; // not a job (or one whose spec is not even valid): a record
  }
}

/** The sweep spec a record holds, checked against its id. */
function sweepSpecOf(info: SweepInfo, sweepId: string): SweepSpec {
  const sweep = JSON.parse(info.spec_json) as SweepSpec;
  if (sweepIdOf(sweep) !== sweepId) throw new UnknownSweepError(`the record of sweep ${sweepId} holds another sweep's spec`);
  return sweep;
}
