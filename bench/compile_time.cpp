// Compile time of the training step (forward + backward) of a 1-layer LSTM, hidden 256, batch 128,
// as one scan over T steps (or unrolled: `compile_time T unrolled`), in this process: tracing + autodiff, passes, lowering, LLVM.
// Run it twice to see the on-disk cache at work (bench/compile_time.sh does, for T=100 and 1000).
#include <fmt/format.h>

#include <chrono>
#include <cstdlib>

#include "models.h"

using namespace rnnc;

int main(int argc, char** argv) {
  const int T = argc > 1 ? std::atoi(argv[1]) : 100;
  const bool unrolled = argc > 2 && std::string_view(argv[2]) == "unrolled";
  const auto t0 = std::chrono::steady_clock::now();
  Function step = value_and_grad(bench::lstm_loss(T, 128, 256, 256, unrolled));
  const double trace_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  Compiled c = compile(step);
  const double total_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  fmt::print("T={}{}: trace+autodiff {:.3f} s, total {:.3f} s\n  {}\n", T, unrolled ? " (unrolled)" : " (scan)",
             trace_s, total_s, c.stats().str());
}
