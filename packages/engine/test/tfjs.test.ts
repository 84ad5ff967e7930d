import { expect } from "chai";
import { jsKernels } from "../src/kernels/js.ts";
import type { RunSpecInput } from "../src/spec.ts";
import { loadTf, tfjsLossAndGrad, trainingData } from "../src/tfjs/engine.ts";
import { train } from "../src/train.ts";
import { buildModel } from "./support/helpers.ts";

const cases: RunSpecInput[] = [
  { model: "cp", order: 3, dim: 4, depth: 1, components: 5 },
  { model: "cp", order: 3, dim: 4, depth: 3, components: 5, variant: "factor" },
  { model: "cp", order: 4, dim: 3, depth: 2, components: 4, variant: "component" },
  { model: "cp", order: 2, dim: [3, 5], depth: 2, components: 3, problem: "sensing", observations: 8 },
  { model: "tucker", order: 3, dim: [3, 4, 2], depth: 2, core_rank: [2, 3, 2] },
  { model: "matrix", dim: [6, 5], depth: 3, width: 4 },
];

describe("tfjs engine", () => {
  for (const c of cases) {
    it(`gradient oracle - ${c.model}/${c.variant ?? "-"} order ${c.order ?? 2} depth ${c.depth} ${c.problem ?? "completion"}`, async () => {
      const { tf } = await loadTf();
      const { spec, problem, model } = buildModel({ ...c, init_std: 0.5, seed: 11 }, jsKernels);
      const ours = model.params.map((p) => new Float64Array(p.data.length));
      const theirs = model.params.map((p) => new Float64Array(p.data.length));
      const lossOurs = model.lossAndGrad(ours);
      const lossTheirs = tfjsLossAndGrad(tf, spec, problem, trainingData(tf, problem), model, theirs);
      expect(lossTheirs).to.be.closeTo(lossOurs, 1e-5 * lossOurs);
      let diff = 0;
      let norm = 0;
      ours.forEach((g, b) =>
        g.forEach((x, j) => {
          diff += (x - theirs[b][j]) ** 2;
          norm += x * x;
        }),
      );
      expect(norm).to.be.greaterThan(0);
      expect(Math.sqrt(diff / norm)).to.be.lessThan(1e-4); // float32 autodiff against float64
    });
  }

  it("engine: tfjs - trains and reports which engine ran", async () => {
    const result = await train({ model: "cp", order: 3, dim: 4, components: 6, target_rank: 1, steps: 50, eval_every: 25, engine: "tfjs" });
    expect(result.engine).to.equal("tfjs");
    expect(result.status).to.equal("ok");
    expect(result.steps).to.equal(50);
  });
});
