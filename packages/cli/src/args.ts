// The command-line parser: --key value, --key=value and flags, with did-you-mean for unknown options.
import { didYouMean } from "@dtf/engine";
import { EXIT, UsageError } from "./errors.ts";

export type ParsedArgs = { values: Record<string, string[]>; flags: Set<string>; positionals: string[] };

/**
 * Parses `--key value`, `--key=value` and boolean `--flag` arguments. `valueKeys` and `flagKeys`
 * list what the command accepts; dashes in keys are read as underscores (`--eval-every`).
 * An unknown option is a UsageError with a "did you mean" hint.
 */
export function parseArgs(argv: string[], valueKeys: readonly string[], flagKeys: readonly string[]): ParsedArgs {
  const values: Record<string, string[]> = {};
  const flags = new Set<string>();
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith("--")) {
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf("=");
    const key = (eq >= 0 ? arg.slice(2, eq) : arg.slice(2)).replaceAll("-", "_");
    if (flagKeys.includes(key)) {
      if (eq >= 0) throw new UsageError(`--${key} is a flag and takes no value`);
      flags.add(key);
      continue;
    }
    if (!valueKeys.includes(key)) {
      const hint = didYouMean(key, [...valueKeys, ...flagKeys]);
      throw new UsageError(`unknown option --${key}${hint ? ` (did you mean --${hint}?)` : ""}`);
    }
    let value: string | undefined = eq >= 0 ? arg.slice(eq + 1) : argv[++i];
    if (value === undefined || (eq < 0 && value.startsWith("--"))) {
      throw new UsageError(`--${key} needs a value`);
    }
    value = value.trim();
    values[key] = [...(values[key] ?? []), value];
  }
  return { values, flags, positionals };
}

/** A flag value as the run spec wants it: numbers become numbers, `a,b` becomes a list. */
export function coerce(raw: string): unknown {
  if (raw.includes(",")) return raw.split(",").map((s) => coerce(s.trim()));
  if (raw === "true") return true;
  if (raw === "false") return false;
  const n = Number(raw);
  return raw !== "" && Number.isFinite(n) ? n : raw;
}

/** Prints a command's help; the exit code for it. */
export function showHelp(out: (line: string) => void, text: string): number {
  out(text);
  return EXIT.ok;
}
