// The cells the field writes now (modern_cells.h: minGRU, minLSTM, IndRNN, QRNN's fo-pooling, a
// real-diagonal LRU, Mamba's selective scan S6, a layer-normalised LSTM), each a struct of a few lines of math, and the
// library's LSTM beside them: 2-layer character models trained the same way on the same text, the
// validation loss and the speed of each. Their gradients are rnnc's (tests/test_modern_cells.cpp
// checks them against finite differences, and compiled against interpreted).
//
// Usage: modern_cells [--data PATH] [--steps N] [--time S] [--seq-length T] [--seed N] [--threads N]
//                     [--hidden H] [--batch B]
#include <rnnc/program.h>
#include <rnnc/rnnc.h>

#include <fmt/format.h>

#include "modern_cells.h"

using namespace rnnc;

struct Setup {
  int64_t hidden = 128, batch = 32;
};

template <class Cell>
nn::FitResult train(const char* name, const data::Corpus& text, const program::Common& o, const Setup& s) {
  std::mt19937_64 rng(o.seed);
  auto model = nn::CharRNN<Cell>::init(text.vocab.size(), s.hidden, rng, {.layers = 2});
  const data::Streams train(text.train, s.batch, o.seq_length), val(text.val, s.batch, o.seq_length);
  optim::Optimizer opt(optim::Adam{.lr = 3e-3});
  const nn::FitResult r = nn::fit(model, opt, train, nn::CharRNN<Cell>::loss, o.fit(val, {.clip = 5}));
  fmt::print("{:8} val_loss {:.3f} nats/char  train_loss {:.3f}  {:>8.0f} chars/s  ({} steps)\n", name, r.val_loss,
             r.loss, r.chars_per_s, r.steps);
  return r;
}

int main(int argc, char** argv) {
  program::Program p("modern_cells", "minGRU, minLSTM, IndRNN, QRNN, LRU and S6 trained beside the LSTM",
                     {.steps = 200, .seq_length = 64}, program::take::training | program::take::seq_length);
  Setup s;
  p.option("--hidden", s.hidden, "units per layer (S6: channels, 16 states each)")->check(cli::at_least(1));
  p.option("--batch", s.batch, "streams per step")->check(cli::at_least(1));
  return p.run(argc, argv, [&](const program::Common& o) {
    const data::Corpus text = data::read_corpus(o.data, 0.1);
    const nn::FitResult r = train<cells::MinGRU>("minGRU", text, o, s);
    train<cells::MinLSTM>("minLSTM", text, o, s);
    train<cells::IndRNN>("IndRNN", text, o, s);
    train<cells::QRNN>("QRNN", text, o, s);
    train<cells::LRU>("LRU", text, o, s);
    train<cells::S6>("S6", text, o, s);
    train<cells::LayerNormLSTM>("LN-LSTM", text, o, s);
    train<nn::LSTMCell>("LSTM", text, o, s);
    fmt::print("{}\n", report::summary_line(nn::summary_fields(r)));  // the minGRU's
  });
}
