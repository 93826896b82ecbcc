// The seed configurations, trained by rnnc and by the peers in one run, as one table with ratios.
//
// Each configuration is a full training step exactly as ../shared/bench/torch_rnn_bench.py runs it
// in PyTorch: one-hot input over V = 65 characters, the recurrent layer(s), a dense layer, softmax
// cross-entropy (at the last step, or at every step), gradients clipped to [-5, 5], the optimizer
// update; min_char_rnn carries its hidden state from step to step. chars/s = batch x time steps
// per second. oneDNN's figures (../shared/bench/dnnl_rnn_bench.cpp) cover its RNN layer alone.
//
// Usage: bench_rnn [--threads N] [--only NAME] [--torch SCRIPT] [--dnnl BINARY] [--min-seconds S] [--unrolled]
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
  int steps;             // timed steps (as the PyTorch script)
  std::string dnnl;      // the oneDNN configuration that matches, if any
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
nn::State custom_lstm(const Var& x, const nn::State& s, std::span<const Var> w) {
  auto g = chunk(matmul(x, transpose(w[0])) + w[2] + matmul(s.h, transpose(w[1])) + w[3], 4, 1);
  Var c = sigmoid(g[1]) * s.c + sigmoid(g[0]) * tanh(g[2]);
  return {sigmoid(g[3]) * tanh(c), c};
}

struct Result {
  double chars_per_s = 0, ms_per_step = 0, compile_s = 0, arena_mb = 0, keep_mb = 0;
};

// What backpropagation through time must keep, at least: per step and layer, the values the
// backward pass reads (RNN: h; GRU: h, r, z, n and h U_n; LSTM: h, c and the four gates), float32.
double bptt_floor_mb(const Config& c) {
  const double per = c.kind == "rnn" ? 1 : c.kind == "gru" ? 5 : 6;
  return per * c.T * c.B * c.H * c.layers * 4 / 1e6;
}

