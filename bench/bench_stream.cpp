// Latency of one streaming step at batch 1 (issue 30): a character LSTM (one-hot input, vocabulary
// 65, a linear head), stepped as an exported library steps it (a stream of the run time's model,
// export.h; the exported object holds the same kernels), each step timed alone. Prints one line:
// p50, p99, p99.9 and the mean in microseconds, and the same step called as a compiled tree
// function (what `rnnc sample` ran before streams). bench/stream_latency.sh has the table with
// PyTorch beside it.
//   bench_stream --layers 2 --hidden 256 --steps 100000 [--bf16 | --int8] [--threads 2]
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <random>

#include "rnnc/char_rnn.h"

using namespace rnnc;

namespace {

struct Percentiles {
  double p50, p99, p999, mean;
};

Percentiles percentiles(std::vector<double>& us) {
  std::sort(us.begin(), us.end());
  double sum = 0;
  for (double u : us) sum += u;
  auto at = [&](double q) {
    return us[std::min(us.size() - 1, static_cast<size_t>(q * static_cast<double>(us.size())))];
  };
  return {at(0.5), at(0.99), at(0.999), sum / static_cast<double>(us.size())};
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"latency of one streaming step of a character LSTM"};
  int layers = 2, steps = 100000, threads = 0;
  int64_t hidden = 256, vocab = 65;
  bool bf16 = false, int8 = false;
  app.add_option("--layers", layers)->capture_default_str();
  app.add_option("--hidden", hidden)->capture_default_str();
  app.add_option("--vocab", vocab)->capture_default_str();
  app.add_option("--steps", steps)->capture_default_str();
  app.add_option("--threads", threads, "per stream (0: all cores)")->capture_default_str();
  app.add_flag("--bf16", bf16, "weights in bfloat16, summed in float32");
  app.add_flag("--int8", int8, "weights in int8 per output channel");
  CLI11_PARSE(app, argc, argv);

  using Model = nn::CharRNN<nn::LSTMCell>;
  std::mt19937_64 rng(1);
  const Model m = Model::init(vocab, hidden, rng, {.layers = layers});
  CompileOptions o;
  o.bf16 = bf16;
  o.int8 = int8;
  o.threads = threads;
  auto step = compile([&m](const Model::State& s, const Var& c) { return Model::next(m, s, c); }, o);
  nn::detail::CharStream stream(stream_model(step, m.initial_state(1), Tensor::zeros({1}, DType::i32)), vocab);

  using clock = std::chrono::steady_clock;
  auto us_since = [](clock::time_point t0) {
    return std::chrono::duration<double, std::micro>(clock::now() - t0).count();
  };
  std::vector<double> us(static_cast<size_t>(steps));
  float sink = 0;
  for (int t = 0; t < 1000; ++t) sink += stream.step(t % vocab).at(0) > 0;  // warm: caches, pages, workers
  for (int t = 0; t < steps; ++t) {
    const auto t0 = clock::now();
    const Tensor& logits = stream.step(static_cast<int>((t * 7) % vocab));
    us[static_cast<size_t>(t)] = us_since(t0);
    sink += static_cast<float*>(const_cast<void*>(logits.raw()))[0];
  }
  const Percentiles s = percentiles(us);

  // The compiled tree function, a tenth of the steps.
  Model::State state = m.initial_state(1);
  std::vector<double> tf(static_cast<size_t>(std::max(steps / 10, 100)));
  for (size_t t = 0; t < tf.size(); ++t) {
    const Tensor x = Tensor::from({double((t * 7) % vocab)}, {1}, DType::i32);
    const auto t0 = clock::now();
    auto [logits, next] = step(state, x);
    tf[t] = us_since(t0);
    state = std::move(next);
  }
  const Percentiles f = percentiles(tf);
  fmt::print("{:.2f} {:.2f} {:.2f} {:.2f} {:.2f} {:.2f}{}\n", s.p50, s.p99, s.p999, s.mean, f.p50, f.mean,
             sink == 12345.f ? " " : "");
  return 0;
}
