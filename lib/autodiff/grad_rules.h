#pragma once
#include "rnnc/autodiff.h"

namespace rnnc::autodiff {
// The cotangents of a scan's bindings given the cotangents of all its outputs (undefined: none),
// as a reverse scan (scan_grad.cpp), its body differentiated with `rules`. The outputs of one loop
// are differentiated together.
std::vector<Var> scan_vjp(const Node& scan, const std::vector<Var>& cotangents, const GradRules& rules);
}  // namespace rnnc::autodiff
