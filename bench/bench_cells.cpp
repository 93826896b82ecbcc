// Training speed of the modern cells (examples/modern_cells.h) as 2-layer character models: one-hot
// input (vocabulary 65), hidden H, B streams of T characters, one forward and backward pass of the
// mean cross-entropy (value_and_grad) per step. Prints one line per cell: "name chars/s", chars/s
// being T B over the median step time. bench/cells.sh puts PyTorch's figures beside them.
//   bench_cells --hidden 256 --batch 8 --seq-length 1000 --steps 5 [--threads 2] [--only minGRU]
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <random>

#include "../examples/modern_cells.h"

using namespace rnnc;

namespace {

struct Options {
  int64_t hidden = 256, batch = 8, length = 1000, vocab = 65;
  int steps = 5, threads = 0;
  std::string only;
};

template <class Cell> void measure(const char* name, const Options& o) {
  if (!o.only.empty() && o.only != name) return;
  std::mt19937_64 rng(1);
  using Model = nn::CharRNN<Cell>;
  const Model m = Model::init(o.vocab, o.hidden, rng, {.layers = 2});
  std::vector<double> ids(static_cast<size_t>(o.length * o.batch)), next(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<double>(rng() % static_cast<uint64_t>(o.vocab));
  for (size_t i = 0; i < ids.size(); ++i) next[i] = ids[(i + static_cast<size_t>(o.batch)) % ids.size()];
  const data::TextBatch b{Tensor::from(ids, {o.length, o.batch}, DType::i32),
                          Tensor::from(next, {o.length, o.batch}, DType::i32)};
  CompileOptions co;
  co.threads = o.threads;
  auto step = compile(value_and_grad(Model::loss), co);
  Rng rng_off = Rng::evaluation();
  const auto s0 = m.initial_state(o.batch);
  step(m, s0, b, rng_off);  // compiled, and its memory touched
  std::vector<double> seconds;
  for (int i = 0; i < o.steps; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    auto [loss, last, grads] = step(m, s0, b, rng_off);
    seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(seconds.begin(), seconds.end());
  fmt::print("{} {:.0f}\n", name, static_cast<double>(o.length * o.batch) / seconds[seconds.size() / 2]);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"training speed of the modern cells, 2-layer character models"};
  Options o;
  app.add_option("--hidden", o.hidden)->capture_default_str();
  app.add_option("--batch", o.batch)->capture_default_str();
  app.add_option("--seq-length", o.length, "T")->capture_default_str();
  app.add_option("--steps", o.steps, "timed steps (the median is reported)")->capture_default_str();
  app.add_option("--threads", o.threads, "(0: all cores)")->capture_default_str();
  app.add_option("--only", o.only, "one cell by name");
  CLI11_PARSE(app, argc, argv);
  measure<cells::MinGRU>("minGRU", o);
  measure<cells::MinLSTM>("minLSTM", o);
  measure<cells::IndRNN>("IndRNN", o);
  measure<cells::QRNN>("QRNN", o);
  measure<cells::LRU>("LRU", o);
  measure<cells::S6>("S6", o);
  measure<cells::LayerNormLSTM>("LN-LSTM", o);
  measure<nn::LSTMCell>("LSTM", o);
  return 0;
}
