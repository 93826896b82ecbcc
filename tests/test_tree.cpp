// Trees: named leaves, compile / value_and_grad / scan over structs, cells as structs, optimizers
// and checkpoints by path, and the errors that name a leaf.
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>

#include "helpers.h"

using namespace rnnc;

namespace {

// A user's own cell, as a struct: the minimal gated unit.
struct MGU {
  Param Wf, Wh, Uh, bf, bh;
  RNNC_TREE(Wf, Wh, Uh, bf, bh)

  static MGU init(int64_t I, int64_t H, std::mt19937_64& rng, DType t = DType::f32) {
    auto u = [&](Shape s) { return Tensor::uniform(s, -0.3, 0.3, rng, t); };
    return {u({I + H, H}), u({I, H}), u({H, H}), u({H}), u({H})};
  }
  nn::Hidden initial_state(int64_t batch) const { return {Tensor::zeros({batch, Uh.shape()[0]}, Uh.dtype())}; }
  nn::Hidden operator()(const Var& x, const nn::Hidden& s) const {
    Var f = sigmoid(matmul(concat({x, s.h}, 1), Wf) + bf);
    return {(1.0 - f) * s.h + f * tanh(matmul(x, Wh) + matmul(f * s.h, Uh) + bh)};
  }
};

// A character model around any cell: one-hot in, the cell over the sequence, a dense softmax out.
template <class Cell> struct CharNet {
  nn::RNN<Cell> rnn;
  nn::Linear head;
  int64_t vocab = 0;
  RNNC_TREE(rnn, head)

  // inputs [T, B] -> logits [T B, V] and the final states
  auto operator()(const Var& inputs, const std::vector<typename nn::RNN<Cell>::State>& s, Rng* rng = nullptr) const {
    auto [hs, last] = rnn(one_hot(inputs, vocab, head.weight.dtype()), s, {.rng = rng});
    return std::pair{head(reshape(hs, {-1, hs.shape()[2]})), last};
  }
};

struct Batch {
  Leaf x, y;
  RNNC_TREE(x, y)
};

template <class Cell> auto lm_loss() {
  return [](const CharNet<Cell>& m, const std::vector<typename nn::RNN<Cell>::State>& s, const Batch& b) {
    auto [logits, next] = m(b.x, s);
    return std::pair{mean(softmax_cross_entropy(logits, reshape(b.y, {-1}))), next};
  };
}

template <class Cell> CharNet<Cell> char_net(int layers, int64_t V, int64_t H, std::mt19937_64& rng, DType t) {
  return {nn::RNN<Cell>::init(V, H, rng, {.layers = layers}, t), nn::Linear::init(H, V, rng, t), V};
}

Batch batch_of(int64_t T, int64_t B, int V, uint64_t seed) {
  std::mt19937_64 rng(seed);
  Tensor x(DType::i32, {T, B}), y(DType::i32, {T, B});
  for (int64_t i = 0; i < x.numel(); ++i) x.set(i, static_cast<int>(rng() % V)), y.set(i, static_cast<int>(rng() % V));
  return {x, y};
}

}  // namespace

TEST_CASE("tree paths follow PyTorch's state_dict names") {
  std::mt19937_64 rng(1);
  auto m = char_net<nn::LSTMCell>(2, 5, 4, rng, DType::f32);
  const std::vector<std::string> p = tree::paths(m);
  REQUIRE(p.size() == 10);
  CHECK(p[0] == "rnn.layers.0.weight_ih");
  CHECK(p[7] == "rnn.layers.1.bias_hh");
  CHECK(p[8] == "head.weight");
  CHECK(tree::paths(m.rnn.initial_state(3), "state") ==
        std::vector<std::string>{"state.0.h", "state.0.c", "state.1.h", "state.1.c"});
  // replace / assign keep the structure and the configuration
  auto z = tree::zeros_like(m);
  CHECK(z.vocab == 5);
  CHECK(z.rnn.layers[1].weight_hh.tensor().shape() == Shape{16, 4});
  CHECK(z.head.bias.tensor().at(0) == 0);
  CHECK_THROWS_WITH(tree::tensors(CharNet<nn::LSTMCell>{}), Catch::Contains("leaf 'head.weight'"));
}

