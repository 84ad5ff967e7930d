// The report's analysis: swept axes, per-grid-point summaries, the representative point.
import { type ReportData, type RunRow, specValue } from "./data.ts";
import { type Estimate, estimate, median } from "./stats.ts";

/** Mean and (sample) standard deviation; null when there is nothing to average. */
export type Stat = { mean: number; std: number; n: number } | null;

export function stat(values: (number | null | undefined)[]): Stat {
  const xs = values.filter((v): v is number => typeof v === "number" && Number.isFinite(v));
  if (xs.length === 0) return null;
  const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
  const variance = xs.length > 1 ? xs.reduce((s, x) => s + (x - mean) ** 2, 0) / (xs.length - 1) : 0;
  return { mean, std: Math.sqrt(variance), n: xs.length };
}

const meanOf = (xs: number[] | null) => (xs?.length ? xs.reduce((s, x) => s + x, 0) / xs.length : null);

/** The swept axes (seed excluded): keys whose values differ between runs, in first-seen order. */
export function sweptAxes(runs: RunRow[]): string[] {
  const values = new Map<string, Set<string>>();
  for (const r of runs) {
    for (const [k, v] of Object.entries(r.point)) {
      if (k === "seed") continue;
      const set = values.get(k) ?? new Set<string>();
      set.add(JSON.stringify(v));
      values.set(k, set);
    }
  }
  return [...values.entries()].filter(([, s]) => s.size > 1).map(([k]) => k);
}

/** A grid point: the run's swept values without the seed. */
export const groupKey = (r: RunRow, axes: string[]) => JSON.stringify(axes.map((a) => r.point[a]));

/** What the summary table shows for one grid point (mean ± std over its seeds). */
export type GroupSummary = {
  point: Record<string, unknown>;
  runs: number;
  statuses: Record<string, number>;
  recon: Stat;
  /** Median final error with its 95 % bootstrap interval (a run whose error is not finite counts as +∞). */
  reconMedian: Estimate | null;
  heldout: Stat;
  unfoldingErank: Stat;
  cpErank: Stat;
  /** Per recon threshold: mean steps to cross it over the runs that did, and how many did. */
  thresholds: Record<string, { steps: Stat; crossed: number }>;
};

export function summarize(runs: RunRow[], axes: string[]): GroupSummary[] {
  const groups = new Map<string, RunRow[]>();
  for (const r of runs) {
    const key = groupKey(r, axes);
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  return [...groups.values()].map((rs) => {
    const statuses: Record<string, number> = {};
    for (const r of rs) statuses[r.status] = (statuses[r.status] ?? 0) + 1;
    const thresholdKeys = [...new Set(rs.flatMap((r) => r.spec.thresholds?.map(String) ?? []))];
    const done = rs.filter((r) => r.status === "ok" || r.status === "diverged");
    return {
      point: Object.fromEntries(axes.map((a) => [a, rs[0].point[a]])),
      runs: rs.length,
      statuses,
      recon: stat(done.map((r) => r.recon_error)),
      reconMedian: done.length ? estimate(done.map((r) => (Number.isFinite(r.recon_error) ? (r.recon_error as number) : Number.POSITIVE_INFINITY)), median) : null,
      heldout: stat(done.map((r) => r.heldout_mse)),
      unfoldingErank: stat(done.map((r) => meanOf(r.unfolding_eranks))),
      cpErank: stat(done.map((r) => r.cp_erank)),
      thresholds: Object.fromEntries(
        thresholdKeys.map((t) => {
          const crossed = done.map((r) => r.threshold_steps[t]).filter((s) => typeof s === "number");
          return [t, { steps: stat(crossed), crossed: crossed.length }];
        }),
      ),
    };
  });
}

/**
 * The grid point that panels showing one run per depth are drawn at: `wanted` values for the axes
 * it names; for observations, when swept on its own and not named, the most observed (where runs
 * recover).
 */
export function representativePoint(runs: RunRow[], axes: string[], wanted: Record<string, unknown> = {}): Record<string, unknown> {
  const point: Record<string, unknown> = {};
  // |Ω| swept on its own, not zipped with another axis (then that axis picks the panel)
  const others = axes.filter((a) => a !== "observations" && a !== "seed");
  const ownAxis = axes.includes("observations") && distinguishingAxes(runs, [...others, "observations"]).includes("observations");
  if (ownAxis && !("observations" in wanted)) {
    point.observations = Math.max(...runs.map((r) => Number(r.point.observations)).filter(Number.isFinite));
  }
  return { ...point, ...wanted };
}

/** One run per value of `axis` (the first in sweep order that finished) at the grid point `at`. */
export function representatives(data: ReportData, axis: string, at: Record<string, unknown> = {}): RunRow[] {
  const seen = new Map<string, RunRow>();
  for (const r of data.runs) {
    if (r.status !== "ok" && r.status !== "diverged") continue;
    if (Object.entries(at).some(([k, v]) => JSON.stringify(r.point[k]) !== JSON.stringify(v))) continue;
    const key = JSON.stringify(r.point[axis] ?? specValue(r, axis));
    if (!seen.has(key)) seen.set(key, r);
  }
  return [...seen.values()];
}

/**
 * `axes` without those determined by the ones before them (e.g. the dim, R and |Ω| zipped with
 * the order): the shortest labels that still tell the groups of `runs` apart.
 */
export function distinguishingAxes(runs: RunRow[], axes: string[]): string[] {
  const kept: string[] = [];
  for (const a of axes) {
    const valuesPerKey = new Map<string, Set<string>>();
    for (const r of runs) {
      const key = JSON.stringify(kept.map((k) => r.point[k]));
      const set = valuesPerKey.get(key) ?? new Set<string>();
      set.add(JSON.stringify(r.point[a]));
      valuesPerKey.set(key, set);
    }
    if ([...valuesPerKey.values()].some((v) => v.size > 1)) kept.push(a);
  }
  return kept;
}
