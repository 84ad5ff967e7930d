// Depth chains: DeepChain (A = W_L⋯W_1) and ComponentChain (one chain per component).
import type { Kernels } from "../kernels/types.ts";
import { block, type ParamBlock } from "./model.ts";

/**
 * A depth-L linear network A = W_L ⋯ W_1 producing a rows × cols matrix (row-major):
 * W_1 is h × cols (rows × cols when L = 1), W_l is h × h, W_L is rows × h.
 *
 * Only W_1 is wide (cols = R can be large); the others are small. So the small layers are
 * collapsed first, P = W_L ⋯ W_2 (rows × h), and the wide products are A = P·W_1, ∂W_1 = Pᵀ·G and
 * ∂P = G·W_1ᵀ: three rows·h·cols products per step whatever the depth; ∂P is then
 * back-propagated through the small chain (O(L·h³)).
 */
export class DeepChain {
  readonly shapes: [number, number][];
  /** Q_l = W_l ⋯ W_2 for l = 3..L (Q_2 is W_2 itself); P = Q_L. */
  private readonly partials: Float64Array[];
  private readonly out: Float64Array;
  private readonly gradP: Float64Array;
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
    this.partials = this.shapes.slice(2).map(([r]) => new Float64Array(r * width));
    this.out = new Float64Array(depth > 1 ? rows * cols : 0);
    this.gradP = new Float64Array(depth > 1 ? rows * width : 0);
    this.deltaA = new Float64Array(Math.max(rows, width) * width);
    this.deltaB = new Float64Array(Math.max(rows, width) * width);
  }

  /** P = W_L ⋯ W_2 (rows × h), keeping the partial products for the backward pass. */
  private collapse(k: Kernels, layers: Float64Array[]): Float64Array {
    let q = layers[1];
    for (let l = 2; l < this.depth; l++) {
      const [r] = this.shapes[l];
      k.gemm(layers[l], q, this.partials[l - 2], r, this.width, this.width, false);
      q = this.partials[l - 2];
    }
    return q;
  }

  /** The end-to-end matrix (for L = 1 the layer itself, not a copy). */
  forward(k: Kernels, layers: Float64Array[]): Float64Array {
    if (this.depth === 1) return layers[0];
    k.gemm(this.collapse(k, layers), layers[0], this.out, this.rows, this.width, this.cols, false);
    return this.out;
  }

  /** Gradients of every layer from the gradient w.r.t. the end-to-end matrix (needs a prior forward); no Σ grad² (GEMMs write them). */
  backward(k: Kernels, layers: Float64Array[], gradOut: Float64Array, gradLayers: Float64Array[]): undefined {
    if (this.depth === 1) {
      gradLayers[0].set(gradOut);
      return;
    }
    const h = this.width;
    const p = this.depth === 2 ? layers[1] : this.partials[this.depth - 3];
    k.gemmTN(p, gradOut, gradLayers[0], h, this.rows, this.cols);
    k.gemmNT(gradOut, layers[0], this.gradP, this.rows, this.cols, h);
    // Back through the small chain Q_l = W_l Q_{l−1}: ∂W_l = Δ Q_{l−1}ᵀ, Δ ← W_lᵀ Δ.
    let delta = this.gradP;
    let spare = this.deltaA;
    for (let l = this.depth - 1; l >= 2; l--) {
      const [r] = this.shapes[l];
      const qPrev = l === 2 ? layers[1] : this.partials[l - 3];
      k.gemmNT(delta, qPrev, gradLayers[l], r, h, h);
      k.gemmTN(layers[l], delta, spare, h, r, h);
      delta = spare;
      spare = spare === this.deltaA ? this.deltaB : this.deltaA;
    }
    gradLayers[1].set(delta.subarray(0, gradLayers[1].length));
  }
}

/**
 * The `component` parametrization of one CP factor: every column has its own chain,
 * a_r = M_{L,r} ⋯ M_{2,r} v_r, with v (d × R). Each M_l is stored d × d × R, the component
 * index innermost, so every kernel loop runs over R contiguous values (SIMD across components;
 * d = 10 rows were too short for it); vectors are d × R like the factor itself.
 */
export class ComponentChain {
  /** xs[l] = M_{l+1} ⋯ M_2 v for l ≥ 1 (xs[0] is v itself). */
  private readonly xs: Float64Array[];
  private readonly g: Float64Array;
  private readonly gSpare: Float64Array;
  private readonly squares: Float64Array;

  constructor(
    readonly d: number,
    readonly R: number,
    readonly depth: number,
  ) {
    this.xs = Array.from({ length: depth }, (_, l) => new Float64Array(l === 0 ? 0 : R * d));
    this.g = new Float64Array(R * d);
    this.gSpare = new Float64Array(R * d);
    this.squares = new Float64Array(depth).fill(Number.NaN);
  }

  /** layers = [v, M_2, …, M_L]; returns A (d × R). */
  forward(k: Kernels, layers: Float64Array[]): Float64Array {
    const { d, R } = this;
    let x = layers[0];
    for (let l = 1; l < this.depth; l++) {
      k.componentForward(layers[l], x, this.xs[l], R, d);
      x = this.xs[l];
    }
    return x;
  }

  /** Returns Σ ∂M_l² per layer as the kernels summed them while writing (NaN for v's, not summed). */
  backward(k: Kernels, layers: Float64Array[], gradOut: Float64Array, gradLayers: Float64Array[]): Float64Array {
    const { d, R } = this;
    if (this.depth === 1) {
      gradLayers[0].set(gradOut);
      return this.squares;
    }
    let g = gradOut;
    for (let l = this.depth - 1; l >= 1; l--) {
      const into = l === 1 ? gradLayers[0] : g === this.g ? this.gSpare : this.g;
      this.squares[l] = k.componentBackward(layers[l], l === 1 ? layers[0] : this.xs[l - 1], g, gradLayers[l], into, R, d);
      g = into;
    }
    return this.squares;
  }
}

/**
 * A layer M_l of the component chains: d × d × R, drawn and replayed in the reference script's
 * R × d × d order.
 */
export function componentLayer(name: string, d: number, R: number): ParamBlock {
  const layer = block(name, [d, d, R]);
  layer.reference = {
    shape: [R, d, d],
    copyIn(src, dst) {
      for (let r = 0; r < R; r++) for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) dst[(i * d + j) * R + r] = src[(r * d + i) * d + j];
    },
  };
  return layer;
}

/** out (cols × rows) = inᵀ for a rows × cols row-major matrix. */
export function transpose(input: Float64Array, out: Float64Array, rows: number, cols: number): void {
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[j * rows + i] = input[i * cols + j];
}
