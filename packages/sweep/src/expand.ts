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
