// Loads the native kernels' addon and adapts it to the Kernels contract.
import { createRequire } from "node:module";
import type { CpCompletionPlan, Kernels } from "./types.ts";

/**
 * The addon's functions: the Kernels contract itself (src/kernels/types.ts), except that
 * cpCompletion takes its plan's arrays one by one (native/kernels.c reads them positionally).
 */
type Addon = Omit<Kernels, "name" | "cpCompletion"> & {
  cpCompletion(R: number, ...planArrays: [...PlanArrays, Float64Array[], Float64Array[]]): number;
};
/** The plan's arrays in the addon's order (outerModes … tmp), typed from the plan itself. */
type PlanOrder = typeof PLAN_ORDER;
type PlanArrays = { -readonly [K in keyof PlanOrder]: PlanOrder[K] extends keyof CpCompletionPlan ? CpCompletionPlan[PlanOrder[K]] : never };
const PLAN_ORDER = ["outerModes", "innerModes", "outerRows", "outerStart", "innerRows", "obsInner", "obsValue", "innerP", "innerE", "outerP", "outerE", "tmp"] as const;

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
