import type { RunResult } from "@dtf/protocol";
import type { StoredRun } from "@dtf/store";
import { expandRuns, loadSweepText } from "@dtf/sweep";
import { expect } from "chai";
import {
  asStored,
  checkBatchRun,
  checkJob,
  checkSubject,
  expectedEvaluations,
  jobOfResult,
  judgeResult,
  METRICS_PATIENCE,
  metricsVerdict,
  Rejected,
} from "../src/rules.ts";

const { sweep, sweepId } = loadSweepText(
  "name: tiny\nbase: { model: cp, order: 3, dim: 5, components: 8, steps: 300, eval_every: 100 }\ngrid: { depth: [1, 2] }\nseeds: 2\n",
  "tiny.yaml",
);
const runs = [...expandRuns(sweep)];
const runIds = new Set(runs.map((r) => r.runId));
const jobOf = (i: number) => ({ sweep_id: sweepId, run_id: runs[i].runId, attempt: 1, spec: runs[i].spec, point: runs[i].point });
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

  it("metric batch - only a run of its sweep", () => {
    expect(() => checkBatchRun({ sweep_id: sweepId, run_id: runs[3].runId, attempt: 1, points: [] }, runIds)).to.not.throw();
    expect(() => checkBatchRun({ sweep_id: sweepId, run_id: "made-up", attempt: 1, points: [] }, runIds)).to.throw(Rejected, "run made-up is not a run of sweep");
  });

  it("result's job - present, and the job the result answers", () => {
    expect(jobOfResult(result()).run_id).to.equal(runs[0].runId);
    expect(() => jobOfResult(result({ job: undefined }))).to.throw(Rejected, "carries no job");
    expect(() => jobOfResult(result({ job: jobOf(1) }))).to.throw(Rejected, "answers another job");
  });

  it("job - its id, its point and its spec must all be the sweep's", () => {
    for (let i = 0; i < runs.length; i++) expect(() => checkJob(jobOf(i), sweep, runIds)).to.not.throw();
    expect(() => checkJob({ ...jobOf(0), run_id: "made-up" }, sweep, runIds)).to.throw(Rejected, "is not a run of sweep");
    expect(() => checkJob({ ...jobOf(0), point: runs[1].point }, sweep, runIds), "another run's point").to.throw(Rejected, "is not that run's");
    expect(() => checkJob({ ...jobOf(0), spec: { ...runs[0].spec, steps: 99_999 } }, sweep, runIds), "a changed spec").to.throw(Rejected, "is not that run's");
    expect(() => checkJob({ ...jobOf(0), point: { depth: "x" } }, sweep, runIds), "a point that does not resolve").to.throw(Rejected, "is not that run's");
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
});
