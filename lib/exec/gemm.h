// The executor's GEMM: C = A B over the batch axes, operands as strided views (see gemm.cpp).
#pragma once
#include <array>
#include <cstddef>

#include "exec/program.h"

namespace rnnc::exec {

// A, B, C point at the first elements of the step's three accesses (scale at its scales when B is
// int8, else null); large GEMMs are shared out among at most `threads` threads.
void run_gemm(const GemmStep& g, std::byte* A, std::byte* B, std::byte* C, const std::byte* scale, int threads);

// C [m, n] (row-major, ldc) = A [m, k] (row-major, lda) times int8 weights q [n, ldq] (row j:
// output channel j's k weights, then zeros to ldq, a multiple of 64), scaled per channel:
// C[i, j] = s_i scale[j] (sum_k a'[i, k] q[j, k]), where row i of A is quantized to a' = round(A / s_i),
// s_i = max |A[i, :]| / 127 (gemm_q8.cpp). sums[j] = sum_k q[j, k].
// How many times faster a training-sized GEMM ([128, 256] x [256, 1024], B a transposed weight,
// one thread) runs with bfloat16 operands than with float32 ones on this CPU, measured at the
// first call (a few milliseconds) and remembered. Call only where the CPU has avx512_bf16.
double bf16_gemm_speedup();
// How much faster float32 [m, k] x [k, n] runs, one thread, on a row-major copy of W^T laid out as
// the arena lays it (64-byte aligned) than on W [n, k] read transposed; measured once per shape
// (m at most 128; under 2 MFLOP 1.0, not measured; over 256 MFLOP as [128, 256] x [256, 1024]). Whether
// a loop's weight transposed before it pays (hoist_loops).
double transposed_copy_speedup(int64_t m = 128, int64_t k = 256, int64_t n = 1024);
// The shape transposed_copy_speedup(m, k, n) times, or {0, 0, 0} where it times none (1.0).
std::array<int64_t, 3> transposed_copy_probe(int64_t m, int64_t k, int64_t n);
// The float32 GEMMs' library ("oneDNN sgemm", or "Eigen" in a build without oneDNN), and the int8
// weight GEMM's inner product ("avx512vnni vpdpbusd", or "scalar" in a build for a CPU without it).
const char* gemm_library();
const char* q8_path();

void gemm_q8(const float* a, int64_t lda, const int8_t* q, int64_t ldq, const float* scale, const float* sums, float* c,
             int64_t ldc, int64_t m, int64_t n, int64_t k, int threads);

}  // namespace rnnc::exec
