// The executor's GEMM: C = A B over the batch axes, operands as strided views (see gemm.cpp).
#pragma once
#include <cstddef>

#include "exec/program.h"

namespace rnnc::exec {

// A, B, C point at the first elements of the step's three accesses; large GEMMs are shared out
// among at most `threads` threads.
void run_gemm(const GemmStep& g, std::byte* A, std::byte* B, std::byte* C, int threads);

}  // namespace rnnc::exec
