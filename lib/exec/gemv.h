// GEMMs of a few rows against a weight in PyTorch's layout, as a one-character sampling step makes
// them: C [m, n] = A [m, k] B with B = W^T, W [n, k] row-major, so that every c[i][j] is a dot
// product of two contiguous rows, A's i and W's j. Such a step is bound by reading W once; these
// kernels read it once, in order, at the memory's pace (sgemm's 'T' path at m = 1 is slower; with
// W in cache and 2 to 4 rows sgemm is faster, so gemm.cpp sends them one-row products only:
// docs/performance.md).
#pragma once
#include <cstdint>

#include "rnnc/dtype.h"

namespace rnnc::exec {

// The most rows of A these kernels take; more rows are a GEMM's work.
constexpr int64_t kGemvMaxRows = 4;

// C = A W^T, A [m, k] (rows lda apart), W [n, k] (rows ldw apart), C [m, n] (rows ldc apart), m at
// most kGemvMaxRows. False (and nothing written) on a CPU without AVX-512 (and, for bf16, without
// avx512_bf16): the caller's GEMM does it then. Each c[i][j] is summed in the same order whatever
// the n and the column range a thread was given, so results do not depend on the thread count.
bool gemv(const float* a, int64_t lda, const float* w, int64_t ldw, float* c, int64_t ldc, int64_t m, int64_t n,
          int64_t k);
bool gemv(const bf16* a, int64_t lda, const bf16* w, int64_t ldw, float* c, int64_t ldc, int64_t m, int64_t n,
          int64_t k);

// c [1, n] = a [1, k] B, B [k, n] row-major (rows ldb apart): the other layout, c = sum_i a[i] B[i, :],
// a[i] broadcast against a row of B, up to 128 columns of c held in registers while B is read once,
// in order (a recurrent step's h W_hh^T with the weight transposed before the loop, or its
// gradient dh W_hh, where sgemm's time is its call's overhead). float32
// only. Each c[j] is summed over i in order, whatever the column range: the same bits on any
// number of threads. False (nothing written) without AVX-512.
bool gemv_rows(const float* a, const float* b, int64_t ldb, float* c, int64_t n, int64_t k);

}  // namespace rnnc::exec
