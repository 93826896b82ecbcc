// gradcheck: autodiff against central finite differences, in float64, through the interpreter.
#include "rnnc/gradcheck.h"

#include <fmt/format.h>

#include <cmath>
#include <random>

#include "rnnc/autodiff.h"
#include "rnnc/error.h"
#include "rnnc/interpreter.h"

namespace rnnc {

namespace {
using Vec = std::vector<double>;

double dot(const Vec& a, const Vec& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

// Unit vectors e_0..e_{n-1} when n <= limit, else `count` standard normal directions.
std::vector<Vec> directions(int64_t n, int64_t limit, int count, std::mt19937_64& rng) {
  std::vector<Vec> dirs;
  if (n <= limit) {
    for (int64_t i = 0; i < n; ++i) {
      Vec e(n, 0.0);
      e[i] = 1.0;
      dirs.push_back(std::move(e));
    }
  } else {
    std::normal_distribution<double> normal;
    for (int k = 0; k < count; ++k) {
      Vec v(n);
      for (double& x : v) x = normal(rng);
      dirs.push_back(std::move(v));
    }
  }
  return dirs;
}

// All floating outputs, flattened and concatenated.
Vec flat_outputs(const std::vector<Tensor>& outs) {
  Vec r;
  for (const Tensor& t : outs)
    if (is_float(t.dtype())) {
      Vec v = t.values();
      r.insert(r.end(), v.begin(), v.end());
    }
  return r;
}
}  // namespace

std::string GradcheckReport::str() const {
  std::string s = fmt::format("gradcheck {}\n", ok ? "passed" : "FAILED");
  for (const InputCheck& c : inputs)
    s += fmt::format(
        "  input {} '{}': {} probes, max abs error {:.3g}, max rel error {:.3g}{}\n", c.index, c.name, c.probes,
        c.max_abs_error, c.max_rel_error,
        c.ok ? "" : fmt::format("  FAILED (autodiff {:.9g} vs numeric {:.9g})", c.worst_autodiff, c.worst_numeric));
  return s;
}

GradcheckReport gradcheck(const Function& f0, const std::vector<Tensor>& args0, const GradcheckOptions& o) {
  if (args0.size() != f0.inputs.size())
    throw Error(
        fmt::format("rnnc: gradcheck: the function takes {} inputs, {} were given", f0.inputs.size(), args0.size()));
  // Work in float64: retrace when the function was traced for float32.
  std::vector<Spec> specs = f0.input_specs();
  std::vector<Tensor> args;
  bool retrace = false;
  for (size_t i = 0; i < specs.size(); ++i) {
    if (specs[i].dtype == DType::f32) specs[i].dtype = DType::f64, retrace = true;
    args.push_back(is_float(args0[i].dtype()) ? args0[i].to(DType::f64).clone() : args0[i]);
  }
  bool f32_outputs = false;
  for (const Var& out : f0.outputs) f32_outputs |= out.dtype() == DType::f32;
  const Function f = retrace || f32_outputs ? f0.retrace(specs) : f0;

  std::vector<int> wrt;
  std::vector<Var> wrt_vars, seeds;
  for (size_t i = 0; i < f.inputs.size(); ++i)
    if (is_float(f.inputs[i].dtype())) wrt.push_back(static_cast<int>(i)), wrt_vars.push_back(f.inputs[i]);
  std::vector<Var> float_outputs;
  for (const Var& out : f.outputs)
    if (is_float(out.dtype())) {
      float_outputs.push_back(out);
      seeds.push_back(input(out.shape(), out.dtype(), "seed"));
    }
  if (float_outputs.empty()) throw Error("rnnc: gradcheck: the function has no floating-point output");
  // The vector-Jacobian product as one graph: (inputs..., seeds...) -> cotangents of the inputs.
  Function vjp_fn;
  vjp_fn.inputs = f.inputs;
  vjp_fn.inputs.insert(vjp_fn.inputs.end(), seeds.begin(), seeds.end());
  vjp_fn.outputs = vjp(float_outputs, seeds, wrt_vars, o.rules);

  std::mt19937_64 rng(o.seed);
  const int64_t rows = static_cast<int64_t>(flat_outputs(interpret(f, args)).size());
  const std::vector<Vec> us = directions(rows, o.max_rows, o.random_directions, rng);

  // Autodiff rows: u^T J for every probe u.
  std::vector<std::vector<Vec>> grads;  // [u][input]
  for (const Vec& u : us) {
    std::vector<Tensor> a = args;
    size_t at = 0;
    for (const Var& s : seeds) {
      Tensor t(DType::f64, s.shape());
      for (int64_t i = 0; i < t.numel(); ++i) t.set(i, u[at++]);
      a.push_back(t);
    }
    std::vector<Vec> g;
    for (const Tensor& t : interpret(vjp_fn, a)) g.push_back(t.values());
    grads.push_back(std::move(g));
  }

  GradcheckReport report;
  for (size_t w = 0; w < wrt.size(); ++w) {
    const int idx = wrt[w];
    InputCheck c{.index = idx, .name = f.inputs[idx]->name};
    const Tensor x0 = args[idx];
    double worst_ratio = -1;  // worst err / tolerance, whose values the report shows
    for (const Vec& v : directions(x0.numel(), o.max_full, o.random_directions, rng)) {
      // Central difference along v: (f(x + eps v) - f(x - eps v)) / 2 eps.
      std::vector<Tensor> a = args;
      Tensor xp = x0.clone(), xm = x0.clone();
      for (int64_t i = 0; i < x0.numel(); ++i) xp.set(i, x0.at(i) + o.eps * v[i]), xm.set(i, x0.at(i) - o.eps * v[i]);
      a[idx] = xp;
      Vec fp = flat_outputs(interpret(f, a));
      a[idx] = xm;
      Vec fm = flat_outputs(interpret(f, a));
      Vec jv(fp.size());
      for (size_t i = 0; i < jv.size(); ++i) jv[i] = (fp[i] - fm[i]) / (2 * o.eps);
      for (size_t k = 0; k < us.size(); ++k) {
        const double numeric = dot(us[k], jv), autodiff = dot(grads[k][w], v);
        const double err = std::abs(autodiff - numeric);
        const bool good =
            std::isfinite(numeric) && std::isfinite(autodiff) && err <= o.atol + o.rtol * std::abs(numeric);
        ++c.probes;
        const double rel = err / std::max(std::abs(numeric), o.atol);
        const double ratio = std::isfinite(err) ? err / (o.atol + o.rtol * std::abs(numeric)) : INFINITY;
        if (ratio >= worst_ratio) worst_ratio = ratio, c.worst_autodiff = autodiff, c.worst_numeric = numeric;
        c.max_abs_error = std::max(c.max_abs_error, std::isfinite(err) ? err : INFINITY);
        c.max_rel_error = std::max(c.max_rel_error, std::isfinite(rel) ? rel : INFINITY);
        c.ok &= good;
      }
    }
    report.ok &= c.ok;
    report.inputs.push_back(c);
  }
  return report;
}

}  // namespace rnnc
