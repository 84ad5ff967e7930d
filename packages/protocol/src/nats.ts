// The NATS side of the protocol: connections, topology, dead letters, cluster-recovery retries.
import { readFile } from "node:fs/promises";
import { DtfError } from "@dtf/engine";
import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
  type MsgRequest,
  RetentionPolicy,
  StorageType,
  type StoredMsg,
} from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { headers, NoRespondersError, nuid, TimeoutError } from "@nats-io/nats-core";
import { connect, credsAuthenticator, type NatsConnection, type NodeConnectionOptions, nanos } from "@nats-io/transport-node";
import { CONSUMERS, DEFAULTS, DLQ_HEADERS, KV_BUCKET, NATS_CONNECTION_ENV, redact, STREAMS, SUBJECTS } from "./names.ts";
import { inboxPrefix, type Role } from "./permissions.ts";

const KV_STREAM = `KV_${KV_BUCKET}`;

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
  /** The role this connection plays: its replies come to that role's inbox prefix (permissions.ts). */
  role?: Role;
};

export const NATS_OPTION_ENV: Record<Exclude<keyof NatsOptions, "role">, string> = NATS_CONNECTION_ENV;

/** The broker could not be reached or refused us; the message says which and why (credentials redacted). */
export class NatsConnectError extends DtfError {}

/**
 * Connects with the given options (falling back to the environment), with a clear error, and
 * fails over between the listed servers. Long-running roles pass `log`: every disconnect,
 * reconnect and server error becomes a line (the only trace of a failover).
 */
export async function connectNats(options: NatsOptions = {}, log?: (line: string) => void): Promise<NatsConnection> {
  const o = { ...options };
  for (const [key, env] of Object.entries(NATS_OPTION_ENV) as [Exclude<keyof NatsOptions, "role">, string][]) {
    if (o[key] === undefined && process.env[env]) o[key] = process.env[env];
  }
  const url = o.url ?? "nats://127.0.0.1:4222";
  // a comma-separated list names several servers of one cluster: the client fails over between them
  const servers = url.split(",").map((s) => s.trim()).filter(Boolean);
  // a server whose link is cut sends no reset: pings find it within 3 × 10 s (the default is minutes)
  const opts: NodeConnectionOptions = { servers, name: o.name ?? "dtf", maxReconnectAttempts: -1, reconnectTimeWait: 500, pingInterval: 10_000, maxPingOut: 3 };
  if (o.role) opts.inboxPrefix = inboxPrefix(o.role);
  try {
    if (o.creds) opts.authenticator = credsAuthenticator(await readFile(o.creds));
  } catch (err) {
    throw new NatsConnectError(`cannot read the credentials file ${o.creds}: ${(err as Error).message}`, { cause: err });
  }
  if (o.user) opts.user = o.user;
  if (o.password) opts.pass = o.password;
  if (o.token) opts.token = o.token;
  if (o.tlsCa || o.tlsCert || o.tlsKey) opts.tls = { caFile: o.tlsCa, certFile: o.tlsCert, keyFile: o.tlsKey };
  try {
    const nc = await connect(opts);
    void watchConnection(nc, log);
    return nc;
  } catch (err) {
    const e = err as Error;
    const why = /authoriz|authenticat/i.test(e.message) ? "the server refused the credentials" : "cannot connect";
    throw new NatsConnectError(redact(`NATS ${url}: ${why} (${e.message})`));
  }
}

/** How long a connection found stale may take to close before its socket is destroyed. */
const STALE_CLOSE_MS = 5_000;

/**
 * Follows the connection's events: logs them (when `log` is given) and unsticks a stale close.
 * nats.js closes a stale connection by first flushing what it still has to send; on a link that
 * was cut (no reset ever comes) that flush waits for the kernel's TCP retransmission timeout —
 * about 15 minutes — and no reconnect starts meanwhile. The multi-host test saw exactly that: both
 * workers stuck for 4 minutes after a NATS node's link was cut, the aggregator (less unsent data)
 * fine. So a stale connection that has not closed within 5 s has its socket destroyed: the flush
 * fails at once and the client reconnects to another server.
 */
