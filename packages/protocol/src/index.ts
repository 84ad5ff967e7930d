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
export { codeVersion } from "./version.ts";
