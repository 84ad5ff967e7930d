// Store schema migrations, in place.
import type { DuckDBConnection } from "@duckdb/node-api";
import { COMPONENT_NORMS_VIEW, METRICS, SCHEMA, tableDdl } from "./schema.ts";

async function version(db: DuckDBConnection): Promise<number | null> {
  const tables = (await db.runAndReadAll("SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' AND table_name = 'meta'")).getRows();
  if (tables.length === 0) return null; // a new store
  const rows = (await db.runAndReadAll("SELECT value FROM meta WHERE key = 'schema_version'")).getRows();
  return rows.length ? Number(rows[0][0]) : null;
}

/**
 * Brings a store written by an older dtf to the current schema, each step in one transaction,
 * losing no row.
 * v1 → v2: runs were keyed by run id alone and metrics had no sweep column; every row gets its
 * run's sweep (metrics of a run without a result row: the store's only sweep, else empty).
 * v2 → v3: runs gain growth_json (null for the runs stored before: they had no growth trace).
 * v3 → v4: the component_norms table (a row per component) becomes two list columns of the metrics
 * rows, and component_norms a view over them with the same columns.
 */
export async function migrate(db: DuckDBConnection): Promise<void> {
  const v = await version(db);
  if (v === null || v >= 4) return;
  if (v < 1 || v > 3) throw new Error(`unknown store schema version ${v}`);
  if (v === 1) await inTransaction(db, fromV1);
  if (v <= 2) {
    await inTransaction(db, async () => {
      await db.run("ALTER TABLE runs ADD COLUMN IF NOT EXISTS growth_json VARCHAR; UPDATE meta SET value = '3' WHERE key = 'schema_version';");
    });
  }
  await inTransaction(db, fromV3);
}

async function inTransaction(db: DuckDBConnection, work: (db: DuckDBConnection) => Promise<void>): Promise<void> {
  await db.run("BEGIN TRANSACTION");
  try {
    await work(db);
    await db.run("COMMIT");
  } catch (err) {
    await db.run("ROLLBACK");
    throw err;
  }
}

/** v1 → v2, written against the v2 layout (not the current SCHEMA, which later steps change). */
async function fromV1(db: DuckDBConnection): Promise<void> {
  await db.run(`
      ALTER TABLE runs RENAME TO runs_v1;
      ALTER TABLE metrics RENAME TO metrics_v1;
      ALTER TABLE component_norms RENAME TO component_norms_v1;`);
  await db.run(SCHEMA.replace(COMPONENT_NORMS_VIEW, V2_COMPONENT_NORMS).replace(tableDdl(METRICS), V2_METRICS));
  await db.run(`
      CREATE TEMP TABLE sweep_of AS
        SELECT run_id, sweep_id FROM runs_v1
        UNION ALL SELECT DISTINCT run_id, COALESCE((SELECT min(sweep_id) FROM sweeps HAVING count(*) = 1), '') FROM metrics_v1
          WHERE run_id NOT IN (SELECT run_id FROM runs_v1);
      INSERT INTO runs BY NAME SELECT * FROM runs_v1;
      INSERT INTO metrics BY NAME SELECT m.*, s.sweep_id FROM metrics_v1 m JOIN sweep_of s USING (run_id);
      INSERT INTO component_norms BY NAME SELECT c.*, s.sweep_id FROM component_norms_v1 c JOIN sweep_of s USING (run_id);
      DROP TABLE runs_v1; DROP TABLE metrics_v1; DROP TABLE component_norms_v1; DROP TABLE sweep_of;
      UPDATE meta SET value = '2' WHERE key = 'schema_version';`);
}

/**
 * v3 → v4: each metrics row takes its components' norms and γ (ordered by k) as lists; a step with
 * component rows but no metrics row (never written so, but possible in a hand-edited store) gets a
 * metrics row of its own, so no norm is lost.
 */
async function fromV3(db: DuckDBConnection): Promise<void> {
  await db.run(`
      ALTER TABLE metrics RENAME TO metrics_v3;
      ${tableDdl(METRICS)}
      INSERT INTO metrics BY NAME
        SELECT m.* EXCLUDE (sweep_id, run_id, step), sweep_id, run_id, step, c.component_norms, c.component_gammas
        FROM metrics_v3 m
        FULL JOIN (SELECT sweep_id, run_id, step, list(norm ORDER BY k) AS component_norms, list(gamma ORDER BY k) AS component_gammas
                   FROM component_norms GROUP BY sweep_id, run_id, step) c USING (sweep_id, run_id, step);
      DROP TABLE metrics_v3;
      DROP TABLE component_norms;
      ${COMPONENT_NORMS_VIEW}
      UPDATE meta SET value = '4' WHERE key = 'schema_version';`);
}

/** The v2/v3 layouts of the two tables v4 changed. */
const V2_METRICS = `CREATE TABLE IF NOT EXISTS metrics (
  "sweep_id" VARCHAR NOT NULL,
  "run_id" VARCHAR NOT NULL,
  "step" INTEGER NOT NULL,
  "train_loss" DOUBLE,
  "recon_error" DOUBLE,
  "heldout_mse" DOUBLE,
  "cp_erank" DOUBLE,
  "unfolding_eranks" DOUBLE[],
  "singular_values" DOUBLE[],
  "rank_estimate" INTEGER,
  "wall_ms" DOUBLE,
  PRIMARY KEY (sweep_id, run_id, step)
);`;

const V2_COMPONENT_NORMS = `CREATE TABLE IF NOT EXISTS component_norms (
  "sweep_id" VARCHAR NOT NULL,
  "run_id" VARCHAR NOT NULL,
  "step" INTEGER NOT NULL,
  "k" INTEGER NOT NULL,
  "norm" DOUBLE,
  "gamma" DOUBLE,
  PRIMARY KEY (sweep_id, run_id, step, k)
);`;
