// The native kernels (N-API): the same floating-point operations in the same order as kernels/js.ts.
/*
 * dtf native kernels: the same operations, in the same floating-point order, as
 * src/kernels/js.ts. Reductions use 8 lane accumulators combined in a fixed tree, and the build
 * uses -ffp-contract=off and no fast-math, so results are bit-identical to the TypeScript kernels
 * whatever SIMD width the compiler picks. No allocation: every buffer is a caller's Float64Array.
 */
#include <node_api.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <string.h>

#define LANES 8

/* Eight lanes as one value: elementwise arithmetic, so lane j of a v8 accumulator sums exactly
   the terms i ≡ j (mod 8), as the TypeScript kernels' eight accumulators do (the compiler maps it
   to one 512-bit or two 256-bit registers, held there across the loop). */
typedef double v8 __attribute__((vector_size(64)));

static inline v8 load8(const double *p) {
  v8 v;
  memcpy(&v, p, sizeof v);
  return v;
}

/* The fixed combining tree of the eight lanes. */
#define TREE(s) (s[0] + s[1] + (s[2] + s[3]) + (s[4] + s[5] + (s[6] + s[7])))

static inline double dot(const double *restrict a, const double *restrict b, int n) {
  v8 s = {0};
  int i = 0;
  for (; i + LANES <= n; i += LANES) s += load8(a + i) * load8(b + i);
  for (int j = 0; i + j < n; j++) s[j] += a[i + j] * b[i + j];
  return TREE(s);
}

static inline void axpy(double alpha, const double *restrict x, double *restrict y, int n) {
  for (int i = 0; i < n; i++) y[i] += alpha * x[i];
}

/* ---- argument helpers -------------------------------------------------------------------- */

typedef struct {
  napi_env env;
  napi_value *argv;
  bool failed;
} Args;

static void fail(Args *a, const char *msg) {
  if (!a->failed) napi_throw_type_error(a->env, NULL, msg);
  a->failed = true;
}

/* The data of typed array argument i, checked to be of type `want`; its length into *len. */
static void *typed(Args *a, int i, napi_typedarray_type want, const char *msg, size_t *len) {
  napi_typedarray_type type;
  size_t length;
  void *data;
  if (napi_get_typedarray_info(a->env, a->argv[i], &type, &length, &data, NULL, NULL) != napi_ok || type != want) {
    fail(a, msg);
    return NULL;
  }
  if (len) *len = length;
  return data;
}

static double *f64(Args *a, int i, size_t *len) {
  return (double *)typed(a, i, napi_float64_array, "expected a Float64Array argument", len);
}

static int32_t *i32(Args *a, int i, size_t *len) {
  return (int32_t *)typed(a, i, napi_int32_array, "expected an Int32Array argument", len);
}

/* Fails unless an array of `have` elements holds the `need` the kernel will touch. */
static void need(Args *a, size_t have, size_t need, const char *msg) {
  if (have < need) fail(a, msg);
}

static int int_arg(Args *a, int i) {
  int32_t v = 0;
  if (napi_get_value_int32(a->env, a->argv[i], &v) != napi_ok) fail(a, "expected an integer argument");
  return v;
}

static double num_arg(Args *a, int i) {
  double v = 0;
  if (napi_get_value_double(a->env, a->argv[i], &v) != napi_ok) fail(a, "expected a number argument");
  return v;
}

static bool bool_arg(Args *a, int i) {
  bool v = false;
  if (napi_get_value_bool(a->env, a->argv[i], &v) != napi_ok) fail(a, "expected a boolean argument");
  return v;
}

#define MAX_ORDER 32
/* Parameter blocks an optimizer call may pass: LIMITS.order × LIMITS.depth + 1 = 257, with room. */
#define MAX_BLOCKS 1024
/* unfoldingGram and symmetricEigenvalues: the largest mode (matrix side) they take; the column scratch unfoldingGram gathers into. */
#define MAX_GRAM 65536
#define GRAM_COLUMN 256

/* Reads a JS array of at most `max` Float64Arrays into out[]; returns its length. */
static int f64_list_max(Args *a, int i, double **out, size_t *lengths, uint32_t max) {
  uint32_t n = 0;
  if (napi_get_array_length(a->env, a->argv[i], &n) != napi_ok || n > max) {
    fail(a, max == MAX_ORDER ? "expected an array of at most 32 Float64Arrays" : "expected an array of at most 1024 Float64Arrays");
    return 0;
  }
  for (uint32_t k = 0; k < n; k++) {
    napi_value el;
    napi_typedarray_type type;
    size_t length;
    void *data;
    napi_get_element(a->env, a->argv[i], k, &el);
    if (napi_get_typedarray_info(a->env, el, &type, &length, &data, NULL, NULL) != napi_ok ||
        type != napi_float64_array) {
      fail(a, "expected an array of Float64Arrays");
      return 0;
    }
    out[k] = (double *)data;
    if (lengths) lengths[k] = length;
  }
  return (int)n;
}

