// The reference interpreter: runs any graph node by node in float32, float64 or i32.
// Simple on purpose: it is the oracle the compiler is tested against.
#pragma once
#include <string>
#include <vector>

#include "rnnc/function.h"
#include "rnnc/tensor.h"

namespace rnnc {

// Runs f on `args` (one per input, matching shapes and dtypes) and returns its outputs.
std::vector<Tensor> interpret(const Function& f, const std::vector<Tensor>& args);

// Evaluates arbitrary nodes given values for the Input nodes they depend on.
// Runs f node by node and names the first node whose value holds a NaN or an infinity although
// its operands hold none: the op that produced it ("log at model.cpp:12 gives f32[4, 65] ..."), or
// the input that brought it in; empty when every value is finite.
std::string first_non_finite(const Function& f, const std::vector<Tensor>& args);

std::vector<Tensor> evaluate(const std::vector<Var>& outputs, const std::vector<Var>& inputs,
                             const std::vector<Tensor>& args);

}  // namespace rnnc
