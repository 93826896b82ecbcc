// Gradient clipping on host tensors (a pass over memory; no graph needed).
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "rnnc/error.h"
#include "rnnc/optim.h"

namespace rnnc::optim {

namespace {
template <class F> void each(Tensor& t, F&& f) {
  if (t.dtype() == DType::f32) {
    float* p = t.data<float>();
    for (int64_t i = 0; i < t.numel(); ++i) p[i] = static_cast<float>(f(p[i]));
  } else if (t.dtype() == DType::f64) {
    double* p = t.data<double>();
    for (int64_t i = 0; i < t.numel(); ++i) p[i] = f(p[i]);
  } else {
    throw Error("rnnc: clipping: gradients must be floating point");
  }
}
}  // namespace

void clip_by_value(std::vector<Tensor>& grads, double lo, double hi) {
  for (Tensor& g : grads) {
    if (g.dtype() == DType::f32) {  // in float32, a loop the compiler vectorises (through double it
      // was a visible part of min-char-rnn's step); the same values: a float is within [lo, hi] iff
      // within their floats
      const float l = static_cast<float>(lo), h = static_cast<float>(hi);
      float* p = g.data<float>();
      for (int64_t i = 0, n = g.numel(); i < n; ++i) p[i] = std::min(std::max(p[i], l), h);  // NaN stays NaN
    } else {
      each(g, [&](double x) { return std::clamp(x, lo, hi); });
    }
  }
}

double clip_by_global_norm(std::vector<Tensor>& grads, double max_norm, const std::vector<std::string>& names) {
  double total = 0;
  for (size_t k = 0; k < grads.size(); ++k) {
    double sq = 0;
    for (int64_t i = 0; i < grads[k].numel(); ++i) sq += grads[k].at(i) * grads[k].at(i);
    if (!std::isfinite(sq))
      throw Error(
          fmt::format("rnnc: clip_by_global_norm: the gradient of {} holds a NaN or an infinity; the update "
                      "was refused",
                      k < names.size() ? "'" + names[k] + "'" : "parameter " + std::to_string(k)));
    total += sq;
  }
  const double norm = std::sqrt(total);
  const double coef = max_norm / (norm + 1e-6);
  if (coef < 1)
    for (Tensor& g : grads) each(g, [&](double x) { return x * coef; });
  return norm;
}

}  // namespace rnnc::optim
