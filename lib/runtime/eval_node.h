// One node of the reference interpreter, for the executor's library steps (ops that are not
// kernels or GEMMs: gather, scatter_add, one_hot, pad, concat, ...).
#pragma once
#include <vector>

#include "rnnc/graph.h"
#include "rnnc/tensor.h"

namespace rnnc {

// The value of n given its inputs' values. Gather, scatter_add, one_hot and sequence_mask write
// into `into` when given (a tensor of n's shape over the executor's memory): a fresh tensor of
// tens of MB faults its pages in on every call, which cost more than the op itself.
Tensor eval_node(const Node& n, const std::vector<Tensor>& in, const Tensor* into = nullptr);

// Every output of a loop (carries, then stacked ys) given its bindings, one step at a time.
std::vector<Tensor> run_loop(const Loop& loop, const std::vector<Tensor>& in);

}  // namespace rnnc
