import type { Kernels } from "../kernels/types.ts";
import { matmul, symmetricEigen } from "../linalg.ts";
import type { Problem } from "../problem.ts";
import type { RunSpec } from "../spec.ts";
import { DeepChain, transpose } from "./chain.ts";
import { block, denseLossAndGrad, layerStd, type Model, type ParamBlock } from "./model.ts";

/** Deep matrix factorization W = W_L ⋯ W_1 (Arora et al. 2019); components are singular triplets. */
export class DeepMatrix implements Model {
  readonly params: ParamBlock[];
  private readonly chain: DeepChain;
  private readonly denseGrad: Float64Array;
  /** The SVD of the last componentNorms() call (component() reads it). */
  private svdCache: { values: Float64Array; u: Float64Array[]; v: Float64Array[] } | null = null;

  constructor(
    private readonly spec: RunSpec,
    private readonly kernels: Kernels,
    private readonly problem: Problem,
  ) {
    const [d1, d2] = spec.dim;
    this.chain = new DeepChain(d1, d2, spec.depth, spec.width[0]);
    this.params = this.chain.shapes.map((shape, l) => block(`W${l + 1}`, shape));
    this.denseGrad = new Float64Array(d1 * d2);
  }

  initStds(): number[] {
    const { init_std, init_mode, depth, width } = this.spec;
    return this.params.map(() => layerStd(init_std, init_mode, depth, width[0]));
  }

  private layers(): Float64Array[] {
    return this.params.map((p) => p.data);
  }

  fullTensor(): Float64Array {
    return Float64Array.from(this.chain.forward(this.kernels, this.layers()));
  }

  lossAndGrad(grads: Float64Array[]): number {
    const w = this.chain.forward(this.kernels, this.layers());
    const loss = denseLossAndGrad(this.problem, w, this.denseGrad);
    this.chain.backward(this.kernels, this.layers(), this.denseGrad, grads);
    return loss;
  }

  /** Singular values and vectors of W from the eigen-decomposition of WᵀW. */
  private svd() {
    const [d1, d2] = this.spec.dim;
    const w = this.fullTensor();
    const wt = new Float64Array(w.length);
    transpose(w, wt, d1, d2);
    const gram = matmul(wt, w, d2, d1, d2);
    const { values, vectors } = symmetricEigen(gram, d2, true);
    const sigma = values.map((x) => Math.sqrt(Math.max(0, x)));
    const v = Array.from({ length: d2 }, (_, r) => Float64Array.from({ length: d2 }, (_, i) => vectors![i * d2 + r]));
    const u = v.map((vr, r) => {
      const ur = new Float64Array(d1);
      for (let i = 0; i < d1; i++) for (let j = 0; j < d2; j++) ur[i] += w[i * d2 + j] * vr[j];
      return ur.map((x) => (sigma[r] > 0 ? x / sigma[r] : 0));
    });
    this.svdCache = { values: sigma, u, v };
    return this.svdCache;
  }

  componentNorms(): Float64Array {
    return this.svd().values;
  }

  component(index: number): Float64Array[] {
    const s = this.svdCache ?? this.svd();
    return [s.u[index], s.v[index]];
  }
}
