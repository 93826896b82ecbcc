// Sequences of different lengths (issue 13): the training step of a bidirectional LSTM or GRU
// classifier over B sequences whose lengths are uniform in [1, T], the label read from both
// directions' final states, Adam; the same model and batch as ../shared/bench/torch_varlen_bench.py
// (I 32, 2 classes). Three ways, as that script has them:
//   fixed    every length = T (real steps B T)
//   padded   the lengths ignored: every row runs to T (wrong for the backward direction; the floor)
//   lengths  scan with per-row lengths: each row exactly its own length (real steps sum(lengths))
// Prints one JSON line per way with the real (unpadded) steps per second.
// Usage: bench_varlen [--cell lstm|gru] [--hidden H] [--seq-length T] [--batch B] [--threads N] [--steps N]
#include <rnnc/rnnc.h>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <chrono>

using namespace rnnc;

namespace {

template <class Cell> struct Classifier {
  nn::Bidirectional<Cell> rnn;
  nn::Linear head;
  RNNC_TREE(rnn, head)
};

template <class Cell> int run(int64_t H, int64_t T, int64_t B, int threads, int iters) {
  constexpr int64_t I = 32, C = 2;
  std::mt19937_64 rng(0);
  Classifier<Cell> model{nn::Bidirectional<Cell>::init(I, H, rng), nn::Linear::init(2 * H, C, rng)};
  const Tensor x = Tensor::normal({T, B, I}, 0, 1, rng);
  std::vector<double> y, len;
  for (int64_t b = 0; b < B; ++b) {
    y.push_back(static_cast<double>(rng() % C));
    len.push_back(static_cast<double>(1 + rng() % static_cast<uint64_t>(T)));
  }
  const Tensor labels = Tensor::from(y, {B}, DType::i32), lengths = Tensor::from(len, {B}, DType::i32);
  int64_t real = 0;
  for (double l : len) real += static_cast<int64_t>(l);

  for (const char* way : {"fixed", "padded", "lengths"}) {
    const bool masked = std::string(way) == "lengths";
    auto loss = [masked](const Classifier<Cell>& m, const Var& xs, const Var& n, const Var& labels) {
      auto [ys, last] = m.rnn(xs, m.rnn.initial_state(xs.shape()[1]), {.lengths = masked ? n : Var()});
      return mean(softmax_cross_entropy(m.head(concat({Var(last[0].h), Var(last[1].h)}, -1)), labels));
    };
    auto step = compile(value_and_grad(loss), {.threads = threads});
    optim::Optimizer opt(optim::Adam{.lr = 1e-3}, {.threads = threads});
    auto one = [&] {
      auto [l, g] = step(model, x, lengths, labels);
      opt.step(model, g);
    };
    for (int i = 0; i < 2; ++i) one();  // compile, and warm the caches
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < iters; ++i) one();
    const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / iters;
    const int64_t steps = std::string(way) == "fixed" ? B * T : real;
    fmt::print(
        "{{\"way\": \"{}\", \"cell\": \"{}\", \"H\": {}, \"T\": {}, \"B\": {}, \"ms_per_step\": {:.2f}, "
        "\"real_steps_per_s\": {:.0f}}}\n",
        way, nn::cell_name(model.rnn.forward[0]), H, T, B, 1e3 * dt, static_cast<double>(steps) / dt);
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"bench_varlen: a bidirectional classifier step on sequences of different lengths"};
  std::string cell = "lstm";
  int64_t hidden = 128, steps = 200, batch = 64;
  int threads = 2, iters = 5;
  app.add_option("--cell", cell, "lstm or gru")->check(CLI::IsMember({"lstm", "gru"}))->capture_default_str();
  app.add_option("--hidden", hidden, "units per direction")->capture_default_str();
  app.add_option("--seq-length", steps, "T, the longest length")->capture_default_str();
  app.add_option("--batch", batch, "B sequences")->capture_default_str();
  app.add_option("--threads", threads, "threads")->capture_default_str();
  app.add_option("--steps", iters, "timed steps per way")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  try {
    return cell == "lstm" ? run<nn::LSTMCell>(hidden, steps, batch, threads, iters)
                          : run<nn::GRUCell>(hidden, steps, batch, threads, iters);
  } catch (const std::exception& e) {
    fmt::print(stderr, "bench_varlen: {}\n", describe(e));
    return 1;
  }
}
