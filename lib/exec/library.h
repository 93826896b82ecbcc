// The run time's library routines (library.cpp): gather, scatter_add, one_hot, sequence_mask, pad.
#pragma once
#include <cstddef>
#include <span>

#include "exec/program.h"

namespace rnnc::exec {

// Runs l with its inputs' and output's first elements at in[i] and out (contiguous, as l's
// accesses describe them). A bad index or length throws an Error naming the op and l.where.
void run_routine(const LibraryStep& l, std::span<const std::byte* const> in, std::byte* out);

}  // namespace rnnc::exec
