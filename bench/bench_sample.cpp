// One character of generation (issue 18), as nn::sample runs it: CharRNN<LSTMCell>::next compiled
// over the captured weights (constants of the program), vocabulary 65, float32 and the bf16 mode,
// on 1 and 2 threads. bench/sample_speed.sh has the same models end to end against PyTorch.
#include <benchmark/benchmark.h>

#include "rnnc/char_rnn.h"

using namespace rnnc;

namespace {

void BM_SampleStep(benchmark::State& state) {
  const auto layers = static_cast<int>(state.range(0));
  const int64_t hidden = state.range(1);
  std::mt19937_64 rng(1);
  using Model = nn::CharRNN<nn::LSTMCell>;
  const Model m = Model::init(65, hidden, rng, {.layers = layers});
  CompileOptions o;
  o.bf16 = state.range(2) != 0;
  o.threads = static_cast<int>(state.range(3));
  auto step = compile([&m](const Model::State& s, const Var& c) { return Model::next(m, s, c); }, o);
  Model::State s = m.initial_state(1);
  const Tensor x = Tensor::from({7.0}, {1}, DType::i32);
  Tensor logits;
  for (int i = 0; i < 3; ++i) std::tie(logits, s) = step(s, x);
  for (auto _ : state) {
    std::tie(logits, s) = step(s, x);
    benchmark::DoNotOptimize(logits);
  }
  state.counters["chars/s"] = benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_SampleStep)
    ->ArgNames({"layers", "hidden", "bf16", "threads"})
    ->ArgsProduct({{2}, {256}, {0, 1}, {1, 2}})
    ->ArgsProduct({{3}, {700}, {0, 1}, {1, 2}})
    ->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
