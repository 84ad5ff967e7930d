export type { NatsWorkerOptions, WorkerCounters } from "./nats-worker.ts";
export { runNatsWorker } from "./nats-worker.ts";
export type { PoolOptions, RunOptions } from "./pool.ts";
export { endedWithoutResult, RunPool } from "./pool.ts";
export type { ProgressSink, TaskInput } from "./types.ts";
