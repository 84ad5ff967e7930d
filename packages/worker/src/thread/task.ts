// The pool thread's task: decode a job, train, send metric batches, return the result.
import { type MetricPoint, train } from "@dtf/engine";
import { codeVersion, decodeJob, encodeMetricBatch, encodeRunResult, type RunResult } from "@dtf/protocol";
import * as Comlink from "comlink";
import { nodeEndpoint } from "../comlink-node.ts";
import type { ProgressSink, TaskInput } from "../types.ts";

/** Evaluations per metric batch sent to the main thread. */
const BATCH = 50;

/**
 * One training in a pool thread: decodes the job, trains, streams metric batches over the task's
 * MessagePort (waiting for each to be acknowledged, so all metrics arrive before the result), and
 * returns the encoded RunResult. Throws only for a job it cannot decode; the pool turns that, and
 * any crash of the thread, into a `failed` result.
 */
export default async function runTask(input: TaskInput): Promise<Uint8Array> {
  const job = decodeJob(input.job);
  const sink = Comlink.wrap<ProgressSink>(nodeEndpoint(input.progress));
  const sent: Promise<void>[] = [];
  let pending: MetricPoint[] = [];
  const flush = () => {
    if (pending.length === 0) return;
    const bytes = encodeMetricBatch({ sweep_id: job.sweep_id, run_id: job.run_id, run_index: job.run_index, attempt: job.attempt, points: pending });
    pending = [];
    sent.push(sink.metrics(Comlink.transfer(bytes, [bytes.buffer])));
  };
  try {
    const result = await train(job.spec, {
      onMetrics: (point) => {
        pending.push(point);
        if (pending.length >= BATCH) flush();
      },
    });
    flush();
    await Promise.all(sent);
    const out: RunResult = {
      sweep_id: job.sweep_id,
      run_id: job.run_id,
      attempt: job.attempt,
      status: result.status,
      stop_reason: result.stop_reason,
      steps: result.steps,
      final: result,
      threshold_steps: Object.fromEntries(
        Object.entries(result.threshold_steps).filter(([, s]) => s !== null),
      ) as Record<string, number>,
      wall_ms: result.wall_ms,
      engine: result.engine,
      code_version: codeVersion(),
      worker_id: input.workerId,
      error: "",
      growth: result.growth,
    };
    return encodeRunResult(out);
  } finally {
    sink[Comlink.releaseProxy]();
    input.progress.close();
  }
}
