// Your own recurrent cell, as a struct of named parameters and ten lines of math: the minimal
// gated unit (Zhou et al., 2016). rnnc derives its gradient (checked here against finite
// differences) and fuses its elementwise work into LLVM kernels, exactly as for the library's
// LSTM, which is trained beside it the same way.
//
// Usage: custom_cell [--data PATH] [--steps N] [--seed N] [--threads N]
#include <rnnc/program.h>
#include <rnnc/rnnc.h>

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

// Trains a character model around any cell on char-rnn's streams, as any model trains.
template <class Cell> nn::FitResult train_cell(const data::Streams& streams, int V, const program::Common& o) {
  std::mt19937_64 rng(o.seed);
  auto model = nn::CharRNN<Cell>::init(V, 128, rng);
  optim::Optimizer opt(optim::Adam{.lr = 3e-3});
  const nn::FitResult r = nn::fit(model, opt, streams, nn::CharRNN<Cell>::loss, o.fit<data::Streams>());
  fmt::print("{:5} loss {:.3f} nats/char after {} steps, {:.0f} chars/s\n", std::is_same_v<Cell, MGU> ? "mgu" : "lstm",
             r.loss, r.steps, r.chars_per_s);
  return r;
}

// Its gradient against finite differences, in float64, on a small model.
bool gradchecks(uint64_t seed) {
  std::mt19937_64 rng(seed);
  auto model = nn::CharRNN<MGU>::init(5, 4, rng, {}, DType::f64);
  data::TextBatch batch{Tensor::from({0, 3, 1, 4, 2, 2}, {3, 2}, DType::i32),
                        Tensor::from({3, 1, 4, 2, 2, 0}, {3, 2}, DType::i32)};
  Rng off = Rng::evaluation();
  auto [f, args] = compile(nn::CharRNN<MGU>::loss).function(model, model.initial_state(2), batch, off);
  GradcheckReport r = gradcheck(f, args);
  fmt::print("{}", r.str());
  return r.ok;
}

int main(int argc, char** argv) {
  program::Program p("custom_cell", "a minimal gated unit in ten lines, checked, trained and timed beside the LSTM",
                     {.steps = 300},
                     program::take::data | program::take::budget | program::take::seed | program::take::threads);
  return p.run(argc, argv, [&](const program::Common& o) {
    if (!gradchecks(o.seed)) throw Error("the minimal gated unit's gradient disagrees with finite differences");
    // Train it, and the library's LSTM, on the same text, the same way.
    const data::Corpus text = data::read_corpus(o.data, 0);
    const data::Streams streams(text.train, 32, 32);
    const nn::FitResult r = train_cell<MGU>(streams, text.vocab.size(), o);
    train_cell<nn::LSTMCell>(streams, text.vocab.size(), o);
    fmt::print("{}\n", report::summary_line(nn::summary_fields(r)));
  });
}
