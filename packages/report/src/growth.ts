// The growth law over seeds per grid point, and the prefactor's degree in L.
import { distinguishingAxes } from "./analysis.ts";
import type { RunRow } from "./data.ts";
import { bootstrap, type Estimate, mean, slope } from "./stats.ts";

/**
 * The growth law of one grid point over its seeds: each run contributes the fit of its largest
 * tracked component (rank position 0, identity fixed for the whole run); the exponent is averaged,
 * the prefactor averaged in log space (a geometric mean), both with 95 % bootstrap intervals.
 */
export type GrowthGroup = {
  order: number;
  depth: number;
  /** The grid point without depth and seed, e.g. `order=3`. */
  sliceLabel: string;
  runs: RunRow[];
  exponent: Estimate;
  prefactor: Estimate;
  /** 2 − 2/(NL): the exponent of a shallow CP of order NL (balanced, orthogonal columns). */
  theoryExponent: number;
};

const topFit = (r: RunRow) => r.growth.find((g) => g.component === 0);
const geometricMean = (xs: number[]) => Math.exp(mean(xs.map(Math.log)));

export function growthGroups(runs: RunRow[], axes: string[]): GrowthGroup[] {
  const fitted = runs.filter((r) => topFit(r) !== undefined);
  const sliceAxes = distinguishingAxes(
    fitted,
    axes.filter((a) => a !== "depth" && a !== "seed"),
  );
  const groups = new Map<string, RunRow[]>();
  for (const r of fitted) {
    const key = JSON.stringify([r.spec.depth, ...sliceAxes.map((a) => r.point[a])]);
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  return [...groups.values()].map((rs, i) => {
    const fits = rs.map((r) => topFit(r)!);
    const N = rs[0].spec.order;
    const L = rs[0].spec.depth;
    return {
      order: N,
      depth: L,
      sliceLabel: sliceAxes.map((a) => `${a}=${JSON.stringify(rs[0].point[a])}`).join(" "),
      runs: rs,
      exponent: bootstrap([fits.map((f) => f.exponent)], ([xs]) => mean(xs), 101 + i),
      prefactor: bootstrap([fits.map((f) => f.prefactor)], ([xs]) => geometricMean(xs), 211 + i),
      theoryExponent: 2 - 2 / (N * L),
    };
  });
}

/**
 * The polynomial degree p of prefactor ∝ L^p: the least-squares slope of log prefactor on log L
 * across depths, with an interval from resampling each depth's runs.
 */
export function polynomialDegree(groups: GrowthGroup[]): Estimate {
  const perDepth = groups.map((g) => g.runs.map((r) => topFit(r)!.prefactor));
  return bootstrap(perDepth, (gs) => slope(gs.map((xs, i) => [Math.log(groups[i].depth), Math.log(geometricMean(xs))])), 307);
}
