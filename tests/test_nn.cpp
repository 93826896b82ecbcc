// The model library: cells against their formulas and finite differences, truncation, every cell
// learning the alphabet, optimizers against hand-computed updates, clipping.
#include <catch2/catch.hpp>

#include <cmath>
#include <array>
#include <set>

#include "helpers.h"
#include "torch_reference.h"

using namespace rnnc;
using namespace rnnc::testing;

namespace {

double sig(double x) { return 1 / (1 + std::exp(-x)); }

// Calls f(cell, name) for each library cell (RNN tanh and relu, LSTM, GRU) made by init.
template <class F> void for_each_cell(int64_t I, int64_t H, std::mt19937_64& rng, DType t, F&& f) {
  nn::RNNCell relu = nn::RNNCell::init(I, H, rng, t);
  relu.relu = true;
  f(nn::RNNCell::init(I, H, rng, t), "rnn_tanh");
  f(relu, "rnn_relu");
  f(nn::LSTMCell::init(I, H, rng, t), "lstm");
  f(nn::GRUCell::init(I, H, rng, t), "gru");
}

// A random state for a cell: every leaf uniform in [-0.8, 0.8].
template <class Cell> auto random_state(const Cell& cell, int64_t B, std::mt19937_64& rng) {
  auto s = cell.initial_state(B);
  tree::for_each(s, [&](const std::string&, Leaf& l) { l = Tensor::uniform(l.shape(), -0.8, 0.8, rng, l.dtype()); });
  return s;
}

// A sequence loss over the steps of xs: sum_t (t + 1) |h_t|^2, the cell scanned from state s.
template <class Cell, class State> Var sequence_loss(const Cell& cell, const State& s, const Var& xs) {
  auto [hs, last] = nn::run_cell(cell, xs, s);
  std::vector<double> w;
  for (int64_t t = 0; t < xs.shape()[0]; ++t) w.push_back(static_cast<double>(t + 1));
  return sum(hs * hs * constant(Tensor::from(w, {xs.shape()[0], 1, 1}, xs.dtype())));
}

}  // namespace

TEST_CASE("cells follow PyTorch's formulas (one unit, by hand)") {
  // B = I = H = 1: every weight is a number, every gate a scalar formula.
  const double x = 0.7, h = -0.3, c = 0.5;
  std::vector<double> w;
  for (int i = 0; i < 16; ++i) w.push_back(0.1 * (i % 7) - 0.3);
  auto gates = [&](int g) {
    auto part = [&](int k, Shape s) {
      return Tensor::from(std::vector<double>(w.begin() + k * g, w.begin() + (k + 1) * g), s, DType::f64);
    };
    return nn::Gates{part(0, {g, 1}), part(1, {g, 1}), part(2, {g}), part(3, {g})};
  };
  auto one = [](double v) { return Tensor::from({v}, {1, 1}, DType::f64); };
  {  // LSTM: rows i, f, g, o
    nn::LSTMState r = compile([](const nn::LSTMCell& cell, const nn::LSTMState& s, const Var& x) {
      return cell(x, s);
    })(nn::LSTMCell{gates(4)}, nn::LSTMState{one(h), one(c)}, one(x));
    auto pre = [&](int k) { return w[k] * x + w[4 + k] * h + w[8 + k] + w[12 + k]; };
    const double c1 = sig(pre(1)) * c + sig(pre(0)) * std::tanh(pre(2));
    CHECK(r.c.tensor().item() == Approx(c1).epsilon(1e-12));
    CHECK(r.h.tensor().item() == Approx(sig(pre(3)) * std::tanh(c1)).epsilon(1e-12));
  }
  auto hidden = [&](const auto& cell) {
    using Cell = std::decay_t<decltype(cell)>;
    auto f = compile([](const Cell& cell, const nn::Hidden& s, const Var& x) { return cell(x, s); });
    return f(cell, nn::Hidden{one(h)}, one(x)).h.tensor().item();
  };
  {  // GRU: rows r, z, n; the reset gate multiplies (w_hn h + b_hn)
    auto xi = [&](int k) { return w[k] * x + w[6 + k]; };
    auto hi = [&](int k) { return w[3 + k] * h + w[9 + k]; };
    const double rr = sig(xi(0) + hi(0)), z = sig(xi(1) + hi(1)), n = std::tanh(xi(2) + rr * hi(2));
    CHECK(hidden(nn::GRUCell{gates(3)}) == Approx((1 - z) * n + z * h).epsilon(1e-12));
  }
  {  // RNN
    CHECK(hidden(nn::RNNCell{gates(1)}) == Approx(std::tanh(w[0] * x + w[1] * h + w[2] + w[3])).epsilon(1e-12));
    nn::RNNCell relu{gates(1)};
    relu.relu = true;
    CHECK(hidden(relu) == Approx(std::max(0.0, w[0] * x + w[1] * h + w[2] + w[3])).epsilon(1e-12));
  }
}

