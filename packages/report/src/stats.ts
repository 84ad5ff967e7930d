// Estimates with seeded bootstrap intervals, medians and slopes.
/**
 * Estimates with 95 % bootstrap confidence intervals. The resampling is seeded: the same store
 * gives the same intervals, so a report (and its verdicts) is reproducible.
 */

/** A statistic, its 95 % percentile-bootstrap interval and the sample size it came from. */
export type Estimate = { value: number; lo: number; hi: number; n: number };

/** Resamples per estimate: enough for stable 2.5 % / 97.5 % percentiles at these sample sizes. */
export const BOOTSTRAP_RESAMPLES = 2000;

/** mulberry32: a small, fast, seeded generator (uniform in [0, 1)). */
export function seededUniform(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function median(xs: number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export const mean = (xs: number[]) => (xs.length ? xs.reduce((s, x) => s + x, 0) / xs.length : Number.NaN);

function percentile(sorted: number[], p: number): number {
  const i = Math.min(sorted.length - 1, Math.max(0, Math.round(p * (sorted.length - 1))));
  return sorted[i];
}

/**
 * `statistic` of several groups (e.g. the runs of each depth), with a percentile-bootstrap
 * interval: each resample draws every group's members with replacement, independently.
 * Infinite values are allowed (e.g. "no |Ω| recovers"): they sort last.
 */
export function bootstrap<T>(groups: T[][], statistic: (groups: T[][]) => number, seed = 1): Estimate {
  const value = statistic(groups);
  const draw = seededUniform(seed);
  const values: number[] = [];
  for (let b = 0; b < BOOTSTRAP_RESAMPLES; b++) {
    const resampled = groups.map((g) => g.map(() => g[Math.floor(draw() * g.length)]));
    const v = statistic(resampled);
    if (!Number.isNaN(v)) values.push(v);
  }
  values.sort((a, b) => a - b);
  const n = groups.reduce((s, g) => s + g.length, 0);
  if (values.length === 0) return { value, lo: Number.NaN, hi: Number.NaN, n };
  return { value, lo: percentile(values, 0.025), hi: percentile(values, 0.975), n };
}

/** A one-group estimate: the statistic of `xs` with its bootstrap interval. */
export const estimate = (xs: number[], statistic: (xs: number[]) => number, seed = 1): Estimate =>
  bootstrap([xs], ([g]) => statistic(g), seed);

/** Least-squares slope of y on x (NaN with fewer than two distinct x). */
export function slope(points: [number, number][]): number {
  const n = points.length;
  if (n < 2) return Number.NaN;
  const mx = mean(points.map((p) => p[0]));
  const my = mean(points.map((p) => p[1]));
  let sxy = 0;
  let sxx = 0;
  for (const [x, y] of points) {
    sxy += (x - mx) * (y - my);
    sxx += (x - mx) ** 2;
  }
  return sxx > 0 ? sxy / sxx : Number.NaN;
}
