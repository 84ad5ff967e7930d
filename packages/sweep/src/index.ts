// @dtf/sweep's public entry: load a sweep file or text, validated.
import { readFile } from "node:fs/promises";
import { sweepIdOf } from "./expand.ts";
import { parseSpecText } from "./source.ts";
import type { SweepSpec } from "./types.ts";
import { countRuns, DEFAULT_MAX_RUNS, validateSweep } from "./validate.ts";

export { canonicalJson, hashOf } from "./canonical.ts";
export { expandRuns, runAt, runAtIfNamed, runIdOf, sweepIdOf } from "./expand.ts";
export type { SpecSource } from "./source.ts";
export { parseSpecText, SpecParseError } from "./source.ts";
export type { PlannedRun, SweepSpec } from "./types.ts";
export { axesOf, countRuns, DEFAULT_MAX_RUNS, gridPoints, MAX_RUNS_LIMIT, validateSweep } from "./validate.ts";

export type LoadedSweep = { sweep: SweepSpec; sweepId: string; count: number; file: string };

/** Parses and validates a sweep given as text (YAML, or JSON when `file` ends in .json). */
export function loadSweepText(text: string, file: string, maxRuns = DEFAULT_MAX_RUNS): LoadedSweep {
  const sweep = validateSweep(parseSpecText(text, file), maxRuns);
  return { sweep, sweepId: sweepIdOf(sweep), count: countRuns(sweep), file };
}

/** Reads, parses and validates a sweep file. */
export async function loadSweepFile(file: string, maxRuns = DEFAULT_MAX_RUNS): Promise<LoadedSweep> {
  return loadSweepText(await readFile(file, "utf8"), file, maxRuns);
}
