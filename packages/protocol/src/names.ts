// The cluster-mode names every role shares: streams, consumers, subjects, KV keys, defaults.
/**
 * The cluster-mode names and settings every role shares (server 2.9 features only). One
 * work-queue stream of jobs shared by all workers through one durable pull consumer; one limits
 * stream of metric batches and results, read by each result store's own durable consumer; one
 * stream of dead letters; one KV bucket of sweep records and per-run markers. Pure data: no NATS
 * client is loaded from here (training threads import this package's main entry).
 */
export const STREAMS = { jobs: "DTF_JOBS", results: "DTF_RESULTS", dlq: "DTF_DLQ" } as const;
export const CONSUMERS = {
  workers: "workers",
  /** One durable consumer per result store (and sweep filter): two stores never split a sweep. */
  aggregator: (storeId: string, sweepId?: string) => `aggregator_${storeId}${sweepId ? `_${token(sweepId)}` : ""}`,
} as const;
export const KV_BUCKET = "dtf_sweeps";

/** Defaults of the settings several roles must agree on. */
export const DEFAULTS = {
  /** A job not acked nor `working()` within this is redelivered. */
  ackWaitMs: 30_000,
  /** Deliveries of a job before it is dead-lettered. */
  // a delivery is also spent when a worker host dies or a cluster node's leader election drops a
  // heartbeat (test/multihost.test.ts): 5 leaves room for two such events besides the run's own failures
  maxDeliver: 5,
  /** The aggregator's consumer: a message not acked within this (commit + ack) comes back. */
  aggregatorAckWaitMs: 60_000,
  /** JetStream's duplicate window on the jobs and results streams. */
  duplicateWindowMs: 10 * 60_000,
  /**
   * Dead letters kept per sweep (the oldest go first): a worker credential may publish dead letters,
   * and a flood must not fill the disk nor push out other sweeps' letters.
   */
  deadLettersPerSweep: 10_000,
  /** …and in all, in bytes. */
  deadLetterBytes: 1024 ** 3,
} as const;

/** A sweep id as one subject token (ids may hold '.', which separates tokens). */
export const token = (sweepId: string) => sweepId.replace(/[^A-Za-z0-9_-]/g, "_");

export const SUBJECTS = {
  job: (sweepId: string) => `dtf.jobs.${token(sweepId)}`,
  metrics: (sweepId: string) => `dtf.metrics.${token(sweepId)}`,
  result: (sweepId: string) => `dtf.results.${token(sweepId)}`,
  dlq: (sweepId: string) => `dtf.dlq.${token(sweepId)}`,
} as const;

/** The sweep token of a `dtf.<kind>.<token>` subject ("" when the subject is not one). */
export function sweepTokenOf(subject: string): string {
  const parts = subject.split(".");
  return parts.length === 3 && parts[0] === "dtf" ? parts[2] : "";
}

/** KV keys: the sweep record, its cancel flag, and one key per finished run (the aggregator writes it). */
export const KEYS = {
  sweep: (sweepId: string) => `sweep.${sweepId}`,
  cancel: (sweepId: string) => `cancel.${sweepId}`,
  /** Bumped by each cancel, so a later submit's jobs get message ids the dedup window has not seen. */
  generation: (sweepId: string) => `generation.${sweepId}`,
  done: (sweepId: string, runId: string) => `done.${sweepId}.${runId}`,
  donePrefix: (sweepId: string) => `done.${sweepId}.>`,
  /** Outcome markers beside `done` (the aggregator's; `dtf status` counts each prefix): a run that diverged, */
  diverged: (sweepId: string, runId: string) => `diverged.${sweepId}.${runId}`,
  /** …a run whose last attempt failed (its job dead-lettered), */
  failed: (sweepId: string, runId: string) => `failed.${sweepId}.${runId}`,
  /** …and a failed run that finished later (requeued), so failed − recovered is what is failed now. */
  recovered: (sweepId: string, runId: string) => `recovered.${sweepId}.${runId}`,
  /** The keys of one outcome of a sweep: `outcomePrefix("failed", id)`. */
  outcomePrefix: (outcome: "done" | "diverged" | "failed" | "recovered", sweepId: string) => `${outcome}.${sweepId}.>`,
} as const;

/** Headers of a dead letter: why it died and which run it was (empty when unknown). */
export const DLQ_HEADERS = { reason: "Dtf-Reason", runId: "Dtf-Run-Id" } as const;

/** Credentials in a URL (`nats://user:secret@host`, `nats://token@host`) replaced by `***`. */
export function redact(text: string): string {
  return text.replace(/(\b[a-z][a-z0-9+.-]*:\/\/)([^/@\s]+)@/gi, (_, scheme: string, auth: string) => {
    const colon = auth.indexOf(":");
    return `${scheme}${colon >= 0 ? `${auth.slice(0, colon)}:***` : "***"}@`;
  });
}

/** The environment variables of a NATS connection's options (`--nats`, `--user`, …), one per flag. */
export const NATS_CONNECTION_ENV = {
  url: "DTF_NATS_URL",
  creds: "DTF_NATS_CREDS",
  user: "DTF_NATS_USER",
  password: "DTF_NATS_PASSWORD",
  token: "DTF_NATS_TOKEN",
  tlsCa: "DTF_NATS_TLS_CA",
  tlsCert: "DTF_NATS_TLS_CERT",
  tlsKey: "DTF_NATS_TLS_KEY",
  name: "DTF_NATS_NAME",
} as const;

/** Every environment variable the cluster roles read (the deploy test checks the manifests set no other). */
export const NATS_ENV = [...Object.values(NATS_CONNECTION_ENV), "DTF_NATS_REPLICAS", "DTF_CODE_VERSION"] as const;
