// Balanced initialisation across layers and modes.
import { symmetricEigen } from "../linalg.ts";
import type { RunSpec } from "../spec.ts";
import type { ParamBlock } from "./model.ts";

/**
 * The balanced initialisation the growth-law theory assumes (Arora et al. 2018; Razin et al.
 * 2021): draw each end-to-end factor A^(n) with i.i.d. N(0, init_std²) entries, then
 * - across modes: rescale the columns of each CP component to one common norm (the geometric
 *   mean), which leaves the component ⊗_n a_r^(n) unchanged;
 * - across layers: split A = U S Vᵀ as W_L = U S^{1/L}, W_l = S^{1/L}, W_1 = S^{1/L} Vᵀ, so that
 *   W_{l+1}ᵀ W_{l+1} = W_l W_lᵀ for every l and the product is A exactly.
 * Gradient flow conserves both balances, so the run starts on the theory's manifold.
 * Applies to CP (factor variant) and matrix models with width = dim (checked by the spec).
 */
export function balancedInit(spec: RunSpec, blocks: ParamBlock[], draw: () => number): void {
  const L = spec.depth;
  if (spec.model === "matrix") {
    const [rows, cols] = spec.dim;
    const a = Float64Array.from({ length: rows * cols }, () => draw() * spec.init_std);
    splitBalanced(a, rows, cols, blocks.map((b) => b.data));
    return;
  }
  const R = spec.components;
  const factors = spec.dim.map((d) => Float64Array.from({ length: d * R }, () => draw() * spec.init_std));
  balanceModes(factors, spec.dim, R);
  factors.forEach((a, n) => {
    splitBalanced(a, spec.dim[n], R, blocks.slice(n * L, (n + 1) * L).map((b) => b.data));
  });
}

/** Gives every column r of every factor the geometric mean of the columns' norms. */
export function balanceModes(factors: Float64Array[], dims: number[], R: number): void {
  for (let r = 0; r < R; r++) {
    const norms = factors.map((a, n) => {
      let s = 0;
      for (let i = 0; i < dims[n]; i++) s += a[i * R + r] ** 2;
      return Math.sqrt(s);
    });
    if (norms.some((x) => x === 0)) continue;
    const mean = Math.exp(norms.reduce((s, x) => s + Math.log(x), 0) / norms.length);
    factors.forEach((a, n) => {
      for (let i = 0; i < dims[n]; i++) a[i * R + r] *= mean / norms[n];
    });
  }
}

/**
 * Writes layers W_1 (h × cols), W_l (h × h), W_L (rows × h), h = rows, whose product is `a`
 * (rows × cols) and which are balanced. The SVD comes from the rows × rows Gram matrix.
 */
export function splitBalanced(a: Float64Array, rows: number, cols: number, layers: Float64Array[]): void {
  const L = layers.length;
  if (L === 1) {
    layers[0].set(a);
    return;
  }
  const gram = new Float64Array(rows * rows);
  for (let i = 0; i < rows; i++) {
    for (let j = i; j < rows; j++) {
      let s = 0;
      for (let c = 0; c < cols; c++) s += a[i * cols + c] * a[j * cols + c];
      gram[i * rows + j] = s;
      gram[j * rows + i] = s;
    }
  }
  const { values, vectors } = symmetricEigen(gram, rows, true);
  const u = vectors!;
  const h = rows;
  for (const w of layers) w.fill(0);
  const first = layers[0];
  const last = layers[L - 1];
  for (let k = 0; k < Math.min(rows, cols); k++) {
    const s = Math.sqrt(Math.max(0, values[k]));
    if (!(s > 1e-300)) continue;
    const root = s ** (1 / L);
    // row k of W_1 = s^{1/L} v_kᵀ with v_k = Aᵀ u_k / s
    for (let c = 0; c < cols; c++) {
      let proj = 0;
      for (let i = 0; i < rows; i++) proj += u[i * rows + k] * a[i * cols + c];
      first[k * cols + c] = (root * proj) / s;
    }
    for (let l = 1; l < L - 1; l++) layers[l][k * h + k] = root;
    for (let i = 0; i < rows; i++) last[i * h + k] = u[i * rows + k] * root;
  }
}