async function watchConnection(nc: NatsConnection, log?: (line: string) => void): Promise<void> {
  let disconnects = 0;
  for await (const s of nc.status()) {
    if (s.type === "disconnect") {
      disconnects++;
      log?.(`disconnected from ${s.server}`);
    } else if (s.type === "reconnect") log?.(`reconnected to ${s.server}`);
    else if (s.type === "error") log?.(`server error: ${s.error.message}`);
    else if (s.type === "staleConnection") {
      log?.("the server stopped answering pings: reconnecting");
      const seen = disconnects;
      setTimeout(() => {
        if (disconnects !== seen || nc.isClosed()) return;
        log?.(`the stale connection did not close in ${STALE_CLOSE_MS / 1000} s (unsent data on a cut link): dropping it`);
        socketOf(nc)?.destroy();
      }, STALE_CLOSE_MS).unref();
    }
  }
}

const connectionStates = new WeakMap<NatsConnection, { up: boolean }>();

/**
 * A probe of whether the connection is up now: not closed, and not between a disconnect (or a
 * stale link) and its reconnect. What a worker's readiness reports.
 */
export function connectionProbe(nc: NatsConnection): () => boolean {
  let state = connectionStates.get(nc);
  if (!state) {
    const followed = { up: !nc.isClosed() };
    connectionStates.set(nc, followed);
    void (async () => {
      for await (const s of nc.status()) {
        if (s.type === "disconnect" || s.type === "staleConnection") followed.up = false;
        else if (s.type === "reconnect") followed.up = true;
      }
    })();
    state = followed;
  }
  const known = state;
  return () => known.up && !nc.isClosed();
}

/** The client's current TCP socket (nats.js internals: no public handle exists). */
function socketOf(nc: NatsConnection): { destroy(): void } | undefined {
  return (nc as unknown as { protocol?: { transport?: { socket?: { destroy(): void } } } }).protocol?.transport?.socket;
}

export type TopologyOptions = {
  /** @default DEFAULTS.ackWaitMs */
  ackWaitMs?: number;
  /** @default DEFAULTS.maxDeliver */
  maxDeliver?: number;
  /** Copies of every stream and of the KV bucket (R3 on a 3-node cluster). @default DTF_NATS_REPLICAS, else 1 */
  replicas?: number;
};

/** The most stream replicas JetStream allows. */
export const MAX_REPLICAS = 5;

/** DTF_NATS_REPLICAS, checked: every role reads it, so all agree on the topology they may create. */
export function replicasFromEnv(): number {
  const raw = process.env.DTF_NATS_REPLICAS;
  if (raw === undefined || raw === "") return 1;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > MAX_REPLICAS) {
    throw new NatsConnectError(`DTF_NATS_REPLICAS must be an integer from 1 to ${MAX_REPLICAS}, got ${raw}`);
  }
  return n;
}

const isApiError = (err: unknown, code: number) => err instanceof JetStreamApiError && err.code === code;

/** The cluster lost (or is electing) a leader: a server left or came back. Lasts seconds. */
export class ClusterUnavailableError extends DtfError {}

/**
 * A stream's state as a replica without a leader reports it (its quorum is lost): nats-server
 * answers a stream info so, and it may be behind. Read from the leader or not at all.
 */
export class LeaderlessError extends DtfError {}

/** JetStream's "temporarily unavailable" (503), a stream without a leader, or a request no server answered in time. */
function isTransient(err: unknown): boolean {
  return (err instanceof JetStreamApiError && err.status === 503) || err instanceof LeaderlessError || err instanceof NoRespondersError || err instanceof TimeoutError;
}

/**
 * Runs a read-only JetStream call again while the cluster recovers (an election after a node left
 * or returned answers 503 for a few seconds), for up to `budgetMs`; then a ClusterUnavailableError.
 */
