// What the pool and its threads exchange.
import type { MessagePort } from "node:worker_threads";

/** What the pool sends a thread for one run. */
export type TaskInput = {
  /** The encoded Job (protobuf). */
  job: Uint8Array;
  /** Where the thread sends metric batches (a ProgressSink exposed with comlink). */
  progress: MessagePort;
  /** Who ran it, recorded in the result. */
  workerId: string;
};

/** The main thread's side of a task's MessagePort. */
export type ProgressSink = {
  /** An encoded MetricBatch. */
  metrics(batch: Uint8Array): Promise<void>;
};
