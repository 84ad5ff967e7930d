// Files, directories and numbers the user names, checked before anything runs.
import { existsSync, statSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { DEFAULT_MAX_RUNS, type LoadedSweep, loadSweepText, MAX_RUNS_LIMIT, parseSpecText, SpecParseError } from "@dtf/sweep";
import type { ParsedArgs } from "./args.ts";
import { UsageError } from "./errors.ts";

/** The most pool threads a command accepts (`--threads`). */
export const MAX_THREADS = 256;

/** Reads a file the user named; every way it can fail (missing, a directory, unreadable) is one usage line. */
export async function readUserFile(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "no such file" : code === "EISDIR" ? "it is a directory" : code === "EACCES" ? "permission denied" : (err as Error).message;
    throw new UsageError(`cannot read ${what} ${path}: ${why}`, { cause: err });
  }
}

/** A YAML or JSON run-spec file as a plain mapping. */
export async function readSpecFile(path: string): Promise<Record<string, unknown>> {
  const text = await readUserFile(path, "spec file");
  let data: unknown;
  try {
    data = parseSpecText(text, path).data;
  } catch (err) {
    if (err instanceof SpecParseError) throw new UsageError(err.message, { cause: err });
    throw err;
  }
  if (data === null || typeof data !== "object" || Array.isArray(data)) {
    throw new UsageError(`${path} must hold a mapping of run-spec keys, got ${Array.isArray(data) ? "a list" : typeof data}`);
  }
  return data as Record<string, unknown>;
}

/**
 * An integer flag within [min, max] (every size a user can type is bounded); `fallback` when absent.
 */
export function intFlag(args: ParsedArgs, key: string, min: number, max: number, fallback: number): number {
  const raw = args.values[key]?.at(-1);
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (raw === "" || !Number.isInteger(n) || n < min || n > max) {
    throw new UsageError(`--${key.replaceAll("_", "-")} must be an integer from ${min} to ${max}, got ${raw}`);
  }
  return n;
}

/** The sweep file given as the first positional argument, validated (`--max-runs` bounded). */
export async function loadSweepArg(args: ParsedArgs): Promise<LoadedSweep> {
  const file = args.positionals[0];
  if (!file) throw new UsageError("expected a sweep spec file");
  return loadSweepPath(file, intFlag(args, "max_runs", 1, MAX_RUNS_LIMIT, DEFAULT_MAX_RUNS));
}

/** A sweep file, read and validated; every problem is one usage line. */
export async function loadSweepPath(file: string, maxRuns = DEFAULT_MAX_RUNS): Promise<LoadedSweep> {
  const text = await readUserFile(file, "sweep file");
  try {
    return loadSweepText(text, file, maxRuns);
  } catch (err) {
    if (err instanceof SpecParseError) throw new UsageError(err.message, { cause: err });
    throw err;
  }
}

/**
 * A directory the command will create or write into: not empty, not an existing file, not under
 * a file. Checked before any work starts, so a bad --out loses nothing.
 */
export function outputDir(flag: string, path: string): string {
  if (path.trim() === "") throw new UsageError(`--${flag} must name a directory, got an empty path`);
  for (let p = resolve(path); ; p = dirname(p)) {
    if (existsSync(p)) {
      if (!statSync(p).isDirectory()) {
        throw new UsageError(p === resolve(path) ? `--${flag} ${path} is a file, not a directory` : `--${flag} ${path} is under ${p}, which is a file`);
      }
      return path;
    }
    if (dirname(p) === p) return path;
  }
}
