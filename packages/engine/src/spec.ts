// The run spec: one table of fields drives validation, defaults, CLI flags and help.
import { SpecError, type SpecIssue } from "./errors.ts";
import { checkFootprint, LIMITS } from "./limits.ts";

export const MODELS = ["cp", "tucker", "matrix", "nuclear"] as const;
export const VARIANTS = ["factor", "component"] as const;
export const PROBLEMS = ["completion", "sensing"] as const;
export const OPTIMIZERS = ["gd", "grouprmsprop", "adam"] as const;
export const INIT_MODES = ["per_layer", "end_to_end", "balanced"] as const;
export const ENGINES = ["auto", "native", "js", "tfjs"] as const;

export type ModelName = (typeof MODELS)[number];
export type Variant = (typeof VARIANTS)[number];
export type ProblemKind = (typeof PROBLEMS)[number];
export type OptimizerName = (typeof OPTIMIZERS)[number];
export type InitMode = (typeof INIT_MODES)[number];
export type EngineName = (typeof ENGINES)[number];

/** A fully resolved run spec: every default filled in, lists expanded per mode. */
export type RunSpec = {
  model: ModelName;
  /** Deep CP parametrization: one chain per mode (`factor`) or one chain per component vector (`component`). */
  variant: Variant;
  order: number;
  /** Mode sizes, one per mode. */
  dim: number[];
  /** Matrices per factor (L); 1 is the shallow model. */
  depth: number;
  /** Hidden width of the deep factors, one per mode (default: the mode size). */
  width: number[];
  /** CP components R (default prod(dim)/max(dim), i.e. unconstrained). */
  components: number;
  /** Tucker core size per mode (default: the mode sizes). */
  core_rank: number[];
  problem: ProblemKind;
  target_rank: number;
  target_norm: number;
  /** Observed entries (completion) or Gaussian measurements (sensing). */
  observations: number;
  /** Per-layer init std (`per_layer`) or the end-to-end entry std it should produce (`end_to_end`). */
  init_std: number;
  init_mode: InitMode;
  optimizer: OptimizerName;
  lr: number;
  steps: number;
  eval_every: number;
  seed: number;
  engine: EngineName;
  /** Converged when train MSE < stop_tol for stop_patience consecutive evaluations. */
  stop_tol: number;
  stop_patience: number;
  /** Diverged when the train loss exceeds diverge_factor × its initial value (or is not finite). */
  diverge_factor: number;
  /** How many of the largest components / singular values are reported. */
  top_k: number;
  /** Reconstruction-error thresholds whose first crossing step is recorded. */
  thresholds: number[];
  /** GroupRMSprop / Adam epsilon (GroupRMSprop default 1e-6 as Razin et al.; Adam 1e-8). */
  eps: number;
  /**
   * Steps between growth-trace samples (norm and γ of every component), for the growth-law fit;
   * absent: no trace. Plain GD only. Optional keys are left out of the resolved spec when not
   * given, so the run ids of specs written before they existed do not change.
   */
  trace_every?: number;
  /** Component norms, as fractions of target_norm, between which the growth law is fitted. */
  growth_window?: [number, number];
};

/** The growth-law window when a traced spec names none: well above init, well below saturation. */
export const DEFAULT_GROWTH_WINDOW: [number, number] = [0.01, 0.3];

export type RunSpecInput = Partial<Record<keyof RunSpec, unknown>> & Record<string, unknown>;

type FieldKind =
  | { type: "enum"; values: readonly string[] }
  | { type: "int"; min: number; max: number }
  | { type: "number"; positive: boolean; max: number }
  | { type: "intList"; min: number; max: number }
  | { type: "numberList"; max: number; maxLength: number };

