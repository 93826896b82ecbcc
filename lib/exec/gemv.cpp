// The few-row GEMMs of gemv.h: each c[i][j] a dot product of A's row i and W's row j, in 16-float
// (or 32-bf16) vectors, W read once, 4 of its rows at a time (every row of A against them), so
// that the loads of W are what the loop waits for. bf16 rows multiply with vdpbf16ps (pairs of
// products summed into float32 lanes). gemv_rows, for a row-major B, holds up to 128 columns of
// the result in registers and adds a[i] times B's row i to them. Built when the compiler targets
// AVX-512 (RNNC_NATIVE on a CPU that has it, see CMakeLists.txt); otherwise the functions say no
// and sgemm does the work.
#include "exec/gemv.h"

#if defined(__AVX512F__)
#include <immintrin.h>
// GCC 12's _mm512_reduce_add_ps starts from _mm256_undefined_pd(), which -Wuninitialized reports.
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

namespace rnnc::exec {

#if defined(__AVX512F__)
namespace {

struct F32 {
  using T = float;
  using V = __m512;
  static constexpr int64_t kLanes = 16;
  static V load(const float* p) { return _mm512_loadu_ps(p); }
  // The last `left` (< kLanes) values of a row; zeros past its end.
  static V load_tail(const float* p, int64_t left) {
    return _mm512_maskz_loadu_ps(static_cast<__mmask16>((1u << left) - 1), p);
  }
  static __m512 madd(__m512 acc, V a, V w) { return _mm512_fmadd_ps(a, w, acc); }
};

#if defined(__AVX512BF16__)
struct BF16 {
  using T = bf16;
  using V = __m512i;
  static constexpr int64_t kLanes = 32;
  static V load(const bf16* p) { return _mm512_loadu_si512(p); }
  static V load_tail(const bf16* p, int64_t left) {
    return _mm512_maskz_loadu_epi16(static_cast<__mmask32>((uint32_t{1} << left) - 1), p);
  }
  // acc += a[2l] w[2l] + a[2l+1] w[2l+1] in lane l.
  static __m512 madd(__m512 acc, V a, V w) { return _mm512_dpbf16_ps(acc, (__m512bh)a, (__m512bh)w); }
};
#endif

// M rows of A against R rows of W: c[i][r] for i < M, r < R. `ahead` (or null): R rows of W read
// later, fetched into the cache meanwhile, a line for each line read here (a W larger than the
// caches streams faster so: docs/performance.md).
template <class E, int M, int R> void block(const typename E::T* a, int64_t lda, const typename E::T* w, int64_t ldw,
                                            float* c, int64_t ldc, int64_t k, const typename E::T* ahead) {
  // The loops over i < M and r < R are unrolled (GCC's -O2 left them, and acc went through memory,
  // slower with W in cache).
  __m512 acc[M][R];
#pragma GCC unroll 4
  for (int i = 0; i < M; ++i)
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) acc[i][r] = _mm512_setzero_ps();
  // One vector of each row at p (the whole vector, or the row's last `left` values).
  auto step = [&](int64_t p, auto load) {
    typename E::V wv[R];
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) wv[r] = load(w + r * ldw + p);
#pragma GCC unroll 4
    for (int i = 0; i < M; ++i) {
      const typename E::V av = load(a + i * lda + p);
#pragma GCC unroll 4
      for (int r = 0; r < R; ++r) acc[i][r] = E::madd(acc[i][r], av, wv[r]);
    }
  };
  int64_t p = 0;
  for (; p + E::kLanes <= k; p += E::kLanes) {  // a vector of W is one 64-byte line
    if (ahead)
#pragma GCC unroll 4
      for (int r = 0; r < R; ++r) _mm_prefetch(reinterpret_cast<const char*>(ahead + r * ldw + p), _MM_HINT_T0);
    step(p, [](const typename E::T* q) { return E::load(q); });
  }
  if (p < k) step(p, [left = k - p](const typename E::T* q) { return E::load_tail(q, left); });
#pragma GCC unroll 4
  for (int i = 0; i < M; ++i)
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) c[i * ldc + r] = _mm512_reduce_add_ps(acc[i][r]);
}

