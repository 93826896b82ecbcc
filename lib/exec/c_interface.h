// What the run time's C interface (c_runtime.cpp, c_model.cpp) shares: an error message into the
// caller's buffer, and a spec as rnnc_spec.
#pragma once
#include <cstring>
#include <vector>

#include "rnnc/c_runtime.h"
#include "rnnc/tensor.h"

namespace rnnc::exec {

// Copies what into err (size bytes, always terminated); nothing when err is null.
inline void report(char* err, size_t size, const char* what) {
  if (!err || size == 0) return;
  std::strncpy(err, what, size - 1);
  err[size - 1] = '\0';
}

// specs[i] as rnnc_spec (pointing into specs); RNNC_ERROR when i is out of range.
inline int spec_of(const std::vector<Spec>& specs, int i, rnnc_spec* out) {
  if (!out || i < 0 || static_cast<size_t>(i) >= specs.size()) return RNNC_ERROR;
  const Spec& s = specs[static_cast<size_t>(i)];
  out->rank = static_cast<int>(s.shape.size());
  out->shape = s.shape.data();
  out->dtype = static_cast<int>(s.dtype);
  out->name = s.name.c_str();
  return RNNC_OK;
}

}  // namespace rnnc::exec