/** Every run-spec key with its type; the single source for validation, CLI help and sweep keys. */
export const RUN_SPEC_FIELDS: Record<keyof RunSpec, FieldKind & { help: string }> = {
  model: { type: "enum", values: MODELS, help: "factorization (nuclear: the nuclear-norm minimisation baseline, matrices)" },
  variant: { type: "enum", values: VARIANTS, help: "deep CP parametrization" },
  order: { type: "int", min: 2, max: LIMITS.order, help: "tensor order N" },
  dim: { type: "intList", min: 1, max: LIMITS.entries, help: "mode size, one value or one per mode" },
  depth: { type: "int", min: 1, max: LIMITS.depth, help: "matrices per factor (L)" },
  width: { type: "intList", min: 1, max: LIMITS.parameters, help: "hidden width of deep factors (default: mode size)" },
  components: { type: "int", min: 1, max: LIMITS.parameters, help: "CP components R (default prod(dim)/max(dim))" },
  core_rank: { type: "intList", min: 1, max: LIMITS.parameters, help: "Tucker core size per mode (default: dim)" },
  problem: { type: "enum", values: PROBLEMS, help: "training data" },
  target_rank: { type: "int", min: 1, max: LIMITS.parameters, help: "CP rank of the ground truth" },
  target_norm: { type: "number", positive: true, max: 1e12, help: "Frobenius norm of the ground truth" },
  observations: { type: "int", min: 1, max: LIMITS.entries, help: "observed entries / measurements (default half the entries)" },
  init_std: { type: "number", positive: true, max: 1e6, help: "init std (see init_mode)" },
  init_mode: { type: "enum", values: INIT_MODES, help: "per_layer std, or the end-to-end factor's std (end_to_end; balanced: also balanced layers and modes)" },
  optimizer: { type: "enum", values: OPTIMIZERS, help: "update rule" },
  lr: { type: "number", positive: true, max: 1e6, help: "learning rate" },
  steps: { type: "int", min: 1, max: LIMITS.steps, help: "maximum steps" },
  eval_every: { type: "int", min: 1, max: LIMITS.steps, help: "steps between evaluations" },
  seed: { type: "int", min: 0, max: LIMITS.seed, help: "data and init seed" },
  engine: { type: "enum", values: ENGINES, help: "gradient engine" },
  stop_tol: { type: "number", positive: false, max: 1e300, help: "train-MSE convergence tolerance" },
  stop_patience: { type: "int", min: 1, max: LIMITS.steps, help: "evaluations below stop_tol to stop" },
  diverge_factor: { type: "number", positive: true, max: 1e300, help: "loss blow-up factor that means divergence" },
  top_k: { type: "int", min: 1, max: LIMITS.topK, help: "largest components reported" },
  thresholds: { type: "numberList", max: 1e300, maxLength: LIMITS.thresholds, help: "recon-error thresholds to time" },
  eps: { type: "number", positive: true, max: 1, help: "optimizer epsilon" },
  trace_every: { type: "int", min: 1, max: LIMITS.steps, help: "steps between growth-trace samples (plain GD; absent: no trace)" },
  growth_window: { type: "numberList", max: 1e6, maxLength: 2, help: "growth-law fit window [lo, hi], fractions of target_norm" },
};

export const RUN_SPEC_KEYS = Object.keys(RUN_SPEC_FIELDS) as (keyof RunSpec)[];

/** Levenshtein distance, for "did you mean" hints. */
export function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return row[b.length];
}

/** The closest of `candidates` to `word`, when it is close enough to be a likely typo. */
export function didYouMean(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestDistance) {
      bestDistance = d;
      best = c;
    }
  }
  return bestDistance <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

function describe(value: unknown): string {
  return typeof value === "string" ? `"${value}"` : JSON.stringify(value);
}

