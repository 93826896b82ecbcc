// The model library: cells against their formulas and finite differences, truncation, every cell
// learning the alphabet, optimizers against hand-computed updates, clipping.
#include <catch2/catch.hpp>

#include <cmath>

#include "helpers.h"

using namespace rnnc;
using namespace rnnc::testing;
using nn::Cell;

namespace {

const Cell kCells[] = {Cell::RNNTanh, Cell::RNNRelu, Cell::LSTM, Cell::GRU};

double sig(double x) { return 1 / (1 + std::exp(-x)); }

// A sequence loss over T steps of a cell, from an initial state given as inputs.
// Inputs: xs [T, B, I], h0 [B, H], (c0 [B, H] for LSTM), w_ih, w_hh, b_ih, b_hh.
Function sequence_loss(Cell cell, int T, int B, int I, int H, DType t = DType::f64) {
  std::vector<Spec> specs = {Spec{{T, B, I}, t}, Spec{{B, H}, t}};
  if (cell == Cell::LSTM) specs.push_back(Spec{{B, H}, t});
  for (const Spec& s : nn::weight_specs(cell, I, H, 0, t)) specs.push_back(s);
  return trace(
      [=](std::span<const Var> a) {
        size_t k = 1;
        nn::State s{a[k++], {}};
        if (cell == Cell::LSTM) s.c = a[k++];
        nn::Weights w = nn::weights(a.subspan(k, 4));
        std::vector<Var> xs;
        for (int i = 0; i < T; ++i) xs.push_back(reshape(slice(a[0], 0, i, i + 1), {B, I}));
        auto [hs, last] = nn::layer(cell, xs, s, w);
        Var loss = full({}, 0.0);
        for (size_t i = 0; i < hs.size(); ++i) loss = loss + sum(hs[i] * hs[i]) * static_cast<double>(i + 1);
        return loss;
      },
      specs);
}

}  // namespace

TEST_CASE("cells follow PyTorch's formulas (one unit, by hand)") {
  // B = I = H = 1: every weight is a number, every gate a scalar formula.
  const double x = 0.7, h = -0.3, c = 0.5;
  auto run = [&](Cell cell, const std::vector<double>& w) {
    const int g = nn::gate_count(cell);
    std::vector<Tensor> args = {Tensor::from({x}, {1, 1}, DType::f64), Tensor::from({h}, {1, 1}, DType::f64),
                                Tensor::from({c}, {1, 1}, DType::f64)};
    args.push_back(Tensor::from(std::vector<double>(w.begin(), w.begin() + g), {g, 1}, DType::f64));
    args.push_back(Tensor::from(std::vector<double>(w.begin() + g, w.begin() + 2 * g), {g, 1}, DType::f64));
    args.push_back(Tensor::from(std::vector<double>(w.begin() + 2 * g, w.begin() + 3 * g), {g}, DType::f64));
    args.push_back(Tensor::from(std::vector<double>(w.begin() + 3 * g, w.begin() + 4 * g), {g}, DType::f64));
    Function f = trace(
        [cell](std::span<const Var> a) {
          nn::State s = nn::step(cell, a[0], {a[1], a[2]}, nn::weights(a.subspan(3, 4)));
          return std::vector<Var>{s.h, s.c.defined() ? s.c : s.h};
        },
        specs_of(args));
    return interpret(f, args);
  };
  std::vector<double> w;
  for (int i = 0; i < 16; ++i) w.push_back(0.1 * (i % 7) - 0.3);
  {  // LSTM: rows i, f, g, o
    auto r = run(Cell::LSTM, w);
    auto pre = [&](int k) { return w[k] * x + w[4 + k] * h + w[8 + k] + w[12 + k]; };
    const double c1 = sig(pre(1)) * c + sig(pre(0)) * std::tanh(pre(2));
    CHECK(r[1].item() == Approx(c1).epsilon(1e-12));
    CHECK(r[0].item() == Approx(sig(pre(3)) * std::tanh(c1)).epsilon(1e-12));
  }
  {  // GRU: rows r, z, n; the reset gate multiplies (w_hn h + b_hn)
    auto r = run(Cell::GRU, w);
    auto xi = [&](int k) { return w[k] * x + w[6 + k]; };
    auto hi = [&](int k) { return w[3 + k] * h + w[9 + k]; };
    const double rr = sig(xi(0) + hi(0)), z = sig(xi(1) + hi(1)), n = std::tanh(xi(2) + rr * hi(2));
    CHECK(r[0].item() == Approx((1 - z) * n + z * h).epsilon(1e-12));
  }
  {  // RNN
    auto r = run(Cell::RNNTanh, w);
    CHECK(r[0].item() == Approx(std::tanh(w[0] * x + w[1] * h + w[2] + w[3])).epsilon(1e-12));
    auto q = run(Cell::RNNRelu, w);
    CHECK(q[0].item() == Approx(std::max(0.0, w[0] * x + w[1] * h + w[2] + w[3])).epsilon(1e-12));
  }
}

