// The nuclear-norm baseline (soft-impute), a Model that advances itself.
import { type Svd, svd } from "../linalg.ts";
import type { Problem } from "../problem.ts";
import type { RunSpec } from "../spec.ts";
import { block, denseLossAndGrad, type Model, type ParamBlock } from "./model.ts";

/** λ shrinks by this factor per iteration, down to MIN_LAMBDA × its start. */
const LAMBDA_DECAY = 0.97;
const MIN_LAMBDA = 1e-6;

/**
 * The nuclear-norm minimisation baseline of Arora et al.'s figure (F-B): the minimum-nuclear-norm
 * matrix that fits the observed entries, approximated by soft-impute (Mazumder, Hastie &
 * Tibshirani 2010), X ← SVT_λ(P_Ω(Y) + P_Ω⊥(X)), with λ decreasing geometrically from the top
 * singular value of P_Ω(Y) (continuation: the path ends at the constrained minimiser as λ → 0).
 * Not gradient-trained: each `iterate()` is one soft-impute step; steps count iterations and
 * init_std, lr and optimizer do not apply. Matrix completion only (checked by the spec).
 */
export class NuclearNormBaseline implements Model {
  readonly params: ParamBlock[];
  private lambda = Number.NaN;
  private lambdaMin = 0;
  private svdCache: Svd | null = null;

  constructor(
    private readonly spec: RunSpec,
    private readonly problem: Problem,
  ) {
    this.params = [block("X", spec.dim)];
  }

  initStds(): number[] {
    return [0]; // starts at zero: the solver needs no random init
  }

  lossAndGrad(grads: Float64Array[]): number {
    return denseLossAndGrad(this.problem, this.params[0].data, grads[0]);
  }

  /** One soft-impute step; returns the training loss before it (as lossAndGrad would). */
  iterate(): number {
    const x = this.params[0].data;
    const loss = denseLossAndGrad(this.problem, x, new Float64Array(x.length));
    const filled = Float64Array.from(x);
    this.problem.observed.forEach((flat, k) => {
      filled[flat] = this.problem.values[k];
    });
    const svd = this.svdOf(filled);
    if (Number.isNaN(this.lambda)) {
      this.lambda = svd.values[0] * LAMBDA_DECAY;
      this.lambdaMin = svd.values[0] * MIN_LAMBDA;
    }
    const [d1, d2] = this.spec.dim;
    x.fill(0);
    svd.values.forEach((s, r) => {
      const shrunk = s - this.lambda;
      if (!(shrunk > 0)) return;
      const u = svd.u[r];
      const v = svd.v[r];
      for (let i = 0; i < d1; i++) for (let j = 0; j < d2; j++) x[i * d2 + j] += shrunk * u[i] * v[j];
    });
    this.lambda = Math.max(this.lambdaMin, this.lambda * LAMBDA_DECAY);
    this.svdCache = null;
    return loss;
  }

  fullTensor(): Float64Array {
    return Float64Array.from(this.params[0].data);
  }

  private svdOf(w: Float64Array): Svd {
    return svd(w, this.spec.dim[0], this.spec.dim[1]);
  }

  /** The min(d1, d2) singular values (the Gram of the columns has d2, the rest of them zero up to rounding). */
  componentNorms(): Float64Array {
    this.svdCache = this.svdOf(this.params[0].data);
    return this.svdCache.values.subarray(0, Math.min(this.spec.dim[0], this.spec.dim[1]));
  }

  component(index: number): Float64Array[] {
    const s = this.svdCache ?? this.svdOf(this.params[0].data);
    return [s.u[index], s.v[index]];
  }
}
