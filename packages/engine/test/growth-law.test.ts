import { expect } from "chai";
import { fitGrowthLaw } from "../src/growth.ts";
import { contractRankOne } from "../src/metrics.ts";
import { denseLossAndGrad } from "../src/models/model.ts";
import { resolveRunSpec } from "../src/spec.ts";
import { setupRun } from "../src/train.ts";

/**
 * Razin et al. 2021: under gradient flow from a balanced init, a CP component's norm evolves as
 * d‖W_r‖/dt = N γ_r ‖W_r‖^{2−2/N}. Plain GD with a small step; the top component is tracked
 * from its init to ~half the target norm and log(rate/γ) is regressed on log‖W_r‖.
 */
async function measureGrowth(order: number) {
  const spec = resolveRunSpec({
    model: "cp", order, dim: order === 3 ? 8 : 5, components: 10, target_rank: 1, target_norm: 10,
    observations: order === 3 ? 300 : 400, init_std: order === 3 ? 0.05 : 0.1, optimizer: "gd", lr: 0.5, seed: 1, engine: "js",
  });
  const { model, problem } = await setupRun(spec);
  const R = spec.components;
  const factors = model.params.map((p) => p.data);
  // Balance the init: every column of a component gets the component's geometric-mean norm.
  for (let r = 0; r < R; r++) {
    const norms = factors.map((a, n) => Math.hypot(...Array.from({ length: spec.dim[n] }, (_, i) => a[i * R + r])));
    const mean = Math.exp(norms.reduce((s, x) => s + Math.log(x), 0) / order);
    factors.forEach((a, n) => {
      for (let i = 0; i < spec.dim[n]; i++) a[i * R + r] *= mean / norms[n];
    });
  }
  const grads = factors.map((a) => new Float64Array(a.length));
  const samples: { norm: number; gamma: number; rate: number }[] = [];
  for (let t = 0; t < 20000; t++) {
    const norms = model.componentNorms();
    const top = norms.indexOf(Math.max(...norms));
    if (norms[top] > spec.target_norm / 2) break;
    const w = model.fullTensor();
    const g = new Float64Array(w.length);
    denseLossAndGrad(problem, w, g);
    const gamma = -contractRankOne(g, spec.dim, model.component(top));
    model.lossAndGrad(grads);
    factors.forEach((a, i) => {
      for (let j = 0; j < a.length; j++) a[j] -= spec.lr * grads[i][j];
    });
    samples.push({ norm: norms[top], gamma, rate: (model.componentNorms()[top] - norms[top]) / spec.lr });
  }
  return fitGrowthLaw(samples);
}

describe("growth law (paper F-5)", () => {
  for (const order of [3, 4]) {
    it(`shallow CP order ${order} - fitted exponent within 0.05 of 2 − 2/N, prefactor ≈ N`, async () => {
      const fit = await measureGrowth(order);
      expect(fit.points).to.be.greaterThan(100);
      expect(fit.normRange[1] / fit.normRange[0]).to.be.greaterThan(100);
      expect(fit.exponent).to.be.closeTo(2 - 2 / order, 0.05);
      expect(fit.prefactor).to.be.closeTo(order, 0.2 * order);
    });
  }

  it("fitGrowthLaw - recovers a known power law exactly", () => {
    const samples = [0.01, 0.1, 1, 10].map((norm) => ({ norm, gamma: 0.5, rate: 3 * 0.5 * norm ** 1.6 }));
    const fit = fitGrowthLaw(samples);
    expect(fit.exponent).to.be.closeTo(1.6, 1e-12);
    expect(fit.prefactor).to.be.closeTo(3, 1e-12);
  });
});
