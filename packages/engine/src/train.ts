// train(): one training run from a spec to its result, with evaluations and stop rules.
import { DtfError } from "./errors.ts";
import { type ComponentGrowth, GrowthTrace } from "./growth.ts";
import { jsKernels } from "./kernels/js.ts";
import { nativeKernels, nativeLoadError } from "./kernels/native.ts";
import type { Kernels } from "./kernels/types.ts";
import { evaluate, growthSample, type MetricPoint } from "./metrics.ts";
import { balancedInit } from "./models/balanced.ts";
import { createModel } from "./models/index.ts";
import type { Model } from "./models/model.ts";
import { initGaussian } from "./models/model.ts";
import { GradientStep, makeOptimizer } from "./optimizers.ts";
import { makeProblem, type Problem } from "./problem.ts";
import { checkReplay, loadReplayParams, type ReplayData, replayProblem, replaySpecInput } from "./replay.ts";
import { rngStream } from "./rng.ts";
import { type RunSpec, type RunSpecInput, resolveRunSpec } from "./spec.ts";

export type RunStatus = "ok" | "diverged" | "cancelled";
export type StopReason = "max_steps" | "converged" | "diverged" | "cancelled";

export type TrainResult = MetricPoint & {
  status: RunStatus;
  stop_reason: StopReason;
  /** Steps taken (updates applied). */
  steps: number;
  /** First evaluated step at which recon_error fell below each threshold (key: the threshold), or null. */
  threshold_steps: Record<string, number | null>;
  /** The engine that computed the gradients: native, js or tfjs. */
  engine: string;
  spec: RunSpec;
  /** Growth-law fits of the top_k components by final norm (traced runs only; empty otherwise). */
  growth: ComponentGrowth[];
};

export type TrainOptions = {
  /** Called with every evaluation, in step order (step 0 is the initialisation). */
  onMetrics?: (point: MetricPoint) => void;
  /** Aborting ends the run at the next evaluation with status `cancelled`. */
  signal?: AbortSignal;
  /** Take ground truth, observations and initial parameters from a reference dump. */
  replay?: ReplayData;
};

/** The error raised when a run asks for an engine this process cannot provide. */
export class EngineUnavailableError extends DtfError {}

function selectKernels(spec: RunSpec): Kernels {
  if (spec.engine === "js") return jsKernels;
  const native = nativeKernels();
  if (spec.engine === "native" && !native) {
    throw new EngineUnavailableError("engine native: the addon is not built (run `npm run build`)", {
      cause: nativeLoadError(),
    });
  }
  return native ?? jsKernels;
}

/** Builds the problem, the model and its initial parameters for a resolved spec. */
export async function setupRun(
  spec: RunSpec,
  replay?: ReplayData,
): Promise<{ problem: Problem; model: Model; engine: string; kernels: Kernels }> {
  const kernels = selectKernels(spec);
  if (replay) checkReplay(spec, replay);
  const problem = replay ? replayProblem(replay) : makeProblem(spec);
  let model = createModel(spec, kernels, problem);
  if (replay) loadReplayParams(replay, model.params);
  else {
    const rng = rngStream(spec.seed, "init");
    if (spec.init_mode === "balanced") balancedInit(spec, model.params, () => rng.normal());
    else initGaussian(model.params, model.initStds(), () => rng.normal());
  }
  let engine = kernels.name as string;
  if (spec.engine === "tfjs") {
    const { withTfjsGradients } = await import("./tfjs/engine.ts");
    model = await withTfjsGradients(model, spec, problem);
    engine = "tfjs";
  }
  return { problem, model, engine, kernels };
}

const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * Trains one run. Same spec (and seed) gives bit-identical metrics. Never throws for numerical
 * trouble: a NaN/Inf or blown-up loss ends the run with status `diverged`. Throws SpecError for
 * an invalid spec and EngineUnavailableError for an engine that cannot load.
 */
export async function train(input: RunSpecInput, options: TrainOptions = {}): Promise<TrainResult> {
  const spec = resolveRunSpec(options.replay ? replaySpecInput(input, options.replay) : input);
  const started = performance.now();
  const elapsed = () => performance.now() - started;
  const { problem, model, engine, kernels } = await setupRun(spec, options.replay);
  const gradientStep = new GradientStep(model, makeOptimizer(spec, kernels));

  const thresholdSteps: Record<string, number | null> = Object.fromEntries(spec.thresholds.map((t) => [String(t), null]));
  let last = evaluate(model, problem, spec, kernels, 0, elapsed());
  const record = (point: MetricPoint) => {
    last = point;
    for (const t of spec.thresholds) {
      if (thresholdSteps[String(t)] === null && point.recon_error < t) thresholdSteps[String(t)] = point.step;
    }
    options.onMetrics?.(point);
  };
  record(last);
  const trace = spec.trace_every === undefined ? null : new GrowthTrace();
  trace?.record(0, ...growthSample(model, problem, kernels));

  let initialLoss = Number.NaN;
  let belowTol = 0;
  let step = 0;
  let stop: StopReason = "max_steps";
  while (step < spec.steps) {
    const loss = model.iterate ? model.iterate() : gradientStep.gradients();
    if (Number.isNaN(initialLoss)) initialLoss = loss;
    if (!Number.isFinite(loss) || loss > spec.diverge_factor * Math.max(initialLoss, Number.MIN_VALUE)) {
      stop = "diverged";
      break;
    }
    if (!model.iterate) gradientStep.update();
    step++;
    if (trace && step % spec.trace_every! === 0) trace.record(step, ...growthSample(model, problem, kernels));
    if (step % spec.eval_every === 0 || step === spec.steps) {
      const point = evaluate(model, problem, spec, kernels, step, elapsed());
      record(point);
      if (!Number.isFinite(point.train_loss) || !Number.isFinite(point.recon_error)) {
        stop = "diverged";
        break;
      }
      belowTol = point.train_loss < spec.stop_tol ? belowTol + 1 : 0;
      if (belowTol >= spec.stop_patience) {
        stop = "converged";
        break;
      }
      if (options.signal) {
        await yieldToEventLoop();
        if (options.signal.aborted) {
          stop = "cancelled";
          break;
        }
      }
    }
  }
  if (last.step !== step) record(evaluate(model, problem, spec, kernels, step, elapsed()));
  const status: RunStatus = stop === "diverged" ? "diverged" : stop === "cancelled" ? "cancelled" : "ok";
  return {
    ...last,
    wall_ms: elapsed(),
    status,
    stop_reason: stop,
    steps: step,
    threshold_steps: thresholdSteps,
    engine,
    spec,
    growth: trace ? trace.fit(spec.top_k, spec.lr, windowOf(spec)) : [],
  };
}

/** The growth-law window in norm units: the spec's fractions of the target norm. */
function windowOf(spec: RunSpec): [number, number] {
  const [lo, hi] = spec.growth_window!;
  return [lo * spec.target_norm, hi * spec.target_norm];
}
