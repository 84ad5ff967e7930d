// The cluster commands: submit, worker, aggregate, status, cancel, dlq and up.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { cancelSweep, listDeadLetters, requeueDeadLetters, type SweepStatus, submitSweep, sweepStatus } from "@dtf/coordinator";
import { DtfError } from "@dtf/engine";
import { DEFAULTS, type Role } from "@dtf/protocol";
import { connectNats, NatsConnectError, type NatsOptions, whileClusterRecovers } from "@dtf/protocol/nats";
import { DEFAULT_GRACE_MS, runNatsWorker } from "@dtf/worker";
import type { NatsConnection } from "@nats-io/transport-node";
import { type ParsedArgs, showHelp } from "../args.ts";
import { EXIT, UsageError } from "../errors.ts";
import { intFlag, loadSweepArg, MAX_THREADS, outputDir } from "../inputs.ts";
import { parseCommandArgs, sweepIdArg } from "../options.ts";

const HOUR_MS = 3_600_000;

export const CLUSTER_HELP = `cluster mode (every command takes --nats URL, --creds FILE | --user U --password P | --token T,
--tls-ca/--tls-cert/--tls-key FILE, or the same from DTF_NATS_URL, DTF_NATS_CREDS, DTF_NATS_USER, …):
  dtf submit SPEC.yaml [--max-runs N] [--wait S]
                                           validate, record the sweep, publish its unfinished runs;
                                           --wait: keep trying an unreachable or electing cluster S s
  dtf worker [--threads N] [--port P] [--host H]
                                           pull and run jobs (SIGTERM drains); /healthz, /readyz, /metrics on
                                           H:P (default host 127.0.0.1; 0.0.0.0 in a pod)
  dtf aggregate --out DIR [--sweep ID]     store metrics and results (each store has its own consumer)
  dtf status SWEEP [--json] [--watch]      runs by outcome (ok, diverged, failed), running, queued,
                                           dead letters, ETA; --watch refreshes until the sweep ends
  dtf cancel SWEEP                         stop a sweep: queued jobs removed, workers skip it
  dtf dlq SWEEP [--requeue]                list dead letters (or put dead jobs back)
  dtf up [--workers K] [--out DIR]         a one-machine cluster: nats-server, K workers, the aggregator`;

function natsOptions(args: ParsedArgs): NatsOptions {
  const v = (k: string) => args.values[k]?.at(-1);
  return { url: v("nats"), creds: v("creds"), user: v("user"), password: v("password"), token: v("token"), tlsCa: v("tls_ca"), tlsCert: v("tls_cert"), tlsKey: v("tls_key") };
}