TEST_CASE("value_and_grad over trees: compiled == interpreted, grads shaped like the model") {
  for (int layers : {1, 2}) {
    std::mt19937_64 rng(layers);
    auto m = char_net<nn::LSTMCell>(layers, 6, 5, rng, DType::f32);
    auto s = m.rnn.initial_state(3);
    Batch b = batch_of(4, 3, 6, 7);
    auto step = compile(value_and_grad(lm_loss<nn::LSTMCell>()));
    auto ref = interpret(value_and_grad(lm_loss<nn::LSTMCell>()));
    auto [loss, next, grads] = step(m, s, b);
    auto [loss2, next2, grads2] = ref(m, s, b);
    CHECK(std::abs(loss.item() - loss2.item()) < 1e-5);
    CHECK(std::abs(loss.item() - std::log(6.0)) < 0.3);
    REQUIRE(next.size() == static_cast<size_t>(layers));
    CHECK(max_abs_diff(next[0].c.tensor(), next2[0].c.tensor()) < 1e-5);
    const auto g = tree::tensors(grads), g2 = tree::tensors(grads2), w = tree::tensors(m);
    REQUIRE(g.size() == w.size());
    for (size_t i = 0; i < g.size(); ++i) {
      CHECK(g[i].shape() == w[i].shape());
      CHECK(max_abs_diff(g[i], g2[i]) < 1e-5);
    }
    // a second call with the same shapes reuses the compiled program; another batch size traces once more
    step(m, next, b);
    CHECK(step.signatures() == 1);
    step(m, m.rnn.initial_state(2), batch_of(4, 2, 6, 8));
    CHECK(step.signatures() == 2);
  }
}

TEST_CASE("CallHooks: each gradient is reported once, final, the output layer's before the first layer's") {
  std::mt19937_64 rng(5);
  auto m = char_net<nn::LSTMCell>(2, 6, 5, rng, DType::f64);
  const Batch b = batch_of(7, 3, 6, 9);
  for (bool compiled : {true, false}) {
    INFO((compiled ? "compiled" : "interpreted"));
    auto step = compiled ? compile(value_and_grad(lm_loss<nn::LSTMCell>()))
                         : interpret(value_and_grad(lm_loss<nn::LSTMCell>()));
    std::vector<std::pair<int, Tensor>> seen;  // in the order reported, with the values then
    int between = 0, between_at_head = -1;
    const std::vector<std::string> paths = tree::paths(m);
    CallHooks hooks{[&](int leaf, const Tensor& g) {
                      seen.emplace_back(leaf, g.clone());
                      if (paths.at(static_cast<size_t>(leaf)) == "head.weight") between_at_head = between;
                    },
                    [&] { ++between; }};
    auto [loss, next, grads] = step.call(hooks, m, m.rnn.initial_state(3), b);
    const std::vector<Tensor> g = tree::tensors(grads);
    REQUIRE(seen.size() == g.size());
    std::vector<int> position(g.size(), -1);
    for (size_t k = 0; k < seen.size(); ++k) {
      const auto [leaf, value] = seen[k];
      REQUIRE(position.at(static_cast<size_t>(leaf)) == -1);  // once
      position[static_cast<size_t>(leaf)] = static_cast<int>(k);
      CHECK(max_abs_diff(value, g[static_cast<size_t>(leaf)]) == 0);  // final when reported
    }
    const int head = static_cast<int>(std::find(paths.begin(), paths.end(), "head.weight") - paths.begin());
    if (compiled) {
      // The output layer's gradient is done before the backward loop runs down the layers, so
      // data-parallel training can average it meanwhile.
      CHECK(position[static_cast<size_t>(head)] < position[0]);
      CHECK(between_at_head >= 0);
      CHECK(between > between_at_head + 7);  // the backward loop's steps came after
    } else {
      CHECK(between == 0);  // the interpreter reports everything at the end
    }
    // A value function (no gradients) reports nothing.
    int reported = 0;
    auto plain = compile(lm_loss<nn::LSTMCell>());
    plain.call(CallHooks{[&](int, const Tensor&) { ++reported; }, {}}, m, m.rnn.initial_state(3), b);
    CHECK(reported == 0);
  }
}

TEST_CASE("every library cell and a user's own cell gradcheck in float64 through trees") {
  std::mt19937_64 rng(3);
  const Batch b = batch_of(3, 2, 5, 11);
  auto check = [&](auto m) {
    using Cell = std::decay_t<decltype(m.rnn.layers[0])>;
    auto f = compile(lm_loss<Cell>());
    auto [fn, args] = f.function(m, m.rnn.initial_state(2), b);
    GradcheckReport r = gradcheck(fn, args);
    INFO(r.str());
    CHECK(r.ok);
    CHECK(r.inputs.size() == tree::size(m) + tree::size(m.rnn.initial_state(2)));
    CHECK(r.inputs[0].name == "rnn.layers.0." + tree::paths(m.rnn.layers[0])[0]);
  };
  check(char_net<nn::RNNCell>(2, 5, 3, rng, DType::f64));
  check(char_net<nn::LSTMCell>(2, 5, 3, rng, DType::f64));
  check(char_net<nn::GRUCell>(1, 5, 3, rng, DType::f64));
  check(char_net<MGU>(1, 5, 3, rng, DType::f64));
}

