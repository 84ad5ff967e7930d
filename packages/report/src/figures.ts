// The report's figures as Vega-Lite specs, chosen by the swept axes.
import type { TopLevelSpec } from "vega-lite";
import { type GroupSummary, groupKey } from "./analysis.ts";
import type { MetricRow, NormRow, RunRow } from "./data.ts";
import type { GrowthGroup } from "./growth.ts";

/** A figure: its Vega-Lite spec and the rows it plots (exported as CSV). */
export type Figure = { id: string; title: string; caption: string; spec: TopLevelSpec; rows: Record<string, unknown>[] };

/** One colour per depth, the same in every figure (Tableau 10). */
const PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"];

export function depthColor(depths: number[]) {
  return {
    field: "depth",
    type: "ordinal" as const,
    title: "depth L",
    scale: { domain: depths, range: depths.map((_, i) => PALETTE[i % PALETTE.length]) },
  };
}

const base = { width: 260, height: 200, config: { font: "DejaVu Sans", view: { stroke: "#ddd" } } };
const logY = (field: string, title: string) => ({ field, type: "quantitative" as const, title, scale: { type: "log" as const } });

const label = (point: Record<string, unknown>, skip: string[] = []) =>
  Object.entries(point)
    .filter(([k]) => !skip.includes(k))
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
    .join(" ") || "all runs";

/** The axis to facet by besides depth (and `not`): the first with at most 6 values. */
export function facetAxis(axes: string[], runs: RunRow[], not: string[]): string | null {
  for (const a of axes) {
    if (not.includes(a)) continue;
    if (new Set(runs.map((r) => JSON.stringify(r.point[a]))).size <= 6) return a;
  }
  return null;
}

/** Top component norms vs steps of one representative run per depth, one panel per depth. */
export function componentNormsFigure(reps: RunRow[], norms: NormRow[], depths: number[]): Figure {
  const depthOf = new Map(reps.map((r) => [r.run_id, r.spec.depth]));
  const rows = norms
    .filter((n) => (n.norm ?? 0) > 0)
    .map((n) => ({ depth: depthOf.get(n.run_id), run_id: n.run_id, step: n.step, component: n.k + 1, norm: n.norm }));
  return {
    id: "component-norms",
    title: "Component norms vs steps",
    caption: `Top ${Math.max(0, ...rows.map((r) => r.component))} component norms of one run per depth (${reps.map((r) => label(r.point)).join("; ")}). Incremental learning shows as components switching on one after another.`,
    rows,
    spec: {
      ...base,
      data: { values: rows },
      facet: { column: { field: "depth", type: "ordinal", title: "depth L", sort: depths } },
      spec: {
        width: 220,
        height: 180,
        mark: { type: "line", strokeWidth: 1.5 },
        encoding: {
          x: { field: "step", type: "quantitative", title: "step" },
          y: logY("norm", "component norm"),
          color: { field: "component", type: "ordinal", title: "k", scale: { scheme: "viridis" } },
        },
      },
    } as TopLevelSpec,
  };
}

/** Reconstruction error vs steps, median over seeds per grid point, coloured by depth. */
export function errorVsStepsFigure(runs: RunRow[], metrics: MetricRow[], axes: string[], depths: number[]): Figure {
  const facet = facetAxis(axes, runs, ["depth"]);
  const byRun = new Map(runs.map((r) => [r.run_id, r]));
  const series = new Map<string, Map<number, number[]>>();
  for (const m of metrics) {
    const r = byRun.get(m.run_id);
    if (!r || m.recon_error === null || !(m.recon_error > 0)) continue;
    const key = groupKey(r, axes);
    const steps = series.get(key) ?? new Map<number, number[]>();
    steps.set(m.step, [...(steps.get(m.step) ?? []), m.recon_error]);
    series.set(key, steps);
  }
  const rows: Record<string, unknown>[] = [];
  for (const [key, steps] of series) {
    const values = JSON.parse(key) as unknown[];
    const point = Object.fromEntries(axes.map((a, i) => [a, values[i]]));
    const sample = runs.find((r) => groupKey(r, axes) === key)!;
    const all = [...steps.keys()].sort((a, b) => a - b);
    const stride = Math.max(1, Math.ceil(all.length / 300));
    all.forEach((step, i) => {
      if (i % stride !== 0 && i !== all.length - 1) return;
      const xs = steps.get(step)!.sort((a, b) => a - b);
      rows.push({ ...point, depth: sample.spec.depth, group: label(point), step, recon_error: xs[Math.floor((xs.length - 1) / 2)] });
    });
  }
  const layer = {
    mark: { type: "line", strokeWidth: 1.5 },
    encoding: {
      x: { field: "step", type: "quantitative", title: "step" },
      y: logY("recon_error", "‖W−W*‖ / ‖W*‖"),
      color: depthColor(depths),
      detail: { field: "group", type: "nominal" },
    },
  };
  return {
    id: "error-vs-steps",
    title: "Reconstruction error vs steps",
    caption: `Normalised reconstruction error over the full tensor, median over seeds for every grid point${facet ? `, one panel per ${facet}` : ""}.`,
    rows,
    spec: (facet
      ? { ...base, data: { values: rows }, facet: { column: { field: facet, type: "ordinal" } }, spec: { width: 220, height: 180, ...layer } }
      : { ...base, data: { values: rows }, ...layer }) as TopLevelSpec,
  };
}

