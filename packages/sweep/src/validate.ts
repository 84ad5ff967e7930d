// Sweep validation with file lines, axes and run counts.
import {
  checkField,
  didYouMean,
  LIMITS,
  RUN_SPEC_FIELDS,
  RUN_SPEC_KEYS,
  type RunSpec,
  type RunSpecInput,
  resolveRunSpec,
  SpecError,
  type SpecIssue,
} from "@dtf/engine";
import { hashOf } from "./canonical.ts";
import type { SpecSource } from "./source.ts";
import type { SweepSpec } from "./types.ts";

const TOP_KEYS = ["name", "description", "base", "grid", "zip", "seeds"] as const;

type Path = (string | number)[];
const pathText = (path: Path) =>
  path.reduce<string>((s, p) => (typeof p === "number" ? `${s}[${p}]` : s ? `${s}.${p}` : p), "");

const isMapping = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v);

/** Collects issues with their location in the file. */
class Issues {
  readonly list: SpecIssue[] = [];
  constructor(private readonly source: SpecSource) {}
  add(path: Path, message: string) {
    const where = this.source.locate(path);
    this.list.push({ path: `${where}: ${pathText(path)}`, message });
  }
}

function checkRunKey(key: string, path: Path, issues: Issues): key is keyof RunSpec {
  if (key in RUN_SPEC_FIELDS) return true;
  const hint = didYouMean(key, RUN_SPEC_KEYS);
  issues.add(path, `unknown run-spec key${hint ? ` (did you mean '${hint}'?)` : ""}`);
  return false;
}

function checkValue(key: keyof RunSpec, value: unknown, path: Path, issues: Issues) {
  for (const issue of checkField(key, value, pathText(path))) {
    // checkField reports list entries as `path[i]`; locate the entry itself when it is one
    const m = /\[(\d+)\]$/.exec(issue.path);
    const sub = m && issue.path !== pathText(path) ? [...path, Number(m[1])] : path;
    issues.add(sub, issue.message);
  }
}

/** A swept axis: keys varied together and their values, one entry per position. */
export type Axis = { keys: string[]; values: unknown[][] };

/** Grid keys (file order) then zip groups, each one axis; seeds are handled separately. */
export function axesOf(sweep: SweepSpec): Axis[] {
  return [
    ...Object.entries(sweep.grid).map(([key, values]) => ({ keys: [key], values: values.map((v) => [v]) })),
    ...sweep.zip.map((group) => {
      const keys = Object.keys(group);
      const length = group[keys[0]]?.length ?? 0;
      return { keys, values: Array.from({ length }, (_, i) => keys.map((k) => group[k][i])) };
    }),
  ];
}

/** Every combination of the axes (seeds excluded), last axis fastest. */
export function* gridPoints(axes: Axis[]): Generator<Record<string, unknown>> {
  const counters = axes.map(() => 0);
  if (axes.some((a) => a.values.length === 0)) return;
  for (;;) {
    const point: Record<string, unknown> = {};
    axes.forEach((axis, a) => {
      axis.keys.forEach((k, j) => {
        point[k] = axis.values[counters[a]][j];
      });
    });
    yield point;
    let a = axes.length - 1;
    while (a >= 0 && ++counters[a] === axes[a].values.length) counters[a--] = 0;
    if (a < 0) return;
  }
}

function validateMapping(
  value: unknown,
  path: Path,
  issues: Issues,
  each: (key: string, v: unknown, p: Path) => void,
): Record<string, unknown> {
  if (value === undefined) return {};
  if (!isMapping(value)) {
    issues.add(path, `must be a mapping, got ${Array.isArray(value) ? "a list" : JSON.stringify(value)}`);
    return {};
  }
  for (const [k, v] of Object.entries(value)) each(k, v, [...path, k]);
  return value;
}

