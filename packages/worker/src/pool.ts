// RunPool: runs in piscina threads, isolated, cancellable, with progress.
import { availableParallelism, hostname } from "node:os";
import { MessageChannel } from "node:worker_threads";
import { codeVersion, decodeMetricBatch, decodeRunResult, encodeJob, type Job, type MetricBatch, type RunResult } from "@dtf/protocol";
import * as Comlink from "comlink";
import { Piscina } from "piscina";
import { nodeEndpoint } from "./comlink-node.ts";
import type { ProgressSink, TaskInput } from "./types.ts";

export type PoolOptions = {
  /** Threads, one training each. @default availableParallelism() */
  threads?: number;
  /** The thread's task module (tests pass fixtures that throw or crash). @default the training task */
  taskFile?: string;
  /** Heap limit of a thread in MB: a run above it fails alone (ERR_WORKER_OUT_OF_MEMORY). */
  maxHeapMb?: number;
  /** Recorded as the result's worker_id, with the thread number. @default the host name */
  workerName?: string;
};

export type RunOptions = {
  /** Called with every metric batch, in order, before the run's result is returned. */
  onMetrics?: (batch: MetricBatch) => void | Promise<void>;
  /** Aborting cancels the run (its thread is stopped); the result has status `cancelled`. */
  signal?: AbortSignal;
};

const DEFAULT_TASK = new URL("./thread/entry.mjs", import.meta.url).href;

/**
 * A piscina pool that runs one training per thread. A run that throws, crashes its thread or runs
 * out of memory ends as a `failed` result with its error; the pool goes on with a fresh thread.
 */
export class RunPool {
  private readonly piscina: Piscina;
  private readonly workerName: string;
  private next = 0;

  constructor(options: PoolOptions = {}) {
    const threads = options.threads ?? availableParallelism();
    if (!Number.isInteger(threads) || threads < 1) {
      throw new RangeError(`options.threads must be a positive integer, got ${threads}`);
    }
    this.workerName = options.workerName ?? hostname();
    this.piscina = new Piscina({
      filename: options.taskFile ?? DEFAULT_TASK,
      minThreads: threads,
      maxThreads: threads,
      idleTimeout: 60_000,
      resourceLimits: options.maxHeapMb ? { maxOldGenerationSizeMb: options.maxHeapMb } : undefined,
    });
  }

  get threads(): number {
    return this.piscina.options.maxThreads;
  }

  /** Runs one job; resolves with its result (never rejects for a failing run). */
  async run(job: Job, options: RunOptions = {}): Promise<RunResult> {
    const workerId = `${this.workerName}/${this.next++ % this.threads}`;
    const { port1, port2 } = new MessageChannel();
    const sink: ProgressSink = {
      metrics: async (bytes) => {
        await options.onMetrics?.(decodeMetricBatch(bytes));
      },
    };
    Comlink.expose(sink, nodeEndpoint(port1));
    const input: TaskInput = { job: encodeJob(job), progress: port2, workerId };
    try {
      const out = (await this.piscina.run(input, { transferList: [port2], signal: options.signal })) as Uint8Array;
      return decodeRunResult(out);
    } catch (err) {
      const cancelled = options.signal?.aborted === true;
      return endedWithoutResult(job, workerId, cancelled ? "cancelled" : "failed", err);
    } finally {
      port1.close();
    }
  }

  async close(): Promise<void> {
    await this.piscina.destroy();
  }
}

/** The result of a run that produced none: it failed (with the error) or was cancelled. */
export function endedWithoutResult(job: Job, workerId: string, status: "failed" | "cancelled", err: unknown): RunResult {
  const e = err as { code?: string; message?: string };
  return {
    sweep_id: job.sweep_id,
    run_id: job.run_id,
    attempt: job.attempt,
    status,
    stop_reason: status,
    steps: 0,
    final: null,
    threshold_steps: {},
    wall_ms: 0,
    engine: "",
    code_version: codeVersion(),
    worker_id: workerId,
    error: status === "cancelled" ? "cancelled" : `${e?.code ? `${e.code}: ` : ""}${e?.message ?? String(err)}`,
  };
}
