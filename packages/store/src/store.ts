// The DuckDB result store: checked staging, group commits, keep-first merges.
import { randomBytes } from "node:crypto";
import { renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { DtfError } from "@dtf/engine";
import type { Job, MetricBatch, RunResult, SweepInfo } from "@dtf/protocol";
import {
  BIGINT,
  DOUBLE,
  type DuckDBAppender,
  type DuckDBConnection,
  DuckDBDataChunk,
  DuckDBInstance,
  type DuckDBType,
  type DuckDBValue,
  INTEGER,
  LIST,
  listValue,
  VARCHAR,
} from "@duckdb/node-api";
import { makeDirectories } from "./directories.ts";
import { migrate } from "./migrate.ts";
import {
  type ColumnType,
  conflictsSql,
  EXPORT_TABLES,
  insertSql,
  METRICS,
  RUNS,
  rowOf,
  SCHEMA,
  SCHEMA_VERSION,
  STAGED_TABLES,
  STAGING,
  type Table,
  type Value,
} from "./schema.ts";
import { StagedRows } from "./staged.ts";

/** What the store keeps of a job and a metric batch: the run's position is `runIndex`, given apart. */
type StoredJob = Omit<Job, "run_index">;
type StoredBatch = Omit<MetricBatch, "run_index">;

/** The store's file inside a sweep directory. */
export const STORE_FILE = "results.duckdb";

export class StoreError extends DtfError {}

/** The store file is held by another process (DuckDB allows one writer): read it through that process. */
export class StoreLockedError extends StoreError {}

/**
 * A row not staged because a commit failed (discarding what was staged) after its writer read
 * `ResultStore.discards`: the rows it counted on are gone, so it must be staged again with them.
 * Not a StoreError: nothing is wrong with the row.
 */
export class StagingDiscardedError extends Error {}

/**
 * How long a staged row may wait for the commit that groups it with others, unless a writer says
 * otherwise: the aggregator commits this often, the local runner waits 500 ms (its commits take
 * CPU from the trainings) and commits a sweep's last results at once.
 */
export const DEFAULT_COMMIT_DELAY_MS = 200;

export type StoreOptions = {
  /** A staged result is committed at most this long after it was written. @default DEFAULT_COMMIT_DELAY_MS */
  commitDelayMs?: number;
  /** …or as soon as this many results are staged. @default 256 */
  commitBatch?: number;
};

/** Rows of a commit that repeated a stored key with other values (the first row was kept). */
export type Conflict = { table: string; sweep_id: string; run_id: string };

/** The stored row of a run, as far as a conflict check needs it. */
export type StoredRun = {
  status: string;
  stop_reason: string;
  attempt: number;
  worker_id: string;
  steps: number;
  train_loss: number | null;
  recon_error: number | null;
};

const DUCKDB_TYPE: Record<ColumnType, DuckDBType> = { VARCHAR, INTEGER, BIGINT, DOUBLE, "DOUBLE[]": LIST(DOUBLE) };
const typesOf = new WeakMap<object, DuckDBType[]>();

/** Rows per data chunk: DuckDB's vector size, the most one chunk holds. */
const CHUNK_ROWS = 2048;

/** Fewer rows than this go value by value: a data chunk costs ~0.8 ms to create (2 048-row vectors per column). */
const CHUNK_FROM_ROWS = 16;
/** Metrics rows held in memory before they go to the appender without waiting for a commit. */
const METRICS_HELD_ROWS = 4096;

/**
 * Appends checked rows. Many rows go a data chunk at a time: the values go column by column into
 * the chunk's vectors (a list's numbers into one flat child vector), not one native call per value
 * — with the component lists, per-value appends were most of the aggregator's time. A few rows
 * (a run's result) go value by value.
 */
function appendRows<S>(a: DuckDBAppender, table: Table<S>, rows: Value[][]): void {
  let types = typesOf.get(table);
  if (!types) {
    types = table.columns.map((c) => DUCKDB_TYPE[c.type]);
    typesOf.set(table, types);
  }
  if (rows.length < CHUNK_FROM_ROWS) {
    for (const row of rows) {
      for (let i = 0; i < row.length; i++) {
        const v = row[i];
        if (v === null) a.appendNull();
        else a.appendValue(toDuckDB(table.columns[i].type, v), types[i]);
      }
      a.endRow();
    }
    return;
  }
  for (let start = 0; start < rows.length; start += CHUNK_ROWS) {
    const part = rows.slice(start, start + CHUNK_ROWS);
    const columns = table.columns.map((c, i) => part.map((row) => toDuckDB(c.type, row[i])));
    const chunk = DuckDBDataChunk.create(types, part.length);
    chunk.setColumns(columns);
    a.appendDataChunk(chunk);
  }
}

function toDuckDB(type: ColumnType, v: Value): DuckDBValue {
  if (v === null) return null;
  if (type === "BIGINT") return BigInt(v as number);
  if (type === "DOUBLE[]") return listValue(v as (number | null)[]);
  return v as string | number;
}

/** A batch's metrics rows, every value checked (a StoreError naming the column otherwise). */
function metricRowsOf(batch: StoredBatch): Value[][] {
  try {
    const sweepId = batch.sweep_id;
    const runId = batch.run_id;
    // object literals of one shape (not spreads): these run once per row, hundreds of thousands of times
    return batch.points.map((point) => rowOf(METRICS, { sweepId, runId, point }));
  } catch (err) {
    throw new StoreError(`cannot store the metrics of run ${batch.run_id}: ${(err as Error).message}`, { cause: err });
  }
}

/** Why DuckDB could not open a store file, in words a user can act on. */
function openFailure(dir: string, err: unknown): StoreError {
  const message = (err as Error).message;
  if (/lock/i.test(message)) {
    const why = "another process (an aggregator or dtf run) is writing it; read it through that process (dtf report/export ask it for a snapshot)";
    return new StoreLockedError(`cannot open the result store in ${dir}: ${why}`, { cause: err });
  }
  const why = /read-only|permission denied/i.test(message)
      ? "the directory is not writable"
      : /not a valid DuckDB|corrupt|invalid|truncated|Could not read/i.test(message)
        ? "the file is damaged or not a DuckDB database"
        : message;
  return new StoreError(`cannot open the result store in ${dir}: ${why}`, { cause: err });
}

/**
 * One sweep directory's result store (DuckDB). Writes are staged (appenders) and committed in groups
 * (group commit): a run's metrics and its row always land in the same transaction, and
 * `writeResult` resolves once they are durable. Every value is checked against its column before it
 * is staged, so one bad row is an error for its writer, never a store that can no longer commit.
 * Rows are never silently replaced: the first metric row of a key wins (a differing repeat is a
 * reported conflict), and a run's row is replaced only when the stored one failed. Single writer:
 * one process opens a store at a time; `snapshot()` gives readers a consistent copy meanwhile.
 */
export class ResultStore {
  private waiting: { resolve: () => void; reject: (e: unknown) => void }[] = [];
  private timer: NodeJS.Timeout | null = null;
  /** Operations run one at a time: the connection, its transactions and the appenders are shared. */
  private queue: Promise<unknown> = Promise.resolve();
  private readonly commitDelayMs: number;
  private readonly commitBatch: number;
  /** Set by `commitPromptly`: every result is committed as soon as it is staged. */
  private prompt = false;
  /** Conflicts found by commits since the last `takeConflicts()`. */
  private conflicts: Conflict[] = [];
  /** A `stageMetricsNow` append that failed: the next commit fails with it. */
  private appendFailure: Error | null = null;
  /**
   * Checked metrics rows not yet handed to the appender: they go at the next commit (or once
   * METRICS_HELD_ROWS wait), many at a time, since a data chunk costs a fraction of the
   * value-by-value appends a small batch would take (most batches are a dozen rows).
   */
  private heldMetrics: Value[][] = [];
  /** What the staging tables hold, counted as it is appended. */
  private readonly staged = new StagedRows();
  private discardCount = 0;

  private constructor(
    private readonly instance: DuckDBInstance,
    private readonly db: DuckDBConnection,
    private readonly appenders: Record<string, DuckDBAppender>,
    readonly dir: string,
    /** A random id made when the store was created (names its aggregator consumer). */
    readonly id: string,
    options: StoreOptions,
  ) {
    this.commitDelayMs = options.commitDelayMs ?? DEFAULT_COMMIT_DELAY_MS;
    this.commitBatch = options.commitBatch ?? 256;
  }

  /** Opens (creating when missing) the store of `dir`; `readOnly` opens an existing one for reading. */
  static async open(dir: string, options: StoreOptions & { readOnly?: boolean } = {}): Promise<ResultStore> {
    let instance: DuckDBInstance;
    try {
      if (!options.readOnly) makeDirectories(dir);
      // One thread: the store's merges are small, and the cores belong to the trainings.
      instance = await DuckDBInstance.create(join(dir, STORE_FILE), { threads: "1", ...(options.readOnly ? { access_mode: "READ_ONLY" } : {}) });
    } catch (err) {
      throw openFailure(dir, err);
    }
    try {
      const db = await instance.connect();
      if (options.readOnly) return new ResultStore(instance, db, {}, dir, "", options);
      await migrate(db);
      await db.run(SCHEMA);
      await db.run(STAGING);
      await db.run("INSERT OR REPLACE INTO meta VALUES ('schema_version', $1)", [String(SCHEMA_VERSION)]);
      await db.run("INSERT OR IGNORE INTO meta VALUES ('store_id', $1)", [randomBytes(8).toString("hex")]);
      const id = (await db.runAndReadAll("SELECT value FROM meta WHERE key = 'store_id'")).getRowObjectsJson()[0].value as string;
      const appenders: Record<string, DuckDBAppender> = {};
      for (const t of STAGED_TABLES) appenders[t.name] = await db.createAppender(`${t.name}_in`, "main", "temp");
      return new ResultStore(instance, db, appenders, dir, id, options);
    } catch (err) {
      instance.closeSync();
      throw err instanceof StoreError ? err : openFailure(dir, err);
    }
  }

  /** Opened for writing (a read-only store has no appenders and nothing to commit). */
  private get writable(): boolean {
    return Object.keys(this.appenders).length > 0;
  }

  private exclusive<T>(op: () => Promise<T>): Promise<T> {
    const run = this.queue.then(op);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Records (or updates) the sweep's row: name, spec, total runs, code version. */
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

  /**
   * Stages a batch of evaluations and their component norms (committed with the next commit).
   * Rejects, staging nothing, when a value does not fit its column.
   */
  stageMetrics(batch: StoredBatch): Promise<void> {
    let rows: Value[][];
    try {
      rows = metricRowsOf(batch);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.appendMetrics(rows);
  }

  /**
   * `stageMetrics` without waiting for the queue: throws at once (staging nothing) when a value
   * does not fit its column, else returns while a commit may still be running — a training
   * thread acking its metrics need not wait for one. Should the append itself fail, the next
   * commit fails with that error (so the runs waiting on it are not reported stored).
   */
  stageMetricsNow(batch: StoredBatch): void {
    void this.appendMetrics(metricRowsOf(batch)).catch((err: Error) => {
      this.appendFailure ??= err;
    });
  }

  /** Holds checked metrics rows for the appender (in order with every other staged write). */
  private appendMetrics(rows: Value[][]): Promise<void> {
    for (const row of rows) this.heldMetrics.push(row);
    if (this.heldMetrics.length < METRICS_HELD_ROWS) return Promise.resolve();
    return this.exclusive(async () => this.appendHeldMetrics());
  }

  /** Inside the queue: hands the held metrics rows to the appender. */
  private appendHeldMetrics(): void {
    const rows = this.heldMetrics;
    this.heldMetrics = [];
    if (rows.length > 0) this.append(METRICS, rows);
  }

  /** Inside the queue: appends checked rows to `table`'s staging table. */
  private append<S>(table: Table<S>, rows: Value[][]): void {
    this.staged.add(table as Table<unknown>, rows);
    try {
      appendRows(this.appenders[table.name], table, rows);
    } catch (err) {
      this.staged.lost(); // some of the rows may be in the appender
      throw err;
    }
  }

  /** Throws the StoreError `stageResult` would reject with when a value does not fit its column. */
  checkResult(job: StoredJob, result: RunResult, runIndex: number | null = null): Value[] {
    try {
      return rowOf(RUNS, { job, result, runIndex, finishedMs: Date.now() });
    } catch (err) {
      throw new StoreError(`cannot store the result of run ${job.run_id}: ${(err as Error).message}`, { cause: err });
    }
  }

  /**
   * How many commits failed and discarded what was staged. A writer that reads it before staging
   * the rows a result depends on passes it to `stageResult`, so the result is never staged after
   * those rows were discarded (it would be committed without them).
   */
  get discards(): number {
    return this.discardCount;
  }

  /**
   * Stages the run's row (rejects, staging nothing, when a value does not fit its column, or with
   * StagingDiscardedError when a commit failed since `discards` read `discardsBefore`).
   */
  stageResult(job: StoredJob, result: RunResult, runIndex: number | null = null, discardsBefore?: number): Promise<void> {
    let row: Value[];
    try {
      row = this.checkResult(job, result, runIndex);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.exclusive(async () => {
      // checked inside the queue, where commits run: no commit can fail between check and append
      if (discardsBefore !== undefined && discardsBefore !== this.discardCount) {
        throw new StagingDiscardedError(`the rows staged before the result of run ${job.run_id} were discarded by a failed commit`);
      }
      this.append(RUNS, [row]);
    });
  }

  /**
   * Stages the run's row; resolves once it and every metric staged before it are committed
   * (within `commitDelayMs`, or at once when `commitBatch` results are waiting or after
   * `commitPromptly`).
   */
  async writeResult(job: StoredJob, result: RunResult, runIndex: number | null = null): Promise<void> {
    await this.stageResult(job, result, runIndex);
    const committed = new Promise<void>((resolve, reject) => this.waiting.push({ resolve, reject }));
    // Errors of a commit reach the waiting writeResult calls; nothing else awaits these.
    const commitLater = () => this.commit().catch(() => undefined);
    if (this.waiting.length >= this.commitBatch || this.prompt) void commitLater();
    else this.timer ??= setTimeout(commitLater, this.commitDelayMs);
    return committed;
  }

  /**
   * From now on, commits what waits at once and every later result as soon as it is staged: for
   * the end of a sweep, when no later result will join the group to share its commit.
   */
  commitPromptly(): void {
    this.prompt = true;
    if (this.waiting.length > 0) void this.commit().catch(() => undefined);
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

  /**
   * Inside the queue: moves every staged row into the keyed tables in one transaction. When that
   * fails (e.g. a full disk: DuckDB then commits the TEMP staging tables' part of the transaction
   * but not the file's), the staged rows are discarded and the error says so: the caller stages
   * them again (the aggregator lets their messages be redelivered). Nothing is half-kept.
   */
  private async mergeAll(): Promise<void> {
    try {
      this.appendHeldMetrics();
    } catch (err) {
      this.appendFailure ??= err as Error;
    }
    const failed = this.appendFailure;
    if (failed) {
      this.appendFailure = null;
      this.discardCount++;
      this.staged.lost();
      await this.db.run(STAGED_TABLES.map((t) => `DELETE FROM temp.${t.name}_in;`).join("\n")).catch(() => undefined);
      throw new StoreError(`commit failed, the rows staged since the last commit were discarded: staging failed: ${failed.message}`, { cause: failed });
    }
    try {
      for (const a of Object.values(this.appenders)) a.flushSync();
    } catch (err) {
      this.discardCount++;
      this.staged.lost(); // some rows may have reached the staging tables
      throw err;
    }
    await this.db.run("BEGIN TRANSACTION");
    try {
      const found: Conflict[] = [];
      for (const t of STAGED_TABLES as readonly Table<unknown>[]) {
        const staged = this.staged.count(t) ?? Number((await this.db.runAndReadAll(`SELECT count(*) FROM temp.${t.name}_in`)).getRows()[0][0]);
        if (staged === 0) continue;
        const inserted = (await this.db.run(insertSql(t, this.staged.distinct(t)))).rowsChanged;
        // every staged row became a new row: no repeat, so no conflict (the common case, no join)
        if (t !== (RUNS as Table<unknown>) && inserted < staged) {
          const rows = (await this.db.runAndReadAll(conflictsSql(t))).getRowObjectsJson() as { sweep_id: string; run_id: string }[];
          for (const r of rows) found.push({ table: t.name, sweep_id: r.sweep_id, run_id: r.run_id });
        }
        await this.db.run(`DELETE FROM temp.${t.name}_in`);
      }
      await this.db.run("COMMIT");
      this.staged.cleared();
      this.conflicts.push(...found);
    } catch (err) {
      this.discardCount++;
      this.staged.lost();
      await this.db.run("ROLLBACK").catch(() => undefined); // a failed COMMIT has ended the transaction already
      await this.db.run(STAGED_TABLES.map((t) => `DELETE FROM temp.${t.name}_in;`).join("\n")).catch(() => undefined);
      throw new StoreError(`commit failed, the rows staged since the last commit were discarded: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Conflicts found by the commits since the last call (metric rows that repeated a key with other values). */
  takeConflicts(): Conflict[] {
    const out = this.conflicts;
    this.conflicts = [];
    return out;
  }

  /** The committed row of a run of a sweep, or null. */
  async storedRun(sweepId: string, runId: string): Promise<StoredRun | null> {
    const rows = await this.exclusive(async () =>
      (
        await this.db.runAndReadAll("SELECT status, stop_reason, attempt, worker_id, steps, train_loss, recon_error FROM runs WHERE sweep_id = $1 AND run_id = $2", [sweepId, runId])
      ).getRowObjectsJson(),
    );
    return (rows[0] as StoredRun | undefined) ?? null;
  }

  /**
   * Which of `runIds` finished (ok or diverged) in the sweep: a resumed sweep skips them. Asked a
   * page of runs at a time, so the runner never holds every run id of a large sweep.
   */
  async finishedAmong(sweepId: string, runIds: readonly string[]): Promise<Set<string>> {
    if (runIds.length === 0) return new Set();
    const rows = await this.query<{ run_id: string }>(
      "SELECT run_id FROM runs WHERE sweep_id = $1 AND status IN ('ok', 'diverged') AND list_contains($2::VARCHAR[], run_id)",
      [sweepId, listValue([...runIds])],
    );
    return new Set(rows.map((r) => r.run_id));
  }

  /** Distinct evaluation steps of a run stored (committed) so far; reads without committing. */
  async metricStepsOf(sweepId: string, runId: string): Promise<Set<number>> {
    const rows = await this.query<{ step: number }>("SELECT DISTINCT step::BIGINT AS step FROM metrics WHERE sweep_id = $1 AND run_id = $2", [sweepId, runId]);
    return new Set(rows.map((r) => Number(r.step)));
  }

  async countMetricSteps(sweepId: string, runId: string): Promise<number> {
    const rows = await this.exclusive(async () =>
      (await this.db.runAndReadAll("SELECT count(DISTINCT step)::INTEGER AS n FROM metrics WHERE sweep_id = $1 AND run_id = $2", [sweepId, runId])).getRowObjectsJson(),
    );
    return (rows[0] as { n: number } | undefined)?.n ?? 0;
  }

  /** How many runs of the sweep finished (ok or diverged). */
  async countFinished(sweepId: string): Promise<number> {
    const [row] = await this.query<{ n: number }>("SELECT count(*)::INTEGER AS n FROM runs WHERE sweep_id = $1 AND status IN ('ok', 'diverged')", [sweepId]);
    return row?.n ?? 0;
  }

  /** Rows of a query (after committing what is staged) as plain JSON objects. */
  async query<T = Record<string, unknown>>(sql: string, params: DuckDBValue[] = []): Promise<T[]> {
    if (this.writable) await this.commit();
    return this.exclusive(async () => (await this.db.runAndReadAll(sql, params)).getRowObjectsJson() as T[]);
  }

  /** Writes every table to DIR/<table>.csv or .parquet; returns the files. */
  async exportTables(outDir: string, format: "csv" | "parquet"): Promise<string[]> {
    if (this.writable) await this.commit();
    makeDirectories(outDir);
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

  /**
   * Commits, then writes a consistent copy of the store to `dir`/results.duckdb (replacing an older
   * copy only once the new one is complete), for readers while this process keeps writing.
   */
  async snapshot(dir: string): Promise<string> {
    await this.commit();
    makeDirectories(dir);
    const file = join(dir, STORE_FILE);
    const partial = join(dir, `.partial-${process.pid}-${Date.now()}.duckdb`);
    await this.exclusive(async () => {
      const path = partial.replaceAll("'", "''");
      const name = (await this.db.runAndReadAll("SELECT current_database()")).getRows()[0][0] as string;
      await this.db.run(`ATTACH '${path}' AS dtf_snapshot; COPY FROM DATABASE "${name}" TO dtf_snapshot; DETACH dtf_snapshot;`);
    });
    rmSync(`${file}.wal`, { force: true });
    renameSync(partial, file);
    rmSync(`${partial}.wal`, { force: true });
    return file;
  }

  /** Commits what is staged, then closes. */
  async close(): Promise<void> {
    if (this.writable) await this.commit();
    for (const a of Object.values(this.appenders)) a.closeSync();
    this.db.closeSync();
    this.instance.closeSync();
  }
}
