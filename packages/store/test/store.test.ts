import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type MetricPoint, resolveRunSpec, train } from "@dtf/engine";
import type { Job, RunResult } from "@dtf/protocol";
import { expect } from "chai";
import { ResultStore } from "../src/index.ts";

const fresh = () => mkdtempSync(join(tmpdir(), "dtf-store-"));

async function realRun() {
  const spec = resolveRunSpec({ order: 3, dim: 4, components: 8, observations: 30, steps: 100, eval_every: 25 });
  const points: MetricPoint[] = [];
  const r = await train(spec, { onMetrics: (p) => points.push(p) });
  const job: Job = { sweep_id: "s1", run_id: "run-a", attempt: 1, spec, point: { depth: 1, seed: 0 } };
  const result: RunResult = {
    sweep_id: "s1", run_id: "run-a", attempt: 1, status: r.status, stop_reason: r.stop_reason, steps: r.steps, final: points.at(-1)!,
    threshold_steps: {}, wall_ms: r.wall_ms, engine: r.engine, code_version: "test", worker_id: "w/0", error: "",
  };
  return { job, result, points };
}

describe("result store", () => {
  it("idempotent writes - the same batch and result written twice leave one row per key", async () => {
    const dir = fresh();
    const { job, result, points } = await realRun();
    const store = await ResultStore.open(dir);
    const batch = { sweep_id: "s1", run_id: "run-a", attempt: 1, points };
    await store.writeMetrics(batch);
    await store.writeMetrics(batch);
    await store.writeMetrics({ ...batch, points: points.slice(2) }); // a redelivered partial batch
    await store.writeResult(job, result, 0);
    await store.writeResult(job, { ...result, attempt: 2 }, 0);
    const [{ n }] = await store.query<{ n: number }>("SELECT count(*)::INTEGER AS n FROM metrics");
    expect(n).to.equal(points.length);
    const [{ c }] = await store.query<{ c: number }>("SELECT count(*)::INTEGER AS c FROM component_norms WHERE step = 100");
    expect(c).to.equal(8);
    const runs = await store.query<{ run_id: string; attempt: number; recon_error: number }>("SELECT run_id, attempt, recon_error FROM runs");
    expect(runs).to.have.length(1);
    expect(runs[0].attempt).to.equal(2);
    expect(runs[0].recon_error).to.equal(points.at(-1)!.recon_error);
    await store.close();
  });

  it("persistence - a reopened store keeps its rows; finishedRunIds lists ok and diverged runs only", async () => {
    const dir = fresh();
    const { job, result } = await realRun();
    let store = await ResultStore.open(dir);
    await store.writeResult(job, result);
    await store.writeResult({ ...job, run_id: "run-b" }, { ...result, run_id: "run-b", status: "diverged" });
    await store.writeResult({ ...job, run_id: "run-c" }, { ...result, run_id: "run-c", status: "failed", final: null, error: "boom" });
    await store.close();
    store = await ResultStore.open(dir);
    expect([...(await store.finishedRunIds("s1"))].sort()).to.deep.equal(["run-a", "run-b"]);
    const [failed] = await store.query<{ error: string; recon_error: number | null }>("SELECT error, recon_error FROM runs WHERE run_id = 'run-c'");
    expect(failed).to.deep.equal({ error: "boom", recon_error: null });
    await store.close();
  });

  it("values - floats round-trip exactly, lists stay lists, NaN becomes NULL", async () => {
    const dir = fresh();
    const { points } = await realRun();
    const store = await ResultStore.open(dir);
    const p = { ...points[1], heldout_mse: Number.NaN };
    await store.writeMetrics({ sweep_id: "s1", run_id: "r", attempt: 1, points: [p] });
    const [row] = await store.query<{ train_loss: number; heldout_mse: number | null; unfolding_eranks: number[] }>(
      "SELECT train_loss, heldout_mse, unfolding_eranks FROM metrics",
    );
    expect(row.train_loss).to.equal(p.train_loss);
    expect(row.heldout_mse).to.equal(null);
    expect(row.unfolding_eranks).to.deep.equal(p.unfolding_eranks);
    await store.close();
  });

  it("export - CSV and Parquet files of every table, CSV rows equal to the table's", async () => {
    const dir = fresh();
    const { job, result, points } = await realRun();
    const store = await ResultStore.open(dir);
    await store.writeMetrics({ sweep_id: "s1", run_id: "run-a", attempt: 1, points });
    await store.writeResult(job, result);
    const csv = await store.exportTables(join(dir, "csv"), "csv");
    expect(csv.map((f) => f.split("/").at(-1))).to.deep.equal(["sweeps.csv", "runs.csv", "metrics.csv", "component_norms.csv"]);
    const lines = readFileSync(join(dir, "csv", "metrics.csv"), "utf8").trim().split("\n");
    expect(lines[0]).to.contain("run_id,step,train_loss");
    expect(lines).to.have.length(points.length + 1);
    const parquet = await store.exportTables(join(dir, "pq"), "parquet");
    const [{ n }] = await store.query<{ n: number }>(`SELECT count(*)::INTEGER AS n FROM read_parquet('${parquet[2]}')`);
    expect(n).to.equal(points.length);
    await store.close();
  });
});
