// createModel: the model a spec names.
import type { Kernels } from "../kernels/types.ts";
import type { Problem } from "../problem.ts";
import type { RunSpec } from "../spec.ts";
import { DeepCp } from "./cp.ts";
import { DeepMatrix } from "./matrix.ts";
import type { Model } from "./model.ts";
import { NuclearNormBaseline } from "./nuclear.ts";
import { DeepTucker } from "./tucker.ts";

export function createModel(spec: RunSpec, kernels: Kernels, problem: Problem): Model {
  switch (spec.model) {
    case "cp":
      return new DeepCp(spec, kernels, problem);
    case "tucker":
      return new DeepTucker(spec, kernels, problem);
    case "matrix":
      return new DeepMatrix(spec, kernels, problem);
    case "nuclear":
      return new NuclearNormBaseline(spec, problem);
  }
}

export type { Component, Model, ParamBlock } from "./model.ts";
export { DeepCp, DeepMatrix, DeepTucker };
