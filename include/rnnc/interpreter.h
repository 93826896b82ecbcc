// The reference interpreter: runs any graph node by node in float32, float64 or i32.
// Simple on purpose: it is the oracle the compiler is tested against.
#pragma once
#include <vector>

#include "rnnc/function.h"
#include "rnnc/tensor.h"

namespace rnnc {

// Runs f on `args` (one per input, matching shapes and dtypes) and returns its outputs.
std::vector<Tensor> interpret(const Function& f, const std::vector<Tensor>& args);

// Evaluates arbitrary nodes given values for the Input nodes they depend on.
std::vector<Tensor> evaluate(const std::vector<Var>& outputs, const std::vector<Var>& inputs,
                             const std::vector<Tensor>& args);

}  // namespace rnnc