/** `distinct`: each list's values must differ (grid axes); zip groups check their tuples instead. */
function validateLists(group: Record<string, unknown>, path: Path, issues: Issues, owner: Map<string, string>, distinct: boolean) {
  const out: Record<string, unknown[]> = {};
  for (const [key, values] of Object.entries(group)) {
    const p = [...path, key];
    if (!checkRunKey(key, p, issues)) continue;
    if (key === "seed") {
      issues.add(p, "sweep seeds with the top-level `seeds` key");
      continue;
    }
    if (owner.has(key)) {
      issues.add(p, `is already set in ${owner.get(key)}; a key belongs in one place`);
      continue;
    }
    owner.set(key, pathText(path));
    if (!Array.isArray(values) || values.length === 0) {
      issues.add(p, `must be a non-empty list of values, got ${JSON.stringify(values)}`);
      continue;
    }
    const seen = new Set<string>();
    values.forEach((v, i) => {
      checkValue(key, v, [...p, i], issues);
      const text = JSON.stringify(v);
      if (distinct && seen.has(text)) issues.add([...p, i], `repeats the value ${text}: it would run the same points twice`);
      seen.add(text);
    });
    out[key] = values;
  }
  return out;
}

/** The number of runs a sweep expands to: the product of its axes' lengths times the seeds. */
export function countRuns(sweep: SweepSpec): number {
  return axesOf(sweep).reduce((n, a) => n * a.values.length, 1) * sweep.seeds.length;
}

export const DEFAULT_MAX_RUNS = 100_000;
/** The largest --max-runs accepted: a sweep's run ids and KV markers must stay manageable. */
export const MAX_RUNS_LIMIT = 10_000_000;

/**
 * Checks a parsed sweep file completely; throws one SpecError listing every issue with its place
 * in the file. A sweep over `maxRuns` runs is refused before anything is expanded.
 */
