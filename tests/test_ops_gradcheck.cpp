// The op table, gradchecked: every primitive (and every composite) in float64 at random points
// away from kinks and domain edges, with broadcast and 0-d cases.
#include <catch2/catch.hpp>

#include <set>

#include "op_table.h"

using namespace rnnc;
using namespace rnnc::testing;

TEST_CASE("every op's gradient matches finite differences in float64") {
  uint64_t seed = 1;
  for (const Row& row : op_rows()) {
    DYNAMIC_SECTION(row.name) {
      std::vector<Tensor> args = make_args(row.args, seed++);
      GradcheckOptions opts;
      if (std::string(row.name).rfind("cast", 0) == 0) opts.eps = 1e-2;  // through float32: a wider step
      GradcheckReport report =
          gradcheck(trace_fn([&](Args x) { return std::vector<Var>{row.fn(x)}; }, specs_of(args)), args, opts);
      INFO(report.str());
      CHECK(report.ok);
      CHECK(report.inputs.size() >= 1);
    }
  }
}

TEST_CASE("the op table is covered: every differentiable primitive has a row") {
  std::set<Op> covered;
  for (const Row& row : op_rows()) covered.insert(row.covers.begin(), row.covers.end());
  for (int i = 0; i < kNumOps; ++i) {
    Op op = static_cast<Op>(i);
    if (op == Op::Input || op == Op::StopGradient) continue;  // leaves of every row; stop_gradient is in test_autodiff
    INFO(name_of(op));
    CHECK(covered.count(op));
  }
}

TEST_CASE("the same rows run in float32 through the interpreter") {
  uint64_t seed = 100;
  for (const Row& row : op_rows()) {
    DYNAMIC_SECTION(row.name) {
      std::vector<Tensor> args = make_args(row.args, seed++);
      TraceFn fn = [&](Args x) { return std::vector<Var>{row.fn(x)}; };
      Function f64 = trace_fn(fn, specs_of(args, DType::f64));
      std::vector<Tensor> args32;
      for (const Tensor& a : args) args32.push_back(is_float(a.dtype()) ? a.to(DType::f32) : a);
      Function f32 = trace_fn(fn, specs_of(args, DType::f32));
      Tensor r64 = interpret(f64, args)[0], r32 = interpret(f32, args32)[0];
      CHECK(r32.dtype() == DType::f32);
      CHECK(max_abs_diff(r64, r32.to(DType::f64)) < 1e-5);
    }
  }
}