/** Final error vs number of observations per depth: mean ± std over seeds. */
export function errorVsObservationsFigure(summary: GroupSummary[], runs: RunRow[], axes: string[], depths: number[]): Figure {
  const facet = facetAxis(axes, runs, ["depth", "observations"]);
  // medians and intervals as the claims compute them; a diverged run (+∞) caps the bar at 1e3
  const cap = (x: number) => Math.min(x, 1e3);
  const rows = summary
    .filter((g) => g.reconMedian && Number.isFinite(g.reconMedian.value))
    .map((g) => ({
      ...g.point,
      depth: g.point.depth ?? runs[0].spec.depth,
      observations: g.point.observations,
      median: g.reconMedian!.value,
      lo: g.reconMedian!.lo,
      hi: cap(g.reconMedian!.hi),
      seeds: g.reconMedian!.n,
    }));
  const layers = {
    layer: [
      { mark: { type: "rule", strokeWidth: 1.5 }, encoding: { y: { field: "lo", type: "quantitative", scale: { type: "log" } }, y2: { field: "hi" } } },
      { mark: { type: "line", point: true } },
    ],
    encoding: {
      x: { field: "observations", type: "quantitative", title: "observed entries |Ω|", scale: { zero: false } },
      y: logY("median", "final recon error (median, 95 % CI)"),
      color: depthColor(depths),
    },
  };
  return {
    id: "error-vs-observations",
    title: "Final error vs number of observations",
    caption:
      "Final normalised reconstruction error, median over seeds with its 95 % bootstrap interval (the statistic of the recovery-threshold claim; a mean would be dominated by the odd run that blows up).",
    rows,
    spec: (facet
      ? { ...base, data: { values: rows }, facet: { column: { field: facet, type: "ordinal" } }, spec: { width: 220, height: 180, ...layers } }
      : { ...base, data: { values: rows }, ...layers }) as TopLevelSpec,
  };
}

/** Effective ranks vs depth: mean unfolding effective rank and CP effective rank, mean ± std. */
export function eranksVsDepthFigure(summary: GroupSummary[], runs: RunRow[], axes: string[], depths: number[]): Figure {
  const facet = facetAxis(axes, runs, ["depth"]);
  const rows = summary.flatMap((g) =>
    (
      [
        ["unfolding (mean over modes)", g.unfoldingErank],
        ["CP (component norms)", g.cpErank],
      ] as const
    )
      .filter(([, s]) => s)
      .map(([kind, s]) => ({ ...g.point, kind, mean: s!.mean, lo: Math.max(s!.mean - s!.std, s!.mean / 10), hi: s!.mean + s!.std })),
  );
  const layers = {
    layer: [
      { mark: { type: "rule", strokeWidth: 1.5 }, encoding: { y: { field: "lo", type: "quantitative", scale: { type: "log" } }, y2: { field: "hi" } } },
      { mark: { type: "line", point: true } },
    ],
    encoding: {
      x: { field: "depth", type: "ordinal", title: "depth L", sort: depths, axis: { labelAngle: 0 } },
      y: { field: "mean", type: "quantitative", title: "effective rank (mean ± std)", scale: { type: "log" } },
      strokeDash: { field: "kind", type: "nominal", title: "effective rank of", legend: { labelLimit: 300 } },
      color: { value: "#555" },
      detail: facet ? undefined : { field: "group", type: "nominal" },
    },
  };
  const data = rows.map((r) => ({ ...r, group: label(r as Record<string, unknown>, ["depth", "kind", "mean", "lo", "hi"]) }));
  return {
    id: "eranks-vs-depth",
    title: "Effective ranks vs depth",
    caption: "Effective rank (Roy & Vetterli) of the final tensor's mode unfoldings and of its component norms, mean ± std over seeds. Lower is closer to low rank.",
    rows: data,
    spec: (facet
      ? { ...base, data: { values: data }, facet: { column: { field: facet, type: "ordinal" } }, spec: { width: 200, height: 180, ...layers } }
      : { ...base, data: { values: data }, ...layers }) as TopLevelSpec,
  };
}

