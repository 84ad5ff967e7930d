// @dtf/worker's public entry.
export type { NatsWorkerOptions, WorkerCounters, WorkerStarted } from "./nats-worker.ts";
export { DEFAULT_GRACE_MS, runNatsWorker } from "./nats-worker.ts";
export type { PoolOptions, RunOptions } from "./pool.ts";
export { endedWithoutResult, RunPool } from "./pool.ts";
export type { ProgressSink, TaskInput } from "./types.ts";
