import { type MetricPoint, resolveRunSpec, train } from "@dtf/engine";
import type { MetricBatch, RunResult } from "@dtf/protocol";
import type { StoredRun } from "@dtf/store";
import { expandRuns, loadSweepText, runAt } from "@dtf/sweep";
import { expect } from "chai";
import {
  asStored,
  checkBatchOfFinishedRun,
  checkBatchRun,
  checkJob,
  checkMetricPoints,
  checkSubject,
  expectedEvaluations,
  jobOfResult,
  judgeResult,
  METRICS_PATIENCE,
  metricsVerdict,
  Rejected,
} from "../src/rules.ts";
import { SweepRuns } from "../src/sweeps.ts";

const { sweep, sweepId } = loadSweepText(
  "name: tiny\nbase: { model: cp, order: 3, dim: 5, components: 8, steps: 300, eval_every: 100 }\ngrid: { depth: [1, 2] }\nseeds: 2\n",
  "tiny.yaml",
);
const runs = [...expandRuns(sweep)];
const runIds = new SweepRuns(sweep);
const jobOf = (i: number) => ({ sweep_id: sweepId, run_id: runs[i].runId, run_index: i, attempt: 1, spec: runs[i].spec, point: runs[i].point });
const runAtOf = (s: typeof sweep, i: number) => runAt(s, i).runId;
const final = { step: 300, train_loss: 1e-3, recon_error: 0.2, heldout_mse: 0.01, component_norms: [], gamma: [], cp_erank: 1, unfolding_eranks: [], rank_estimate: 1, singular_values: [], wall_ms: 1 };

function result(over: Partial<RunResult> = {}): RunResult {
  return {
    sweep_id: sweepId, run_id: runs[0].runId, attempt: 1, status: "ok", stop_reason: "max_steps", steps: 300, final: { ...final }, threshold_steps: {},
    wall_ms: 10, engine: "native", code_version: "v", worker_id: "w/0", error: "", job: jobOf(0), ...over,
  } as RunResult;
}

