// The bf16 mode (CompileOptions::bf16, passes/bf16_gemms.cpp): bfloat16 rounds to nearest even in
// the Tensor, the interpreter and compiled kernels alike; bf16 is refused by arithmetic; a compiled
// LSTM step in bf16 equals the interpreted bf16 graph up to float32 summation order, and float32's
// own result up to bf16's precision; loops read their weights converted once, before the loop.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <limits>

#include "helpers.h"

using namespace rnnc;
using namespace rnnc::testing;

namespace {

float bits_to_float(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

double rel(const Tensor& a, const Tensor& b) {
  double scale = 1e-30;
  for (int64_t i = 0; i < b.numel(); ++i) scale = std::max(scale, std::abs(b.at(i)));
  return max_abs_diff(a, b) / scale;
}

}  // namespace

TEST_CASE("bf16: rounding to nearest even, the same in a Tensor, the interpreter and a kernel", "[bf16]") {
  const double inf = std::numeric_limits<double>::infinity();
  // value, its bf16 (ulp at 1 is 2^-7)
  const std::vector<std::pair<double, double>> table = {
      {1.0, 1.0},
      {1.0 + std::ldexp(1, -8), 1.0},                                             // tie: to even (down)
      {1.0 + 3 * std::ldexp(1, -8), 1.0 + std::ldexp(1, -6)},                     // tie: to even (up)
      {1.0 + std::ldexp(1, -8) + std::ldexp(1, -20), 1.0 + std::ldexp(1, -7)},    // above the tie
      {-2.5, -2.5},
      {bits_to_float(0x7f7f0000u), bits_to_float(0x7f7f0000u)},                   // the largest bf16
      {std::numeric_limits<float>::max(), inf},                                   // rounds past it
      {inf, inf},
      {-inf, -inf},
      {0.0, 0.0},
      {static_cast<double>(bits_to_float(0x00010000u)), static_cast<double>(bits_to_float(0x00010000u))},  // subnormal
  };
  std::vector<double> xs;
  for (const auto& [x, want] : table) xs.push_back(x);
  xs.push_back(std::numeric_limits<double>::quiet_NaN());
  const Tensor x = Tensor::from(xs, {static_cast<int64_t>(xs.size())}, DType::f32);
  const Tensor t = x.to(DType::bf16);
  CHECK(t.dtype() == DType::bf16);
  CHECK(static_cast<int64_t>(t.nbytes()) == 2 * x.numel());
  for (size_t i = 0; i < table.size(); ++i) {
    INFO(table[i].first);
    CHECK(static_cast<float>(t.at(static_cast<int64_t>(i))) == static_cast<float>(table[i].second));
  }
  CHECK(std::isnan(t.at(static_cast<int64_t>(table.size()))));

  // The same in a compiled kernel (cast there and back, fused) and the interpreter, bit for bit.
  Function f = trace([](const Var& v) { return cast(cast(v * 1.0, DType::bf16), DType::f32); }, {spec_of(x)});
  const Tensor c = compile(f)({x})[0], i = interpret(f, {x})[0];
  for (int64_t k = 0; k < x.numel(); ++k) {
    INFO(x.at(k));
    if (std::isnan(x.at(k))) {
      CHECK(std::isnan(c.at(k)));
      CHECK(std::isnan(i.at(k)));
    } else {
      CHECK(c.at(k) == t.at(k));
      CHECK(i.at(k) == t.at(k));
    }
  }
}

TEST_CASE("bf16: a storage type: converted, multiplied and moved, never computed with", "[bf16]") {
  const Var x = input({2, 3}, DType::f32, "x");
  const Var b = cast(x, DType::bf16);
  CHECK(matmul(b, transpose(b)).dtype() == DType::f32);  // summed in float32
  CHECK(reshape(b, {3, 2}).dtype() == DType::bf16);
  auto message = [](const std::function<void()>& f) {
    try {
      f();
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  const std::string m = message([&] { tanh(b); });
  CHECK(m.find("tanh") != std::string::npos);
  CHECK(m.find("bf16") != std::string::npos);
  CHECK(message([&] { maximum(b, b); }).find("bf16 holds GEMM operands only") != std::string::npos);
  CHECK(message([&] { (void)(b + b); }).find("bf16") != std::string::npos);
  CHECK(message([&] { sum(b); }).find("bf16") != std::string::npos);
  CHECK(message([&] { cast(input({2}, DType::i32), DType::bf16); }).find("f32 or f64 only") != std::string::npos);
  CHECK(message([&] { matmul(b, transpose(x)); }).find("different dtypes") != std::string::npos);
}

namespace {

struct Model {
  nn::RNN<nn::LSTMCell> layer;
  Leaf wy, by;
  RNNC_TREE(layer, wy, by)
};

Var model_loss(const Model& m, const Var& xs, const Var& w) {
  const int64_t B = xs.shape()[1];
  auto [ys, last] = m.layer(xs, m.layer.initial_state(B));
  const Shape& s = ys.shape();
  Var logits = matmul(reshape(ys, {s[0] * s[1], s[2]}), Var(m.wy)) + Var(m.by);
  const Var d = tanh(logits) - w;
  return mean(d * d);
}

}  // namespace

TEST_CASE("bf16: a compiled LSTM step in bf16 equals the interpreted bf16 graph, and float32 to bf16's precision", "[bf16]") {
  std::mt19937_64 rng(11);
  const int64_t T = 12, B = 64, I = 16, H = 128, V = 10;  // the recurrent GEMM: 2^22 multiply-adds
  Model m{nn::RNN<nn::LSTMCell>::init(2, I, H, rng), Tensor::uniform({H, V}, -0.5, 0.5, rng),
          Tensor::uniform({V}, -0.1, 0.1, rng)};
  const Tensor xs = Tensor::uniform({T, B, I}, -1, 1, rng), w = Tensor::uniform({T * B, V}, -1, 1, rng);
  auto step = value_and_grad(model_loss);
  auto f32 = compile(step);
  auto [v32, g32] = f32(m, xs, w);
  CompileOptions o;
  o.bf16 = true;
  auto bf = compile(step, o);
  auto [v16, g16] = bf(m, xs, w);
  const CompileStats& st = bf.compiled().stats();
  if (!bf16_supported()) {  // the mode says so and runs float32
    CHECK(!st.bf16);
    CHECK(v16.item() == v32.item());
    return;
  }
  CHECK(st.bf16);
  CHECK(st.str().find("GEMMs in bf16") != std::string::npos);
  CHECK(!f32.compiled().stats().bf16);

  // Against float32: bf16 keeps 8 bits of mantissa; the loss and gradients agree to ~1%.
  CHECK(std::abs(v16.item() - v32.item()) <= 2e-2 * std::abs(v32.item()));
  const auto gs = tree::tensors(g16), want = tree::tensors(g32);
  REQUIRE(gs.size() == want.size());
  for (size_t i = 0; i < gs.size(); ++i) {
    INFO("gradient " << i);
    CHECK(rel(gs[i], want[i]) <= 3e-2);
    CHECK(rel(gs[i], want[i]) > 0);  // and they are not float32's: the GEMMs did run in bf16
  }

  // Against the interpreter running the same bf16 graph: equal up to float32 summation order, which
  // can tip a value's rounding to bf16 (one bf16 ulp, 2^-8, in that element, and on through the
  // steps after it): 5e-3 of the largest element (measured 1.2e-3); a wrong operand or layout
  // would be off by O(1).
  const auto [traced, args] = bf.function(m, xs, w);
  const Function vg = value_and_grad(traced);
  PassOptions po;
  po.bf16 = true;
  const Function g = optimize(vg, EnvOptions{}, po);
  const std::vector<Tensor> want16 = interpret(g, args), got16 = compile(vg, o)(args);
  REQUIRE(want16.size() == got16.size());
  for (size_t i = 0; i < got16.size(); ++i) {
    INFO("output " << i);
    CHECK(rel(got16[i], want16[i]) <= 5e-3);
  }

  // Every GEMM of at least 2^22 multiply-adds takes bf16 (smaller ones stay float32: bf16_gemms.cpp);
  // inside the loops no weight is converted (it was, once, before them).
  int gemms = 0;
  std::function<void(const std::vector<Var>&, bool)> walk = [&](const std::vector<Var>& outs, bool in_loop) {
    for (const NodePtr& n : topo_order(outs)) {
      if (n->op == Op::MatMul && n->dtype == DType::f32) {
        const bool big = numel(n->shape) * n->inputs[0]->shape.back() >= (int64_t{1} << 22);
        gemms += big;
        CHECK(n->inputs[0]->dtype == (big ? DType::bf16 : DType::f32));
        CHECK(n->inputs[1]->dtype == (big ? DType::bf16 : DType::f32));
      }
      if (in_loop && n->op == Op::Cast && n->dtype == DType::bf16) CHECK(n->inputs[0]->name != "bf16");
      if (n->op == Op::Scan) {
        const Loop& L = *n->loop;
        for (int k = L.carries + L.xs; k < static_cast<int>(L.inputs.size()); ++k)
          for (const NodePtr& u : topo_order(L.outputs))
            if (u->op == Op::Cast && u->dtype == DType::bf16) CHECK(u->inputs[0] != L.inputs[k].node());
        walk(L.outputs, true);
      }
    }
  };
  walk(g.outputs, false);
  CHECK(gemms > 0);
}
