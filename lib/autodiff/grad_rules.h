#pragma once
#include <array>

#include "rnnc/autodiff.h"

namespace rnnc::autodiff {
// The rule table, indexed by Op.
std::array<GradRule, kNumOps>& rules();
// The cotangents of a scan's bindings given the cotangents of all its outputs (undefined: none),
// as a reverse scan (scan_grad.cpp). The outputs of one loop are differentiated together.
std::vector<Var> scan_vjp(const Node& scan, const std::vector<Var>& cotangents);
}  // namespace rnnc::autodiff
