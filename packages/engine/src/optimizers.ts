// GD, GroupRMSprop and Adam, and GradientStep (one step as train() takes it).
import type { Kernels } from "./kernels/types.ts";
import type { Model } from "./models/model.ts";
import type { RunSpec } from "./spec.ts";

/** Applies one update to every parameter block from its gradient. */
export interface Optimizer {
  step(params: Float64Array[], grads: Float64Array[]): void;
}

/** Plain gradient descent θ ← θ − η g (for theory checks such as the growth law). */
class GradientDescent implements Optimizer {
  constructor(
    private readonly k: Kernels,
    private readonly lr: number,
  ) {}
  step(params: Float64Array[], grads: Float64Array[]): void {
    this.k.axpyEach(-this.lr, grads, params);
  }
}

/**
 * GroupRMSprop (Razin et al.; Arora et al.): one scalar state for all parameters,
 * s ← α s + (1−α) Σ‖g‖² (accumulated block by block, as the reference), ŝ = s/(1−αᵗ),
 * and every parameter moves by −η/(√ŝ + ε)·g: GD with a global, gradient-normalised step.
 */
class GroupRmsProp implements Optimizer {
  private s = 0;
  private t = 0;
  constructor(
    private readonly k: Kernels,
    private readonly lr: number,
    private readonly eps: number,
    private readonly alpha = 0.99,
  ) {}
  step(params: Float64Array[], grads: Float64Array[]): void {
    this.stepWithSquares(params, grads, undefined);
  }

  /** `step`, with Σ grads[i]² already known where squares[i] is not NaN (Model.gradSquares; same bits). */
  stepWithSquares(params: Float64Array[], grads: Float64Array[], squares: Float64Array | undefined): void {
    this.t++;
    this.s = addBlockSquares(this.k, this.s * this.alpha, 1 - this.alpha, grads, squares);
    const rate = this.lr / (Math.sqrt(this.s / (1 - this.alpha ** this.t)) + this.eps);
    this.k.axpyEach(-rate, grads, params);
  }
}

/**
 * s + scale·Σ‖g_i‖², block by block in block order, with `sumSquares`' bits. Sums the model
 * already has (squares[i] not NaN) are added as they are; each run of the others goes to the
 * kernel in one call (a call per block cost ~10 % of a small step).
 */
export function addBlockSquares(k: Kernels, s: number, scale: number, grads: Float64Array[], squares?: Float64Array): number {
  if (!squares || squares.length !== grads.length) return k.addSumSquares(s, scale, grads);
  for (let i = 0; i < grads.length; ) {
    if (!Number.isNaN(squares[i])) {
      s += scale * squares[i++];
      continue;
    }
    let end = i + 1;
    while (end < grads.length && Number.isNaN(squares[end])) end++;
    s = k.addSumSquares(s, scale, i === 0 && end === grads.length ? grads : grads.slice(i, end));
    i = end;
  }
  return s;
}

/**
 * One gradient step as train() takes it, in two halves (train checks the loss for divergence in
 * between): loss and gradients, then the update. The one place the fused path lives: when the
 * model hands over Σ grad² of blocks it summed while writing them (Model.gradSquares) and the
 * optimizer is GroupRMSprop, the update reads only the other blocks again (same bits). The benches
 * time this, so they time what a run does.
 */
export class GradientStep {
  readonly params: Float64Array[];
  readonly grads: Float64Array[];
  private readonly fused: GroupRmsProp | null;

  constructor(
    private readonly model: Model,
    private readonly optimizer: Optimizer,
  ) {
    this.params = model.params.map((p) => p.data);
    this.grads = this.params.map((p) => new Float64Array(p.length));
    this.fused = model.gradSquares && optimizer instanceof GroupRmsProp ? optimizer : null;
  }

  /** The training loss at the current parameters; fills the gradients. */
  gradients(): number {
    return this.model.lossAndGrad(this.grads);
  }

  /** The optimizer's update from the last gradients. */
  update(): void {
    if (this.fused) this.fused.stepWithSquares(this.params, this.grads, this.model.gradSquares);
    else this.optimizer.step(this.params, this.grads);
  }
}

/** Adam (Kingma & Ba) with bias correction, β = (0.9, 0.999). */
class Adam implements Optimizer {
  private t = 0;
  private m: Float64Array[] | null = null;
  private v: Float64Array[] | null = null;
  constructor(
    private readonly lr: number,
    private readonly eps: number,
    private readonly beta1 = 0.9,
    private readonly beta2 = 0.999,
  ) {}
  step(params: Float64Array[], grads: Float64Array[]): void {
    this.m ??= params.map((p) => new Float64Array(p.length));
    this.v ??= params.map((p) => new Float64Array(p.length));
    this.t++;
    const c1 = 1 - this.beta1 ** this.t;
    const c2 = 1 - this.beta2 ** this.t;
    params.forEach((p, i) => {
      const g = grads[i];
      const m = this.m![i];
      const v = this.v![i];
      for (let j = 0; j < p.length; j++) {
        m[j] = this.beta1 * m[j] + (1 - this.beta1) * g[j];
        v[j] = this.beta2 * v[j] + (1 - this.beta2) * g[j] * g[j];
        p[j] -= (this.lr * (m[j] / c1)) / (Math.sqrt(v[j] / c2) + this.eps);
      }
    });
  }
}

export function makeOptimizer(spec: RunSpec, kernels: Kernels): Optimizer {
  switch (spec.optimizer) {
    case "gd":
      return new GradientDescent(kernels, spec.lr);
    case "grouprmsprop":
      return new GroupRmsProp(kernels, spec.lr, spec.eps);
    case "adam":
      return new Adam(spec.lr, spec.eps);
  }
}