describe("aggregator rules", () => {
  it("subject - the payload's sweep must be the subject's", () => {
    expect(() => checkSubject(`dtf.results.${sweepId}`, sweepId)).to.not.throw();
    expect(() => checkSubject("dtf.results.other-0123456789", sweepId)).to.throw(Rejected, "the payload names sweep");
  });

  it("metric batch - only a run of its sweep, at its own index", () => {
    const batch = (run_id: string, run_index: number): MetricBatch => ({ sweep_id: sweepId, run_id, run_index, attempt: 1, points: [] });
    expect(checkBatchRun(batch(runs[3].runId, 3), runIds).spec).to.deep.equal(runs[3].spec);
    expect(() => checkBatchRun(batch("made-up", 0), runIds)).to.throw(Rejected, "run made-up is not a run of sweep");
    expect(() => checkBatchRun(batch(runs[3].runId, 2), runIds), "another run's index").to.throw(Rejected, "not the run at index 2");
    expect(() => checkBatchRun(batch(runs[3].runId, 4), runIds), "past the sweep").to.throw(Rejected, "not the run at index 4");
    expect(() => checkBatchRun(batch(runs[3].runId, -1), runIds)).to.throw(Rejected, "is not a run of sweep");
  });

  it("sweep runs - recomputed from the index, whatever the sweep's size, and the same after the cache is cleared", () => {
    const lrs = Array.from({ length: 1000 }, (_, i) => ((i + 1) / 1e5).toFixed(5)).join(", ");
    const { sweep: big } = loadSweepText(`name: big\nbase: { order: 3, dim: 4, components: 8, steps: 10 }\ngrid: { lr: [${lrs}] }\nseeds: 1000\n`, "big.yaml", 1_000_000);
    const found = new SweepRuns(big);
    const last = 999_999;
    const run = found.find(runAtOf(big, last), last);
    expect(run?.index).to.equal(last);
    for (let i = 0; i < 5000; i++) expect(found.find(runAtOf(big, i), i)?.index).to.equal(i); // fills and clears the cache of recent runs
    expect(found.find(runAtOf(big, 1), 2), "a cached run under another id").to.equal(null);
    expect(found.find(runAtOf(big, last), last)?.runId).to.equal(run?.runId);
  });

  it("result's job - present, and the job the result answers", () => {
    expect(jobOfResult(result()).run_id).to.equal(runs[0].runId);
    expect(() => jobOfResult(result({ job: undefined }))).to.throw(Rejected, "carries no job");
    expect(() => jobOfResult(result({ job: jobOf(1) }))).to.throw(Rejected, "answers another job");
  });

  it("job - its id, its point and its spec must all be the sweep's", () => {
    for (let i = 0; i < runs.length; i++) expect(() => checkJob(jobOf(i), sweep, runIds)).to.not.throw();
    expect(() => checkJob({ ...jobOf(0), run_id: "made-up" }, sweep, runIds)).to.throw(Rejected, "is not a run of sweep");
    expect(() => checkJob({ ...jobOf(0), run_index: 1 }, sweep, runIds), "another run's index").to.throw(Rejected, "not the run at index 1");
    expect(() => checkJob({ ...jobOf(0), point: runs[1].point }, sweep, runIds), "another run's point").to.throw(Rejected, "is not that run's");
    expect(() => checkJob({ ...jobOf(0), spec: { ...runs[0].spec, steps: 99_999 } }, sweep, runIds), "a changed spec").to.throw(Rejected, "is not that run's");
    expect(() => checkJob({ ...jobOf(0), point: { depth: "x", seed: 0 } }, sweep, runIds), "a point that does not resolve").to.throw(Rejected, "is not that run's");
  });

  it("judge - nothing stored: store; a redelivered copy: duplicate; the same outcome by another attempt: rerun", () => {
    expect(judgeResult(null, result())).to.equal("store");
    expect(judgeResult(asStored(result()), result())).to.equal("duplicate");
    expect(judgeResult(asStored(result()), result({ attempt: 2, worker_id: "w/1" }))).to.equal("rerun");
  });

  it("judge - a finished run is never replaced: another outcome is rejected, failed or finished", () => {
    const stored = asStored(result());
    expect(() => judgeResult(stored, result({ attempt: 2, final: { ...final, recon_error: 0.3 } }))).to.throw(Rejected, "replaces nothing");
    expect(() => judgeResult(stored, result({ attempt: 2, status: "failed", final: null }))).to.throw(Rejected, "is already stored");
    expect(() => judgeResult(asStored(result({ status: "diverged" })), result({ attempt: 2 }))).to.throw(Rejected, "diverged");
  });

  it("judge - a failed run: a finished retry is stored, a second failure is a duplicate", () => {
    const failed: StoredRun = asStored(result({ status: "failed", final: null, worker_id: "w/9" }));
    expect(judgeResult(failed, result({ attempt: 2 }))).to.equal("store");
    expect(judgeResult(failed, result({ attempt: 2, status: "failed", final: null }))).to.equal("duplicate");
  });

  it("stored form - non-finite numbers read back as null, so a NaN loss still matches its copy", () => {
    const nan = result({ status: "diverged", final: { ...final, train_loss: Number.NaN, recon_error: Number.POSITIVE_INFINITY } });
    expect(asStored(nan)).to.include({ train_loss: null, recon_error: null });
    expect(judgeResult(asStored(nan), nan)).to.equal("duplicate");
  });

  it("metrics - a finished result waits for all its evaluations, then gives up after its patience", () => {
    expect([expectedEvaluations(300, 100), expectedEvaluations(250, 100), expectedEvaluations(0, 100)]).to.deep.equal([4, 4, 1]);
    expect(metricsVerdict(4, 4, 1)).to.equal("complete");
    expect(metricsVerdict(3, 4, 1)).to.equal("wait");
    expect(metricsVerdict(3, 4, METRICS_PATIENCE - 1)).to.equal("wait");
    expect(metricsVerdict(3, 4, METRICS_PATIENCE)).to.equal("give-up");
  });

  it("job - a point with a key the sweep has no axis for (equal to the base value: same run id) is refused", () => {
    const extra = { ...jobOf(0), point: { ...runs[0].point, order: 3 } };
    expect(() => checkJob(extra, sweep, runIds)).to.throw(Rejected, "has keys depth, order, seed; the sweep's axes are depth, seed");
    const missing = { ...jobOf(0), point: { seed: runs[0].point.seed } };
    expect(() => checkJob(missing, sweep, runIds)).to.throw(Rejected, "the sweep's axes are depth, seed");
  });

  it("metric points - every point a real training of each model sends passes, early stops included", async () => {
    const specs = [
      { model: "cp", order: 3, dim: 5, components: 8, depth: 2, steps: 130, eval_every: 50 },
      { model: "cp", variant: "component", order: 3, dim: 4, components: 30, depth: 2, steps: 100, eval_every: 25, top_k: 40 },
      { model: "tucker", order: 3, dim: 4, core_rank: 2, steps: 60, eval_every: 20 },
      { model: "matrix", dim: [6, 9], depth: 3, steps: 60, eval_every: 20, top_k: 4 },
      { model: "nuclear", dim: [6, 9], steps: 30, eval_every: 10 },
      { model: "cp", problem: "sensing", order: 3, dim: 4, components: 6, observations: 20, steps: 40, eval_every: 20 },
      // converges early, off the grid: stop_tol far above the loss
      { model: "cp", order: 3, dim: 4, components: 6, steps: 1000, eval_every: 7, stop_tol: 10, stop_patience: 1 },
      // diverges at once
      { model: "cp", order: 3, dim: 4, components: 6, steps: 100, eval_every: 10, lr: 1e6, init_std: 1 },
    ];
    for (const input of specs) {
      const spec = resolveRunSpec(input);
      const points: MetricPoint[] = [];
      await train(spec, { onMetrics: (p) => points.push(p) });
      const batch: MetricBatch = { sweep_id: sweepId, run_id: "r", run_index: 0, attempt: 1, points };
      expect(() => checkMetricPoints(batch, spec, 0), JSON.stringify(input)).to.not.throw();
    }
  });

  it("metric points - a step past the run's steps, a second step off the grid, and lists of the wrong length are refused", async () => {
    const spec = resolveRunSpec({ model: "cp", order: 3, dim: 5, components: 8, steps: 300, eval_every: 100 });
    const points: MetricPoint[] = [];
    await train(spec, { onMetrics: (p) => points.push(p) });
    const batch = (ps: MetricPoint[]): MetricBatch => ({ sweep_id: sweepId, run_id: "r", run_index: 0, attempt: 1, points: ps });
    const at = (step: number) => ({ ...points[1], step });
    expect(() => checkMetricPoints(batch([at(99_999_999)]), spec, 0)).to.throw(Rejected, "not a step of a run of 300 steps");
    expect(() => checkMetricPoints(batch([at(-100)]), spec, 0)).to.throw(Rejected, "not a step");
    expect(() => checkMetricPoints(batch([at(150.5)]), spec, 0)).to.throw(Rejected, "not a step");
    expect(() => checkMetricPoints(batch([at(150)]), spec, 0), "one off the grid: the last evaluation").to.not.throw();
    expect(() => checkMetricPoints(batch([at(150), at(250)]), spec, 0)).to.throw(Rejected, "step 250: off the evaluation grid");
    expect(() => checkMetricPoints(batch([at(250)]), spec, 1), "one already staged").to.throw(Rejected, "off the evaluation grid");
    const huge = { ...points[1], component_norms: Array.from({ length: 100_000 }, () => 1) };
    expect(() => checkMetricPoints(batch([huge]), spec, 0)).to.throw(Rejected, "component_norms has 100000 values, the spec implies 8");
    expect(() => checkMetricPoints(batch([{ ...points[1], unfolding_eranks: [1] }]), spec, 0)).to.throw(Rejected, "unfolding_eranks has 1 values, the spec implies 3");
    expect(() => checkMetricPoints(batch([{ ...points[1], singular_values: [1] }]), spec, 0)).to.throw(Rejected, "singular_values");
  });

  it("finished run - a redelivered batch (steps all stored) passes; one adding a step is refused", () => {
    const batch = (steps: number[]): MetricBatch => ({ sweep_id: sweepId, run_id: "r", run_index: 0, attempt: 1, points: steps.map((step) => ({ ...final, step })) });
    expect(() => checkBatchOfFinishedRun(batch([0, 100]), new Set([0, 100, 200]))).to.not.throw();
    expect(() => checkBatchOfFinishedRun(batch([0, 300]), new Set([0, 100, 200]))).to.throw(Rejected, "adds step 300");
  });
});
