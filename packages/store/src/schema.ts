// The store's tables, each one list of columns from which DDL, staging and row values come.
import type { MetricPoint } from "@dtf/engine";
import type { Job, RunResult } from "@dtf/protocol";

/**
 * The result store's tables, each described once as a list of columns: the DDL, the staging
 * tables, the appenders' value kinds and the row values are all generated from these lists.
 * Keys scope every row to its sweep (two sweeps that share a run spec keep separate rows), and
 * make every write idempotent: a run is one row per (sweep, run), a metric point one row per
 * (sweep, run, step) with its components' norms as lists (the view `component_norms` gives one row
 * per (sweep, run, step, rank k)).
 */
export const SCHEMA_VERSION = 4;

export type ColumnType = "VARCHAR" | "INTEGER" | "BIGINT" | "DOUBLE" | "DOUBLE[]";
export type Value = string | number | (number | null)[] | null;

export type Column<S> = {
  name: string;
  type: ColumnType;
  notNull?: boolean;
  /** Part of a conflict check: two rows with the same key and different values here are a conflict. */
  content?: boolean;
  value: (source: S) => Value;
};

export type Table<S> = { name: string; key: string[]; columns: Column<S>[] };

export type RunSource = { job: Omit<Job, "run_index">; result: RunResult; runIndex: number | null; finishedMs: number };
export type MetricSource = { sweepId: string; runId: string; point: MetricPoint };

const finite = (x: number | undefined | null) => (x === undefined || x === null || !Number.isFinite(x) ? null : x);
const finiteList = (xs: number[] | undefined) => (xs ?? []).map((x) => (Number.isFinite(x) ? x : null));

const col = <S>(name: string, type: ColumnType, value: (s: S) => Value, extra: Partial<Column<S>> = {}): Column<S> => ({ name, type, value, ...extra });

export const RUNS: Table<RunSource> = {
  name: "runs",
  key: ["sweep_id", "run_id"],
  columns: [
    col("run_id", "VARCHAR", (s) => s.job.run_id, { notNull: true }),
    col("sweep_id", "VARCHAR", (s) => s.job.sweep_id, { notNull: true }),
    col("run_index", "INTEGER", (s) => s.runIndex),
    col("point_json", "VARCHAR", (s) => JSON.stringify(s.job.point)),
    col("spec_json", "VARCHAR", (s) => JSON.stringify(s.job.spec), { notNull: true }),
    col("model", "VARCHAR", (s) => s.job.spec.model),
    col("variant", "VARCHAR", (s) => s.job.spec.variant),
    col("order", "INTEGER", (s) => s.job.spec.order),
    col("depth", "INTEGER", (s) => s.job.spec.depth),
    col("components", "INTEGER", (s) => s.job.spec.components),
    col("problem", "VARCHAR", (s) => s.job.spec.problem),
    col("observations", "INTEGER", (s) => s.job.spec.observations),
    col("init_std", "DOUBLE", (s) => s.job.spec.init_std),
    col("optimizer", "VARCHAR", (s) => s.job.spec.optimizer),
    col("lr", "DOUBLE", (s) => s.job.spec.lr),
    col("seed", "BIGINT", (s) => s.job.spec.seed),
    col("status", "VARCHAR", (s) => s.result.status, { notNull: true, content: true }),
    col("stop_reason", "VARCHAR", (s) => s.result.stop_reason, { content: true }),
    col("steps", "INTEGER", (s) => s.result.steps, { content: true }),
    col("train_loss", "DOUBLE", (s) => finite(s.result.final?.train_loss), { content: true }),
    col("recon_error", "DOUBLE", (s) => finite(s.result.final?.recon_error), { content: true }),
    col("heldout_mse", "DOUBLE", (s) => finite(s.result.final?.heldout_mse), { content: true }),
    col("cp_erank", "DOUBLE", (s) => finite(s.result.final?.cp_erank), { content: true }),
    col("unfolding_eranks", "DOUBLE[]", (s) => (s.result.final ? finiteList(s.result.final.unfolding_eranks) : null)),
    col("rank_estimate", "INTEGER", (s) => (s.result.final ? s.result.final.rank_estimate : null)),
    col("threshold_steps_json", "VARCHAR", (s) => JSON.stringify(s.result.threshold_steps)),
    col("wall_ms", "DOUBLE", (s) => s.result.wall_ms),
    col("engine", "VARCHAR", (s) => s.result.engine),
    col("code_version", "VARCHAR", (s) => s.result.code_version),
    col("worker_id", "VARCHAR", (s) => s.result.worker_id),
    col("attempt", "INTEGER", (s) => s.result.attempt),
    col("error", "VARCHAR", (s) => s.result.error || null),
    col("finished_ms", "BIGINT", (s) => s.finishedMs),
    // v3; last, where ALTER TABLE puts it in a migrated store (staging copies the table's order)
    col("growth_json", "VARCHAR", (s) => (s.result.growth?.length ? JSON.stringify(s.result.growth) : null)),
  ],
};

