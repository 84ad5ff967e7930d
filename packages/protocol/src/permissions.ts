// Each role's NATS permissions, and the server configuration made from them.
import { CONSUMERS, KV_BUCKET, STREAMS } from "./names.ts";

/**
 * The least NATS permissions each role needs (the threat model of docs/cluster.md). The example
 * server configuration `deploy/nats/dtf-roles.conf` is generated from this table and a test keeps
 * the two equal; the cluster tests run whole sweeps with one account per role.
 * - submitter: creates the topology, publishes jobs, records/cancels sweeps, handles dead letters;
 * - worker: pulls jobs, publishes metrics, results and dead letters; reads sweep records;
 * - aggregator: reads results through its own consumers, writes `done` markers, dead-letters,
 *   moves undeliverable jobs to the dead letters, clears a finished sweep's stale jobs;
 * - reader: `dtf status` and `dtf dlq` (listing): reads stream and KV state only.
 * No role but the submitter may publish jobs, and no role may write another's KV keys.
 */
export type Role = "submitter" | "worker" | "aggregator" | "reader";
export type Permissions = { publish: string[]; subscribe: string[] };

const API = "$JS.API";
const KV = `KV_${KV_BUCKET}`;
/** KV reads: direct gets (any replica), and the stream leader's get; its subject list is a STREAM.INFO (`inspect`). */
const readKv = [`${API}.DIRECT.GET.${KV}.>`, `${API}.STREAM.MSG.GET.${KV}`];
/** The counting consumers `countKeys` makes and deletes on the bucket's stream (nothing is delivered). */
const countKv = [`${API}.CONSUMER.CREATE.${KV}.>`, `${API}.CONSUMER.DELETE.${KV}.>`];
/** `ensureTopology` looks at every object before creating what is missing. */
const inspect = [`${API}.INFO`, `${API}.STREAM.INFO.*`, `${API}.CONSUMER.INFO.${STREAMS.jobs}.${CONSUMERS.workers}`];
/**
 * Replies (JetStream API answers, pull deliveries, KV reads) come to the requester's inbox. Each
 * role's clients use an inbox prefix of their own and may subscribe to it alone, so no role can
 * listen in on another's deliveries (a worker's jobs, an aggregator's results). The submitter
 * (the operator) also runs the reader's commands (`dtf status`, `dtf dlq`), so it may read theirs.
 */
export const inboxPrefix = (role: Role) => `_INBOX_${role}`;
const inbox = (role: Role) => `${inboxPrefix(role)}.>`;

export const ROLE_PERMISSIONS: Record<Role, Permissions> = {
  submitter: {
    publish: [
      ...inspect,
      // dtf's own streams only: a wildcard let the submitter create any stream (a mirror of the results)
      ...[STREAMS.jobs, STREAMS.results, STREAMS.dlq, KV].map((name) => `${API}.STREAM.CREATE.${name}`),
      `${API}.CONSUMER.CREATE.${STREAMS.jobs}.>`,
      `${API}.CONSUMER.DURABLE.CREATE.${STREAMS.jobs}.${CONSUMERS.workers}`,
      // cancel removes a sweep's queued jobs: a filtered purge on nats-server ≥ 2.10.14, else one by one (deleteQueuedJobs)
      `${API}.STREAM.PURGE.${STREAMS.jobs}`,
      `${API}.STREAM.MSG.GET.${STREAMS.jobs}`,
      `${API}.STREAM.MSG.DELETE.${STREAMS.jobs}`,
      `${API}.STREAM.MSG.GET.${STREAMS.dlq}`,
      `${API}.STREAM.MSG.DELETE.${STREAMS.dlq}`,
      ...readKv,
      ...countKv,
      `$KV.${KV_BUCKET}.sweep.>`,
      `$KV.${KV_BUCKET}.cancel.>`,
      `$KV.${KV_BUCKET}.generation.>`,
      "dtf.jobs.>",
    ],
    subscribe: [inbox("submitter"), inbox("reader")],
  },
  worker: {
    publish: [
      ...inspect,
      `${API}.CONSUMER.MSG.NEXT.${STREAMS.jobs}.${CONSUMERS.workers}`,
      `$JS.ACK.${STREAMS.jobs}.${CONSUMERS.workers}.>`,
      ...readKv,
      "dtf.metrics.>",
      "dtf.results.>",
      "dtf.dlq.>",
    ],
    subscribe: [inbox("worker")],
  },
  aggregator: {
    publish: [
      ...inspect,
      `${API}.CONSUMER.CREATE.${STREAMS.results}.>`,
      `${API}.CONSUMER.DURABLE.CREATE.${STREAMS.results}.>`,
      `${API}.CONSUMER.INFO.${STREAMS.results}.>`,
      `${API}.CONSUMER.MSG.NEXT.${STREAMS.results}.>`,
      `$JS.ACK.${STREAMS.results}.>`,
      // where a store of one sweep starts reading (ensureAggregatorConsumer)
      `${API}.STREAM.MSG.GET.${STREAMS.results}`,
      // a finished sweep's leftover jobs (deleteQueuedJobs)
      `${API}.STREAM.PURGE.${STREAMS.jobs}`,
      `${API}.STREAM.MSG.GET.${STREAMS.jobs}`,
      `${API}.STREAM.MSG.DELETE.${STREAMS.jobs}`,
      ...readKv,
      ...countKv,
      ...["done", "diverged", "failed", "recovered"].map((outcome) => `$KV.${KV_BUCKET}.${outcome}.>`),
      "dtf.dlq.>",
    ],
    subscribe: [inbox("aggregator"), `$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${STREAMS.jobs}.${CONSUMERS.workers}`],
  },
  reader: {
    publish: [...inspect, `${API}.STREAM.MSG.GET.${STREAMS.dlq}`, ...readKv, ...countKv],
    subscribe: [inbox("reader")],
  },
};