template <class E, int M> void rows(const typename E::T* a, int64_t lda, const typename E::T* w, int64_t ldw, float* c,
                                    int64_t ldc, int64_t n, int64_t k) {
  constexpr int64_t kAhead = 8;  // rows: two blocks
  // Rows of at least 1 KB (in bf16, k >= 512): shorter ones gained nothing (an LSTM 256's weights,
  // which the caches mostly hold).
  const bool fetch = k * static_cast<int64_t>(sizeof(typename E::T)) >= 1024;
  int64_t j = 0;
  for (; j + 4 <= n; j += 4)
    block<E, M, 4>(a, lda, w + j * ldw, ldw, c + j, ldc, k,
                   fetch && j + kAhead + 4 <= n ? w + (j + kAhead) * ldw : nullptr);
  for (; j < n; ++j) block<E, M, 1>(a, lda, w + j * ldw, ldw, c + j, ldc, k, nullptr);
}

template <class E> bool run(const typename E::T* a, int64_t lda, const typename E::T* w, int64_t ldw, float* c,
                            int64_t ldc, int64_t m, int64_t n, int64_t k) {
  switch (m) {
    case 1: rows<E, 1>(a, lda, w, ldw, c, ldc, n, k); return true;
    case 2: rows<E, 2>(a, lda, w, ldw, c, ldc, n, k); return true;
    case 3: rows<E, 3>(a, lda, w, ldw, c, ldc, n, k); return true;
    case 4: rows<E, 4>(a, lda, w, ldw, c, ldc, n, k); return true;
    default: return false;
  }
}

// gemv_rows over V vectors of 16 columns, the last one's lanes limited by `last`.
template <int V> void columns(const float* a, const float* b, int64_t ldb, float* c, int64_t k, __mmask16 last) {
  __m512 acc[V];
#pragma GCC unroll 8
  for (int v = 0; v < V; ++v) acc[v] = _mm512_setzero_ps();
  for (int64_t i = 0; i < k; ++i) {
    const __m512 ai = _mm512_set1_ps(a[i]);
    const float* row = b + i * ldb;
#pragma GCC unroll 8
    for (int v = 0; v + 1 < V; ++v) acc[v] = _mm512_fmadd_ps(ai, _mm512_loadu_ps(row + 16 * v), acc[v]);
    acc[V - 1] = _mm512_fmadd_ps(ai, _mm512_maskz_loadu_ps(last, row + 16 * (V - 1)), acc[V - 1]);
  }
#pragma GCC unroll 8
  for (int v = 0; v + 1 < V; ++v) _mm512_storeu_ps(c + 16 * v, acc[v]);
  _mm512_mask_storeu_ps(c + 16 * (V - 1), last, acc[V - 1]);
}

}  // namespace
#endif

bool gemv_rows(const float* a, const float* b, int64_t ldb, float* c, int64_t n, int64_t k) {
#if defined(__AVX512F__)
  constexpr int64_t kBlock = 128;  // columns held in registers: 8 accumulators
  for (int64_t j = 0; j < n; j += kBlock) {
    const int64_t w = n - j < kBlock ? n - j : kBlock, vectors = (w + 15) / 16, left = w - 16 * (vectors - 1);
    const __mmask16 last = static_cast<__mmask16>((1u << left) - 1);
    switch (vectors) {
      case 1: columns<1>(a, b + j, ldb, c + j, k, last); break;
      case 2: columns<2>(a, b + j, ldb, c + j, k, last); break;
      case 3: columns<3>(a, b + j, ldb, c + j, k, last); break;
      case 4: columns<4>(a, b + j, ldb, c + j, k, last); break;
      case 5: columns<5>(a, b + j, ldb, c + j, k, last); break;
      case 6: columns<6>(a, b + j, ldb, c + j, k, last); break;
      case 7: columns<7>(a, b + j, ldb, c + j, k, last); break;
      default: columns<8>(a, b + j, ldb, c + j, k, last); break;
    }
  }
  return true;
#else
  (void)a, (void)b, (void)ldb, (void)c, (void)n, (void)k;
  return false;
#endif
}

bool gemv(const float* a, int64_t lda, const float* w, int64_t ldw, float* c, int64_t ldc, int64_t m, int64_t n,
          int64_t k) {
#if defined(__AVX512F__)
  return run<F32>(a, lda, w, ldw, c, ldc, m, n, k);
#else
  (void)a, (void)lda, (void)w, (void)ldw, (void)c, (void)ldc, (void)m, (void)n, (void)k;
  return false;
#endif
}

bool gemv(const bf16* a, int64_t lda, const bf16* w, int64_t ldw, float* c, int64_t ldc, int64_t m, int64_t n,
          int64_t k) {
#if defined(__AVX512F__) && defined(__AVX512BF16__)
  return run<BF16>(a, lda, w, ldw, c, ldc, m, n, k);
#else
  (void)a, (void)lda, (void)w, (void)ldw, (void)c, (void)ldc, (void)m, (void)n, (void)k;
  return false;
#endif
}

}  // namespace rnnc::exec