TEST_CASE("every cell's gradient over several steps matches finite differences (float64)") {
  std::mt19937_64 rng(7);
  for_each_cell(3, 5, rng, DType::f64, [&](const auto& cell, const char* name) {
    using Cell = std::decay_t<decltype(cell)>;
    INFO(name);
    const auto s = random_state(cell, 2, rng);
    const Tensor xs = Tensor::uniform({4, 2, 3}, -0.8, 0.8, rng, DType::f64);
    auto loss = [](const Cell& c, const decltype(s)& st, const Var& x) { return sequence_loss(c, st, x); };
    auto [f, args] = compile(loss).function(cell, s, xs);
    GradcheckReport r = gradcheck(f, args);
    INFO(r.str());
    CHECK(r.ok);
    CHECK(r.inputs.size() == tree::size(cell) + tree::size(s) + 1);
    // The compiled gradient equals the interpreted one.
    auto [v1, g1] = compile(value_and_grad(loss))(cell, s, xs);
    auto [v2, g2] = interpret(value_and_grad(loss))(cell, s, xs);
    CHECK(std::abs(v1.item() - v2.item()) < 1e-10);
    for (size_t i = 0; i < tree::size(cell); ++i)
      CHECK(max_abs_diff(tree::tensors(g1)[i], tree::tensors(g2)[i]) < 1e-10);
  });
}

TEST_CASE("the library's cells take torch.nn's weights and give its numbers (float64, values and gradients)") {
  // tests/torch_reference.h holds what torch.nn.RNNCell / LSTMCell / GRUCell compute (PyTorch
  // 1.13, float64) for weights, inputs and states given by a formula: value i of tensor k is
  // 0.6 sin(0.7 i + 1.3 k). The loss is sum_t (t + 1) |h_t|^2 over T = 3 steps.
  constexpr int B = 2, I = 3, H = 4, T = 3;
  auto formula = [](const Shape& shape, int k) {
    Tensor t(DType::f64, shape);
    for (int64_t i = 0; i < t.numel(); ++i) t.set(i, 0.6 * std::sin(0.7 * double(i) + 1.3 * k));
    return t;
  };
  auto close = [](const Tensor& got, const double* want) {
    double worst = 0;
    for (int64_t i = 0; i < got.numel(); ++i) worst = std::max(worst, std::abs(got.at(i) - want[i]));
    return worst;
  };
  auto check = [&](auto cell, int shift, double loss, const double* h, std::array<const double*, 4> grads) {
    using Cell = decltype(cell);
    std::vector<Tensor> w;
    for (const Tensor& t : tree::tensors(cell)) w.push_back(formula(t.shape(), static_cast<int>(w.size()) + shift));
    tree::assign(cell, w);  // weight_ih, weight_hh, bias_ih, bias_hh: PyTorch's order and layout
    auto s = cell.initial_state(B);
    int k = 11;
    tree::for_each(s, [&](const std::string&, Leaf& l) { l = formula({B, H}, k++); });  // h, then c
    auto f = [](const Cell& c, const decltype(s)& st, const Var& xs) {
      auto [hs, last] = nn::run_cell(c, xs, st);
      std::vector<double> steps;
      for (int64_t t = 0; t < xs.shape()[0]; ++t) steps.push_back(static_cast<double>(t + 1));
      return std::pair{sum(hs * hs * constant(Tensor::from(steps, {xs.shape()[0], 1, 1}, DType::f64))), last};
    };
    for (auto [l, last, g] : {compile(value_and_grad(f))(cell, s, formula({T, B, I}, 10)),
                              interpret(value_and_grad(f))(cell, s, formula({T, B, I}, 10))}) {
      INFO(cell_name(cell));
      CHECK(std::abs(l.item() - loss) < 1e-12 * std::max(1.0, std::abs(loss)));
      CHECK(close(last.h.tensor(), h) < 1e-13);
      const std::vector<Tensor> gt = tree::tensors(g);
      for (int i = 0; i < 4; ++i) CHECK(close(gt[i], grads[i]) < 1e-11);
    }
  };
  namespace R = torch_reference;
  std::mt19937_64 rng(0);
  check(nn::RNNCell::init(I, H, rng, DType::f64), 0, R::rnn_tanh_loss, R::rnn_tanh_h,
        {R::rnn_tanh_grad_weight_ih, R::rnn_tanh_grad_weight_hh, R::rnn_tanh_grad_bias_ih, R::rnn_tanh_grad_bias_hh});
  nn::RNNCell relu = nn::RNNCell::init(I, H, rng, DType::f64);
  relu.relu = true;
  check(relu, 2, R::rnn_relu_loss, R::rnn_relu_h,
        {R::rnn_relu_grad_weight_ih, R::rnn_relu_grad_weight_hh, R::rnn_relu_grad_bias_ih, R::rnn_relu_grad_bias_hh});
  check(nn::LSTMCell::init(I, H, rng, DType::f64), 0, R::lstm_loss, R::lstm_h,
        {R::lstm_grad_weight_ih, R::lstm_grad_weight_hh, R::lstm_grad_bias_ih, R::lstm_grad_bias_hh});
  check(nn::GRUCell::init(I, H, rng, DType::f64), 0, R::gru_loss, R::gru_h,
        {R::gru_grad_weight_ih, R::gru_grad_weight_hh, R::gru_grad_bias_ih, R::gru_grad_bias_hh});
}

