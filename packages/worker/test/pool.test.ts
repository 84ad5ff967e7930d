import { resolveRunSpec } from "@dtf/engine";
import type { Job, MetricBatch } from "@dtf/protocol";
import { expect } from "chai";
import { RunPool } from "../src/index.ts";

const faulty = new URL("./fixtures/faulty.mjs", import.meta.url).href;
const job = (seed: number, extra: Record<string, unknown> = {}): Job => ({
  sweep_id: "s",
  run_id: `run-${seed}`,
  run_index: seed,
  attempt: 1,
  spec: resolveRunSpec({ order: 3, dim: 5, components: 25, observations: 60, steps: 200, eval_every: 10, seed, ...extra }),
  point: { seed },
});

describe("run pool", () => {
  let pool: RunPool;
  afterEach(async () => pool?.close());

  it("pool - runs a real training in a thread; metric batches arrive in order before the result", async () => {
    pool = new RunPool({ threads: 1 });
    const batches: MetricBatch[] = [];
    const result = await pool.run(job(1), { onMetrics: (b) => void batches.push(b) });
    expect(result.status).to.equal("ok");
    expect(result.steps).to.equal(200);
    const steps = batches.flatMap((b) => b.points.map((p) => p.step));
    expect(steps).to.deep.equal(Array.from({ length: 21 }, (_, i) => i * 10));
    expect(batches.length).to.be.greaterThan(0);
    expect(result.final!.recon_error).to.equal(batches.at(-1)!.points.at(-1)!.recon_error);
    expect(result.worker_id).to.match(/\/0$/);
  });

  it("isolation - a throwing, an exiting and an out-of-memory run fail alone; the pool goes on", async () => {
    pool = new RunPool({ threads: 2, taskFile: faulty, maxHeapMb: 64 });
    const [thrown, exited, oom, fine] = await Promise.all([pool.run(job(666)), pool.run(job(667)), pool.run(job(668)), pool.run(job(2))]);
    expect(thrown.status).to.equal("failed");
    expect(thrown.error).to.contain("training blew up on purpose");
    expect(exited.status).to.equal("failed");
    expect(exited.error).to.contain("exited with code: 3");
    expect(oom.status).to.equal("failed");
    expect(oom.error).to.contain("ERR_WORKER_OUT_OF_MEMORY");
    expect(fine.status).to.equal("ok");
    const after = await pool.run(job(3));
    expect(after.status).to.equal("ok");
  });

  it("cancellation - aborting the signal cancels that run only", async () => {
    pool = new RunPool({ threads: 2, taskFile: faulty });
    const controller = new AbortController();
    const slow = pool.run(job(669), { signal: controller.signal });
    const other = pool.run(job(4));
    setTimeout(() => controller.abort(), 200);
    const [cancelled, ok] = await Promise.all([slow, other]);
    expect(cancelled.status).to.equal("cancelled");
    expect(ok.status).to.equal("ok");
  });

  it("options - threads must be a positive integer", () => {
    expect(() => new RunPool({ threads: 0 })).to.throw(RangeError, "options.threads must be a positive integer, got 0");
    expect(() => new RunPool({ threads: 1.5 })).to.throw(RangeError, "got 1.5");
  });
});
