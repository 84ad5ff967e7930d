import { expect } from "chai";
import { jsKernels } from "../src/kernels/js.ts";
import { planCpCompletion } from "../src/kernels/plan.ts";
import type { CpCompletionPlan } from "../src/kernels/types.ts";
import { symmetricEigen } from "../src/linalg.ts";
import { contractRankOne, contractRankOnes } from "../src/metrics.ts";
import { cpTensor, mttkrp } from "../src/models/cp.ts";
import { denseLossAndGrad, topIndices } from "../src/models/model.ts";
import { addBlockSquares, GradientStep, makeOptimizer } from "../src/optimizers.ts";
import { Rng } from "../src/rng.ts";
import type { RunSpecInput } from "../src/spec.ts";
import { kruskal, unfoldingGram } from "../src/tensor.ts";
import { buildModel } from "./support/helpers.ts";
import { itWithBothKernels } from "./support/kernel-sets.ts";

/** Every model × depth 1–3 × order 2–4 (matrix: order 2 only), small enough for finite differences. */
function configurations(): RunSpecInput[] {
  const out: RunSpecInput[] = [];
  for (const order of [2, 3, 4]) {
    const dim = order === 4 ? 3 : order === 3 ? 4 : 5;
    for (const depth of [1, 2, 3]) {
      const base = { order, dim, depth, init_std: 0.6, target_rank: 2, seed: 7, engine: "js" };
      out.push({ ...base, model: "cp", variant: "factor", components: 4 });
      if (depth > 1) out.push({ ...base, model: "cp", variant: "component", components: 4 });
      out.push({ ...base, model: "tucker", core_rank: 2 });
      if (order === 2) out.push({ ...base, model: "matrix", width: 4 });
    }
  }
  // widths and ranks past one 8-lane block with a remainder, so the kernels' vector loops and tails both run
  const wide = { order: 3, init_std: 0.4, target_rank: 2, seed: 11, engine: "js" };
  out.push({ ...wide, model: "cp", variant: "factor", dim: [5, 3, 4], depth: 1, components: 19 });
  out.push({ ...wide, model: "cp", variant: "factor", dim: [5, 3, 4], depth: 3, components: 21, width: [11, 9, 17] });
  out.push({ ...wide, model: "cp", variant: "component", dim: [3, 2, 3], depth: 2, components: 18 });
  out.push({ ...wide, model: "tucker", dim: [9, 10, 3], depth: 2, core_rank: [9, 3, 2], width: [17, 10, 3] });
  out.push({ ...wide, model: "matrix", order: 2, dim: [9, 13], depth: 3, width: 19 });
  // dense observations (≥ 4 per outer row: the grouped paths of the native CP kernel), orders 4 and 5
  // (groups of two and three modes), component chains with R and d off the lane width
  const dense = { model: "cp", variant: "factor", init_std: 0.4, target_rank: 2, seed: 5, engine: "js" } as const;
  out.push({ ...dense, order: 3, dim: [6, 5, 7], depth: 1, components: 21, observations: 150 });
  out.push({ ...dense, order: 4, dim: 4, depth: 2, components: 13, observations: 200 });
  out.push({ ...dense, order: 5, dim: 3, depth: 1, components: 11, observations: 200 });
  out.push({ ...dense, variant: "component", order: 3, dim: [5, 4, 6], depth: 3, components: 19, observations: 100 });
  out.push({ model: "cp", order: 3, dim: [3, 4, 2], depth: 1, components: 5, problem: "sensing", observations: 12, init_std: 0.6 });
  out.push({ model: "cp", order: 3, dim: [3, 4, 2], depth: 2, components: 5, problem: "sensing", observations: 12, init_std: 0.6 });
  out.push({ model: "matrix", dim: [4, 3], depth: 3, problem: "sensing", observations: 9, init_std: 0.6, width: 2 });
  out.push({ model: "tucker", order: 3, dim: 3, depth: 2, core_rank: [2, 3, 2], problem: "sensing", observations: 10, init_std: 0.6 });
  return out;
}

const label = (c: RunSpecInput) =>
  `${c.model}${c.variant ? `/${c.variant}` : ""} order ${c.order ?? 2} depth ${c.depth} ${c.problem ?? "completion"}`;

