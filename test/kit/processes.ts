// Every child process a test starts: each leads its own process group, so killing the group also
// ends what it started (nats-server under `dtf up`, a role under `ip netns exec`); the groups a
// test leaves running are killed when it ends (test/kit/mocha-setup.ts), and all at exit.
import { type ChildProcess, type SpawnOptions, spawn } from "node:child_process";

export type Logged = ChildProcess & { log: () => string };
export type Finished = { code: number; stdout: string; stderr: string; timedOut: boolean };

type Tracked = { child: ChildProcess; label: string; owner: string | null };
const tracked = new Set<Tracked>();
let currentTest: string | null = null;

/** The test now running (children started meanwhile are its own); null between tests. */
export function enterTest(title: string | null): void {
  currentTest = title;
}

const alive = (child: ChildProcess) => child.exitCode === null && child.signalCode === null;

/** Signals a child's whole process group (a group already gone is fine). */
export function signalGroup(child: ChildProcess, signal: NodeJS.Signals = "SIGKILL"): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // ESRCH: the group has ended
  }
}

/**
 * Kills the groups still running: those the test `owner` started, or every one when `owner` is
 * undefined. Returns a line per group killed (what it was), for the report.
 */
export function killLeftovers(owner?: string | null): string[] {
  const killed: string[] = [];
  for (const t of tracked) {
    if (owner !== undefined && t.owner !== owner) continue;
    tracked.delete(t);
    if (!alive(t.child)) continue;
    signalGroup(t.child, "SIGKILL");
    killed.push(`${t.label} (pid ${t.child.pid})`);
  }
  return killed;
}

/** Starts a child in a process group of its own, tracked until it exits; its output is in `log()`. */
export function spawnTracked(command: string, args: string[], options: SpawnOptions = {}): Logged {
  const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"], ...options, detached: true }) as Logged;
  let log = "";
  child.stdout?.on("data", (d: Buffer) => {
    log += d.toString();
  });
  child.stderr?.on("data", (d: Buffer) => {
    log += d.toString();
  });
  child.log = () => log;
  const entry: Tracked = { child, label: [command, ...args].join(" ").slice(0, 160), owner: currentTest };
  tracked.add(entry);
  child.once("exit", () => tracked.delete(entry));
  return child;
}

/** Resolves with the exit code (or signal name) once the child has ended. */
export const exited = (child: ChildProcess) =>
  new Promise<number | string>((resolve) => {
    if (!alive(child)) return resolve(child.exitCode ?? child.signalCode ?? -1);
    child.once("exit", (code, signal) => resolve(code ?? signal ?? -1));
  });

/** How long a signalled child may take to end: a worker's drain is 30 s at most. */
const STOP_LIMIT_MS = 90_000;

/**
 * Signals the child itself (not its group: how it stops what it started is part of what is
 * tested) and waits until it has ended; what it leaves behind dies with its group after the test.
 * One that has not ended within `limitMs` is killed with its group, and the test fails naming
 * it and its last output (rather than at mocha's timeout, with nothing to go on).
 */
export async function stopped(child: ChildProcess, signal: NodeJS.Signals = "SIGTERM", limitMs = STOP_LIMIT_MS): Promise<void> {
  if (!alive(child)) return;
  const done = exited(child);
  child.kill(signal);
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<"late">((resolve) => {
    timer = setTimeout(() => resolve("late"), limitMs);
  });
  const outcome = await Promise.race([done, late]);
  clearTimeout(timer);
  if (outcome !== "late") return;
  signalGroup(child);
  await done;
  const log = "log" in child && typeof child.log === "function" ? String(child.log()).slice(-3000) : "";
  throw new Error(`pid ${child.pid} did not end within ${limitMs / 1000} s of ${signal} (killed with its group); its last output:\n${log}`);
}

export type RunOptions = Omit<SpawnOptions, "stdio" | "detached"> & {
  /** Past this the child's group is killed and the run ends with code 124 (as timeout(1)). */
  timeoutMs?: number;
};

/** Runs a command to its end, never longer than `timeoutMs` (default 5 minutes). */
export function runToEnd(command: string, args: string[], options: RunOptions = {}): Promise<Finished> {
  const { timeoutMs = 300_000, ...spawnOptions } = options;
  const child = spawnTracked(command, args, spawnOptions);
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr!.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    signalGroup(child, "SIGKILL");
  }, timeoutMs);
  return new Promise((resolve) => {
    child.once("error", (err) => {
      clearTimeout(timer);
      resolve({ code: 127, stdout, stderr: `${stderr}${err.message}`, timedOut });
    });
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      if (timedOut) stderr += `\n[killed: still running after ${timeoutMs} ms]`;
      resolve({ code: timedOut ? 124 : (code ?? (signal ? 128 : 1)), stdout, stderr, timedOut });
    });
  });
}

/** Resolves when `what()` is true, polling every `everyMs`; rejects with `message()` after `timeoutMs`. */
export async function until(
  what: () => Promise<boolean> | boolean,
  timeoutMs: number,
  message: () => string | Promise<string>,
  everyMs = 250,
): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await what())) {
    if (Date.now() > end) throw new Error(await message());
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Every tracked child still running (for a timed-out test's message). */
export const running = () => [...tracked].filter((t) => alive(t.child)).map((t) => ({ child: t.child, label: t.label }));

/** `runToEnd` for a command that must succeed: rejects with its code and output otherwise (as promisify(execFile)). */
export async function runChecked(command: string, args: string[], options: RunOptions = {}): Promise<Finished> {
  const ran = await runToEnd(command, args, options);
  if (ran.code !== 0) throw Object.assign(new Error(`${command} ${args.join(" ")} exited ${ran.code}: ${ran.stderr.slice(-2000)}`), ran);
  return ran;
}
