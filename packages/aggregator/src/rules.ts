// The aggregator's rules: what a message must be before its rows are stored, as pure functions of
// the message, its sweep and what the store already holds (no NATS, no I/O; unit-tested alone).
import { type RunSpecInput, resolveRunSpec } from "@dtf/engine";
import { type Job, type MetricBatch, type RunResult, sweepTokenOf, token } from "@dtf/protocol";
import type { StoredRun } from "@dtf/store";
import { runIdOf, type SweepSpec } from "@dtf/sweep";

/** A message the aggregator refuses to store; the reason goes with its dead letter. */
export class Rejected extends Error {}

const FINISHED = new Set(["ok", "diverged"]);
export const isFinished = (status: string) => FINISHED.has(status);

/** A result as the store would read it back (non-finite numbers are stored as null). */
export const asStored = (r: RunResult): StoredRun => ({
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

/** Two copies of one result message (a redelivery): same attempt and worker, same outcome. */
const sameResult = (a: StoredRun, b: StoredRun) => a.attempt === b.attempt && a.worker_id === b.worker_id && sameOutcome(a, b);

/**
 * How many evaluations a finished run sent: every multiple of eval_every up to its last step, and
 * that last step (train() always evaluates where it stops).
 */
export function expectedEvaluations(steps: number, evalEvery: number): number {
  return Math.floor(steps / evalEvery) + 1 + (steps % evalEvery ? 1 : 0);
}

/** The subject and the payload name the same sweep. */
export function checkSubject(subject: string, sweepId: string): void {
  if (token(sweepId) !== sweepTokenOf(subject)) throw new Rejected(`the payload names sweep ${sweepId} but the subject is ${subject}`);
}

/** A metric batch belongs to a run of its sweep. */
export function checkBatchRun(batch: MetricBatch, runIds: ReadonlySet<string>): void {
  if (!runIds.has(batch.run_id)) throw new Rejected(`run ${batch.run_id} is not a run of sweep ${batch.sweep_id}`);
}

/** The job a result carries, which must be the job it answers. */
export function jobOfResult(result: RunResult): Job {
  const job = result.job;
  if (!job) throw new Rejected(`result of run ${result.run_id} carries no job`);
  if (job.sweep_id !== result.sweep_id || job.run_id !== result.run_id) throw new Rejected(`result of run ${result.run_id} answers another job (${job.run_id})`);
  return job;
}

/** A job is a run of its sweep: its id is one of the sweep's, and its point and its spec both recompute to it. */
export function checkJob(job: Job, sweep: SweepSpec, runIds: ReadonlySet<string>): void {
  if (!runIds.has(job.run_id)) throw new Rejected(`run ${job.run_id} is not a run of sweep ${job.sweep_id}`);
  let fromPoint: string;
  try {
    fromPoint = runIdOf(resolveRunSpec({ ...sweep.base, ...job.point } as RunSpecInput));
  } catch {
    fromPoint = "";
  }
  if (fromPoint !== job.run_id || runIdOf(job.spec) !== job.run_id) {
    throw new Rejected(`the point or spec sent with run ${job.run_id} is not that run's`);
  }
}

/**
 * What to do with a result, given the one already stored (or staged) for its run:
 * - `store`: nothing before it, or a failed run now finished;
 * - `duplicate`: a redelivered copy of what is stored, or a failed run that failed again (the first
 *   failure is kept);
 * - `rerun`: the job ran twice (its ack was lost in a failover: delivery is at least once) and came
 *   out the same: nothing to store, nothing wrong.
 * A result that would replace a finished run's is rejected.
 */
export function judgeResult(prior: StoredRun | null, result: RunResult): "store" | "duplicate" | "rerun" {
  if (!prior) return "store";
  const incoming = asStored(result);
  if (sameResult(prior, incoming)) return "duplicate";
  if (isFinished(prior.status) && sameOutcome(prior, incoming)) return "rerun";
  if (isFinished(prior.status)) {
    throw new Rejected(
      `run ${result.run_id} is already stored (attempt ${prior.attempt} by ${prior.worker_id}, ${prior.status}); this result (attempt ${result.attempt} by ${result.worker_id}, ${result.status}) replaces nothing`,
    );
  }
  return isFinished(result.status) ? "store" : "duplicate";
}

/** Deliveries a result waits for its metrics (METRICS_WAIT_MS apart) before it is stored without them (logged). */
export const METRICS_PATIENCE = 30;
export const METRICS_WAIT_MS = 5_000;

/**
 * Whether a finished result may be stored, given how many of its run's evaluations are stored:
 * all of them (`complete`); not yet, so it waits for them (`wait`: a dead aggregator's batches come
 * back only after its ack wait); or, after METRICS_PATIENCE deliveries, without them (`give-up`).
 */
export function metricsVerdict(storedSteps: number, expected: number, deliveryCount: number): "complete" | "wait" | "give-up" {
  if (storedSteps >= expected) return "complete";
  return deliveryCount < METRICS_PATIENCE ? "wait" : "give-up";
}
