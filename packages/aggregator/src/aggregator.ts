// The aggregator: one result store's durable consumer of DTF_RESULTS. It owns the connection side
// (consume, ack, dead letters, done markers); the rules live in rules.ts, the commits in commits.ts.
import type { RunSpec } from "@dtf/engine";
import { decodeMetricBatch, decodeRunResult, KEYS, KV_BUCKET, type MetricBatch, ProtocolError, type RunResult, STREAMS, sweepTokenOf, token } from "@dtf/protocol";
import { countKeys, deleteQueuedJobs, ensureAggregatorConsumer, ensureTopology, isWrongLastSequence, publishDeadLetter, waitForTopology } from "@dtf/protocol/nats";
import { DEFAULT_COMMIT_DELAY_MS, type ResultStore, StagingDiscardedError, StoreError } from "@dtf/store";
import { type Consumer, type JsMsg, jetstream } from "@nats-io/jetstream";
import { type KV, Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { CommitLoop } from "./commits.ts";
import {
  asStored,
  checkBatchOfFinishedRun,
  checkBatchRun,
  checkMetricPoints,
  checkSubject,
  expectedEvaluations,
  isFinished,
  jobOfResult,
  judgeResult,
  METRICS_PATIENCE,
  METRICS_WAIT_MS,
  metricsVerdict,
  Rejected,
} from "./rules.ts";
import { type KnownSweep, SweepRegistry } from "./sweeps.ts";
import { collectUndeliverable } from "./undeliverable.ts";

export type AggregatorOptions = {
  /** Stops consuming when aborted; what was received is committed and acked first. */
  signal: AbortSignal;
  /** Commit (and then ack) at least this often. @default DEFAULT_COMMIT_DELAY_MS (the store's) */
  commitEveryMs?: number;
  /** Only this sweep's messages are stored; the store's consumer skips (acks) the others. */
  sweepId?: string;
  /** Where dead letters, commit failures and warnings are reported, one line each. @default stderr */
  log?: (line: string) => void;
  /** How long a message handed back (a failed commit, a transient error) waits for its redelivery. @default 1000 */
  retryDelayMs?: number;
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

const emptyCounters = (): AggregatorCounters => ({ metricBatches: 0, points: 0, results: 0, duplicates: 0, reruns: 0, deadLettered: 0, conflicts: 0, commits: 0, failedCommits: 0 });
const defaultLog = (line: string) => void process.stderr.write(`dtf aggregate: ${line}\n`);

/** A result whose run's metric batches have not all been stored yet (they come back: not its fault). */
class MetricsPending extends Error {}

/**
 * A run whose metrics are coming in: the steps staged this life, how many off the grid, its spec,
 * and the store's `discards` when the first of them was staged (a failed commit since then may
 * have discarded them: the run counts as not open).
 */
type OpenRun = { steps: Set<number>; offGrid: number; spec: RunSpec; discards: number };

/**
 * The durable consumer of one result store (its own consumer: two stores each get every message):
 * writes metric batches and results into the store and acks each message only after the commit
 * that contains it, then marks finished runs done in KV (what resubmission and `dtf status` read).
 * It stores only messages of submitted sweeps whose subject and payload agree, runs that belong to
 * their sweep (run id recomputed from the sweep's spec), and never replaces a finished run's result:
 * everything else, and anything the store cannot hold, is dead-lettered with the reason and logged.
 * Killed at any point, it loses nothing (un-acked messages are redelivered) and duplicates nothing.
 */
export class Aggregator {
  readonly counters = emptyCounters();
  private readonly log: (line: string) => void;
  private readonly retryDelayMs: number;
  private readonly sweeps: SweepRegistry;
  private readonly commits: CommitLoop;
  private readonly versionsSeen = new Set<string>();
  /** Finished runs per sweep (known to this life), so the last one can clear the sweep's stale jobs. */
  private readonly doneCounts = new Map<string, number>();
  /** Runs with metrics staged this life, until their result is stored: their steps and spec. */
  private readonly openRuns = new Map<string, OpenRun>();

  private constructor(
    private readonly nc: NatsConnection,
    private readonly store: ResultStore,
    private readonly options: AggregatorOptions,
    private readonly kv: KV,
    private readonly consumer: Consumer,
  ) {
    this.log = options.log ?? defaultLog;
    this.retryDelayMs = options.retryDelayMs ?? 1_000;
    this.sweeps = new SweepRegistry(kv, store);
    this.commits = new CommitLoop(
      store,
      {
        markDone: (r) => this.markDone(r),
        conflict: (c) => this.reportConflict(c),
        committed: () => void this.counters.commits++,
        failed: (handedBack, why, firstOfItsKind) => {
          this.counters.failedCommits++;
          if (firstOfItsKind) this.log(`commit failed, ${handedBack} messages handed back for redelivery (retried until it succeeds): ${why}`);
        },
        markersFailed: (why) => this.log(`cannot write done markers, will retry: ${why}`),
      },
      options.commitEveryMs ?? DEFAULT_COMMIT_DELAY_MS,
      this.retryDelayMs,
    );
  }

  /** Creates the streams if needed, this store's consumer and the KV handle. */
  static async open(nc: NatsConnection, store: ResultStore, options: AggregatorOptions): Promise<Aggregator | null> {
    if (!(await waitForTopology(nc, options.signal, options.log ?? defaultLog))) return null; // stopped before any sweep was submitted
    await ensureTopology(nc);
    const consumerName = await ensureAggregatorConsumer(nc, store.id, options.sweepId);
    const kv = await new Kvm(nc).open(KV_BUCKET);
    const consumer = await jetstream(nc).consumers.get(STREAMS.results, consumerName);
    return new Aggregator(nc, store, options, kv, consumer);
  }

  /** Consumes until the signal aborts; returns the counters. */
  async run(): Promise<AggregatorCounters> {
    const collecting = collectUndeliverable(this.nc, async (line, job) => {
      this.counters.deadLettered++;
      this.log(`dead-lettered ${line}`);
      // its workers died on every delivery: the run failed (dtf status counts it so)
      if (job) await this.mark(KEYS.failed(job.sweepId, job.runId)).catch((err: Error) => this.log(`cannot mark run ${job.runId} failed: ${err.message}`));
    });
    const messages = await this.consumer.consume({ max_messages: 1000, expires: 1000 });
    this.options.signal.addEventListener("abort", () => void messages.close(), { once: true });
    try {
      for await (const m of messages) await this.handle(m);
    } finally {
      collecting.unsubscribe();
      await this.commits.close();
    }
    return this.counters;
  }

  private async handle(m: JsMsg): Promise<void> {
    if (this.options.sweepId !== undefined && sweepTokenOf(m.subject) !== token(this.options.sweepId)) {
      this.commits.pass(m); // another sweep's: this store's consumer reads them all (2.9 filters one subject)
      return;
    }
    const failuresBefore = this.commits.failures;
    try {
      const done = m.subject.startsWith("dtf.metrics.") ? await this.onMetrics(m, decodeMetricBatch(m.data)) : await this.onResult(m, decodeRunResult(m.data));
      if (this.commits.failures !== failuresBefore) {
        m.nak(this.retryDelayMs); // a commit failed while it was being staged: its rows may be gone
        return;
      }
      this.commits.hold(m, done);
    } catch (err) {
      if (err instanceof Rejected || err instanceof ProtocolError || err instanceof StoreError) await this.deadLetter(m, err.message);
      else if (err instanceof MetricsPending) m.nak(METRICS_WAIT_MS);
      else if (err instanceof StagingDiscardedError) m.nak(this.retryDelayMs); // its run's metrics come back first
      else {
        // not the message's fault (e.g. KV unreachable during a server restart): it comes back
        this.log(`cannot handle a message on ${m.subject} now, retrying: ${(err as Error).message}`);
        m.nak(this.retryDelayMs);
      }
    }
  }

  private async deadLetter(m: JsMsg, reason: string): Promise<void> {
    await publishDeadLetter(this.nc, sweepTokenOf(m.subject), m.data, `aggregator: ${reason}`, "");
    this.counters.deadLettered++;
    this.log(`dead-lettered a message on ${m.subject}: ${reason}`);
    m.term();
  }

  private async reportConflict(c: { sweep_id: string; run_id: string; table: string }): Promise<void> {
    this.counters.conflicts++;
    const reason = `aggregator: ${c.table} of run ${c.run_id} repeat stored steps with other values; the first values were kept`;
    this.log(reason);
    // a report, not data: the first values are committed either way
    await publishDeadLetter(this.nc, c.sweep_id, new Uint8Array(), reason, c.run_id).catch((err: Error) => this.log(`cannot publish that dead letter: ${err.message}`));
  }

  /** Creates a marker key; false when it exists (a redelivery, another store marked it first). */
  private async mark(key: string): Promise<boolean> {
    return this.kv.create(key, "1").then(
      () => true,
      (err: unknown) => {
        if (isWrongLastSequence(err)) return false;
        throw err;
      },
    );
  }

  /**
   * After the commit that stored it: a failed run gets its `failed` marker; a finished one its
   * `diverged` marker when it diverged, `recovered` when it had failed before, and last its `done`
   * key (what submit and status read), so a status that counts it done counts its outcome too. The
   * last run of a sweep also clears the sweep's leftover job messages.
   */
  private async markDone(r: RunResult): Promise<void> {
    if (r.status === "failed") {
      await this.mark(KEYS.failed(r.sweep_id, r.run_id));
      return;
    }
    if (r.status === "diverged") await this.mark(KEYS.diverged(r.sweep_id, r.run_id));
    if ((await this.kv.get(KEYS.failed(r.sweep_id, r.run_id)))?.operation === "PUT") await this.mark(KEYS.recovered(r.sweep_id, r.run_id));
    if (!(await this.mark(KEYS.done(r.sweep_id, r.run_id)))) return;
    const known = await this.sweeps.get(r.sweep_id);
    const before = this.doneCounts.get(r.sweep_id);
    const count = before === undefined ? await countKeys(this.nc, KEYS.donePrefix(r.sweep_id)) : before + 1;
    this.doneCounts.set(r.sweep_id, count);
    if (count >= known.info.total_runs) {
      // every run is done: a job message still in the queue is one whose ack the server lost (e.g. it was killed)
      await deleteQueuedJobs(this.nc, r.sweep_id);
    }
  }

  /** Whether the run's result is stored (or staged) finished; staged rows are committed first, so the store can tell. */
  private async isFinishedRun(key: string, sweepId: string, runId: string): Promise<boolean> {
    const staged = this.commits.stagedRun(key);
    if (staged) {
      if (!isFinished(staged.status)) return false;
      await this.commits.commit().catch(() => undefined); // its steps become countable
      return true;
    }
    return isFinished((await this.store.storedRun(sweepId, runId))?.status ?? "");
  }

  /** The sweep of a message, after checking that the subject and the payload name the same one. */
  private sweepOf(m: JsMsg, sweepId: string): Promise<KnownSweep> {
    checkSubject(m.subject, sweepId);
    return this.sweeps.get(sweepId);
  }

  private async onMetrics(m: JsMsg, batch: MetricBatch): Promise<null> {
    const known = await this.sweepOf(m, batch.sweep_id);
    const run = checkBatchRun(batch, known.runs);
    const key = `${batch.sweep_id}/${batch.run_id}`;
    let open = this.openRun(key);
    const spec = open?.spec ?? run.spec;
    checkMetricPoints(batch, spec, open?.offGrid ?? 0);
    if (!open) {
      // the run's first batch in this life: a run stored finished takes no new step (a redelivery
      // passes, and keep-first stores nothing of it but reports other values)
      if (await this.isFinishedRun(key, batch.sweep_id, batch.run_id)) {
        checkBatchOfFinishedRun(batch, await this.store.metricStepsOf(batch.sweep_id, batch.run_id));
        await this.store.stageMetrics(batch);
        this.counters.metricBatches++;
        return null;
      }
      open = { steps: new Set(), offGrid: 0, spec, discards: this.store.discards };
    }
    await this.store.stageMetrics(batch); // its rows join the staged ones at once (no commit between)
    for (const p of batch.points) {
      if (!open.steps.has(p.step) && p.step % open.spec.eval_every !== 0) open.offGrid++;
      open.steps.add(p.step);
    }
    this.openRuns.set(key, open);
    this.counters.metricBatches++;
    this.counters.points += batch.points.length;
    return null;
  }

  /** The run's metrics staged this life, unless a failed commit may have discarded them since. */
  private openRun(key: string): OpenRun | undefined {
    const open = this.openRuns.get(key);
    if (open?.discards === this.store.discards) return open;
    this.openRuns.delete(key);
    return undefined;
  }

  /**
   * Stages a result, or says why not (see judgeResult). Returns the result when its run is
   * finished (its done marker follows the commit).
   */
  private async onResult(m: JsMsg, result: RunResult): Promise<RunResult | null> {
    const job = jobOfResult(result);
    const known = await this.sweepOf(m, result.sweep_id);
    await this.sweeps.checkJob(job);
    const key = `${result.sweep_id}/${result.run_id}`;
    const prior = this.commits.stagedRun(key) ?? (await this.store.storedRun(result.sweep_id, result.run_id));
    const finished = isFinished(result.status) ? result : null;
    // what gets an outcome marker after the commit: finished runs, and failed ones
    const marked = finished ?? (result.status === "failed" ? result : null);
    switch (judgeResult(prior, result)) {
      case "duplicate":
        // e.g. stored by an earlier life of this aggregator that may have died before writing the done marker
        this.counters.duplicates++;
        return marked;
      case "rerun":
        this.counters.reruns++;
        return finished;
      case "store":
        break;
    }
    const discardsBefore = finished ? await this.waitForMetrics(m, result, key) : undefined;
    this.openRuns.delete(key);
    await this.store.stageResult(job, result, job.run_index, discardsBefore); // checked against its run id above
    this.commits.noteStaged(key, asStored(result));
    this.counters.results++;
    this.warnOfVersion(result, known);
    return marked;
  }

  /**
   * A finished result is stored only once every evaluation its run sent is: a run marked done has
   * all its metrics. They normally come first (the worker publishes them before the result); after
   * a crash, batches the dead aggregator held come back only after its ack wait, so the result
   * waits (nak) for them; after a commit, the store's own count decides. When the staged (not yet
   * committed) steps decide, returns the store's `discards` they count on: the result is staged
   * only if no failed commit discarded them meanwhile.
   */
  private async waitForMetrics(m: JsMsg, result: RunResult, key: string): Promise<number | undefined> {
    const job = result.job!;
    const expected = expectedEvaluations(result.steps, job.spec.eval_every);
    const open = this.openRun(key);
    if (open && open.steps.size >= expected) return open.discards;
    this.store.checkResult(job, result); // a result no column can hold is refused at once, not kept waiting
    // the staged rows become countable (a failed commit hands this message back too, via `failures`)
    await this.commits.commit().catch(() => undefined);
    const stored = await this.store.countMetricSteps(result.sweep_id, result.run_id);
    const verdict = metricsVerdict(stored, expected, m.info.deliveryCount);
    if (verdict === "wait") throw new MetricsPending(`run ${result.run_id}: waiting for its metrics`);
    if (verdict === "give-up") {
      this.log(`run ${result.run_id} is stored with fewer than its ${expected} evaluations (its metrics did not come in ${METRICS_PATIENCE} deliveries)`);
    }
    return undefined; // the committed steps decide: no failed commit can take them
  }

  private warnOfVersion(result: RunResult, known: KnownSweep): void {
    const version = `${result.sweep_id} ${result.code_version}`;
    if (result.code_version === known.info.code_version || this.versionsSeen.has(version)) return;
    this.versionsSeen.add(version);
    this.log(`warning: sweep ${result.sweep_id} was submitted by code version ${known.info.code_version}; worker ${result.worker_id} runs ${result.code_version} (recorded per run)`);
  }
}

/** Runs the aggregator of `store` until the signal aborts (see Aggregator). */
export async function runAggregator(nc: NatsConnection, store: ResultStore, options: AggregatorOptions): Promise<AggregatorCounters> {
  const aggregator = await Aggregator.open(nc, store, options);
  return aggregator ? aggregator.run() : emptyCounters();
}
