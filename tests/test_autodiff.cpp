// Reverse mode: the transformation itself, its negative control, and its edge cases.
#include <catch2/catch.hpp>

#include "helpers.h"

using namespace rnnc;
using namespace rnnc::testing;
using Catch::Contains;

namespace {
std::vector<double> grad_values(const Function& f, const std::vector<Tensor>& args, int output = 0) {
  return interpret(grad(f), args)[output].values();
}
}  // namespace

TEST_CASE("negative control: a wrong gradient rule makes gradcheck fail") {
  std::vector<Tensor> args = make_args({{{3, 4}}}, 11);
  auto fn = [](Var x) { return sum(tanh(x) * x); };
  CHECK(gradcheck(fn, args).ok);
  {
    // d tanh = 1 - y (instead of 1 - y^2): plausible-looking and wrong.
    GradcheckOptions wrong;
    wrong.rules =
        default_grad_rules().with(Op::Tanh, [](const Var& y, const Var& g) { return std::vector<Var>{g * (1.0 - y)}; });
    GradcheckReport report = gradcheck(fn, args, wrong);
    INFO(report.str());
    CHECK_FALSE(report.ok);
    CHECK_FALSE(report.inputs.at(0).ok);
    CHECK(report.inputs.at(0).max_abs_error > 1e-3);
    CHECK_THAT(report.str(), Contains("FAILED"));
  }
  CHECK(gradcheck(fn, args).ok);  // the default table is untouched
}

TEST_CASE("negative control: a wrong rule is caught through random directions too") {
  std::vector<Tensor> args = make_args({{{40, 30}}}, 12);  // 1200 elements > max_full
  GradcheckOptions wrong;
  wrong.rules =
      default_grad_rules().with(Op::Exp, [](const Var& y, const Var& g) { return std::vector<Var>{g * y * 1.01}; });
  GradcheckReport report = gradcheck([](Var x) { return sum(exp(x)); }, args, wrong);
  CHECK_FALSE(report.ok);
  CHECK(report.inputs.at(0).probes == GradcheckOptions{}.random_directions);
}

TEST_CASE("gradient rules are a value: a custom rule reaches grad and the loop bodies, the default stays") {
  // A straight-through clip: d clip(x) = 1 everywhere (instead of 0 outside the ramp), inside a scan.
  const GradRules straight =
      default_grad_rules().with(Op::HardSigmoid, [](const Var&, const Var& g) { return std::vector<Var>{0.2 * g}; });
  Function f = trace(
      [](Var x) {
        Scanned s = scan(
            [](std::span<const Var> c, std::span<const Var> xt) -> ScanStep {
              Var h = hard_sigmoid(c[0] + xt[0]);
              return {{h}, {h}};
            },
            {full({1}, 0.0, DType::f64)}, {reshape(x, {3, 1})});
        return sum(s.ys[0]);
      },
      {Spec{{3}, DType::f64, "x"}});
  const Tensor x = Tensor::from({9.0, 9.0, 9.0}, {3}, DType::f64);  // every step clipped at 1
  CHECK(interpret(grad(f), {x})[0].values() == std::vector<double>{0, 0, 0});
  const std::vector<double> st = interpret(grad(f, {}, straight), {x})[0].values();
  CHECK(st[2] == Approx(0.2));
  CHECK(st[0] == Approx(0.2 + 0.04 + 0.008));
  CHECK(interpret(grad(f), {x})[0].values() == std::vector<double>{0, 0, 0});
}

TEST_CASE("every op has a gradient rule") {
  for (int i = 0; i < kNumOps; ++i) {
    INFO(name_of(static_cast<Op>(i)));
    CHECK(default_grad_rules().has(static_cast<Op>(i)));
  }
}

TEST_CASE("gradients of shared nodes accumulate") {
  Tensor x = Tensor::from({0.5, -1.0, 2.0}, {3}, DType::f64);
  // d/dx sum(x*x + x) = 2x + 1
  Function f = trace([](Var v) { return sum(v * v + v); }, {spec_of(x)});
  CHECK(grad_values(f, {x}) == std::vector<double>{2.0, -1.0, 5.0});
  // t is one node used twice: d/dx sum(t * t) = 2 t (1 - t^2)
  Function g = trace(
      [](Var v) {
        Var t = tanh(v);
        return sum(t * t);
      },
      {spec_of(x)});
  std::vector<double> got = grad_values(g, {x});
  for (int i = 0; i < 3; ++i) {
    double t = std::tanh(x.at(i));
    CHECK(got[i] == Approx(2 * t * (1 - t * t)));
  }
}

