// Deep matrix factorization (Arora et al. 2019).
import type { Kernels } from "../kernels/types.ts";
import { type Svd, svd } from "../linalg.ts";
import type { Problem } from "../problem.ts";
import type { RunSpec } from "../spec.ts";
import { DeepChain } from "./chain.ts";
import { block, denseLossAndGrad, layerStd, type Model, type ParamBlock } from "./model.ts";

/** Deep matrix factorization W = W_L ⋯ W_1 (Arora et al. 2019); components are singular triplets. */
export class DeepMatrix implements Model {
  readonly params: ParamBlock[];
  private readonly chain: DeepChain;
  private readonly denseGrad: Float64Array;
  /** The SVD of the last componentNorms() call (component() reads it). */
  private svdCache: Svd | null = null;

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

  private svd(): Svd {
    const [d1, d2] = this.spec.dim;
    this.svdCache = svd(this.fullTensor(), d1, d2);
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
