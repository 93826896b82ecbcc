// Latency of one streaming step at batch 1 (issue 30): a character LSTM (one-hot input, vocabulary
// 65, a linear head), stepped as an exported library steps it (a stream of the run time's model,
// export.h; the exported object holds the same kernels), each step timed alone. Prints one line:
// p50, p99, p99.9 and the mean in microseconds, and the same step called as a compiled tree
// function (what `rnnc sample` ran before streams). bench/stream_latency.sh has the table with
// PyTorch beside it.
//   bench_stream --layers 2 --hidden 256 --steps 100000 [--bf16 | --int8] [--threads 2]
//
// With --streams N (issue 30's server target), N streams each take one step
//   batched:  through one batched call (rnnc_batch_step: the step compiled for N rows, the states
//             gathered in and scattered back), what an exported library's NAME_step_many runs;
//   separate: as N batch-1 calls (rnnc_stream_step, one stream after another);
//   forward:  one step of the same model at batch N called as a compiled tree function, the state
//             a batch tensor (the GEMM bound: no streams to gather);
// and it prints the median microseconds of one step of all N streams for each, then batched /
// forward.
//   bench_stream --streams 64 --layers 2 --hidden 256 --steps 2000 [--bf16 | --int8] [--threads 2]
//
// With --control US it times no model but a loop of arithmetic of about US microseconds (no
// memory touched), with the same clock and percentiles: what this machine does to any step that
// long (a virtual CPU taken away now and then shows here as a p99 far above the p50).
//   bench_stream --control 10 --steps 100000
//
// With --onnx FILE it also writes the same model (its weights, one step of --streams streams,
// ids int32 [1, N]) as ONNX for onnxruntime (bench/onnx_step.mjs; bench/onnx_speed.sh has both).
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <random>

#include "rnnc/char_rnn.h"
#include "rnnc/onnx.h"

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

// N streams per step: batched, separate, and the batch-N forward step (see the top).
template <class Step, class Model>
void many_streams(const Step& step, const Model& m, int streams, int steps, int threads, int64_t vocab) {
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
  auto state = m.initial_state(streams);
  Tensor ids = Tensor::zeros({streams}, DType::i32);
  const double forward = median_us(steps, [&](int) {
    auto [logits, next] = forward_step(state, ids);
    state = std::move(next);
  });
  fmt::print("{:.2f} {:.2f} {:.2f} {:.2f}\n", batched, separate, forward, batched / forward);
  for (rnnc_stream* s : group) rnnc_stream_free(s);
  rnnc_batch_free(batch);
}

// --control: a dependent chain of multiply-adds timed like a step, its length calibrated to `us`.
Percentiles control(double us, int steps) {
  volatile double seed = 1.0;
  auto spin = [&](int64_t n) {
    double x = seed;
    for (int64_t i = 0; i < n; ++i) x = x * 1.0000001 + 1e-9;
    return x;
  };
  auto time_of = [&](int64_t n) {
    const auto t0 = clock_type::now();
    seed = spin(n);
    return std::chrono::duration<double, std::micro>(clock_type::now() - t0).count();
  };
  int64_t n = 1000;
  for (int k = 0; k < 5; ++k) n = std::max<int64_t>(1, static_cast<int64_t>(double(n) * us / time_of(n * 10) * 10));
  std::vector<double> t(static_cast<size_t>(steps));
  for (double& x : t) x = time_of(n);
  return percentiles(t);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"latency of one streaming step of a character LSTM"};
  int layers = 2, steps = 100000, threads = 0, streams = 1;
  int64_t hidden = 256, vocab = 65;
  bool bf16 = false, int8 = false;
  std::string onnx;
  double control_us = 0;
  app.add_option("--control", control_us, "time a loop of arithmetic this many microseconds long instead")
      ->check(CLI::PositiveNumber);
  app.add_option("--onnx", onnx, "also write the model as ONNX here, for onnxruntime");
  app.add_option("--layers", layers)->capture_default_str();
  app.add_option("--hidden", hidden)->capture_default_str();
  app.add_option("--vocab", vocab)->capture_default_str();
  app.add_option("--steps", steps)->capture_default_str();
  app.add_option("--streams", streams, "> 1: N streams per step, batched and not (see the top)")
      ->capture_default_str()
      ->check(CLI::Range(1, 4096));
  app.add_option("--threads", threads, "per stream (0: all cores)")->capture_default_str();
  app.add_flag("--bf16", bf16, "weights in bfloat16, summed in float32");
  app.add_flag("--int8", int8, "weights in int8 per output channel");
  CLI11_PARSE(app, argc, argv);
  if (control_us > 0) {
    const Percentiles c = control(control_us, steps);
    fmt::print("{:.2f} {:.2f} {:.2f} {:.2f} - -\n", c.p50, c.p99, c.p999, c.mean);
    return 0;
  }

  using Model = nn::CharRNN<nn::LSTMCell>;
  std::mt19937_64 rng(1);
  const Model m = Model::init(vocab, hidden, rng, {.layers = layers});
  CompileOptions o;
  o.bf16 = bf16;
  o.int8 = int8;
  o.threads = threads;
  auto step = compile([&m](const Model::State& s, const Var& c) { return Model::next(m, s, c); }, o);
  if (!onnx.empty()) {
    auto chunk = compile([](const Model& model, const Model::State& s, const Var& ids) { return model(ids, s); });
    export_onnx(chunk, m, m.initial_state(streams), Tensor::zeros({1, streams}, DType::i32), onnx);
  }
  if (streams > 1) {
    many_streams(step, m, streams, steps, threads, vocab);
    return 0;
  }
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