/**
 * The measured law itself: rate/γ against ‖W_r‖ (log–log) for the top component of one run per
 * depth and grid point, with each run's fitted line c·σ^a over its window.
 */
export function growthLawFigure(groups: GrowthGroup[], depths: number[]): Figure {
  const rows = groups.flatMap((g) => {
    const run = g.runs[0];
    const fit = run.growth.find((f) => f.component === 0)!;
    const base = { depth: g.depth, slice: g.sliceLabel || "all", run_id: run.run_id };
    const measured = fit.log_norm.map((x, i) => ({ ...base, series: "measured", norm: Math.exp(x), rate_over_gamma: Math.exp(fit.log_rate[i]) }));
    const line = [fit.norm_lo, fit.norm_hi].map((n) => ({ ...base, series: "fit", norm: n, rate_over_gamma: fit.prefactor * n ** fit.exponent }));
    return [...measured, ...line];
  });
  const slices = new Set(rows.map((r) => r.slice));
  const layer = {
    layer: [
      { transform: [{ filter: "datum.series === 'measured'" }], mark: { type: "point", size: 18, filled: true } },
      { transform: [{ filter: "datum.series === 'fit'" }], mark: { type: "line", strokeWidth: 1.5 } },
    ],
    encoding: {
      x: { field: "norm", type: "quantitative", title: "‖W_r‖", scale: { type: "log" } },
      y: { field: "rate_over_gamma", type: "quantitative", title: "(d‖W_r‖/dt) / γ_r", scale: { type: "log" } },
      color: depthColor(depths),
      detail: { field: "run_id", type: "nominal" },
    },
  };
  return {
    id: "growth-law",
    title: "Growth law: d‖W_r‖/dt / γ_r against ‖W_r‖",
    caption:
      "Plain-GD growth trace of the largest component (identity fixed for the run) of one run per depth: centred-difference rate over γ_r inside the spec's norm window, and the run's least-squares line log(rate/γ) = log c + a·log‖W_r‖. A steeper, higher line is a stronger implicit regularization.",
    rows,
    spec: (slices.size > 1
      ? { ...base, data: { values: rows }, facet: { column: { field: "slice", type: "nominal", title: "" } }, spec: { width: 220, height: 200, ...layer } }
      : { ...base, data: { values: rows }, ...layer }) as TopLevelSpec,
  };
}

/** Prefactor c per depth (geometric mean over seeds, 95 % bootstrap interval) against NL. */
export function growthPrefactorFigure(groups: GrowthGroup[]): Figure {
  const rows = groups.flatMap((g) => [
    { depth: g.depth, slice: g.sliceLabel || "all", series: "measured c", value: g.prefactor.value, lo: g.prefactor.lo, hi: g.prefactor.hi, runs: g.runs.length },
    { depth: g.depth, slice: g.sliceLabel || "all", series: "NL (balanced, orthogonal)", value: g.order * g.depth, lo: null, hi: null, runs: null },
  ]);
  const x = { field: "depth", type: "quantitative", title: "depth L", scale: { type: "log" }, axis: { values: [...new Set(groups.map((g) => g.depth))] } };
  return {
    id: "growth-prefactor",
    title: "Growth law: prefactor c against depth",
    caption:
      "Prefactor c of d‖W_r‖/dt = c·γ_r·‖W_r‖^a per depth (log–log: a straight line is a polynomial in L; its slope is the degree), geometric mean over seeds with a 95 % bootstrap interval (vertical bars), and, dashed grey, the linear NL that the balanced, orthogonal-column derivation gives.",
    rows,
    spec: {
      ...base,
      data: { values: rows },
      layer: [
        {
          transform: [{ filter: "datum.lo !== null" }],
          mark: { type: "line", point: true },
          encoding: { x, y: logY("value", "prefactor c"), color: { field: "slice", type: "nominal", title: "measured c" } },
        },
        {
          transform: [{ filter: "datum.lo === null" }],
          mark: { type: "line", strokeDash: [4, 3], color: "#999" },
          encoding: { x, y: { field: "value", type: "quantitative", scale: { type: "log" } }, detail: { field: "slice", type: "nominal" } },
        },
        {
          transform: [{ filter: "datum.lo !== null" }],
          mark: { type: "rule" },
          encoding: { x, y: { field: "lo", type: "quantitative", scale: { type: "log" } }, y2: { field: "hi" }, color: { field: "slice", type: "nominal" } },
        },
      ],
    } as TopLevelSpec,
  };
}