namespace {
struct Chunks {
  Leaf first, second;  // [T, B, I] each
  RNNC_TREE(first, second)
};
}  // namespace

TEST_CASE("truncated BPTT: the state's value carries over, no gradient flows into the previous chunk") {
  std::mt19937_64 rng(3);
  for_each_cell(3, 4, rng, DType::f64, [&](const auto& cell, const char* name) {
    using Cell = std::decay_t<decltype(cell)>;
    using State = decltype(cell.initial_state(1));
    INFO(name);
    const State s0 = random_state(cell, 2, rng);
    const Chunks xs{Tensor::uniform({3, 2, 3}, -0.8, 0.8, rng, DType::f64),
                    Tensor::uniform({3, 2, 3}, -0.8, 0.8, rng, DType::f64)};
    // Two chunks; the second starts from the first's final state, cut with stop_gradient.
    auto two = [](const Chunks& x, const Cell& c, const State& s) {
      auto [hs1, s1] = nn::run_cell(c, x.first, s);
      std::vector<Var> cut;
      for (const Var& v : tree::vars(s1)) cut.push_back(stop_gradient(v));
      auto [hs2, s2] = nn::run_cell(c, x.second, tree::replace(s1, cut));
      return std::pair{sum(hs2 * hs2), s1};
    };
    auto [loss, s1, grads] = compile(value_and_grad(two))(xs, cell, s0);
    CHECK(max_abs_diff(grads.first.tensor(), Tensor::zeros({3, 2, 3}, DType::f64)) == 0);  // nothing reaches chunk 1
    CHECK(max_abs_diff(grads.second.tensor(), Tensor::zeros({3, 2, 3}, DType::f64)) > 0);
    // The value did carry: chunk 2 alone, from chunk 1's final state given as an input, gives the same loss.
    auto second = interpret([](const Cell& c, const State& s, const Var& x) {
      auto [hs, last] = nn::run_cell(c, x, s);
      return sum(hs * hs);
    });
    CHECK(second(cell, s1, xs.second.tensor()).item() == Approx(loss.item()).epsilon(1e-12));
  });
}

