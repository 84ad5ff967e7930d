import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { DtfError } from "@dtf/engine";
import type { Job, MetricBatch, RunResult, SweepInfo } from "@dtf/protocol";
import { type DuckDBConnection, DuckDBInstance, type DuckDBValue } from "@duckdb/node-api";
import { EXPORT_TABLES, SCHEMA, SCHEMA_VERSION } from "./schema.ts";

/** The store's file inside a sweep directory. */
export const STORE_FILE = "results.duckdb";

export class StoreError extends DtfError {}

/** A run row as the store keeps it (what `dtf report` and the tests read back). */
export type StoredRun = Record<string, unknown> & { run_id: string; status: string };

const finite = (x: number | undefined | null) => (x === undefined || x === null || Number.isNaN(x) ? null : x);
/** A list of doubles as list text, cast to DOUBLE[] in SQL (NaN/Inf become NULL entries). */
const doubles = (xs: number[] | undefined) => JSON.stringify((xs ?? []).map((x) => (Number.isFinite(x) ? x : null)));

/**
 * One sweep directory's result store (DuckDB). Every write is an upsert on the table's key
 * (run id; run id + step; run id + step + k) inside one transaction, so a re-run or a redelivered
 * message leaves exactly one row per key. Single writer: one process opens a store at a time.
 */
export class ResultStore {
  private constructor(
    private readonly instance: DuckDBInstance,
    private readonly db: DuckDBConnection,
    readonly dir: string,
  ) {}

  static async open(dir: string): Promise<ResultStore> {
    mkdirSync(dir, { recursive: true });
    let instance: DuckDBInstance;
    try {
      instance = await DuckDBInstance.create(join(dir, STORE_FILE));
    } catch (err) {
      throw new StoreError(`cannot open the result store in ${dir}: ${(err as Error).message}`, { cause: err });
    }
    const db = await instance.connect();
    await db.run(SCHEMA);
    await db.run("INSERT OR REPLACE INTO meta VALUES ('schema_version', $1)", [String(SCHEMA_VERSION)]);
    return new ResultStore(instance, db, dir);
  }

  private async transaction(work: () => Promise<void>): Promise<void> {
    await this.db.run("BEGIN TRANSACTION");
    try {
      await work();
      await this.db.run("COMMIT");
    } catch (err) {
      await this.db.run("ROLLBACK");
      throw err;
    }
  }

  async recordSweep(info: SweepInfo): Promise<void> {
    await this.db.run("INSERT OR REPLACE INTO sweeps VALUES ($1, $2, $3, $4, $5, $6)", [
      info.sweep_id,
      info.name,
      info.spec_json,
      info.total_runs,
      info.code_version,
      info.created_ms,
    ]);
  }

  /** Upserts a batch of evaluations and their component norms. */
  async writeMetrics(batch: MetricBatch): Promise<void> {
    if (batch.points.length === 0) return;
    const metricRows: DuckDBValue[] = [];
    const componentRows: DuckDBValue[] = [];
    for (const p of batch.points) {
      metricRows.push(
        batch.run_id,
        p.step,
        finite(p.train_loss),
        finite(p.recon_error),
        finite(p.heldout_mse),
        finite(p.cp_erank),
        doubles(p.unfolding_eranks),
        doubles(p.singular_values),
        p.rank_estimate,
        p.wall_ms,
      );
      p.component_norms.forEach((norm, k) => {
        componentRows.push(batch.run_id, p.step, k, finite(norm), finite(p.gamma[k]));
      });
    }
    await this.transaction(async () => {
      await this.db.run(`INSERT OR REPLACE INTO metrics VALUES ${placeholders(batch.points.length, METRIC_CASTS)}`, metricRows);
      if (componentRows.length > 0) {
        await this.db.run(`INSERT OR REPLACE INTO component_norms VALUES ${placeholders(componentRows.length / 5, 5)}`, componentRows);
      }
    });
  }

  /** Upserts the run's row from its job and result. */
  async writeResult(job: Job, result: RunResult, runIndex: number | null = null): Promise<void> {
    const s = job.spec;
    const f = result.final;
    await this.db.run(`INSERT OR REPLACE INTO runs VALUES ${placeholders(1, RUN_CASTS)}`, [
      job.run_id,
      job.sweep_id,
      runIndex,
      JSON.stringify(job.point),
      JSON.stringify(s),
      s.model,
      s.variant,
      s.order,
      s.depth,
      s.components,
      s.problem,
      s.observations,
      s.init_std,
      s.optimizer,
      s.lr,
      s.seed,
      result.status,
      result.stop_reason,
      result.steps,
      finite(f?.train_loss),
      finite(f?.recon_error),
      finite(f?.heldout_mse),
      finite(f?.cp_erank),
      doubles(f?.unfolding_eranks),
      f ? f.rank_estimate : null,
      JSON.stringify(result.threshold_steps),
      result.wall_ms,
      result.engine,
      result.code_version,
      result.worker_id,
      result.attempt,
      result.error || null,
      Date.now(),
    ]);
  }

  /** Run ids of the sweep that finished (ok or diverged): a resumed sweep skips them. */
  async finishedRunIds(sweepId: string): Promise<Set<string>> {
    const rows = await this.query<{ run_id: string }>(
      "SELECT run_id FROM runs WHERE sweep_id = $1 AND status IN ('ok', 'diverged')",
      [sweepId],
    );
    return new Set(rows.map((r) => r.run_id));
  }

  /** Rows of a query as plain objects (numbers, strings, arrays; BIGINT as number). */
  async query<T = Record<string, unknown>>(sql: string, params: DuckDBValue[] = []): Promise<T[]> {
    const reader = await this.db.runAndReadAll(sql, params);
    return reader.getRowObjectsJson().map((row) => normalize(row)) as T[];
  }

  /** Writes every table to DIR/<table>.csv or .parquet; returns the files. */
  async exportTables(outDir: string, format: "csv" | "parquet"): Promise<string[]> {
    mkdirSync(outDir, { recursive: true });
    const files: string[] = [];
    for (const table of EXPORT_TABLES) {
      const file = join(outDir, `${table}.${format}`);
      const options = format === "csv" ? "(HEADER, DELIMITER ',')" : "(FORMAT PARQUET)";
      await this.db.run(`COPY (SELECT * FROM ${table} ORDER BY ALL) TO '${file.replaceAll("'", "''")}' ${options}`);
      files.push(file);
    }
    return files;
  }

  close(): void {
    this.db.closeSync();
    this.instance.closeSync();
  }
}

/** Per column of a table: the SQL cast its parameter needs ("" for none). */
const METRIC_CASTS = ["", "", "", "", "", "", "::DOUBLE[]", "::DOUBLE[]", "", ""];
const RUN_CASTS = Array.from({ length: 33 }, (_, i) => (i === 23 ? "::DOUBLE[]" : ""));

/** `($1, …, $k), (…)` for `rows` rows of k values (k = the number of columns, or their casts). */
function placeholders(rows: number, columns: number | string[]): string {
  const casts = typeof columns === "number" ? Array.from({ length: columns }, () => "") : columns;
  const k = casts.length;
  return Array.from({ length: rows }, (_, r) => `(${casts.map((cast, c) => `$${r * k + c + 1}${cast}`).join(", ")})`).join(", ");
}

/** JSON rows from DuckDB carry BIGINT/DOUBLE as strings in places; turn numeric strings back into numbers. */
function normalize(row: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(row)) out[k] = v;
  return out;
}
