import { spawn } from "node:child_process";
import { existsSync, mkdtempSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { runAggregator } from "@dtf/aggregator";
import { cancelSweep, listDeadLetters, requeueDeadLetters, submitSweep, sweepStatus } from "@dtf/coordinator";
import { connectNats, type NatsOptions } from "@dtf/protocol";
import { ResultStore } from "@dtf/store";
import { DEFAULT_MAX_RUNS, loadSweepFile, SpecParseError } from "@dtf/sweep";
import { runNatsWorker } from "@dtf/worker";
import type { NatsConnection } from "@nats-io/transport-node";
import { type ParsedArgs, parseArgs, showHelp } from "../args.ts";
import { EXIT, UsageError } from "../errors.ts";

const NATS_FLAGS = ["nats", "creds", "user", "password", "token", "tls_ca", "tls_cert", "tls_key"] as const;

export const CLUSTER_HELP = `cluster mode (every command takes --nats URL, --creds FILE | --user U --password P | --token T,
--tls-ca/--tls-cert/--tls-key FILE, or the same from DTF_NATS_URL, DTF_NATS_CREDS, DTF_NATS_USER, …):
  dtf submit SPEC.yaml [--max-runs N]      validate, record the sweep, publish its unfinished runs
  dtf worker [--threads N] [--port P]      pull and run jobs (SIGTERM drains); /healthz and /metrics on P
  dtf aggregate --out DIR [--sweep ID]     store metrics and results (one aggregator per directory)
  dtf status SWEEP                         done / running / queued / dead-lettered
  dtf cancel SWEEP                         stop a sweep: queued jobs removed, workers skip it
  dtf dlq SWEEP [--requeue]                list (or put back) dead-lettered jobs
  dtf up [--workers K] [--out DIR]         a one-machine cluster: nats-server, K workers, the aggregator`;

function natsOptions(args: ParsedArgs): NatsOptions {
  const v = (k: string) => args.values[k]?.at(-1);
  return { url: v("nats"), creds: v("creds"), user: v("user"), password: v("password"), token: v("token"), tlsCa: v("tls_ca"), tlsCert: v("tls_cert"), tlsKey: v("tls_key") };
}

const positive = (flag: string, raw: string | undefined, fallback: number) => {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`--${flag} must be a non-negative integer, got ${raw}`);
  return n;
};