export function validateSweep(source: SpecSource, maxRuns = DEFAULT_MAX_RUNS): SweepSpec {
  const issues = new Issues(source);
  const data = source.data;
  if (!isMapping(data)) {
    issues.add([], "a sweep file must be a mapping with name, base, grid, zip, seeds");
    throw new SpecError(issues.list);
  }
  for (const key of Object.keys(data)) {
    if (!(TOP_KEYS as readonly string[]).includes(key)) {
      const hint = didYouMean(key, TOP_KEYS) ?? didYouMean(key, RUN_SPEC_KEYS);
      issues.add([key], `unknown key${hint ? ` (did you mean '${hint}'?)` : ""}`);
    }
  }
  const name = data.name;
  if (typeof name !== "string" || !/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(name)) {
    issues.add(["name"], `must be a name of letters, digits, '_', '.', '-', got ${JSON.stringify(name)}`);
  }
  const owner = new Map<string, string>();
  const base = validateMapping(data.base, ["base"], issues, (key, v, p) => {
    if (!checkRunKey(key, p, issues)) return;
    if (key === "seed") issues.add(p, "sweep seeds with the top-level `seeds` key");
    owner.set(key, "base");
    checkValue(key, v, p, issues);
  });
  const gridRaw = data.grid === undefined ? {} : data.grid;
  const grid = isMapping(gridRaw) ? validateLists(gridRaw, ["grid"], issues, owner, true) : {};
  if (!isMapping(gridRaw)) issues.add(["grid"], "must be a mapping of run-spec keys to lists of values");

  const zip: Record<string, unknown[]>[] = [];
  if (data.zip !== undefined) {
    if (!Array.isArray(data.zip)) issues.add(["zip"], "must be a list of groups (mappings of keys to equal-length lists)");
    else
      data.zip.forEach((group, g) => {
        if (!isMapping(group)) {
          issues.add(["zip", g], "must be a mapping of run-spec keys to lists");
          return;
        }
        const lists = validateLists(group, ["zip", g], issues, owner, false);
        const lengths = new Set(Object.values(lists).map((l) => l.length));
        if (lengths.size > 1) {
          issues.add(["zip", g], `lists must have equal lengths to vary together, got ${[...lengths].join(" and ")}`);
        } else {
          // a value may repeat in one list (model: [matrix, matrix, nuclear]); a whole tuple may not
          const seen = new Set<string>();
          const keys = Object.keys(lists);
          for (let i = 0; i < (lengths.values().next().value ?? 0); i++) {
            const tuple = JSON.stringify(keys.map((k) => lists[k][i]));
            if (seen.has(tuple)) issues.add(["zip", g], `repeats the combination ${tuple} of ${keys.join(", ")} at position ${i}: it would run the same points twice`);
            seen.add(tuple);
          }
        }
        zip.push(lists);
      });
  }

  let seeds: number[] = [0];
  const s = data.seeds;
  if (typeof s === "number") {
    if (!Number.isInteger(s) || s < 1) issues.add(["seeds"], `must be a count >= 1 or a list of seeds, got ${s}`);
    else if (s > maxRuns) issues.add(["seeds"], `asks for ${s} seeds, more than --max-runs ${maxRuns}`);
    else seeds = Array.from({ length: s }, (_, i) => i);
  } else if (Array.isArray(s)) {
    s.forEach((v, i) => {
      if (!Number.isInteger(v) || (v as number) < 0 || (v as number) > LIMITS.seed) {
        issues.add(["seeds", i], `must be an integer from 0 to ${LIMITS.seed}, got ${JSON.stringify(v)}`);
      }
    });
    if (new Set(s).size !== s.length) issues.add(["seeds"], "repeats a seed: it would run the same points twice");
    if (s.length === 0) issues.add(["seeds"], "must not be empty");
    seeds = s as number[];
  } else if (s !== undefined) {
    issues.add(["seeds"], `must be a count >= 1 or a list of seeds, got ${JSON.stringify(s)}`);
  }
  if (issues.list.length > 0) throw new SpecError(issues.list);

  const sweep: SweepSpec = { name: name as string, base: base as RunSpecInput, grid, zip, seeds };
  const count = countRuns(sweep);
  if (count > maxRuns) {
    issues.add(["grid"], `expands to ${count} runs, more than --max-runs ${maxRuns}; raise --max-runs if you mean it`);
    throw new SpecError(issues.list);
  }
  checkCombinations(sweep, source, issues);
  if (issues.list.length > 0) throw new SpecError(issues.list);
  return sweep;
}

/**
 * Values that are fine alone can be impossible together (observations > entries of that dim, a
 * rank above what the dims allow): resolve every grid point (seeds do not matter) and report each
 * distinct problem once, with the first grid point that shows it.
 */
function checkCombinations(sweep: SweepSpec, source: SpecSource, issues: Issues) {
  const seen = new Set<string>();
  // Two grid points that resolve to the same run spec would be one run counted twice.
  const specs = new Map<string, Record<string, unknown>>();
  for (const point of gridPoints(axesOf(sweep))) {
    try {
      const spec = hashOf(resolveRunSpec({ ...sweep.base, ...point, seed: 0 } as RunSpecInput));
      const twin = specs.get(spec);
      if (twin) {
        issues.add(["grid"], `grid points ${JSON.stringify(twin)} and ${JSON.stringify(point)} give the same run spec; drop one of the values`);
        return;
      }
      specs.set(spec, point);
    } catch (err) {
      if (!(err instanceof SpecError)) throw err;
      for (const issue of err.issues) {
        const key = issue.path;
        const message = `${issue.message} (at grid point ${JSON.stringify(point)})`;
        if (seen.has(`${key}:${issue.message}`)) continue;
        seen.add(`${key}:${issue.message}`);
        const where = key in sweep.grid ? ["grid", key] : sweep.zip.findIndex((g) => key in g) >= 0 ? ["zip", sweep.zip.findIndex((g) => key in g), key] : ["base", key];
        issues.list.push({ path: `${source.locate(where)}: ${pathText(where)}`, message });
        if (seen.size >= 20) return;
      }
    }
  }
}
