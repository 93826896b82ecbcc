// The trainer's overhead: the same training run written as a bare loop (value_and_grad step,
// clipping, the optimizer, the state carried) and through nn::fit with a progress callback, on
// character streams, interleaved, best of N. The bound: fit within 2% of the bare loop.
//
// Usage: bench_fit [--threads N] [--rounds N]
#include <rnnc/rnnc.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <fmt/format.h>

using namespace rnnc;

namespace {
constexpr int V = 65;

struct Config {
  const char* name;
  int H, T, B, steps;
};
const Config kConfigs[] = {{"rnn_100_T25_B1 (min-char-rnn)", 100, 25, 1, 2000},
                           {"lstm_256_T100_B64", 256, 100, 64, 12}};

data::Streams streams(const Config& c) {
  std::mt19937_64 rng(0);
  Tensor text(DType::i32, {int64_t(c.B) * (c.T * (c.steps + 1) + 1)});
  for (int64_t i = 0; i < text.numel(); ++i) text.set(i, double(rng() % V));
  return data::Streams(text, c.B, c.T);
}

template <class Cell> double bare(const Config& c, const data::Streams& s) {
  using Model = nn::CharRNN<Cell>;
  std::mt19937_64 rng(1);
  Model model = Model::init(V, c.H, rng);
  optim::Optimizer opt(optim::Adam{.lr = 1e-3});
  auto step = compile(value_and_grad(Model::loss));
  Rng dropout(1);
  auto state = model.initial_state(c.B);
  auto one = [&](int64_t k) {
    if (k % s.chunks() == 0) state = model.initial_state(c.B);
    auto [l, next, grads] = step(model, state, s.chunk(k % s.chunks()), dropout);
    optim::clip_by_value(grads, -5, 5);
    opt.step(model, grads);
    state = next;
    return l.item();
  };
  one(0);  // compile
  const auto t0 = std::chrono::steady_clock::now();
  for (int k = 1; k <= c.steps; ++k) one(k);
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

template <class Cell> double fitted(const Config& c, const data::Streams& s) {
  using Model = nn::CharRNN<Cell>;
  std::mt19937_64 rng(1);
  Model model = Model::init(V, c.H, rng);
  optim::Optimizer opt(optim::Adam{.lr = 1e-3});
  std::chrono::steady_clock::time_point t0;
  nn::fit(model, opt, s, Model::loss,
          {.budget = {.steps = c.steps + 1},
           .clip = {.value = 5},
           .seed = 1,
           .callbacks = {[&](const nn::Event& e) {
                           if (e.step == 1) t0 = std::chrono::steady_clock::now();  // after the compile, as bare()
                         },
                         nn::ProgressLine{.out = std::fopen("/dev/null", "w")}}});
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"bench_fit: nn::fit against the bare training loop"};
  int rounds = 5;
  app.add_option("--rounds", rounds, "interleaved runs of each (best of)")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  fmt::print("{:32} | {:>10} | {:>10} | {:>8}\n", "config", "bare s", "fit s", "fit/bare");
  for (const Config& c : kConfigs) {
    const data::Streams s = streams(c);
    double b = 1e9, f = 1e9;
    for (int r = 0; r < rounds; ++r) {
      const bool lstm = c.H == 256;
      b = std::min(b, lstm ? bare<nn::LSTMCell>(c, s) : bare<nn::RNNCell>(c, s));
      f = std::min(f, lstm ? fitted<nn::LSTMCell>(c, s) : fitted<nn::RNNCell>(c, s));
    }
    fmt::print("{:32} | {:>10.4f} | {:>10.4f} | {:>7.3f}x\n", c.name, b, f, f / b);
  }
}