export type Account = { role: Role; user: string; password: string };

const list = (xs: string[]) => xs.map((x) => JSON.stringify(x)).join(", ");

/**
 * A nats-server `authorization` block with one user per account, each with its role's permissions.
 * A password that starts with `$` is written bare: nats-server reads it from that environment
 * variable (the Kubernetes manifests fill it from a Secret).
 */
export function serverAuthorization(accounts: Account[]): string {
  const users = accounts.map((a) => {
    const p = ROLE_PERMISSIONS[a.role];
    const password = a.password.startsWith("$") ? a.password : JSON.stringify(a.password);
    return `    # ${a.role}\n    { user: ${JSON.stringify(a.user)}, password: ${password}, permissions: {\n        publish: { allow: [${list(p.publish)}] }\n        subscribe: { allow: [${list(p.subscribe)}] }\n    } }`;
  });
  return `authorization {\n  users = [\n${users.join("\n")}\n  ]\n}\n`;
}

/** The accounts of the example configuration (`deploy/nats/dtf-roles.conf`): replace the passwords. */
export const EXAMPLE_ACCOUNTS: Account[] = (["submitter", "worker", "aggregator", "reader"] as const).map((role) => ({
  role,
  user: `dtf-${role}`,
  password: `change-me-${role}`,
}));

/** The example server configuration: JetStream on, one account per role. */
export function exampleServerConfig(): string {
  return `# nats-server configuration for dtf: JetStream plus one user per role with the least permissions
# that work (generated from packages/protocol/src/permissions.ts by scripts/gen-nats-roles.ts; a
# test keeps them equal). Replace the passwords (or use nkeys / a credentials file per role), and
# give each process the user of its role: dtf submit --user dtf-submitter --password …, and so on.
# The submitter creates the streams and the workers' consumer: submit a sweep before starting
# workers (which may only look at the topology); each aggregator creates its own consumer.
jetstream {
  store_dir: "/data/jetstream"
}
${serverAuthorization(EXAMPLE_ACCOUNTS)}`;
}

/** The Kubernetes accounts: one user per role, each password from the environment of nats-server. */
export const KUBERNETES_ACCOUNTS: Account[] = (["submitter", "worker", "aggregator", "reader"] as const).map((role) => ({
  role,
  user: `dtf-${role}`,
  password: `$DTF_NATS_PASSWORD_${role.toUpperCase()}`,
}));

/** deploy/kubernetes/base/nats-auth.conf: included by the servers of both overlays. */
export function kubernetesAuthConfig(): string {
  return `# The per-role users of dtf's NATS servers, included by nats.conf in deploy/kubernetes/overlays/*
# (generated from packages/protocol/src/permissions.ts by scripts/gen-nats-roles.ts; a test keeps
# them equal). Each password comes from the server's environment, filled from the Secret dtf-nats.
${serverAuthorization(KUBERNETES_ACCOUNTS)}`;
}