static int f64_list(Args *a, int i, double **out, size_t *lengths) { return f64_list_max(a, i, out, lengths, MAX_ORDER); }

#define ARGS(count)                                          \
  size_t argc = count;                                       \
  napi_value argv[count];                                    \
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);      \
  Args A = {env, argv, false};                               \
  if (argc < count) {                                        \
    fail(&A, "too few arguments");                           \
    return NULL;                                             \
  }

static napi_value number(napi_env env, double x) {
  napi_value v;
  napi_create_double(env, x, &v);
  return v;
}

/* ---- CP completion (see src/kernels/js.ts cpCompletion and src/kernels/plan.ts) --------- */

static void row_product(const int32_t *rows, int t, const int32_t *modes, int size, double **factors, int R,
                        double *out) {
  if (size == 2) { /* the common case (orders 3 and 4), in one pass: the same products */
    const double *restrict f0 = factors[modes[0]] + (size_t)rows[t * 2] * R, *restrict f1 = factors[modes[1]] + (size_t)rows[t * 2 + 1] * R;
    for (int r = 0; r < R; r++) out[r] = f0[r] * f1[r];
    return;
  }
  memcpy(out, factors[modes[0]] + (size_t)rows[t * size] * R, sizeof(double) * R);
  for (int u = 1; u < size; u++) {
    const double *f = factors[modes[u]] + (size_t)rows[t * size + u] * R;
    for (int r = 0; r < R; r++) out[r] *= f[r];
  }
}

static void scatter_row(const int32_t *rows, int t, const int32_t *modes, int size, const double *e,
                        double **factors, double **grads, int R, double *tmp) {
  if (size == 2) { /* g_0 += e ⊙ f_1, g_1 += e ⊙ f_0 in one pass: the same products and sums */
    size_t r0 = (size_t)rows[t * 2] * R, r1 = (size_t)rows[t * 2 + 1] * R;
    const double *restrict f0 = factors[modes[0]] + r0, *restrict f1 = factors[modes[1]] + r1;
    double *restrict g0 = grads[modes[0]] + r0, *restrict g1 = grads[modes[1]] + r1;
    for (int r = 0; r < R; r++) { /* both factor rows read before a gradient row is written (4K aliasing) */
      double a = e[r] * f1[r], b = e[r] * f0[r];
      g0[r] += a;
      g1[r] += b;
    }
    return;
  }
  for (int u = 0; u < size; u++) {
    double *g = grads[modes[u]] + (size_t)rows[t * size + u] * R;
    if (size == 1) {
      for (int r = 0; r < R; r++) g[r] += e[r];
      continue;
    }
    memcpy(tmp, e, sizeof(double) * R);
    for (int w = 0; w < size; w++) {
      if (w == u) continue;
      const double *f = factors[modes[w]] + (size_t)rows[t * size + w] * R;
      for (int r = 0; r < R; r++) tmp[r] *= f[r];
    }
    for (int r = 0; r < R; r++) g[r] += tmp[r];
  }
}

/* The inner rows of observations [k, end) are strictly increasing (the plan sorts them), so no
   two of them update the same innerE row. */
static bool distinct_inner(const int32_t *obsInner, int k, int end) {
  for (int j = k + 1; j < end; j++)
    if (obsInner[j] <= obsInner[j - 1]) return false;
  return true;
}

#define ALWAYS_INLINE static inline __attribute__((always_inline))

/* N ≤ 4 dot products with one vector q, each in its own 8 lanes and tree (as `dot`): N
   independent chains of additions instead of one. N is a constant at every call site, so the
   branches on it fold away; p_j for j ≥ N are not read. */
ALWAYS_INLINE void dots(int N, const double *restrict p0, const double *restrict p1, const double *restrict p2,
                        const double *restrict p3, const double *restrict q, int n, double out[]) {
  v8 s0 = {0}, s1 = {0}, s2 = {0}, s3 = {0};
  int i = 0;
  for (; i + LANES <= n; i += LANES) {
    v8 qv = load8(q + i);
    s0 += load8(p0 + i) * qv;
    if (N > 1) s1 += load8(p1 + i) * qv;
    if (N > 2) s2 += load8(p2 + i) * qv;
    if (N > 3) s3 += load8(p3 + i) * qv;
  }
  for (int j = 0; i + j < n; j++) {
    double qj = q[i + j];
    s0[j] += p0[i + j] * qj;
    if (N > 1) s1[j] += p1[i + j] * qj;
    if (N > 2) s2[j] += p2[i + j] * qj;
    if (N > 3) s3[j] += p3[i + j] * qj;
  }
  out[0] = TREE(s0);
  if (N > 1) out[1] = TREE(s1);
  if (N > 2) out[2] = TREE(s2);
  if (N > 3) out[3] = TREE(s3);
}

