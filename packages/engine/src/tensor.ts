// Dense C-order tensor helpers on Float64Array for evaluation-time code: clarity over speed.

import { jsKernels } from "./kernels/js.ts";
import type { Kernels } from "./kernels/types.ts";

export const product = (xs: readonly number[]): number => xs.reduce((p, x) => p * x, 1);

/** C-order strides of `dims`. */
export function strides(dims: readonly number[]): number[] {
  const s = new Array<number>(dims.length);
  let acc = 1;
  for (let n = dims.length - 1; n >= 0; n--) {
    s[n] = acc;
    acc *= dims[n];
  }
  return s;
}

/**
 * Full Kruskal tensor sum_r a_r^(1) ∘ … ∘ a_r^(N) from factors A^(n) (d_n × R, row-major).
 * Builds it mode by mode: T ← T ⊙ rows of the next factor (cost ~ prod(d)·R).
 */
export function kruskal(factors: readonly Float64Array[], dims: readonly number[], R: number): Float64Array {
  let partial = new Float64Array(factors[0]); // (d_0) × R
  let rows = dims[0];
  for (let n = 1; n < dims.length; n++) {
    const A = factors[n];
    const d = dims[n];
    const next = new Float64Array(rows * d * R);
    for (let p = 0; p < rows; p++) {
      for (let i = 0; i < d; i++) {
        const o = (p * d + i) * R;
        for (let r = 0; r < R; r++) next[o + r] = partial[p * R + r] * A[i * R + r];
      }
    }
    partial = next;
    rows *= d;
  }
  const out = new Float64Array(rows);
  for (let p = 0; p < rows; p++) {
    let s = 0;
    for (let r = 0; r < R; r++) s += partial[p * R + r];
    out[p] = s;
  }
  return out;
}

export function frobenius(x: Float64Array): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i] * x[i];
  return Math.sqrt(s);
}

/** ‖a − b‖_F */
export function distance(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i] - b[i];
    s += d * d;
  }
  return Math.sqrt(s);
}

/**
 * Mode-n product X ×_n M with M (rows × dims[n], row-major): the result has dims[n] replaced by rows.
 */
export function modeProduct(
  x: Float64Array,
  dims: readonly number[],
  n: number,
  m: Float64Array,
  rows: number,
): { data: Float64Array; dims: number[] } {
  const outDims = dims.slice();
  outDims[n] = rows;
  const before = product(dims.slice(0, n));
  const after = product(dims.slice(n + 1));
  const dn = dims[n];
  const out = new Float64Array(before * rows * after);
  for (let b = 0; b < before; b++) {
    for (let i = 0; i < rows; i++) {
      const o = (b * rows + i) * after;
      for (let k = 0; k < dn; k++) {
        const mik = m[i * dn + k];
        if (mik === 0) continue;
        const xi = (b * dn + k) * after;
        for (let a = 0; a < after; a++) out[o + a] += mik * x[xi + a];
      }
    }
  }
  return { data: out, dims: outDims };
}

/**
 * X_(n) Y_(n)^T for two tensors equal in every mode but n: a (dimsX[n] × dimsY[n]) matrix.
 */
export function contractAllButMode(
  x: Float64Array,
  dimsX: readonly number[],
  y: Float64Array,
  dimsY: readonly number[],
  n: number,
): Float64Array {
  const before = product(dimsX.slice(0, n));
  const after = product(dimsX.slice(n + 1));
  const p = dimsX[n];
  const q = dimsY[n];
  const out = new Float64Array(p * q);
  for (let b = 0; b < before; b++) {
    for (let i = 0; i < p; i++) {
      const xi = (b * p + i) * after;
      for (let j = 0; j < q; j++) {
        const yj = (b * q + j) * after;
        let s = 0;
        for (let a = 0; a < after; a++) s += x[xi + a] * y[yj + a];
        out[i * q + j] += s;
      }
    }
  }
  return out;
}

/** Gram matrix X_(n) X_(n)^T of the mode-n unfolding (dims[n] × dims[n]), through `kernels`. */
export function unfoldingGram(x: Float64Array, dims: readonly number[], n: number, kernels: Kernels = jsKernels): Float64Array {
  const out = new Float64Array(dims[n] * dims[n]);
  kernels.unfoldingGram(x, product(dims.slice(0, n)), dims[n], product(dims.slice(n + 1)), out);
  return out;
}
