// Sequences of different lengths: a batch with per-row lengths equals running every row alone at
// its own length (outputs, final states and every gradient), for each library cell and a user's own,
// forward, reversed and bidirectional, compiled and interpreted; gradcheck; masked losses; errors.
#include <catch2/catch.hpp>

#include <cmath>

#include "helpers.h"

using namespace rnnc;
using namespace rnnc::testing;

namespace {

// Steps [0, steps) of row b of t [T, B, ...]: [steps, 1, ...]; row b of t [B, ...]: [1, ...].
Tensor rows_of(const Tensor& t, int64_t steps, int64_t b) {
  const int64_t B = t.shape()[1], inner = t.numel() / (t.shape()[0] * B);
  Shape s = t.shape();
  s[0] = steps;
  s[1] = 1;
  Tensor out = Tensor::zeros(s, t.dtype());
  for (int64_t i = 0; i < steps; ++i)
    for (int64_t k = 0; k < inner; ++k) out.set(i * inner + k, t.at((i * B + b) * inner + k));
  return out;
}
Tensor row_of(const Tensor& t, int64_t b) {
  const int64_t inner = t.numel() / t.shape()[0];
  Shape s = t.shape();
  s[0] = 1;
  Tensor out = Tensor::zeros(s, t.dtype());
  for (int64_t k = 0; k < inner; ++k) out.set(k, t.at(b * inner + k));
  return out;
}

// Everything the gradient is taken of: the layer, its initial state and the inputs.
template <class Layer> struct Problem {
  using State = decltype(std::declval<const Layer&>().initial_state(1));
  Layer layer;
  State s;
  Leaf xs;
  RNNC_TREE(layer, s, xs)
};
template <class State> struct Out {
  Leaf ys;
  State last;
  RNNC_TREE(ys, last)
};

// sum(w * ys) + sum_k (k + 1) |final leaf k|^2: every output and final state reaches the loss, row
// by row, so the batch's loss is the sum of its rows' losses.
template <class Layer> auto loss_fn(bool reverse, bool with_lengths) {
  using P = Problem<Layer>;
  return [reverse, with_lengths](const P& p, const Var& lengths, const Var& w) {
    auto [ys, last] =
        p.layer(Var(p.xs), p.s, nn::RunOptions{.lengths = with_lengths ? lengths : Var(), .reverse = reverse});
    Var loss = sum(w * ys);
    double k = 1;
    for (const Var& v : tree::vars(last)) loss = loss + sum(v * v) * k++;
    return std::pair{loss, Out<typename P::State>{ys, last}};
  };
}

template <class Layer> void check_rows_alone(const Layer& layer, bool reverse, const std::vector<int32_t>& lengths) {
  using P = Problem<Layer>;
  std::mt19937_64 rng(5);
  const int64_t B = static_cast<int64_t>(lengths.size()), T = 6, I = 3;
  P p{layer, layer.initial_state(B), Tensor::uniform({T, B, I}, -1, 1, rng, DType::f64)};
  tree::for_each(p.s, [&](const std::string&, Leaf& l) { l = Tensor::uniform(l.shape(), -0.8, 0.8, rng, DType::f64); });
  const Tensor len = Tensor::from(std::vector<double>(lengths.begin(), lengths.end()), {B}, DType::i32);
  // The outputs' width: run once to learn it.
  auto [v0, out0, g0] =
      interpret(value_and_grad(loss_fn<Layer>(reverse, true)))(p, len, Tensor::zeros({T, B, 1}, DType::f64));
  const Shape ys_shape = out0.ys.shape();
  const Tensor w = Tensor::uniform(ys_shape, -1, 1, rng, DType::f64);

  auto [value, out, grads] = compile(value_and_grad(loss_fn<Layer>(reverse, true)))(p, len, w);
  auto [ivalue, iout, igrads] = interpret(value_and_grad(loss_fn<Layer>(reverse, true)))(p, len, w);
  // compiled == interpreted
  CHECK(std::abs(value.item() - ivalue.item()) < 1e-12);
  CHECK(max_abs_diff(out.ys.tensor(), iout.ys.tensor()) < 1e-12);
  for (size_t i = 0; i < tree::size(grads); ++i)
    CHECK(max_abs_diff(tree::tensors(grads)[i], tree::tensors(igrads)[i]) < 1e-12);

  // Each row alone, at its own length, with no lengths given; summed over rows where shared.
  double want_value = 0;
  std::vector<Tensor> want_param_grads;
  for (const Tensor& t : tree::tensors(grads.layer)) want_param_grads.push_back(Tensor::zeros(t.shape(), DType::f64));
  for (int64_t b = 0; b < B; ++b) {
    INFO("row " << b << ", length " << lengths[b]);
    const int64_t n = lengths[b];
    const std::vector<Tensor> s_all = tree::tensors(p.s), last = tree::tensors(out.last);
    const std::vector<Tensor> gs = tree::tensors(grads.s);
    if (n == 0) {
      // The initial state comes back; the outputs are zero; only the state terms have gradients.
      for (size_t k = 0; k < s_all.size(); ++k) {
        CHECK(max_abs_diff(row_of(last[k], b), row_of(s_all[k], b)) == 0);
        Tensor r = row_of(s_all[k], b);
        for (int64_t e = 0; e < r.numel(); ++e) {
          want_value += static_cast<double>(k + 1) * r.at(e) * r.at(e);
          CHECK(std::abs(row_of(gs[k], b).at(e) - 2.0 * static_cast<double>(k + 1) * r.at(e)) < 1e-12);
        }
      }
      CHECK(max_abs_diff(rows_of(out.ys.tensor(), T, b),
                         Tensor::zeros(rows_of(out.ys.tensor(), T, b).shape(), DType::f64)) == 0);
      CHECK(max_abs_diff(rows_of(grads.xs.tensor(), T, b), Tensor::zeros({T, 1, I}, DType::f64)) == 0);
      continue;
    }
    P q{layer, p.s, rows_of(p.xs.tensor(), n, b)};
    std::vector<Tensor> sr;
    for (const Tensor& t : s_all) sr.push_back(row_of(t, b));
    q.s = tree::replace(p.s, sr);
    // (A compiled function fixes its first argument's shapes: one per row.)
    auto [v, o, g] =
        compile(value_and_grad(loss_fn<Layer>(reverse, false)))(q, Tensor::zeros({1}, DType::i32), rows_of(w, n, b));
    want_value += v.item();
    CHECK(max_abs_diff(rows_of(out.ys.tensor(), n, b), o.ys.tensor()) < 1e-12);
    // Past its length the row's outputs and input gradients are zero.
    const Tensor all = rows_of(out.ys.tensor(), T, b), gx = rows_of(grads.xs.tensor(), T, b);
    const int64_t width = all.numel() / T;
    for (int64_t e = n * width; e < all.numel(); ++e) CHECK(all.at(e) == 0);
    for (int64_t e = n * I; e < gx.numel(); ++e) CHECK(gx.at(e) == 0);
    CHECK(max_abs_diff(rows_of(grads.xs.tensor(), n, b), g.xs.tensor()) < 1e-12);
    for (size_t k = 0; k < last.size(); ++k) {
      CHECK(max_abs_diff(row_of(last[k], b), tree::tensors(o.last)[k]) < 1e-12);
      CHECK(max_abs_diff(row_of(gs[k], b), tree::tensors(g.s)[k]) < 1e-12);
    }
    const std::vector<Tensor> gp = tree::tensors(g.layer);
    for (size_t k = 0; k < gp.size(); ++k)
      for (int64_t e = 0; e < gp[k].numel(); ++e) want_param_grads[k].set(e, want_param_grads[k].at(e) + gp[k].at(e));
  }
  CHECK(std::abs(value.item() - want_value) < 1e-11);
  const std::vector<Tensor> gp = tree::tensors(grads.layer);
  for (size_t k = 0; k < gp.size(); ++k) CHECK(max_abs_diff(gp[k], want_param_grads[k]) < 1e-11);
}

template <class Cell> void check_cell(const char* name) {
  std::mt19937_64 rng(11);
  const std::vector<int32_t> lengths{3, 0, 6, 1, 5};  // 0 and T = 6 included
  SECTION(std::string(name) + " forward") {
    check_rows_alone(nn::RNN<Cell>::init(3, 4, rng, {.layers = 2}, DType::f64), false, lengths);
  }
  SECTION(std::string(name) + " reverse") {
    check_rows_alone(nn::RNN<Cell>::init(3, 4, rng, {.layers = 2}, DType::f64), true, lengths);
  }
  SECTION(std::string(name) + " bidirectional") {
    check_rows_alone(nn::Bidirectional<Cell>::init(3, 4, rng, {.layers = 2}, DType::f64), false, lengths);
  }
}

}  // namespace

