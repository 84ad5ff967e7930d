import type { Kernels } from "../kernels/types.ts";

/**
 * A depth-L linear network A = W_L ⋯ W_1 producing a rows × cols matrix (row-major):
 * W_1 is h × cols (rows × cols when L = 1), W_l is h × h, W_L is rows × h.
 * Forward keeps the partial products Z_l = W_l ⋯ W_1 for the backward pass.
 */
export class DeepChain {
  readonly shapes: [number, number][];
  private readonly partials: Float64Array[];
  private readonly deltaA: Float64Array;
  private readonly deltaB: Float64Array;

  constructor(
    readonly rows: number,
    readonly cols: number,
    readonly depth: number,
    readonly width: number,
  ) {
    this.shapes = Array.from({ length: depth }, (_, l): [number, number] => [
      l === depth - 1 ? rows : width,
      l === 0 ? cols : width,
    ]);
    // Z_2 … Z_L (Z_1 is W_1 itself).
    this.partials = this.shapes.slice(1).map(([r]) => new Float64Array(r * cols));
    const maxRows = Math.max(rows, width);
    this.deltaA = new Float64Array(maxRows * cols);
    this.deltaB = new Float64Array(maxRows * cols);
  }

  /** The end-to-end matrix (for L = 1 the layer itself, not a copy). */
  forward(k: Kernels, layers: Float64Array[]): Float64Array {
    let z = layers[0];
    for (let l = 1; l < this.depth; l++) {
      const [r, inner] = this.shapes[l];
      k.gemm(layers[l], z, this.partials[l - 1], r, inner, this.cols, false);
      z = this.partials[l - 1];
    }
    return z;
  }

  /** Gradients of every layer from the gradient w.r.t. the end-to-end matrix (needs a prior forward). */
  backward(k: Kernels, layers: Float64Array[], gradOut: Float64Array, gradLayers: Float64Array[]): void {
    let delta = gradOut;
    let spare = this.deltaA;
    for (let l = this.depth - 1; l >= 1; l--) {
      const [r, inner] = this.shapes[l];
      const zPrev = l === 1 ? layers[0] : this.partials[l - 2];
      k.gemmNT(delta, zPrev, gradLayers[l], r, this.cols, inner);
      k.gemmTN(layers[l], delta, spare, inner, r, this.cols);
      delta = spare;
      spare = spare === this.deltaA ? this.deltaB : this.deltaA;
    }
    gradLayers[0].set(delta.subarray(0, gradLayers[0].length));
  }
}

/**
 * The `component` parametrization of one CP factor: every column has its own chain,
 * a_r = M_{L,r} ⋯ M_{2,r} v_r, with v (d × R) and each M_l stored as R × d × d.
 */
export class ComponentChain {
  private readonly xs: Float64Array[];
  private readonly g: Float64Array;
  private readonly gSpare: Float64Array;
  readonly out: Float64Array;

  constructor(
    readonly d: number,
    readonly R: number,
    readonly depth: number,
  ) {
    this.xs = Array.from({ length: depth }, () => new Float64Array(R * d));
    this.g = new Float64Array(R * d);
    this.gSpare = new Float64Array(R * d);
    this.out = new Float64Array(d * R);
  }

  /** layers = [v, M_2, …, M_L]; returns A (d × R). */
  forward(k: Kernels, layers: Float64Array[]): Float64Array {
    const { d, R } = this;
    if (this.depth === 1) return layers[0];
    transpose(layers[0], this.xs[0], d, R);
    for (let l = 1; l < this.depth; l++) k.batchedMatVec(layers[l], this.xs[l - 1], this.xs[l], R, d, false);
    transpose(this.xs[this.depth - 1], this.out, R, d);
    return this.out;
  }

  backward(k: Kernels, layers: Float64Array[], gradOut: Float64Array, gradLayers: Float64Array[]): void {
    const { d, R } = this;
    if (this.depth === 1) {
      gradLayers[0].set(gradOut);
      return;
    }
    let g = this.g;
    let spare = this.gSpare;
    transpose(gradOut, g, d, R);
    for (let l = this.depth - 1; l >= 1; l--) {
      k.batchedOuter(g, this.xs[l - 1], gradLayers[l], R, d);
      k.batchedMatVec(layers[l], g, spare, R, d, true);
      [g, spare] = [spare, g];
    }
    transpose(g, gradLayers[0], R, d);
  }
}

/** out (cols × rows) = inᵀ for a rows × cols row-major matrix. */
export function transpose(input: Float64Array, out: Float64Array, rows: number, cols: number): void {
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[j * rows + i] = input[i * cols + j];
}
