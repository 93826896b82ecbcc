// The seed configurations, trained by rnnc and by the peers in one run, as one table with ratios.
//
// Each configuration is a full training step exactly as ../shared/bench/torch_rnn_bench.py runs it
// in PyTorch: one-hot input over V = 65 characters, the recurrent layer(s), a dense layer, softmax
// cross-entropy (at the last step, or at every step), gradients clipped to [-5, 5], the optimizer
// update; min_char_rnn carries its hidden state from step to step. chars/s = batch x time steps
// per second. oneDNN's figures (../shared/bench/dnnl_rnn_bench.cpp) cover its RNN layer alone.
//
// The table's head names the CPU and the float32 GEMM speed measured in the same run (a
// [128 x 256] x [256 x 1024] GEMM, rnnc's GEMM step, i.e. oneDNN's sgemm, one thread), so figures
// from different machines can be read side by side. --bf16 runs rnnc in its bf16 mode (GEMM
// operands in bfloat16, summed in float32); the peers stay float32.
//
// Usage: bench_rnn [--threads N] [--only NAME] [--torch SCRIPT] [--dnnl BINARY] [--min-seconds S] [--unrolled] [--bf16]
// (bench/compare.sh finds the peers and runs everything.)
#include <rnnc/rnnc.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <fmt/format.h>
#include <map>
#include <regex>

using namespace rnnc;