TEST_CASE("every cell's gradient over several steps matches finite differences (float64)") {
  for (Cell cell : kCells) {
    DYNAMIC_SECTION(nn::name_of(cell)) {
      Function f = sequence_loss(cell, 4, 2, 3, 5);
      std::mt19937_64 rng(7);
      std::vector<Tensor> args;
      for (const Spec& s : f.input_specs()) args.push_back(Tensor::uniform(s.shape, -0.8, 0.8, rng, DType::f64));
      GradcheckReport r = gradcheck(f, args);
      INFO(r.str());
      CHECK(r.ok);
      // The compiled gradient equals the interpreted one.
      Function g = value_and_grad(f);
      std::vector<Tensor> a = compile(g)(args), b = interpret(g, args);
      for (size_t i = 0; i < a.size(); ++i) CHECK(max_abs_diff(a[i], b[i]) < 1e-10);
    }
  }
}

TEST_CASE("truncated BPTT: the state's value carries over, no gradient flows into the previous chunk") {
  for (Cell cell : kCells) {
    DYNAMIC_SECTION(nn::name_of(cell)) {
      constexpr int T = 3, B = 2, I = 3, H = 4;
      const bool lstm = cell == Cell::LSTM;
      // Two chunks; the second starts from the first's final state, cut with stop_gradient.
      std::vector<Spec> specs = {Spec{{T, B, I}, DType::f64}, Spec{{T, B, I}, DType::f64}, Spec{{B, H}, DType::f64},
                                 Spec{{B, H}, DType::f64}};
      for (const Spec& s : nn::weight_specs(cell, I, H, 0, DType::f64)) specs.push_back(s);
      auto chunk_of = [&](const Var& xs, nn::State s, const nn::Weights& w, Var& loss) {
        for (int i = 0; i < T; ++i) {
          s = nn::step(cell, reshape(slice(xs, 0, i, i + 1), {B, I}), s, w);
          loss = loss + sum(s.h * s.h);
        }
        return s;
      };
      Function two = trace(
          [&](std::span<const Var> a) {
            nn::Weights w = nn::weights(a.subspan(4, 4));
            Var l1 = full({}, 0.0), l2 = full({}, 0.0);
            nn::State s = chunk_of(a[0], {a[2], lstm ? a[3] : Var()}, w, l1);
            nn::State cut{stop_gradient(s.h), lstm ? stop_gradient(s.c) : Var()};
            chunk_of(a[1], cut, w, l2);
            return std::vector<Var>{l2, s.h};
          },
          specs);
      std::mt19937_64 rng(3);
      std::vector<Tensor> args;
      for (const Spec& s : specs) args.push_back(Tensor::uniform(s.shape, -0.8, 0.8, rng, DType::f64));
      Function g = value_and_grad(two, {0, 1}, true);  // loss of chunk 2, h after chunk 1, d/dxs1, d/dxs2
      std::vector<Tensor> out = compile(g)(args);
      CHECK(max_abs_diff(out[2], Tensor::zeros(out[2].shape(), DType::f64)) == 0);  // nothing reaches chunk 1
      CHECK(max_abs_diff(out[3], Tensor::zeros(out[3].shape(), DType::f64)) > 0);
      // The value did carry: chunk 2 alone, from chunk 1's final state as an input, gives the same loss.
      Function second = trace(
          [&](std::span<const Var> a) {
            Var l = full({}, 0.0);
            chunk_of(a[1], {a[2], lstm ? a[3] : Var()}, nn::weights(a.subspan(4, 4)), l);
            return l;
          },
          specs);
      std::vector<Tensor> carried = args;
      Function first_state = trace(
          [&](std::span<const Var> a) {
            Var l = full({}, 0.0);
            nn::State s = chunk_of(a[0], {a[2], lstm ? a[3] : Var()}, nn::weights(a.subspan(4, 4)), l);
            return std::vector<Var>{s.h, lstm ? s.c : s.h};
          },
          specs);
      std::vector<Tensor> st = interpret(first_state, args);
      carried[2] = st[0];
      carried[3] = st[1];
      CHECK(interpret(second, carried)[0].item() == Approx(out[0].item()).epsilon(1e-12));
    }
  }
}

