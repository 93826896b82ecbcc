// Your own recurrent cell, as a struct of named parameters and ten lines of math: the minimal
// gated unit (Zhou et al., 2016). rnnc derives its gradient (checked here against finite
// differences) and fuses its elementwise work into LLVM kernels, exactly as for the library's
// LSTM, which is trained beside it the same way.
//
// Usage: custom_cell [--data FILE|DIR] [--iters N] [--seed N] [--threads N]
#include <rnnc/rnnc.h>
#include <rnnc/cli.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cmath>
#include <fmt/format.h>

using namespace rnnc;

// ---- the cell: one forget gate f decides how much of h to replace by a candidate.
//   f  = sigmoid(W_f [x, h] + b_f)
//   h~ = tanh(W_h x + U_h (f * h) + b_h)
//   h' = (1 - f) h + f h~
struct MGU {
  Param Wf, bf, Wh, Uh, bh;  // PyTorch's layout: W [out, in]
  RNNC_TREE(Wf, bf, Wh, Uh, bh)

  static MGU init(int64_t in, int64_t H, std::mt19937_64& rng, DType t = DType::f32) {
    auto u = [&](Shape s) { return Tensor::uniform(s, -1 / std::sqrt(H), 1 / std::sqrt(H), rng, t); };
    return {u({H, in + H}), u({H}), u({H, in}), u({H, H}), u({H})};
  }
  nn::Hidden initial_state(int64_t batch) const { return {Tensor::zeros({batch, Uh.shape()[0]}, Uh.dtype())}; }
  nn::Hidden operator()(const Var& x, const nn::Hidden& s) const {
    Var f = sigmoid(nn::linear(concat({x, s.h}, 1), Wf, bf));
    Var candidate = tanh(nn::linear(x, Wh, bh) + matmul(f * s.h, transpose(Uh)));
    return {(1.0 - f) * s.h + f * candidate};
  }
};

// Trains a character model around any cell on char-rnn's streams; returns (loss, chars/s, compile s).
template <class Cell>
std::tuple<double, double, double> train_cell(const data::Streams& streams, int V, int iters, uint64_t seed,
                                         const CompileOptions& copt) {
  std::mt19937_64 rng(seed);
  auto model = nn::CharRNN<Cell>::init(V, 128, rng);
  auto step = compile(value_and_grad(nn::CharRNN<Cell>::loss), copt);
  optim::Optimizer opt(optim::Adam{.lr = 3e-3}, copt);
  auto state = model.initial_state(streams.batch());
  Rng dropout(seed);  // the loss's Rng (this model has no dropout: it draws nothing)
  double loss = 0, compile_s = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (int it = 0; it < iters; ++it) {
    if (it % streams.chunks() == 0) state = model.initial_state(streams.batch());  // a new pass
    auto [l, next, grads] = step(model, state, streams.chunk(it % streams.chunks()), dropout);
    state = next;
    opt.step(model, grads);
    loss = l.item();
    if (it == 0) compile_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() - compile_s;
  fmt::print("{:5} {} kernels/step: loss {:.3f} nats/char after {} steps, {:.0f} chars/s\n",
             std::is_same_v<Cell, MGU> ? "mgu" : "lstm", step.compiled().stats().kernels, loss, iters,
             double(iters - 1) * streams.length() * streams.batch() / std::max(secs, 1e-9));
  return {loss, double(iters - 1) * streams.length() * streams.batch() / std::max(secs, 1e-9), compile_s};
}

int main(int argc, char** argv) {
  CLI::App app{"custom_cell: a minimal gated unit in ten lines, checked, trained and timed beside the LSTM"};
  std::string data_path = RNNC_DEFAULT_CORPUS;
  int iters = 300, threads = 0, epochs = 0;
  uint64_t seed = 1;
  app.add_option("--data", data_path, "text file, or a folder of .md files")->capture_default_str();
  app.add_option("--iters", iters, "training steps per model")->capture_default_str()->check(cli::at_least(1));
  app.add_option("--epochs", epochs, "ignored (the run is bounded by --iters)");
  app.add_option("--seed", seed, "random seed")->capture_default_str();
  app.add_option("--threads", threads, "threads (0: all cores)")->capture_default_str()->check(cli::at_least(0));
  CLI11_PARSE(app, argc, argv);

  try {
    // 1. Its gradient against finite differences, in float64, on a small model.
    {
      std::mt19937_64 rng(seed);
      auto model = nn::CharRNN<MGU>::init(5, 4, rng, {}, DType::f64);
      data::TextBatch batch{Tensor::from({0, 3, 1, 4, 2, 2}, {3, 2}, DType::i32),
                            Tensor::from({3, 1, 4, 2, 2, 0}, {3, 2}, DType::i32)};
      Rng off = Rng::evaluation();
      auto [f, args] = compile(nn::CharRNN<MGU>::loss).function(model, model.initial_state(2), batch, off);
      GradcheckReport r = gradcheck(f, args);
      fmt::print("{}", r.str());
      if (!r.ok) return 1;
    }

    // 2. Train it, and the library's LSTM, on the same text, the same way.
    const std::u32string text = data::decode_utf8(data::read_text(data_path), data_path);
    const data::Vocab vocab = data::Vocab::of(text);
    const data::Streams streams(vocab.encode(text), 32, 32);
    CompileOptions copt;
    copt.threads = threads;
    auto [loss, speed, compile_s] = train_cell<MGU>(streams, vocab.size(), iters, seed, copt);
    train_cell<nn::LSTMCell>(streams, vocab.size(), iters, seed, copt);
    fmt::print("{}\n", report::summary_line({{"train_loss", loss},
                                             {"val_loss", std::nullopt, "no validation text"},
                                             {"chars_per_s", speed},
                                             {"compile_s", compile_s}}));
  } catch (const std::exception& e) {
    fmt::print(stderr, "custom_cell: {}\n", describe(e));
    return 1;
  }
}
