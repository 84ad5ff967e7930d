import type { DuckDBConnection } from "@duckdb/node-api";
import { SCHEMA } from "./schema.ts";

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
 */
export async function migrate(db: DuckDBConnection): Promise<void> {
  const v = await version(db);
  if (v === null || v >= 3) return;
  if (v !== 1 && v !== 2) throw new Error(`unknown store schema version ${v}`);
  if (v === 1) await inTransaction(db, fromV1);
  await inTransaction(db, async () => {
    await db.run("ALTER TABLE runs ADD COLUMN IF NOT EXISTS growth_json VARCHAR; UPDATE meta SET value = '3' WHERE key = 'schema_version';");
  });
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

async function fromV1(db: DuckDBConnection): Promise<void> {
  await db.run(`
      ALTER TABLE runs RENAME TO runs_v1;
      ALTER TABLE metrics RENAME TO metrics_v1;
      ALTER TABLE component_norms RENAME TO component_norms_v1;`);
    await db.run(SCHEMA);
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