TEST_CASE("a library cell as a struct computes its formula over its named weights") {
  std::mt19937_64 rng(5);
  nn::LSTMCell cell = nn::LSTMCell::init(3, 4, rng, DType::f64);
  const std::vector<Tensor> w = tree::tensors(cell);
  Tensor x = Tensor::uniform({2, 3}, -1, 1, rng, DType::f64), h = Tensor::uniform({2, 4}, -1, 1, rng, DType::f64),
         c = Tensor::uniform({2, 4}, -1, 1, rng, DType::f64);
  auto f = compile([](const nn::LSTMCell& p, const nn::LSTMState& s, const Var& x) { return p(x, s); });
  nn::LSTMState next = f(cell, nn::LSTMState{h, c}, x);
  Function g = trace(  // the same math over positional inputs: weights, x, h, c
      [](std::span<const Var> a) {
        auto gt = chunk(matmul(a[4], transpose(a[0])) + a[2] + matmul(a[5], transpose(a[1])) + a[3], 4, 1);
        Var c = sigmoid(gt[1]) * a[6] + sigmoid(gt[0]) * tanh(gt[2]);
        return std::vector<Var>{sigmoid(gt[3]) * tanh(c), c};
      },
      testing::specs_of({w[0], w[1], w[2], w[3], x, h, c}));
  std::vector<Tensor> want = interpret(g, {w[0], w[1], w[2], w[3], x, h, c});
  CHECK(max_abs_diff(next.h.tensor(), want[0]) < 1e-12);
  CHECK(max_abs_diff(next.c.tensor(), want[1]) < 1e-12);
}

TEST_CASE("scan over trees: an LSTM state as a struct, outputs as a pair") {
  std::mt19937_64 rng(2);
  nn::LSTMCell cell = nn::LSTMCell::init(3, 4, rng, DType::f64);
  Tensor xs = Tensor::uniform({5, 2, 3}, -1, 1, rng, DType::f64);
  auto f = compile([](const nn::LSTMCell& p, const Var& xs) {
    auto [last, ys] = scan(
        [&](const nn::LSTMState& s, const Var& x) {
          nn::LSTMState n = p(x, s);
          return std::pair{n, std::pair<Var, Var>{n.h, n.c}};
        },
        p.initial_state(2), xs);
    return std::tuple<nn::LSTMState, Var, Var>{last, ys.first, ys.second};
  });
  auto [last, hs, cs] = f(cell, xs);
  CHECK(hs.shape() == Shape{5, 2, 4});
  // the last stacked output is the final carry
  const std::vector<double> c = cs.values();
  CHECK(max_abs_diff(last.c.tensor(), Tensor::from(std::vector<double>(c.end() - 8, c.end()), {2, 4}, DType::f64)) ==
        0);
}

TEST_CASE("dropout draws from the Rng argument: reproducible by seed, fresh at every call") {
  auto f = compile([](const Var& x, Rng& rng) { return nn::dropout(x, 0.5, rng); });
  Tensor x = Tensor::full({1000}, 1.0);
  Rng a(42), b(42), c(43);
  Tensor a1 = f(x, a), a2 = f(x, a), b1 = f(x, b), c1 = f(x, c);
  CHECK(a.draws() == 2);
  CHECK(max_abs_diff(a1, b1) == 0);
  CHECK(max_abs_diff(a1, a2) > 0);
  CHECK(max_abs_diff(a1, c1) > 0);
  double kept = 0;
  for (double v : a1.values()) {
    CHECK((v == 0 || v == 2));
    kept += v / 2;
  }
  CHECK(kept > 400);
  CHECK(kept < 600);
  // resuming from (seed, draws) gives what the uninterrupted stream gives
  Rng r(42);
  r.set_draws(1);
  CHECK(max_abs_diff(f(x, r), a2) == 0);
  Rng none(1);
  auto g = compile([](const Var& x) { return x * 2.0; });
  (void)none;
  CHECK(max_abs_diff(g(x), Tensor::full({1000}, 2.0)) == 0);
}

