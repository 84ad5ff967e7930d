// What each dtf command accepts: the one table the commands parse with and the docs test checks.
import { RUN_SPEC_KEYS } from "@dtf/engine";
import { type ParsedArgs, parseArgs } from "./args.ts";

/** The connection options every cluster command takes (each also from its variable, docs/configuration.md). */
export const NATS_FLAGS = ["nats", "creds", "user", "password", "token", "tls_ca", "tls_cert", "tls_key"] as const;

type Options = { values: readonly string[]; flags: readonly string[] };

/** Options with a value (`--out DIR`) and flags (`--json`), by command; dashes read as underscores. */
export const COMMAND_OPTIONS = {
  train: { values: [...RUN_SPEC_KEYS, "replay", "spec"], flags: ["json", "help"] },
  plan: { values: ["max_runs", "show"], flags: ["help"] },
  run: { values: ["out", "threads", "max_runs"], flags: ["help"] },
  report: { values: ["out", "figures", "sweep", "at"], flags: ["help"] },
  export: { values: ["format", "to"], flags: ["help"] },
  reproduce: { values: ["out", "threads", "specs", ...NATS_FLAGS], flags: ["help", "quick", "full"] },
  submit: { values: [...NATS_FLAGS, "max_runs"], flags: ["help"] },
  worker: { values: [...NATS_FLAGS, "threads", "port", "host", "grace_ms", "max_deliver", "ack_wait_ms"], flags: ["help"] },
  aggregate: { values: [...NATS_FLAGS, "out", "sweep"], flags: ["help"] },
  status: { values: NATS_FLAGS, flags: ["help", "json", "watch"] },
  cancel: { values: NATS_FLAGS, flags: ["help"] },
  dlq: { values: NATS_FLAGS, flags: ["help", "requeue"] },
  up: { values: ["workers", "out", "port", "store_dir", "threads"], flags: ["help"] },
} as const satisfies Record<string, Options>;

export type CommandName = keyof typeof COMMAND_OPTIONS;

/** Parses a command's arguments against its row of COMMAND_OPTIONS (unknown options: UsageError). */
export function parseCommandArgs(command: CommandName, argv: string[]): ParsedArgs {
  const { values, flags }: Options = COMMAND_OPTIONS[command];
  return parseArgs(argv, values, flags);
}
