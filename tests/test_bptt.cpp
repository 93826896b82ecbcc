// Backpropagation through time falls out of autodiff of the unrolled recurrence. Checked on
// Karpathy's min-char-rnn against finite differences and against the tutorial's hand-derived
// backward pass, for T = 1..10; plus truncation and the extreme-logit cross-entropy.
#include <catch2/catch.hpp>

#include <Eigen/Dense>

#include "helpers.h"

using namespace rnnc;
using namespace rnnc::testing;

namespace {
constexpr int V = 5, H = 4;  // vocabulary, hidden units

// min-char-rnn's loss over T steps, in the tutorial's column-vector layout:
//   h_t = tanh(Wxh x_t + Whh h_{t-1} + bh),  y_t = Why h_t + by,  loss = sum_t -log softmax(y_t)[target_t]
Var min_char_rnn_loss(std::span<const Var> a, int T) {
  const Var &Wxh = a[0], &Whh = a[1], &Why = a[2], &bh = a[3], &by = a[4], &hprev = a[5], &inputs = a[6],
            &targets = a[7];
  Var xs = one_hot(inputs, V, Wxh.dtype());  // [T, V]
  Var h = hprev, loss;
  for (int t = 0; t < T; ++t) {
    Var x = reshape(slice(xs, 0, t, t + 1), {V, 1});
    h = tanh(matmul(Wxh, x) + matmul(Whh, h) + bh);
    Var y = matmul(Why, h) + by;
    Var l = sum(softmax_cross_entropy(reshape(y, {1, V}), slice(targets, 0, t, t + 1)));
    loss = loss.defined() ? loss + l : l;
  }
  return loss;
}

std::vector<Tensor> min_char_rnn_args(int T, uint64_t seed) {
  std::vector<Tensor> args = make_args(
      {{{H, V}}, {{H, H}}, {{V, H}}, {{H, 1}}, {{V, 1}}, {{H, 1}}, {{T}, Domain::Index, V}, {{T}, Domain::Index, V}},
      seed);
  return args;
}

using Mat = Eigen::MatrixXd;
Mat to_mat(const Tensor& t) {
  Mat m(t.shape()[0], t.rank() > 1 ? t.shape()[1] : 1);
  for (int64_t i = 0; i < m.rows(); ++i)
    for (int64_t j = 0; j < m.cols(); ++j) m(i, j) = t.at(i * m.cols() + j);
  return m;
}

// The tutorial's backward pass, written out by hand:
//   dy = p - onehot(target); dWhy += dy h^T; dby += dy; dh = Why^T dy + dhnext;
//   dhraw = (1 - h*h) dh; dbh += dhraw; dWxh += dhraw x^T; dWhh += dhraw h_prev^T; dhnext = Whh^T dhraw
std::vector<Mat> hand_backward(const std::vector<Tensor>& a, int T) {
  Mat Wxh = to_mat(a[0]), Whh = to_mat(a[1]), Why = to_mat(a[2]), bh = to_mat(a[3]), by = to_mat(a[4]);
  std::vector<Mat> xs(T), hs(T + 1), ps(T);
  hs[0] = to_mat(a[5]);
  for (int t = 0; t < T; ++t) {
    xs[t] = Mat::Zero(V, 1);
    xs[t](static_cast<int>(a[6].at(t)), 0) = 1;
    hs[t + 1] = (Wxh * xs[t] + Whh * hs[t] + bh).array().tanh();
    Mat y = Why * hs[t + 1] + by;
    Mat e = (y.array() - y.maxCoeff()).exp();
    ps[t] = e / e.sum();
  }
  Mat dWxh = Mat::Zero(H, V), dWhh = Mat::Zero(H, H), dWhy = Mat::Zero(V, H), dbh = Mat::Zero(H, 1),
      dby = Mat::Zero(V, 1), dhnext = Mat::Zero(H, 1);
  for (int t = T - 1; t >= 0; --t) {
    Mat dy = ps[t];
    dy(static_cast<int>(a[7].at(t)), 0) -= 1;
    dWhy += dy * hs[t + 1].transpose();
    dby += dy;
    Mat dh = Why.transpose() * dy + dhnext;
    Mat dhraw = (1 - hs[t + 1].array() * hs[t + 1].array()).matrix().cwiseProduct(dh);
    dbh += dhraw;
    dWxh += dhraw * xs[t].transpose();
    dWhh += dhraw * hs[t].transpose();
    dhnext = Whh.transpose() * dhraw;
  }
  return {dWxh, dWhh, dWhy, dbh, dby, dhnext};
}
}  // namespace

