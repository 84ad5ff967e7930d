// Growth traces of every component and the per-component growth-law fit (paper F-5).
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

/**
 * The growth law of one tracked component of a run. `component` is its rank position by final
 * norm (0 = largest); its identity is the model's component index, fixed for the whole run, so
 * the trajectory never switches to another component when two cross.
 */
export type ComponentGrowth = {
  component: number;
  exponent: number;
  prefactor: number;
  /** Trace samples inside the window that entered the fit. */
  points: number;
  /** The norms the fitted samples span. */
  norm_lo: number;
  norm_hi: number;
  final_norm: number;
  /** Up to SHOWN_POINTS fitted samples, evenly spread over log‖W_r‖, for plotting. */
  log_norm: number[];
  log_rate: number[];
};

const SHOWN_POINTS = 24;
/** Fewer fitted samples than this give no fit (a slope from 2–3 points is noise). */
export const MIN_FIT_POINTS = 8;

/**
 * Norms and γ of every component, sampled every `trace_every` steps of plain GD: a cheap trace
 * (no SVDs, no effective ranks) dense enough for a derivative. Memory: samples × R × 2 doubles,
 * bounded by the spec check.
 */
export class GrowthTrace {
  readonly steps: number[] = [];
  private readonly norms: Float64Array[] = [];
  private readonly gammas: Float64Array[] = [];

  record(step: number, norms: Float64Array, gammas: Float64Array): void {
    this.steps.push(step);
    this.norms.push(Float64Array.from(norms));
    this.gammas.push(Float64Array.from(gammas));
  }

  /**
   * One fit per tracked component: the `k` largest by final norm. The rate is a centred difference
   * over the neighbouring samples, (σ_{i+1} − σ_{i−1}) / (t_{i+1} − t_{i−1}) with t = step · lr
   * (plain GD is an Euler discretisation of gradient flow), paired with γ at sample i. Only
   * samples with window[0] ≤ σ_i ≤ window[1] enter: above the init's noise and below saturation.
   */
  fit(k: number, lr: number, window: [number, number]): ComponentGrowth[] {
    const n = this.steps.length;
    if (n < 3) return [];
    const final = this.norms[n - 1];
    const order = Array.from(final.keys()).sort((a, b) => final[b] - final[a] || a - b);
    return order.slice(0, k).flatMap((r, component) => {
      const samples: GrowthSample[] = [];
      for (let i = 1; i < n - 1; i++) {
        const norm = this.norms[i][r];
        if (!(norm >= window[0] && norm <= window[1])) continue;
        const dt = (this.steps[i + 1] - this.steps[i - 1]) * lr;
        samples.push({ norm, gamma: this.gammas[i][r], rate: (this.norms[i + 1][r] - this.norms[i - 1][r]) / dt });
      }
      const fit = fitGrowthLaw(samples);
      if (fit.points < MIN_FIT_POINTS || !Number.isFinite(fit.exponent)) return [];
      const used = samples.filter((s) => s.gamma > 0 && s.rate > 0 && s.norm > 0);
      const stride = Math.max(1, Math.ceil(used.length / SHOWN_POINTS));
      const shown = used.filter((_, i) => i % stride === 0);
      return [
        {
          component,
          exponent: fit.exponent,
          prefactor: fit.prefactor,
          points: fit.points,
          norm_lo: fit.normRange[0],
          norm_hi: fit.normRange[1],
          final_norm: final[r],
          log_norm: shown.map((s) => Math.log(s.norm)),
          log_rate: shown.map((s) => Math.log(s.rate / s.gamma)),
        },
      ];
    });
  }
}