namespace {
using testing::MGU;

// Trains a character model around a cell (hidden 32) on the alphabet, batch 1, the state starting
// from zero each epoch, with Adam through the compiler; returns the epochs it took to predict every
// next letter (or -1).
template <class Cell> int learn_alphabet(nn::CharRNN<Cell> model) {
  constexpr int T = 25;
  Tensor in(DType::i32, {T, 1}), tg(DType::i32, {T, 1});
  for (int t = 0; t < T; ++t) in.set(t, t), tg.set(t, t + 1);
  auto loss = [](const nn::CharRNN<Cell>& m, const data::TextBatch& b) {
    auto [logits, last] = m(b.x, m.initial_state(1));
    return std::pair{mean(softmax_cross_entropy(logits, b.y)), reshape(logits, {T, -1})};
  };
  auto step = compile(value_and_grad(loss));
  optim::Optimizer opt(optim::Adam{.lr = 0.02});
  for (int epoch = 0; epoch < 400; ++epoch) {
    auto [l, logits, grads] = step(model, data::TextBatch{in, tg});
    if (nn::accuracy(logits, tg.reshaped({T})) == 1.0) return epoch;
    opt.step(model, grads);
  }
  return -1;
}
}  // namespace

TEST_CASE("every cell learns the alphabet (A->B ... Y->Z) to 100% accuracy, stateful, through the compiler") {
  constexpr int V = 26, H = 32;
  std::mt19937_64 rng(1);
  CHECK(learn_alphabet(nn::CharRNN<nn::RNNCell>::init(V, H, rng)) > 0);
  CHECK(learn_alphabet(nn::CharRNN<nn::LSTMCell>::init(V, H, rng)) > 0);
  CHECK(learn_alphabet(nn::CharRNN<nn::GRUCell>::init(V, H, rng)) > 0);
  auto relu = nn::CharRNN<nn::RNNCell>::init(V, H, rng);
  relu.rnn.layers[0].relu = true;
  CHECK(learn_alphabet(relu) > 0);
  SECTION("a user's own cell (minimal gated unit) trains the same way") {
    CHECK(learn_alphabet(nn::CharRNN<MGU>::init(V, H, rng)) > 0);
  }
}

TEST_CASE("optimizers: updates equal PyTorch's formulas computed by hand") {
  // Three steps on a 2-element float64 parameter with fixed gradients; the reference is the
  // formula of torch.optim, written out in doubles.
  const std::vector<double> p0 = {0.5, -1.5}, g[3] = {{0.1, -0.2}, {0.3, 0.05}, {-0.4, 0.25}};
  struct Case {
    const char* name;
    optim::Config config;
    std::function<void(std::vector<double>&, const std::vector<double>&, int, std::vector<std::vector<double>>&)> ref;
  };
  const std::vector<Case> cases = {
      {"sgd", optim::SGD{.lr = 0.1},
       [](auto& p, const auto& gr, int, auto&) {
         for (size_t i = 0; i < p.size(); ++i) p[i] -= 0.1 * gr[i];
       }},
      {"sgd momentum dampening weight decay",
       optim::SGD{.lr = 0.1, .momentum = 0.9, .dampening = 0.1, .weight_decay = 0.01},
       [](auto& p, const auto& gr, int t, auto& st) {
         st.resize(1, std::vector<double>(p.size()));
         for (size_t i = 0; i < p.size(); ++i) {
           const double d = gr[i] + 0.01 * p[i];
           st[0][i] = t == 1 ? d : 0.9 * st[0][i] + 0.9 * d;
           p[i] -= 0.1 * st[0][i];
         }
       }},
      {"sgd nesterov", optim::SGD{.lr = 0.1, .momentum = 0.9, .nesterov = true},
       [](auto& p, const auto& gr, int t, auto& st) {
         st.resize(1, std::vector<double>(p.size()));
         for (size_t i = 0; i < p.size(); ++i) {
           st[0][i] = t == 1 ? gr[i] : 0.9 * st[0][i] + gr[i];
           p[i] -= 0.1 * (gr[i] + 0.9 * st[0][i]);
         }
       }},
      {"adagrad lr_decay", optim::Adagrad{.lr = 0.1, .lr_decay = 0.01, .initial_accumulator_value = 0.1},
       [](auto& p, const auto& gr, int t, auto& st) {
         st.resize(1, std::vector<double>(p.size(), 0.1));
         const double clr = 0.1 / (1 + (t - 1) * 0.01);
         for (size_t i = 0; i < p.size(); ++i) {
           st[0][i] += gr[i] * gr[i];
           p[i] -= clr * gr[i] / (std::sqrt(st[0][i]) + 1e-10);
         }
       }},
      {"rmsprop centered momentum", optim::RMSprop{.lr = 0.01, .alpha = 0.9, .momentum = 0.5, .centered = true},
       [](auto& p, const auto& gr, int, auto& st) {
         st.resize(3, std::vector<double>(p.size()));
         for (size_t i = 0; i < p.size(); ++i) {
           st[0][i] = 0.9 * st[0][i] + 0.1 * gr[i] * gr[i];
           st[1][i] = 0.9 * st[1][i] + 0.1 * gr[i];
           const double avg = std::sqrt(st[0][i] - st[1][i] * st[1][i]) + 1e-8;
           st[2][i] = 0.5 * st[2][i] + gr[i] / avg;
           p[i] -= 0.01 * st[2][i];
         }
       }},
      {"adam weight decay", optim::Adam{.lr = 0.01, .weight_decay = 0.1},
       [](auto& p, const auto& gr, int t, auto& st) {
         st.resize(2, std::vector<double>(p.size()));
         for (size_t i = 0; i < p.size(); ++i) {
           const double d = gr[i] + 0.1 * p[i];
           st[0][i] = 0.9 * st[0][i] + 0.1 * d;
           st[1][i] = 0.999 * st[1][i] + 0.001 * d * d;
           const double bc1 = 1 - std::pow(0.9, t), bc2 = 1 - std::pow(0.999, t);
           p[i] -= 0.01 / bc1 * st[0][i] / (std::sqrt(st[1][i]) / std::sqrt(bc2) + 1e-8);
         }
       }},
  };
  for (const Case& c : cases) {
    DYNAMIC_SECTION(c.name) {
      optim::Optimizer opt(c.config);
      std::vector<Tensor> params = {Tensor::from(p0, {2}, DType::f64)};
      std::vector<double> ref = p0;
      std::vector<std::vector<double>> state;
      for (int t = 1; t <= 3; ++t) {
        opt.step(params, {Tensor::from(g[t - 1], {2}, DType::f64)});
        c.ref(ref, g[t - 1], t, state);
        for (int i = 0; i < 2; ++i) CHECK(params[0].at(i) == Approx(ref[i]).epsilon(1e-12));
      }
      CHECK(opt.steps() == 3);
    }
  }
}

