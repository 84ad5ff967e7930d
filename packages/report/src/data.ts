import type { ResultStore } from "@dtf/store";

/** One run as the report reads it from the store. */
export type RunRow = {
  run_id: string;
  sweep_id: string;
  run_index: number | null;
  point: Record<string, unknown>;
  spec: Record<string, unknown>;
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
};

export type MetricRow = { run_id: string; step: number; recon_error: number | null; train_loss: number | null };
export type NormRow = { run_id: string; step: number; k: number; norm: number | null; gamma: number | null };
export type SweepRow = { sweep_id: string; name: string; spec_json: string; total_runs: number; code_version: string | null };

export type ReportData = { sweeps: SweepRow[]; runs: RunRow[]; metrics: MetricRow[] };

/** Everything but the component norms (read per figure, for a few runs only). */
export async function loadReportData(store: ResultStore): Promise<ReportData> {
  const sweeps = await store.query<SweepRow>("SELECT sweep_id, name, spec_json, total_runs, code_version FROM sweeps ORDER BY created_ms");
  const raw = await store.query<Record<string, unknown>>(
    `SELECT run_id, sweep_id, run_index, point_json, spec_json, status, stop_reason, steps, recon_error, heldout_mse, cp_erank,
            unfolding_eranks, rank_estimate, threshold_steps_json, wall_ms, engine, code_version, worker_id, error
     FROM runs ORDER BY run_index NULLS LAST, run_id`,
  );
  const runs = raw.map(({ point_json, spec_json, threshold_steps_json, ...rest }) => ({
    ...rest,
    point: JSON.parse(String(point_json ?? "{}")),
    spec: JSON.parse(String(spec_json)),
    threshold_steps: JSON.parse(String(threshold_steps_json ?? "{}")),
  })) as RunRow[];
  const metrics = await store.query<MetricRow>("SELECT run_id, step, recon_error, train_loss FROM metrics ORDER BY run_id, step");
  return { sweeps, runs, metrics };
}

export async function loadNorms(store: ResultStore, runIds: string[], topK = 10): Promise<NormRow[]> {
  if (runIds.length === 0) return [];
  const list = runIds.map((_, i) => `$${i + 1}`).join(", ");
  return store.query<NormRow>(
    `SELECT run_id, step, k, norm, gamma FROM component_norms WHERE run_id IN (${list}) AND k < ${topK} ORDER BY run_id, step, k`,
    runIds,
  );
}
