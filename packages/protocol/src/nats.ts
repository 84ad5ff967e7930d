import { readFile } from "node:fs/promises";
import { DtfError } from "@dtf/engine";
import { AckPolicy, DeliverPolicy, jetstreamManager, RetentionPolicy, StorageType } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { connect, credsAuthenticator, type NatsConnection, type NodeConnectionOptions, nanos } from "@nats-io/transport-node";

/**
 * The cluster-mode topology (server 2.9 features only). One work-queue stream of jobs shared by
 * all workers through one durable pull consumer; one limits stream of metric batches and results
 * read by the aggregator's durable consumer; one stream of dead letters; one KV bucket of sweep
 * records and per-run markers.
 */
export const STREAMS = { jobs: "DTF_JOBS", results: "DTF_RESULTS", dlq: "DTF_DLQ" } as const;
export const CONSUMERS = { workers: "workers", aggregator: "aggregator" } as const;
export const KV_BUCKET = "dtf_sweeps";

/** A sweep id as one subject token (ids may hold '.', which separates tokens). */
export const token = (sweepId: string) => sweepId.replace(/[^A-Za-z0-9_-]/g, "_");

export const SUBJECTS = {
  job: (sweepId: string) => `dtf.jobs.${token(sweepId)}`,
  metrics: (sweepId: string) => `dtf.metrics.${token(sweepId)}`,
  result: (sweepId: string) => `dtf.results.${token(sweepId)}`,
  dlq: (sweepId: string) => `dtf.dlq.${token(sweepId)}`,
} as const;

/** KV keys: the sweep record, its cancel flag, and one key per finished run (the aggregator writes it). */
export const KEYS = {
  sweep: (sweepId: string) => `sweep.${sweepId}`,
  cancel: (sweepId: string) => `cancel.${sweepId}`,
  /** Bumped by each cancel, so a later submit's jobs get message ids the dedup window has not seen. */
  generation: (sweepId: string) => `generation.${sweepId}`,
  done: (sweepId: string, runId: string) => `done.${sweepId}.${runId}`,
  donePrefix: (sweepId: string) => `done.${sweepId}.>`,
} as const;

/** How to reach the broker; every field also comes from the environment (DTF_NATS_URL, …). */
export type NatsOptions = {
  url?: string;
  creds?: string;
  user?: string;
  password?: string;
  token?: string;
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
  name?: string;
};

export const NATS_OPTION_ENV: Record<keyof NatsOptions, string> = {
  url: "DTF_NATS_URL",
  creds: "DTF_NATS_CREDS",
  user: "DTF_NATS_USER",
  password: "DTF_NATS_PASSWORD",
  token: "DTF_NATS_TOKEN",
  tlsCa: "DTF_NATS_TLS_CA",
  tlsCert: "DTF_NATS_TLS_CERT",
  tlsKey: "DTF_NATS_TLS_KEY",
  name: "DTF_NATS_NAME",
};

/** The broker could not be reached or refused us; the message says which and why. */
export class NatsConnectError extends DtfError {}

/** Connects with the given options (falling back to the environment), with a clear error. */
export async function connectNats(options: NatsOptions = {}): Promise<NatsConnection> {
  const o = { ...options };
  for (const [key, env] of Object.entries(NATS_OPTION_ENV) as [keyof NatsOptions, string][]) {
    if (o[key] === undefined && process.env[env]) o[key] = process.env[env];
  }
  const url = o.url ?? "nats://127.0.0.1:4222";
  const opts: NodeConnectionOptions = { servers: url, name: o.name ?? "dtf", maxReconnectAttempts: -1, reconnectTimeWait: 500 };
  if (o.creds) opts.authenticator = credsAuthenticator(await readFile(o.creds));
  if (o.user) opts.user = o.user;
  if (o.password) opts.pass = o.password;
  if (o.token) opts.token = o.token;
  if (o.tlsCa || o.tlsCert || o.tlsKey) opts.tls = { caFile: o.tlsCa, certFile: o.tlsCert, keyFile: o.tlsKey };
  try {
    return await connect(opts);
  } catch (err) {
    const e = err as Error;
    const why = /authoriz|authenticat/i.test(e.message) ? "the server refused the credentials" : "cannot connect";
    throw new NatsConnectError(`NATS ${url}: ${why} (${e.message})`, { cause: err });
  }
}

export type TopologyOptions = {
  /** A job not acked nor `working()` within this is redelivered. @default 30_000 */
  ackWaitMs?: number;
  /** Deliveries of a job before it is dead-lettered. @default 3 */
  maxDeliver?: number;
};

const isExists = (err: unknown) => /already in use|exists/i.test(String((err as Error).message));

/** Creates the streams, consumers and KV bucket when missing; any role may call it first. */
export async function ensureTopology(nc: NatsConnection, options: TopologyOptions = {}): Promise<void> {
  const jsm = await jetstreamManager(nc);
  const window = nanos(10 * 60_000);
  const streams = [
    { name: STREAMS.jobs, subjects: ["dtf.jobs.>"], retention: RetentionPolicy.Workqueue, storage: StorageType.File, duplicate_window: window },
    { name: STREAMS.results, subjects: ["dtf.metrics.>", "dtf.results.>"], retention: RetentionPolicy.Limits, storage: StorageType.File, duplicate_window: window },
    { name: STREAMS.dlq, subjects: ["dtf.dlq.>"], retention: RetentionPolicy.Limits, storage: StorageType.File },
  ];
  for (const s of streams) {
    try {
      await jsm.streams.info(s.name);
    } catch {
      try {
        await jsm.streams.add(s);
      } catch (err) {
        if (!isExists(err)) throw err;
      }
    }
  }
  const consumers = [
    {
      stream: STREAMS.jobs,
      config: {
        durable_name: CONSUMERS.workers,
        ack_policy: AckPolicy.Explicit,
        ack_wait: nanos(options.ackWaitMs ?? 30_000),
        max_deliver: options.maxDeliver ?? 3,
        max_ack_pending: 10_000,
      },
    },
    {
      stream: STREAMS.results,
      config: {
        durable_name: CONSUMERS.aggregator,
        ack_policy: AckPolicy.Explicit,
        ack_wait: nanos(60_000),
        deliver_policy: DeliverPolicy.All,
        max_ack_pending: 50_000,
      },
    },
  ];
  for (const c of consumers) {
    try {
      await jsm.consumers.info(c.stream, c.config.durable_name);
    } catch {
      try {
        await jsm.consumers.add(c.stream, c.config);
      } catch (err) {
        if (!isExists(err)) throw err;
      }
    }
  }
  // Kvm.open does not check that the bucket exists; look at its stream first, so that a restricted
  // worker (allowed to read the bucket, not to create it) never tries to create it.
  const exists = await jsm.streams.info(`KV_${KV_BUCKET}`).then(
    () => true,
    () => false,
  );
  if (!exists) await new Kvm(nc).create(KV_BUCKET, { history: 1 });
}
