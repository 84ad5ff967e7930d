/**
 * The result store's tables. Keys make every write idempotent: a run is one row per run id, a
 * metric point one row per (run id, step), a component one row per (run id, step, rank k), so
 * re-running a sweep or redelivering a message replaces a row with identical content instead of
 * adding one.
 */
export const SCHEMA_VERSION = 1;

export const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR);
CREATE TABLE IF NOT EXISTS sweeps (
  sweep_id VARCHAR PRIMARY KEY,
  name VARCHAR NOT NULL,
  spec_json VARCHAR NOT NULL,
  total_runs INTEGER NOT NULL,
  code_version VARCHAR,
  created_ms BIGINT
);
CREATE TABLE IF NOT EXISTS runs (
  run_id VARCHAR PRIMARY KEY,
  sweep_id VARCHAR NOT NULL,
  run_index INTEGER,
  point_json VARCHAR,
  spec_json VARCHAR NOT NULL,
  model VARCHAR, variant VARCHAR, "order" INTEGER, depth INTEGER, components INTEGER,
  problem VARCHAR, observations INTEGER, init_std DOUBLE, optimizer VARCHAR, lr DOUBLE, seed BIGINT,
  status VARCHAR NOT NULL,
  stop_reason VARCHAR,
  steps INTEGER,
  train_loss DOUBLE,
  recon_error DOUBLE,
  heldout_mse DOUBLE,
  cp_erank DOUBLE,
  unfolding_eranks DOUBLE[],
  rank_estimate INTEGER,
  threshold_steps_json VARCHAR,
  wall_ms DOUBLE,
  engine VARCHAR,
  code_version VARCHAR,
  worker_id VARCHAR,
  attempt INTEGER,
  error VARCHAR,
  finished_ms BIGINT
);
CREATE TABLE IF NOT EXISTS metrics (
  run_id VARCHAR NOT NULL,
  step INTEGER NOT NULL,
  train_loss DOUBLE,
  recon_error DOUBLE,
  heldout_mse DOUBLE,
  cp_erank DOUBLE,
  unfolding_eranks DOUBLE[],
  singular_values DOUBLE[],
  rank_estimate INTEGER,
  wall_ms DOUBLE,
  PRIMARY KEY (run_id, step)
);
CREATE TABLE IF NOT EXISTS component_norms (
  run_id VARCHAR NOT NULL,
  step INTEGER NOT NULL,
  k INTEGER NOT NULL,
  norm DOUBLE,
  gamma DOUBLE,
  PRIMARY KEY (run_id, step, k)
);
`;

/**
 * Per-connection staging tables (TEMP: never in the file). Rows are appended here (fast, DuckDB's
 * Appender) and merged into the keyed tables in one transaction at each commit.
 */
export const STAGING = `
CREATE TEMP TABLE IF NOT EXISTS metrics_in AS SELECT * FROM metrics LIMIT 0;
CREATE TEMP TABLE IF NOT EXISTS component_norms_in AS SELECT * FROM component_norms LIMIT 0;
CREATE TEMP TABLE IF NOT EXISTS runs_in AS SELECT * FROM runs LIMIT 0;
`;

/** Column kinds, in table order, for the appenders: v varchar, i integer, b bigint, d double, l double[]. */
export const COLUMNS = {
  metrics: "viddddllid",
  component_norms: "viidd",
  runs: "vvivvvviiividvdbvviddddlivdvvvivb",
} as const;

/** Tables `dtf export` writes, in order. */
export const EXPORT_TABLES = ["sweeps", "runs", "metrics", "component_norms"] as const;
