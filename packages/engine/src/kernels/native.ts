// Loads the native kernels' addon and adapts it to the Kernels contract.
import { createRequire } from "node:module";
import type { Kernels } from "./types.ts";

/** The addon's raw functions (packages/engine/native/kernels.c). */
type Addon = {
  cpCompletion(
    R: number,
    outerModes: Int32Array,
    innerModes: Int32Array,
    outerRows: Int32Array,
    outerStart: Int32Array,
    innerRows: Int32Array,
    obsInner: Int32Array,
    obsValue: Float64Array,
    innerP: Float64Array,
    innerE: Float64Array,
    outerP: Float64Array,
    outerE: Float64Array,
    tmp: Float64Array,
    factors: Float64Array[],
    grads: Float64Array[],
  ): number;
  gemm(a: Float64Array, b: Float64Array, c: Float64Array, m: number, k: number, n: number, acc: boolean): void;
  gemmNT(a: Float64Array, b: Float64Array, c: Float64Array, m: number, k: number, n: number): void;
  gemmTN(a: Float64Array, b: Float64Array, c: Float64Array, m: number, k: number, n: number): void;
  componentForward(m: Float64Array, x: Float64Array, y: Float64Array, R: number, d: number): void;
  componentBackward(m: Float64Array, x: Float64Array, g: Float64Array, gradM: Float64Array, gx: Float64Array, R: number, d: number): number;
  khatriRaoRows(factors: Float64Array[], dims: Int32Array, R: number, start: number, count: number, out: Float64Array): void;
  unfoldingGram(x: Float64Array, before: number, p: number, after: number, out: Float64Array): void;
  symmetricEigenvalues(a: Float64Array, n: number, values: Float64Array): void;
  sumSquares(x: Float64Array): number;
  addSumSquares(s: number, scale: number, xs: Float64Array[]): number;
  axpyEach(alpha: number, xs: Float64Array[], ys: Float64Array[]): void;
  axpy(alpha: number, x: Float64Array, y: Float64Array): void;
};

let loaded: Kernels | null | undefined;
let loadError: unknown;

/** Where `npm run build` puts the addon. */
export const NATIVE_ADDON_PATH = new URL("../../build/dtf_kernels.node", import.meta.url).pathname;

/** The native kernels, or null when the addon was not built (see `nativeLoadError`). */
export function nativeKernels(): Kernels | null {
  if (loaded !== undefined) return loaded;
  try {
    loaded = kernelsFromAddon(NATIVE_ADDON_PATH);
  } catch (err) {
    loadError = err;
    loaded = null;
  }
  return loaded;
}

export function nativeLoadError(): unknown {
  nativeKernels();
  return loadError;
}

/** The kernels of the addon at `path` (throws when it does not load); benches compare builds with it. */
export function kernelsFromAddon(path: string): Kernels {
  const addon = createRequire(import.meta.url)(path) as Addon;
  return {
    name: "native",
    cpCompletion: (plan, factors, grads) =>
      addon.cpCompletion(
        plan.R,
        plan.outerModes,
        plan.innerModes,
        plan.outerRows,
        plan.outerStart,
        plan.innerRows,
        plan.obsInner,
        plan.obsValue,
        plan.innerP,
        plan.innerE,
        plan.outerP,
        plan.outerE,
        plan.tmp,
        factors,
        grads,
      ),
    gemm: addon.gemm,
    gemmNT: addon.gemmNT,
    gemmTN: addon.gemmTN,
    componentForward: addon.componentForward,
    componentBackward: addon.componentBackward,
    khatriRaoRows: addon.khatriRaoRows,
    unfoldingGram: addon.unfoldingGram,
    symmetricEigenvalues: addon.symmetricEigenvalues,
    sumSquares: addon.sumSquares,
    addSumSquares: addon.addSumSquares,
    axpyEach: addon.axpyEach,
    axpy: addon.axpy,
  };
}
