// Deep CP factorization: forward, sparse completion loss, backward through the chains.
import { planCpCompletion } from "../kernels/plan.ts";
import type { CpCompletionPlan, Kernels } from "../kernels/types.ts";
import type { Problem } from "../problem.ts";
import type { RunSpec } from "../spec.ts";
import { product, strides } from "../tensor.ts";
import { ComponentChain, componentLayer, DeepChain } from "./chain.ts";
import { block, denseLossAndGrad, layerStd, type Model, type ParamBlock } from "./model.ts";

type Factorizer = {
  forward(k: Kernels, layers: Float64Array[]): Float64Array;
  /** May return Σ grad² per layer, summed while writing them (NaN where not). */
  backward(k: Kernels, layers: Float64Array[], gradOut: Float64Array, gradLayers: Float64Array[]): ArrayLike<number> | undefined;
};

/**
 * Deep CP: W = Σ_r a_r^(1) ∘ … ∘ a_r^(N), each factor A^(n) (d_n × R) a depth-L product
 * (`factor`: A = W_L ⋯ W_1) or one chain per column (`component`). L = 1 is Razin et al.'s CP.
 */
export class DeepCp implements Model {
  readonly params: ParamBlock[] = [];
  /** Per mode: the param indices of its layers. */
  private readonly layerIndex: number[][] = [];
  private readonly factorizers: Factorizer[];
  private readonly factors: Float64Array[];
  private readonly factorGrads: Float64Array[];
  private readonly plan: CpCompletionPlan | null;
  private readonly denseGrad: Float64Array | null;
  /** Σ grad² of the component layers, summed by their backward (Model.gradSquares). */
  readonly gradSquares: Float64Array | undefined;
  /** The end-to-end factors of the last componentNorms() call. */
  private normFactors: Float64Array[] = [];
  readonly R: number;

  constructor(
    private readonly spec: RunSpec,
    private readonly kernels: Kernels,
    private readonly problem: Problem,
  ) {
    const { dim, depth, variant } = spec;
    this.R = spec.components;
    const R = this.R;
    this.factorizers = dim.map((d, n) => {
      const start = this.params.length;
      if (variant === "component") {
        this.params.push(block(`A${n + 1}.v`, [d, R]));
        for (let l = 2; l <= depth; l++) this.params.push(componentLayer(`A${n + 1}.M${l}`, d, R));
        this.layerIndex.push(Array.from({ length: depth }, (_, i) => start + i));
        return new ComponentChain(d, R, depth);
      }
      const chain = new DeepChain(d, R, depth, spec.width[n]);
      for (const [l, shape] of chain.shapes.entries()) this.params.push(block(`A${n + 1}.W${l + 1}`, shape));
      this.layerIndex.push(Array.from({ length: depth }, (_, i) => start + i));
      return chain;
    });
    this.factors = dim.map(() => new Float64Array(0));
    this.factorGrads = dim.map((d) => new Float64Array(d * R));
    this.plan =
      problem.kind === "completion" ? planCpCompletion(dim, R, problem.observed, problem.values) : null;
    this.denseGrad = problem.kind === "sensing" ? new Float64Array(product(dim)) : null;
    this.gradSquares = variant === "component" && depth > 1 ? new Float64Array(this.params.length) : undefined;
  }

  initStds(): number[] {
    const { init_std, init_mode, depth, variant, dim, width } = this.spec;
    return this.layerIndex.flatMap((idx, n) =>
      idx.map(() => layerStd(init_std, init_mode, depth, variant === "component" ? dim[n] : width[n])),
    );
  }

  private layers(n: number): Float64Array[] {
    return this.layerIndex[n].map((i) => this.params[i].data);
  }

  /** End-to-end factor matrices A^(n) (d_n × R, row-major). */
  endToEndFactors(): Float64Array[] {
    this.factorizers.forEach((f, n) => {
      this.factors[n] = f.forward(this.kernels, this.layers(n));
    });
    return this.factors;
  }

  lossAndGrad(grads: Float64Array[]): number {
    const factors = this.endToEndFactors();
    // L = 1: the factors are the layers, so their gradients are written in place (copying every
    // factor's gradient through its chain each step was ~4 % of a moderate run's step)
    const inPlace = this.spec.depth === 1;
    const factorGrads = inPlace ? this.layerIndex.map(([i]) => grads[i]) : this.factorGrads;
    let loss: number;
    if (this.plan) {
      loss = this.kernels.cpCompletion(this.plan, factors, factorGrads);
    } else {
      const w = cpTensor(this.kernels, factors, this.spec.dim, this.R);
      loss = denseLossAndGrad(this.problem, w, this.denseGrad!);
      mttkrp(this.denseGrad!, this.spec.dim, factors, this.R, factorGrads);
    }
    if (inPlace) return loss;
    const squares = this.gradSquares;
    squares?.fill(Number.NaN);
    this.factorizers.forEach((f, n) => {
      const sums = f.backward(
        this.kernels,
        this.layers(n),
        this.factorGrads[n],
        this.layerIndex[n].map((i) => grads[i]),
      );
      if (squares && sums) this.layerIndex[n].forEach((i, l) => { squares[i] = sums[l]; });
    });
    return loss;
  }

