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
#include <string.h>

#define LANES 8

static inline double dot(const double *restrict a, const double *restrict b, int n) {
  double s[LANES] = {0, 0, 0, 0, 0, 0, 0, 0};
  int i = 0;
  for (; i + LANES <= n; i += LANES)
    for (int j = 0; j < LANES; j++) s[j] += a[i + j] * b[i + j];
  for (int j = 0; i + j < n; j++) s[j] += a[i + j] * b[i + j];
  return s[0] + s[1] + (s[2] + s[3]) + (s[4] + s[5] + (s[6] + s[7]));
}

static inline void axpy(double alpha, const double *restrict x, double *restrict y, int n) {
  for (int i = 0; i < n; i++) y[i] += alpha * x[i];
}

/* Rows c[0..4) += a_r · x (rows of length n, consecutive in c): one pass over x for four AXPYs,
   each element updated exactly as by `axpy`, so results equal the row-by-row loop. */
static inline void axpy4(double a0, double a1, double a2, double a3, const double *restrict x, double *restrict c,
                         int n) {
  double *c0 = c, *c1 = c + n, *c2 = c + 2 * (size_t)n, *c3 = c + 3 * (size_t)n;
  for (int j = 0; j < n; j++) {
    double xj = x[j];
    c0[j] += a0 * xj;
    c1[j] += a1 * xj;
    c2[j] += a2 * xj;
    c3[j] += a3 * xj;
  }
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

/* Reads a JS array of Float64Arrays into out[]; returns its length. */
static int f64_list(Args *a, int i, double **out, size_t *lengths) {
  uint32_t n = 0;
  if (napi_get_array_length(a->env, a->argv[i], &n) != napi_ok || n > MAX_ORDER) {
    fail(a, "expected an array of at most 32 Float64Arrays");
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
  memcpy(out, factors[modes[0]] + (size_t)rows[t * size] * R, sizeof(double) * R);
  for (int u = 1; u < size; u++) {
    const double *f = factors[modes[u]] + (size_t)rows[t * size + u] * R;
    for (int r = 0; r < R; r++) out[r] *= f[r];
  }
}

static void scatter_row(const int32_t *rows, int t, const int32_t *modes, int size, const double *e,
                        double **factors, double **grads, int R, double *tmp) {
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
  const double c = 2.0 / (double)m;
  double loss = 0;
  for (int t = 0; t < (int)outerCount; t++) {
    row_product(outerRows, t, outerModes, sOut, factors, R, outerP);
    memset(outerE, 0, sizeof(double) * R);
    for (int k = outerStart[t]; k < outerStart[t + 1]; k++) {
      double *ip = innerP + (size_t)obsInner[k] * R;
      double residual = dot(ip, outerP, R) - y[k];
      loss += residual * residual;
      double e = c * residual;
      axpy(e, outerP, innerE + (size_t)obsInner[k] * R, R);
      axpy(e, ip, outerE, R);
    }
    scatter_row(outerRows, t, outerModes, sOut, outerE, factors, grads, R, tmp);
  }
  for (int t = 0; t < (int)innerCount; t++)
    scatter_row(innerRows, t, innerModes, sIn, innerE + (size_t)t * R, factors, grads, R, tmp);
  return number(env, loss / (double)m);
}

/* ---- dense helpers ------------------------------------------------------------------------ */

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
  int i = 0;
  for (; i + 4 <= m; i += 4) { /* four rows of C per pass over B */
    for (int p = 0; p < k; p++)
      axpy4(a[(size_t)i * k + p], a[(size_t)(i + 1) * k + p], a[(size_t)(i + 2) * k + p], a[(size_t)(i + 3) * k + p],
            b + (size_t)p * n, c + (size_t)i * n, n);
  }
  for (; i < m; i++)
    for (int p = 0; p < k; p++) axpy(a[(size_t)i * k + p], b + (size_t)p * n, c + (size_t)i * n, n);
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
  for (int i = 0; i < m; i++)
    for (int j = 0; j < n; j++) c[(size_t)i * n + j] = dot(a + (size_t)i * k, b + (size_t)j * k, k);
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
  int i = 0;
  for (; i + 4 <= m; i += 4) { /* four rows of C per pass over B */
    for (int p = 0; p < k; p++) {
      const double *ap = a + (size_t)p * m + i;
      axpy4(ap[0], ap[1], ap[2], ap[3], b + (size_t)p * n, c + (size_t)i * n, n);
    }
  }
  for (; i < m; i++)
    for (int p = 0; p < k; p++) axpy(a[(size_t)p * m + i], b + (size_t)p * n, c + (size_t)i * n, n);
  return NULL;
}

static napi_value BatchedMatVec(napi_env env, napi_callback_info info) {
  ARGS(6);
  size_t nm = 0, nx = 0, ny = 0;
  double *mats = f64(&A, 0, &nm), *x = f64(&A, 1, &nx), *y = f64(&A, 2, &ny);
  int R = int_arg(&A, 3), d = int_arg(&A, 4);
  bool transpose = bool_arg(&A, 5);
  need(&A, nm, (size_t)R * d * d, "batchedMatVec: m is smaller than R*d*d");
  need(&A, nx < ny ? nx : ny, (size_t)R * d, "batchedMatVec: x or y is smaller than R*d");
  if (A.failed) return NULL;
  size_t dd = (size_t)d * d;
  for (int r = 0; r < R; r++) {
    const double *M = mats + r * dd, *xr = x + (size_t)r * d;
    double *yr = y + (size_t)r * d;
    if (!transpose) {
      for (int i = 0; i < d; i++) yr[i] = dot(M + (size_t)i * d, xr, d);
    } else {
      for (int i = 0; i < d; i++) yr[i] = 0;
      for (int j = 0; j < d; j++) axpy(xr[j], M + (size_t)j * d, yr, d);
    }
  }
  return NULL;
}

static napi_value BatchedOuter(napi_env env, napi_callback_info info) {
  ARGS(5);
  size_t ng = 0, nx = 0, no = 0;
  double *g = f64(&A, 0, &ng), *x = f64(&A, 1, &nx), *out = f64(&A, 2, &no);
  int R = int_arg(&A, 3), d = int_arg(&A, 4);
  need(&A, ng < nx ? ng : nx, (size_t)R * d, "batchedOuter: g or x is smaller than R*d");
  need(&A, no, (size_t)R * d * d, "batchedOuter: out is smaller than R*d*d");
  if (A.failed) return NULL;
  size_t dd = (size_t)d * d;
  for (int r = 0; r < R; r++)
    for (int i = 0; i < d; i++) {
      double gi = g[(size_t)r * d + i];
      double *o = out + r * dd + (size_t)i * d;
      const double *xr = x + (size_t)r * d;
      for (int j = 0; j < d; j++) o[j] = gi * xr[j];
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
      {"batchedMatVec", NULL, BatchedMatVec, NULL, NULL, NULL, napi_default, NULL},
      {"batchedOuter", NULL, BatchedOuter, NULL, NULL, NULL, napi_default, NULL},
      {"sumSquares", NULL, SumSquares, NULL, NULL, NULL, napi_default, NULL},
      {"axpy", NULL, Axpy, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
  return exports;
}