TEST_CASE("optimizer state round-trips: a restored optimizer continues exactly") {
  std::vector<Tensor> a = {Tensor::from({1, 2, 3}, {3}, DType::f64)}, b = a;
  optim::Optimizer one(optim::Adam{.lr = 0.1}), two(optim::Adam{.lr = 0.1});
  one.step(a, {Tensor::from({0.1, 0.2, 0.3}, {3}, DType::f64)});
  two.load_state(one.state(), one.steps());
  b = {a[0].clone()};
  one.step(a, {Tensor::from({-0.3, 0.2, 0.1}, {3}, DType::f64)});
  two.step(b, {Tensor::from({-0.3, 0.2, 0.1}, {3}, DType::f64)});
  CHECK(max_abs_diff(a[0], b[0]) == 0);
  CHECK_THROWS_WITH(two.load_state({{"nonsense.0", a[0]}}, 1), Catch::Contains("unknown state entry 'nonsense.0'"));
}

TEST_CASE("clipping: by value, by global norm, and a non-finite gradient is refused by name") {
  std::vector<Tensor> g = {Tensor::from({-7, 2, 9}, {3}, DType::f32), Tensor::from({3, -4}, {2}, DType::f32)};
  optim::clip_by_value(g, -5, 5);
  CHECK(g[0].values() == std::vector<double>{-5, 2, 5});
  // float32 clips in float32: the same values as clamping in double and rounding, bounds that are no
  // float included; NaN stays NaN.
  std::mt19937_64 rng(3);
  Tensor f = Tensor::uniform({1000}, -0.3, 0.3, rng, DType::f32);
  f.set(7, std::nan(""));
  f.set(8, static_cast<double>(static_cast<float>(0.1)));
  f.set(9, static_cast<double>(static_cast<float>(-0.1)));
  const std::vector<double> before = f.values();
  std::vector<Tensor> fs = {f};
  optim::clip_by_value(fs, -0.1, 0.1);
  for (size_t i = 0; i < before.size(); ++i) {
    INFO(i << ": " << before[i]);
    if (std::isnan(before[i]))
      CHECK(std::isnan(fs[0].at(static_cast<int64_t>(i))));
    else
      CHECK(fs[0].at(static_cast<int64_t>(i)) ==
            static_cast<double>(static_cast<float>(std::clamp(before[i], -0.1, 0.1))));
  }
  std::vector<Tensor> h = {Tensor::from({3}, {1}, DType::f64), Tensor::from({4}, {1}, DType::f64)};
  CHECK(optim::clip_by_global_norm(h, 1.0) == Approx(5));
  CHECK(h[0].item() == Approx(0.6).epsilon(1e-6));
  CHECK(h[1].item() == Approx(0.8).epsilon(1e-6));
  CHECK(optim::clip_by_global_norm(h, 10.0) == Approx(1).epsilon(1e-6));  // under the bound: unchanged
  std::vector<Tensor> bad = {Tensor::from({1}, {1}, DType::f64), Tensor::from({std::nan("")}, {1}, DType::f64)};
  CHECK_THROWS_WITH(optim::clip_by_global_norm(bad, 1.0, {"w_ih", "w_hh"}),
                    Catch::Contains("'w_hh'") && Catch::Contains("NaN or an infinity"));
  CHECK(bad[0].item() == 1);  // left unchanged
  CHECK(optim::step_decay(0.1, 25, 10, 0.5) == Approx(0.025));
}

