// gradcheck: compares autodiff with central finite differences in float64.
//
// The Jacobian J of the function (all outputs, flattened) with respect to each floating input is
// probed as u^T J v: v runs over every unit vector of the input (random directions when the input
// is larger than max_full), u over every unit vector of the output (random directions when there
// are more than max_rows outputs). The finite difference (f(x + eps v) - f(x - eps v)) / 2 eps is
// compared with the autodiff vector-Jacobian product; a probe passes when
// |autodiff - numeric| <= atol + rtol * |numeric|.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "rnnc/autodiff.h"
#include "rnnc/function.h"
#include "rnnc/tensor.h"

namespace rnnc {

struct GradcheckOptions {
  double eps = 1e-6;
  double atol = 1e-5;
  double rtol = 1e-3;
  int64_t max_full = 512;  // inputs with more elements get random directions
  int64_t max_rows = 16;   // outputs with more elements get random cotangents
  int random_directions = 16;
  uint64_t seed = 0;
  GradRules rules = default_grad_rules();  // the rules under test
};

struct InputCheck {
  int index = 0;
  std::string name;
  int64_t probes = 0;
  double max_abs_error = 0;  // worst |autodiff - numeric|
  double max_rel_error = 0;  // worst |autodiff - numeric| / max(|numeric|, atol)
  double worst_autodiff = 0, worst_numeric = 0;
  bool ok = true;
};

struct GradcheckReport {
  bool ok = true;
  std::vector<InputCheck> inputs;  // floating inputs only
  std::string str() const;
};

// Checks f (retraced in float64 when it was traced in float32) at the point `args`.
GradcheckReport gradcheck(const Function& f, const std::vector<Tensor>& args, const GradcheckOptions& options = {});

// Traces fn at the shapes of `args` in float64 and checks it.
template <class F>
GradcheckReport gradcheck(F fn, const std::vector<Tensor>& args, const GradcheckOptions& options = {}) {
  std::vector<Spec> specs;
  for (const Tensor& t : args) specs.push_back(spec_of(t));
  return gradcheck(trace(std::move(fn), specs), args, options);
}

}  // namespace rnnc
