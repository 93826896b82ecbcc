// RNNC_PROFILE (EnvOptions::profile): wall time per kind of step, summed over the process and
// printed to stderr when it exits (profile.cpp says how the table reads).
#pragma once
#include <string>

namespace rnnc::exec {

// Adds one step's `seconds` to the row `key` ("gemm", "in loops: kernel", "step 3 gemm [..]").
void profile_add(const std::string& key, double seconds);

}  // namespace rnnc::exec