namespace {

constexpr int V = 65;

struct Config {
  std::string name;
  std::string kind;  // rnn, lstm, gru, custom_lstm
  int H, layers, T, B;
  bool many_to_many;
  std::string optimizer;
  int steps;         // timed steps (as the PyTorch script)
  std::string dnnl;  // the oneDNN configuration that matches, if any
};

const std::vector<Config> kConfigs = {
    {"min_char_rnn", "rnn", 100, 1, 25, 1, true, "adagrad", 400, "4_rnn_I65_H100_T25_B1"},
    {"simple_rnn_128", "rnn", 128, 1, 10, 128, false, "rmsprop", 100, "5_rnn_I65_H128_T10_B128"},
    {"char_lstm_256", "lstm", 256, 1, 100, 128, false, "adam", 10, "1_lstm_I65_H256_T100_B128"},
    {"custom_lstm_256", "custom_lstm", 256, 1, 100, 128, false, "adam", 10, ""},
    {"gru_256_m2m", "gru", 256, 1, 100, 64, true, "adam", 10, "2_lbr_gru_I65_H256_T100_B64"},
    {"lstm3x700_m2m", "lstm", 700, 3, 100, 12, true, "adam", 5, "3_lstm3x_I65_H700_T100_B12"},
};

// A user-written LSTM cell, as torch_rnn_bench.py's CustomLSTMCell: two dense layers, a chunk, the
// gate formulas. Nothing in rnnc knows it.
// An LSTM written as a user's own cell: the library's math, as a struct of its own.
struct CustomLSTM {
  Param weight_ih, weight_hh, bias_ih, bias_hh;
  RNNC_TREE(weight_ih, weight_hh, bias_ih, bias_hh)
  static CustomLSTM init(int64_t I, int64_t H, std::mt19937_64& rng, DType t) {
    nn::Gates g = nn::Gates::init(4, I, H, rng, t);
    return {g.weight_ih, g.weight_hh, g.bias_ih, g.bias_hh};
  }
  nn::LSTMState initial_state(int64_t B) const {
    const int64_t H = weight_hh.shape()[1];
    return {Tensor::zeros({B, H}), Tensor::zeros({B, H})};
  }
  nn::LSTMState operator()(const Var& x, const nn::LSTMState& s) const {
    auto g = chunk(matmul(x, transpose(weight_ih)) + bias_ih + matmul(s.h, transpose(weight_hh)) + bias_hh, 4, 1);
    Var c = sigmoid(g[1]) * s.c + sigmoid(g[0]) * tanh(g[2]);
    return {sigmoid(g[3]) * tanh(c), c};
  }
};

template <class Cell> struct Model {
  nn::RNN<Cell> rnn;
  nn::Linear out;
  RNNC_TREE(rnn, out)
};
struct Batch {
  Leaf x, y;  // [T, B] and [T, B] (many-to-many) or [B]
  RNNC_TREE(x, y)
};

struct Result {
  double chars_per_s = 0, ms_per_step = 0, compile_s = 0, arena_mb = 0, keep_mb = 0;
};

// What BPTT must keep in the forward pass, per step and layer: h (RNN); h, r, z, n, W_hn h (GRU);
// h, c and the four gates (LSTM).
double bptt_floor_mb(const Config& c) {
  const double per = c.kind == "rnn" ? 1 : c.kind == "gru" ? 5 : 6;
  return per * c.T * c.B * c.H * c.layers * 4 / 1e6;
}

// The logits of a configuration's model for x [T, B, V] from `init`, and the final states. As one
// scan per layer (nn::RNN), or unrolled: a C++ loop that traces T cells per layer.
template <class Cell, class State>
std::pair<Var, std::vector<State>> logits_of(const Config& c, const Model<Cell>& m, const Var& x,
                                             const std::vector<State>& init, bool unrolled) {
  if (!unrolled) {
    auto [hs, finals] = m.rnn(x, init);
    return {m.out(c.many_to_many ? reshape(hs, {c.T * c.B, c.H}) : Var(finals.back().h)), finals};
  }
  std::vector<Var> seq;
  for (int t = 0; t < c.T; ++t) seq.push_back(reshape(slice(x, 0, t, t + 1), {c.B, V}));
  std::vector<State> finals;
  for (std::size_t l = 0; l < m.rnn.layers.size(); ++l) {
    State s = init[l];
    for (Var& h : seq) {
      s = m.rnn.layers[l](h, s);
      h = s.h;
    }
    finals.push_back(s);
  }
  return {m.out(c.many_to_many ? concat(seq, 0) : seq.back()), finals};
}

template <class Cell> Result run_cell(const Config& c, int threads, double min_seconds, bool unrolled, bool bf16) {
  using State = typename nn::RNN<Cell>::State;
  const bool carry = c.name == "min_char_rnn";
  std::mt19937_64 rng(0);
  Model<Cell> model{nn::RNN<Cell>::init(V, c.H, rng, {.layers = c.layers}), nn::Linear::init(c.H, V, rng)};
  auto loss = [&](const Model<Cell>& m, const std::vector<State>& s, const Batch& b) {
    // Without a carried state every step starts from zeros, constants of the graph.
    auto [logits, finals] = logits_of(c, m, one_hot(b.x, V), carry ? s : m.rnn.initial_state(c.B), unrolled);
    return std::pair{mean(softmax_cross_entropy(logits, reshape(b.y, {-1}))), finals};
  };
  CompileOptions copt;
  copt.threads = threads;
  copt.bf16 = bf16;
  auto step = compile(value_and_grad(loss), copt);
  Tensor x(DType::i32, {c.T, c.B}), y(DType::i32, c.many_to_many ? Shape{c.T, c.B} : Shape{c.B});
  for (int64_t i = 0; i < x.numel(); ++i) x.set(i, static_cast<double>(rng() % V));
  for (int64_t i = 0; i < y.numel(); ++i) y.set(i, static_cast<double>(rng() % V));
  const Batch batch{x, y};
  optim::Optimizer opt = c.optimizer == "adagrad"   ? optim::Optimizer(optim::Adagrad{.lr = 0.1})
                         : c.optimizer == "rmsprop" ? optim::Optimizer(optim::RMSprop{.lr = 1e-3})
                                                    : optim::Optimizer(optim::Adam{.lr = 2e-3});
  std::vector<State> state = model.rnn.initial_state(c.B);
  auto one = [&] {
    auto [l, next, grads] = step(model, state, batch);
    if (carry) state = next;  // truncated BPTT: the state carries on (else every step starts from zeros)
    optim::clip_by_value(grads, -5, 5);
    opt.step(model, grads);
  };
  Result r;
  const auto t0 = std::chrono::steady_clock::now();
  one();  // traces and compiles
  r.compile_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.arena_mb = static_cast<double>(step.compiled().stats().arena_bytes) / 1e6;
  r.keep_mb = bptt_floor_mb(c);
  for (int i = 0; i < 2; ++i) one();  // warm-up (the optimizer compiles its update here)
  long n = 0;
  const auto t1 = std::chrono::steady_clock::now();
  double secs = 0;
  while (n < c.steps || secs < min_seconds) {
    one();
    ++n;
    secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
  }
  r.chars_per_s = double(n) * c.B * c.T / secs;
  r.ms_per_step = 1e3 * secs / double(n);
  return r;
}

Result run(const Config& c, int threads, double min_seconds, bool unrolled, bool bf16) {
  if (c.kind == "rnn") return run_cell<nn::RNNCell>(c, threads, min_seconds, unrolled, bf16);
  if (c.kind == "gru") return run_cell<nn::GRUCell>(c, threads, min_seconds, unrolled, bf16);
  if (c.kind == "custom_lstm") return run_cell<CustomLSTM>(c, threads, min_seconds, unrolled, bf16);
  return run_cell<nn::LSTMCell>(c, threads, min_seconds, unrolled, bf16);
}

// GFLOP/s of a float32 [128 x 256] x [256 x 1024] GEMM on one thread (optionally in bf16).
double gemm_gflops(bool bf16) {
  std::mt19937_64 rng(1);
  const Tensor a = Tensor::uniform({128, 256}, -1, 1, rng, DType::f32),
               b = Tensor::uniform({256, 1024}, -1, 1, rng, DType::f32);
  CompileOptions o;
  o.threads = 1;
  o.bf16 = bf16;
  Compiled f = compile(trace([](const Var& x, const Var& y) { return matmul(x, y); }, {spec_of(a), spec_of(b)}), o);
  f({a, b});
  int n = 0;
  const auto t0 = std::chrono::steady_clock::now();
  double secs = 0;
  while (secs < 0.5) {
    f({a, b});
    ++n;
    secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  return 2.0 * 128 * 256 * 1024 * n / secs / 1e9;
}

std::string capture(const std::string& cmd) {
  std::string out;
  if (FILE* p = popen(cmd.c_str(), "r")) {
    char buf[4096];
    while (size_t k = fread(buf, 1, sizeof buf, p)) out.append(buf, k);
    pclose(p);
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"bench_rnn: the seed configurations, rnnc vs PyTorch vs oneDNN, one table"};
  int threads = 2;
  double min_seconds = 1.0;
  std::string only, torch_script, dnnl_bin;
  app.add_option("--threads", threads, "threads for everyone")->capture_default_str();
  app.add_option("--only", only, "only configurations whose name contains this");
  app.add_option("--torch", torch_script, "torch_rnn_bench.py (run with /usr/bin/python3)");
  app.add_option("--dnnl", dnnl_bin, "the built dnnl_rnn_bench");
  app.add_option("--min-seconds", min_seconds, "least time per measurement")->capture_default_str();
  bool unrolled = false;
  app.add_flag("--unrolled", unrolled, "trace the recurrence as a C++ loop (T cells) instead of one scan per layer");
  bool bf16 = false;
  app.add_flag("--bf16", bf16, "rnnc's GEMMs in bf16 (CompileOptions::bf16); the peers stay float32");
  CLI11_PARSE(app, argc, argv);

  std::map<std::string, double> torch, dnnl;
  if (!torch_script.empty()) {
    std::string names;
    for (const Config& c : kConfigs)
      if (only.empty() || c.name.find(only) != std::string::npos) names += " " + c.name;
    const std::string out =
        capture(fmt::format("RNN_THREADS={} /usr/bin/python3 {}{} 2>&1", threads, torch_script, names));
    std::regex line("\"config\": \"([a-z0-9_]+)\", \"chars_per_s\": ([0-9.e+]+)");
    for (auto it = std::sregex_iterator(out.begin(), out.end(), line); it != std::sregex_iterator(); ++it)
      torch[(*it)[1]] = std::stod((*it)[2]);
    if (torch.empty()) fmt::print("PyTorch peer produced no figures:\n{}\n", out);
  } else {
    fmt::print("PyTorch peer skipped (bench/compare.sh runs it when python3-torch is installed)\n");
  }
  if (!dnnl_bin.empty()) {
    const std::string out = capture(fmt::format("OMP_NUM_THREADS={} {} rnn {} 2>&1", threads, dnnl_bin, min_seconds));
    std::regex line("RESULT ([A-Za-z0-9_]+) .*chars/s= *([0-9.]+)");
    for (auto it = std::sregex_iterator(out.begin(), out.end(), line); it != std::sregex_iterator(); ++it)
      dnnl[(*it)[1]] = std::stod((*it)[2]);
    if (dnnl.empty()) fmt::print("oneDNN peer produced no figures:\n{}\n", out);
  } else {
    fmt::print("oneDNN peer skipped (bench/compare.sh builds it when libdnnl-dev is installed)\n");
  }

  fmt::print("\n{}; {} threads; float32 GEMM [128x256]x[256x1024], 1 thread: {:.0f} GFLOP/s", rnnc::host_info().cpu, threads,
             gemm_gflops(false));
  if (bf16)
    fmt::print(", bf16: {:.0f} GFLOP/s\n(rnnc in bf16 mode{})", gemm_gflops(true),
               bf16_supported() ? "" : ": this CPU has no avx512_bf16, so rnnc ran float32");
  fmt::print("\n");
  fmt::print("\n{:16} | {:>12} | {:>9} | {:>12} | {:>10} | {:>15} | {:>10} | {:>8} | {:>17}\n",
             "config (threads " + std::to_string(threads) + ")", "rnnc chars/s", "ms/step", "PyTorch", "rnnc/torch",
             "oneDNN layer", "rnnc/dnnl", "compile", "arena/BPTT (MB)");
  fmt::print("{:-<17}+{:-<14}+{:-<11}+{:-<14}+{:-<12}+{:-<17}+{:-<12}+{:-<10}+{:-<18}\n", "", "", "", "", "", "", "",
             "", "");
  std::map<std::string, double> ours;
  for (const Config& c : kConfigs) {
    if (!only.empty() && c.name.find(only) == std::string::npos) continue;
    const Result r = run(c, threads, min_seconds, unrolled, bf16);
    ours[c.name] = r.chars_per_s;
    const double t = torch.count(c.name) ? torch[c.name] : 0, d = dnnl.count(c.dnnl) ? dnnl[c.dnnl] : 0;
    fmt::print("{:16} | {:>12.0f} | {:>9.2f} | {:>12} | {:>10} | {:>15} | {:>10} | {:>7.2f}s | {:>17}\n", c.name,
               r.chars_per_s, r.ms_per_step, t ? fmt::format("{:.0f}", t) : "-",
               t ? fmt::format("{:.1f}x", r.chars_per_s / t) : "-", d ? fmt::format("{:.0f}", d) : "-",
               d ? fmt::format("{:.2f}x", r.chars_per_s / d) : "-", r.compile_s,
               fmt::format("{:.1f}/{:.1f} = {:.2f}x", r.arena_mb, r.keep_mb, r.arena_mb / r.keep_mb));
    std::fflush(stdout);
  }
  if (ours.count("custom_lstm_256") && ours.count("char_lstm_256"))
    fmt::print("\nuser-written LSTM cell / library LSTM: {:.2f}\n", ours["custom_lstm_256"] / ours["char_lstm_256"]);
  return 0;
}