/** Checks one value against its field kind; returns the issues (paths relative to `path`). */
export function checkField(key: keyof RunSpec, value: unknown, path: string): SpecIssue[] {
  const field = RUN_SPEC_FIELDS[key];
  const issues: SpecIssue[] = [];
  const isInt = (v: unknown): v is number => typeof v === "number" && Number.isInteger(v);
  switch (field.type) {
    case "enum":
      if (typeof value !== "string" || !field.values.includes(value)) {
        issues.push({ path, message: `must be one of ${field.values.join(", ")}, got ${describe(value)}` });
      }
      break;
    case "int":
      if (!isInt(value) || value < field.min || value > field.max) {
        issues.push({ path, message: `must be an integer from ${field.min} to ${field.max}, got ${describe(value)}` });
      }
      break;
    case "number":
      if (typeof value !== "number" || !Number.isFinite(value) || (field.positive ? value <= 0 : value < 0) || value > field.max) {
        issues.push({
          path,
          message: `must be a finite number ${field.positive ? "> 0" : ">= 0"} and <= ${field.max}, got ${describe(value)}`,
        });
      }
      break;
    case "intList": {
      const list = Array.isArray(value) ? value : [value];
      if (list.length === 0) issues.push({ path, message: "must not be empty" });
      if (list.length > LIMITS.order) issues.push({ path, message: `has ${list.length} entries, more than the largest order ${LIMITS.order}` });
      else
        list.forEach((v, i) => {
          if (!isInt(v) || v < field.min || v > field.max) {
            const where = Array.isArray(value) ? `${path}[${i}]` : path;
            issues.push({ path: where, message: `must be an integer from ${field.min} to ${field.max}, got ${describe(v)}` });
          }
        });
      break;
    }
    case "numberList": {
      const list = Array.isArray(value) ? value : [value];
      if (list.length > field.maxLength) issues.push({ path, message: `has ${list.length} entries, at most ${field.maxLength} allowed` });
      else
        list.forEach((v, i) => {
          if (typeof v !== "number" || !Number.isFinite(v) || v <= 0 || v > field.max) {
            issues.push({ path: `${path}[${i}]`, message: `must be a finite number > 0, got ${describe(v)}` });
          }
        });
      break;
    }
  }
  return issues;
}

const product = (xs: number[]): number => xs.reduce((p, x) => p * x, 1);

function perMode(value: unknown, order: number, fallback: number[]): number[] {
  if (value === undefined) return fallback;
  return Array.isArray(value) ? (value as number[]) : Array.from({ length: order }, () => value as number);
}

/**
 * Validates a run spec and fills in its defaults. Every problem is reported at once in one
 * SpecError whose issues name the field (`prefix` is put before each path, e.g. `base.`).
 */
