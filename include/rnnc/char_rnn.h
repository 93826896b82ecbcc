// A character language model around any cell (cells.h), the shape of every seed tutorial:
// characters one-hot in, stacked layers of the cell (dropout between them), a dense softmax over
// the next character at every step.
//
//   auto model = nn::CharRNN<nn::LSTMCell>::init(vocab.size(), 256, rng, {.layers = 2, .dropout = 0.2});
//   auto step = compile(value_and_grad(nn::CharRNN<nn::LSTMCell>::loss));   // (model, state, batch)
//   auto [loss, state, grads] = step(model, model.initial_state(B), nn::TextBatch{x, y});
#pragma once
#include <random>
#include <utility>
#include <vector>

#include "rnnc/cells.h"

namespace rnnc::nn {

// Characters [T, B] (i32) and the characters that follow them.
struct TextBatch {
  Leaf x, y;
  RNNC_TREE(x, y)
};

struct CharRNNOptions {
  int layers = 1;
  double dropout = 0;  // between layers, when the loss is given an Rng
};

template <class Cell> struct CharRNN {
  using State = std::vector<typename RNN<Cell>::State>;
  RNN<Cell> rnn;
  Linear head;
  int64_t vocab = 0;
  RNNC_TREE(rnn, head)

  static CharRNN init(int64_t vocab, int64_t hidden, std::mt19937_64& rng, CharRNNOptions o = {},
                      DType dtype = DType::f32) {
    RNN<Cell> rnn = RNN<Cell>::init(o.layers, vocab, hidden, rng, o.dropout, dtype);
    return {std::move(rnn), Linear::init(hidden, vocab, rng, dtype), vocab};
  }
  State initial_state(int64_t batch) const { return rnn.initial_state(batch); }

  // inputs [T, B] -> logits [T, B, V] and the final state.
  std::pair<Var, State> operator()(const Var& inputs, const State& s, Rng* rng = nullptr) const {
    auto [hs, last] = rnn(one_hot(inputs, vocab, head.weight.dtype()), s, rng);
    const Shape& sh = hs.shape();
    return {reshape(head(reshape(hs, {sh[0] * sh[1], sh[2]})), {sh[0], sh[1], vocab}), last};
  }

  // The training loss, for value_and_grad: the mean cross-entropy of the next character at every
  // step (nats per character), and the final state.
  static std::pair<Var, State> loss(const CharRNN& m, const State& s, const TextBatch& b) { return m.loss_of(b, s, nullptr); }
  // The same with dropout, drawn from the Rng.
  static std::pair<Var, State> loss_with_dropout(const CharRNN& m, const State& s, const TextBatch& b, Rng& rng) {
    return m.loss_of(b, s, &rng);
  }

  std::pair<Var, State> loss_of(const TextBatch& b, const State& s, Rng* rng) const {
    auto [logits, last] = (*this)(b.x, s, rng);
    return {mean(softmax_cross_entropy(logits, b.y)), last};
  }

  // One character in, the logits [V] of the next out: for sampling (generate, in cells.h).
  static std::pair<Var, State> next(const CharRNN& m, const State& s, const Var& c) {
    auto [logits, last] = m(reshape(c, {1, 1}), s);
    return {reshape(logits, {m.vocab}), last};
  }
};

}  // namespace rnnc::nn
