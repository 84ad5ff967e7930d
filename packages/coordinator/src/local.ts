// The local runner (`dtf run`): the pool and the store without a broker, resume and Ctrl-C.
import { codeVersion, type Job, type RunResult } from "@dtf/protocol";
import { ResultStore, serveSnapshots } from "@dtf/store";
import { canonicalJson, expandRuns, type LoadedSweep, type PlannedRun } from "@dtf/sweep";
import { endedWithoutResult, RunPool } from "@dtf/worker";

/** What the local runner reports as runs start, are skipped and finish (a progress display). */
export type LocalProgress = {
  skip(): void;
  start(): void;
  finish(result: RunResult, point: Record<string, unknown>): void;
};

export type LocalRunOptions = {
  /** The sweep directory (holds the result store). */
  out: string;
  threads: number;
  /** Aborting stops scheduling and cancels running runs; finished runs stay stored. */
  signal: AbortSignal;
  progress: LocalProgress;
  /** The pool's task module (benchmarks and tests). */
  taskFile?: string;
};

/**
 * How long a finished run's row may wait for the commit that groups it with others. A commit
 * costs ~20 ms of CPU whatever it holds, taken from the trainings when every core runs one:
 * 200 ms (the store's default) spent 10–15 % of a core on commits; the last results of a sweep are
 * committed at once (`commitPromptly`), so the delay only sets how often progress moves.
 */
const COMMIT_DELAY_MS = 500;

/** Runs asked of the store at a time whether they already finished. */
const RESUME_PAGE = 2_000;

/** The planned runs, each with whether the store holds it finished: one query per page of runs. */
export async function* withFinished(
  store: ResultStore,
  sweepId: string,
  runs: Iterable<PlannedRun>,
  pageSize = RESUME_PAGE,
): AsyncGenerator<{ planned: PlannedRun; finished: boolean }> {
  let page: PlannedRun[] = [];
  const flush = async function* () {
    const finished = await store.finishedAmong(
      sweepId,
      page.map((p) => p.runId),
    );
    for (const planned of page) yield { planned, finished: finished.has(planned.runId) };
    page = [];
  };
  for (const planned of runs) {
    page.push(planned);
    if (page.length === pageSize) yield* flush();
  }
  yield* flush();
}

export type LocalRunSummary = { ran: number; skipped: number; cancelled: boolean };

/**
 * Runs a sweep on this machine, no broker: the same jobs, pool, messages and store as cluster mode.
 * Runs already finished in the store (ok or diverged) are skipped, so running it again resumes.
 * Runs are expanded lazily and at most 2 × threads are queued. A result the store cannot hold is
 * stored as `failed` with the reason; `dtf report`/`dtf export` meanwhile read snapshots.
 */
export async function runSweepLocally(loaded: LoadedSweep, options: LocalRunOptions): Promise<LocalRunSummary> {
  const { sweep, sweepId, count } = loaded;
  // The threads load their modules (~0.5 s each from the sources) while the store opens.
  const pool = new RunPool({ threads: options.threads, taskFile: options.taskFile });
  let store: ResultStore;
  let stopServing: () => Promise<void>;
  try {
    store = await ResultStore.open(options.out, { commitDelayMs: COMMIT_DELAY_MS });
    stopServing = await serveSnapshots(store);
  } catch (err) {
    await pool.close();
    throw err;
  }
  const summary: LocalRunSummary = { ran: 0, skipped: 0, cancelled: false };
  try {
    await store.recordSweep({ sweep_id: sweepId, name: sweep.name, spec_json: canonicalJson(sweep), total_runs: count, code_version: codeVersion(), created_ms: Date.now() });
    const inFlight = new Set<Promise<void>>();
    const commits = new Set<Promise<void>>();
    const track = (set: Set<Promise<void>>, p: Promise<void>) => {
      set.add(p);
      const settle = () => set.delete(p);
      p.then(settle, settle);
    };
    const storeResult = (job: Job, planned: PlannedRun, result: RunResult) =>
      store.writeResult(job, result, planned.index).catch((err: Error) => {
        // e.g. a value its column cannot hold: the run is kept as failed with the reason, the sweep goes on
        const failed = endedWithoutResult(job, result.worker_id, "failed", new Error(`cannot store the result: ${err.message}`));
        return store.writeResult(job, failed, planned.index).then(() => failed);
      });
    for await (const { planned, finished } of withFinished(store, sweepId, expandRuns(sweep))) {
      if (options.signal.aborted) break;
      if (finished) {
        options.progress.skip();
        summary.skipped++;
        continue;
      }
      const job: Job = { sweep_id: sweepId, run_id: planned.runId, run_index: planned.index, attempt: 1, spec: planned.spec, point: planned.point };
      options.progress.start();
      const task = pool.run(job, { signal: options.signal, onMetrics: (batch) => store.stageMetricsNow(batch) }).then((result: RunResult) => {
        if (result.status === "cancelled") return options.progress.finish(result, planned.point);
        // The slot is free now; the run counts as done once its row is committed.
        track(
          commits,
          storeResult(job, planned, result).then((stored) => {
            summary.ran++;
            options.progress.finish(stored ?? result, planned.point);
          }),
        );
      });
      track(inFlight, task);
      if (inFlight.size >= 2 * options.threads) await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
    store.commitPromptly();
    await Promise.all(commits);
    summary.cancelled = options.signal.aborted;
    return summary;
  } finally {
    await pool.close();
    await stopServing();
    await store.close();
  }
}
