// Deep Tucker factorization: core and per-mode depth chains.
import type { Kernels } from "../kernels/types.ts";
import type { Problem } from "../problem.ts";
import type { RunSpec } from "../spec.ts";
import { contractAllButMode, modeProduct, product, strides } from "../tensor.ts";
import { DeepChain, transpose } from "./chain.ts";
import { block, denseLossAndGrad, layerStd, type Model, type ParamBlock } from "./model.ts";

/**
 * Deep Tucker: W = G ×_1 A^(1) ⋯ ×_N A^(N), core G (r_1 × … × r_N) trained too, every factor
 * A^(n) (d_n × r_n) a depth-L product. Dense arithmetic (mode products over the full tensor).
 */
export class DeepTucker implements Model {
  readonly params: ParamBlock[] = [];
  private readonly chains: DeepChain[];
  private readonly layerIndex: number[][] = [];
  private readonly denseGrad: Float64Array;
  private readonly factorGrads: Float64Array[];
  /** The end-to-end factors of the last componentNorms() call. */
  private normFactors: Float64Array[] = [];

  constructor(
    private readonly spec: RunSpec,
    private readonly kernels: Kernels,
    private readonly problem: Problem,
  ) {
    this.params.push(block("core", spec.core_rank.slice()));
    this.chains = spec.dim.map((d, n) => {
      const chain = new DeepChain(d, spec.core_rank[n], spec.depth, spec.width[n]);
      const start = this.params.length;
      for (const [l, shape] of chain.shapes.entries()) this.params.push(block(`A${n + 1}.W${l + 1}`, shape));
      this.layerIndex.push(chain.shapes.map((_, l) => start + l));
      return chain;
    });
    this.denseGrad = new Float64Array(product(spec.dim));
    this.factorGrads = spec.dim.map((d, n) => new Float64Array(d * spec.core_rank[n]));
  }

  initStds(): number[] {
    const { init_std, init_mode, depth, width } = this.spec;
    return [init_std, ...this.layerIndex.flatMap((idx, n) => idx.map(() => layerStd(init_std, init_mode, depth, width[n])))];
  }

  private factors(): Float64Array[] {
    return this.chains.map((c, n) => c.forward(this.kernels, this.layerIndex[n].map((i) => this.params[i].data)));
  }

  /** core ×_m A^(m) for every mode m except `skip` (−1: all modes). */
  private expand(factors: Float64Array[], skip: number): { data: Float64Array; dims: number[] } {
    let t = { data: this.params[0].data, dims: this.spec.core_rank.slice() };
    factors.forEach((a, m) => {
      if (m !== skip) t = modeProduct(t.data, t.dims, m, a, this.spec.dim[m]);
    });
    return t;
  }

  fullTensor(): Float64Array {
    return this.expand(this.factors(), -1).data;
  }

  lossAndGrad(grads: Float64Array[]): number {
    const { dim, core_rank } = this.spec;
    const factors = this.factors();
    const w = this.expand(factors, -1).data;
    const loss = denseLossAndGrad(this.problem, w, this.denseGrad);
    // dG = ∇W ×_1 A1ᵀ ⋯ ×_N ANᵀ
    let g = { data: this.denseGrad, dims: dim.slice() };
    factors.forEach((a, m) => {
      const at = new Float64Array(a.length);
      transpose(a, at, dim[m], core_rank[m]);
      g = modeProduct(g.data, g.dims, m, at, core_rank[m]);
    });
    grads[0].set(g.data);
    // dA^(n) = ∇W_(n) · (G ×_{m≠n} A^(m))_(n)ᵀ
    factors.forEach((_, n) => {
      const t = this.expand(factors, n);
      this.factorGrads[n].set(contractAllButMode(this.denseGrad, dim, t.data, t.dims, n));
      const layers = this.layerIndex[n].map((i) => this.params[i].data);
      this.chains[n].backward(this.kernels, layers, this.factorGrads[n], this.layerIndex[n].map((i) => grads[i]));
    });
    return loss;
  }

  /** |G_j| · Π_n ‖a^(n)_{j_n}‖ for every core entry j. */
  componentNorms(): Float64Array {
    const { core_rank, dim } = this.spec;
    this.normFactors = this.factors().map((a) => Float64Array.from(a)); // read by component()
    const colNorms = this.normFactors.map((a, n) => columnNorms(a, dim[n], core_rank[n]));
    const core = this.params[0].data;
    const st = strides(core_rank);
    return core.map((g, j) => {
      let norm = Math.abs(g);
      for (let n = 0; n < core_rank.length; n++) norm *= colNorms[n][Math.floor(j / st[n]) % core_rank[n]];
      return norm;
    });
  }

  component(index: number): Float64Array[] {
    if (this.normFactors.length === 0) this.componentNorms();
    const { core_rank, dim } = this.spec;
    const st = strides(core_rank);
    const sign = Math.sign(this.params[0].data[index]) || 1;
    return this.normFactors.map((a, n) => {
      const col = Math.floor(index / st[n]) % core_rank[n];
      const v = Float64Array.from({ length: dim[n] }, (_, i) => a[i * core_rank[n] + col]);
      const norm = Math.hypot(...v) || 1;
      return v.map((x) => ((n === 0 ? sign : 1) * x) / norm);
    });
  }
}

export function columnNorms(a: Float64Array, rows: number, cols: number): Float64Array {
  const out = new Float64Array(cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[j] += a[i * cols + j] * a[i * cols + j];
  return out.map(Math.sqrt);
}