/* innerE rows E_j += e_j·q and outerE += e_0·p_0 + … + e_{N−1}·p_{N−1}, added in that order: one
   pass over q and outerE for N observations (rows j ≥ N are not touched). */
ALWAYS_INLINE void updates(int N, const double *restrict q, const double *restrict p0, const double *restrict p1,
                           const double *restrict p2, const double *restrict p3, double *restrict E0, double *restrict E1,
                           double *restrict E2, double *restrict E3, double *restrict outerE, const double e[], int R) {
  for (int r = 0; r < R; r++) {
    /* the p rows are read before the E rows are written: a p row and its E row sit at the same
       offset in equal-sized arrays, and a load after a store to the same offset mod 4 KiB waits
       for it (4K aliasing) */
    double o = outerE[r] + e[0] * p0[r];
    if (N > 1) o = o + e[1] * p1[r];
    if (N > 2) o = o + e[2] * p2[r];
    if (N > 3) o = o + e[3] * p3[r];
    E0[r] += e[0] * q[r];
    if (N > 1) E1[r] += e[1] * q[r];
    if (N > 2) E2[r] += e[2] * q[r];
    if (N > 3) E3[r] += e[3] * q[r];
    outerE[r] = o;
  }
}

/* What the observations of one outer row read and update: the inner rows' products P and
   residual sums E, the outer row's product and residual sum, and the running loss. */
typedef struct {
  const double *P;
  double *E;
  const double *outerP;
  double *outerE;
  double c;
  int R;
  double loss;
} RowPass;

/* N ≤ 4 observations of one outer row, in the order of N single ones: loss terms in k order;
   inner row i_j gains e_j·outerP; outerE[r] gains e_0·p_0, …, e_{N−1}·p_{N−1} in that order. N > 1
   needs distinct inner rows (the E rows are restrict). */
ALWAYS_INLINE void observations(int N, RowPass *x, const int32_t *obs, const double *y) {
  const double *p[4];
  double *E[4], d[4], e[4];
  const int R = x->R;
  for (int j = 0; j < 4; j++) { /* rows past N alias row 0 and are never touched */
    size_t row = (size_t)obs[j < N ? j : 0];
    p[j] = x->P + row * R;
    E[j] = x->E + row * R;
  }
  dots(N, p[0], p[1], p[2], p[3], x->outerP, R, d);
  for (int j = 0; j < N; j++) {
    double residual = d[j] - y[j];
    x->loss += residual * residual;
    e[j] = x->c * residual;
  }
  updates(N, x->outerP, p[0], p[1], p[2], p[3], E[0], E[1], E[2], E[3], x->outerE, e, R);
}

/* Every row index of a group's rows[] (count × size) names a row of its mode's factor. */
static bool rows_fit(const int32_t *rows, size_t count, const int32_t *modes, int size, const size_t *factorRows) {
  for (size_t t = 0; t < count; t++)
    for (int u = 0; u < size; u++) {
      int32_t row = rows[t * size + u];
      if (row < 0 || (size_t)row >= factorRows[modes[u]]) return false;
    }
  return true;
}

