// The reference interpreter against values worked out by hand.
#include <catch2/catch.hpp>
#include <rnnc/rnnc.h>

using namespace rnnc;
using Catch::Contains;

namespace {
std::vector<double> run1(const std::function<Var(Var)>& fn, const Tensor& x) {
  Function f = trace([&](Var v) { return fn(v); }, {spec_of(x)});
  return interpret(f, {x})[0].values();
}
using V = std::vector<double>;
}  // namespace

TEST_CASE("interpreter: table of ops against hand-computed values") {
  Tensor x = Tensor::from({1, -2, 3, -4, 5, -6}, {2, 3}, DType::f64);
  struct Row {
    const char* name;
    std::function<Var(Var)> fn;
    V expect;
  };
  std::vector<Row> rows = {
      {"neg", [](Var v) { return -v; }, {-1, 2, -3, 4, -5, 6}},
      {"relu", [](Var v) { return relu(v); }, {1, 0, 3, 0, 5, 0}},
      {"abs", [](Var v) { return abs(v); }, {1, 2, 3, 4, 5, 6}},
      {"sign", [](Var v) { return sign(v); }, {1, -1, 1, -1, 1, -1}},
      {"broadcast add",
       [](Var v) {
         return v + constant(Tensor::from({10, 20, 30}, {3}, DType::f64));
       },
       {11, 18, 33, 6, 25, 24}},
      {"column broadcast",
       [](Var v) {
         return v * constant(Tensor::from({1, 2}, {2, 1}, DType::f64));
       },
       {1, -2, 3, -8, 10, -12}},
      {"sum axis 0", [](Var v) { return sum(v, {0}); }, {-3, 3, -3}},
      {"sum axis 1", [](Var v) { return sum(v, {1}); }, {2, -5}},
      {"mean", [](Var v) { return mean(v); }, {-0.5}},
      {"max axis 1", [](Var v) { return max(v, {1}); }, {3, 5}},
      {"min axis 0", [](Var v) { return min(v, {0}); }, {-4, -2, -6}},
      {"transpose", [](Var v) { return transpose(v); }, {1, -4, -2, 5, 3, -6}},
      {"slice", [](Var v) { return slice(v, 1, 1, 3); }, {-2, 3, 5, -6}},
      {"pad",
       [](Var v) {
         return pad(slice(v, 0, 0, 1), {0, 1}, {0, 1});
       },
       {0, 1, -2, 3, 0}},
      {"concat axis 1",
       [](Var v) {
         return concat({v, slice(v, 1, 0, 1)}, 1);
       },
       {1, -2, 3, 1, -4, 5, -6, -4}},
      {"matmul", [](Var v) { return matmul(v, transpose(v)); }, {14, -32, -32, 77}},
      {"maximum", [](Var v) { return maximum(v, 0.5); }, {1, 0.5, 3, 0.5, 5, 0.5}},
      {"where", [](Var v) { return where(v > 0.0, v, 100.0); }, {1, 100, 3, 100, 5, 100}},
      {"comparison", [](Var v) { return v >= 3.0; }, {0, 0, 1, 0, 1, 0}},
      {"pow", [](Var v) { return pow(abs(v), 2.0); }, {1, 4, 9, 16, 25, 36}},
  };
  for (const Row& r : rows) {
    DYNAMIC_SECTION(r.name) {
      V got = run1(r.fn, x);
      REQUIRE(got.size() == r.expect.size());
      for (size_t i = 0; i < got.size(); ++i) CHECK(got[i] == Approx(r.expect[i]));
    }
  }
}

TEST_CASE("interpreter: indexing") {
  Tensor table = Tensor::from({0, 1, 10, 11, 20, 21}, {3, 2}, DType::f32);
  Tensor idx = Tensor::from({2, 0, 2}, {3}, DType::i32);
  Function f = trace(
      [](Var t, Var i) {
        return std::vector<Var>{gather(t, i), scatter_add(i, gather(t, i), {3, 2}), one_hot(i, 4)};
      },
      {spec_of(table), spec_of(idx)});
  auto out = interpret(f, {table, idx});
  CHECK(out[0].values() == V{20, 21, 0, 1, 20, 21});
  CHECK(out[1].values() == V{0, 1, 0, 0, 40, 42});
  CHECK(out[2].values() == V{0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 1, 0});
  Tensor bad = Tensor::from({3, 0, 1}, {3}, DType::i32);
  CHECK_THROWS_WITH(interpret(f, {table, bad}), Contains("gather: index 3 is out of range [0, 3)"));
}

TEST_CASE("interpreter: softmax and cross-entropy are stable at extreme logits") {
  Tensor logits = Tensor::from({1000, -1000, 0, -1000, 1000, 999}, {2, 3}, DType::f32);
  Tensor labels = Tensor::from({1, 2}, {2}, DType::i32);
  Function f = trace(
      [](Var z, Var y) {
        return std::vector<Var>{softmax(z), softmax_cross_entropy(z, y), logsumexp(z)};
      },
      {spec_of(logits), spec_of(labels)});
  auto out = interpret(f, {logits, labels});
  V p = out[0].values(), ce = out[1].values(), lse = out[2].values();
  for (double v : p) CHECK(std::isfinite(v));
  CHECK(p[0] == Approx(1.0));
  CHECK(p[4] == Approx(1.0 / (1.0 + std::exp(-1.0))));
  CHECK(ce[0] == Approx(2000.0));
  CHECK(ce[1] == Approx(std::log1p(std::exp(1.0))).epsilon(1e-4));  // float32 near 1000
  CHECK(lse[0] == Approx(1000.0));
}

TEST_CASE("interpreter: NaN and Inf propagate where IEEE says") {
  Tensor x = Tensor::from({NAN, 1, INFINITY, -1}, {4}, DType::f32);
  V got = run1([](Var v) { return maximum(v, 0.0); }, x);
  CHECK(std::isnan(got[0]));
  CHECK(got[2] == INFINITY);
  CHECK(std::isnan(run1([](Var v) { return max(v); }, x)[0]));
  CHECK(std::isnan(run1([](Var v) { return log(v); }, x)[3]));
}

TEST_CASE("interpreter: bad arguments are rejected with the input's name") {
  Function f = trace([](Var x) { return x * 2.0; }, {Spec{{2, 2}, DType::f32, "weights"}});
  CHECK_THROWS_WITH(interpret(f, {Tensor::zeros({2, 3})}), Contains("('weights') expects f32[2, 2], got f32[2, 3]"));
  CHECK_THROWS_WITH(interpret(f, {}), Contains("takes 1 inputs, 0 were given"));
  CHECK_THROWS_WITH(interpret(f, {Tensor::zeros({2, 2}, DType::f64)}), Contains("got f64[2, 2]"));
}

TEST_CASE("interpreter: float32 and float64 agree") {
  std::mt19937_64 rng(7);
  Tensor a = Tensor::uniform({8, 16}, -1, 1, rng, DType::f64), b = Tensor::uniform({16, 4}, -1, 1, rng, DType::f64);
  auto fn = [](Var x, Var w) { return softmax(tanh(matmul(x, w)) * 3.0); };
  Tensor r64 = interpret(trace(fn, {spec_of(a), spec_of(b)}), {a, b})[0];
  Tensor r32 = interpret(trace(fn, {Spec{{8, 16}}, Spec{{16, 4}}}), {a.to(DType::f32), b.to(DType::f32)})[0];
  CHECK(max_abs_diff(r64, r32.to(DType::f64)) < 1e-5);
}
