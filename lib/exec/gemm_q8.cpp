// GEMMs on int8 weights (gemm.h's gemm_q8; quantize.h makes the weights). A row of A is quantized
// on the fly to unsigned bytes, a' + 128 with a' = round(a / s) in [-127, 127], s = max |a| / 127,
// so that VNNI's vpdpbusd (unsigned by signed bytes, four products summed into each 32-bit lane)
// computes sum_k (a'_k + 128) q_k; the 128 sum_k q_k it adds is taken off with the channel's sum.
// Integer sums are exact, so the result does not depend on how the work is cut: per output
// s scale_j (sum - 128 sum_j), in float32. A weight row is read once per row of A: at batch 1 a
// quarter of float32's bytes, which is what a step that streams its weights waits for.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "exec/gemm.h"
#include "exec/thread_pool.h"

#if defined(__AVX512VNNI__) && defined(__AVX512BW__)
#include <immintrin.h>
#endif

namespace rnnc::exec {

namespace {

// Row a [k] as bytes a' + 128 into out [ldq] (the padding 128 too: its weights are zero); returns s.
// The vector path does the scalar path's operations in its order (a multiply, a clamp, rounding to
// nearest even), so both give the same bytes.
float quantize_row(const float* a, int64_t k, int64_t ldq, uint8_t* out) {
  float amax = 0;
  int64_t i = 0;
#if defined(__AVX512VNNI__) && defined(__AVX512BW__)
  __m512 vmax = _mm512_setzero_ps();
  for (; i + 16 <= k; i += 16) vmax = _mm512_max_ps(vmax, _mm512_abs_ps(_mm512_loadu_ps(a + i)));
  amax = _mm512_reduce_max_ps(vmax);
#endif
  for (; i < k; ++i) amax = std::max(amax, std::fabs(a[i]));
  const float s = amax > 0 ? amax / 127.0f : 1.0f, inv = 1.0f / s;
  i = 0;
#if defined(__AVX512VNNI__) && defined(__AVX512BW__)
  const __m512 vinv = _mm512_set1_ps(inv), lo = _mm512_set1_ps(-127.0f), hi = _mm512_set1_ps(127.0f);
  const __m512i bias = _mm512_set1_epi32(128);
  for (; i + 16 <= k; i += 16) {
    const __m512 v = _mm512_min_ps(_mm512_max_ps(_mm512_mul_ps(_mm512_loadu_ps(a + i), vinv), lo), hi);
    const __m512i r = _mm512_cvtps_epi32(_mm512_roundscale_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i), _mm512_cvtepi32_epi8(_mm512_add_epi32(r, bias)));
  }
#endif
  for (; i < k; ++i)
    out[i] = static_cast<uint8_t>(static_cast<int32_t>(std::nearbyint(std::clamp(a[i] * inv, -127.0f, 127.0f))) + 128);
  std::memset(out + k, 128, static_cast<size_t>(ldq - k));
  return s;
}

// sum_k x[k] q[k] over ldq bytes (a multiple of 64), x unsigned, q signed.
int32_t dot(const uint8_t* x, const int8_t* q, int64_t ldq) {
#if defined(__AVX512VNNI__) && defined(__AVX512BW__)
  __m512i acc = _mm512_setzero_si512();
  for (int64_t i = 0; i < ldq; i += 64)
    acc = _mm512_dpbusd_epi32(acc, _mm512_loadu_si512(x + i), _mm512_loadu_si512(q + i));
  return _mm512_reduce_add_epi32(acc);
#else
  int32_t acc = 0;
  for (int64_t i = 0; i < ldq; ++i) acc += int32_t{x[i]} * int32_t{q[i]};
  return acc;
#endif
}

#if defined(__AVX512VNNI__) && defined(__AVX512BW__)
// The sums of four accumulators' lanes, as four 32-bit lanes: a transposed reduction (pairs, then
// quads, then the 128-bit quarters), fewer shuffles than four horizontal sums.
inline __m128i sum4(__m512i a0, __m512i a1, __m512i a2, __m512i a3) {
  const __m512i p01 = _mm512_add_epi32(_mm512_unpacklo_epi32(a0, a1), _mm512_unpackhi_epi32(a0, a1));
  const __m512i p23 = _mm512_add_epi32(_mm512_unpacklo_epi32(a2, a3), _mm512_unpackhi_epi32(a2, a3));
  // Per 128-bit quarter: (row 0, row 1, row 2, row 3) partial sums.
  const __m512i q = _mm512_add_epi32(_mm512_unpacklo_epi64(p01, p23), _mm512_unpackhi_epi64(p01, p23));
  const __m256i h = _mm256_add_epi32(_mm512_castsi512_si256(q), _mm512_extracti64x4_epi64(q, 1));
  return _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
}
#endif

// Columns [j0, j1) of one row: four weight rows at a time, each dot product in its own register,
// sixteen columns' scaling at once.
void q8_row(const uint8_t* x, float s, const int8_t* q, int64_t ldq, const float* scale, const float* sums, float* c,
            int64_t j0, int64_t j1) {
  int64_t j = j0;
#if defined(__AVX512VNNI__) && defined(__AVX512BW__)
  const __m512 vs = _mm512_set1_ps(s);
  const __m512i v128 = _mm512_set1_epi32(128);
  for (; j + 16 <= j1; j += 16) {
    auto group = [&](int64_t j4) {  // the sums of rows j4 .. j4 + 3
      __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
      const int8_t* r = q + j4 * ldq;
      for (int64_t i = 0; i < ldq; i += 64) {
        const __m512i xv = _mm512_loadu_si512(x + i);
        a0 = _mm512_dpbusd_epi32(a0, xv, _mm512_loadu_si512(r + i));
        a1 = _mm512_dpbusd_epi32(a1, xv, _mm512_loadu_si512(r + ldq + i));
        a2 = _mm512_dpbusd_epi32(a2, xv, _mm512_loadu_si512(r + 2 * ldq + i));
        a3 = _mm512_dpbusd_epi32(a3, xv, _mm512_loadu_si512(r + 3 * ldq + i));
      }
      return sum4(a0, a1, a2, a3);
    };
    __m512i d = _mm512_castsi128_si512(group(j));
    d = _mm512_inserti32x4(d, group(j + 4), 1);
    d = _mm512_inserti32x4(d, group(j + 8), 2);
    d = _mm512_inserti32x4(d, group(j + 12), 3);
    // s scale_j (d_j - 128 sum_j), in the scalar path's order of operations.
    const __m512i corrected =
        _mm512_sub_epi32(d, _mm512_mullo_epi32(v128, _mm512_cvttps_epi32(_mm512_loadu_ps(sums + j))));
    _mm512_storeu_ps(c + j,
                     _mm512_mul_ps(_mm512_mul_ps(vs, _mm512_loadu_ps(scale + j)), _mm512_cvtepi32_ps(corrected)));
  }
#endif
  for (; j < j1; ++j)
    c[j] = s * scale[j] * static_cast<float>(dot(x, q + j * ldq, ldq) - 128 * static_cast<int32_t>(sums[j]));
}

// Below this many multiply-adds a GEMM runs as one call (as gemm.cpp's float32 ones).
constexpr int64_t kParallelMacs = int64_t{1} << 18;

}  // namespace

