import {
  decodeMetricBatch,
  decodeRunResult,
  type Job,
  KEYS,
  KV_BUCKET,
  type MetricBatch,
  ProtocolError,
  type RunResult,
  STREAMS,
  sweepTokenOf,
  token,
} from "@dtf/protocol";
import { deleteQueuedJobs, doneRunIds, ensureAggregatorConsumer, ensureTopology, publishDeadLetter } from "@dtf/protocol/nats";
import { type ResultStore, type StoredRun, StoreError } from "@dtf/store";
import { type JsMsg, jetstream, } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { type KnownSweep, Rejected, SweepRegistry } from "./sweeps.ts";
import { collectUndeliverable } from "./undeliverable.ts";

export type AggregatorOptions = {
  /** Stops consuming when aborted; what was received is committed and acked first. */
  signal: AbortSignal;
  /** Commit (and then ack) at least this often. @default 200 */
  commitEveryMs?: number;
  /** Only this sweep's messages are stored; the store's consumer skips (acks) the others. */
  sweepId?: string;
  /** Where dead letters, commit failures and warnings are reported, one line each. @default stderr */
  log?: (line: string) => void;
};

export type AggregatorCounters = {
  metricBatches: number;
  points: number;
  results: number;
  duplicates: number;
  /** Finished runs computed again by another attempt, with the stored outcome (acked, not stored). */
  reruns: number;
  deadLettered: number;
  conflicts: number;
  commits: number;
  failedCommits: number;
};

const FINISHED = new Set(["ok", "diverged"]);

/** A result as the store would read it back (non-finite numbers are stored as null). */
const asStored = (r: RunResult): StoredRun => ({
  status: r.status,
  stop_reason: r.stop_reason,
  attempt: r.attempt,
  worker_id: r.worker_id,
  steps: r.steps,
  train_loss: finiteOrNull(r.final?.train_loss),
  recon_error: finiteOrNull(r.final?.recon_error),
});
const finiteOrNull = (x: number | undefined) => (x !== undefined && Number.isFinite(x) ? x : null);

/** The same outcome and numbers: a training is deterministic, so two runs of one job agree on these. */
const sameOutcome = (a: StoredRun, b: StoredRun) =>
  a.status === b.status && a.stop_reason === b.stop_reason && a.steps === b.steps && a.train_loss === b.train_loss && a.recon_error === b.recon_error;

/**
 * How many evaluations a finished run sent: every multiple of eval_every up to its last step, and
 * that last step (train() always evaluates where it stops).
 */
export function expectedEvaluations(steps: number, evalEvery: number): number {
  return Math.floor(steps / evalEvery) + 1 + (steps % evalEvery ? 1 : 0);
}

/** A result whose run's metric batches have not all been stored yet (they come back: not its fault). */
class MetricsPending extends Error {}

/** Deliveries a result waits for its metrics (METRICS_WAIT_MS apart) before it is stored without them (logged). */
const METRICS_PATIENCE = 30;
const METRICS_WAIT_MS = 5_000;

/** Two copies of one result message (a redelivery): same attempt and worker, same outcome. */
const sameResult = (a: StoredRun, b: StoredRun) => a.attempt === b.attempt && a.worker_id === b.worker_id && sameOutcome(a, b);

/**
 * The durable consumer of one result store (its own consumer: two stores each get every message):
 * writes metric batches and results into the store and acks each message only after the commit
 * that contains it, then marks finished runs done in KV (what resubmission and `dtf status` read).
 * It stores only messages of submitted sweeps whose subject and payload agree, runs that belong to
 * their sweep (run id recomputed from the sweep's spec), and never replaces a finished run's result:
 * everything else, and anything the store cannot hold, is dead-lettered with the reason and logged.
 * Killed at any point, it loses nothing (un-acked messages are redelivered) and duplicates nothing.
 */
