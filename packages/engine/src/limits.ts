// Upper bounds on every size a spec can ask for, and the footprint checks that use them.
import type { SpecIssue } from "./errors.ts";

/**
 * Upper bounds on every size a spec can ask for, checked before anything is allocated. They come
 * from memory (float64 = 8 bytes) and from the wire and store types (uint32 / INTEGER), with room
 * to spare for every experiment in the papers (the largest: order 5 × d 6, order 3 × d 30,
 * 100 × 100 matrices, R ≤ 1296, L ≤ 4):
 * - `entries` (prod(dim)): the target, the reconstruction and an unfolding are dense during an
 *   evaluation, 3 × 8 B × 2^24 = 384 MiB;
 * - `parameters`: weights, gradients and two optimizer moments, 4 × 8 B × 2^24 = 512 MiB;
 * - `sensingValues` (observations × entries): the dense Gaussian measurements, 8 B × 2^25 = 256 MiB;
 * - `evaluations` (steps / eval_every): metric rows a run sends and the store keeps;
 * - `traceValues` (samples × components): the growth trace keeps a norm and a γ per component
 *   per sample, 2 × 8 B × 2^24 = 256 MiB;
 * - `steps`, `seed`: below 2^32 (uint32 / uint64 on the wire, INTEGER / BIGINT in the store).
 */
export const LIMITS = {
  order: 8,
  depth: 32,
  entries: 2 ** 24,
  parameters: 2 ** 24,
  sensingValues: 2 ** 25,
  steps: 100_000_000,
  evaluations: 100_000,
  traceValues: 2 ** 24,
  seed: 2 ** 32 - 1,
  topK: 100,
  thresholds: 16,
} as const;

const product = (xs: number[]) => xs.reduce((p, x) => p * x, 1);

/**
 * The fields of a resolved run spec that its sizes depend on (spec.ts's RunSpec has them all; named
 * here so that this module, which spec.ts imports, imports nothing back).
 */
export type SizedSpec = {
  model: string;
  variant: string;
  problem: string;
  dim: number[];
  depth: number;
  width: number[];
  components: number;
  core_rank: number[];
  observations: number;
  steps: number;
  eval_every: number;
  trace_every?: number;
};

/** Weights of a depth-L chain producing a rows × cols matrix through `width` (see DeepChain). */
function chainParameters(rows: number, cols: number, depth: number, width: number): number {
  if (depth === 1) return rows * cols;
  return width * cols + (depth - 2) * width * width + rows * width;
}

/** Number of float64 weights the model of `spec` trains (no allocation). */
export function parameterCount(spec: SizedSpec): number {
  const { dim, depth, width, components: R } = spec;
  if (spec.model === "matrix") return chainParameters(dim[0], dim[1], depth, width[0]);
  if (spec.model === "nuclear") return dim[0] * dim[1];
  if (spec.model === "tucker") {
    return product(spec.core_rank) + dim.reduce((s, d, n) => s + chainParameters(d, spec.core_rank[n], depth, width[n]), 0);
  }
  if (spec.variant === "component") return dim.reduce((s, d) => s + d * R + (depth - 1) * R * d * d, 0);
  return dim.reduce((s, d, n) => s + chainParameters(d, R, depth, width[n]), 0);
}

/** The bounds that depend on several fields together; issues name the field to change. */
export function checkFootprint(spec: SizedSpec, at: (key: string) => string): SpecIssue[] {
  const issues: SpecIssue[] = [];
  const entries = product(spec.dim);
  if (entries > LIMITS.entries) {
    issues.push({
      path: at("dim"),
      message: `gives ${entries.toExponential(3)} entries (prod(dim)), more than ${LIMITS.entries} (2^24: dense tensors of 128 MiB each)`,
    });
    return issues; // the counts below would only repeat it
  }
  const parameters = parameterCount(spec);
  if (parameters > LIMITS.parameters) {
    const field = spec.model === "tucker" ? "core_rank" : spec.model === "matrix" || spec.model === "nuclear" ? "dim" : "components";
    issues.push({
      path: at(field),
      message: `makes a model of ${parameters.toExponential(3)} parameters, more than ${LIMITS.parameters} (2^24; with gradients and optimizer state 512 MiB)`,
    });
  }
  if (spec.problem === "sensing" && spec.observations * entries > LIMITS.sensingValues) {
    issues.push({
      path: at("observations"),
      message: `× ${entries} entries is ${(spec.observations * entries).toExponential(3)} measurement values for sensing, more than ${LIMITS.sensingValues} (2^25, 256 MiB)`,
    });
  }
  const evaluations = Math.ceil(spec.steps / spec.eval_every);
  if (evaluations > LIMITS.evaluations) {
    issues.push({
      path: at("eval_every"),
      message: `gives ${evaluations} evaluations for ${spec.steps} steps, more than ${LIMITS.evaluations}; raise eval_every to at least ${Math.ceil(spec.steps / LIMITS.evaluations)}`,
    });
  }
  if (spec.trace_every !== undefined) {
    const values = (Math.floor(spec.steps / spec.trace_every) + 1) * componentCount(spec);
    if (values > LIMITS.traceValues) {
      issues.push({
        path: at("trace_every"),
        message: `keeps ${values.toExponential(3)} trace values (samples × components), more than ${LIMITS.traceValues} (2^24); raise trace_every`,
      });
    }
  }
  return issues;
}

/** Rank-one components the model reports (CP components, singular values, Tucker core terms). */
export function componentCount(spec: SizedSpec): number {
  if (spec.model === "matrix" || spec.model === "nuclear") return Math.min(spec.dim[0], spec.dim[1]);
  if (spec.model === "tucker") return product(spec.core_rank);
  return spec.components;
}