export async function whileClusterRecovers<T>(op: () => Promise<T>, budgetMs = 20_000): Promise<T> {
  const deadline = Date.now() + budgetMs;
  for (;;) {
    try {
      return await op();
    } catch (err) {
      if (!isTransient(err)) throw err;
      if (Date.now() >= deadline) {
        throw new ClusterUnavailableError(`the NATS cluster did not answer for ${budgetMs / 1000} s (${(err as Error).message}); is a majority of its servers up?`, { cause: err });
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}
/**
 * The server's error codes (nats-server errors.json) for a stream or consumer created meanwhile by
 * another process: stream name in use (10058), consumer name exists (10013), consumer already
 * exists (10105; 10148 on newer servers).
 */
const ALREADY_EXISTS = new Set([10058, 10013, 10105, 10148]);
const isExists = (err: unknown) => err instanceof JetStreamApiError && ALREADY_EXISTS.has(err.code);

/** A KV create (or another expected-last-sequence write) that found the key written: code 10071 or 10164. */
export const isWrongLastSequence = (err: unknown) =>
  isApiError(err, JetStreamApiCodes.StreamWrongLastSequence) || isApiError(err, JetStreamApiCodes.StreamWrongLastSequenceUnknown);

/** Runs `info`; on "not found" (and only then) creates the object, tolerating a concurrent creator. */
async function infoOrCreate(info: () => Promise<unknown>, notFound: number, create: () => Promise<unknown>): Promise<void> {
  try {
    await info();
  } catch (err) {
    if (!isApiError(err, notFound)) throw err;
    try {
      await create();
    } catch (e) {
      if (!isExists(e)) throw e;
    }
  }
}

/**
 * Creates the streams, the workers' consumer and the KV bucket when missing; any role may call it
 * first. Existing objects are never changed: read the settings in force with `workerSettings`.
 */
export async function ensureTopology(nc: NatsConnection, options: TopologyOptions = {}): Promise<void> {
  const jsm = await jetstreamManager(nc);
  const window = nanos(DEFAULTS.duplicateWindowMs);
  const replicas = options.replicas ?? replicasFromEnv();
  const common = { storage: StorageType.File, num_replicas: replicas };
  const streams = [
    { name: STREAMS.jobs, subjects: ["dtf.jobs.>"], retention: RetentionPolicy.Workqueue, duplicate_window: window, ...common },
    { name: STREAMS.results, subjects: ["dtf.metrics.>", "dtf.results.>"], retention: RetentionPolicy.Limits, duplicate_window: window, ...common },
    {
      name: STREAMS.dlq,
      subjects: ["dtf.dlq.>"],
      retention: RetentionPolicy.Limits,
      max_msgs_per_subject: DEFAULTS.deadLettersPerSweep,
      max_bytes: DEFAULTS.deadLetterBytes,
      discard: DiscardPolicy.Old,
      ...common,
    },
  ];
  for (const s of streams) {
    await infoOrCreate(() => jsm.streams.info(s.name), JetStreamApiCodes.StreamNotFound, () => jsm.streams.add(s));
  }
  const workers = {
    durable_name: CONSUMERS.workers,
    ack_policy: AckPolicy.Explicit,
    ack_wait: nanos(options.ackWaitMs ?? DEFAULTS.ackWaitMs),
    max_deliver: options.maxDeliver ?? DEFAULTS.maxDeliver,
    max_ack_pending: 10_000,
  };
  await infoOrCreate(
    () => jsm.consumers.info(STREAMS.jobs, CONSUMERS.workers),
    JetStreamApiCodes.ConsumerNotFound,
    () => jsm.consumers.add(STREAMS.jobs, workers),
  );
  // Kvm.open does not check that the bucket exists: look at its stream first, so that a restricted
  // worker (allowed to read the bucket, not to create it) never tries to create it.
  await infoOrCreate(() => jsm.streams.info(KV_STREAM), JetStreamApiCodes.StreamNotFound, () => new Kvm(nc).create(KV_BUCKET, { history: 1, replicas }));
}

/** Whether the topology exists (a read-only check for status/cancel before anything was submitted). */
export async function topologyExists(nc: NatsConnection): Promise<boolean> {
  const jsm = await jetstreamManager(nc);
  try {
    await jsm.streams.info(KV_STREAM);
    return true;
  } catch (err) {
    if (isApiError(err, JetStreamApiCodes.StreamNotFound)) return false;
    throw err;
  }
}

/**
 * Resolves true once the topology exists (the submitter creates it with the first sweep), asking
 * every `everyMs` and saying once that it waits; false if `signal` aborts first. Workers and
 * aggregators start before any sweep and wait here: under per-role accounts they may not create
 * streams, and failing would only have them restarted in a loop.
 */
export async function waitForTopology(nc: NatsConnection, signal: AbortSignal, log: (line: string) => void, everyMs = 2_000): Promise<boolean> {
  let said = false;
  while (!signal.aborted) {
    if (await topologyExists(nc).catch(() => false)) return true;
    if (!said) log("waiting for the streams: no sweep has been submitted to this server yet");
    said = true;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, everyMs);
      signal.addEventListener(
        "abort",
        () => {
          clearTimeout(timer);
          resolve();
        },
        { once: true },
      );
    });
  }
  return false;
}