describe("engine gradients", () => {
  for (const config of configurations()) {
    it(`finite differences - ${label(config)}`, () => {
      const { model } = buildModel(config, jsKernels);
      const grads = model.params.map((p) => new Float64Array(p.data.length));
      model.lossAndGrad(grads);
      const rng = new Rng(3, "fd");
      let diff = 0;
      let norm = 0;
      model.params.forEach((p, b) => {
        const picks = Math.min(p.data.length, 12);
        for (let s = 0; s < picks; s++) {
          const j = picks === p.data.length ? s : rng.int(p.data.length);
          const keep = p.data[j];
          const h = 1e-5 * Math.max(1, Math.abs(keep));
          const scratch = model.params.map((q) => new Float64Array(q.data.length));
          p.data[j] = keep + h;
          const up = model.lossAndGrad(scratch);
          p.data[j] = keep - h;
          const down = model.lossAndGrad(scratch);
          p.data[j] = keep;
          const fd = (up - down) / (2 * h);
          diff += (fd - grads[b][j]) ** 2;
          norm += fd * fd;
        }
      });
      expect(norm).to.be.greaterThan(0);
      expect(Math.sqrt(diff / norm)).to.be.lessThan(1e-6);
    });
  }

  it("grouped CP completion kernel - equals the dense reference (loss and factor gradients)", () => {
    for (const order of [2, 3, 4, 5]) {
      const { spec, problem, model } = buildModel(
        { model: "cp", order, dim: order === 5 ? 3 : 4, components: 6, init_std: 0.5, engine: "js" },
        jsKernels,
      );
      const factors = model.params.map((p) => p.data);
      const grads = factors.map((f) => new Float64Array(f.length));
      const loss = model.lossAndGrad(grads);
      const w = kruskal(factors, spec.dim, spec.components);
      const dense = new Float64Array(w.length);
      const refLoss = denseLossAndGrad(problem, w, dense);
      const refGrads = factors.map((f) => new Float64Array(f.length));
      mttkrp(dense, spec.dim, factors, spec.components, refGrads);
      expect(loss).to.be.closeTo(refLoss, 1e-12 * refLoss);
      refGrads.forEach((g, n) => {
        g.forEach((x, j) => expect(grads[n][j]).to.be.closeTo(x, 1e-12 * (1 + Math.abs(x))));
      });
    }
  });

  itWithBothKernels("native kernels - bit-identical to the TypeScript kernels for every model", ({ native }) => {
    for (const config of configurations()) {
      const js = buildModel(config, jsKernels).model;
      const nat = buildModel(config, native).model;
      const gj = js.params.map((p) => new Float64Array(p.data.length));
      const gn = nat.params.map((p) => new Float64Array(p.data.length));
      expect(nat.lossAndGrad(gn), label(config)).to.equal(js.lossAndGrad(gj));
      gj.forEach((g, i) => expect(Buffer.from(gn[i].buffer).equals(Buffer.from(g.buffer)), label(config)).to.equal(true));
    }
  });

  itWithBothKernels("cp tensor - blocked Khatri–Rao × last factor equals the plain sum to rounding, with the same bits from both kernel sets", ({ native }) => {
    const rng = new Rng(3, "cp-tensor");
    // order 2, 3 and 4; R large enough that the 2^16-double block holds fewer rows than there are
    for (const [dims, R] of [[[7, 5], 9], [[6, 5, 4], 11], [[9, 7, 5, 3], 2000]] as const) {
      const factors = dims.map((d) => Float64Array.from({ length: d * R }, () => rng.normal()));
      const plain = kruskal(factors, [...dims], R);
      const fast = cpTensor(jsKernels, factors, [...dims], R);
      fast.forEach((x, i) => expect(x, `${dims} entry ${i}`).to.be.closeTo(plain[i], 1e-12 * Math.sqrt(R)));
      expect(Buffer.from(cpTensor(native, factors, [...dims], R).buffer).equals(Buffer.from(fast.buffer)), `${dims}`).to.equal(true);
    }
  });

  itWithBothKernels("evaluation - γ of many components at once has the bits of one contraction each (both kernel sets); the top k by selection", ({ both: kernels }) => {
    const rng = new Rng(5, "gamma");
    // orders 2–4; [200, 200, 3] has 40 000 rows, so the GEMM takes one set at a time
    for (const [dims, count] of [[[7, 5], 3], [[6, 5, 4], 10], [[3, 9, 2, 5], 7], [[200, 200, 3], 9]] as const) {
      const t = Float64Array.from({ length: dims.reduce((a, b) => a * b, 1) }, () => rng.normal());
      const sets = Array.from({ length: count }, () => dims.map((d) => Float64Array.from({ length: d }, () => rng.normal())));
      const one = Float64Array.from(sets, (vectors) => contractRankOne(t, [...dims], vectors));
      for (const k of kernels) {
        const many = contractRankOnes(t, [...dims], sets, k);
        expect(Buffer.from(many.buffer).equals(Buffer.from(one.buffer)), `${dims}`).to.equal(true);
      }
    }
    expect(contractRankOnes(new Float64Array(12), [3, 4], [], jsKernels)).to.have.length(0);
    // largest first, ties by index, NaN after every number, k beyond the length
    expect(topIndices(Float64Array.from([1, 3, 2, 3, Number.NaN, 0]), 4)).to.deep.equal([1, 3, 2, 0]);
    expect(topIndices(Float64Array.from([Number.NaN, 1, Number.NaN, 2]), 9)).to.deep.equal([3, 1, 0, 2]);
    for (const k of [1, 10, 100, 300]) {
      const values = Float64Array.from({ length: 200 }, () => Math.round(rng.normal() * 4));
      const sorted = Array.from(values.keys()).sort((a, b) => values[b] - values[a] || a - b);
      expect(topIndices(values, k), `k ${k}`).to.deep.equal(sorted.slice(0, k));
    }
  });

  itWithBothKernels("evaluation kernels - unfolding Grams and Jacobi eigenvalues: the same bits from both kernel sets, equal to the definitions to rounding", ({ both: kernels, native }) => {
    const rng = new Rng(9, "evaluation");
    // every mode of orders 2–4, and a mode longer than the native kernel's 256-value column scratch
    for (const dims of [[7, 5], [6, 5, 4], [3, 9, 2, 5], [300, 3]]) {
      const x = Float64Array.from({ length: dims.reduce((a, b) => a * b, 1) }, () => rng.normal());
      dims.forEach((d, n) => {
        const [js, fromNative] = kernels.map((k) => unfoldingGram(x, dims, n, k));
        expect(Buffer.from(fromNative.buffer).equals(Buffer.from(js.buffer)), `gram ${dims} mode ${n}`).to.equal(true);
        const before = dims.slice(0, n).reduce((a, b) => a * b, 1);
        const after = dims.slice(n + 1).reduce((a, b) => a * b, 1);
        for (const [i, j] of [[0, 0], [d - 1, 0], [Math.floor(d / 2), d - 1]]) {
          let plain = 0;
          for (let b = 0; b < before; b++) for (let a = 0; a < after; a++) plain += x[(b * d + i) * after + a] * x[(b * d + j) * after + a];
          expect(js[i * d + j], `gram ${dims} mode ${n} (${i}, ${j})`).to.be.closeTo(plain, 1e-12 * before * after);
          expect(js[j * d + i], "symmetric").to.equal(js[i * d + j]);
        }
      });
    }
    // Q diag(λ) Qᵀ with known λ (a repeated one and a zero among them), Q from Gram–Schmidt
    const n = 9;
    const lambda = [5, 3, 3, 2, 1, 0.5, 0.25, 1e-9, 0];
    const q = Array.from({ length: n }, () => Float64Array.from({ length: n }, () => rng.normal()));
    q.forEach((v, i) => {
      for (let j = 0; j < i; j++) {
        const c = v.reduce((s, x, k) => s + x * q[j][k], 0);
        v.forEach((_, k) => (v[k] -= c * q[j][k]));
      }
      const norm = Math.hypot(...v);
      v.forEach((_, k) => (v[k] /= norm));
    });
    const m = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) m[i * n + j] = lambda.reduce((s, l, k) => s + l * q[k][i] * q[k][j], 0);
    const [values, nativeValues] = kernels.map((k) => {
      const values = new Float64Array(n);
      k.symmetricEigenvalues(Float64Array.from(m), n, values);
      return values;
    });
    values.forEach((v, i) => expect(v, `λ${i}`).to.be.closeTo(lambda[i], 1e-12));
    expect(Array.from(values), "the linalg routine's values").to.deep.equal(Array.from(symmetricEigen(m, n).values));
    expect(Buffer.from(nativeValues.buffer).equals(Buffer.from(values.buffer)), "eigenvalues").to.equal(true);
    {
      expect(() => native.unfoldingGram(new Float64Array(5), 2, 2, 2, new Float64Array(4)), "short x").to.throw(TypeError, "unfoldingGram");
      expect(() => native.symmetricEigenvalues(new Float64Array(8), 3, new Float64Array(3)), "short a").to.throw(TypeError, "symmetricEigenvalues");
      const f = [new Float64Array(6), new Float64Array(6)];
      expect(() => native.khatriRaoRows(f, Int32Array.from([3, 3]), 2, 5, 5, new Float64Array(10)), "rows past the end").to.throw(TypeError, "khatriRaoRows");
      expect(() => native.khatriRaoRows(f, Int32Array.from([3, 3]), 2, 0, 4, new Float64Array(7)), "short out").to.throw(TypeError, "khatriRaoRows");
      expect(() => native.khatriRaoRows(f, Int32Array.from([3, 4]), 2, 0, 1, new Float64Array(2)), "a factor short of dims × R").to.throw(TypeError, "khatriRaoRows");
    }
  });

  itWithBothKernels("optimizer kernels - all blocks in one call: the same bits as block by block, in both kernel sets, for as many blocks as a model can have", ({ both, native }) => {
    const rng = new Rng(5, "blocks");
    // order 8 × depth 32 + a Tucker core = 257 blocks, of sizes off the lane width
    const xs = Array.from({ length: 257 }, (_, i) => Float64Array.from({ length: 1 + ((i * 7) % 23) }, () => rng.normal()));
    let expected = 0.25;
    for (const x of xs) expected += 0.01 * jsKernels.sumSquares(x);
    const ys = xs.map((x) => x.map((v) => v * 3));
    const byBlock = ys.map((y) => Float64Array.from(y));
    xs.forEach((x, i) => jsKernels.axpy(-0.5, x, byBlock[i]));
    for (const k of both) {
      expect(k.addSumSquares(0.25, 0.01, xs), k.name).to.equal(expected);
      const together = ys.map((y) => Float64Array.from(y));
      k.axpyEach(-0.5, xs, together);
      together.forEach((y, i) => expect(Buffer.from(y.buffer).equals(Buffer.from(byBlock[i].buffer)), `${k.name} block ${i}`).to.equal(true));
    }
    expect(() => native.axpyEach(1, xs, ys.slice(1)), "mismatched lists").to.throw(TypeError, "axpyEach");
  });

  itWithBothKernels("component chains - the Σ grad² each layer's backward returns has sumSquares' bits, in both kernel sets; other blocks stay NaN", ({ both: kernelSets }) => {
    // R off the lane width, so the layers' rows start at every lane
    const configs = configurations().filter((c) => c.variant === "component");
    expect(configs.some((c) => c.components === 19 && c.depth === 3)).to.equal(true);
    for (const config of configs) {
      const seen: Float64Array[] = [];
      for (const k of kernelSets) {
        const { model } = buildModel(config, k);
        const grads = model.params.map((p) => new Float64Array(p.data.length));
        model.lossAndGrad(grads);
        const squares = Float64Array.from(model.gradSquares!);
        model.params.forEach((p, i) => {
          const where = `${k.name} ${label(config)} ${p.name}`;
          if (p.name.includes(".M")) expect(Object.is(squares[i], k.sumSquares(grads[i])), where).to.equal(true);
          else expect(squares[i], where).to.be.NaN;
        });
        seen.push(squares);
      }
      for (const other of seen.slice(1)) expect(Buffer.from(other.buffer).equals(Buffer.from(seen[0].buffer)), label(config)).to.equal(true);
    }
  });

  itWithBothKernels("GroupRMSprop - sums handed over are added in block order between the kernel's: the bits of summing block by block", ({ both }) => {
    const rng = new Rng(9, "squares");
    const grads = Array.from({ length: 30 }, (_, i) => Float64Array.from({ length: 1 + ((i * 11) % 37) }, () => rng.normal() * 10 ** rng.int(6)));
    for (const k of both) {
      let expected = 0.5;
      for (const g of grads) expected += 0.01 * k.sumSquares(g);
      for (let trial = 0; trial < 20; trial++) {
        // trial 0: none handed over; then random subsets, so runs of every length occur
        const squares = Float64Array.from(grads, (g) => (trial > 0 && rng.uniform() < 0.5 ? k.sumSquares(g) : Number.NaN));
        expect(addBlockSquares(k, 0.5, 0.01, grads, squares), `${k.name} trial ${trial}`).to.equal(expected);
      }
    }
  });

  itWithBothKernels("GroupRMSprop - a run's steps (the model handing its sums over) have the bits of summing every block itself", ({ both }) => {
    for (const k of both) {
      const config = { model: "cp", variant: "component", order: 3, dim: [5, 4, 6], depth: 3, components: 19, optimizer: "grouprmsprop", lr: 0.01, seed: 3 } as const;
      const plain = buildModel(config, k);
      const optimizer = makeOptimizer(plain.spec, k);
      const params = plain.model.params.map((p) => p.data);
      const grads = params.map((p) => new Float64Array(p.length));
      const run = buildModel(config, k);
      const step = new GradientStep(run.model, makeOptimizer(run.spec, k));
      for (let t = 0; t < 5; t++) {
        const loss = plain.model.lossAndGrad(grads);
        optimizer.step(params, grads);
        expect(step.gradients(), `${k.name} loss at step ${t}`).to.equal(loss);
        step.update();
      }
      params.forEach((p, i) => expect(Buffer.from(step.params[i].buffer).equals(Buffer.from(p.buffer)), `${k.name} block ${i}`).to.equal(true));
    }
  });

  itWithBothKernels("native kernels - a CP completion plan whose buffers or indices do not fit is refused, never read out of bounds", ({ native }) => {
    const dims = [4, 3, 5];
    const R = 6;
    const observed = Int32Array.from([0, 7, 13, 22, 31, 44, 58]);
    const fresh = () => planCpCompletion(dims, R, observed, Float64Array.from(observed, (i) => i / 10));
    const factors = dims.map((d) => Float64Array.from({ length: d * R }, (_, i) => Math.sin(i)));
    const grads = () => dims.map((d) => new Float64Array(d * R));
    expect(native.cpCompletion(fresh(), factors, grads())).to.equal(jsKernels.cpCompletion(fresh(), factors, grads()));
    const broken: [string, (p: CpCompletionPlan) => CpCompletionPlan][] = [
      ["a row index out of its factor", (p) => ({ ...p, outerRows: p.outerRows.map(() => 99) })],
      ["an observation's inner row out of range", (p) => ({ ...p, obsInner: p.obsInner.map(() => 1000) })],
      ["a short scratch buffer", (p) => ({ ...p, innerE: new Float64Array(1) })],
      ["a negative start", (p) => ({ ...p, outerStart: p.outerStart.map((x, i) => (i === 0 ? -1 : x)) })],
      ["too few values", (p) => ({ ...p, obsValue: new Float64Array(1) })],
    ];
    for (const [what, breakIt] of broken) {
      expect(() => native.cpCompletion(breakIt(fresh()), factors, grads()), what).to.throw(TypeError, "cpCompletion");
    }
    expect(() => native.cpCompletion(fresh(), [factors[0], factors[1], new Float64Array(5)], grads()), "a factor of the wrong size").to.throw(TypeError, "cpCompletion");
    // an observation listed twice (a hand-made dump) still gives the TypeScript kernel's bits
    const twice = Int32Array.from([0, 1, 2, 3, 3, 4, 5, 20, 21, 21, 22]);
    const repeated = () => planCpCompletion(dims, R, twice, Float64Array.from(twice, (i, k) => i / 10 + k));
    const [gn, gj] = [grads(), grads()];
    expect(native.cpCompletion(repeated(), factors, gn)).to.equal(jsKernels.cpCompletion(repeated(), factors, gj));
    gn.forEach((g, n) => expect(Buffer.from(g.buffer).equals(Buffer.from(gj[n].buffer)), `mode ${n}`).to.equal(true));
  });
});
