// What each dtf command accepts: the one table the commands parse with and the docs test checks.
import { RUN_SPEC_KEYS } from "@dtf/engine";
import { type ParsedArgs, parseArgs } from "./args.ts";
import { UsageError } from "./errors.ts";

/** The connection options every cluster command takes (each also from its variable, docs/configuration.md). */
export const NATS_FLAGS = ["nats", "creds", "user", "password", "token", "tls_ca", "tls_cert", "tls_key"] as const;

type Options = {
  values: readonly string[];
  flags: readonly string[];
  /** The positional arguments it takes: what they are (for the error), and at most how many. */
  args: { what: string; max: number };
};

/** Options with a value (`--out DIR`) and flags (`--json`), by command; dashes read as underscores. */
export const COMMAND_OPTIONS = {
  train: { values: [...RUN_SPEC_KEYS, "replay", "spec"], flags: ["json", "help"], args: { what: "a run spec file", max: 1 } },
  plan: { values: ["max_runs", "show"], flags: ["help"], args: { what: "a sweep file", max: 1 } },
  run: { values: ["out", "threads", "max_runs"], flags: ["help"], args: { what: "a sweep file", max: 1 } },
  report: { values: ["out", "figures", "sweep", "at"], flags: ["help"], args: { what: "a sweep directory", max: 1 } },
  export: { values: ["format", "to"], flags: ["help"], args: { what: "a sweep directory", max: 1 } },
  reproduce: { values: ["out", "threads", "specs", ...NATS_FLAGS], flags: ["help", "quick", "full"], args: { what: "figures", max: 100 } },
  submit: { values: [...NATS_FLAGS, "max_runs", "wait"], flags: ["help"], args: { what: "a sweep file", max: 1 } },
  worker: { values: [...NATS_FLAGS, "threads", "port", "host", "grace_ms", "max_deliver", "ack_wait_ms"], flags: ["help"], args: { what: "no arguments", max: 0 } },
  aggregate: { values: [...NATS_FLAGS, "out", "sweep"], flags: ["help"], args: { what: "no arguments", max: 0 } },
  status: { values: NATS_FLAGS, flags: ["help", "json", "watch"], args: { what: "a sweep id", max: 1 } },
  cancel: { values: NATS_FLAGS, flags: ["help"], args: { what: "a sweep id", max: 1 } },
  dlq: { values: NATS_FLAGS, flags: ["help", "requeue"], args: { what: "a sweep id", max: 1 } },
  up: { values: ["workers", "out", "port", "store_dir", "threads"], flags: ["help"], args: { what: "no arguments", max: 0 } },
} as const satisfies Record<string, Options>;

export type CommandName = keyof typeof COMMAND_OPTIONS;

/**
 * Parses a command's arguments against its row of COMMAND_OPTIONS: an unknown option, `-x` (but
 * `-h`, help), or more arguments than the command takes is a UsageError (never ignored: `dtf run
 * spec.yaml -v` must not start the sweep).
 */
export function parseCommandArgs(command: CommandName, argv: string[]): ParsedArgs {
  const { values, flags, args }: Options = COMMAND_OPTIONS[command];
  const parsed = parseArgs(
    argv.map((a) => (a === "-h" ? "--help" : a)),
    values,
    flags,
  );
  if (parsed.flags.has("help")) return parsed;
  const dashed = parsed.positionals.find((p) => /^-./.test(p));
  if (dashed) throw new UsageError(`unknown option ${dashed} (options are spelt --name)`);
  if (parsed.positionals.length > args.max) {
    const extra = parsed.positionals.slice(args.max).join(" ");
    throw new UsageError(`dtf ${command} takes ${args.max === 0 ? "no arguments" : args.max === 1 ? args.what : `at most ${args.max} ${args.what}`}; unexpected: ${extra}`);
  }
  return parsed;
}

/** A sweep id as submit prints it (letters, digits, '_', '.', '-'), or a UsageError saying what it got. */
export function sweepIdArg(parsed: ParsedArgs): string {
  const id = parsed.positionals[0];
  if (!id) throw new UsageError("expected a sweep id (dtf submit prints it)");
  if (id.length > 200 || !/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(id)) throw new UsageError(`not a sweep id: ${JSON.stringify(id)} (letters, digits, '_', '.', '-')`);
  return id;
}
