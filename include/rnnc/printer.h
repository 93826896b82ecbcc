// Printing graphs: a readable text listing and Graphviz DOT.
#pragma once
#include <string>
#include <vector>

#include "rnnc/function.h"

namespace rnnc {

// One line per node:  %3 = tanh(%2) : f32[4, 8]
std::string to_text(const Function& f);
std::string to_text(const std::vector<Var>& outputs);
// digraph with one box per node (op, dtype, shape), edges from inputs.
std::string to_dot(const Function& f);

}  // namespace rnnc
