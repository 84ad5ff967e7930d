import { expect } from "chai";
import { SpecError } from "../src/errors.ts";
import { singularValuesFromGram } from "../src/linalg.ts";
import type { MetricPoint } from "../src/metrics.ts";
import { makeProblem } from "../src/problem.ts";
import { Rng, sampleWithoutReplacement } from "../src/rng.ts";
import { resolveRunSpec } from "../src/spec.ts";
import { train } from "../src/train.ts";
import { expectRejects } from "./support/helpers.ts";
import { itWithBothKernels } from "./support/kernel-sets.ts";

const small = { model: "cp", order: 3, dim: 6, components: 12, target_rank: 2, observations: 100, init_std: 0.05, lr: 0.01, steps: 300, eval_every: 50 };

describe("trainer", () => {
  it("determinism - the same spec and seed give bit-identical metrics", async () => {
    const runs: MetricPoint[][] = [[], []];
    for (const trace of runs) await train(small, { onMetrics: (p) => trace.push(p) });
    const strip = (t: MetricPoint[]) => t.map(({ wall_ms: _, ...rest }) => rest);
    expect(runs[0].length).to.equal(7);
    expect(strip(runs[0])).to.deep.equal(strip(runs[1]));
  });

  itWithBothKernels("determinism - native and TypeScript kernels give bit-identical runs", async () => {
    const a = await train({ ...small, depth: 2, engine: "native" });
    const b = await train({ ...small, depth: 2, engine: "js" });
    expect(a.engine).to.equal("native");
    expect(b.engine).to.equal("js");
    expect(a.recon_error).to.equal(b.recon_error);
    expect(a.component_norms).to.deep.equal(b.component_norms);
  });

  it("data streams - changing depth or init keeps target and observations identical", () => {
    const a = makeProblem(resolveRunSpec({ ...small, depth: 1 }));
    const b = makeProblem(resolveRunSpec({ ...small, depth: 3, init_std: 0.3, variant: "component" }));
    expect(Array.from(a.observed)).to.deep.equal(Array.from(b.observed));
    expect(Array.from(a.target)).to.deep.equal(Array.from(b.target));
    const c = makeProblem(resolveRunSpec({ ...small, seed: 1 }));
    expect(Array.from(c.observed)).to.not.deep.equal(Array.from(a.observed));
  });

  it("data - the ground truth has the asked Frobenius norm and CP rank (unfolding rank)", async () => {
    const r = await train({ ...small, target_norm: 3, steps: 1 });
    const spec = resolveRunSpec({ ...small, target_norm: 3 });
    const p = makeProblem(spec);
    expect(p.targetNorm).to.be.closeTo(3, 1e-12);
    expect(r.spec.target_norm).to.equal(3);
    // CP rank 2 shows as rank 2 of every mode unfolding (d × d² matrices): two singular values above noise
    const d = spec.dim[0];
    for (let mode = 0; mode < 3; mode++) {
      const unfolding = new Float64Array(d * d * d);
      for (let i = 0; i < d * d * d; i++) {
        const idx = [Math.floor(i / (d * d)), Math.floor(i / d) % d, i % d];
        const rest = idx.filter((_, n) => n !== mode);
        unfolding[idx[mode] * d * d + rest[0] * d + rest[1]] = p.target[i];
      }
      const gram = new Float64Array(d * d);
      for (let a = 0; a < d; a++) for (let b = 0; b < d; b++) for (let j = 0; j < d * d; j++) gram[a * d + b] += unfolding[a * d * d + j] * unfolding[b * d * d + j];
      const sv = [...singularValuesFromGram(gram, d)].sort((x, y) => y - x);
      expect(sv[1] / sv[0], `mode ${mode}`).to.be.above(1e-3);
      expect(sv[2] / sv[0], `mode ${mode}`).to.be.below(1e-6); // noise of eigenvalues of a Gram matrix: √ε
    }
  });

  it("sampling - without replacement: distinct, in range, a permutation when count = n", () => {
    const rng = new Rng(5, "observations");
    const s = sampleWithoutReplacement(rng, 1000, 600);
    expect(new Set(s).size).to.equal(600);
    expect(Math.min(...s)).to.be.at.least(0);
    expect(Math.max(...s)).to.be.below(1000);
    const all = sampleWithoutReplacement(new Rng(6, "observations"), 50, 50);
    expect([...all].sort((x, y) => x - y)).to.deep.equal(Array.from({ length: 50 }, (_, i) => i));
    // roughly uniform: each half of the range gets its share of 20 000 draws of 1 from 1e9
    const big = sampleWithoutReplacement(new Rng(7, "observations"), 1e9, 20000);
    const low = big.filter((x) => x < 5e8).length;
    expect(low).to.be.within(9600, 10400);
    expect(() => sampleWithoutReplacement(rng, 3, 4)).to.throw(RangeError);
  });

  it("completion - held-out entries are exactly the unobserved ones", () => {
    const p = makeProblem(resolveRunSpec(small));
    expect(p.observedMask.reduce((s, x) => s + x, 0)).to.equal(100);
    p.observed.forEach((flat, k) => expect(p.values[k]).to.equal(p.target[flat]));
  });

  it("divergence - a blown-up run ends with status diverged, not an exception", async () => {
    const r = await train({ ...small, optimizer: "gd", lr: 1e4, init_std: 1 });
    expect(r.status).to.equal("diverged");
    expect(r.stop_reason).to.equal("diverged");
    expect(r.steps).to.be.below(300);
  });

  it("stopping - train MSE below stop_tol for stop_patience evaluations ends the run as converged", async () => {
    const r = await train({ model: "cp", order: 3, dim: 5, components: 25, target_rank: 1, observations: 100, init_std: 0.1, optimizer: "gd", lr: 2, steps: 20000, eval_every: 10, stop_tol: 1e-6, stop_patience: 3 });
    expect(r.stop_reason).to.equal("converged");
    expect(r.status).to.equal("ok");
    expect(r.steps).to.be.below(20000);
    expect(r.train_loss).to.be.below(1e-6);
    expect(r.threshold_steps["0.1"]).to.be.a("number");
  });

  it("cancellation - aborting the signal ends the run as cancelled", async () => {
    const controller = new AbortController();
    const seen: number[] = [];
    const r = await train(
      { ...small, steps: 100000, eval_every: 10 },
      {
        signal: controller.signal,
        onMetrics: (p) => {
          seen.push(p.step);
          if (p.step === 50) controller.abort();
        },
      },
    );
    expect(r.status).to.equal("cancelled");
    expect(r.steps).to.equal(50);
    expect(seen).to.deep.equal([0, 10, 20, 30, 40, 50]); // no evaluation after the abort
  });

  it("metrics - a recovered low-rank tensor has effective ranks near the target rank", async () => {
    const r = await train({ model: "cp", order: 3, dim: 5, components: 25, target_rank: 1, observations: 100, init_std: 0.01, optimizer: "gd", lr: 2, steps: 3000, eval_every: 500 });
    expect(r.recon_error).to.be.below(0.01);
    expect(r.rank_estimate).to.equal(1);
    for (const e of r.unfolding_eranks) expect(e).to.be.closeTo(1, 0.05);
    expect(r.component_norms[0]).to.be.closeTo(1, 0.05);
    expect(r.gamma).to.have.length(10);
  });

  it("metrics - the matrix model reports singular values and a recovered rank", async () => {
    const r = await train({ model: "matrix", dim: 20, depth: 2, target_rank: 2, observations: 300, init_std: 1e-3, lr: 0.01, steps: 3000, eval_every: 1000 });
    expect(r.singular_values).to.have.length(10);
    expect(r.singular_values[0]).to.be.greaterThan(r.singular_values[1]);
    expect(r.recon_error).to.be.below(0.05);
    expect(r.rank_estimate).to.equal(2);
  });

  it("init - end_to_end init makes the end-to-end factor std near init_std at every depth", async () => {
    for (const depth of [1, 2, 3]) {
      const r = await train({ model: "cp", order: 3, dim: 20, components: 400, depth, init_std: 1e-2, init_mode: "end_to_end", steps: 1 });
      // component norm = product of 3 column norms, each ≈ std·√d
      const expected = (1e-2 * Math.sqrt(20)) ** 3;
      expect(r.spec.init_mode).to.equal("end_to_end");
      expect(r.component_norms[9]).to.be.within(expected * 0.5, expected * 4);
    }
  });
});