static napi_value CpCompletion(napi_env env, napi_callback_info info) {
  ARGS(15);
  int R = int_arg(&A, 0);
  size_t nOuterModes = 0, nInnerModes = 0, nOuterRows = 0, nStart = 0, nInnerRows = 0, m = 0, nE = 0;
  size_t nY = 0, nP = 0, nOuterP = 0, nOuterE = 0, nTmp = 0;
  int32_t *outerModes = i32(&A, 1, &nOuterModes), *innerModes = i32(&A, 2, &nInnerModes);
  int32_t *outerRows = i32(&A, 3, &nOuterRows), *outerStart = i32(&A, 4, &nStart);
  int32_t *innerRows = i32(&A, 5, &nInnerRows), *obsInner = i32(&A, 6, &m);
  double *y = f64(&A, 7, &nY);
  double *innerP = f64(&A, 8, &nP), *innerE = f64(&A, 9, &nE);
  double *outerP = f64(&A, 10, &nOuterP), *outerE = f64(&A, 11, &nOuterE), *tmp = f64(&A, 12, &nTmp);
  double *factors[MAX_ORDER], *grads[MAX_ORDER];
  size_t factorLen[MAX_ORDER], gradLen[MAX_ORDER], factorRows[MAX_ORDER];
  int order = f64_list(&A, 13, factors, factorLen);
  int orderG = f64_list(&A, 14, grads, gradLen);
  if (A.failed) return NULL;
  if (order != orderG || (int)(nOuterModes + nInnerModes) != order || R < 1 || nStart < 1 || nOuterModes < 1 ||
      nInnerModes < 1 || nInnerRows % nInnerModes != 0) {
    fail(&A, "cpCompletion: inconsistent plan");
    return NULL;
  }
  int sOut = (int)nOuterModes, sIn = (int)nInnerModes;
  size_t innerCount = nInnerRows / sIn, outerCount = nStart - 1;
  /* Every buffer and index the loops below touch is checked first: a bad plan is an error, never
     a read or write out of bounds. */
  for (int n = 0; n < order; n++) {
    if (factorLen[n] % (size_t)R != 0 || gradLen[n] != factorLen[n]) fail(&A, "cpCompletion: a factor or gradient is not rows × R");
    factorRows[n] = factorLen[n] / (size_t)R;
  }
  for (int u = 0; u < sOut; u++)
    if (outerModes[u] < 0 || outerModes[u] >= order) fail(&A, "cpCompletion: an outer mode is out of range");
  for (int u = 0; u < sIn; u++)
    if (innerModes[u] < 0 || innerModes[u] >= order) fail(&A, "cpCompletion: an inner mode is out of range");
  if (A.failed) return NULL;
  need(&A, nY, m, "cpCompletion: fewer values than observations");
  need(&A, nP, innerCount * (size_t)R, "cpCompletion: innerP is too short");
  need(&A, nE, innerCount * (size_t)R, "cpCompletion: innerE is too short");
  need(&A, nOuterP, (size_t)R, "cpCompletion: outerP is too short");
  need(&A, nOuterE, (size_t)R, "cpCompletion: outerE is too short");
  need(&A, nTmp, (size_t)R, "cpCompletion: tmp is too short");
  need(&A, nOuterRows, outerCount * (size_t)sOut, "cpCompletion: outerRows is too short");
  if (A.failed) return NULL;
  if (outerStart[0] != 0 || (size_t)outerStart[outerCount] != m) fail(&A, "cpCompletion: outerStart does not span the observations");
  for (size_t t = 0; t < outerCount && !A.failed; t++)
    if (outerStart[t] > outerStart[t + 1]) fail(&A, "cpCompletion: outerStart is not increasing");
  for (size_t k = 0; k < m && !A.failed; k++)
    if (obsInner[k] < 0 || (size_t)obsInner[k] >= innerCount) fail(&A, "cpCompletion: an observation's inner row is out of range");
  if (!A.failed && (!rows_fit(outerRows, outerCount, outerModes, sOut, factorRows) || !rows_fit(innerRows, innerCount, innerModes, sIn, factorRows)))
    fail(&A, "cpCompletion: a row index is out of its factor");
  if (A.failed) return NULL;
  for (int t = 0; t < (int)innerCount; t++) row_product(innerRows, t, innerModes, sIn, factors, R, innerP + (size_t)t * R);
  memset(innerE, 0, sizeof(double) * nE);
  for (int n = 0; n < order; n++) memset(grads[n], 0, sizeof(double) * gradLen[n]);
  RowPass x = {innerP, innerE, outerP, outerE, 2.0 / (double)m, R, 0};
  for (int t = 0; t < (int)outerCount; t++) {
    row_product(outerRows, t, outerModes, sOut, factors, R, outerP);
    memset(outerE, 0, sizeof(double) * R);
    int k = outerStart[t], end = outerStart[t + 1];
    /* Four observations of the row at a time, then the last three, two or one together, when
       their inner rows are distinct (always, unless an observation repeats): independent dot
       chains, and one pass over outerP and outerE for their updates. Every sum keeps the
       one-at-a-time order, so the bits do not change. */
    if (distinct_inner(obsInner, k, end)) {
      for (; k + 4 <= end; k += 4) observations(4, &x, obsInner + k, y + k);
      if (end - k == 3) observations(3, &x, obsInner + k, y + k);
      else if (end - k == 2) observations(2, &x, obsInner + k, y + k);
      else if (end - k == 1) observations(1, &x, obsInner + k, y + k);
      k = end;
    }
    for (; k < end; k++) observations(1, &x, obsInner + k, y + k);
    scatter_row(outerRows, t, outerModes, sOut, outerE, factors, grads, R, tmp);
  }
  for (int t = 0; t < (int)innerCount; t++)
    scatter_row(innerRows, t, innerModes, sIn, innerE + (size_t)t * R, factors, grads, R, tmp);
  return number(env, x.loss / (double)m);
}

/* ---- dense helpers ------------------------------------------------------------------------ */

static inline void store8(double *p, v8 v) { memcpy(p, &v, sizeof v); }

/* C (m × n, row-major) += A·B, A's element (i, p) at a[i·si + p·sp], B k × n row-major. Each
   element of C adds its k terms in p order onto its current value, as the TypeScript kernels'
   AXPY loops do; a 4-row × 8-column block of C stays in registers for the whole sum over p. */
