// The Model contract, the dense loss, Gaussian init and top-k selection.
import type { Problem } from "../problem.ts";

/** One trainable array: a name (e.g. `A2.W1`), its shape and its float64 data. */
/**
 * A block of parameters. `reference`: set when the block is stored in another layout than the
 * reference script's (for speed); its init draws and a replay dump's values come in that
 * layout, and `copyIn` moves them into the block's own.
 */
export type ParamBlock = {
  name: string;
  shape: number[];
  data: Float64Array;
  reference?: { shape: number[]; copyIn(src: ArrayLike<number>, dst: Float64Array): void };
};

/** A rank-one term of the model: its norm and one unit vector per mode (sign folded into the first). */
export type Component = { norm: number; vectors: Float64Array[] };

/** What the trainer and the metrics need from a factorization. */
export interface Model {
  readonly params: ParamBlock[];
  /** The Gaussian init std of every block, in block order. */
  initStds(): number[];
  /** Training loss (MSE over observations) and its gradient w.r.t. every block, into `grads`. */
  lossAndGrad(grads: Float64Array[]): number;
  /**
   * A speed path read only by GradientStep: Σ grad² of each block that the last lossAndGrad summed
   * while writing it (with the kernels' `sumSquares` bits), NaN for the others, so GroupRMSprop
   * need not read those blocks again. Absent when a model sums none.
   */
  readonly gradSquares?: Float64Array;
  /** The end-to-end tensor, full (evaluation only). */
  fullTensor(): Float64Array;
  /** Norms of all rank-one components (CP components, Tucker core terms, singular values). */
  componentNorms(): Float64Array;
  /** The unit vectors of component `index`, of the parameters as of the last componentNorms() call. */
  component(index: number): Float64Array[];
  /**
   * A solver that is not gradient-trained (the nuclear-norm baseline) advances itself: one step,
   * returning the training loss before it. Gradient models leave it out.
   */
  iterate?(): number;
}

/**
 * MSE over the training observations of a full tensor `w`, and its gradient w.r.t. `w` (dense).
 * Used for sensing, for Tucker/matrix, at evaluation, and as the test reference.
 */
export function denseLossAndGrad(problem: Problem, w: Float64Array, grad: Float64Array): number {
  const m = problem.values.length;
  const c = 2 / m;
  grad.fill(0);
  let loss = 0;
  if (problem.kind === "completion") {
    problem.observed.forEach((flat, k) => {
      const r = w[flat] - problem.values[k];
      loss += r * r;
      grad[flat] += c * r;
    });
    return loss / m;
  }
  const x = problem.sensing!;
  const size = w.length;
  for (let k = 0; k < m; k++) {
    let pred = 0;
    for (let j = 0; j < size; j++) pred += x[k * size + j] * w[j];
    const r = pred - problem.values[k];
    loss += r * r;
    const e = c * r;
    for (let j = 0; j < size; j++) grad[j] += e * x[k * size + j];
  }
  return loss / m;
}

/** Gaussian draws for every block, in block order, row-major inside a block (in its reference layout). */
export function initGaussian(blocks: ParamBlock[], stds: number[], draw: () => number): void {
  blocks.forEach((b, i) => {
    const into = b.reference ? new Float64Array(b.data.length) : b.data;
    for (let j = 0; j < into.length; j++) into[j] = draw() * stds[i];
    b.reference?.copyIn(into, b.data);
  });
}

/**
 * Per-layer std. `per_layer`: init_std as given. `end_to_end`: chosen so that the product of L
 * layers of inner width h has entries of std ≈ init_std, s = init_std^(1/L) · h^(−(L−1)/(2L))
 * (the reference script's rule). `balanced` draws the end-to-end factor itself (see balanced.ts); the
 * std given here is the matching per-layer scale.
 */
export function layerStd(initStd: number, mode: "per_layer" | "end_to_end" | "balanced", depth: number, width: number): number {
  if (mode === "per_layer" || depth === 1) return initStd;
  return initStd ** (1 / depth) * width ** (-(depth - 1) / (2 * depth));
}

export function block(name: string, shape: number[]): ParamBlock {
  return { name, shape, data: new Float64Array(shape.reduce((p, x) => p * x, 1)) };
}

/** Indices of the `k` largest values, largest first (ties by index). */
export function topIndices(values: Float64Array, k: number): number[] {
  // one pass keeping the best k so far in order (sorting every index was a tenth of an
  // evaluation): larger first, the lower index among equals, NaN after every number
  const before = (i: number, j: number) => values[i] > values[j] || (Number.isNaN(values[j]) && !Number.isNaN(values[i]));
  const top: number[] = [];
  if (k < 1) return top;
  for (let i = 0; i < values.length; i++) {
    if (top.length === k) {
      if (!before(i, top[k - 1])) continue;
      top.pop();
    }
    let at = top.length;
    while (at > 0 && before(i, top[at - 1])) at--;
    top.splice(at, 0, i);
  }
  return top;
}

