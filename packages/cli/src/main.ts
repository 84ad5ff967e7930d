// The dtf entry: dispatch to a command's module, and every failure as one line and an exit code.
import { ArgumentError, DtfError, SpecError } from "@dtf/engine";
import { codeVersion, redact, UnknownSweepError } from "@dtf/protocol";
import { EXIT, UsageError } from "./errors.ts";

type Command = (argv: string[], out: (l: string) => void) => Promise<number>;
const cluster = () => import("./commands/cluster.ts");
const sweep = () => import("./commands/sweep.ts");

/**
 * Each command's module is loaded when the command runs: `dtf worker` never loads the report's
 * Vega nor DuckDB, `dtf --help` loads nothing (start-up time, docs/performance.md).
 */
const COMMANDS: Record<string, () => Promise<Command>> = {
  train: async () => (await import("./commands/train.ts")).trainCommand,
  plan: async () => (await sweep()).planCommand,
  run: async () => (await sweep()).runCommand,
  report: async () => (await sweep()).reportCommand,
  reproduce: async () => (await import("./commands/reproduce.ts")).reproduceCommand,
  export: async () => (await sweep()).exportCommand,
  submit: async () => (await cluster()).submitCommand,
  worker: async () => (await cluster()).workerCommand,
  aggregate: async () => (await cluster()).aggregateCommand,
  status: async () => (await cluster()).statusCommand,
  cancel: async () => (await cluster()).cancelCommand,
  dlq: async () => (await cluster()).dlqCommand,
  up: async () => (await cluster()).upCommand,
};

const USAGE = `usage: dtf <command> [options]

commands:
  train    run one training and print its metrics
  plan     validate a sweep spec and show its runs
  run      run a sweep on this machine into a result store (resumable)
  report   write a sweep's HTML report and figure files
  export   write a result store's tables as CSV or Parquet
  reproduce  run the paper's figures' sweeps and write their reports and verdicts
  submit, worker, aggregate, status, cancel, dlq, up   cluster mode over NATS JetStream (dtf submit --help)
(dtf <command> --help for each)`;

/** Runs the CLI; returns the exit code (0 ok, 1 run failed or diverged, 2 bad usage/spec). */
export async function main(
  argv: string[],
  out: (line: string) => void = (l) => console.log(l),
  err: (line: string) => void = (l) => console.error(l),
): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === "--help" || name === "-h" || name === "help") {
    out(USAGE);
    return name ? EXIT.ok : EXIT.usage;
  }
  if (name === "--version" || name === "-V") {
    out(`dtf ${codeVersion()}`);
    return EXIT.ok;
  }
  const load = COMMANDS[name];
  if (!load) {
    err(`dtf: unknown command '${name}'\n${USAGE}`);
    return EXIT.usage;
  }
  try {
    return await (await load())(rest, out);
  } catch (e) {
    const [code, message] = describeFailure(e);
    err(redact(`dtf ${name}: ${message}`));
    return code;
  }
}

/**
 * The exit code and the words for a failure: usage (2) for what the user typed, failed (1) for
 * what went wrong while working. Never a stack trace, unless DTF_DEBUG is set.
 */
export function describeFailure(e: unknown): [number, string] {
  if (e instanceof SpecError) return [EXIT.usage, `invalid spec\n${e.issues.map((i) => `  ${i.path}: ${i.message}`).join("\n")}`];
  // what the user asked for is not there (an unknown sweep, a grid point no run has, a replay file that does not fit)
  if (e instanceof UsageError || e instanceof UnknownSweepError || e instanceof ArgumentError) return [EXIT.usage, e.message];
  if (e instanceof DtfError) return [EXIT.failed, e.message];
  const error = e as Error;
  if (process.env.DTF_DEBUG) return [EXIT.failed, error?.stack ?? String(e)];
  return [EXIT.failed, `unexpected error: ${error?.message ?? String(e)} (DTF_DEBUG=1 prints where it happened)`];
}
