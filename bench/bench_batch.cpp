// Many streams per step (issue 30's server target): N streams of a character LSTM (one-hot input,
// vocabulary 65, a linear head) each take one step
//   batched:  through one batched call (rnnc_batch_step: the step compiled for N rows, the states
//             gathered in and scattered back), what an exported library's NAME_step_many runs;
//   separate: as N batch-1 calls (rnnc_stream_step, one stream after another);
//   forward:  one step of the same model at batch N called as a compiled tree function, the state
//             a batch tensor (the GEMM bound: no streams to gather).
// Prints the median microseconds of one step of all N streams for each, then batched / forward.
//   bench_batch --layers 2 --hidden 256 --streams 64 --steps 2000 [--bf16 | --int8] [--threads 2]
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <random>

#include "rnnc/char_rnn.h"

using namespace rnnc;

namespace {

using clock_type = std::chrono::steady_clock;

// The median of `steps` timed calls of f(t), after `steps / 10` untimed ones.
template <class F> double median_us(int steps, F&& f) {
  for (int t = 0; t < std::max(steps / 10, 10); ++t) f(t);
  std::vector<double> us;
  for (int t = 0; t < steps; ++t) {
    const auto t0 = clock_type::now();
    f(t);
    us.push_back(std::chrono::duration<double, std::micro>(clock_type::now() - t0).count());
  }
  std::nth_element(us.begin(), us.begin() + static_cast<std::ptrdiff_t>(us.size() / 2), us.end());
  return us[us.size() / 2];
}

void check(int rc, const char* err) {
  if (rc != RNNC_OK) throw Error(err);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"N streams of a character LSTM per step: batched call, separate calls, one batch-N step"};
  int layers = 2, steps = 2000, threads = 0, streams = 64;
  int64_t hidden = 256, vocab = 65;
  bool bf16 = false, int8 = false;
  app.add_option("--layers", layers)->capture_default_str();
  app.add_option("--hidden", hidden)->capture_default_str();
  app.add_option("--streams", streams)->capture_default_str()->check(CLI::Range(1, 4096));
  app.add_option("--steps", steps, "timed steps of each kind")->capture_default_str();
  app.add_option("--threads", threads, "(0: all cores)")->capture_default_str();
  app.add_flag("--bf16", bf16, "weights in bfloat16, summed in float32");
  app.add_flag("--int8", int8, "weights in int8 per output channel")->excludes("--bf16");
  CLI11_PARSE(app, argc, argv);

  using Model = nn::CharRNN<nn::LSTMCell>;
  std::mt19937_64 rng(1);
  const Model m = Model::init(vocab, hidden, rng, {.layers = layers});
  CompileOptions o;
  o.bf16 = bf16;
  o.int8 = int8;
  o.threads = threads;
  auto step = compile([&m](const Model::State& s, const Var& c) { return Model::next(m, s, c); }, o);
  const auto model = stream_model(step, m.initial_state(1), Tensor::zeros({1}, DType::i32), threads, streams);

  char err[1024] = "";
  std::vector<rnnc_stream*> group;
  for (int k = 0; k < streams; ++k) group.push_back(rnnc_stream_new(model.get(), err, sizeof err));
  rnnc_batch* batch = rnnc_batch_new(model.get(), err, sizeof err);
  if (!batch || !group.back()) throw Error(err);
  std::vector<int32_t> x(static_cast<size_t>(streams));
  std::vector<float> y(static_cast<size_t>(streams * vocab));
  auto chars = [&](int t) {
    for (int k = 0; k < streams; ++k) x[static_cast<size_t>(k)] = static_cast<int32_t>((t * 7 + k) % vocab);
  };

  const double batched = median_us(steps, [&](int t) {
    chars(t);
    const void* in[] = {x.data()};
    void* out[] = {y.data()};
    check(rnnc_batch_step(batch, group.data(), streams, in, out, err, sizeof err), err);
  });
  const double separate = median_us(steps, [&](int t) {
    chars(t);
    for (int k = 0; k < streams; ++k) {
      const void* in[] = {&x[static_cast<size_t>(k)]};
      void* out[] = {&y[static_cast<size_t>(k * vocab)]};
      check(rnnc_stream_step(model.get(), group[static_cast<size_t>(k)], in, out, err, sizeof err), err);
    }
  });
  // A function keeps its first argument's shapes, so the batch-N step is traced anew.
  auto forward_step = step.fresh();
  Model::State state = m.initial_state(streams);
  Tensor ids = Tensor::zeros({streams}, DType::i32);
  const double forward = median_us(steps, [&](int) {
    auto [logits, next] = forward_step(state, ids);
    state = std::move(next);
  });
  fmt::print("{:.2f} {:.2f} {:.2f} {:.2f}\n", batched, separate, forward, batched / forward);
  for (rnnc_stream* s : group) rnnc_stream_free(s);
  rnnc_batch_free(batch);
  return 0;
}