TEST_CASE("BPTT of min-char-rnn equals finite differences and the hand-derived backward pass") {
  for (int T = 1; T <= 10; ++T) {
    DYNAMIC_SECTION("T = " << T) {
      std::vector<Tensor> args = min_char_rnn_args(T, 1000 + T);
      Function f = trace([T](std::span<const Var> a) { return min_char_rnn_loss(a, T); }, specs_of(args));
      GradcheckReport report = gradcheck(f, args);
      INFO(report.str());
      CHECK(report.ok);
      CHECK(report.inputs.size() == 6);  // Wxh Whh Why bh by hprev; the i32 inputs have no gradient

      std::vector<Tensor> autodiff = interpret(grad(f), args);
      std::vector<Mat> hand = hand_backward(args, T);
      REQUIRE(autodiff.size() == hand.size());
      for (size_t i = 0; i < hand.size(); ++i) {
        INFO("parameter " << i);
        CHECK((to_mat(autodiff[i]) - hand[i]).cwiseAbs().maxCoeff() < 1e-12);
      }
    }
  }
}

TEST_CASE("truncated BPTT: the carried state keeps its value and cuts the gradient") {
  const int T = 3;
  std::vector<Tensor> args = min_char_rnn_args(2 * T, 77);
  auto take = [](const Tensor& t, int from, int n) {
    Tensor r(t.dtype(), {n});
    for (int i = 0; i < n; ++i) r.set(i, t.at(from + i));
    return r;
  };
  // The final hidden state as a second output, so it can be carried into the next chunk.
  auto chunk_fn = [](std::span<const Var> a) {
    Var loss = min_char_rnn_loss(a, T);
    // Recompute h_T alongside (hash-consing makes it the same nodes as inside the loss).
    Var xs = one_hot(a[6], V, a[0].dtype()), h = a[5];
    for (int t = 0; t < T; ++t)
      h = tanh(matmul(a[0], reshape(slice(xs, 0, t, t + 1), {V, 1})) + matmul(a[1], h) + a[3]);
    return std::vector<Var>{loss, h};
  };
  std::vector<Tensor> first = args, second = args;
  first[6] = take(args[6], 0, T), first[7] = take(args[7], 0, T);
  second[6] = take(args[6], T, T), second[7] = take(args[7], T, T);
  Function chunk = trace_fn(chunk_fn, specs_of(first));
  // The state's value carries over: two chunks give the loss of one 2T-step run.
  auto out1 = interpret(chunk, first);
  second[5] = out1[1];
  auto out2 = interpret(chunk, second);
  Function whole = trace([](std::span<const Var> a) { return min_char_rnn_loss(a, 2 * T); }, specs_of(args));
  CHECK(out1[0].item() + out2[0].item() == Approx(interpret(whole, args)[0].item()).epsilon(1e-12));
  // No gradient flows into the previous chunk: the second chunk's gradient with respect to the
  // weights equals the hand-derived backward pass of those T steps alone, started from the carried
  // state; and it differs from the whole run's gradient.
  Function loss_only = trace([](std::span<const Var> a) { return min_char_rnn_loss(a, T); }, specs_of(second));
  auto g2 = interpret(grad(loss_only), second);
  std::vector<Mat> hand = hand_backward(second, T);
  for (int i = 0; i < 5; ++i) CHECK((to_mat(g2[i]) - hand[i]).cwiseAbs().maxCoeff() < 1e-12);
  auto gw = interpret(grad(whole), args);
  auto g1 = interpret(grad(loss_only), first);
  double truncated_vs_full = (to_mat(g1[1]) + to_mat(g2[1]) - to_mat(gw[1])).cwiseAbs().maxCoeff();
  CHECK(truncated_vs_full > 1e-6);  // full BPTT also carries chunk 2's error back into chunk 1
}

TEST_CASE("softmax cross-entropy at logits of +-1000 has finite values and gradients") {
  for (DType dt : {DType::f32, DType::f64}) {
    Tensor logits = Tensor::from({1000, -1000, 0, -1000, 1000, 1000, -1000, -1000, -1000}, {3, 3}, dt);
    Tensor labels = Tensor::from({0, 0, 2}, {3}, DType::i32);
    Function f =
        trace([](Var z, Var y) { return sum(softmax_cross_entropy(z, y)); }, {spec_of(logits), spec_of(labels)});
    auto vg = interpret(value_and_grad(f), {logits, labels});
    // Losses: 0, 2000 + log 2, log 3.
    CHECK(vg[0].item() == Approx(2000 + std::log(2.0) + std::log(3.0)));
    std::vector<double> g = vg[1].values();
    std::vector<double> expect = {0, 0, 0, -1, 0.5, 0.5, 1 / 3.0, 1 / 3.0, 1 / 3.0 - 1};  // softmax - onehot
    for (size_t i = 0; i < g.size(); ++i) {
      CHECK(std::isfinite(g[i]));
      CHECK(g[i] == Approx(expect[i]).margin(1e-6));
    }
  }
}