/** The workers' consumer settings in force (fixed when it was created, whatever a worker's flags say). */
export async function workerSettings(jsm: JetStreamManager): Promise<{ ackWaitMs: number; maxDeliver: number }> {
  const info = await jsm.consumers.info(STREAMS.jobs, CONSUMERS.workers);
  return { ackWaitMs: Math.round((info.config.ack_wait ?? DEFAULTS.ackWaitMs * 1e6) / 1e6), maxDeliver: info.config.max_deliver ?? DEFAULTS.maxDeliver };
}

/**
 * The durable consumer of one result store: every metric batch and result, delivered from the
 * start of the stream, acked after the store's commit. A store of one sweep (`sweepId`) has its own
 * consumer, which starts at the sweep's first message (a new store of one sweep does not replay
 * every older sweep's) and skips later messages of other sweeps itself (a 2.9 consumer filters on
 * one subject, and a sweep's messages span two).
 */
export async function ensureAggregatorConsumer(nc: NatsConnection, storeId: string, sweepId?: string): Promise<string> {
  const jsm = await jetstreamManager(nc);
  const name = CONSUMERS.aggregator(storeId, sweepId);
  const start = async () =>
    sweepId === undefined
      ? { deliver_policy: DeliverPolicy.All }
      : { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: await firstSequenceOf(jsm, STREAMS.results, [SUBJECTS.metrics(sweepId), SUBJECTS.result(sweepId)]) };
  const config = async () => ({
    durable_name: name,
    ack_policy: AckPolicy.Explicit,
    ack_wait: nanos(DEFAULTS.aggregatorAckWaitMs),
    max_ack_pending: 50_000,
    ...(await start()),
  });
  await infoOrCreate(() => jsm.consumers.info(STREAMS.results, name), JetStreamApiCodes.ConsumerNotFound, async () => jsm.consumers.add(STREAMS.results, await config()));
  return name;
}

/** How many messages `stream` holds on the one subject `subject`, counted by the server. */
export async function messagesOnSubject(jsm: JetStreamManager, stream: string, subject: string): Promise<number> {
  return (await jsm.streams.info(stream, { subjects_filter: subject })).state.subjects?.[subject] ?? 0;
}