namespace {
// A cell the library does not have, written by a user: the minimal gated unit (Zhou et al. 2016).
// Inputs x [B, I], h [B, H]; weights w_f [I + H, H], w_h [I, H], u_h [H, H], b_f [H], b_h [H].
Var mgu_cell(const Var& x, const Var& h, std::span<const Var> w) {
  Var f = sigmoid(matmul(concat({x, h}, 1), w[0]) + w[3]);
  Var candidate = tanh(matmul(x, w[1]) + matmul(f * h, w[2]) + w[4]);
  return (1.0 - f) * h + f * candidate;
}
}  // namespace

namespace {
// One step of any cell: the library's, or a user's own.
using CellFn = std::function<nn::State(const Var& x, const nn::State& s, std::span<const Var> w)>;

// Trains a cell (hidden 32) with a dense softmax head on the alphabet, batch 1, the state starting
// from zero each epoch, with Adam through the compiler; returns the epochs it took to predict every
// next letter (or -1).
int learn_alphabet(const CellFn& cell, const std::vector<Spec>& weight_specs, std::vector<Tensor> params, bool lstm,
                   std::mt19937_64& rng) {
  constexpr int V = 26, H = 32, T = 25;
  std::vector<Spec> specs = weight_specs;
  const size_t nw = specs.size();
  specs.push_back(Spec{{V, H}, DType::f32, "dense.weight"});
  specs.push_back(Spec{{V}, DType::f32, "dense.bias"});
  specs.push_back(Spec{{T}, DType::i32, "inputs"});
  specs.push_back(Spec{{T}, DType::i32, "targets"});
  Function loss = trace(
      [&](std::span<const Var> a) {
        Var xs = one_hot(a[nw + 2], V);
        nn::State s{full({1, H}, 0.0), lstm ? full({1, H}, 0.0) : Var()};
        Var total = full({}, 0.0);
        std::vector<Var> logits;
        for (int t = 0; t < T; ++t) {
          s = cell(slice(xs, 0, t, t + 1), s, a.subspan(0, nw));
          Var y = nn::linear(s.h, a[nw], a[nw + 1]);
          total = total + sum(softmax_cross_entropy(y, slice(a[nw + 3], 0, t, t + 1)));
          logits.push_back(y);
        }
        return std::vector<Var>{total * (1.0 / T), concat(logits, 0)};
      },
      specs);
  std::vector<int> wrt;
  for (size_t i = 0; i < nw + 2; ++i) wrt.push_back(static_cast<int>(i));
  Compiled step = compile(value_and_grad(loss, wrt, true));
  params.push_back(Tensor::uniform({V, H}, -0.2, 0.2, rng));
  params.push_back(Tensor::zeros({V}));
  Tensor in(DType::i32, {T}), tg(DType::i32, {T});
  for (int t = 0; t < T; ++t) in.set(t, t), tg.set(t, t + 1);
  optim::Optimizer opt(optim::Adam{.lr = 0.02});
  for (int epoch = 0; epoch < 400; ++epoch) {
    std::vector<Tensor> args = params;
    args.push_back(in);
    args.push_back(tg);
    std::vector<Tensor> out = step(args);
    if (nn::accuracy(out[1], tg) == 1.0) return epoch;
    opt.step(params, std::vector<Tensor>(out.begin() + 2, out.end()));
  }
  return -1;
}
}  // namespace

