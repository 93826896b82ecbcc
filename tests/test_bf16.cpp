// The bf16 mode (CompileOptions::bf16, passes/bf16_gemms.cpp): bfloat16 rounds to nearest even in
// the Tensor, the interpreter and compiled kernels alike; bf16 is refused by arithmetic; a compiled
// LSTM step in bf16 equals the interpreted bf16 graph up to float32 summation order, and float32's
// own result up to bf16's precision; loops read their weights converted once, before the loop; a
// sampling step's captured weights become bf16 constants; the few-row GEMM kernels (gemv.h).
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <set>

#include "codegen/codegen.h"
#include "exec/gemm.h"
#include "exec/gemv.h"
#include "helpers.h"
#include "rnnc/char_rnn.h"

using namespace rnnc;
using namespace rnnc::testing;

namespace {

// The bf16 paths are tested on every CPU with avx512_bf16, also where the mode would not pay and
// falls back to float32 (set before anything reads the environment, at the first compile).
const bool forced = [] { return ::setenv("RNNC_BF16", "force", 0) == 0; }();

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
      {1.0 + std::ldexp(1, -8), 1.0},                                           // tie: to even (down)
      {1.0 + 3 * std::ldexp(1, -8), 1.0 + std::ldexp(1, -6)},                   // tie: to even (up)
      {1.0 + std::ldexp(1, -8) + std::ldexp(1, -20), 1.0 + std::ldexp(1, -7)},  // above the tie
      {-2.5, -2.5},
      {bits_to_float(0x7f7f0000u), bits_to_float(0x7f7f0000u)},  // the largest bf16
      {std::numeric_limits<float>::max(), inf},                  // rounds past it
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

TEST_CASE("bf16: a compiled LSTM step in bf16 equals the interpreted bf16 graph, and float32 to bf16's precision",
          "[bf16]") {
  std::mt19937_64 rng(11);
  const int64_t T = 12, B = 64, I = 16, H = 128, V = 10;  // the recurrent GEMM: 2^22 multiply-adds
  Model m{nn::RNN<nn::LSTMCell>::init(I, H, rng, {.layers = 2}), Tensor::uniform({H, V}, -0.5, 0.5, rng),
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

TEST_CASE("bf16: few-row GEMMs against a weight in PyTorch's layout (gemv.h), float32 and bf16", "[bf16][gemv]") {
  std::mt19937_64 rng(5);
  std::uniform_real_distribution<float> u(-1, 1);
  for (const bool half : {false, true}) {
    for (int64_t m = 1; m <= exec::kGemvMaxRows + 1; ++m) {
      for (int64_t n : {1, 3, 4, 5, 64, 131}) {
        for (int64_t k : {1, 2, 15, 16, 17, 31, 32, 33, 100, 256}) {
          INFO((half ? "bf16" : "f32") << " m " << m << " n " << n << " k " << k);
          // Strided rows, with padding that must stay untouched.
          const int64_t lda = k + 3, ldw = k + 5, ldc = n + 2;
          std::vector<float> a(m * lda), w(n * ldw);
          for (float& x : a) x = half ? float(bf16(u(rng))) : u(rng);  // bf16's values, exactly
          for (float& x : w) x = half ? float(bf16(u(rng))) : u(rng);
          const float sentinel = 12345.f;
          std::vector<float> c(m * ldc, sentinel), part(m * ldc, sentinel);
          bool ok = false, ok_part = false;
          const int64_t cut = n / 2 / 4 * 4 + (n > 1);  // a column range that starts off a multiple of 4
          if (half) {
            std::vector<bf16> ah(a.begin(), a.end()), wh(w.begin(), w.end());
            ok = exec::gemv(ah.data(), lda, wh.data(), ldw, c.data(), ldc, m, n, k);
            ok_part = exec::gemv(ah.data(), lda, wh.data(), ldw, part.data(), ldc, m, cut, k) &&
                      exec::gemv(ah.data(), lda, wh.data() + cut * ldw, ldw, part.data() + cut, ldc, m, n - cut, k);
          } else {
            ok = exec::gemv(a.data(), lda, w.data(), ldw, c.data(), ldc, m, n, k);
            ok_part = exec::gemv(a.data(), lda, w.data(), ldw, part.data(), ldc, m, cut, k) &&
                      exec::gemv(a.data(), lda, w.data() + cut * ldw, ldw, part.data() + cut, ldc, m, n - cut, k);
          }
          if (m > exec::kGemvMaxRows) {  // more rows are a GEMM's: refused, nothing written
            CHECK(!ok);
            CHECK(std::count(c.begin(), c.end(), sentinel) == static_cast<long>(c.size()));
            continue;
          }
#if defined(__AVX512F__)
          if (!half) CHECK(ok);  // built for AVX-512: the kernel must run
#endif
#if defined(__AVX512BF16__)
          CHECK(ok);
#endif
          if (!ok) continue;
          REQUIRE(ok_part);
          for (int64_t i = 0; i < m; ++i) {
            for (int64_t j = 0; j < ldc; ++j) {
              const float got = c[i * ldc + j];
              if (j >= n) {
                CHECK(got == sentinel);
                continue;
              }
              double want = 0, mag = 0;
              for (int64_t p = 0; p < k; ++p) {
                want += double(a[i * lda + p]) * w[j * ldw + p];
                mag += std::abs(double(a[i * lda + p]) * w[j * ldw + p]);
              }
              CHECK(std::abs(got - want) <= 1e-6 * mag + 1e-30);  // float32 sums of exact products
              CHECK(part[i * ldc + j] == got);                    // the same bits whatever columns a thread was given
            }
          }
        }
      }
    }
  }
}

TEST_CASE("gemv: one row times a row-major matrix (gemv_rows), against a double reference", "[gemv]") {
  std::mt19937_64 rng(6);
  std::uniform_real_distribution<float> u(-1, 1);
  for (int64_t n : {1, 15, 16, 17, 100, 127, 128, 129, 300}) {
    for (int64_t k : {0, 1, 2, 7, 100, 257}) {
      INFO("n " << n << " k " << k);
      const int64_t ldb = n + 3;  // padded rows of B, and c's padding must stay untouched
      std::vector<float> a(k), b(std::max<int64_t>(k, 1) * ldb);
      for (float& x : a) x = u(rng);
      for (float& x : b) x = u(rng);
      const float sentinel = 12345.f;
      std::vector<float> c(n + 5, sentinel), part(n + 5, sentinel);
      const bool ok = exec::gemv_rows(a.data(), b.data(), ldb, c.data(), n, k);
      const int64_t cut = n / 3;  // another thread's columns: a range that starts anywhere
      const bool ok_part = exec::gemv_rows(a.data(), b.data(), ldb, part.data(), cut, k) &&
                           exec::gemv_rows(a.data(), b.data() + cut, ldb, part.data() + cut, n - cut, k);
#if defined(__AVX512F__)
      CHECK(ok);  // built for AVX-512: the kernel must run
#endif
      if (!ok) continue;
      REQUIRE(ok_part);
      for (int64_t j = 0; j < n + 5; ++j) {
        if (j >= n) {
          CHECK(c[j] == sentinel);
          CHECK(part[j] == sentinel);
          continue;
        }
        double want = 0, mag = 0;
        for (int64_t i = 0; i < k; ++i) {
          want += double(a[i]) * b[i * ldb + j];
          mag += std::abs(double(a[i]) * b[i * ldb + j]);
        }
        CHECK(std::abs(c[j] - want) <= 1e-6 * mag + 1e-30);
        CHECK(part[j] == c[j]);  // the same bits whatever columns a thread was given
      }
    }
  }
}

TEST_CASE(
    "bf16: a sampling step's captured weights are bf16 constants converted once, its logits within bf16's precision",
    "[bf16]") {
  // H 256: W_hh [1024, 256] is the smallest constant bf16_gemms converts (2^18 values).
  std::mt19937_64 rng(3);
  using Model = nn::CharRNN<nn::LSTMCell>;
  using State = Model::State;
  const Model m = Model::init(30, 256, rng, {.layers = 2});
  auto next = [&m](const State& s, const Var& c) { return Model::next(m, s, c); };
  CompileOptions o;
  o.bf16 = true;
  auto f32 = compile(next);
  auto bf = compile(next, o);
  auto ref = interpret(Model::next);  // the weights as inputs, run by the reference interpreter
  State s32 = m.initial_state(1), s16 = s32, sref = s32;
  for (int c : {3, 17, 29, 0, 8}) {
    const Tensor x = Tensor::from({double(c)}, {1}, DType::i32);
    INFO("character " << c);
    Tensor l32, l16, lref;
    std::tie(l32, s32) = f32(s32, x);
    std::tie(l16, s16) = bf(s16, x);
    std::tie(lref, sref) = ref(m, sref, x);
    CHECK(rel(l32, lref) <= 1e-5);  // float32, weights as constants == the interpreter, weights as inputs
    if (!bf16_supported()) {
      CHECK(max_abs_diff(l16, l32) == 0);
      continue;
    }
    CHECK(rel(l16, l32) <= 2e-2);
    CHECK(rel(l16, l32) > 0);  // the GEMMs did read bf16 weights
  }
  if (!bf16_supported()) return;
  // In the optimised graph every large weight is a bf16 constant (no cast of it is left to run per
  // call) and the small ones (the head, [30, 256]) stay float32.
  const auto [traced, args] = bf.function(m.initial_state(1), Tensor::from({1.0}, {1}, DType::i32));
  PassOptions po;
  po.bf16 = true;
  const Function g = optimize(traced, EnvOptions{}, po);
  int bf16_constants = 0, f32_constants = 0, casts_of_constants = 0;
  std::set<const Loop*> seen;  // a loop is met once per output it gives
  std::function<void(const std::vector<Var>&)> walk = [&](const std::vector<Var>& outs) {
    for (const NodePtr& n : topo_order(outs)) {
      if (n->op == Op::Literal && numel(n->shape) >= (1 << 18))
        (n->dtype == DType::bf16 ? bf16_constants : f32_constants)++;
      if (n->op == Op::Cast && n->inputs[0]->op == Op::Literal) ++casts_of_constants;
      if (n->op == Op::Scan && seen.insert(n->loop.get()).second) walk(n->loop->outputs);
    }
  };
  walk(g.outputs);
  CHECK(bf16_constants == 3);  // W_hh of both layers, W_ih of the second (the first's is a row pick)
  CHECK(f32_constants == 0);
  CHECK(casts_of_constants == 0);
}

TEST_CASE("bf16 mode: chosen by what the CPU has and a measured GEMM, or forced") {
  CHECK(forced);
  CHECK(EnvOptions::from_environment().bf16_force);
  CHECK(bf16_supported() == codegen::host_has_bf16());
  if (!codegen::host_has_bf16()) return;
  // The measurement: a speedup, the same each time it is asked for (measured once).
  const double s = exec::bf16_gemm_speedup();
  INFO("bfloat16 GEMMs at " << s << "x float32's on this CPU");
  CHECK(std::isfinite(s));
  CHECK(s > 0);
  CHECK(exec::bf16_gemm_speedup() == s);
}
