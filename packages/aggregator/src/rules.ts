// The aggregator's rules: what a message must be before its rows are stored, as pure functions of
// the message, its sweep and what the store already holds (no NATS, no I/O; unit-tested alone).
import { componentCount, type RunSpec, type RunSpecInput, resolveRunSpec } from "@dtf/engine";
import { type Job, type MetricBatch, type RunResult, sweepTokenOf, token } from "@dtf/protocol";
import type { StoredRun } from "@dtf/store";
import { axesOf, type PlannedRun, runIdOf, type SweepSpec } from "@dtf/sweep";

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

/** A sweep's runs, looked up by id and position (`SweepRuns`). */
export type RunsOfSweep = { find(runId: string, index: number): PlannedRun | null };

/** The run a message names: the one at its index, which must carry its id. */
function runNamed(runs: RunsOfSweep, sweepId: string, runId: string, index: number): PlannedRun {
  const run = runs.find(runId, index);
  if (!run) throw new Rejected(`run ${runId} is not a run of sweep ${sweepId} (not the run at index ${index})`);
  return run;
}

/** A metric batch belongs to a run of its sweep; returns that run. */
export function checkBatchRun(batch: MetricBatch, runs: RunsOfSweep): PlannedRun {
  return runNamed(runs, batch.sweep_id, batch.run_id, batch.run_index);
}

/** The job a result carries, which must be the job it answers. */
export function jobOfResult(result: RunResult): Job {
  const job = result.job;
  if (!job) throw new Rejected(`result of run ${result.run_id} carries no job`);
  if (job.sweep_id !== result.sweep_id || job.run_id !== result.run_id) throw new Rejected(`result of run ${result.run_id} answers another job (${job.run_id})`);
  return job;
}

/** The keys of every point of a sweep: its grid's and zip groups' keys, and the seed. */
export function pointKeysOf(sweep: SweepSpec): string[] {
  return [...axesOf(sweep).flatMap((axis) => axis.keys), "seed"].sort();
}

/**
 * A job is a run of its sweep: its id is one of the sweep's, its point has exactly the sweep's
 * axes (an extra key equal to the base value would keep the run id and add a fake axis to the
 * store), and its point and its spec both recompute to its id.
 */
export function checkJob(job: Job, sweep: SweepSpec, runs: RunsOfSweep): void {
  runNamed(runs, job.sweep_id, job.run_id, job.run_index);
  const keys = Object.keys(job.point).sort();
  const expected = pointKeysOf(sweep);
  if (keys.join(",") !== expected.join(",")) {
    throw new Rejected(`the point sent with run ${job.run_id} has keys ${keys.join(", ") || "none"}; the sweep's axes are ${expected.join(", ")}`);
  }
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

/**
 * Each point of a metric batch is one the run's spec can produce: a step from 0 to its `steps`,
 * on its evaluation grid (multiples of eval_every) unless it is the run's last evaluation (where
 * training stopped: at most one step off the grid per run, `offGridBefore` counting those already
 * staged), and lists of the lengths the spec implies (top_k components, one erank per mode,
 * singular values for matrices only).
 */
export function checkMetricPoints(batch: MetricBatch, spec: RunSpec, offGridBefore: number): void {
  const top = Math.min(spec.top_k, componentCount(spec));
  const singular = spec.model === "matrix" || spec.model === "nuclear" ? Math.min(spec.top_k, spec.dim[0], spec.dim[1]) : 0;
  let offGrid = offGridBefore;
  for (const p of batch.points) {
    const where = `run ${batch.run_id} step ${p.step}`;
    if (!Number.isInteger(p.step) || p.step < 0 || p.step > spec.steps) throw new Rejected(`${where}: not a step of a run of ${spec.steps} steps`);
    if (p.step % spec.eval_every !== 0 && ++offGrid > 1) throw new Rejected(`${where}: off the evaluation grid (every ${spec.eval_every}) and not the run's last evaluation`);
    const lengths: [string, number, number][] = [
      ["component_norms", p.component_norms.length, top],
      ["gamma", p.gamma.length, top],
      ["unfolding_eranks", p.unfolding_eranks.length, spec.dim.length],
      ["singular_values", p.singular_values.length, singular],
    ];
    for (const [field, length, expected] of lengths) {
      if (length !== expected) throw new Rejected(`${where}: ${field} has ${length} values, the spec implies ${expected}`);
    }
  }
}

/**
 * A metric batch for a run already stored finished: a redelivery (every step already stored;
 * keep-first makes it change nothing) is accepted, any new step is refused.
 */
export function checkBatchOfFinishedRun(batch: MetricBatch, storedSteps: ReadonlySet<number>): void {
  const fresh = batch.points.find((p) => !storedSteps.has(p.step));
  if (fresh) throw new Rejected(`run ${batch.run_id} is stored finished; its metric batch adds step ${fresh.step}`);
}