/** Mean log10 final error over two grid axes. */
export function heatmapFigure(summary: GroupSummary[], x: string, y: string): Figure {
  const cells = new Map<string, number[]>();
  for (const g of summary) {
    if (!g.recon || !(g.recon.mean > 0)) continue;
    const key = JSON.stringify([g.point[x], g.point[y]]);
    cells.set(key, [...(cells.get(key) ?? []), Math.log10(g.recon.mean)]);
  }
  const rows = [...cells.entries()].map(([key, vs]) => {
    const [vx, vy] = JSON.parse(key);
    return { [x]: vx, [y]: vy, log10_recon: vs.reduce((s, v) => s + v, 0) / vs.length };
  });
  return {
    id: `heatmap-${x}-${y}`,
    title: `Final error over ${x} × ${y}`,
    caption: `log10 of the final reconstruction error, mean over seeds${summary.length > rows.length ? " and the other axes" : ""}.`,
    rows,
    spec: {
      ...base,
      data: { values: rows },
      encoding: { x: { field: x, type: "ordinal" }, y: { field: y, type: "ordinal" } },
      layer: [
        { mark: "rect", encoding: { color: { field: "log10_recon", type: "quantitative", title: "log10 error", scale: { scheme: "viridis", reverse: true } } } },
        { mark: { type: "text", fontSize: 10 }, encoding: { text: { field: "log10_recon", type: "quantitative", format: ".1f" }, color: { value: "white" } } },
      ],
    } as TopLevelSpec,
  };
}

/** Parallel coordinates: each run a line through its (min–max normalised) parameters and final error. */
export function parallelCoordinatesFigure(runs: RunRow[], axes: string[], depths: number[]): Figure {
  const columns = [...axes, "seed", "log10 recon"];
  const value = (r: RunRow, c: string) =>
    c === "log10 recon" ? (r.recon_error && r.recon_error > 0 ? Math.log10(r.recon_error) : null) : Number(r.point[c]);
  const ranges = columns.map((c) => {
    const vs = runs.map((r) => value(r, c)).filter((v): v is number => v !== null && Number.isFinite(v));
    return [Math.min(...vs), Math.max(...vs)];
  });
  const rows = runs.flatMap((r) =>
    columns.flatMap((c, i) => {
      const v = value(r, c);
      if (v === null || !Number.isFinite(v)) return [];
      const [lo, hi] = ranges[i];
      return [{ run_id: r.run_id, depth: r.spec.depth, axis: c, value: v, position: hi > lo ? (v - lo) / (hi - lo) : 0.5 }];
    }),
  );
  return {
    id: "parallel-coordinates",
    title: "Sweep overview: parameters → final error",
    caption: `Every run as a line through its parameters and its final log10 error, each axis scaled to its range (${columns
      .map((c, i) => `${c} ${ranges[i][0].toPrecision(3)}…${ranges[i][1].toPrecision(3)}`)
      .join(", ")}).`,
    rows,
    spec: {
      ...base,
      width: 120 * columns.length,
      data: { values: rows },
      mark: { type: "line", opacity: 0.5 },
      encoding: {
        x: { field: "axis", type: "nominal", sort: columns, title: null, axis: { labelAngle: 0 } },
        y: { field: "position", type: "quantitative", axis: null },
        color: depthColor(depths),
        detail: { field: "run_id", type: "nominal" },
      },
    } as TopLevelSpec,
  };
}

/** Distribution of run wall times. */
export function runtimeFigure(runs: RunRow[]): Figure {
  const rows = runs.filter((r) => r.wall_ms !== null && r.wall_ms > 0).map((r) => ({ run_id: r.run_id, status: r.status, wall_s: (r.wall_ms as number) / 1000 }));
  return {
    id: "run-times",
    title: "Run-time distribution",
    caption: "Wall time of every run (inside its worker), by status.",
    rows,
    spec: {
      ...base,
      data: { values: rows },
      mark: "bar",
      encoding: {
        x: { field: "wall_s", type: "quantitative", bin: { maxbins: 30 }, title: "wall time (s)" },
        y: { aggregate: "count", type: "quantitative", title: "runs" },
        color: { field: "status", type: "nominal", scale: { domain: ["ok", "diverged", "failed"], range: ["#59a14f", "#edc948", "#e15759"] } },
      },
    } as TopLevelSpec,
  };
}