Result run(const Config& c, int threads, double min_seconds, bool unrolled) {
  const nn::Cell cell = c.kind == "rnn" ? nn::Cell::RNNTanh : c.kind == "gru" ? nn::Cell::GRU : nn::Cell::LSTM;
  const bool lstm = cell == nn::Cell::LSTM, carry = c.name == "min_char_rnn";
  std::vector<Spec> specs;
  for (int l = 0; l < c.layers; ++l)
    for (const Spec& s : nn::weight_specs(cell, l ? c.H : V, c.H, l)) specs.push_back(s);
  specs.push_back(Spec{{V, c.H}, DType::f32, "out.weight"});
  specs.push_back(Spec{{V}, DType::f32, "out.bias"});
  const size_t np = specs.size(), ns = carry ? static_cast<size_t>(c.layers * (lstm ? 2 : 1)) : 0;
  for (size_t i = 0; i < ns; ++i) specs.push_back(Spec{{c.B, c.H}, DType::f32, "state"});
  specs.push_back(Spec{{c.T, c.B}, DType::i32, "x"});
  specs.push_back(c.many_to_many ? Spec{{c.T, c.B}, DType::i32, "y"} : Spec{{c.B}, DType::i32, "y"});
  Function loss = trace(
      [&](std::span<const Var> a) {
        Var x = one_hot(a[np + ns], V);  // [T, B, V]
        std::vector<Var> finals;
        auto initial = [&](int l) -> nn::State {
          if (carry) return {a[np + (lstm ? 2 * l : l)], lstm ? a[np + 2 * l + 1] : Var()};
          return {full({c.B, c.H}, 0.0), lstm ? full({c.B, c.H}, 0.0) : Var()};
        };
        Var logits;
        if (unrolled) {  // a C++ loop over the steps: the graph holds T cells
          std::vector<Var> seq;
          for (int t = 0; t < c.T; ++t) seq.push_back(reshape(slice(x, 0, t, t + 1), {c.B, V}));
          for (int l = 0; l < c.layers; ++l) {
            nn::State s = initial(l);
            std::span<const Var> w = a.subspan(4 * l, 4);
            for (Var& h : seq) {
              s = c.kind == "custom_lstm" ? custom_lstm(h, s, w) : nn::step(cell, h, s, nn::weights(w));
              h = s.h;
            }
            finals.push_back(s.h);
            if (lstm) finals.push_back(s.c);
          }
          logits = c.many_to_many ? nn::many_to_many(seq, a[np - 2], a[np - 1]) : nn::many_to_one(seq, a[np - 2], a[np - 1]);
        } else {  // one scan per layer: the graph holds the cell once
          Var seq = x;
          for (int l = 0; l < c.layers; ++l) {
            std::span<const Var> w = a.subspan(4 * l, 4);
            auto [hs, last] = c.kind == "custom_lstm"
                                  ? nn::recur([&](const Var& xt, const nn::State& s) { return custom_lstm(xt, s, w); }, seq, initial(l))
                                  : nn::layer(cell, seq, initial(l), nn::weights(w));
            seq = hs;
            finals.push_back(last.h);
            if (lstm) finals.push_back(last.c);
          }
          Var top = c.many_to_many ? reshape(seq, {c.T * c.B, c.H}) : finals[finals.size() - (lstm ? 2 : 1)];
          logits = nn::linear(top, a[np - 2], a[np - 1]);
        }
        Var y = c.many_to_many ? reshape(a[np + ns + 1], {c.T * c.B}) : a[np + ns + 1];
        std::vector<Var> out = {mean(softmax_cross_entropy(logits, y))};
        if (carry) out.insert(out.end(), finals.begin(), finals.end());
        return out;
      },
      specs);
  std::vector<int> wrt;
  for (size_t i = 0; i < np; ++i) wrt.push_back(static_cast<int>(i));
  const auto t0 = std::chrono::steady_clock::now();
  CompileOptions copt;
  copt.threads = threads;
  Compiled step = compile(value_and_grad(loss, wrt, /*has_aux=*/carry), copt);
  Result r;
  r.compile_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.arena_mb = static_cast<double>(step.stats().arena_bytes) / 1e6;
  r.keep_mb = bptt_floor_mb(c);

  std::mt19937_64 rng(0);
  std::vector<Tensor> params;
  const double k = 1 / std::sqrt(double(c.H));
  for (const Spec& s : std::vector<Spec>(specs.begin(), specs.begin() + np))
    params.push_back(Tensor::uniform(s.shape, -k, k, rng));
  std::vector<Tensor> state(ns, Tensor::zeros({c.B, c.H}));
  Tensor x(DType::i32, {c.T, c.B}), y(DType::i32, c.many_to_many ? Shape{c.T, c.B} : Shape{c.B});
  for (int64_t i = 0; i < x.numel(); ++i) x.set(i, static_cast<double>(rng() % V));
  for (int64_t i = 0; i < y.numel(); ++i) y.set(i, static_cast<double>(rng() % V));
  optim::Optimizer opt = c.optimizer == "adagrad"  ? optim::Optimizer(optim::Adagrad{.lr = 0.1})
                         : c.optimizer == "rmsprop" ? optim::Optimizer(optim::RMSprop{.lr = 1e-3})
                                                    : optim::Optimizer(optim::Adam{.lr = 2e-3});
  auto one = [&] {
    std::vector<Tensor> args = params;
    args.insert(args.end(), state.begin(), state.end());
    args.push_back(x);
    args.push_back(y);
    std::vector<Tensor> out = step(args);
    for (size_t i = 0; i < ns; ++i) state[i] = out[1 + i];  // truncated BPTT: the state carries on
    std::vector<Tensor> grads(out.begin() + 1 + ns, out.end());
    optim::clip_by_value(grads, -5, 5);
    opt.step(params, grads);
  };
  for (int i = 0; i < 3; ++i) one();  // warm-up (the optimizer compiles its update here)
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

  fmt::print("\n{:16} | {:>12} | {:>9} | {:>12} | {:>10} | {:>15} | {:>10} | {:>8} | {:>17}\n", "config (threads " +
             std::to_string(threads) + ")", "rnnc chars/s", "ms/step", "PyTorch", "rnnc/torch", "oneDNN layer",
             "rnnc/dnnl", "compile", "arena/BPTT (MB)");
  fmt::print("{:-<17}+{:-<14}+{:-<11}+{:-<14}+{:-<12}+{:-<17}+{:-<12}+{:-<10}+{:-<18}\n", "", "", "", "", "", "", "", "", "");
  std::map<std::string, double> ours;
  for (const Config& c : kConfigs) {
    if (!only.empty() && c.name.find(only) == std::string::npos) continue;
    const Result r = run(c, threads, min_seconds, unrolled);
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