/** SIGINT/SIGTERM abort the returned signal (a second one exits at once). */
function shutdownSignal(what: string): AbortSignal {
  const controller = new AbortController();
  const stop = () => {
    if (controller.signal.aborted) process.exit(130);
    process.stderr.write(`\n${what}: draining\n`);
    controller.abort();
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  return controller.signal;
}

export async function submitCommand(argv: string[], out: (l: string) => void): Promise<number> {
  const args = parseArgs(argv, [...NATS_FLAGS, "max_runs"], ["help"]);
  if (args.flags.has("help")) return showHelp(out, CLUSTER_HELP);
  const file = args.positionals[0];
  if (!file) throw new UsageError("expected a sweep spec file");
  let loaded: Awaited<ReturnType<typeof loadSweepFile>>;
  try {
    loaded = await loadSweepFile(file, positive("max-runs", args.values.max_runs?.at(-1), DEFAULT_MAX_RUNS));
  } catch (err) {
    if (err instanceof SpecParseError) throw new UsageError(err.message, { cause: err });
    throw err;
  }
  const nc = await connectNats(natsOptions(args));
  try {
    const s = await submitSweep(nc, loaded);
    out(s.sweepId);
    process.stderr.write(`submitted ${s.published} of ${s.total} runs (${s.skipped} already done)\n`);
    return EXIT.ok;
  } finally {
    await nc.close();
  }
}

export async function workerCommand(argv: string[], out: (l: string) => void): Promise<number> {
  const args = parseArgs(argv, [...NATS_FLAGS, "threads", "port", "grace_ms", "max_deliver", "ack_wait_ms"], ["help"]);
  if (args.flags.has("help")) return showHelp(out, CLUSTER_HELP);
  const signal = shutdownSignal("dtf worker");
  const nc = await connectNats({ ...natsOptions(args), name: "dtf-worker" });
  try {
    const port = args.values.port ? positive("port", args.values.port.at(-1), 0) : undefined;
    const { counters } = await runNatsWorker(nc, {
      threads: positive("threads", args.values.threads?.at(-1), availableParallelism()) || 1,
      signal,
      httpPort: port,
      graceMs: positive("grace-ms", args.values.grace_ms?.at(-1), 30_000),
      maxDeliver: positive("max-deliver", args.values.max_deliver?.at(-1), 3),
      ackWaitMs: positive("ack-wait-ms", args.values.ack_wait_ms?.at(-1), 30_000),
    });
    out(`worker stopped: ${JSON.stringify(counters)}`);
    return EXIT.ok;
  } finally {
    await nc.drain().catch(() => undefined);
  }
}

export async function aggregateCommand(argv: string[], out: (l: string) => void): Promise<number> {
  const args = parseArgs(argv, [...NATS_FLAGS, "out", "sweep"], ["help"]);
  if (args.flags.has("help")) return showHelp(out, CLUSTER_HELP);
  const dir = args.values.out?.at(-1);
  if (!dir) throw new UsageError("--out DIR is required (the result store's directory)");
  const signal = shutdownSignal("dtf aggregate");
  const nc = await connectNats({ ...natsOptions(args), name: "dtf-aggregator" });
  const store = await ResultStore.open(dir);
  try {
    out(`aggregating into ${dir}`);
    const counters = await runAggregator(nc, store, { signal, sweepId: args.values.sweep?.at(-1) });
    out(`aggregator stopped: ${JSON.stringify(counters)}`);
    return EXIT.ok;
  } finally {
    await store.close();
    await nc.drain().catch(() => undefined);
  }
}

/** The shape of status / cancel / dlq: parse, take the sweep id, connect, act, close. */
async function onSweep(
  argv: string[],
  out: (l: string) => void,
  flags: string[],
  act: (nc: NatsConnection, sweepId: string, args: ParsedArgs) => Promise<void>,
): Promise<number> {
  const args = parseArgs(argv, [...NATS_FLAGS], ["help", ...flags]);
  if (args.flags.has("help")) return showHelp(out, CLUSTER_HELP);
  const sweepId = args.positionals[0];
  if (!sweepId) throw new UsageError("expected a sweep id");
  const nc = await connectNats(natsOptions(args));
  try {
    await act(nc, sweepId, args);
    return EXIT.ok;
  } finally {
    await nc.close();
  }
}

export const statusCommand = (argv: string[], out: (l: string) => void) =>
  onSweep(argv, out, ["json"], async (nc, sweepId, args) => {
    const s = await sweepStatus(nc, sweepId);
    const eta = s.etaMs !== null && s.done < s.total ? ` · ETA ${Math.ceil(s.etaMs / 1000)} s` : "";
    out(
      args.flags.has("json")
        ? JSON.stringify(s)
        : `${s.sweepId}: ${s.done}/${s.total} done · ${s.running} running · ${s.queued} queued · ${s.dead} dead-lettered${s.cancelled ? " · cancelled" : ""}${eta}`,
    );
  });

export const cancelCommand = (argv: string[], out: (l: string) => void) =>
  onSweep(argv, out, [], async (nc, sweepId) => {
    out(`${sweepId}: cancelled, ${await cancelSweep(nc, sweepId)} queued jobs removed`);
  });

export const dlqCommand = (argv: string[], out: (l: string) => void) =>
  onSweep(argv, out, ["requeue"], async (nc, sweepId, args) => {
    if (args.flags.has("requeue")) out(`${await requeueDeadLetters(nc, sweepId)} dead letters requeued`);
    else for (const d of await listDeadLetters(nc, sweepId)) out(`${d.seq}\t${d.runId || "-"}\t${d.reason}`);
  });

/** A one-machine cluster for development: nats-server (JetStream), K workers, the aggregator. */
export async function upCommand(argv: string[], out: (l: string) => void): Promise<number> {
  const args = parseArgs(argv, ["workers", "out", "port", "store_dir", "threads"], ["help"]);
  if (args.flags.has("help")) return showHelp(out, CLUSTER_HELP);
  const port = positive("port", args.values.port?.at(-1), 4222);
  const storeDir = args.values.store_dir?.at(-1) ?? mkdtempSync(join(tmpdir(), "dtf-nats-"));
  const url = `nats://127.0.0.1:${port}`;
  // Debian puts nats-server in /usr/sbin, which a non-root PATH may lack
  const server = process.env.DTF_NATS_SERVER ?? (existsSync("/usr/sbin/nats-server") ? "/usr/sbin/nats-server" : "nats-server");
  const children = [spawn(server, ["-js", "-sd", storeDir, "-a", "127.0.0.1", "-p", String(port)], { stdio: "inherit" })];
  await new Promise((r) => setTimeout(r, 500));
  const dtf = (a: string[]) => spawn(process.execPath, [process.argv[1], ...a, "--nats", url], { stdio: "inherit" });
  const workers = positive("workers", args.values.workers?.at(-1), 2);
  for (let i = 0; i < workers; i++) children.push(dtf(["worker", "--threads", args.values.threads?.at(-1) ?? "1"]));
  children.push(dtf(["aggregate", "--out", args.values.out?.at(-1) ?? "runs/cluster"]));
  out(`cluster up: ${url} (JetStream store ${storeDir}), ${workers} workers, aggregator → ${args.values.out?.at(-1) ?? "runs/cluster"}; Ctrl-C stops`);
  await new Promise<void>((resolve) => {
    const stop = () => {
      for (const c of children.slice(1)) c.kill("SIGTERM");
      setTimeout(() => {
        children[0].kill("SIGTERM");
        resolve();
      }, 3000);
    };
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  });
  return EXIT.ok;
}