TEST_CASE("every cell learns the alphabet (A->B ... Y->Z) to 100% accuracy, stateful, through the compiler") {
  constexpr int V = 26, H = 32;
  for (Cell cell : kCells) {
    DYNAMIC_SECTION(nn::name_of(cell)) {
      std::mt19937_64 rng(1);
      CellFn fn = [cell](const Var& x, const nn::State& s, std::span<const Var> w) {
        return nn::step(cell, x, s, nn::weights(w));
      };
      const int epochs = learn_alphabet(fn, nn::weight_specs(cell, V, H), nn::init_weights(cell, V, H, rng),
                                        cell == Cell::LSTM, rng);
      INFO("epochs: " << epochs);
      CHECK(epochs > 0);
    }
  }
  SECTION("a user's own cell (minimal gated unit) trains the same way") {
    std::mt19937_64 rng(1);
    const std::vector<Spec> specs = {Spec{{V + H, H}}, Spec{{V, H}}, Spec{{H, H}}, Spec{{H}}, Spec{{H}}};
    std::vector<Tensor> init;
    for (const Spec& s : specs) init.push_back(Tensor::uniform(s.shape, -0.17, 0.17, rng));
    CellFn fn = [](const Var& x, const nn::State& s, std::span<const Var> w) {
      return nn::State{mgu_cell(x, s.h, w), {}};
    };
    const int epochs = learn_alphabet(fn, specs, init, false, rng);
    INFO("epochs: " << epochs);
    CHECK(epochs > 0);
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
       [](auto& p, const auto& gr, int, auto&) { for (size_t i = 0; i < p.size(); ++i) p[i] -= 0.1 * gr[i]; }},
      {"sgd momentum dampening weight decay", optim::SGD{.lr = 0.1, .momentum = 0.9, .dampening = 0.1, .weight_decay = 0.01},
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
  std::vector<Tensor> h = {Tensor::from({3}, {1}, DType::f64), Tensor::from({4}, {1}, DType::f64)};
  CHECK(optim::clip_by_global_norm(h, 1.0) == Approx(5));
  CHECK(h[0].item() == Approx(0.6).epsilon(1e-6));
  CHECK(h[1].item() == Approx(0.8).epsilon(1e-6));
  CHECK(optim::clip_by_global_norm(h, 10.0) == Approx(1).epsilon(1e-6));  // under the bound: unchanged
  std::vector<Tensor> bad = {Tensor::from({1}, {1}, DType::f64), Tensor::from({std::nan("")}, {1}, DType::f64)};
  CHECK_THROWS_WITH(optim::clip_by_global_norm(bad, 1.0, {"w_ih", "w_hh"}), Catch::Contains("'w_hh'") &&
                                                                           Catch::Contains("NaN or an infinity"));
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
  constexpr int B = 2, I = 3, H = 4, T = 3;
  std::vector<Spec> specs = {Spec{{T, B, I}, DType::f64}, Spec{{B, H}, DType::f64}, Spec{{I + H, H}, DType::f64},
                             Spec{{I, H}, DType::f64}, Spec{{H, H}, DType::f64}, Spec{{H}, DType::f64},
                             Spec{{H}, DType::f64}};
  Function f = trace(
      [](std::span<const Var> a) {
        Var h = a[1], loss = full({}, 0.0);
        for (int t = 0; t < T; ++t) {
          h = mgu_cell(reshape(slice(a[0], 0, t, t + 1), {B, I}), h, a.subspan(2));
          loss = loss + sum(h * h);
        }
        return loss;
      },
      specs);
  std::mt19937_64 rng(8);
  std::vector<Tensor> args;
  for (const Spec& s : specs) args.push_back(Tensor::uniform(s.shape, -0.8, 0.8, rng, DType::f64));
  GradcheckReport r = gradcheck(f, args);
  INFO(r.str());
  CHECK(r.ok);
  Compiled c = compile(value_and_grad(f));
  INFO(c.schedule());
  std::vector<Tensor> a = c(args), b = interpret(value_and_grad(f), args);
  for (size_t i = 0; i < a.size(); ++i) CHECK(max_abs_diff(a[i], b[i]) < 1e-10);
  CHECK(c.stats().library_calls == 0);
  // Its elementwise work is fused: on average several elementwise ops per kernel, not one each.
  int elementwise = 0;
  for (const NodePtr& n : topo_order(optimize(value_and_grad(f)).outputs))
    elementwise += info(n->op).cls == OpClass::Elementwise;
  INFO(elementwise << " elementwise nodes, " << c.stats().kernels << " kernels");
  CHECK(c.stats().kernels * 3 <= elementwise);
}

TEST_CASE("a 2-layer character LSTM with dropout learns text from streams (many-to-many, Adam, keep-best)") {
  constexpr int B = 16, T = 32, E = 32, H = 64, L = 2;
  constexpr double p = 0.1;
  const std::u32string text = data::decode_utf8(data::read_text(RNNC_DOCS_DIR));
  const data::Vocab vocab = data::Vocab::of(text);
  const int V = vocab.size();
  const data::Split parts = data::split(text, 0.1);
  const data::Streams train(vocab.encode(parts.train), B, T), val(vocab.encode(parts.val), 4, T);

  // Inputs: embedding [V, E], 2 x 4 LSTM weights, dense w [V, H], b [V], h0/c0 per layer,
  // dropout masks [T, B, H] for layer 2's input, inputs [T, B], targets [T, B].
  std::vector<Spec> specs = {Spec{{V, E}, DType::f32, "embedding"}};
  for (int l = 0; l < L; ++l)
    for (const Spec& s : nn::weight_specs(nn::Cell::LSTM, l == 0 ? E : H, H, l)) specs.push_back(s);
  specs.push_back(Spec{{V, H}, DType::f32, "dense.weight"});
  specs.push_back(Spec{{V}, DType::f32, "dense.bias"});
  const size_t n_params = specs.size();
  auto step_fn = [&](int batch) {
    std::vector<Spec> s = specs;
    for (int l = 0; l < L; ++l) s.push_back(Spec{{batch, H}}), s.push_back(Spec{{batch, H}});
    s.push_back(Spec{{T, batch, H}, DType::f32, "mask"});
    s.push_back(Spec{{T, batch}, DType::i32, "inputs"});
    s.push_back(Spec{{T, batch}, DType::i32, "targets"});
    return trace(
        [&, batch](std::span<const Var> a) {
          const size_t n = n_params;
          std::vector<nn::Weights> layers = {nn::weights(a.subspan(1, 4)), nn::weights(a.subspan(5, 4))};
          std::vector<nn::State> init;
          for (int l = 0; l < L; ++l) init.push_back({a[n + 2 * l], a[n + 2 * l + 1]});
          Var x = nn::embedding(a[0], a[n + 2 * L + 1]);  // [T, batch, E]
          std::vector<Var> xs, masks;
          for (int t = 0; t < T; ++t) {
            xs.push_back(reshape(slice(x, 0, t, t + 1), {batch, E}));
            masks.push_back(reshape(slice(a[n + 2 * L], 0, t, t + 1), {batch, H}));
          }
          auto [hs, finals] = nn::stack(nn::Cell::LSTM, xs, init, layers, {masks}, p);
          Var logits = nn::many_to_many(hs, a[9], a[10]);  // [T batch, V]
          Var loss = mean(softmax_cross_entropy(logits, reshape(a[n + 2 * L + 2], {T * batch})));
          std::vector<Var> out = {loss};
          for (const nn::State& f : finals) out.push_back(f.h), out.push_back(f.c);
          out.push_back(logits);
          return out;
        },
        s);
  };
  std::vector<int> wrt;
  for (size_t i = 0; i < n_params; ++i) wrt.push_back(static_cast<int>(i));
  Compiled train_step = compile(value_and_grad(step_fn(B), wrt, true));
  Compiled eval_step = compile(step_fn(4));

  std::mt19937_64 rng(12);
  std::vector<Tensor> params = {Tensor::normal({V, E}, 0, 1, rng)};
  for (int l = 0; l < L; ++l)
    for (const Tensor& w : nn::init_weights(nn::Cell::LSTM, l == 0 ? E : H, H, rng)) params.push_back(w);
  params.push_back(Tensor::uniform({V, H}, -0.1, 0.1, rng));
  params.push_back(Tensor::zeros({V}));
  optim::Optimizer opt(optim::Adam{.lr = 3e-3});
  std::vector<Tensor> state(2 * L, Tensor::zeros({B, H}));
  auto validate = [&] {
    std::vector<Tensor> st(2 * L, Tensor::zeros({4, H}));
    double total = 0;
    for (int64_t k = 0; k < val.chunks(); ++k) {
      auto [in, tg] = val.chunk(k);
      std::vector<Tensor> args = params;
      args.insert(args.end(), st.begin(), st.end());
      args.push_back(Tensor::full({T, 4, H}, 1.0 - p));  // no dropout: masks scaled to cancel 1/(1-p)
      args.push_back(in);
      args.push_back(tg);
      std::vector<Tensor> out = eval_step(args);
      total += out[0].item();
      for (int i = 0; i < 2 * L; ++i) st[i] = out[1 + i];  // the state carries through validation too
    }
    return total / static_cast<double>(val.chunks());
  };
  const std::filesystem::path best_file = std::filesystem::temp_directory_path() / "rnnc-test-charlstm.safetensors";
  io::KeepBest best(best_file);
  const double first_val = validate();
  double train_loss = 0, acc = 0;
  for (int it = 0; it < 400; ++it) {
    const int64_t k = it % train.chunks();
    if (k == 0) state.assign(2 * L, Tensor::zeros({B, H}));  // reset at the start of each epoch
    auto [in, tg] = train.chunk(k);
    std::vector<Tensor> args = params;
    args.insert(args.end(), state.begin(), state.end());
    args.push_back(nn::dropout_mask({T, B, H}, p, rng));
    args.push_back(in);
    args.push_back(tg);
    std::vector<Tensor> out = train_step(args);
    train_loss = out[0].item();
    for (int i = 0; i < 2 * L; ++i) state[i] = out[1 + i];  // carried; the gradient stops here
    acc = nn::accuracy(out[1 + 2 * L], tg.reshaped({T * B}));
    std::vector<Tensor> grads(out.begin() + 2 + 2 * L, out.end());  // after the loss, states and logits
    optim::clip_by_global_norm(grads, 5.0);
    opt.step(params, grads);
    if ((it + 1) % 100 == 0) {
      io::Checkpoint c;
      for (size_t i = 0; i < params.size(); ++i) c.add(specs[i].name, params[i]);
      c.metadata["vocab"] = data::encode_utf8(vocab.chars());
      best.offer(validate(), c);
    }
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
  CHECK(io::load(best_file).tensor("dense.bias").shape() == Shape{V});
  std::filesystem::remove(best_file);
}
