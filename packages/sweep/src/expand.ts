// A sweep's runs, lazily and in a fixed order; run and sweep ids.
import { type RunSpecInput, resolveRunSpec } from "@dtf/engine";
import { hashOf } from "./canonical.ts";
import type { PlannedRun, SweepSpec } from "./types.ts";
import { axesOf, gridPoints } from "./validate.ts";

/** The run id: a hash of the resolved run spec, so the same point always has the same id. */
export function runIdOf(spec: object): string {
  return hashOf(spec);
}

/** The sweep id: the sweep's name and a hash of its normalised content. */
export function sweepIdOf(sweep: SweepSpec): string {
  return `${sweep.name}-${hashOf({ base: sweep.base, grid: sweep.grid, zip: sweep.zip, seeds: sweep.seeds }, 10)}`;
}

/**
 * Every run of a validated sweep, lazily and in a fixed order (grid keys in file order, then zip
 * groups, then seeds; the last fastest): memory stays flat however large the grid.
 */
export function* expandRuns(sweep: SweepSpec): Generator<PlannedRun> {
  let index = 0;
  for (const point of gridPoints(axesOf(sweep))) {
    for (const seed of sweep.seeds) {
      const spec = resolveRunSpec({ ...sweep.base, ...point, seed } as RunSpecInput);
      yield { runId: runIdOf(spec), index: index++, point: { ...point, seed }, spec };
    }
  }
}

/**
 * The run at position `index` of `expandRuns`' order, computed directly (mixed radix over the
 * axes, seeds fastest): a reader that keeps only run indices can recover any run's point and spec.
 */
export function runAt(sweep: SweepSpec, index: number): PlannedRun {
  const axes = axesOf(sweep);
  const total = axes.reduce((n, a) => n * a.values.length, sweep.seeds.length);
  if (!Number.isInteger(index) || index < 0 || index >= total) throw new RangeError(`run index ${index} is outside the sweep's ${total} runs`);
  const seed = sweep.seeds[index % sweep.seeds.length];
  let rest = Math.floor(index / sweep.seeds.length);
  const point: Record<string, unknown> = {};
  const chosen = axes.map(() => 0);
  for (let a = axes.length - 1; a >= 0; a--) {
    chosen[a] = rest % axes[a].values.length;
    rest = Math.floor(rest / axes[a].values.length);
  }
  axes.forEach((axis, a) => {
    axis.keys.forEach((k, j) => {
      point[k] = axis.values[chosen[a]][j];
    });
  });
  const spec = resolveRunSpec({ ...sweep.base, ...point, seed } as RunSpecInput);
  return { runId: runIdOf(spec), index, point: { ...point, seed }, spec };
}

/** The sweep's run at `index` when it is run `runId`; null when the sweep has no such run (an index outside it included). */
export function runAtIfNamed(sweep: SweepSpec, runId: string, index: number): PlannedRun | null {
  if (!Number.isInteger(index) || index < 0) return null;
  let run: PlannedRun;
  try {
    run = runAt(sweep, index);
  } catch (err) {
    if (err instanceof RangeError) return null;
    throw err;
  }
  return run.runId === runId ? run : null;
}
