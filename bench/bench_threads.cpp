// The steps a training step is made of, on 1 and 2 threads (issue 16): one GEMM of a recurrent
// step ([64 x 256] x [256 x 1024]), one elementwise kernel of the same size as an LSTM's gates, and
// a whole LSTM training step (T 100, batch 64, hidden 256). bench/under_load.sh runs the examples
// with and without another busy process on the machine.
#include <benchmark/benchmark.h>

#include "models.h"

using namespace rnnc;
using namespace rnnc::bench;

namespace {

void run(benchmark::State& state, const Function& f) {
  std::vector<Tensor> args = random_args(f);
  std::mt19937_64 rng(1);
  for (Tensor& a : args)  // indices: characters of a 65-character vocabulary
    if (a.dtype() == DType::i32)
      for (int64_t i = 0; i < a.numel(); ++i) a.set(i, static_cast<double>(rng() % 65));
  Compiled c = compile(f, {.threads = static_cast<int>(state.range(0))});
  c(args);
  for (auto _ : state) benchmark::DoNotOptimize(c(args));
}

void BM_Gemm(benchmark::State& state) {
  run(state, trace([](Var h, Var w) { return matmul(h, w); }, {Spec{{64, 256}}, Spec{{256, 1024}}}));
}
BENCHMARK(BM_Gemm)->ArgName("threads")->Arg(1)->Arg(2)->Unit(benchmark::kMicrosecond);

// The 3-layer LSTM 700's per-step GEMMs at batch 12: forward h W_hh^T, and backward dgates W_hh.
void BM_GemmBatch12(benchmark::State& state) {
  const bool back = state.range(1) != 0;
  const int64_t k = back ? 2800 : 700, n = back ? 700 : 2800;
  run(state, trace([](Var h, Var w) { return matmul(h, w); }, {Spec{{12, k}}, Spec{{k, n}}}));
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * 12 * 700 * 2800, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_GemmBatch12)
    ->ArgNames({"threads", "backward"})
    ->ArgsProduct({{1, 2}, {0, 1}})
    ->Unit(benchmark::kMicrosecond);

// The GRU 256's input rows gathered at a step ([64] of [65, 768]), and the adjoint over a whole
// sequence: 6400 rows of gate gradients added into [65, 768].
void BM_Gather(benchmark::State& state) {
  run(state, trace([](Var table, Var i) { return gather(table, i); }, {Spec{{65, 768}}, Spec{{64}, DType::i32}}));
}
BENCHMARK(BM_Gather)->ArgName("threads")->Arg(1)->Arg(2)->Unit(benchmark::kMicrosecond);

void BM_ScatterAdd(benchmark::State& state) {
  run(state, trace(
                 [](Var i, Var rows) {
                   return scatter_add(i, rows, {65, 768});
                 },
                 {Spec{{6400}, DType::i32}, Spec{{6400, 768}}}));
}
BENCHMARK(BM_ScatterAdd)->ArgName("threads")->Arg(1)->Arg(2)->Unit(benchmark::kMicrosecond);

// The bias gradient of the GRU 256: the sum of 6400 rows of gate gradients.
void BM_ColumnSum(benchmark::State& state) {
  run(state, trace([](Var g) { return sum(g, {0}); }, {Spec{{6400, 768}}}));
}
BENCHMARK(BM_ColumnSum)->ArgName("threads")->Arg(1)->Arg(2)->Unit(benchmark::kMicrosecond);

void BM_Gates(benchmark::State& state) {
  run(state,
      trace([](Var z, Var c) { return sigmoid(z) * c + tanh(z) * sigmoid(c); }, {Spec{{64, 1024}}, Spec{{64, 1024}}}));
}
BENCHMARK(BM_Gates)->ArgName("threads")->Arg(1)->Arg(2)->Unit(benchmark::kMicrosecond);

void BM_LSTMTrainingStep(benchmark::State& state) {
  run(state, value_and_grad(lstm_loss(100, 64, 256, 256)));
  state.counters["chars/s"] = benchmark::Counter(64.0 * 100, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_LSTMTrainingStep)->ArgName("threads")->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
