// Names, codecs and the code version: safe for training threads (no NATS client is loaded).
// Connections and the topology are in "@dtf/protocol/nats".
export type { Job, MetricBatch, RunResult, RunStatusName, SweepInfo } from "./codec.ts";
export {
  decodeJob,
  decodeMetricBatch,
  decodeRunResult,
  decodeSweepInfo,
  decodeSweepRecord,
  encodeJob,
  encodeMetricBatch,
  encodeRunResult,
  encodeSweepInfo,
  encodeSweepRecord,
  ProtocolError,
  RUN_STATUSES,
  UnknownSweepError,
} from "./codec.ts";
export { CONSUMERS, DEFAULTS, DLQ_HEADERS, KEYS, KV_BUCKET, NATS_CONNECTION_ENV, NATS_ENV, redact, STREAMS, SUBJECTS, sweepTokenOf, token } from "./names.ts";
export type { Account, Permissions, Role } from "./permissions.ts";
export { EXAMPLE_ACCOUNTS, exampleServerConfig, inboxPrefix, KUBERNETES_ACCOUNTS, kubernetesAuthConfig, ROLE_PERMISSIONS, serverAuthorization } from "./permissions.ts";
export { codeVersion } from "./version.ts";