export const METRICS: Table<MetricSource> = {
  name: "metrics",
  key: ["sweep_id", "run_id", "step"],
  columns: [
    col("sweep_id", "VARCHAR", (s) => s.sweepId, { notNull: true }),
    col("run_id", "VARCHAR", (s) => s.runId, { notNull: true }),
    col("step", "INTEGER", (s) => s.point.step, { notNull: true }),
    col("train_loss", "DOUBLE", (s) => finite(s.point.train_loss), { content: true }),
    col("recon_error", "DOUBLE", (s) => finite(s.point.recon_error), { content: true }),
    col("heldout_mse", "DOUBLE", (s) => finite(s.point.heldout_mse), { content: true }),
    col("cp_erank", "DOUBLE", (s) => finite(s.point.cp_erank), { content: true }),
    col("unfolding_eranks", "DOUBLE[]", (s) => finiteList(s.point.unfolding_eranks), { content: true }),
    col("singular_values", "DOUBLE[]", (s) => finiteList(s.point.singular_values), { content: true }),
    col("rank_estimate", "INTEGER", (s) => s.point.rank_estimate, { content: true }),
    // wall time differs between two attempts of the same run: not content
    col("wall_ms", "DOUBLE", (s) => s.point.wall_ms),
    // v4: the top components' norms and γ, largest first, as lists in the point's row (one row
    // per evaluation instead of eleven: the store's ingest rate); the component_norms view unnests them
    col("component_norms", "DOUBLE[]", (s) => finiteList(s.point.component_norms), { content: true }),
    col("component_gammas", "DOUBLE[]", (s) => finiteList(s.point.gamma), { content: true }),
  ],
};

/** One row per (sweep, run, step, rank k): the metrics rows' component lists, unnested. */
export const COMPONENT_NORMS_VIEW = `CREATE VIEW IF NOT EXISTS component_norms AS
SELECT sweep_id, run_id, step, k, norm, gamma FROM (
  SELECT sweep_id, run_id, step, unnest(range(len(component_norms)))::INTEGER AS k, unnest(component_norms) AS norm, unnest(component_gammas) AS gamma
  FROM metrics
) WHERE k IS NOT NULL;`;

/** Tables written through appenders (staged, then merged at each commit). */
export const STAGED_TABLES = [METRICS, RUNS] as const;

const quote = (name: string) => `"${name}"`;

export function tableDdl<S>(t: Table<S>): string {
  const cols = t.columns.map((c) => `  ${quote(c.name)} ${c.type}${c.notNull ? " NOT NULL" : ""}`);
  return `CREATE TABLE IF NOT EXISTS ${t.name} (\n${cols.join(",\n")},\n  PRIMARY KEY (${t.key.join(", ")})\n);`;
}

export const SCHEMA = [
  "CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR);",
  `CREATE TABLE IF NOT EXISTS sweeps (
  sweep_id VARCHAR PRIMARY KEY,
  name VARCHAR NOT NULL,
  spec_json VARCHAR NOT NULL,
  total_runs INTEGER NOT NULL,
  code_version VARCHAR,
  created_ms BIGINT
);`,
  ...STAGED_TABLES.map((t) => tableDdl(t as Table<unknown>)),
  COMPONENT_NORMS_VIEW,
].join("\n");

/**
 * Per-connection staging tables (TEMP: never in the file). Rows are appended here (fast, DuckDB's
 * Appender) and merged into the keyed tables in one transaction at each commit.
 */