/** The first message of `stream` on `subject` at or after sequence `seq`; null when there is none (or it went meanwhile). */
export async function nextOnSubject(jsm: JetStreamManager, stream: string, subject: string, seq: number): Promise<StoredMsg | null> {
  // the server's STREAM.MSG.GET takes next_by_subj (2.9 included); the client types only its direct-get twin
  const next = { next_by_subj: subject, seq } as unknown as MsgRequest;
  return jsm.streams.getMessage(stream, next).catch((err: unknown) => {
    if (isApiError(err, JetStreamApiCodes.NoMessageFound)) return null;
    throw err;
  });
}

/** The sequence of the first message on any of `subjects`; with none yet, the next sequence the stream will assign. */
async function firstSequenceOf(jsm: JetStreamManager, stream: string, subjects: string[]): Promise<number> {
  const { first_seq: first, last_seq: last } = (await jsm.streams.info(stream)).state;
  const firsts = await Promise.all(subjects.map(async (subject) => (await nextOnSubject(jsm, stream, subject, first))?.seq ?? last + 1));
  return Math.min(...firsts);
}

/** Publishes a dead letter of a sweep: the original bytes, with why and which run in its headers. */
export async function publishDeadLetter(nc: NatsConnection, sweepId: string, data: Uint8Array, reason: string, runId = ""): Promise<void> {
  const h = headers();
  h.set(DLQ_HEADERS.reason, reason.replace(/[\r\n]+/g, " ").slice(0, 1000));
  h.set(DLQ_HEADERS.runId, runId);
  await jetstream(nc).publish(SUBJECTS.dlq(sweepId || "unknown"), data, { headers: h });
}

/** Sequence ranges of the job stream searched at once when deleting one by one. */
const DELETE_LANES = 64;

/**
 * The first nats-server release whose filtered purge leaves other subjects' messages to a consumer
 * with a wider filter (nats-server#5075 in 2.10.11, #5293 in 2.10.14).
 */
export const SAFE_PURGE_VERSION = [2, 10, 14] as const;

/** Whether a server of `version` ("2.10.27", "v2.9.10") purges by subject safely. */
export function purgeIsSafe(version: string | undefined): boolean {
  return isAtLeast(version, SAFE_PURGE_VERSION);
}

/** Whether `version` ("2.10.27", "v2.9.10") is `least` or later; false when it cannot be read. */
function isAtLeast(version: string | undefined, least: readonly [number, number, number]): boolean {
  const parts = (version ?? "").replace(/^v/, "").split(/[.-]/).slice(0, 3).map(Number);
  if (parts.length < 3 || parts.some((n) => !Number.isInteger(n))) return false;
  for (let i = 0; i < 3; i++) if (parts[i] !== least[i]) return parts[i] > least[i];
  return true;
}

/**
 * Removes a sweep's queued job messages; returns how many. On nats-server ≥ 2.10.14 one filtered
 * purge request (~10⁶ jobs in seconds). Older servers get no filtered purge: 2.9's moves the
 * work-queue consumer's ack floor past the messages of *other* subjects (other sweeps) too, so
 * their jobs are never delivered (tested by `cancel - …` in test/cluster.test.ts). There the jobs
 * are deleted by sequence, which leaves the consumer's state alone: the stream's sequence range is
 * split into DELETE_LANES lanes walked at once (each finds its next job of the sweep with
 * `next_by_subj`), so the requests are pipelined. The version is the connected server's: a cluster
 * mid-upgrade from 2.9 must set `DTF_NO_PURGE=1` until its last 2.9 node is gone.
 */
export async function deleteQueuedJobs(nc: NatsConnection, sweepId: string): Promise<number> {
  const jsm = await jetstreamManager(nc);
  if (purgeIsSafe(nc.info?.version) && process.env.DTF_NO_PURGE !== "1") {
    return (await jsm.streams.purge(STREAMS.jobs, { filter: SUBJECTS.job(sweepId) })).purged;
  }
  return deleteJobsOneByOne(jsm, sweepId);
}