static void gemm_acc(const double *a, size_t si, size_t sp, const double *b, double *c, int m, int k, int n) {
  int i = 0;
  for (; i + 4 <= m; i += 4) {
    double *c0 = c + (size_t)i * n, *c1 = c0 + n, *c2 = c1 + n, *c3 = c2 + n;
    const double *a0 = a + (size_t)i * si, *a1 = a0 + si, *a2 = a1 + si, *a3 = a2 + si;
    int j = 0;
    for (; j + LANES <= n; j += LANES) {
      v8 s0 = load8(c0 + j), s1 = load8(c1 + j), s2 = load8(c2 + j), s3 = load8(c3 + j);
      for (int p = 0; p < k; p++) {
        v8 bv = load8(b + (size_t)p * n + j);
        size_t ap = (size_t)p * sp;
        s0 += a0[ap] * bv;
        s1 += a1[ap] * bv;
        s2 += a2[ap] * bv;
        s3 += a3[ap] * bv;
      }
      store8(c0 + j, s0);
      store8(c1 + j, s1);
      store8(c2 + j, s2);
      store8(c3 + j, s3);
    }
    for (; j < n; j++)
      for (int p = 0; p < k; p++) {
        double bj = b[(size_t)p * n + j];
        size_t ap = (size_t)p * sp;
        c0[j] += a0[ap] * bj;
        c1[j] += a1[ap] * bj;
        c2[j] += a2[ap] * bj;
        c3[j] += a3[ap] * bj;
      }
  }
  for (; i < m; i++) {
    double *ci = c + (size_t)i * n;
    const double *ai = a + (size_t)i * si;
    for (int p = 0; p < k; p++) axpy(ai[(size_t)p * sp], b + (size_t)p * n, ci, n);
  }
}

static napi_value Gemm(napi_env env, napi_callback_info info) {
  ARGS(7);
  size_t na = 0, nb = 0, nc = 0;
  double *a = f64(&A, 0, &na), *b = f64(&A, 1, &nb), *c = f64(&A, 2, &nc);
  int m = int_arg(&A, 3), k = int_arg(&A, 4), n = int_arg(&A, 5);
  bool acc = bool_arg(&A, 6);
  need(&A, na, (size_t)m * k, "gemm: a is smaller than m*k");
  need(&A, nb, (size_t)k * n, "gemm: b is smaller than k*n");
  need(&A, nc, (size_t)m * n, "gemm: c is smaller than m*n");
  if (A.failed) return NULL;
  if (!acc) memset(c, 0, sizeof(double) * (size_t)m * n);
  gemm_acc(a, (size_t)k, 1, b, c, m, k, n);
  return NULL;
}

static napi_value GemmNT(napi_env env, napi_callback_info info) {
  ARGS(6);
  size_t na = 0, nb = 0, nc = 0;
  double *a = f64(&A, 0, &na), *b = f64(&A, 1, &nb), *c = f64(&A, 2, &nc);
  int m = int_arg(&A, 3), k = int_arg(&A, 4), n = int_arg(&A, 5);
  need(&A, na, (size_t)m * k, "gemmNT: a is smaller than m*k");
  need(&A, nb, (size_t)n * k, "gemmNT: b is smaller than n*k");
  need(&A, nc, (size_t)m * n, "gemmNT: c is smaller than m*n");
  if (A.failed) return NULL;
  for (int i = 0; i < m; i++) {
    const double *ai = a + (size_t)i * k;
    double *ci = c + (size_t)i * n;
    int j = 0;
    for (; j + 4 <= n; j += 4) /* four independent dots per pass over a's row: the same sums as `dot` */
      dots(4, b + (size_t)j * k, b + (size_t)(j + 1) * k, b + (size_t)(j + 2) * k, b + (size_t)(j + 3) * k, ai, k, ci + j);
    for (; j < n; j++) ci[j] = dot(ai, b + (size_t)j * k, k);
  }
  return NULL;
}

static napi_value GemmTN(napi_env env, napi_callback_info info) {
  ARGS(6);
  size_t na = 0, nb = 0, nc = 0;
  double *a = f64(&A, 0, &na), *b = f64(&A, 1, &nb), *c = f64(&A, 2, &nc);
  int m = int_arg(&A, 3), k = int_arg(&A, 4), n = int_arg(&A, 5);
  need(&A, na, (size_t)k * m, "gemmTN: a is smaller than k*m");
  need(&A, nb, (size_t)k * n, "gemmTN: b is smaller than k*n");
  need(&A, nc, (size_t)m * n, "gemmTN: c is smaller than m*n");
  if (A.failed) return NULL;
  memset(c, 0, sizeof(double) * (size_t)m * n);
  gemm_acc(a, 1, (size_t)m, b, c, m, k, n);
  return NULL;
}

/* Component chains, the component index innermost (see src/kernels/types.ts): every inner loop
   runs over R contiguous values, so it vectorizes across components whatever d is. */