TEST_CASE("sampling: greedy, temperature, top-k, and generation that carries the state") {
  std::mt19937_64 rng(5);
  Tensor logits = Tensor::from({0.0, 2.0, 1.0, -1.0}, {4});
  CHECK(nn::pick(logits, {.greedy = true}, rng) == 1);
  CHECK(nn::pick(logits, {.temperature = 0}, rng) == 1);
  // Temperature 1: frequencies follow softmax(logits).
  std::vector<int> count(4, 0);
  const int draws = 40000;
  for (int i = 0; i < draws; ++i) ++count[nn::pick(logits, {}, rng)];
  double z = 0;
  for (double l : logits.values()) z += std::exp(l);
  for (int v = 0; v < 4; ++v) CHECK(count[v] / double(draws) == Approx(std::exp(logits.at(v)) / z).margin(0.01));
  // Low temperature sharpens towards the argmax; top-k never leaves the k best.
  int ones = 0;
  for (int i = 0; i < 1000; ++i) ones += nn::pick(logits, {.temperature = 0.1}, rng) == 1;
  CHECK(ones > 990);
  for (int i = 0; i < 1000; ++i) {
    const int v = nn::pick(logits, {.top_k = 2}, rng);
    CHECK((v == 1 || v == 2));
  }
  // generate: one step per character, the state threaded through.
  int steps = 0;
  nn::StepFn counter = [&](const std::vector<Tensor>& state, int x) {
    ++steps;
    Tensor next = Tensor::scalar(state[0].item() + 1);
    Tensor l = Tensor::full({5}, 0.0);
    l.set((x + 1) % 5, 10.0);  // the next index is strongly preferred
    return std::pair<Tensor, std::vector<Tensor>>{l, {next}};
  };
  std::vector<int> out = nn::generate(counter, {Tensor::scalar(0)}, {0, 1, 2}, 4, {.greedy = true}, rng);
  CHECK(out == std::vector<int>{3, 4, 0, 1});
  CHECK(steps == 3 + 4 - 1);
  CHECK_THROWS(nn::generate(counter, {Tensor::scalar(0)}, {}, 4, {}, rng));
}

TEST_CASE("a user's own cell gets gradients and fused kernels with nothing else written") {
  std::mt19937_64 rng(8);
  const MGU cell = MGU::init(3, 4, rng, DType::f64);
  const nn::Hidden s{Tensor::uniform({2, 4}, -0.8, 0.8, rng, DType::f64)};
  const Tensor xs = Tensor::uniform({3, 2, 3}, -0.8, 0.8, rng, DType::f64);
  auto loss = [](const MGU& c, const nn::Hidden& s, const Var& x) {
    auto [hs, last] = nn::run_cell(c, x, s);
    return sum(hs * hs);
  };
  auto [f, args] = compile(loss).function(cell, s, xs);
  GradcheckReport r = gradcheck(f, args);
  INFO(r.str());
  CHECK(r.ok);
  Compiled c = compile(value_and_grad(f));
  INFO(c.schedule());
  std::vector<Tensor> a = c(args), b = interpret(value_and_grad(f), args);
  for (size_t i = 0; i < a.size(); ++i) CHECK(max_abs_diff(a[i], b[i]) < 1e-10);
  CHECK(c.stats().library_calls == 0);
  // Its elementwise work is fused: on average at least two elementwise ops per kernel, not one each
  // (its GEMMs, the concat and the bias-gradient reductions bound the groups; 32 ops in 15 kernels).
  int elementwise = 0;
  std::set<const Loop*> seen;
  std::function<void(const std::vector<Var>&)> count = [&](const std::vector<Var>& outs) {
    for (const NodePtr& n : topo_order(outs)) {
      elementwise += info(n->op).cls == OpClass::Elementwise;
      if (n->op == Op::Scan && seen.insert(n->loop.get()).second) count(n->loop->outputs);  // a loop's body, once
    }
  };
  count(optimize(value_and_grad(f)).outputs);
  INFO(elementwise << " elementwise nodes, " << c.stats().kernels << " kernels");
  CHECK(c.stats().kernels * 2 <= elementwise);
}

