// Small dense linear algebra for evaluation-time metrics: eigenvalues, SVD, effective ranks.

import type { Kernels } from "./kernels/types.ts";

/**
 * Eigen-decomposition of a symmetric n×n matrix by cyclic Jacobi rotations.
 * Returns eigenvalues in descending order and, if asked, eigenvectors as columns (row-major n×n).
 */
export function symmetricEigen(
  matrix: Float64Array,
  n: number,
  withVectors = false,
): { values: Float64Array; vectors: Float64Array | null } {
  const a = new Float64Array(matrix);
  const v = withVectors ? identity(n) : null;
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    let diag = 0;
    for (let i = 0; i < n; i++) {
      diag += a[i * n + i] * a[i * n + i];
      for (let j = i + 1; j < n; j++) off += a[i * n + j] * a[i * n + j];
    }
    if (off <= 1e-30 * diag || off === 0) break;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q];
        if (apq === 0) continue;
        const theta = (a[q * n + q] - a[p * n + p]) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = a[k * n + p];
          const akq = a[k * n + q];
          a[k * n + p] = c * akp - s * akq;
          a[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = a[p * n + k];
          const aqk = a[q * n + k];
          a[p * n + k] = c * apk - s * aqk;
          a[q * n + k] = s * apk + c * aqk;
        }
        if (v) {
          for (let k = 0; k < n; k++) {
            const vkp = v[k * n + p];
            const vkq = v[k * n + q];
            v[k * n + p] = c * vkp - s * vkq;
            v[k * n + q] = s * vkp + c * vkq;
          }
        }
      }
    }
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => a[j * n + j] - a[i * n + i]);
  const values = Float64Array.from(order, (i) => a[i * n + i]);
  let vectors: Float64Array | null = null;
  if (v) {
    vectors = new Float64Array(n * n);
    order.forEach((src, dst) => {
      for (let k = 0; k < n; k++) vectors![k * n + dst] = v[k * n + src];
    });
  }
  return { values, vectors };
}

function identity(n: number): Float64Array {
  const m = new Float64Array(n * n);
  for (let i = 0; i < n; i++) m[i * n + i] = 1;
  return m;
}

/**
 * Singular values (descending) from the eigenvalues of a Gram matrix; through `kernels` when
 * given (the native Jacobi gives the same bits, ~10× sooner), else `symmetricEigen`.
 */
export function singularValuesFromGram(gram: Float64Array, n: number, kernels?: Pick<Kernels, "symmetricEigenvalues">): Float64Array {
  let values: Float64Array;
  if (kernels) {
    values = new Float64Array(n);
    kernels.symmetricEigenvalues(new Float64Array(gram), n, values);
  } else values = symmetricEigen(gram, n).values;
  return values.map((x) => Math.sqrt(Math.max(0, x)));
}

/** Effective rank (Roy & Vetterli 2007): exp of the Shannon entropy of the normalised values. */
export function effectiveRank(values: ArrayLike<number>): number {
  let total = 0;
  for (let i = 0; i < values.length; i++) total += Math.abs(values[i]);
  if (total === 0) return 0;
  let h = 0;
  for (let i = 0; i < values.length; i++) {
    const p = Math.abs(values[i]) / total;
    if (p > 0) h -= p * Math.log(p);
  }
  return Math.exp(h);
}

/** Number of values above `relTol` times the largest. */
export function numericalRank(values: ArrayLike<number>, relTol: number): number {
  let max = 0;
  for (let i = 0; i < values.length; i++) max = Math.max(max, Math.abs(values[i]));
  if (max === 0) return 0;
  let count = 0;
  for (let i = 0; i < values.length; i++) if (Math.abs(values[i]) > relTol * max) count++;
  return count;
}

export type Svd = { values: Float64Array; u: Float64Array[]; v: Float64Array[] };

/**
 * Singular triplets of a rows × cols matrix (row-major), largest first, from the eigen-decomposition
 * of WᵀW (cols × cols): v_r its eigenvectors, u_r = W v_r / σ_r (zero for σ_r = 0). Precise enough
 * for metrics and the small matrices here; not for singular values near the square root of eps.
 */
export function svd(w: Float64Array, rows: number, cols: number): Svd {
  const gram = new Float64Array(cols * cols);
  for (let i = 0; i < rows; i++) {
    for (let a = 0; a < cols; a++) {
      const wa = w[i * cols + a];
      if (wa === 0) continue;
      for (let b = 0; b < cols; b++) gram[a * cols + b] += wa * w[i * cols + b];
    }
  }
  const { values, vectors } = symmetricEigen(gram, cols, true);
  const sigma = values.map((x) => Math.sqrt(Math.max(0, x)));
  const v = Array.from({ length: cols }, (_, r) => Float64Array.from({ length: cols }, (_, i) => vectors![i * cols + r]));
  const u = v.map((vr, r) => {
    const ur = new Float64Array(rows);
    for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) ur[i] += w[i * cols + j] * vr[j];
    return ur.map((x) => (sigma[r] > 0 ? x / sigma[r] : 0));
  });
  return { values: sigma, u, v };
}