TEST_CASE("lengths: every row equals the row run alone at its own length (float64, 1e-12)", "[lengths]") {
  check_cell<nn::RNNCell>("rnn");
  check_cell<nn::LSTMCell>("lstm");
  check_cell<nn::GRUCell>("gru");
  check_cell<Leaky>("a user's cell");
}

TEST_CASE("lengths: gradcheck through a length-masked scan, forward and reversed (float64)", "[lengths]") {
  std::mt19937_64 rng(3);
  for (bool reverse : {false, true}) {
    INFO("reverse " << reverse);
    const std::vector<Tensor> args{
        Tensor::uniform({4, 3, 2}, -1, 1, rng, DType::f64), Tensor::uniform({3, 3}, -0.6, 0.6, rng, DType::f64),
        Tensor::uniform({2, 3}, -0.6, 0.6, rng, DType::f64), Tensor::uniform({3, 3}, -0.6, 0.6, rng, DType::f64),
        Tensor::from({2, 0, 4}, {3}, DType::i32)};
    GradcheckReport r = gradcheck(
        [reverse](std::span<const Var> a) {
          Scanned s = scan(
              [&](std::span<const Var> c, std::span<const Var> x) -> ScanStep {
                Var h = tanh(matmul(x[0], a[2]) + matmul(c[0], a[3]));
                return {{h}, {h * h}};
              },
              {a[1]}, {a[0]}, {.reverse = reverse, .lengths = a[4]});
          return std::vector<Var>{sum(s.ys[0]) + sum(s.carries[0] * s.carries[0])};
        },
        args);
    INFO(r.str());
    CHECK(r.ok);
    CHECK(r.inputs.size() == 4);  // the lengths are not differentiated
  }
}