  fullTensor(): Float64Array {
    return cpTensor(this.kernels, this.endToEndFactors(), this.spec.dim, this.R);
  }

  componentNorms(): Float64Array {
    const factors = this.endToEndFactors();
    // component() reads these, so an evaluation runs the depth chains once, not once per component
    this.normFactors = factors.map((a) => Float64Array.from(a));
    const norms = new Float64Array(this.R).fill(1);
    const R = this.R;
    const colSq = new Float64Array(R);
    factors.forEach((a, n) => {
      colSq.fill(0);
      for (let i = 0, d = this.spec.dim[n]; i < d; i++) {
        const row = i * R;
        for (let r = 0; r < R; r++) colSq[r] += a[row + r] * a[row + r];
      }
      for (let r = 0; r < R; r++) norms[r] *= Math.sqrt(colSq[r]);
    });
    return norms;
  }

  component(index: number): Float64Array[] {
    if (this.normFactors.length === 0) this.componentNorms();
    return this.normFactors.map((a, n) => {
      const d = this.spec.dim[n];
      const v = new Float64Array(d);
      let s = 0;
      for (let i = 0; i < d; i++) {
        v[i] = a[i * this.R + index];
        s += v[i] * v[i];
      }
      const norm = Math.sqrt(s);
      if (norm > 0) for (let i = 0; i < d; i++) v[i] /= norm;
      return v;
    });
  }
}

/**
 * Dense MTTKRP: G^(n)[i_n] = Σ over entries g[i] · ∘_{m≠n} A^(m)[i_m], for every mode,
 * with prefix/suffix products per entry (used for sensing, where the gradient is dense).
 */
export function mttkrp(g: Float64Array, dims: number[], factors: Float64Array[], R: number, out: Float64Array[]) {
  const N = dims.length;
  const st = strides(dims);
  const prefix = new Float64Array((N + 1) * R);
  const suffix = new Float64Array((N + 1) * R);
  const idx = new Int32Array(N);
  for (const o of out) o.fill(0);
  for (let p = 0; p < g.length; p++) {
    const gp = g[p];
    if (gp === 0) continue;
    for (let n = 0; n < N; n++) idx[n] = Math.floor(p / st[n]) % dims[n];
    prefix.fill(1, 0, R);
    for (let n = 0; n < N; n++) {
      const a = factors[n];
      for (let r = 0; r < R; r++) prefix[(n + 1) * R + r] = prefix[n * R + r] * a[idx[n] * R + r];
    }
    suffix.fill(1, N * R, (N + 1) * R);
    for (let n = N - 1; n >= 0; n--) {
      const a = factors[n];
      for (let r = 0; r < R; r++) suffix[n * R + r] = suffix[(n + 1) * R + r] * a[idx[n] * R + r];
    }
    for (let n = 0; n < N; n++) {
      const o = out[n];
      const oo = idx[n] * R;
      for (let r = 0; r < R; r++) o[oo + r] += gp * prefix[n * R + r] * suffix[(n + 1) * R + r];
    }
  }
}

/** Khatri–Rao rows built at a time by `cpTensor` (bounds its scratch to ~512 KB). */
const KR_BLOCK_DOUBLES = 1 << 16;

/**
 * `cpTensor`'s Khatri–Rao rows, kept from call to call (per thread: a module's state is), since
 * allocating and zeroing them was an eighth of an evaluation; every call overwrites what it reads.
 */
let krScratch = new Float64Array(0);
function khatriRaoScratch(length: number): Float64Array {
  if (krScratch.length < length) krScratch = new Float64Array(length);
  return krScratch.subarray(0, length);
}

/**
 * The full tensor Σ_r ⊗_n a_r^(n) (row-major): a block of rows of the Khatri–Rao product of all
 * modes but the last (each row multiplied in mode order) at a time, times the last factor by
 * gemmNT — the kernels' dots, so the same bits from both kernel sets, and neither the
 * ∏d × R product `kruskal` builds nor its scalar loop (evaluations were a fifth of a sweep's time).
 */
export function cpTensor(k: Kernels, factors: readonly Float64Array[], dims: readonly number[], R: number): Float64Array {
  const N = dims.length;
  const last = dims[N - 1];
  const rows = product(dims.slice(0, N - 1));
  const out = new Float64Array(rows * last);
  const block = Math.max(1, Math.min(rows, Math.floor(KR_BLOCK_DOUBLES / R)));
  const kr = khatriRaoScratch(block * R);
  const leading = factors.slice(0, N - 1);
  const leadingDims = Int32Array.from(dims.slice(0, N - 1));
  for (let start = 0; start < rows; start += block) {
    const count = Math.min(block, rows - start);
    k.khatriRaoRows(leading, leadingDims, R, start, count, kr);
    k.gemmNT(kr, factors[N - 1], out.subarray(start * last, (start + count) * last), count, R, last);
  }
  return out;
}