async function deleteJobsOneByOne(jsm: JetStreamManager, sweepId: string): Promise<number> {
  const { first_seq: first, last_seq: last, messages } = (await jsm.streams.info(STREAMS.jobs)).state;
  if (messages === 0) return 0;
  const width = Math.ceil((last - first + 1) / DELETE_LANES);
  const lane = async (from: number, to: number): Promise<number> => {
    let deleted = 0;
    for (let seq = from; seq <= to; ) {
      const m = await nextOnSubject(jsm, STREAMS.jobs, SUBJECTS.job(sweepId), seq);
      if (!m || m.seq > to) return deleted; // the next one belongs to a later lane
      // a worker may ack (remove) it meanwhile: gone is what we want; any other refusal is an error
      const removed = await jsm.streams.deleteMessage(STREAMS.jobs, m.seq).catch((err: unknown) => {
        if (isApiError(err, JetStreamApiCodes.NoMessageFound)) return false;
        throw err;
      });
      if (removed) deleted++;
      seq = m.seq + 1;
    }
    return deleted;
  };
  // the last lane runs on past `last`: a job published meanwhile is found too
  const lanes = Array.from({ length: DELETE_LANES }, (_, i) => lane(first + i * width, i === DELETE_LANES - 1 ? Number.MAX_SAFE_INTEGER : first + (i + 1) * width - 1));
  return (await Promise.all(lanes)).reduce((a, b) => a + b, 0);
}

/**
 * The time limits of a count's tries with a counting consumer: a live server answers in
 * milliseconds (0.3 s for 10⁶ keys on nats-server 2.10); one placed on a dead server never does.
 * The last leaves 2.9 its 6–7 s for 10⁶ keys. After them, the stream leader counts (slower).
 */
const COUNT_TRIES_MS: readonly number[] = [1_000, 1_000, 1_000, 2_000, 2_000, 10_000];

/** How long the stream leader's count may take: 1.4–2.1 s for 10⁶ keys on 2.10, docs/performance.md. */
const LEADER_COUNT_TIMEOUT_MS = 30_000;

/**
 * The reads of the KV stream's leader skip nats.js's API check: it asks the meta leader, which the
 * stream leader does not need, and whether a leader answered is checked on each reply (`ledBy`).
 */
const LEADER_READ = { checkAPI: false } as const;

/** A stream info page offset past any stream's subjects: the reply carries their total, none of them. */
const PAST_EVERY_SUBJECT = Number.MAX_SAFE_INTEGER;

/**
 * How many keys of the sweeps bucket match `filter` (`done.<sweep>.>`), counted by the server from
 * the bucket's stream leader, never from a replica that may be behind. No key is transferred, so
 * the client's memory stays flat.
 *
 * First the fast count: the pending count of a one-replica consumer. The server places it on any
 * of the bucket's servers at random: it is kept when it ran on the stream leader (a replica still
 * catching up after a restart under-counts, even one the leader calls current: 2 823 of 3 000 in
 * test/replicated.test.ts), and made again elsewhere (one on a dead server never answers). When no
 * try ran on the leader, the leader counts itself (`leaderCount`), as it always does on
 * nats-server 2.9.
 */
export async function countKeys(nc: NatsConnection, filter: string, triesMs: readonly number[] = COUNT_TRIES_MS): Promise<number> {
  if (!isAtLeast(nc.info?.version, [2, 10, 0])) return leaderCount(nc, filter); // 2.9's consumer count is the slower: 6–7 s against ~3 s at 10⁶ keys
  const leader = await streamLeader(nc);
  for (const timeoutMs of triesMs) {
    try {
      const { count, server } = await consumerCount(nc, filter, timeoutMs);
      if (leader === null || server === undefined || server === leader) return count; // undefined: a server outside a cluster
    } catch (err) {
      if (!(err instanceof TimeoutError)) throw err;
    }
  }
  return leaderCount(nc, filter);
}

/** The server leading the bucket's stream; null on a server outside a cluster. */
async function streamLeader(nc: NatsConnection): Promise<string | null> {
  const jsm = await jetstreamManager(nc, LEADER_READ);
  return ledBy((await jsm.streams.info(KV_STREAM)).cluster);
}