void gemm_q8(const float* a, int64_t lda, const int8_t* q, int64_t ldq, const float* scale, const float* sums, float* c,
             int64_t ldc, int64_t m, int64_t n, int64_t k, int threads) {
  // The quantized rows of A, in memory this thread keeps (it grows to the largest A, then stays).
  thread_local std::vector<uint8_t> xq;
  thread_local std::vector<float> xs;
  if (xq.size() < static_cast<size_t>(m * ldq)) xq.resize(static_cast<size_t>(m * ldq));
  if (xs.size() < static_cast<size_t>(m)) xs.resize(static_cast<size_t>(m));
  for (int64_t i = 0; i < m; ++i) xs[i] = quantize_row(a + i * lda, k, ldq, xq.data() + i * ldq);
  const uint8_t* x = xq.data();
  const float* s = xs.data();
  // Blocks of whole 16-column groups, one a thread: no block's sums depend on the others.
  const int64_t blocks = m * n * k >= kParallelMacs ? std::clamp<int64_t>(n / 16, 1, std::max(threads, 1)) : 1;
  auto block = [&](int64_t b) {
    const int64_t j0 = chunk_begin(n, blocks, b, 16), j1 = chunk_begin(n, blocks, b + 1, 16);
    for (int64_t i = 0; i < m; ++i) q8_row(x + i * ldq, s[i], q, ldq, scale, sums, c + i * ldc, j0, j1);
  };
  if (blocks == 1) return block(0);
  // Each thread the same columns at every call: its share of the weight stays in its core's cache.
  parallel_for(threads, blocks, block, Sharing::ByThread);
}

const char* q8_path() {
#if defined(__AVX512VNNI__) && defined(__AVX512BW__)
  return "avx512vnni vpdpbusd, 64 bytes a step";
#else
  return "scalar (this build's CPU has no avx512vnni)";
#endif
}

}  // namespace rnnc::exec