TEST_CASE("lengths: masked_mean counts real steps only and last_step picks each row's last", "[lengths]") {
  // x [T = 3, B = 2]: row 0 has 2 real steps, row 1 has 3 (its padding is a NaN for row 0).
  const double nan = std::nan("");
  const Tensor x = Tensor::from({1, 10, 2, 20, nan, 30}, {3, 2}, DType::f64);
  const Tensor len = Tensor::from({2, 3}, {2}, DType::i32);
  for (bool compiled : {false, true}) {
    auto f = [](const Var& v, const Var& n) { return nn::masked_mean(v, n); };
    auto g = [](const Var& v, const Var& n) { return nn::last_step(v, n); };
    const Tensor m = compiled ? compile(f)(x, len) : interpret(f)(x, len);
    CHECK(m.item() == Approx((1 + 2 + 10 + 20 + 30) / 5.0));
    const Tensor l = compiled ? compile(g)(x, len) : interpret(g)(x, len);
    CHECK(l.at(0) == 2);
    CHECK(l.at(1) == 30);
  }
  // The NaN in the padding reaches neither the value nor the gradient.
  auto grad = interpret(value_and_grad([](const Leaf& v, const Var& n) { return nn::masked_mean(Var(v), n); }));
  auto [value, g] = grad(Leaf(x), len);
  CHECK(std::isfinite(value.item()));
  CHECK(g.tensor().at(4) == 0);
  CHECK(g.tensor().at(0) == Approx(0.2));
  // No real step at all: 0, not a NaN.
  CHECK(interpret([](const Var& v, const Var& n) { return nn::masked_mean(v, n); })(
            x, Tensor::from({0, 0}, {2}, DType::i32))
            .item() == 0);
}

TEST_CASE("lengths: accuracy over real steps only", "[lengths]") {
  // T = 2, B = 2, V = 2; row 1 has one real step. Predictions: argmax 1, 0 / 0, 1.
  const Tensor logits = Tensor::from({0, 1, 1, 0, 1, 0, 0, 1}, {2, 2, 2});
  const Tensor labels = Tensor::from({1, 0, 1, 0}, {2, 2}, DType::i32);
  CHECK(nn::accuracy(logits, labels, Tensor::from({2, 1}, {2}, DType::i32)) == Approx(2.0 / 3));  // (0,0) (0,1) (1,0)
  CHECK(nn::accuracy(logits, labels, Tensor::from({2, 2}, {2}, DType::i32)) == Approx(0.5));
  CHECK_THROWS_WITH(nn::accuracy(logits, labels, Tensor::from({2}, {1}, DType::i32)), Catch::Contains("do not match"));
}

TEST_CASE("lengths: bad lengths are errors naming the row or the shapes", "[lengths]") {
  auto run = [](const Var& xs, const Var& h0, const Var& n) {
    auto [last, ys] = scan([](const Var& h, const Var& x) { return std::pair{h + x, h}; }, h0, xs, {.lengths = n});
    return ys;
  };
  const Tensor xs = Tensor::zeros({4, 3, 2}), h0 = Tensor::zeros({3, 2});
  for (bool compiled : {false, true}) {
    INFO("compiled " << compiled);
    auto call = [&](const Tensor& n) { return compiled ? compile(run)(xs, h0, n) : interpret(run)(xs, h0, n); };
    CHECK_THROWS_WITH(call(Tensor::from({1, 5, 2}, {3}, DType::i32)),
                      Catch::Contains("lengths[1] = 5 is outside [0, 4]") && Catch::Contains("test_lengths.cpp"));
    CHECK_THROWS_WITH(call(Tensor::from({1, 2, -1}, {3}, DType::i32)), Catch::Contains("lengths[2] = -1"));
    CHECK_THROWS_WITH(call(Tensor::from({1, 2}, {2}, DType::i32)), Catch::Contains("every carry is [B = 2, ...]"));
    CHECK_THROWS_WITH(call(Tensor::from({1, 2, 3}, {3}, DType::f32)), Catch::Contains("lengths must be i32 [B]"));
    CHECK(call(Tensor::from({1, 4, 0}, {3}, DType::i32)).shape() == Shape{4, 3, 2});
  }
}
