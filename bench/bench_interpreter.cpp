// Baselines for the compiler to beat: graph construction (trace + autodiff) and the reference
// interpreter on an LSTM training step (forward + backward), batch 128, hidden 256.
#include <benchmark/benchmark.h>
#include <rnnc/rnnc.h>

#include "models.h"

using namespace rnnc;

namespace {
constexpr int B = 128, H = 256, I = 256;

using bench::lstm_cell;  // PyTorch's LSTM cell and layout (models.h)

Function lstm_loss(int T) {
  std::vector<Spec> specs = {{{T, B, I}}, {{B, H}}, {{B, H}}, {{4 * H, I}}, {{4 * H, H}}, {{4 * H}}};
  return trace(
      [T](std::span<const Var> a) {
        Var h = a[1], c = a[2];
        for (int t = 0; t < T; ++t)
          std::tie(h, c) = lstm_cell(reshape(slice(a[0], 0, t, t + 1), {B, I}), h, c, a[3], a[4], a[5]);
        return sum(h);
      },
      specs);
}

void BM_TraceAndGrad_LSTM(benchmark::State& state) {
  const int T = static_cast<int>(state.range(0));
  for (auto _ : state) {
    Function g = value_and_grad(lstm_loss(T));
    benchmark::DoNotOptimize(g.outputs.data());
  }
  state.counters["nodes"] = static_cast<double>(topo_order(value_and_grad(lstm_loss(T)).outputs).size());
}
BENCHMARK(BM_TraceAndGrad_LSTM)->Arg(10)->Arg(100)->Unit(benchmark::kMillisecond);

void BM_Interpret_LSTMStep(benchmark::State& state) {
  Function step = value_and_grad(lstm_loss(1));
  std::mt19937_64 rng(0);
  std::vector<Tensor> args;
  for (const Spec& s : step.input_specs()) args.push_back(Tensor::uniform(s.shape, -0.1, 0.1, rng));
  for (auto _ : state) benchmark::DoNotOptimize(interpret(step, args));
  // Forward GEMMs 2 B (I + H) 4H flops; backward twice that.
  const double flops = 3.0 * 2.0 * B * (I + H) * 4.0 * H;
  state.counters["GFLOP/s"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["chars/s"] = benchmark::Counter(B, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_Interpret_LSTMStep)->Unit(benchmark::kMillisecond);
}  // namespace

BENCHMARK_MAIN();
