import { codeVersion, type Job, type RunResult } from "@dtf/protocol";
import { ResultStore } from "@dtf/store";
import { canonicalJson, expandRuns, type LoadedSweep } from "@dtf/sweep";
import { RunPool } from "@dtf/worker";
import type { ProgressDisplay } from "./progress.ts";

export type LocalRunOptions = {
  /** The sweep directory (holds the result store). */
  out: string;
  threads: number;
  /** Aborting stops scheduling and cancels running runs; finished runs stay stored. */
  signal: AbortSignal;
  progress: ProgressDisplay;
};

export type LocalRunSummary = { ran: number; skipped: number; cancelled: boolean };

/**
 * Runs a sweep on this machine, no broker: the same jobs, pool, messages and store as cluster mode.
 * Runs already finished in the store (ok or diverged) are skipped, so running it again resumes.
 * Runs are expanded lazily and at most 2 × threads are queued, so memory stays flat.
 */
export async function runSweepLocally(loaded: LoadedSweep, options: LocalRunOptions): Promise<LocalRunSummary> {
  const { sweep, sweepId, count } = loaded;
  const store = await ResultStore.open(options.out);
  const pool = new RunPool({ threads: options.threads });
  const summary: LocalRunSummary = { ran: 0, skipped: 0, cancelled: false };
  try {
    await store.recordSweep({
      sweep_id: sweepId,
      name: sweep.name,
      spec_json: canonicalJson(sweep),
      total_runs: count,
      code_version: codeVersion(),
      created_ms: Date.now(),
    });
    const finished = await store.finishedRunIds(sweepId);
    const seen = new Set<string>();
    const inFlight = new Set<Promise<void>>();
    const commits = new Set<Promise<void>>();
    const track = (set: Set<Promise<void>>, p: Promise<void>) => {
      set.add(p);
      const settle = () => set.delete(p);
      p.then(settle, settle);
    };
    for (const planned of expandRuns(sweep)) {
      if (options.signal.aborted) break;
      if (seen.has(planned.runId)) continue;
      seen.add(planned.runId);
      if (finished.has(planned.runId)) {
        options.progress.skip();
        summary.skipped++;
        continue;
      }
      const job: Job = { sweep_id: sweepId, run_id: planned.runId, attempt: 1, spec: planned.spec, point: planned.point };
      options.progress.start();
      const task = pool
        .run(job, { signal: options.signal, onMetrics: (batch) => store.writeMetrics(batch) })
        .then((result: RunResult) => {
          if (result.status === "cancelled") return options.progress.finish(result, planned.point);
          // The slot is free now; the run counts as done once its row is committed.
          track(
            commits,
            store.writeResult(job, result, planned.index).then(() => {
              summary.ran++;
              options.progress.finish(result, planned.point);
            }),
          );
        });
      track(inFlight, task);
      if (inFlight.size >= 2 * options.threads) await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
    await Promise.all(commits);
    summary.cancelled = options.signal.aborted;
    return summary;
  } finally {
    await pool.close();
    await store.close();
  }
}