export function resolveRunSpec(input: RunSpecInput, prefix = ""): RunSpec {
  const issues: SpecIssue[] = [];
  const at = (key: string) => `${prefix}${key}`;
  for (const key of Object.keys(input)) {
    if (!(key in RUN_SPEC_FIELDS)) {
      const hint = didYouMean(key, RUN_SPEC_KEYS);
      issues.push({ path: at(key), message: `unknown key${hint ? ` (did you mean '${hint}'?)` : ""}` });
    }
  }
  for (const key of RUN_SPEC_KEYS) {
    if (input[key] !== undefined) issues.push(...checkField(key, input[key], at(key)));
  }
  if (issues.length > 0) throw new SpecError(issues);

  const model = (input.model ?? "cp") as ModelName;
  const matrixLike = model === "matrix" || model === "nuclear";
  const order = (input.order ?? (matrixLike ? 2 : 3)) as number;
  const dimInput = input.dim ?? 10;
  const dim = perMode(dimInput, order, []);
  if (Array.isArray(dimInput) && dim.length !== order) {
    issues.push({ path: at("dim"), message: `has ${dim.length} entries but order is ${order}` });
  }
  if (matrixLike && order !== 2) {
    issues.push({ path: at("order"), message: `must be 2 for model ${model}, got ${order}` });
  }
  const width = perMode(input.width, order, dim);
  if (Array.isArray(input.width) && width.length !== order) {
    issues.push({ path: at("width"), message: `has ${width.length} entries but order is ${order}` });
  }
  const coreRank = perMode(input.core_rank, order, dim);
  if (Array.isArray(input.core_rank) && coreRank.length !== order) {
    issues.push({ path: at("core_rank"), message: `has ${coreRank.length} entries but order is ${order}` });
  }
  if (issues.length > 0) throw new SpecError(issues);

  const entries = product(dim);
  const maxRank = matrixLike ? Math.min(...dim) : Math.floor(entries / Math.max(...dim));
  const problem = (input.problem ?? "completion") as ProblemKind;
  const spec: RunSpec = {
    model,
    variant: (input.variant ?? "factor") as Variant,
    order,
    dim,
    depth: (input.depth ?? 1) as number,
    width,
    components: (input.components ?? Math.floor(entries / Math.max(...dim))) as number,
    core_rank: coreRank,
    problem,
    target_rank: (input.target_rank ?? Math.min(2, maxRank)) as number,
    target_norm: (input.target_norm ?? 1) as number,
    observations: (input.observations ?? Math.max(1, Math.floor(entries / 2))) as number,
    init_std: (input.init_std ?? 0.01) as number,
    init_mode: (input.init_mode ?? "per_layer") as InitMode,
    optimizer: (input.optimizer ?? "grouprmsprop") as OptimizerName,
    lr: (input.lr ?? 0.01) as number,
    steps: (input.steps ?? 10000) as number,
    eval_every: (input.eval_every ?? 25) as number,
    seed: (input.seed ?? 0) as number,
    engine: (input.engine ?? "auto") as EngineName,
    stop_tol: (input.stop_tol ?? 1e-8) as number,
    stop_patience: (input.stop_patience ?? 50) as number,
    diverge_factor: (input.diverge_factor ?? 1e6) as number,
    top_k: (input.top_k ?? 10) as number,
    thresholds: perMode(input.thresholds, 3, [0.1, 0.05, 0.01]).slice().sort((a, b) => b - a),
    eps: (input.eps ?? ((input.optimizer ?? "grouprmsprop") === "adam" ? 1e-8 : 1e-6)) as number,
  };
  if (input.trace_every !== undefined) {
    spec.trace_every = input.trace_every as number;
    spec.growth_window = (input.growth_window as [number, number] | undefined) ?? DEFAULT_GROWTH_WINDOW;
  }

  if (spec.target_rank > maxRank) {
    issues.push({
      path: at("target_rank"),
      message: `must be <= ${maxRank} for dim [${dim.join(", ")}] (${matrixLike ? "min(dim)" : "prod(dim)/max(dim)"}), got ${spec.target_rank}`,
    });
  }
  if (problem === "completion" && spec.observations > entries) {
    issues.push({
      path: at("observations"),
      message: `must be <= ${entries} (the number of entries) for completion, got ${spec.observations}`,
    });
  }
  if (model === "nuclear" && problem !== "completion") {
    issues.push({ path: at("problem"), message: "the nuclear-norm baseline (soft-impute) solves completion only" });
  }
  if (model === "nuclear" && spec.engine === "tfjs") {
    issues.push({ path: at("engine"), message: "the nuclear-norm baseline is not gradient-trained: tfjs does not apply" });
  }
  if (model === "nuclear" && spec.depth !== 1) {
    issues.push({ path: at("depth"), message: `the nuclear-norm baseline has no layers: depth must be 1, got ${spec.depth}` });
  }
  if (spec.variant === "component" && model !== "cp") {
    issues.push({ path: at("variant"), message: `component applies to model cp only, got model ${model}` });
  }
  if (spec.variant === "component" && spec.width.some((w, n) => w !== dim[n])) {
    issues.push({ path: at("width"), message: "the component variant's chains are square (d×d); width does not apply" });
  }
  issues.push(...checkGrowthTrace(spec, input, at), ...checkBalanced(spec, at));
  if (issues.length > 0) throw new SpecError(issues);
  issues.push(...checkFootprint(spec, at));
  if (issues.length > 0) throw new SpecError(issues);
  return spec;
}

function checkGrowthTrace(spec: RunSpec, input: RunSpecInput, at: (key: string) => string): SpecIssue[] {
  if (spec.trace_every === undefined) {
    return input.growth_window === undefined ? [] : [{ path: at("growth_window"), message: "applies only with trace_every (no trace, nothing to fit)" }];
  }
  const issues: SpecIssue[] = [];
  if (spec.optimizer !== "gd") {
    issues.push({ path: at("trace_every"), message: `needs optimizer gd (an adaptive step has no time axis for a rate), got ${spec.optimizer}` });
  }
  const window = spec.growth_window!;
  if (window.length !== 2 || !(window[0] < window[1])) {
    issues.push({ path: at("growth_window"), message: `must be two numbers [lo, hi] with lo < hi, got ${JSON.stringify(window)}` });
  }
  return issues;
}

function checkBalanced(spec: RunSpec, at: (key: string) => string): SpecIssue[] {
  if (spec.init_mode !== "balanced") return [];
  if (spec.model === "tucker" || spec.model === "nuclear" || spec.variant === "component") {
    return [{ path: at("init_mode"), message: "balanced applies to model cp (variant factor) and matrix" }];
  }
  if (spec.width.some((w, n) => w !== spec.dim[n])) {
    return [{ path: at("width"), message: "balanced init needs square hidden layers (width = dim)" }];
  }
  return [];
}
