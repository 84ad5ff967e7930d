import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type MetricPoint, type RunSpecInput, resolveRunSpec, train } from "@dtf/engine";
import type { RunResult } from "@dtf/protocol";
import { ResultStore } from "@dtf/store";

export type Planned = { point: Record<string, unknown>; spec: RunSpecInput; fail?: string };

/** A sweep directory filled with real trainings of `runs` (or failures), as dtf run would. */
export async function makeStore(name: string, runs: Planned[]): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), `dtf-report-${name}-`));
  const store = await ResultStore.open(dir);
  await store.recordSweep({ sweep_id: `${name}-0`, name, spec_json: JSON.stringify({ name, runs: runs.length }), total_runs: runs.length, code_version: "test", created_ms: 0 });
  const commits: Promise<void>[] = [];
  for (const [i, planned] of runs.entries()) {
    const spec = resolveRunSpec(planned.spec);
    const job = { sweep_id: `${name}-0`, run_id: `${name}-run-${i}`, attempt: 1, spec, point: planned.point };
    let result: RunResult;
    if (planned.fail) {
      result = { ...job, status: "failed", stop_reason: "failed", steps: 0, final: null, threshold_steps: {}, wall_ms: 0, engine: "", code_version: "test", worker_id: "w/0", error: planned.fail };
    } else {
      const points: MetricPoint[] = [];
      const r = await train(spec, { onMetrics: (p) => points.push(p) });
      await store.stageMetrics({ sweep_id: job.sweep_id, run_id: job.run_id, attempt: 1, points });
      const thresholds = Object.fromEntries(Object.entries(r.threshold_steps).filter(([, s]) => s !== null)) as Record<string, number>;
      result = { ...job, status: r.status, stop_reason: r.stop_reason, steps: r.steps, final: points.at(-1)!, threshold_steps: thresholds, wall_ms: r.wall_ms, engine: r.engine, code_version: "test", worker_id: "w/0", error: "", growth: r.growth };
    }
    commits.push(store.writeResult(job, result, i));
  }
  await Promise.all(commits);
  await store.close();
  return dir;
}

/** depth × observations × 2 seeds of a small CP completion problem (GroupRMSprop). */
export function depthObservationGrid(): Planned[] {
  const out: Planned[] = [];
  for (const depth of [1, 2, 3]) {
    for (const observations of [40, 80]) {
      for (const seed of [0, 1]) {
        out.push({
          point: { depth, observations, seed },
          spec: { order: 3, dim: 5, components: 25, target_rank: 1, init_std: 0.2, lr: 0.005, steps: 600, eval_every: 50, depth, observations, seed },
        });
      }
    }
  }
  return out;
}
