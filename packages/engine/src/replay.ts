// Replay of the PyTorch reference's --dump_init files: problem and initial parameters.
import { ArgumentError } from "./errors.ts";
import { numericalRank, singularValuesFromGram } from "./linalg.ts";
import { RANK_TOL } from "./metrics.ts";
import type { ParamBlock } from "./models/model.ts";
import { completionProblem, type Problem } from "./problem.ts";
import type { RunSpec, RunSpecInput } from "./spec.ts";
import { frobenius, unfoldingGram } from "./tensor.ts";

/**
 * A run's data and initial parameters in the reference script's `--dump_init` JSON format
 * (`../shared/reference/deep_cp_tc.py`): C-order flat arrays, parameters in `model.parameters()` order.
 */
export type ReplayData = {
  dims: number[];
  R: number;
  depth: number;
  variant: string;
  obs_flat_idx: number[];
  obs_values: number[];
  target: number[];
  params: { shape: number[]; data: number[] }[];
};

const fn = "replay";

/** Checks that `replay` describes the same model as `spec`; names the first mismatching field. */
export function checkReplay(spec: RunSpec, replay: ReplayData): void {
  const fail = (field: string, msg: string) => {
    throw ArgumentError.format(`replay.${field}`, fn, msg);
  };
  if (spec.model !== "cp") fail("model", `is a CP dump but the spec's model is ${spec.model}`);
  if (spec.problem !== "completion") fail("problem", "dumps hold completion data only");
  if (JSON.stringify(replay.dims) !== JSON.stringify(spec.dim)) {
    fail("dims", `[${replay.dims}] differs from the spec's dim [${spec.dim}]`);
  }
  if (replay.R !== spec.components) fail("R", `${replay.R} differs from the spec's components ${spec.components}`);
  if (replay.depth !== spec.depth) fail("depth", `${replay.depth} differs from the spec's depth ${spec.depth}`);
  if (spec.depth > 1 && replay.variant !== spec.variant) {
    fail("variant", `${replay.variant} differs from the spec's variant ${spec.variant}`);
  }
  if (replay.obs_flat_idx.length !== replay.obs_values.length) {
    fail("obs_values", `has ${replay.obs_values.length} values for ${replay.obs_flat_idx.length} indices`);
  }
}

/**
 * The run-spec keys a dump determines, filled into `input` so the run's recorded spec describes
 * the data it trained on, not the defaults: observations and target_norm from the dump (an
 * explicit different value is refused), target_rank (not in the dump: the target's multilinear
 * rank, a lower bound of its CP rank, unless given) and init_std (the dumped parameters' RMS as a
 * per-layer std, unless given).
 */
export function replaySpecInput(input: RunSpecInput, replay: ReplayData): RunSpecInput {
  const target = Float64Array.from(replay.target);
  const targetNorm = frobenius(target);
  const observations = replay.obs_flat_idx.length;
  if (input.observations !== undefined && input.observations !== observations) {
    throw ArgumentError.format("replay.obs_flat_idx", fn, `holds ${observations} observations, the spec asks for ${input.observations}`);
  }
  // the reference normalises its target in float32: agree to float32 precision
  if (typeof input.target_norm === "number" && Math.abs(input.target_norm - targetNorm) > 1e-6 * targetNorm) {
    throw ArgumentError.format("replay.target", fn, `has norm ${targetNorm}, the spec says target_norm ${input.target_norm}`);
  }
  const ranks = replay.dims.map((d, n) => numericalRank(singularValuesFromGram(unfoldingGram(target, replay.dims, n), d), RANK_TOL));
  let sumSq = 0;
  let count = 0;
  for (const p of replay.params) {
    for (const x of p.data) sumSq += x * x;
    count += p.data.length;
  }
  return {
    ...input,
    observations,
    target_norm: targetNorm,
    target_rank: input.target_rank ?? Math.max(1, ...ranks),
    ...(input.init_std === undefined ? { init_std: Math.sqrt(sumSq / Math.max(1, count)), init_mode: "per_layer" } : {}),
  };
}

export function replayProblem(replay: ReplayData): Problem {
  const problem = completionProblem(replay.dims, Float64Array.from(replay.target), Int32Array.from(replay.obs_flat_idx));
  problem.values.set(replay.obs_values);
  return problem;
}

/**
 * Copies the dumped parameters into `blocks`. A dumped array may cover several consecutive
 * blocks (the reference stacks a mode's chain into one (L−1, …) tensor).
 */
export function loadReplayParams(replay: ReplayData, blocks: ParamBlock[]): void {
  let b = 0;
  replay.params.forEach((p, i) => {
    let offset = 0;
    while (offset < p.data.length) {
      if (b >= blocks.length) throw ArgumentError.format(`replay.params[${i}]`, fn, "has more values than the model");
      const target = blocks[b].data;
      if (offset + target.length > p.data.length) {
        throw ArgumentError.format(
          `replay.params[${i}]`,
          fn,
          `(shape [${p.shape}]) does not split into the model's block ${blocks[b].name} [${blocks[b].shape}]`,
        );
      }
      const values = p.data.slice(offset, offset + target.length);
      const into = blocks[b].reference;
      if (into) into.copyIn(values, target);
      else target.set(values);
      offset += target.length;
      b++;
    }
  });
  if (b !== blocks.length) {
    throw ArgumentError.format("replay.params", fn, `covers ${b} of the model's ${blocks.length} blocks`);
  }
}
