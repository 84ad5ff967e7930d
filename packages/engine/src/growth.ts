/** One observation of a component's growth: its norm, γ and d‖W_r‖/dt at that moment. */
export type GrowthSample = { norm: number; gamma: number; rate: number };

export type GrowthFit = {
  /** Fitted a in d‖W_r‖/dt = c · γ_r · ‖W_r‖^a (Razin et al.: a = 2 − 2/N, c = N). */
  exponent: number;
  prefactor: number;
  /** Samples used (those with γ > 0 and a positive rate). */
  points: number;
  normRange: [number, number];
};

/** Least-squares fit of log(rate/γ) = log c + a·log‖W_r‖ over the growing samples. */
export function fitGrowthLaw(samples: GrowthSample[]): GrowthFit {
  const pts = samples.filter((s) => s.gamma > 0 && s.rate > 0 && s.norm > 0).map((s) => [Math.log(s.norm), Math.log(s.rate / s.gamma)]);
  const n = pts.length;
  if (n < 2) return { exponent: Number.NaN, prefactor: Number.NaN, points: n, normRange: [Number.NaN, Number.NaN] };
  const mx = pts.reduce((s, p) => s + p[0], 0) / n;
  const my = pts.reduce((s, p) => s + p[1], 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (const [x, y] of pts) {
    sxy += (x - mx) * (y - my);
    sxx += (x - mx) ** 2;
  }
  const exponent = sxy / sxx;
  const xs = pts.map((p) => p[0]);
  return {
    exponent,
    prefactor: Math.exp(my - exponent * mx),
    points: n,
    normRange: [Math.exp(Math.min(...xs)), Math.exp(Math.max(...xs))],
  };
}
