import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { DtfError } from "@dtf/engine";
import type { Job, MetricBatch, RunResult, SweepInfo } from "@dtf/protocol";
import { DOUBLE, type DuckDBAppender, type DuckDBConnection, DuckDBInstance, type DuckDBValue, LIST } from "@duckdb/node-api";
import { COLUMNS, EXPORT_TABLES, SCHEMA, SCHEMA_VERSION, STAGING } from "./schema.ts";

/** The store's file inside a sweep directory. */
export const STORE_FILE = "results.duckdb";

export class StoreError extends DtfError {}

export type StoreOptions = {
  /** A staged result is committed at most this long after it was written. @default 200 */
  commitDelayMs?: number;
  /** …or as soon as this many results are staged. @default 256 */
  commitBatch?: number;
};

type Row = (string | number | (number | null)[] | null)[];
const DOUBLES = LIST(DOUBLE);
const finite = (x: number | undefined | null) => (x === undefined || x === null || !Number.isFinite(x) ? null : x);
const finiteList = (xs: number[] | undefined) => (xs ?? []).map((x) => (Number.isFinite(x) ? x : null));

/** Appends one row whose column kinds are `kinds` (see COLUMNS). */
function appendRow(a: DuckDBAppender, kinds: string, row: Row): void {
  row.forEach((value, i) => {
    if (value === null) return a.appendNull();
    switch (kinds[i]) {
      case "v":
        return a.appendVarchar(value as string);
      case "i":
        return a.appendInteger(value as number);
      case "b":
        return a.appendBigInt(BigInt(value as number));
      case "d":
        return a.appendDouble(value as number);
      default:
        return a.appendList(value as DuckDBValue[], DOUBLES);
    }
  });
  a.endRow();
}

/** Moves a staging table into its keyed table; the last staged row of a key wins. */
const merge = (table: string, key: string) =>
  `INSERT OR REPLACE INTO ${table} SELECT * EXCLUDE (rn) FROM (SELECT *, row_number() OVER (PARTITION BY ${key} ORDER BY rowid DESC) AS rn FROM temp.${table}_in) WHERE rn = 1; DELETE FROM temp.${table}_in;`;

/**
 * One sweep directory's result store (DuckDB). Every write is an upsert on the table's key
 * (run id; run id + step; run id + step + k), so a re-run or a redelivered message leaves exactly
 * one row per key. Writes are staged and committed in groups (group commit): a run's metrics and
 * its row always land in the same transaction, and `writeResult` resolves once they are durable.
 * Single writer: one process opens a store at a time.
 */
export class ResultStore {
  private waiting: { resolve: () => void; reject: (e: unknown) => void }[] = [];
  private timer: NodeJS.Timeout | null = null;
  /** Operations run one at a time: the connection, its transactions and the appenders are shared. */
  private queue: Promise<unknown> = Promise.resolve();
  private readonly commitDelayMs: number;
  private readonly commitBatch: number;

  private constructor(
    private readonly instance: DuckDBInstance,
    private readonly db: DuckDBConnection,
    private readonly appenders: Record<keyof typeof COLUMNS, DuckDBAppender>,
    readonly dir: string,
    options: StoreOptions,
  ) {
    this.commitDelayMs = options.commitDelayMs ?? 200;
    this.commitBatch = options.commitBatch ?? 256;
  }

  static async open(dir: string, options: StoreOptions = {}): Promise<ResultStore> {
    mkdirSync(dir, { recursive: true });
    let instance: DuckDBInstance;
    try {
      // One thread: the store's merges are small, and the cores belong to the trainings.
      instance = await DuckDBInstance.create(join(dir, STORE_FILE), { threads: "1" });
    } catch (err) {
      throw new StoreError(`cannot open the result store in ${dir}: ${(err as Error).message}`, { cause: err });
    }
    const db = await instance.connect();
    await db.run(SCHEMA);
    await db.run(STAGING);
    await db.run("INSERT OR REPLACE INTO meta VALUES ('schema_version', $1)", [String(SCHEMA_VERSION)]);
    const appenders = {
      metrics: await db.createAppender("metrics_in", "main", "temp"),
      component_norms: await db.createAppender("component_norms_in", "main", "temp"),
      runs: await db.createAppender("runs_in", "main", "temp"),
    };
    return new ResultStore(instance, db, appenders, dir, options);
  }

  private exclusive<T>(op: () => Promise<T>): Promise<T> {
    const run = this.queue.then(op);
    this.queue = run.catch(() => undefined);
    return run;
  }

  recordSweep(info: SweepInfo): Promise<void> {
    return this.exclusive(async () => {
      await this.db.run("INSERT OR REPLACE INTO sweeps VALUES ($1, $2, $3, $4, $5, $6)", [
        info.sweep_id,
        info.name,
        info.spec_json,
        info.total_runs,
        info.code_version,
        info.created_ms,
      ]);
    });
  }

