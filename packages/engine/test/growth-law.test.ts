import { expect } from "chai";
import { fitGrowthLaw, GrowthTrace } from "../src/growth.ts";
import { resolveRunSpec } from "../src/spec.ts";
import { setupRun, train } from "../src/train.ts";

/**
 * Integrates dσ_r/dt = c · γ_r(t) · σ_r^a for three components (RK4, fine steps) with a γ that
 * changes over time, sampling every `every` steps into a GrowthTrace as plain GD would.
 */
function odeTrace(a: number, c: number, every: number) {
  const dt = 1e-3;
  const gamma = (t: number, r: number) => (1 + 0.5 * Math.sin(3 * t + r)) / (r + 1);
  const rate = (t: number, s: number, r: number) => c * gamma(t, r) * s ** a;
  const sigma = [1e-3, 5e-4, 2e-4];
  const trace = new GrowthTrace();
  for (let step = 0, t = 0; step <= 200_000 && sigma[0] < 5; step++, t += dt) {
    if (step % every === 0) trace.record(step, Float64Array.from(sigma), Float64Array.from(sigma, (_, r) => gamma(t, r)));
    sigma.forEach((s, r) => {
      const k1 = rate(t, s, r);
      const k2 = rate(t + dt / 2, s + (dt / 2) * k1, r);
      const k3 = rate(t + dt / 2, s + (dt / 2) * k2, r);
      const k4 = rate(t + dt, s + dt * k3, r);
      sigma[r] = s + (dt / 6) * (k1 + 2 * k2 + 2 * k3 + k4);
    });
  }
  return { trace, dt };
}