TEST_CASE("errors name the leaf: changed trees, unused parameters, checkpoints, optimizer state") {
  std::mt19937_64 rng(4);
  auto m = char_net<nn::GRUCell>(2, 4, 3, rng, DType::f32);
  Batch b = batch_of(2, 2, 4, 1);
  auto step = compile(value_and_grad(lm_loss<nn::GRUCell>()));
  step(m, m.rnn.initial_state(2), b);

  auto fewer = m;
  fewer.rnn.layers.pop_back();
  CHECK_THROWS_WITH(step(fewer, fewer.rnn.initial_state(2), b),
                    Catch::Contains("'head.weight' is new") && Catch::Contains("'rnn.layers.1.weight_ih'"));
  auto wider = m;
  wider.head = nn::Linear::init(3, 5, rng);
  CHECK_THROWS_WITH(step(wider, m.rnn.initial_state(2), b), Catch::Contains("leaf 'head.weight' was f32[4, 3]"));
  Batch wrong{b.x.tensor().to(DType::f32), b.y};
  CHECK_THROWS_WITH(step(m, m.rnn.initial_state(2), wrong), Catch::Contains("'batch.x'"));

  // a loss that ignores its argument (here: computes with a captured model)
  auto captured = compile(value_and_grad([&m](const nn::Linear& p, const Var& x) {
    return sum(m.head(x) * 0.0 + p(x)) - sum(p.bias * 0.0) + sum(m.head.weight);
  }));
  auto only_bias = compile(value_and_grad([](const nn::Linear& p, const Var& x) { return sum(p.bias) + sum(x); }));
  CHECK_NOTHROW(captured(m.head, Tensor::zeros({2, 3})));
  CHECK_THROWS_WITH(only_bias(m.head, Tensor::zeros({2, 3})), Catch::Contains("does not depend on leaf 'weight'"));

  // a shape mistake inside the model names the leaf as well as the op, the shapes and the line
  auto bad = m;
  bad.head = nn::Linear::init(5, 4, rng);
  CHECK_THROWS_WITH(compile(value_and_grad(lm_loss<nn::GRUCell>()))(bad, bad.rnn.initial_state(2), b),
                    Catch::Contains("matmul: shapes [4, 3] and [5, 4] (a view of 'head.weight' [4, 5]) do not chain") &&
                        Catch::Contains("(at test_tree.cpp:"));

  // checkpoints: by path, every mismatch found before anything changes
  io::Checkpoint ck;
  ck.add_tree(m, "model");
  CHECK(ck.has("model.rnn.layers.1.bias_hh"));
  auto other = char_net<nn::GRUCell>(2, 4, 3, rng, DType::f32);
  ck.load_tree(other, "model");
  CHECK(max_abs_diff(other.head.weight.tensor(), m.head.weight.tensor()) == 0);
  auto big = char_net<nn::GRUCell>(2, 4, 5, rng, DType::f32);
  const Tensor before = big.head.bias.tensor().clone();
  CHECK_THROWS_WITH(
      ck.load_tree(big, "model"),
      Catch::Contains("'model.rnn.layers.0.weight_ih' is f32[9, 4] in the file, the model expects f32[15, 4]"));
  CHECK(max_abs_diff(big.head.bias.tensor(), before) == 0);
  auto deep = char_net<nn::GRUCell>(3, 4, 3, rng, DType::f32);
  CHECK_THROWS_WITH(ck.load_tree(deep, "model"), Catch::Contains("no tensor named 'model.rnn.layers.2.weight_ih'"));

  // optimizer state by path, restored into a fresh optimizer
  auto [l, s, g] = step(m, m.rnn.initial_state(2), b);
  optim::Optimizer opt(optim::Adam{.lr = 0.01});
  opt.step(m, g);
  auto st = opt.state();
  CHECK(st[0].first == "exp_avg.rnn.layers.0.weight_ih");
  optim::Optimizer back(optim::Adam{.lr = 0.01});
  back.load_state(m, st, opt.steps());
  auto m2 = tree::clone(m);
  opt.step(m, g);
  back.step(m2, g);
  for (size_t i = 0; i < tree::size(m); ++i) CHECK(max_abs_diff(tree::tensors(m)[i], tree::tensors(m2)[i]) == 0);
  g.head.bias.tensor().set(0, std::nan(""));
  CHECK_THROWS_WITH(optim::clip_by_global_norm(g, 5.0), Catch::Contains("'head.bias'"));
}

TEST_CASE("a user's cell as a struct learns the alphabet, trained in a few lines") {
  const int V = 26, T = 25, H = 32;
  std::mt19937_64 rng(1);
  CharNet<MGU> m = char_net<MGU>(1, V, H, rng, DType::f32);
  Tensor x(DType::i32, {T, 1}), y(DType::i32, {T, 1});
  for (int t = 0; t < T; ++t) x.set(t, t), y.set(t, t + 1);
  auto step = compile(value_and_grad(lm_loss<MGU>()));
  optim::Optimizer opt(optim::Adam{.lr = 0.02});
  double loss = 0;
  for (int it = 0; it < 300 && (it == 0 || loss > 0.05); ++it) {
    auto [l, state, grads] = step(m, m.rnn.initial_state(1), Batch{x, y});
    loss = l.item();
    opt.step(m, grads);
  }
  CHECK(loss < 0.05);
}
