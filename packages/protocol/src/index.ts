export type { Job, MetricBatch, RunResult, RunStatusName, SweepInfo } from "./codec.ts";
export {
  decodeJob,
  decodeMetricBatch,
  decodeRunResult,
  decodeSweepInfo,
  encodeJob,
  encodeMetricBatch,
  encodeRunResult,
  encodeSweepInfo,
  ProtocolError,
  RUN_STATUSES,
} from "./codec.ts";
export type { NatsOptions, TopologyOptions } from "./nats.ts";
export {
  CONSUMERS,
  connectNats,
  ensureTopology,
  KEYS,
  KV_BUCKET,
  NATS_OPTION_ENV,
  NatsConnectError,
  STREAMS,
  SUBJECTS,
  token,
} from "./nats.ts";
export { codeVersion } from "./version.ts";
