// @dtf/engine/internal: the engine's parts that benchmarks time one by one (not for other packages).
export { kernelsFromAddon, NATIVE_ADDON_PATH } from "./kernels/native.ts";
export { planCpCompletion } from "./kernels/plan.ts";
export { GradientStep, makeOptimizer } from "./optimizers.ts";
export { rngStream, sampleWithoutReplacement } from "./rng.ts";
