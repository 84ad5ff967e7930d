import { expect } from "chai";
import { jsKernels } from "../src/kernels/js.ts";
import { nativeKernels } from "../src/kernels/native.ts";
import { mttkrp } from "../src/models/cp.ts";
import { denseLossAndGrad } from "../src/models/model.ts";
import { Rng } from "../src/rng.ts";
import type { RunSpecInput } from "../src/spec.ts";
import { kruskal } from "../src/tensor.ts";
import { buildModel } from "./support/helpers.ts";

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

  const native = nativeKernels();
  (native ? it : it.skip)("native kernels - bit-identical to the TypeScript kernels for every model", () => {
    for (const config of configurations()) {
      const js = buildModel(config, jsKernels).model;
      const nat = buildModel(config, native!).model;
      const gj = js.params.map((p) => new Float64Array(p.data.length));
      const gn = nat.params.map((p) => new Float64Array(p.data.length));
      expect(nat.lossAndGrad(gn), label(config)).to.equal(js.lossAndGrad(gj));
      gj.forEach((g, i) => expect(Buffer.from(gn[i].buffer).equals(Buffer.from(g.buffer)), label(config)).to.equal(true));
    }
  });
});
