// Long sequences in bounded memory (issue 14): a character LSTM's training step (one-hot input,
// V 65, dense softmax at every step, value and gradients) at sequence length T, compiled with
//   all     every step's values stored (no recomputation)
//   sqrt    checkpoints every round(sqrt T) steps
//   budget  CompileOptions::memory_budget = share x store-all's planned arena
//   revolve binomial checkpointing (Revolve) in --slots slots
// Prints one JSON line: the schedule compiled, its planned arena, the process's peak resident
// memory (getrusage; run one configuration per process), and ms per step. --plan-only compiles
// and reports the arena without running (for plans larger than the machine).
// Usage: bench_memory [--layers L] [--hidden H] [--batch B] [--seq-length T] [--schedule all|sqrt|budget|revolve] [--slots S]
//                     [--share S | --budget-mb MB] [--steps N] [--threads N] [--plan-only]
#include <rnnc/rnnc.h>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <sys/resource.h>

#include <chrono>
#include <cmath>

using namespace rnnc;

int main(int argc, char** argv) {
  CLI::App app{"recomputation: arena, peak memory and step time of a char-LSTM training step"};
  int64_t H = 256, B = 128, T = 1000;
  std::string schedule = "all";
  double share = 0.1, budget_mb = 0;
  int iters = 3, threads = 0, slots = 10, layers = 1;
  bool plan_only = false;
  app.add_option("--hidden", H);
  app.add_option("--layers", layers);
  app.add_option("--batch", B);
  app.add_option("--seq-length", T, "time steps T");
  app.add_option("--schedule", schedule)->check(CLI::IsMember({"all", "sqrt", "budget", "revolve"}));
  app.add_option("--slots", slots, "Revolve's slots (--schedule revolve)");
  app.add_option("--share", share, "budget as a share of store-all's arena");
  app.add_option("--budget-mb", budget_mb, "budget in MB (instead of --share)");
  app.add_option("--steps", iters, "training steps timed");
  app.add_option("--threads", threads);
  app.add_flag("--plan-only", plan_only);
  CLI11_PARSE(app, argc, argv);

  constexpr int64_t V = 65;
  using Model = nn::CharRNN<nn::LSTMCell>;
  std::mt19937_64 rng(0);
  const Model model = Model::init(V, H, rng, {.layers = static_cast<int>(layers)});
  Tensor x(DType::i32, {T, B}), y(DType::i32, {T, B});
  for (int64_t i = 0; i < x.numel(); ++i) {
    x.set(i, static_cast<double>(rng() % V));
    y.set(i, static_cast<double>(rng() % V));
  }
  const auto state = model.initial_state(B);
  const data::TextBatch batch{x, y};

  // The step as a plain function: loss and final state, gradients of the model's leaves.
  Rng off = Rng::evaluation();
  auto [f, leaves] = compile(Model::loss).function(model, state, batch, off);
  std::vector<int> wrt(tree::size(model));
  for (size_t i = 0; i < wrt.size(); ++i) wrt[i] = static_cast<int>(i);
  const Function step = value_and_grad(f, wrt, /*has_aux=*/true);

  CompileOptions o;
  o.threads = threads;
  auto plan = [&](CompileOptions opts) { return compile(step, opts); };
  int64_t stored = -1;
  if (schedule == "sqrt") {
    o.checkpointing = Checkpointing{{std::max<int64_t>(1, std::llround(std::sqrt(static_cast<double>(T))))}};
  } else if (schedule == "revolve") {
    o.checkpointing = Checkpointing{{}, slots};
  } else if (schedule == "budget") {
    stored = plan(o).stats().arena_bytes;
    o.memory_budget = budget_mb > 0 ? static_cast<int64_t>(budget_mb * 1e6)
                                    : static_cast<int64_t>(share * static_cast<double>(stored));
  }
  const auto t0 = std::chrono::steady_clock::now();
  Compiled c = plan(o);
  const double compile_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const CompileStats& st = c.stats();
  double ms = 0;
  if (!plan_only) {
    c(leaves);  // warm: arena, pages, caches
    const auto t1 = std::chrono::steady_clock::now();
    for (int i = 0; i < iters; ++i) c(leaves);
    ms = 1e3 * std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count() / iters;
  }
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  fmt::print(
      "{{\"layers\": {}, \"H\": {}, \"B\": {}, \"T\": {}, \"schedule\": \"{}\", \"share\": {}, \"compiled\": \"{}\", "
      "\"plans\": {}, \"compile_s\": {:.2f}, \"arena_mb\": {:.1f}, \"store_all_arena_mb\": {:.1f}, "
      "\"peak_rss_mb\": {:.1f}, \"ms_per_step\": {:.1f}}}\n",
      layers, H, B, T, schedule,
      schedule != "budget" ? 0.0
      : budget_mb > 0      ? budget_mb * 1e6 / static_cast<double>(stored)
                           : share,
      st.checkpointing.str(), st.plans_tried, compile_s, static_cast<double>(st.arena_bytes) / 1e6,
      static_cast<double>(stored) / 1e6, plan_only ? 0.0 : static_cast<double>(ru.ru_maxrss) / 1e3, ms);
}