/**
 * The leader a stream info names: null outside a cluster (nats-server 2.9 sends no cluster, 2.10
 * names itself); LeaderlessError when a replica answered for a stream without a leader.
 */
function ledBy(cluster: { leader?: string } | undefined): string | null {
  if (cluster === undefined) return null;
  if (!cluster.leader) throw new LeaderlessError(`the stream ${KV_STREAM} has no leader (a majority of its servers is down): its replicas may be behind`);
  return cluster.leader;
}

/** The pending count of a one-replica consumer (last message per subject), and the server it ran on. */
async function consumerCount(nc: NatsConnection, filter: string, timeoutMs: number): Promise<{ count: number; server?: string }> {
  const jsm = await jetstreamManager(nc, { ...LEADER_READ, timeout: timeoutMs });
  const name = `count_${nuid.next()}`;
  const info = await jsm.consumers.add(KV_STREAM, {
    name,
    filter_subject: `$KV.${KV_BUCKET}.${filter}`,
    deliver_policy: DeliverPolicy.LastPerSubject,
    ack_policy: AckPolicy.None,
    mem_storage: true,
    num_replicas: 1,
    inactive_threshold: nanos(30_000), // removed by the server should the delete below not reach it
  });
  await jsm.consumers.delete(KV_STREAM, name).catch(() => undefined);
  return { count: info.num_pending, server: info.cluster?.leader };
}

/**
 * The stream leader's count: the `total` of a stream info asked for the matching subjects from past
 * the last one, so that none is sent (a reply of a few hundred bytes at any size). Slower than a
 * consumer's (the server lists and sorts the subjects), but the leader has every write its quorum
 * took and answers whenever the bucket has a quorum.
 */
export async function leaderCount(nc: NatsConnection, filter: string): Promise<number> {
  const request = { subjects_filter: `$KV.${KV_BUCKET}.${filter}`, offset: PAST_EVERY_SUBJECT };
  const reply = await nc.request(`$JS.API.STREAM.INFO.${KV_STREAM}`, JSON.stringify(request), { timeout: LEADER_COUNT_TIMEOUT_MS });
  const info = reply.json<{ total?: number; cluster?: { leader?: string }; error?: ConstructorParameters<typeof JetStreamApiError>[0] }>();
  if (info.error) throw new JetStreamApiError(info.error);
  ledBy(info.cluster);
  return info.total ?? 0; // absent when no subject matches
}

/**
 * The run ids of a sweep marked done in KV (by any aggregator, after its commit), as the bucket's
 * stream leader lists them (the subjects of a stream info, 100 000 a page; see countKeys).
 */
export async function doneRunIds(nc: NatsConnection, sweepId: string): Promise<Set<string>> {
  const jsm = await jetstreamManager(nc, { ...LEADER_READ, timeout: LEADER_COUNT_TIMEOUT_MS });
  const prefix = `$KV.${KV_BUCKET}.done.${sweepId}.`;
  const info = await jsm.streams.info(KV_STREAM, { subjects_filter: `${prefix}>` });
  ledBy(info.cluster);
  return new Set(Object.keys(info.state.subjects ?? {}).map((subject) => subject.slice(prefix.length)));
}

/** Whether the KV key is set (not deleted), as the bucket's stream leader has it (a direct get may be answered by a replica that is behind). */
export async function keyIsSet(nc: NatsConnection, key: string): Promise<boolean> {
  const jsm = await jetstreamManager(nc, LEADER_READ);
  const m = await jsm.streams.getMessage(KV_STREAM, { last_by_subj: `$KV.${KV_BUCKET}.${key}` }).catch((err: unknown) => {
    if (isApiError(err, JetStreamApiCodes.NoMessageFound)) return null;
    throw err;
  });
  return m !== null && (m.header?.get("KV-Operation") ?? "") === "";
}