TEST_CASE("stop_gradient blocks flow, and unused inputs get zeros") {
  Tensor x = Tensor::from({1.0, 2.0}, {2}, DType::f64), y = Tensor::from({3.0, 4.0}, {2}, DType::f64);
  Tensor z = Tensor::from({5.0}, {1}, DType::f64);
  Function f = trace([](Var a, Var b, Var) { return sum(stop_gradient(a) * b + stop_gradient(a * a)); },
                     {spec_of(x), spec_of(y), spec_of(z)});
  auto g = interpret(grad(f), {x, y, z});
  CHECK(g[0].values() == std::vector<double>{0.0, 0.0});
  CHECK(g[1].values() == std::vector<double>{1.0, 2.0});
  CHECK(g[2].values() == std::vector<double>{0.0});
}

TEST_CASE("value_and_grad returns the value first, grad selects inputs") {
  Tensor x = Tensor::from({1.0, 2.0}, {2}, DType::f64), w = Tensor::from({3.0, -1.0}, {2}, DType::f64);
  Function f = trace([](Var a, Var b) { return sum(a * b); }, {spec_of(x), spec_of(w)});
  auto vg = interpret(value_and_grad(f), {x, w});
  REQUIRE(vg.size() == 3);
  CHECK(vg[0].item() == 1.0);
  CHECK(vg[1].values() == w.values());
  CHECK(vg[2].values() == x.values());
  auto only_w = interpret(grad(f, {1}), {x, w});
  REQUIRE(only_w.size() == 1);
  CHECK(only_w[0].values() == x.values());
}

TEST_CASE("value_and_grad with auxiliary outputs passes them through") {
  Tensor x = Tensor::from({1.0, 2.0}, {2}, DType::f64);
  Function f = trace([](Var a) { return std::vector<Var>{sum(a * a), tanh(a)}; }, {spec_of(x)});
  CHECK_THROWS_WITH(value_and_grad(f), Contains("one floating scalar output"));
  auto out = interpret(value_and_grad(f, {}, true), {x});
  REQUIRE(out.size() == 3);
  CHECK(out[0].item() == 5.0);
  CHECK(out[1].values()[1] == Approx(std::tanh(2.0)));
  CHECK(out[2].values() == std::vector<double>{2.0, 4.0});
}

TEST_CASE("grad is a graph, so it can be differentiated again") {
  Tensor x = Tensor::from({0.5, -1.5, 2.0}, {3}, DType::f64);
  // The first derivative of sum(x^3) is 3x^2, built as graph nodes by vjp; its sum differentiates
  // again: d/dx sum(3 x^2) = 6x.
  Function g2 =
      grad(trace([](Var v) { return sum(vjp({sum(v * v * v)}, {full({}, 1.0, DType::f64)}, {v})[0]); }, {spec_of(x)}));
  std::vector<double> got = interpret(g2, {x})[0].values();
  for (int i = 0; i < 3; ++i) CHECK(got[i] == Approx(6 * x.at(i)));
}

TEST_CASE("grad rejects what has no gradient") {
  Function vec = trace([](Var v) { return v * 2.0; }, {Spec{{3}, DType::f64, ""}});
  CHECK_THROWS_WITH(grad(vec), Contains("one floating scalar output"));
  Function ints = trace([](Var t, Var i) { return sum(gather(t, i)); },
                        {Spec{{4, 2}, DType::f64, ""}, Spec{{3}, DType::i32, "ids"}});
  CHECK_THROWS_WITH(grad(ints, {1}), Contains("('ids') is i32, which has no gradient"));
  CHECK(grad(ints).outputs.size() == 1);  // by default only floating inputs
}

TEST_CASE("the backward graph of an unrolled loop stays linear in its length") {
  for (int T : {10, 100}) {
    Function f = trace(
        [T](Var h0, Var w) {
          Var h = h0;
          for (int t = 0; t < T; ++t) h = tanh(matmul(h, w));
          return sum(h);
        },
        {Spec{{2, 8}}, Spec{{8, 8}}});
    size_t nodes = topo_order(grad(f).outputs).size();
    INFO("T = " << T << ": " << nodes << " nodes");
    CHECK(nodes < static_cast<size_t>(20 * T + 20));
  }
}
