// The TypeScript kernels: the portable set, bit-identical to the native ones.
import { symmetricEigen } from "../linalg.ts";
import type { CpCompletionPlan, Kernels } from "./types.ts";

/** Dot product with 8 lane accumulators and a fixed combine tree (same order as the C kernel). */
export function dot(a: Float64Array, ao: number, b: Float64Array, bo: number, n: number): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let s4 = 0;
  let s5 = 0;
  let s6 = 0;
  let s7 = 0;
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    s0 += a[ao + i] * b[bo + i];
    s1 += a[ao + i + 1] * b[bo + i + 1];
    s2 += a[ao + i + 2] * b[bo + i + 2];
    s3 += a[ao + i + 3] * b[bo + i + 3];
    s4 += a[ao + i + 4] * b[bo + i + 4];
    s5 += a[ao + i + 5] * b[bo + i + 5];
    s6 += a[ao + i + 6] * b[bo + i + 6];
    s7 += a[ao + i + 7] * b[bo + i + 7];
  }
  const rest = n - i;
  if (rest > 0) s0 += a[ao + i] * b[bo + i];
  if (rest > 1) s1 += a[ao + i + 1] * b[bo + i + 1];
  if (rest > 2) s2 += a[ao + i + 2] * b[bo + i + 2];
  if (rest > 3) s3 += a[ao + i + 3] * b[bo + i + 3];
  if (rest > 4) s4 += a[ao + i + 4] * b[bo + i + 4];
  if (rest > 5) s5 += a[ao + i + 5] * b[bo + i + 5];
  if (rest > 6) s6 += a[ao + i + 6] * b[bo + i + 6];
  return s0 + s1 + (s2 + s3) + (s4 + s5 + (s6 + s7));
}

/** y[yo..yo+n) += alpha · x[xo..xo+n) */
function axpyAt(alpha: number, x: Float64Array, xo: number, y: Float64Array, yo: number, n: number): void {
  for (let i = 0; i < n; i++) y[yo + i] += alpha * x[xo + i];
}

/** out[oo..oo+R) = ∘ over the group's modes of A^(m)[i_m] for group row t, in mode order. */
function rowProduct(rows: Int32Array, t: number, modes: Int32Array, factors: Float64Array[], R: number, out: Float64Array, oo: number) {
  const s = modes.length;
  const first = factors[modes[0]];
  const f0 = rows[t * s] * R;
  for (let r = 0; r < R; r++) out[oo + r] = first[f0 + r];
  for (let u = 1; u < s; u++) {
    const f = factors[modes[u]];
    const fo = rows[t * s + u] * R;
    for (let r = 0; r < R; r++) out[oo + r] *= f[fo + r];
  }
}

/** For every mode m of the group: G^(m)[i_m] += e ∘ (∘ over the group's other modes of A^(m')[i_m']). */
function scatterRow(
  rows: Int32Array,
  t: number,
  modes: Int32Array,
  e: Float64Array,
  eo: number,
  factors: Float64Array[],
  grads: Float64Array[],
  R: number,
  tmp: Float64Array,
) {
  const s = modes.length;
  for (let u = 0; u < s; u++) {
    const g = grads[modes[u]];
    const go = rows[t * s + u] * R;
    if (s === 1) {
      for (let r = 0; r < R; r++) g[go + r] += e[eo + r];
      continue;
    }
    for (let r = 0; r < R; r++) tmp[r] = e[eo + r];
    for (let w = 0; w < s; w++) {
      if (w === u) continue;
      const f = factors[modes[w]];
      const fo = rows[t * s + w] * R;
      for (let r = 0; r < R; r++) tmp[r] *= f[fo + r];
    }
    for (let r = 0; r < R; r++) g[go + r] += tmp[r];
  }
}

const indexScratch: Int32Array[] = [];
/** A reused multi-index of N offsets (no allocation per row). */
function tmpIndex(N: number): Int32Array {
  indexScratch[N] ??= new Int32Array(N);
  return indexScratch[N];
}

