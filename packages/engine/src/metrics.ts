// evaluate(): what is measured at every evaluation (errors, norms, γ, effective ranks).
import type { Kernels } from "./kernels/types.ts";
import { effectiveRank, numericalRank, singularValuesFromGram } from "./linalg.ts";
import { denseLossAndGrad, type Model, topIndices } from "./models/model.ts";
import type { Problem } from "./problem.ts";
import type { RunSpec } from "./spec.ts";
import { distance, unfoldingGram } from "./tensor.ts";

/** What is measured at every evaluation (all from the full end-to-end tensor). */
export type MetricPoint = {
  step: number;
  /** MSE over the training observations. */
  train_loss: number;
  /** ‖W − W*‖_F / ‖W*‖_F over the full tensor. */
  recon_error: number;
  /** MSE over the entries not observed (completion) or over all entries (sensing). */
  heldout_mse: number;
  /** The top_k largest component norms, largest first. */
  component_norms: number[];
  /** γ_r = ⟨−∇ℓ(W), ⊗_n â_r^(n)⟩ for those components (Razin et al.'s growth-rate factor). */
  gamma: number[];
  /** Effective rank (Roy & Vetterli) of all component norms. */
  cp_erank: number;
  /** Effective rank of every mode unfolding. */
  unfolding_eranks: number[];
  /** Largest singular values (matrix model); empty for tensors. */
  singular_values: number[];
  /** Largest numerical rank (σ > 1e-3·σ_max) of the mode unfoldings: the multilinear rank. */
  rank_estimate: number;
  /** Wall time since the start of training. */
  wall_ms: number;
};

/** Relative tolerance of rank_estimate. */
export const RANK_TOL = 1e-3;

/** ⟨T, v_1 ⊗ … ⊗ v_N⟩ by contracting the last mode first. */
export function contractRankOne(t: Float64Array, dims: number[], vectors: Float64Array[]): number {
  let cur = t;
  for (let n = dims.length - 1; n >= 0; n--) {
    const d = dims[n];
    const next = new Float64Array(cur.length / d);
    const v = vectors[n];
    for (let p = 0; p < next.length; p++) {
      let s = 0;
      for (let i = 0; i < d; i++) s += cur[p * d + i] * v[i];
      next[p] = s;
    }
    cur = next;
  }
  return cur[0];
}

/** Doubles of the partly contracted tensors `contractRankOnes` holds at a time (~512 KB). */
const CONTRACTED_DOUBLES = 1 << 16;

/**
 * `contractRankOne` of `t` with each of several rank-one tensors: the last mode of a group of
 * them in one GEMM (the same sums, in the same order: from 0, over the mode's index), the other
 * modes one tensor at a time as `contractRankOne` does. Gives its bits, several times faster.
 */
export function contractRankOnes(t: Float64Array, dims: number[], sets: Float64Array[][], kernels: Kernels): Float64Array {
  const out = new Float64Array(sets.length);
  const N = dims.length;
  const last = dims[N - 1];
  const rows = t.length / last;
  const leading = dims.slice(0, N - 1);
  const group = Math.max(1, Math.min(sets.length, Math.floor(CONTRACTED_DOUBLES / rows)));
  const lastVectors = new Float64Array(last * group); // last × k: column j is set j's last vector
  const contracted = new Float64Array(rows * group);
  const column = new Float64Array(rows);
  for (let start = 0; start < sets.length; start += group) {
    const k = Math.min(group, sets.length - start);
    for (let j = 0; j < k; j++) {
      const v = sets[start + j][N - 1];
      for (let i = 0; i < last; i++) lastVectors[i * k + j] = v[i];
    }
    kernels.gemm(t, lastVectors, contracted, rows, last, k, false);
    for (let j = 0; j < k; j++) {
      for (let p = 0; p < rows; p++) column[p] = contracted[p * k + j];
      out[start + j] = contractRankOne(column, leading, sets[start + j]);
    }
  }
  return out;
}

export function evaluate(model: Model, problem: Problem, spec: RunSpec, kernels: Kernels, step: number, wallMs: number): MetricPoint {
  const w = model.fullTensor();
  const grad = new Float64Array(w.length);
  const trainLoss = denseLossAndGrad(problem, w, grad);
  const recon = distance(w, problem.target) / problem.targetNorm;

  let heldSum = 0;
  let heldCount = 0;
  for (let p = 0; p < w.length; p++) {
    if (problem.kind === "completion" && problem.observedMask[p]) continue;
    const d = w[p] - problem.target[p];
    heldSum += d * d;
    heldCount++;
  }

  const norms = model.componentNorms();
  const top = topIndices(norms, spec.top_k);
  const gamma = Array.from(contractRankOnes(grad, problem.dims, top.map((r) => model.component(r)), kernels), (g) => -g);

  const unfoldingSigmas = problem.dims.map((d, n) => singularValuesFromGram(unfoldingGram(w, problem.dims, n, kernels), d, kernels));
  return {
    step,
    train_loss: trainLoss,
    recon_error: recon,
    heldout_mse: heldCount > 0 ? heldSum / heldCount : 0,
    component_norms: top.map((r) => norms[r]),
    gamma,
    cp_erank: effectiveRank(norms),
    unfolding_eranks: unfoldingSigmas.map(effectiveRank),
    singular_values: spec.model === "matrix" || spec.model === "nuclear" ? Array.from(unfoldingSigmas[0].slice(0, spec.top_k)) : [],
    rank_estimate: Math.max(...unfoldingSigmas.map((s) => numericalRank(s, RANK_TOL))),
    wall_ms: wallMs,
  };
}

/**
 * Norms and γ of every component (not only the top k), for the growth trace: one full tensor and
 * one contraction per component, no SVD.
 */
export function growthSample(model: Model, problem: Problem, kernels: Kernels): [Float64Array, Float64Array] {
  const w = model.fullTensor();
  const grad = new Float64Array(w.length);
  denseLossAndGrad(problem, w, grad);
  const norms = model.componentNorms();
  const components = Array.from(norms, (_, r) => model.component(r));
  const gammas = contractRankOnes(grad, problem.dims, components, kernels).map((g) => -g);
  return [norms, gammas];
}