static napi_value ComponentForward(napi_env env, napi_callback_info info) {
  ARGS(5);
  size_t nm = 0, nx = 0, ny = 0;
  double *m = f64(&A, 0, &nm), *x = f64(&A, 1, &nx), *y = f64(&A, 2, &ny);
  int R = int_arg(&A, 3), d = int_arg(&A, 4);
  if (A.failed) return NULL;
  if (R < 1 || d < 1) fail(&A, "componentForward: R and d must be positive");
  need(&A, nm, (size_t)d * d * R, "componentForward: m is smaller than d*d*R");
  need(&A, nx < ny ? nx : ny, (size_t)d * R, "componentForward: x or y is smaller than d*R");
  if (A.failed) return NULL;
  for (int i = 0; i < d; i++) {
    double *restrict yi = y + (size_t)i * R;
    const double *restrict mi = m + (size_t)i * d * R;
    for (int r = 0; r < R; r++) yi[r] = mi[r] * x[r];
    for (int j = 1; j < d; j++) {
      const double *restrict mij = mi + (size_t)j * R, *restrict xj = x + (size_t)j * R;
      for (int r = 0; r < R; r++) yi[r] += mij[r] * xj[r];
    }
  }
  return NULL;
}

/* Adds x[0, n)² into the lanes of s as if x sat at flat index `at` of a larger array (lane
   (at + i) mod 8): an array summed this way row by row, rows in order, gives `dot(a, a)`'s bits. */
static inline void add_squares_at(v8 *s, const double *restrict x, size_t at, int n) {
  int i = 0;
  for (; i < n && ((at + (size_t)i) & (LANES - 1)); i++) (*s)[(at + (size_t)i) & (LANES - 1)] += x[i] * x[i];
  for (; i + LANES <= n; i += LANES) {
    v8 v = load8(x + i);
    *s += v * v;
  }
  for (; i < n; i++) (*s)[(at + (size_t)i) & (LANES - 1)] += x[i] * x[i];
}

static napi_value ComponentBackward(napi_env env, napi_callback_info info) {
  ARGS(7);
  size_t nm = 0, nx = 0, ng = 0, ngm = 0, ngx = 0;
  double *m = f64(&A, 0, &nm), *x = f64(&A, 1, &nx), *g = f64(&A, 2, &ng), *gradM = f64(&A, 3, &ngm), *gx = f64(&A, 4, &ngx);
  int R = int_arg(&A, 5), d = int_arg(&A, 6);
  if (A.failed) return NULL;
  if (R < 1 || d < 1) fail(&A, "componentBackward: R and d must be positive");
  size_t dd = (size_t)d * d * R, dr = (size_t)d * R;
  need(&A, nm < ngm ? nm : ngm, dd, "componentBackward: m or gradM is smaller than d*d*R");
  need(&A, nx < ng ? nx : ng, dr, "componentBackward: x or g is smaller than d*R");
  need(&A, ngx, dr, "componentBackward: gx is smaller than d*R");
  if (!A.failed && (gx < g + dr && g < gx + dr)) fail(&A, "componentBackward: gx overlaps g");
  if (A.failed) return NULL;
  v8 squares = {0};
  for (int i = 0; i < d; i++) {
    const double *restrict gi = g + (size_t)i * R;
    for (int j = 0; j < d; j++) {
      size_t o = ((size_t)i * d + j) * R;
      const double *restrict mij = m + o, *restrict xj = x + (size_t)j * R;
      double *restrict gxj = gx + (size_t)j * R, *restrict gm = gradM + o;
      if (i == 0)
        for (int r = 0; r < R; r++) gxj[r] = mij[r] * gi[r];
      else
        for (int r = 0; r < R; r++) gxj[r] += mij[r] * gi[r];
      for (int r = 0; r < R; r++) gm[r] = gi[r] * xj[r];
      add_squares_at(&squares, gm, o, R); /* while the row is in L1 */
    }
  }
  return number(env, TREE(squares));
}

/* Rows [start, start + count) of the Khatri–Rao product (see src/kernels/js.ts khatriRaoRows):
   the same products in the same factor order. */
