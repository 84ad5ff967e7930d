import { DtfError, SpecError } from "@dtf/engine";
import {
  aggregateCommand,
  cancelCommand,
  dlqCommand,
  statusCommand,
  submitCommand,
  upCommand,
  workerCommand,
} from "./commands/cluster.ts";
import { exportCommand, planCommand, reportCommand, runCommand } from "./commands/sweep.ts";
import { trainCommand } from "./commands/train.ts";
import { EXIT, UsageError } from "./errors.ts";

const COMMANDS: Record<string, (argv: string[], out: (l: string) => void) => Promise<number>> = {
  train: trainCommand,
  plan: planCommand,
  run: runCommand,
  report: reportCommand,
  export: exportCommand,
  submit: submitCommand,
  worker: workerCommand,
  aggregate: aggregateCommand,
  status: statusCommand,
  cancel: cancelCommand,
  dlq: dlqCommand,
  up: upCommand,
};

const USAGE = `usage: dtf <command> [options]

commands:
  train    run one training and print its metrics
  plan     validate a sweep spec and show its runs
  run      run a sweep on this machine into a result store (resumable)
  report   write a sweep's HTML report and figure files
  export   write a result store's tables as CSV or Parquet
  submit, worker, aggregate, status, cancel, dlq, up   cluster mode over NATS JetStream (dtf submit --help)
(dtf <command> --help for each)`;

/** Runs the CLI; returns the exit code (0 ok, 1 run failed or diverged, 2 bad usage/spec). */
export async function main(
  argv: string[],
  out: (line: string) => void = (l) => console.log(l),
  err: (line: string) => void = (l) => console.error(l),
): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === "--help" || name === "help") {
    out(USAGE);
    return name ? EXIT.ok : EXIT.usage;
  }
  const command = COMMANDS[name];
  if (!command) {
    err(`dtf: unknown command '${name}'\n${USAGE}`);
    return EXIT.usage;
  }
  try {
    return await command(rest, out);
  } catch (e) {
    if (e instanceof SpecError) {
      err(`dtf ${name}: invalid spec\n${e.issues.map((i) => `  ${i.path}: ${i.message}`).join("\n")}`);
      return EXIT.usage;
    }
    if (e instanceof UsageError) {
      err(`dtf ${name}: ${e.message}`);
      return EXIT.usage;
    }
    if (e instanceof DtfError) {
      err(`dtf ${name}: ${e.message}`);
      return EXIT.failed;
    }
    throw e;
  }
}