export const jsKernels: Kernels = {
  name: "js",

  cpCompletion(plan: CpCompletionPlan, factors: Float64Array[], grads: Float64Array[]): number {
    const { R, outerModes, innerModes, innerP, innerE, outerP, outerE, tmp, obsInner, obsValue } = plan;
    const innerCount = plan.innerRows.length / innerModes.length;
    for (let t = 0; t < innerCount; t++) rowProduct(plan.innerRows, t, innerModes, factors, R, innerP, t * R);
    innerE.fill(0);
    for (const g of grads) g.fill(0);
    const m = obsValue.length;
    const c = 2 / m;
    let loss = 0;
    const outerCount = plan.outerStart.length - 1;
    for (let t = 0; t < outerCount; t++) {
      rowProduct(plan.outerRows, t, outerModes, factors, R, outerP, 0);
      outerE.fill(0);
      for (let k = plan.outerStart[t]; k < plan.outerStart[t + 1]; k++) {
        const io = obsInner[k] * R;
        const residual = dot(innerP, io, outerP, 0, R) - obsValue[k];
        loss += residual * residual;
        const e = c * residual;
        axpyAt(e, outerP, 0, innerE, io, R);
        axpyAt(e, innerP, io, outerE, 0, R);
      }
      scatterRow(plan.outerRows, t, outerModes, outerE, 0, factors, grads, R, tmp);
    }
    for (let t = 0; t < innerCount; t++) scatterRow(plan.innerRows, t, innerModes, innerE, t * R, factors, grads, R, tmp);
    return loss / m;
  },

  gemm(a, b, c, m, k, n, accumulate) {
    if (!accumulate) c.fill(0, 0, m * n);
    for (let i = 0; i < m; i++) {
      for (let p = 0; p < k; p++) axpyAt(a[i * k + p], b, p * n, c, i * n, n);
    }
  },

  gemmNT(a, b, c, m, k, n) {
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) c[i * n + j] = dot(a, i * k, b, j * k, k);
    }
  },

  gemmTN(a, b, c, m, k, n) {
    c.fill(0, 0, m * n);
    for (let p = 0; p < k; p++) {
      for (let i = 0; i < m; i++) axpyAt(a[p * m + i], b, p * n, c, i * n, n);
    }
  },

  componentForward(m, x, y, R, d) {
    for (let i = 0; i < d; i++) {
      const yo = i * R;
      const mo = i * d * R;
      for (let r = 0; r < R; r++) y[yo + r] = m[mo + r] * x[r];
      for (let j = 1; j < d; j++) {
        const mj = mo + j * R;
        const xj = j * R;
        for (let r = 0; r < R; r++) y[yo + r] += m[mj + r] * x[xj + r];
      }
    }
  },

  componentBackward(m, x, g, gradM, gx, R, d) {
    for (let i = 0; i < d; i++) {
      const gi = i * R;
      for (let j = 0; j < d; j++) {
        const o = (i * d + j) * R;
        const xj = j * R;
        if (i === 0) for (let r = 0; r < R; r++) gx[xj + r] = m[o + r] * g[gi + r];
        else for (let r = 0; r < R; r++) gx[xj + r] += m[o + r] * g[gi + r];
        for (let r = 0; r < R; r++) gradM[o + r] = g[gi + r] * x[xj + r];
      }
    }
    return dot(gradM, 0, gradM, 0, d * d * R);
  },

  khatriRaoRows(factors, dims, R, start, count, out) {
    const N = factors.length;
    const index = tmpIndex(N);
    for (let b = 0; b < count; b++) {
      let rest = start + b;
      for (let n = N - 1; n >= 0; n--) {
        index[n] = (rest % dims[n]) * R;
        rest = Math.floor(rest / dims[n]);
      }
      const o = b * R;
      const f0 = factors[0];
      const i0 = index[0];
      for (let r = 0; r < R; r++) out[o + r] = f0[i0 + r];
      for (let n = 1; n < N; n++) {
        const f = factors[n];
        const fo = index[n];
        for (let r = 0; r < R; r++) out[o + r] *= f[fo + r];
      }
    }
  },

  unfoldingGram(x, before, p, after, out) {
    out.fill(0, 0, p * p);
    for (let b = 0; b < before; b++) {
      for (let a = 0; a < after; a++) {
        const c = b * p * after + a;
        for (let i = 0; i < p; i++) {
          const xi = x[c + i * after];
          const oi = i * p;
          for (let j = i; j < p; j++) out[oi + j] += xi * x[c + j * after];
        }
      }
    }
    for (let i = 1; i < p; i++) for (let j = 0; j < i; j++) out[i * p + j] = out[j * p + i];
  },

  symmetricEigenvalues(a, n, values) {
    values.set(symmetricEigen(a, n).values);
  },

  sumSquares(x) {
    return dot(x, 0, x, 0, x.length);
  },

  addSumSquares(s, scale, xs) {
    for (const x of xs) s += scale * dot(x, 0, x, 0, x.length);
    return s;
  },

  axpyEach(alpha, xs, ys) {
    for (let i = 0; i < xs.length; i++) axpyAt(alpha, xs[i], 0, ys[i], 0, xs[i].length);
  },

  axpy(alpha, x, y) {
    axpyAt(alpha, x, 0, y, 0, x.length);
  },
};