static napi_value KhatriRaoRows(napi_env env, napi_callback_info info) {
  ARGS(6);
  double *factors[MAX_ORDER];
  size_t factorLen[MAX_ORDER], nDims = 0, nOut = 0;
  int N = f64_list(&A, 0, factors, factorLen);
  int32_t *dims = i32(&A, 1, &nDims);
  int R = int_arg(&A, 2);
  double start = num_arg(&A, 3), count = num_arg(&A, 4);
  double *out = f64(&A, 5, &nOut);
  if (A.failed) return NULL;
  if (N < 1 || nDims != (size_t)N || R < 1) {
    fail(&A, "khatriRaoRows: factors and dims differ in number, or R < 1");
    return NULL;
  }
  double rows = 1;
  for (int n = 0; n < N; n++) {
    if (dims[n] < 1 || factorLen[n] < (size_t)dims[n] * (size_t)R) fail(&A, "khatriRaoRows: a factor is smaller than dims[n] × R");
    rows *= dims[n];
  }
  if (!A.failed && (start < 0 || count < 0 || start != (double)(int64_t)start || count != (double)(int64_t)count || start + count > rows))
    fail(&A, "khatriRaoRows: the rows asked for are not rows of the product");
  if (A.failed) return NULL;
  need(&A, nOut, (size_t)count * (size_t)R, "khatriRaoRows: out is smaller than count × R");
  if (A.failed) return NULL;
  size_t index[MAX_ORDER];
  for (int64_t b = 0; b < (int64_t)count; b++) {
    int64_t rest = (int64_t)start + b;
    for (int n = N - 1; n >= 0; n--) {
      index[n] = (size_t)(rest % dims[n]) * (size_t)R;
      rest /= dims[n];
    }
    double *restrict o = out + (size_t)b * R;
    const double *restrict f0 = factors[0] + index[0];
    for (int r = 0; r < R; r++) o[r] = f0[r];
    for (int n = 1; n < N; n++) {
      const double *restrict f = factors[n] + index[n];
      for (int r = 0; r < R; r++) o[r] *= f[r];
    }
  }
  return NULL;
}

/* The mode-n unfolding's Gram matrix (see src/kernels/js.ts unfoldingGram): column by column,
   each entry of the upper triangle summed in column order, then mirrored. */
static napi_value UnfoldingGram(napi_env env, napi_callback_info info) {
  ARGS(5);
  size_t nx = 0, nOut = 0;
  double *x = f64(&A, 0, &nx);
  int before = int_arg(&A, 1), p = int_arg(&A, 2), after = int_arg(&A, 3);
  double *out = f64(&A, 4, &nOut);
  if (A.failed) return NULL;
  if (before < 1 || p < 1 || after < 1 || p > MAX_GRAM) {
    fail(&A, "unfoldingGram: before, p and after must be ≥ 1 (p at most 65536)");
    return NULL;
  }
  need(&A, nx, (size_t)before * (size_t)p * (size_t)after, "unfoldingGram: x is smaller than before × p × after");
  need(&A, nOut, (size_t)p * (size_t)p, "unfoldingGram: out is smaller than p × p");
  if (A.failed) return NULL;
  memset(out, 0, sizeof(double) * (size_t)p * p);
  double column[GRAM_COLUMN];
  for (size_t b = 0; b < (size_t)before; b++) {
    for (size_t a = 0; a < (size_t)after; a++) {
      const double *c = x + b * (size_t)p * after + a;
      /* the column, gathered (in chunks, so the scratch stays on the stack) */
      for (int j0 = 0; j0 < p; j0 += GRAM_COLUMN) {
        int len = p - j0 < GRAM_COLUMN ? p - j0 : GRAM_COLUMN;
        for (int j = 0; j < len; j++) column[j] = c[(size_t)(j0 + j) * after];
        for (int i = 0; i < j0 + len; i++) {
          const double xi = c[(size_t)i * after];
          double *restrict oi = out + (size_t)i * p;
          for (int j = i > j0 ? i : j0; j < j0 + len; j++) oi[j] += xi * column[j - j0];
        }
      }
    }
  }
  for (int i = 1; i < p; i++)
    for (int j = 0; j < i; j++) out[(size_t)i * p + j] = out[(size_t)j * p + i];
  return NULL;
}

/* Eigenvalues of a symmetric matrix by cyclic Jacobi rotations: the operations of
   symmetricEigen in src/linalg.ts one for one (Math.sign(θ || 1) is θ < 0 ? −1 : 1), then a
   stable sort, descending, as Array.prototype.sort is. */
