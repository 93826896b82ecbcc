#pragma once
#include <array>

#include "rnnc/autodiff.h"

namespace rnnc::autodiff {
// The rule table, indexed by Op.
std::array<GradRule, kNumOps>& rules();
}  // namespace rnnc::autodiff