TEST_CASE("a 2-layer character LSTM with dropout learns text from streams (many-to-many, Adam, keep-best)") {
  constexpr int B = 16, T = 32, E = 32, H = 64, L = 2;
  constexpr double p = 0.1;
  const std::u32string text = data::decode_utf8(data::read_text(RNNC_TEST_CORPUS));
  const data::Vocab vocab = data::Vocab::of(text);
  const int V = vocab.size();
  const data::Split parts = data::split(text, 0.1);
  const data::Streams train(vocab.encode(parts.train), B, T), val(vocab.encode(parts.val), 4, T);

  // An embedding, 2 LSTM layers with dropout after each, a dense softmax at every step.
  using Model = nn::CharRNN<nn::LSTMCell>;
  std::mt19937_64 rng(12);
  Model model = Model::init(V, H, rng, {.layers = L, .embedding = E, .dropout = p});
  auto loss = [](const Model& m, const Model::State& s, const data::TextBatch& b, Rng& rng) {
    auto [logits, last] = m(b.x, s, &rng);
    return std::pair{mean(softmax_cross_entropy(logits, b.y)), std::pair{last, logits}};
  };
  auto train_step = compile(value_and_grad(loss));
  auto eval_step = compile(Model::loss);  // with Rng::evaluation(): no dropout
  optim::Optimizer opt(optim::Adam{.lr = 3e-3});
  Model::State state = model.initial_state(B);
  auto validate = [&] {
    Model::State st = model.initial_state(4);
    Rng off = Rng::evaluation();
    double total = 0;
    for (int64_t k = 0; k < val.chunks(); ++k) {
      auto [l, next] = eval_step(model, st, val.chunk(k), off);
      total += l.item();
      st = next;  // the state carries through validation too
    }
    return total / static_cast<double>(val.chunks());
  };
  const std::filesystem::path best_file = std::filesystem::temp_directory_path() / "rnnc-test-charlstm.safetensors";
  io::KeepBest best(best_file);
  const double first_val = validate();
  double train_loss = 0, acc = 0;
  Rng dropout(12);
  for (int it = 0; it < 400; ++it) {
    const int64_t k = it % train.chunks();
    if (k == 0) state = model.initial_state(B);  // reset at the start of each epoch
    const data::TextBatch batch = train.chunk(k);
    auto [l, aux, grads] = train_step(model, state, batch, dropout);
    train_loss = l.item();
    state = aux.first;  // carried; the gradient stops here
    acc = nn::accuracy(aux.second, batch.y.tensor().reshaped({T * B}));
    optim::clip_by_global_norm(grads, 5.0);
    opt.step(model, grads);
    if ((it + 1) % 100 == 0) best.offer(validate(), nn::checkpoint(model, vocab));
  }
  const double val_loss = validate();
  INFO("train " << train_loss << " (" << nn::bits_per_char(train_loss) << " bpc, accuracy " << acc << "), validation "
                << first_val << " -> " << val_loss << ", uniform " << std::log(V));
  // Uniform guessing costs ln V = 4.5 nats per character; the bound is relative because the corpus
  // is the project's own docs, which change (2.37 to 2.59 nats over their history so far).
  CHECK(train_loss < 0.65 * std::log(V));
  CHECK(val_loss < first_val - 1.0);  // it generalises to text it did not train on
  CHECK(acc > 0.25);
  CHECK(best.best() <= val_loss + 1e-9);
  CHECK(io::load(best_file).tensor("head.bias").shape() == Shape{V});
  std::filesystem::remove(best_file);
}
