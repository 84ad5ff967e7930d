// The Kernels contract every training step goes through (TypeScript and native implementations).
/**
 * The hot-path kernels every training step goes through. Two implementations share this
 * contract: `jsKernels` (TypeScript, the portable fallback) and the native addon (C, the same
 * operation order, so both give bit-identical results). Reductions use 8 independent lane
 * accumulators combined in a fixed tree, which makes the result independent of SIMD width.
 */
export type CpCompletionPlan = {
  R: number;
  /** Modes of the outer group (observations are sorted by its rows) and of the inner group. */
  outerModes: Int32Array;
  innerModes: Int32Array;
  /** Distinct outer multi-indices (rows × outer group size), in observation order. */
  outerRows: Int32Array;
  /** Observations of outer row t are [outerStart[t], outerStart[t + 1]). */
  outerStart: Int32Array;
  /** Distinct inner multi-indices (rows × inner group size). */
  innerRows: Int32Array;
  /** Per sorted observation: its inner row, and its observed value. */
  obsInner: Int32Array;
  obsValue: Float64Array;
  /** Scratch: inner rows' products and residual-weighted sums (rows × R); outer row's (R). */
  innerP: Float64Array;
  innerE: Float64Array;
  outerP: Float64Array;
  outerE: Float64Array;
  /** Scratch for a per-mode product, R. */
  tmp: Float64Array;
};

export interface Kernels {
  readonly name: "js" | "native";
  /**
   * Mean squared error over the observed entries of the Kruskal tensor of `factors`
   * (each d_n × R, row-major) and its gradient w.r.t. each factor, written into `grads`.
   */
  cpCompletion(plan: CpCompletionPlan, factors: Float64Array[], grads: Float64Array[]): number;
  /** C = A·B (accumulate: C += A·B); A m×k, B k×n. */
  gemm(a: Float64Array, b: Float64Array, c: Float64Array, m: number, k: number, n: number, accumulate: boolean): void;
  /** C = A·Bᵀ; A m×k, B n×k (a dot product over k per entry). */
  gemmNT(a: Float64Array, b: Float64Array, c: Float64Array, m: number, k: number, n: number): void;
  /** C = Aᵀ·B; A k×m, B k×n. */
  gemmTN(a: Float64Array, b: Float64Array, c: Float64Array, m: number, k: number, n: number): void;
  /**
   * Component chains, the component index innermost: for every r, y_r = M_r x_r, i.e.
   * y[i][r] = Σ_j M[i][j][r]·x[j][r] (summed in j order), M d × d × R, x and y d × R.
   */
  componentForward(m: Float64Array, x: Float64Array, y: Float64Array, R: number, d: number): void;
  /**
   * Back through one layer of component chains, in one pass over M: gradM[i][j][r] = g[i][r]·x[j][r]
   * and gx[j][r] = Σ_i M[i][j][r]·g[i][r] (summed in i order). gx must not alias g. Returns
   * Σ gradM² with `sumSquares`' bits, summed while each row is still in cache, so GroupRMSprop
   * need not read gradM again.
   */
  componentBackward(m: Float64Array, x: Float64Array, g: Float64Array, gradM: Float64Array, gx: Float64Array, R: number, d: number): number;
  /**
   * Rows [start, start + count) of the Khatri–Rao product of `factors` (each dims[n] × R; rows are
   * multi-indices, the last factor's fastest): out[b][r] = ∏_n factors[n][i_n][r], multiplied in
   * factor order.
   */
  khatriRaoRows(factors: Float64Array[], dims: Int32Array, R: number, start: number, count: number, out: Float64Array): void;
  /**
   * Gram matrix of the mode-n unfolding of a tensor seen as before × p × after: out (p × p) =
   * Σ_c x_c x_cᵀ over the unfolding's columns c = (b, a) in that order, each entry summed in c order.
   */
  unfoldingGram(x: Float64Array, before: number, p: number, after: number, out: Float64Array): void;
  /**
   * Eigenvalues, descending, of the symmetric n × n matrix `a` (which it may overwrite), by
   * cyclic Jacobi rotations exactly as `symmetricEigen` in src/linalg.ts.
   */
  symmetricEigenvalues(a: Float64Array, n: number, values: Float64Array): void;
  /** Σ x_i² */
  sumSquares(x: Float64Array): number;
  /** s + scale·Σ‖x_0‖² + scale·Σ‖x_1‖² + …, added block by block in that order (one call for all blocks). */
  addSumSquares(s: number, scale: number, xs: Float64Array[]): number;
  /** y_i ← y_i + alpha·x_i for every block i (one call for all blocks). */
  axpyEach(alpha: number, xs: Float64Array[], ys: Float64Array[]): void;
  /** y ← y + alpha·x */
  axpy(alpha: number, x: Float64Array, y: Float64Array): void;
}