export async function runAggregator(nc: NatsConnection, store: ResultStore, options: AggregatorOptions): Promise<AggregatorCounters> {
  const log = options.log ?? ((line: string) => process.stderr.write(`dtf aggregate: ${line}\n`));
  await ensureTopology(nc);
  const consumerName = await ensureAggregatorConsumer(nc, store.id, options.sweepId);
  const js = jetstream(nc);
  const kv = await new Kvm(nc).open(KV_BUCKET);
  const sweeps = new SweepRegistry(kv, store);
  const consumer = await js.consumers.get(STREAMS.results, consumerName);
  const counters: AggregatorCounters = { metricBatches: 0, points: 0, results: 0, duplicates: 0, reruns: 0, deadLettered: 0, conflicts: 0, commits: 0, failedCommits: 0 };
  const versionsSeen = new Set<string>();
  let received: JsMsg[] = [];
  let finished: RunResult[] = [];
  /** Results staged since the last commit, by sweep/run: a second one in the same commit is checked against it. */
  let staged = new Map<string, StoredRun>();
  let committing: Promise<void> = Promise.resolve();
  let lastFailure = "";
  /** Failed commits so far: a message staged across a failed commit lost its rows and is handed back. */
  let failures = 0;

  const deadLetter = async (m: JsMsg, reason: string, runId = "") => {
    await publishDeadLetter(nc, sweepTokenOf(m.subject), m.data, `aggregator: ${reason}`, runId);
    counters.deadLettered++;
    log(`dead-lettered a message on ${m.subject}: ${reason}`);
    m.term();
  };

  const commit = () => {
    const run = committing.then(async () => {
      const msgs = received;
      const results = finished;
      received = [];
      finished = [];
      staged = new Map();
      if (msgs.length === 0 && results.length === 0) return;
      try {
        await store.commit();
      } catch (err) {
        // e.g. a full disk: the store discarded what was staged, so every message whose rows were
        // staged goes back for redelivery (and is staged again), including those still in flight
        failures++;
        const handedBack = [...msgs, ...received];
        received = [];
        finished = []; // their done markers come back with them
        for (const m of handedBack) m.nak(1_000);
        counters.failedCommits++;
        const why = (err as Error).message;
        if (why !== lastFailure) log(`commit failed, ${handedBack.length} messages handed back for redelivery (retried until it succeeds): ${why}`);
        lastFailure = why;
        throw err;
      }
      lastFailure = "";
      counters.commits++;
      for (const c of store.takeConflicts()) {
        counters.conflicts++;
        const reason = `aggregator: ${c.table} of run ${c.run_id} repeat stored steps with other values; the first values were kept`;
        log(reason);
        // a report, not data: the first values are committed either way
        await publishDeadLetter(nc, c.sweep_id, new Uint8Array(), reason, c.run_id).catch((err: Error) => log(`cannot publish that dead letter: ${err.message}`));
      }
      try {
        for (const r of results) await markDone(r);
      } catch (err) {
        // the rows are committed; hold the messages and retry the markers with the next commit
        received = [...msgs, ...received];
        finished = [...results, ...finished];
        log(`cannot write done markers, will retry: ${(err as Error).message}`);
        throw err;
      }
      for (const m of msgs) m.ack();
    });
    committing = run.catch(() => undefined); // one failed commit must not stop the later ones
    return run;
  };
  const timer = setInterval(() => void commit().catch(() => undefined), options.commitEveryMs ?? 200);
  const collecting = collectUndeliverable(nc, (line) => {
    counters.deadLettered++;
    log(`dead-lettered ${line}`);
  });

  /** Writes the run's done key; the last run of a sweep also clears the sweep's leftover job messages. */
  const doneCounts = new Map<string, number>();
  const markDone = async (r: RunResult) => {
    const key = KEYS.done(r.sweep_id, r.run_id);
    const isNew = await kv.create(key, "1").then(
      () => true,
      (err: Error) => {
        if (/wrong last sequence/i.test(err.message)) return false; // marked before (a redelivery, another store)
        throw err;
      },
    );
    if (!isNew) return;
    const known = await sweeps.get(r.sweep_id);
    let count = doneCounts.get(r.sweep_id);
    count = count === undefined ? (await doneRunIds(kv, r.sweep_id)).size : count + 1;
    doneCounts.set(r.sweep_id, count);
    if (count >= known.info.total_runs) {
      // every run is done: a job message still in the queue is one whose ack the server lost (e.g. it was killed)
      await deleteQueuedJobs(nc, r.sweep_id);
    }
  };

  /** The sweep of a message, after checking that the subject and the payload name the same one. */
  const sweepOf = async (m: JsMsg, sweepId: string): Promise<KnownSweep> => {
    if (token(sweepId) !== sweepTokenOf(m.subject)) throw new Rejected(`the payload names sweep ${sweepId} but the subject is ${m.subject}`);
    return sweeps.get(sweepId);
  };

  /** Distinct metric steps staged per run (this life), until its result is stored. */
  const metricSteps = new Map<string, Set<number>>();

  /**
   * A finished result is stored only once every evaluation its run sent is: a run marked done
   * has all its metrics. They normally come first (the worker publishes them before the result);
   * after a crash, batches the dead aggregator held come back only after its ack wait, so the
   * result waits (nak) for them — after a commit, the store's own count decides.
   */
  const checkMetricsComplete = async (m: JsMsg, result: RunResult, job: Job, key: string) => {
    const expected = expectedEvaluations(result.steps, job.spec.eval_every);
    if ((metricSteps.get(key)?.size ?? 0) >= expected) return;
    store.checkResult(job, result); // a result no column can hold is refused at once, not kept waiting
    // the staged rows become countable (a failed commit hands this message back too, via `failures`)
    await commit().catch(() => undefined);
    if ((await store.countMetricSteps(result.sweep_id, result.run_id)) >= expected) return;
    if (m.info.deliveryCount < METRICS_PATIENCE) throw new MetricsPending(`run ${result.run_id}: waiting for its metrics`);
    log(`run ${result.run_id} is stored with fewer than its ${expected} evaluations (its metrics did not come in ${METRICS_PATIENCE} deliveries)`);
  };

  const onMetrics = async (m: JsMsg, batch: MetricBatch) => {
    const known = await sweepOf(m, batch.sweep_id);
    if (!known.runIds.has(batch.run_id)) throw new Rejected(`run ${batch.run_id} is not a run of sweep ${batch.sweep_id}`);
    await store.stageMetrics(batch);
    const key = `${batch.sweep_id}/${batch.run_id}`;
    const steps = metricSteps.get(key) ?? new Set<number>();
    for (const p of batch.points) steps.add(p.step);
    metricSteps.set(key, steps);
    counters.metricBatches++;
    counters.points += batch.points.length;
    return null;
  };

  /**
   * Stages a result, or says why not: a redelivered copy is acked; a conflicting one is rejected.
   * Returns the result when its run is finished (its done marker follows the commit).
   */
  const onResult = async (m: JsMsg, result: RunResult): Promise<RunResult | null> => {
    const job = result.job;
    if (!job) throw new Rejected(`result of run ${result.run_id} carries no job`);
    if (job.sweep_id !== result.sweep_id || job.run_id !== result.run_id) throw new Rejected(`result of run ${result.run_id} answers another job (${job.run_id})`);
    const known = await sweepOf(m, result.sweep_id);
    await sweeps.checkJob(job);
    const key = `${result.sweep_id}/${result.run_id}`;
    const prior = staged.get(key) ?? (await store.storedRun(result.sweep_id, result.run_id));
    if (prior) {
      if (sameResult(prior, asStored(result))) {
        // stored by an earlier life of this aggregator that may have died before writing the done marker
        counters.duplicates++;
        return FINISHED.has(result.status) ? result : null;
      }
      if (FINISHED.has(prior.status) && sameOutcome(prior, asStored(result))) {
        // the job ran twice (its ack or heartbeats were lost in a failover: delivery is at least
        // once) and came out the same: nothing to store, nothing wrong
        counters.reruns++;
        return FINISHED.has(result.status) ? result : null;
      }
      if (FINISHED.has(prior.status)) {
        throw new Rejected(
          `run ${result.run_id} is already stored (attempt ${prior.attempt} by ${prior.worker_id}, ${prior.status}); this result (attempt ${result.attempt} by ${result.worker_id}, ${result.status}) replaces nothing`,
        );
      }
      if (!FINISHED.has(result.status)) {
        counters.duplicates++; // a failed run that failed again: the first failure is kept
        return null;
      }
    }
    if (FINISHED.has(result.status)) await checkMetricsComplete(m, result, job, key);
    metricSteps.delete(key);
    await store.stageResult(job, result);
    staged.set(key, asStored(result));
    counters.results++;
    const version = `${result.sweep_id} ${result.code_version}`;
    if (result.code_version !== known.info.code_version && !versionsSeen.has(version)) {
      versionsSeen.add(version);
      log(`warning: sweep ${result.sweep_id} was submitted by code version ${known.info.code_version}; worker ${result.worker_id} runs ${result.code_version} (recorded per run)`);
    }
    return FINISHED.has(result.status) ? result : null;
  };

  const messages = await consumer.consume({ max_messages: 1000, expires: 1000 });
  options.signal.addEventListener("abort", () => void messages.close(), { once: true });
  try {
    for await (const m of messages) {
      if (options.sweepId !== undefined && sweepTokenOf(m.subject) !== token(options.sweepId)) {
        received.push(m); // another sweep's: this store's consumer reads them all (2.9 filters one subject)
        continue;
      }
      const failuresBefore = failures;
      try {
        const done = m.subject.startsWith("dtf.metrics.") ? await onMetrics(m, decodeMetricBatch(m.data)) : await onResult(m, decodeRunResult(m.data));
        if (failures !== failuresBefore) {
          m.nak(1_000); // a commit failed while it was being staged: its rows may be gone
          continue;
        }
        // together, with no await between: a commit takes a message and its done marker or neither
        received.push(m);
        if (done) finished.push(done);
      } catch (err) {
        if (err instanceof Rejected || err instanceof ProtocolError || err instanceof StoreError) await deadLetter(m, err.message);
        else if (err instanceof MetricsPending) m.nak(METRICS_WAIT_MS);
        else {
          // not the message's fault (e.g. KV unreachable during a server restart): it comes back
          log(`cannot handle a message on ${m.subject} now, retrying: ${(err as Error).message}`);
          m.nak(1_000);
        }
      }
    }
  } finally {
    clearInterval(timer);
    collecting.unsubscribe();
    await commit().catch(() => undefined);
  }
  return counters;
}