  /** Stages a batch of evaluations and their component norms (committed with the next commit). */
  writeMetrics(batch: MetricBatch): Promise<void> {
    return this.exclusive(async () => {
      for (const p of batch.points) {
        appendRow(this.appenders.metrics, COLUMNS.metrics, [
          batch.run_id,
          p.step,
          finite(p.train_loss),
          finite(p.recon_error),
          finite(p.heldout_mse),
          finite(p.cp_erank),
          finiteList(p.unfolding_eranks),
          finiteList(p.singular_values),
          p.rank_estimate,
          p.wall_ms,
        ]);
        p.component_norms.forEach((norm, k) => {
          appendRow(this.appenders.component_norms, COLUMNS.component_norms, [batch.run_id, p.step, k, finite(norm), finite(p.gamma[k])]);
        });
      }
    });
  }

  /**
   * Stages the run's row; resolves once it and every metric staged before it are committed
   * (within `commitDelayMs`, or at once when `commitBatch` results are waiting).
   */
  writeResult(job: Job, result: RunResult, runIndex: number | null = null): Promise<void> {
    const s = job.spec;
    const f = result.final;
    let waiter!: { resolve: () => void; reject: (e: unknown) => void };
    const committed = new Promise<void>((resolve, reject) => {
      waiter = { resolve, reject };
    });
    this.waiting.push(waiter);
    const staged = this.exclusive(async () => {
      appendRow(this.appenders.runs, COLUMNS.runs, [
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
        f ? finiteList(f.unfolding_eranks) : null,
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
    });
    staged.catch((err) => {
      this.waiting = this.waiting.filter((w) => w !== waiter);
      waiter.reject(err);
    });
    // Errors of a commit reach the waiting writeResult calls; nothing else awaits these.
    const commitLater = () => this.commit().catch(() => undefined);
    if (this.waiting.length >= this.commitBatch) void commitLater();
    else this.timer ??= setTimeout(commitLater, this.commitDelayMs);
    return committed;
  }

  /** Commits everything staged (one transaction) and resolves the waiting writeResult calls. */
  commit(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const waiting = this.waiting;
    this.waiting = [];
    return this.exclusive(() => this.mergeAll()).then(
      () => {
        for (const w of waiting) w.resolve();
      },
      (err) => {
        for (const w of waiting) w.reject(err);
        throw err;
      },
    );
  }

  /** Inside the queue: moves every staged row into the keyed tables in one transaction. */
  private async mergeAll(): Promise<void> {
    for (const a of Object.values(this.appenders)) a.flushSync();
    await this.db.run("BEGIN TRANSACTION");
    try {
      await this.db.run(merge("metrics", "run_id, step") + merge("component_norms", "run_id, step, k") + merge("runs", "run_id"));
      await this.db.run("COMMIT");
    } catch (err) {
      await this.db.run("ROLLBACK");
      throw err;
    }
  }

  /** Run ids of the sweep that finished (ok or diverged): a resumed sweep skips them. */
  async finishedRunIds(sweepId: string): Promise<Set<string>> {
    const rows = await this.query<{ run_id: string }>(
      "SELECT run_id FROM runs WHERE sweep_id = $1 AND status IN ('ok', 'diverged')",
      [sweepId],
    );
    return new Set(rows.map((r) => r.run_id));
  }

  /** Rows of a query (after committing what is staged) as plain JSON objects. */
  async query<T = Record<string, unknown>>(sql: string, params: DuckDBValue[] = []): Promise<T[]> {
    await this.commit();
    return this.exclusive(async () => (await this.db.runAndReadAll(sql, params)).getRowObjectsJson() as T[]);
  }

  /** Writes every table to DIR/<table>.csv or .parquet; returns the files. */
  async exportTables(outDir: string, format: "csv" | "parquet"): Promise<string[]> {
    await this.commit();
    mkdirSync(outDir, { recursive: true });
    const files: string[] = [];
    for (const table of EXPORT_TABLES) {
      const file = join(outDir, `${table}.${format}`);
      const options = format === "csv" ? "(HEADER, DELIMITER ',')" : "(FORMAT PARQUET)";
      const sql = `COPY (SELECT * FROM ${table} ORDER BY ALL) TO '${file.replaceAll("'", "''")}' ${options}`;
      await this.exclusive(() => this.db.run(sql));
      files.push(file);
    }
    return files;
  }

  /** Commits what is staged, then closes. */
  async close(): Promise<void> {
    await this.commit();
    for (const a of Object.values(this.appenders)) a.closeSync();
    this.db.closeSync();
    this.instance.closeSync();
  }
}
