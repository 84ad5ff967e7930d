// What the report reads from a store: sweeps, runs, metrics and chosen norms.
import { ArgumentError, type ComponentGrowth, type RunSpec } from "@dtf/engine";
import type { ResultStore, } from "@dtf/store";

/** One run as the report reads it from the store. */
export type RunRow = {
  run_id: string;
  sweep_id: string;
  run_index: number | null;
  point: Record<string, unknown>;
  /** The resolved run spec the run was trained with (as stored: checked when it was written). */
  spec: RunSpec;
  status: string;
  stop_reason: string | null;
  steps: number | null;
  recon_error: number | null;
  heldout_mse: number | null;
  cp_erank: number | null;
  unfolding_eranks: number[] | null;
  rank_estimate: number | null;
  threshold_steps: Record<string, number>;
  wall_ms: number | null;
  engine: string | null;
  code_version: string | null;
  worker_id: string | null;
  error: string | null;
  /** Growth-law fits of the traced components (empty for runs without a trace). */
  growth: ComponentGrowth[];
};

/** A spec value by the name of a swept axis (axes are spec keys, known only at run time). */
export const specValue = (r: RunRow, key: string): unknown => (r.spec as unknown as Record<string, unknown>)[key];

export type MetricRow = { run_id: string; step: number; recon_error: number | null; train_loss: number | null };
export type NormRow = { run_id: string; step: number; k: number; norm: number | null; gamma: number | null };
export type SweepRow = { sweep_id: string; name: string; spec_json: string; total_runs: number; code_version: string | null };

export type ReportData = { sweeps: SweepRow[]; runs: RunRow[]; metrics: MetricRow[] };

/**
 * The sweep a report shows: `wanted` when given (it must be in the store), else the store's only
 * sweep, else the one created last. Null for a store without runs.
 */
export async function chooseSweep(store: ResultStore, wanted?: string): Promise<string | null> {
  const ids = await store.query<{ sweep_id: string }>(
    `SELECT sweep_id FROM (SELECT sweep_id, created_ms FROM sweeps UNION ALL SELECT DISTINCT sweep_id, NULL FROM runs)
     GROUP BY sweep_id ORDER BY max(created_ms) DESC NULLS LAST, sweep_id`,
  );
  if (wanted !== undefined) {
    if (!ids.some((r) => r.sweep_id === wanted)) {
      throw new ArgumentError(`--sweep: the store holds no sweep ${wanted} (it holds ${ids.map((r) => r.sweep_id).join(", ") || "none"})`);
    }
    return wanted;
  }
  return ids[0]?.sweep_id ?? null;
}

/** Everything of one sweep but the component norms (read per figure, for a few runs only). */
export async function loadReportData(store: ResultStore, sweepId: string | null): Promise<ReportData> {
  const id = sweepId ?? "";
  const sweeps = await store.query<SweepRow>("SELECT sweep_id, name, spec_json, total_runs, code_version FROM sweeps WHERE sweep_id = $1", [id]);
  // a store of schema v2 opened read-only (not migrated) has no growth column
  const [{ n }] = await store.query<{ n: number }>(
    "SELECT count(*)::INTEGER AS n FROM information_schema.columns WHERE table_name = 'runs' AND column_name = 'growth_json'",
  );
  const raw = await store.query<Record<string, unknown>>(
    `SELECT run_id, sweep_id, run_index, point_json, spec_json, status, stop_reason, steps, recon_error, heldout_mse, cp_erank,
            unfolding_eranks, rank_estimate, threshold_steps_json, wall_ms, engine, code_version, worker_id, error,
            ${n > 0 ? "growth_json" : "NULL AS growth_json"}
     FROM runs WHERE sweep_id = $1 ORDER BY run_index NULLS LAST, run_id`,
    [id],
  );
  const runs = raw.map(({ point_json, spec_json, threshold_steps_json, growth_json, ...rest }) => ({
    ...rest,
    point: JSON.parse(String(point_json ?? "{}")),
    spec: JSON.parse(String(spec_json)),
    threshold_steps: JSON.parse(String(threshold_steps_json ?? "{}")),
    growth: growth_json ? JSON.parse(String(growth_json)) : [],
  })) as RunRow[];
  const metrics = await store.query<MetricRow>("SELECT run_id, step, recon_error, train_loss FROM metrics WHERE sweep_id = $1 ORDER BY run_id, step", [id]);
  return { sweeps, runs, metrics };
}

export async function loadNorms(store: ResultStore, sweepId: string | null, runIds: string[], topK = 10): Promise<NormRow[]> {
  if (runIds.length === 0) return [];
  const list = runIds.map((_, i) => `$${i + 2}`).join(", ");
  return store.query<NormRow>(
    `SELECT run_id, step, k, norm, gamma FROM component_norms WHERE sweep_id = $1 AND run_id IN (${list}) AND k < ${topK} ORDER BY run_id, step, k`,
    [sweepId ?? "", ...runIds],
  );
}
