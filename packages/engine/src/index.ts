// @dtf/engine's public entry.
export type { SpecIssue } from "./errors.ts";
export { ArgumentError, DtfError, SpecError } from "./errors.ts";
export type { ComponentGrowth, GrowthFit, GrowthSample } from "./growth.ts";
export { fitGrowthLaw, GrowthTrace, MIN_FIT_POINTS } from "./growth.ts";
export { jsKernels } from "./kernels/js.ts";
export { nativeKernels } from "./kernels/native.ts";
export type { Kernels } from "./kernels/types.ts";
export { componentCount, LIMITS, parameterCount } from "./limits.ts";
export type { MetricPoint } from "./metrics.ts";
export { contractRankOne } from "./metrics.ts";
export type { Model, ParamBlock } from "./models/index.ts";
export { createModel } from "./models/index.ts";
export type { Problem } from "./problem.ts";
export { makeProblem } from "./problem.ts";
export type { ReplayData } from "./replay.ts";
export type { RunSpec, RunSpecInput } from "./spec.ts";
export {
  checkField,
  DEFAULT_GROWTH_WINDOW,
  didYouMean,
  ENGINES,
  INIT_MODES,
  MODELS,
  OPTIMIZERS,
  PROBLEMS,
  RUN_SPEC_FIELDS,
  RUN_SPEC_KEYS,
  resolveRunSpec,
  VARIANTS,
} from "./spec.ts";
export type { RunStatus, StopReason, TrainOptions, TrainResult } from "./train.ts";
export { EngineUnavailableError, setupRun, train } from "./train.ts";
