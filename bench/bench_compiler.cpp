// One LSTM and one GRU training step (batch 128, hidden 256, input 256; forward + backward),
// compiled vs the reference interpreter, with GFLOP/s of the GEMM work; and whole sequences.
#include <benchmark/benchmark.h>

#include "models.h"

using namespace rnnc;
using namespace rnnc::bench;

namespace {
constexpr int B = 128, H = 256, I = 256;

// Forward GEMMs 2 B (I + H) G H flops per step (G gates); the backward does twice that.
void counters(benchmark::State& state, int gates, int T) {
  const double flops = 3.0 * 2.0 * B * (I + H) * gates * H * T;
  state.counters["GFLOP/s"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["chars/s"] = benchmark::Counter(double(B) * T, benchmark::Counter::kIsIterationInvariantRate);
}

void run(benchmark::State& state, const Function& f, bool compiled, int gates, int T) {
  const std::vector<Tensor> args = random_args(f);
  if (compiled) {
    Compiled c = compile(f);
    for (auto _ : state) benchmark::DoNotOptimize(c(args));
    state.counters["kernels"] = c.stats().kernels;
  } else {
    for (auto _ : state) benchmark::DoNotOptimize(interpret(f, args));
  }
  counters(state, gates, T);
}

void BM_LSTMStep(benchmark::State& state) { run(state, value_and_grad(lstm_loss(1, B, H, I)), state.range(0), 4, 1); }
BENCHMARK(BM_LSTMStep)->ArgName("compiled")->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

void BM_GRUStep(benchmark::State& state) { run(state, value_and_grad(gru_loss(1, B, H, I)), state.range(0), 3, 1); }
BENCHMARK(BM_GRUStep)->ArgName("compiled")->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

void BM_LSTMSequence_Compiled(benchmark::State& state) {
  const int T = static_cast<int>(state.range(0));
  run(state, value_and_grad(lstm_loss(T, B, H, I, /*unrolled=*/state.range(1) != 0)), true, 4, T);
}
// The same sequence traced as one scan (unrolled = 0) and as a C++ loop over the steps (1).
BENCHMARK(BM_LSTMSequence_Compiled)
    ->ArgNames({"T", "unrolled"})
    ->Args({100, 0})
    ->Args({100, 1})
    ->Unit(benchmark::kMillisecond);
}  // namespace

BENCHMARK_MAIN();
