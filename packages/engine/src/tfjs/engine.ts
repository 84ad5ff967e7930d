// The tfjs engine: the same models in tfjs ops, gradients by autodiff (test oracle).
import type * as Tf from "@tensorflow/tfjs";
import type { Model } from "../models/model.ts";
import type { Problem } from "../problem.ts";
import type { RunSpec } from "../spec.ts";

type TfModule = typeof Tf;
type Tensor = Tf.Tensor;

let loading: Promise<{ tf: TfModule; backend: string }> | null = null;

/**
 * TensorFlow.js: `@tensorflow/tfjs-node` when it is installed (it cannot install on our machines),
 * else `@tensorflow/tfjs` on the wasm backend (float32, one thread), else its cpu backend.
 */
export function loadTf(): Promise<{ tf: TfModule; backend: string }> {
  loading ??= (async () => {
    try {
      const tf = (await import("@tensorflow/tfjs-node" as string)) as TfModule;
      return { tf, backend: tf.getBackend() };
    } catch {
      const tf = await import("@tensorflow/tfjs");
      try {
        await import("@tensorflow/tfjs-backend-wasm");
        if (await tf.setBackend("wasm")) return { tf, backend: "wasm" };
      } catch {
        // fall through to the cpu backend
      }
      await tf.setBackend("cpu");
      return { tf, backend: "cpu" };
    }
  })();
  return loading;
}

/** The model's end-to-end tensor (flattened, C-order) written with tfjs ops, from its parameter tensors. */
export function endToEnd(tf: TfModule, spec: RunSpec, params: Tensor[]): Tensor {
  const L = spec.depth;
  const chain = (layers: Tensor[]) => layers.slice(1).reduce((z, w) => tf.matMul(w, z), layers[0]);
  if (spec.model === "matrix") return chain(params).reshape([-1]);
  if (spec.model === "tucker") {
    let t = params[0];
    let dims = spec.core_rank.slice();
    spec.dim.forEach((d, n) => {
      const a = chain(params.slice(1 + n * L, 1 + (n + 1) * L));
      // mode-n product: bring mode n to the front, multiply, move it back.
      const perm = [n, ...dims.keys()].filter((x, i) => i === 0 || x !== n);
      const front = tf.transpose(t.reshape(dims), perm).reshape([dims[n], -1]);
      const moved = tf.matMul(a, front).reshape([d, ...perm.slice(1).map((m) => dims[m])]);
      const inverse = perm.map((_, i) => perm.indexOf(i));
      dims = dims.map((x, m) => (m === n ? d : x));
      t = tf.transpose(moved, inverse);
    });
    return t.reshape([-1]);
  }
  const R = spec.components;
  const factors = spec.dim.map((d, n) => {
    const layers = params.slice(n * L, (n + 1) * L);
    if (spec.variant === "factor" || L === 1) return chain(layers);
    let x = tf.transpose(layers[0]).reshape([R, d, 1]);
    // M_l is stored d × d × R (component innermost): to R × d × d for a batched product
    for (const m of layers.slice(1)) x = tf.matMul(tf.transpose(m, [2, 0, 1]), x);
    return tf.transpose(x.reshape([R, d]));
  });
  let rows = factors[0];
  for (const a of factors.slice(1)) rows = tf.mul(rows.expandDims(1), a.expandDims(0)).reshape([-1, R]);
  return tf.sum(rows, 1);
}

/** MSE over the observations of the flattened end-to-end tensor `w`. */
function loss(tf: TfModule, problem: Problem, w: Tensor, data: TrainingData): Tensor {
  const m = problem.values.length;
  if (problem.kind === "completion") {
    return tf.div(tf.sum(tf.mul(data.mask, tf.square(tf.sub(w, data.observed)))), m);
  }
  const pred = tf.matMul(data.x!, w.reshape([-1, 1])).reshape([-1]);
  return tf.mean(tf.square(tf.sub(pred, data.y)));
}

/** Completion: observation mask and observed values scattered into the full tensor (the wasm backend
 * has no gradient for gather); sensing: the measurement matrix and values. */
type TrainingData = { mask: Tensor; observed: Tensor; y: Tensor; x: Tensor | null };

/** The problem's observations as (kept) tensors. */
export function trainingData(tf: TfModule, problem: Problem): TrainingData {
  const size = problem.target.length;
  const full = new Float32Array(size);
  problem.observed.forEach((flat, k) => {
    full[flat] = problem.values[k];
  });
  return {
    mask: tf.tensor1d(Float32Array.from(problem.observedMask)),
    observed: tf.tensor1d(full),
    y: tf.tensor1d(Float32Array.from(problem.values)),
    x: problem.sensing
      ? tf.tensor2d(Float32Array.from(problem.sensing), [problem.values.length, problem.target.length])
      : null,
  };
}

/** Loss and gradients (float32, via tfjs autodiff) of `model`'s current parameters. */
export function tfjsLossAndGrad(
  tf: TfModule,
  spec: RunSpec,
  problem: Problem,
  data: TrainingData,
  model: Model,
  grads: Float64Array[],
): number {
  return tf.tidy(() => {
    const params = model.params.map((p) => tf.tensor(Float32Array.from(p.data), p.shape));
    const f = (...ps: Tensor[]) => loss(tf, problem, endToEnd(tf, spec, ps), data) as Tf.Scalar;
    const { value, grads: g } = tf.valueAndGrads(f)(params);
    g.forEach((t, i) => grads[i].set(t.dataSync()));
    return value.dataSync()[0];
  });
}

/** `model` with its gradients computed by tfjs autodiff instead of the hand-derived kernels. */
export async function withTfjsGradients(model: Model, spec: RunSpec, problem: Problem): Promise<Model> {
  const { tf } = await loadTf();
  const data = trainingData(tf, problem);
  return {
    params: model.params,
    initStds: () => model.initStds(),
    lossAndGrad: (grads) => tfjsLossAndGrad(tf, spec, problem, data, model, grads),
    fullTensor: () => model.fullTensor(),
    componentNorms: () => model.componentNorms(),
    component: (i) => model.component(i),
  };
}