static napi_value SymmetricEigenvalues(napi_env env, napi_callback_info info) {
  ARGS(3);
  size_t na = 0, nv = 0;
  double *a = f64(&A, 0, &na);
  int n = int_arg(&A, 1);
  double *values = f64(&A, 2, &nv);
  if (A.failed) return NULL;
  if (n < 1 || n > MAX_GRAM) {
    fail(&A, "symmetricEigenvalues: n must be in 1 … 65536");
    return NULL;
  }
  need(&A, na, (size_t)n * n, "symmetricEigenvalues: a is smaller than n × n");
  need(&A, nv, (size_t)n, "symmetricEigenvalues: values is shorter than n");
  if (A.failed) return NULL;
  const size_t N = (size_t)n;
  for (int sweep = 0; sweep < 100; sweep++) {
    double off = 0, diag = 0;
    for (size_t i = 0; i < N; i++) {
      diag += a[i * N + i] * a[i * N + i];
      for (size_t j = i + 1; j < N; j++) off += a[i * N + j] * a[i * N + j];
    }
    if (off <= 1e-30 * diag || off == 0) break;
    for (size_t p = 0; p + 1 < N; p++) {
      for (size_t q = p + 1; q < N; q++) {
        const double apq = a[p * N + q];
        if (apq == 0) continue;
        const double theta = (a[q * N + q] - a[p * N + p]) / (2 * apq);
        const double t = (theta < 0 ? -1.0 : 1.0) / (fabs(theta) + sqrt(theta * theta + 1));
        const double c = 1 / sqrt(t * t + 1);
        const double s = t * c;
        for (size_t k = 0; k < N; k++) {
          const double akp = a[k * N + p], akq = a[k * N + q];
          a[k * N + p] = c * akp - s * akq;
          a[k * N + q] = s * akp + c * akq;
        }
        for (size_t k = 0; k < N; k++) {
          const double apk = a[p * N + k], aqk = a[q * N + k];
          a[p * N + k] = c * apk - s * aqk;
          a[q * N + k] = s * apk + c * aqk;
        }
      }
    }
  }
  /* insertion sort of the diagonal, descending and stable: j moves before i only when larger */
  for (size_t i = 0; i < N; i++) {
    const double v = a[i * N + i];
    size_t j = i;
    while (j > 0 && v > values[j - 1]) {
      values[j] = values[j - 1];
      j--;
    }
    values[j] = v;
  }
  return NULL;
}

static napi_value SumSquares(napi_env env, napi_callback_info info) {
  ARGS(1);
  size_t n;
  double *x = f64(&A, 0, &n);
  if (A.failed) return NULL;
  return number(env, dot(x, x, (int)n));
}

static napi_value AddSumSquares(napi_env env, napi_callback_info info) {
  ARGS(3);
  double s = num_arg(&A, 0), scale = num_arg(&A, 1);
  double *xs[MAX_BLOCKS];
  size_t lengths[MAX_BLOCKS];
  int n = f64_list_max(&A, 2, xs, lengths, MAX_BLOCKS);
  if (A.failed) return NULL;
  for (int i = 0; i < n; i++) s += scale * dot(xs[i], xs[i], (int)lengths[i]);
  return number(env, s);
}

static napi_value AxpyEach(napi_env env, napi_callback_info info) {
  ARGS(3);
  double alpha = num_arg(&A, 0);
  double *xs[MAX_BLOCKS], *ys[MAX_BLOCKS];
  size_t nx[MAX_BLOCKS], ny[MAX_BLOCKS];
  int n = f64_list_max(&A, 1, xs, nx, MAX_BLOCKS);
  int m = f64_list_max(&A, 2, ys, ny, MAX_BLOCKS);
  if (A.failed) return NULL;
  if (n != m) fail(&A, "axpyEach: as many blocks of y as of x expected");
  for (int i = 0; i < n && !A.failed; i++)
    if (ny[i] < nx[i]) fail(&A, "axpyEach: a block of y is shorter than its x");
  if (A.failed) return NULL;
  for (int i = 0; i < n; i++) axpy(alpha, xs[i], ys[i], (int)nx[i]);
  return NULL;
}

static napi_value Axpy(napi_env env, napi_callback_info info) {
  ARGS(3);
  double alpha = num_arg(&A, 0);
  size_t n, ny;
  double *x = f64(&A, 1, &n), *y = f64(&A, 2, &ny);
  if (A.failed) return NULL;
  if (ny < n) {
    fail(&A, "axpy: y is shorter than x");
    return NULL;
  }
  axpy(alpha, x, y, (int)n);
  return NULL;
}

NAPI_MODULE_INIT() {
  napi_property_descriptor props[] = {
      {"cpCompletion", NULL, CpCompletion, NULL, NULL, NULL, napi_default, NULL},
      {"gemm", NULL, Gemm, NULL, NULL, NULL, napi_default, NULL},
      {"gemmNT", NULL, GemmNT, NULL, NULL, NULL, napi_default, NULL},
      {"gemmTN", NULL, GemmTN, NULL, NULL, NULL, napi_default, NULL},
      {"componentForward", NULL, ComponentForward, NULL, NULL, NULL, napi_default, NULL},
      {"componentBackward", NULL, ComponentBackward, NULL, NULL, NULL, napi_default, NULL},
      {"khatriRaoRows", NULL, KhatriRaoRows, NULL, NULL, NULL, napi_default, NULL},
      {"unfoldingGram", NULL, UnfoldingGram, NULL, NULL, NULL, napi_default, NULL},
      {"symmetricEigenvalues", NULL, SymmetricEigenvalues, NULL, NULL, NULL, napi_default, NULL},
      {"sumSquares", NULL, SumSquares, NULL, NULL, NULL, napi_default, NULL},
      {"axpy", NULL, Axpy, NULL, NULL, NULL, napi_default, NULL},
      {"addSumSquares", NULL, AddSumSquares, NULL, NULL, NULL, napi_default, NULL},
      {"axpyEach", NULL, AxpyEach, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
  return exports;
}