describe("run spec validation", () => {
  const bad = async (input: Record<string, unknown>, ...texts: string[]) => {
    let err: unknown;
    try {
      resolveRunSpec(input);
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(SpecError);
    for (const t of texts) expect((err as Error).message).to.contain(t);
    return err as SpecError;
  };

  it("spec - unknown key with a did-you-mean hint", () => bad({ deptth: 2 }, "deptth: unknown key (did you mean 'depth'?)"));
  it("spec - enum lists the allowed values", () => bad({ model: "cpd" }, "model: must be one of cp, tucker, matrix, nuclear, got \"cpd\""));
  it("spec - wrong type", () => bad({ depth: "2" }, "depth: must be an integer from 1 to 32, got \"2\""));
  it("spec - dim list length must match the order", () => bad({ order: 3, dim: [4, 5] }, "dim: has 2 entries but order is 3"));
  it("spec - a bad list entry names its index", () => bad({ order: 3, dim: [4, 0, 5] }, "dim[1]: must be an integer from 1 to 16777216, got 0"));
  it("spec - rank larger than possible", () => bad({ model: "matrix", dim: 5, target_rank: 6 }, "target_rank: must be <= 5"));
  it("spec - more observations than entries", () => bad({ order: 2, dim: 3, observations: 10 }, "observations: must be <= 9"));
  it("spec - matrix is order 2", () => bad({ model: "matrix", order: 3 }, "order: must be 2 for model matrix"));
  it("spec - every issue is reported at once", async () => {
    const err = await bad({ depth: 0, lr: -1, optimizer: "sgd" }, "depth", "lr", "optimizer");
    expect(err.issues).to.have.length(3);
  });
  it("spec - train rejects an invalid spec before doing anything", () =>
    expectRejects(() => train({ model: "cp", steps: 0 }), SpecError, "steps: must be an integer from 1 to 100000000, got 0"));
  it("spec - defaults are filled in and per-mode lists expanded", () => {
    const s = resolveRunSpec({ order: 4, dim: 10 });
    expect(s.dim).to.deep.equal([10, 10, 10, 10]);
    expect(s.components).to.equal(1000);
    expect(s.width).to.deep.equal([10, 10, 10, 10]);
    expect(resolveRunSpec(s)).to.deep.equal(s);
    for (const input of [{ variant: "component", depth: 3 }, { model: "tucker", core_rank: [2, 3, 4] }, { model: "matrix", dim: [4, 6] }]) {
      const resolved = resolveRunSpec(input);
      expect(resolveRunSpec(resolved), JSON.stringify(input)).to.deep.equal(resolved);
    }
  });
  it("spec - the component variant rejects a width (its chains are d×d)", () =>
    bad({ variant: "component", depth: 2, width: 5 }, "width: the component variant's chains are square"));
});