export const STAGING = STAGED_TABLES.map((t) => `CREATE TEMP TABLE IF NOT EXISTS ${t.name}_in AS SELECT * FROM ${t.name} LIMIT 0;`).join("\n");

/** Tables `dtf export` writes, in order. */
export const EXPORT_TABLES = ["sweeps", "runs", "metrics", "component_norms"] as const;

const INT32 = 2 ** 31 - 1;

const isNumberList = (v: Value) => {
  if (!Array.isArray(v)) return false;
  for (const x of v) if (x !== null && typeof x !== "number") return false;
  return true;
};

/** What a column of each type holds, and the words for a value it cannot. */
const FITS: Record<ColumnType, [(v: Value) => boolean, string]> = {
  VARCHAR: [(v) => typeof v === "string", "must be text"],
  INTEGER: [(v) => typeof v === "number" && Number.isInteger(v) && Math.abs(v) <= INT32, `must be an integer within ±${INT32}`],
  BIGINT: [(v) => typeof v === "number" && Number.isSafeInteger(v), "must be an integer within ±2^53"],
  DOUBLE: [(v) => typeof v === "number", "must be a number"],
  "DOUBLE[]": [isNumberList, "must be a list of numbers"],
};

/**
 * The row of `source` in `table`, every value checked against its column's type first, so that a
 * value the column cannot hold is an error naming the column, raised before anything is appended
 * (an appender left with half a row fails every later flush). A hot path: one loop, no closures.
 */
export function rowOf<S>(table: Table<S>, source: S): Value[] {
  const columns = table.columns;
  const row: Value[] = new Array(columns.length);
  for (let i = 0; i < columns.length; i++) {
    const c = columns[i];
    const v = c.value(source);
    if (v === null || v === undefined) {
      if (c.notNull) throw new RangeError(`${table.name}.${c.name} must not be empty, got ${JSON.stringify(v)}`);
      row[i] = null;
      continue;
    }
    const [fits, why] = FITS[c.type];
    if (!fits(v)) throw new RangeError(`${table.name}.${c.name} ${why}, got ${JSON.stringify(v)}`);
    row[i] = v;
  }
  return row;
}

/**
 * Moves a staging table's rows into its keyed table (the DELETE of the staging rows follows
 * separately). Metrics and component rows: the first row of a key wins (stored before staged,
 * earlier staged before later). Runs: a stored run is replaced only when it ended `failed` or
 * `cancelled` (a retry that finished); among staged rows of one key a finished one wins over a
 * failed one, then the earliest. `distinct`: the staged keys are known to be distinct, so every
 * staged row is its key's first and no window is needed to pick it.
 */
export function insertSql<S>(t: Table<S>, distinct = false): string {
  const key = t.key.join(", ");
  const isRuns = t.name === "runs";
  const order = isRuns ? "(status IN ('ok', 'diverged')) DESC, rowid" : "rowid";
  const first = distinct
    ? `SELECT * FROM temp.${t.name}_in`
    : `SELECT * EXCLUDE (rn) FROM (SELECT *, row_number() OVER (PARTITION BY ${key} ORDER BY ${order}) AS rn FROM temp.${t.name}_in) WHERE rn = 1`;
  if (!isRuns) return `INSERT OR IGNORE INTO ${t.name} ${first}`;
  // conflicts found through the key's index, not a join with every stored run (which made each
  // commit slower as the store grew)
  const update = t.columns.filter((c) => !t.key.includes(c.name)).map((c) => `${quote(c.name)} = excluded.${quote(c.name)}`);
  return `INSERT INTO runs ${first} ON CONFLICT (${key}) DO UPDATE SET ${update.join(", ")} WHERE runs.status IN ('failed', 'cancelled') AND excluded.status IN ('ok', 'diverged')`;
}

/**
 * After `insertSql`, every staged key is stored: the staged rows whose `content` columns differ
 * from their key's stored row are the conflicts (only run when some staged row was not inserted).
 */
export function conflictsSql<S>(t: Table<S>): string {
  const content = (alias: string) => `hash(${t.columns.filter((c) => c.content).map((c) => `${alias}.${quote(c.name)}`).join(", ")})`;
  return `SELECT DISTINCT s.sweep_id, s.run_id FROM temp.${t.name}_in s JOIN ${t.name} m USING (${t.key.join(", ")}) WHERE ${content("s")} <> ${content("m")}`;
}
