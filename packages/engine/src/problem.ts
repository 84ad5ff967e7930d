// Ground truth and training data: completion observations and sensing measurements.
import { rngStream, sampleWithoutReplacement } from "./rng.ts";
import type { RunSpec } from "./spec.ts";
import { frobenius, kruskal, product } from "./tensor.ts";

/** Training data plus the ground truth it came from. */
export type Problem = {
  kind: "completion" | "sensing";
  dims: number[];
  /** Ground truth, C-order, full tensor. */
  target: Float64Array;
  targetNorm: number;
  /** y: observed entries (completion) or measurements (sensing), one per observation. */
  values: Float64Array;
  /** Completion: C-order flat indices of the observed entries, in sampling order. */
  observed: Int32Array;
  /** Completion: 1 where an entry is observed (the rest is held out). */
  observedMask: Uint8Array;
  /** Sensing: measurement tensors, one row of prod(dims) per measurement. */
  sensing: Float64Array | null;
};

/** Gaussian CP-rank-r ground truth (factors N(0,1), drawn mode by mode) scaled to Frobenius norm. */
export function makeTarget(spec: RunSpec): Float64Array {
  const rng = rngStream(spec.seed, "target");
  const r = spec.target_rank;
  const factors = spec.dim.map((d) => rng.fillNormal(new Float64Array(d * r), 1));
  const t = kruskal(factors, spec.dim, r);
  const scale = spec.target_norm / frobenius(t);
  for (let i = 0; i < t.length; i++) t[i] *= scale;
  return t;
}

/** Builds the spec's problem from its own seeded streams (target, observations, sensing). */
export function makeProblem(spec: RunSpec): Problem {
  const target = makeTarget(spec);
  const entries = product(spec.dim);
  if (spec.problem === "completion") {
    const observed = sampleWithoutReplacement(rngStream(spec.seed, "observations"), entries, spec.observations);
    return completionProblem(spec.dim, target, observed);
  }
  // Razin et al.'s sensing: measurement entries N(0, 1/prod(dims)).
  const rng = rngStream(spec.seed, "sensing");
  const m = spec.observations;
  const sensing = rng.fillNormal(new Float64Array(m * entries), 1 / Math.sqrt(entries));
  const values = new Float64Array(m);
  for (let i = 0; i < m; i++) {
    let s = 0;
    for (let j = 0; j < entries; j++) s += sensing[i * entries + j] * target[j];
    values[i] = s;
  }
  return {
    kind: "sensing",
    dims: spec.dim.slice(),
    target,
    targetNorm: frobenius(target),
    values,
    observed: new Int32Array(0),
    observedMask: new Uint8Array(0),
    sensing,
  };
}

/** A completion problem observing `observed` (flat indices) of `target`. */
export function completionProblem(dims: number[], target: Float64Array, observed: Int32Array): Problem {
  const observedMask = new Uint8Array(target.length);
  const values = new Float64Array(observed.length);
  observed.forEach((flat, k) => {
    observedMask[flat] = 1;
    values[k] = target[flat];
  });
  return {
    kind: "completion",
    dims: dims.slice(),
    target,
    targetNorm: frobenius(target),
    values,
    observed,
    observedMask,
    sensing: null,
  };
}