describe("growth law (paper F-5)", () => {
  it("estimator - recovers a known exponent and prefactor from the ODE dσ/dt = c·γ(t)·σ^a", () => {
    for (const [a, c] of [
      [4 / 3, 3],
      [1.7, 9],
    ]) {
      const { trace, dt } = odeTrace(a, c, 10);
      const fits = trace.fit(3, dt, [1e-2, 2]);
      // identity by final norm: the fastest-growing component is rank position 0
      expect(fits[0].component).to.equal(0);
      for (const f of fits) {
        expect(f.exponent, `component ${f.component}`).to.be.closeTo(a, 5e-3);
        expect(f.prefactor).to.be.closeTo(c, 1e-2 * c);
        expect(f.norm_lo).to.be.at.least(1e-2);
        expect(f.norm_hi).to.be.at.most(2);
      }
    }
  });

  it("estimator - the window keeps the saturated phase out: a trace that never enters it gives no fit", () => {
    const { trace, dt } = odeTrace(4 / 3, 3, 10);
    expect(trace.fit(3, dt, [50, 100])).to.deep.equal([]);
  });

  for (const order of [3, 4]) {
    it(`real run - shallow CP of order ${order}, balanced init: exponent 2 − 2/N and prefactor N (Razin et al. 2021)`, async () => {
      const r = await train({
        model: "cp", order, dim: order === 3 ? 8 : 5, components: 10, target_rank: 1, target_norm: 10, observations: order === 3 ? 300 : 400,
        init_std: order === 3 ? 0.1 : 0.3, init_mode: "balanced", optimizer: "gd", lr: 0.1, steps: 4000, eval_every: 1000, trace_every: 5, seed: 1, engine: "js",
      });
      const top = r.growth[0];
      expect(top.component).to.equal(0);
      expect(top.points).to.be.greaterThan(50);
      expect(top.norm_hi / top.norm_lo).to.be.greaterThan(10);
      expect(top.exponent).to.be.closeTo(2 - 2 / order, 0.02);
      expect(top.prefactor).to.be.closeTo(order, 0.05 * order);
    });
  }

  it("balanced init - layers balanced (W_{l+1}ᵀW_{l+1} = W_l W_lᵀ), modes balanced per component, end-to-end std as asked", async () => {
    const spec = resolveRunSpec({ model: "cp", order: 3, dim: 6, components: 40, depth: 3, init_std: 0.2, init_mode: "balanced", seed: 3, engine: "js" });
    const { model } = await setupRun(spec);
    const d = 6;
    const gramOf = (w: Float64Array, rows: number, cols: number, side: "left" | "right") => {
      const n = side === "left" ? cols : rows;
      const g = new Float64Array(n * n);
      for (let i = 0; i < n; i++)
        for (let j = 0; j < n; j++) {
          let s = 0;
          if (side === "left") for (let k = 0; k < rows; k++) s += w[k * cols + i] * w[k * cols + j];
          else for (let k = 0; k < cols; k++) s += w[i * cols + k] * w[j * cols + k];
          g[i * n + j] = s;
        }
      return g;
    };
    for (let n = 0; n < 3; n++) {
      const [w1, w2, w3] = model.params.slice(3 * n, 3 * n + 3).map((p) => p.data);
      const pairs = [
        [gramOf(w2, d, d, "left"), gramOf(w1, d, 40, "right")],
        [gramOf(w3, d, d, "left"), gramOf(w2, d, d, "right")],
      ];
      for (const [lhs, rhs] of pairs) lhs.forEach((x, i) => expect(x).to.be.closeTo(rhs[i], 1e-12));
    }
    const norms = model.componentNorms();
    const factors = (model as unknown as { endToEndFactors(): Float64Array[] }).endToEndFactors();
    for (let r = 0; r < 40; r++) {
      const columns = factors.map((a) => Math.hypot(...Array.from({ length: d }, (_, i) => a[i * 40 + r])));
      for (const c of columns) expect(c).to.be.closeTo(norms[r] ** (1 / 3), 1e-12);
    }
    const all = factors.flatMap((a) => Array.from(a));
    const rms = Math.sqrt(all.reduce((s, x) => s + x * x, 0) / all.length);
    expect(rms).to.be.closeTo(0.2, 0.03);
  });

  it("spec - a trace needs plain GD, and an empty or inverted window is refused", () => {
    expect(() => resolveRunSpec({ trace_every: 5 })).to.throw(/trace_every: needs optimizer gd/);
    expect(() => resolveRunSpec({ optimizer: "gd", trace_every: 5, growth_window: [0.3, 0.01] })).to.throw(/growth_window: must be two numbers/);
    expect(() => resolveRunSpec({ growth_window: [0.01, 0.3] })).to.throw(/growth_window: applies only with trace_every/);
    expect(() => resolveRunSpec({ optimizer: "gd", trace_every: 1, steps: 1e8, dim: 10, components: 100 })).to.throw(/trace_every: keeps .* trace values/);
    // keys added after v1 stay out of a spec that does not use them: older run ids do not change
    expect(Object.keys(resolveRunSpec({}))).to.not.include.members(["trace_every", "growth_window"]);
  });

  it("fitGrowthLaw - recovers a known power law exactly", () => {
    const samples = [0.01, 0.1, 1, 10].map((norm) => ({ norm, gamma: 0.5, rate: 3 * 0.5 * norm ** 1.6 }));
    const fit = fitGrowthLaw(samples);
    expect(fit.exponent).to.be.closeTo(1.6, 1e-12);
    expect(fit.prefactor).to.be.closeTo(3, 1e-12);
  });
});

describe("nuclear-norm baseline (paper F-B)", () => {
  it("soft-impute - completes a low-rank matrix from enough entries; its singular values are the components", async () => {
    const r = await train({ model: "nuclear", dim: [20, 20], target_rank: 1, target_norm: 20, observations: 150, steps: 400, eval_every: 100, seed: 2 });
    expect(r.status).to.equal("ok");
    expect(r.recon_error).to.be.below(0.01);
    expect(r.singular_values[0]).to.be.closeTo(20, 0.2);
    expect(r.singular_values[1]).to.be.below(0.1);
  });

  it("spec - the baseline is for matrix completion without layers", () => {
    expect(() => resolveRunSpec({ model: "nuclear", depth: 2 })).to.throw(/depth: the nuclear-norm baseline has no layers/);
    expect(() => resolveRunSpec({ model: "nuclear", problem: "sensing", observations: 10 })).to.throw(/problem: the nuclear-norm baseline/);
    expect(() => resolveRunSpec({ model: "nuclear", order: 3 })).to.throw(/order: must be 2 for model nuclear/);
  });
});