/** SIGINT/SIGTERM abort the returned signal (a second one exits at once). */
export function shutdownSignal(what: string): AbortSignal {
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

/**
 * Connects as `role` (its replies come to that role's inbox prefix, the only one its account may
 * read; undefined: the plain `_INBOX`, for servers without per-role accounts), runs `act`, and
 * always closes the connection (a failing command never hangs on it).
 */
export async function withNats<T>(args: ParsedArgs, name: string, role: Role | undefined, act: (nc: NatsConnection) => Promise<T>, logEvents = false): Promise<T> {
  const log = logEvents ? (line: string) => process.stderr.write(`${name}: ${line}\n`) : undefined;
  return withConnection(await connectNats({ ...natsOptions(args), name, role }, log), act);
}

async function withConnection<T>(nc: NatsConnection, act: (nc: NatsConnection) => Promise<T>): Promise<T> {
  try {
    return await act(nc);
  } finally {
    await nc.drain().catch(() => nc.close());
  }
}

/**
 * The submitter's connection; until `deadline` a server that cannot be reached (not started yet,
 * restarting) is tried again each second, saying so once. Refused credentials fail at once.
 */
async function connectWaiting(args: ParsedArgs, deadline: number): Promise<NatsConnection> {
  let said = false;
  for (;;) {
    try {
      return await connectNats({ ...natsOptions(args), name: "dtf-submit", role: "submitter" });
    } catch (err) {
      if (!(err instanceof NatsConnectError) || err.message.includes("refused the credentials") || Date.now() >= deadline) throw err;
      if (!said) process.stderr.write(`dtf submit: ${err.message}; trying again for up to ${Math.ceil((deadline - Date.now()) / 1000)} s\n`);
      said = true;
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}

/** The longest `dtf submit --wait` (seconds). */
const MAX_WAIT_S = 3600;

export async function submitCommand(argv: string[], out: (l: string) => void): Promise<number> {
  const args = parseCommandArgs("submit", argv);
  if (args.flags.has("help")) return showHelp(out, CLUSTER_HELP);
  const loaded = await loadSweepArg(args);
  const waitMs = intFlag(args, "wait", 0, MAX_WAIT_S, 0) * 1000;
  const deadline = Date.now() + waitMs;
  const nc = await connectWaiting(args, deadline);
  // submitting again is harmless (message ids, KV puts), so a cluster mid-election is waited out too
  const submit = () => submitSweep(nc, loaded);
  return withConnection(nc, async () => {
    const s = waitMs > 0 ? await whileClusterRecovers(submit, Math.max(0, deadline - Date.now())) : await submit();
    out(s.sweepId);
    const queued = (s.alreadyQueued ? `, ${s.alreadyQueued} already queued` : "") + (s.replaced ? `, ${s.replaced} queued jobs replaced` : "");
    process.stderr.write(`submitted ${s.published} of ${s.total} runs (${s.skipped} already done${queued})\n`);
    return EXIT.ok;
  });
}

export async function workerCommand(argv: string[], out: (l: string) => void): Promise<number> {
  const args = parseCommandArgs("worker", argv);
  if (args.flags.has("help")) return showHelp(out, CLUSTER_HELP);
  const threads = intFlag(args, "threads", 1, MAX_THREADS, availableParallelism());
  const port = args.values.port ? intFlag(args, "port", 0, 65_535, 0) : undefined;
  const graceMs = intFlag(args, "grace_ms", 0, HOUR_MS, DEFAULT_GRACE_MS);
  const maxDeliver = args.values.max_deliver ? intFlag(args, "max_deliver", 1, 100, DEFAULTS.maxDeliver) : undefined;
  const ackWaitMs = args.values.ack_wait_ms ? intFlag(args, "ack_wait_ms", 1_000, HOUR_MS, DEFAULTS.ackWaitMs) : undefined;
  const signal = shutdownSignal("dtf worker");
  return withNats(args, "dtf-worker", "worker", async (nc) => {
    const { counters } = await runNatsWorker(nc, { threads, signal, httpPort: port, httpHost: args.values.host?.at(-1), graceMs, maxDeliver, ackWaitMs }, (s) => {
      out(`worker: ${threads} threads, ack wait ${s.ackWaitMs} ms, max deliver ${s.maxDeliver}${s.address ? `; /healthz, /readyz and /metrics on ${s.address}` : ""}`);
    });
    out(`worker stopped: ${JSON.stringify(counters)}`);
    return EXIT.ok;
  }, true);
}

export async function aggregateCommand(argv: string[], out: (l: string) => void): Promise<number> {
  const args = parseCommandArgs("aggregate", argv);
  if (args.flags.has("help")) return showHelp(out, CLUSTER_HELP);
  const raw = args.values.out?.at(-1);
  if (raw === undefined) throw new UsageError("--out DIR is required (the result store's directory)");
  const dir = outputDir("out", raw);
  // loaded here, not at start: the other commands (the worker) need neither DuckDB nor the aggregator
  const { ResultStore, serveSnapshots } = await import("@dtf/store");
  const { runAggregator } = await import("@dtf/aggregator");
  // The store first: a locked or unwritable directory fails before any connection is opened.
  const store = await ResultStore.open(dir);
  try {
    const stopServing = await serveSnapshots(store);
    try {
      const signal = shutdownSignal("dtf aggregate");
      return await withNats(args, "dtf-aggregator", "aggregator", async (nc) => {
        out(`aggregating into ${dir} (store ${store.id}${args.values.sweep ? `, sweep ${args.values.sweep.at(-1)}` : ""})`);
        const counters = await runAggregator(nc, store, { signal, sweepId: args.values.sweep?.at(-1) });
        out(`aggregator stopped: ${JSON.stringify(counters)}`);
        return EXIT.ok;
      }, true);
    } finally {
      await stopServing();
    }
  } finally {
    await store.close();
  }
}

/** The shape of status / cancel / dlq: parse, take the sweep id, connect, act, close. */
async function onSweep(
  argv: string[],
  out: (l: string) => void,
  command: "status" | "cancel" | "dlq",
  act: (nc: NatsConnection, sweepId: string, args: ParsedArgs) => Promise<void>,
): Promise<number> {
  const args = parseCommandArgs(command, argv);
  if (args.flags.has("help")) return showHelp(out, CLUSTER_HELP);
  const sweepId = sweepIdArg(args);
  // status and listing dead letters read (the reader's); cancel and requeue change things (the submitter's)
  const role: Role = command === "cancel" || args.flags.has("requeue") ? "submitter" : "reader";
  return withNats(args, "dtf", role, async (nc) => {
    await act(nc, sweepId, args);
    return EXIT.ok;
  });
}

/** How often `dtf status --watch` asks again. */
const WATCH_EVERY_MS = 2_000;

/** One status line: runs by outcome, what is left, and an ETA only while the sweep goes on. */
export function statusLine(s: SweepStatus): string {
  const state = s.cancelled ? " · cancelled" : s.finished ? " · finished" : s.etaMs !== null ? ` · ETA ${Math.ceil(s.etaMs / 1000)} s` : "";
  return `${s.sweepId}: ${s.done}/${s.total} done (${s.ok} ok, ${s.diverged} diverged) · ${s.failed} failed · ${s.running} running · ${s.queued} queued · ${s.dead} dead letters${state}`;
}

export const statusCommand = (argv: string[], out: (l: string) => void) =>
  onSweep(argv, out, "status", async (nc, sweepId, args) => {
    const show = (s: SweepStatus) => (args.flags.has("json") ? JSON.stringify(s) : statusLine(s));
    if (!args.flags.has("watch")) return out(show(await sweepStatus(nc, sweepId)));
    // --watch: in place on a terminal, else one line per refresh; ends with the sweep (or Ctrl-C)
    const tty = process.stdout.isTTY && !args.flags.has("json");
    const signal = shutdownSignal("dtf status");
    for (;;) {
      const s = await sweepStatus(nc, sweepId);
      if (tty) process.stdout.write(`\r\x1b[K${show(s)}`);
      else out(show(s));
      if (s.finished || s.cancelled || signal.aborted) break;
      await new Promise((r) => setTimeout(r, WATCH_EVERY_MS));
      if (signal.aborted) break;
    }
    if (tty) process.stdout.write("\n");
  });

export const cancelCommand = (argv: string[], out: (l: string) => void) =>
  onSweep(argv, out, "cancel", async (nc, sweepId) => {
    out(`${sweepId}: cancelled, ${await cancelSweep(nc, sweepId)} queued jobs removed`);
  });

export const dlqCommand = (argv: string[], out: (l: string) => void) =>
  onSweep(argv, out, "dlq", async (nc, sweepId, args) => {
    if (args.flags.has("requeue")) {
      const r = await requeueDeadLetters(nc, sweepId);
      const refused = r.refused ? `, ${r.refused} letters naming no run of the sweep refused` : "";
      out(`${r.requeued} dead jobs requeued${r.kept ? `, ${r.kept} letters that are not jobs kept` : ""}${refused}`);
      return;
    }
    const { letters, total } = await listDeadLetters(nc, sweepId);
    if (total === 0) out(`no dead letters for sweep ${sweepId}`);
    for (const d of letters) out(`${d.seq}\t${d.runId || "-"}\t${d.reason}`);
    if (total > letters.length) out(`… ${total - letters.length} more (the oldest ${letters.length} shown)`);
  });

/** How long `dtf up` waits for its nats-server to say it is ready. */
const SERVER_START_MS = 15_000;

/** Starts nats-server and resolves once it is ready; rejects with its last words if it exits (a taken port) or hangs. */
function startNatsServer(binary: string, args: string[]): Promise<ChildProcess> {
  const child = spawn(binary, args, { stdio: ["ignore", "inherit", "pipe"] });
  return new Promise((resolve, reject) => {
    let said = "";
    const fail = (why: string) => {
      clearTimeout(timer);
      child.kill("SIGKILL");
      const last = said.trim().split("\n").at(-1)?.replace(/^\[\d+\] [\d/ :.]+ \[\w+\] /, "") ?? "";
      reject(new DtfError(`nats-server did not start (${why})${last ? `: ${last}` : ""}`));
    };
    const timer = setTimeout(() => fail(`not ready after ${SERVER_START_MS / 1000} s`), SERVER_START_MS);
    child.on("error", (err) => fail(err.message));
    child.on("exit", (code) => fail(`exit code ${code}`));
    child.stderr!.on("data", (d: Buffer) => {
      process.stderr.write(d); // its log, as before
      said += d.toString();
      if (said.includes("Server is ready")) {
        clearTimeout(timer);
        child.removeAllListeners("exit");
        resolve(child);
      }
    });
  });
}

/**
 * A one-machine cluster for development: nats-server (JetStream), K workers, the aggregator. The
 * JetStream data lives under --out (DIR/jetstream), so `dtf up` again with the same --out finds
 * its queue and done markers: a sweep submitted again resumes instead of recomputing.
 */
export async function upCommand(argv: string[], out: (l: string) => void): Promise<number> {
  const args = parseCommandArgs("up", argv);
  if (args.flags.has("help")) return showHelp(out, CLUSTER_HELP);
  const port = intFlag(args, "port", 1, 65_535, 4222);
  const workers = intFlag(args, "workers", 1, 64, 2); // a cluster without workers would run nothing
  const threads = intFlag(args, "threads", 1, MAX_THREADS, 1);
  const outDir = outputDir("out", args.values.out?.at(-1) ?? "runs/cluster");
  const storeDir = outputDir("store_dir", args.values.store_dir?.at(-1) ?? join(outDir, "jetstream"));
  const url = `nats://127.0.0.1:${port}`;
  // Debian puts nats-server in /usr/sbin, which a non-root PATH may lack
  const binary = process.env.DTF_NATS_SERVER ?? (existsSync("/usr/sbin/nats-server") ? "/usr/sbin/nats-server" : "nats-server");
  const server = await startNatsServer(binary, ["-js", "-sd", storeDir, "-a", "127.0.0.1", "-p", String(port)]);
  const dtf = (a: string[]) => spawn(process.execPath, [process.argv[1], ...a, "--nats", url], { stdio: "inherit" });
  const roles = Array.from({ length: workers }, () => dtf(["worker", "--threads", String(threads)]));
  roles.push(dtf(["aggregate", "--out", outDir]));
  out(`cluster up: ${url} (JetStream store ${storeDir}), ${workers} workers, aggregator → ${outDir}; Ctrl-C stops`);
  const code = await new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (code: number) => {
      if (stopping) return;
      stopping = true;
      for (const c of roles) c.kill("SIGTERM");
      setTimeout(() => {
        server.removeAllListeners("exit"); // stopped by us from here on, not a failure
        server.kill("SIGTERM");
        resolve(code);
      }, 3000);
    };
    process.once("SIGINT", () => stop(EXIT.ok));
    process.once("SIGTERM", () => stop(EXIT.ok));
    server.once("exit", (c) => {
      process.stderr.write(`dtf up: nats-server exited (code ${c}); stopping the cluster\n`);
      stop(EXIT.failed);
    });
  });
  return code;
}
