import { expect } from "chai";
import type { Kernels } from "../../src/kernels/types.ts";
import { createModel } from "../../src/models/index.ts";
import { initGaussian } from "../../src/models/model.ts";
import { makeProblem } from "../../src/problem.ts";
import { rngStream } from "../../src/rng.ts";
import { type RunSpecInput, resolveRunSpec } from "../../src/spec.ts";

/** A model with its problem and Gaussian init, ready for gradient checks. */
export function buildModel(input: RunSpecInput, kernels: Kernels) {
  const spec = resolveRunSpec(input);
  const problem = makeProblem(spec);
  const model = createModel(spec, kernels, problem);
  const rng = rngStream(spec.seed, "init");
  initGaussian(model.params, model.initStds(), () => rng.normal());
  return { spec, problem, model };
}

/** Rejects with `cls` and a message containing `text`, the role of nats' assertRejects. */
export async function expectRejects(fn: () => Promise<unknown>, cls: new (...a: never[]) => Error, text: string) {
  let caught: unknown;
  try {
    await fn();
  } catch (err) {
    caught = err;
  }
  expect(caught, "expected a rejection").to.be.instanceOf(cls);
  expect((caught as Error).message).to.contain(text);
}
