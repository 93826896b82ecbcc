// The library's cells and layers as trees (cells.h): PyTorch's parameters by PyTorch's names, the
// math from cells.cpp.
#include <cmath>

#include "rnnc/cells.h"

namespace rnnc::nn {

Gates Gates::init(int gates, int64_t input, int64_t hidden, std::mt19937_64& rng, DType dtype) {
  const double k = 1.0 / std::sqrt(static_cast<double>(hidden));
  auto u = [&](Shape s) { return Tensor::uniform(s, -k, k, rng, dtype); };
  const int64_t G = gates * hidden;
  Gates g;  // drawn in PyTorch's order: weight_ih, weight_hh, bias_ih, bias_hh
  g.weight_ih = u({G, input});
  g.weight_hh = u({G, hidden});
  g.bias_ih = u({G});
  g.bias_hh = u({G});
  return g;
}

static Tensor zeros_for(const Gates& g, int64_t batch) { return Tensor::zeros({batch, g.hidden()}, g.weight_hh.dtype()); }

RNNCell RNNCell::init(int64_t input, int64_t hidden, std::mt19937_64& rng, DType dtype) {
  return {Gates::init(1, input, hidden, rng, dtype)};
}
Hidden RNNCell::initial_state(int64_t batch) const { return {zeros_for(*this, batch)}; }
Hidden RNNCell::operator()(const Var& x, const Hidden& s) const { return {rnn_cell(x, s.h, weights(), relu)}; }

LSTMCell LSTMCell::init(int64_t input, int64_t hidden, std::mt19937_64& rng, DType dtype) {
  return {Gates::init(4, input, hidden, rng, dtype)};
}
LSTMState LSTMCell::initial_state(int64_t batch) const { return {zeros_for(*this, batch), zeros_for(*this, batch)}; }
LSTMState LSTMCell::operator()(const Var& x, const LSTMState& s) const {
  State next = lstm_cell(x, State{s.h, s.c}, weights());
  return {next.h, next.c};
}

GRUCell GRUCell::init(int64_t input, int64_t hidden, std::mt19937_64& rng, DType dtype) {
  return {Gates::init(3, input, hidden, rng, dtype)};
}
Hidden GRUCell::initial_state(int64_t batch) const { return {zeros_for(*this, batch)}; }
Hidden GRUCell::operator()(const Var& x, const Hidden& s) const { return {gru_cell(x, s.h, weights())}; }

Linear Linear::init(int64_t in, int64_t out, std::mt19937_64& rng, DType dtype) {
  const double k = 1.0 / std::sqrt(static_cast<double>(in));  // torch.nn.Linear's default
  Linear l;
  l.weight = Tensor::uniform({out, in}, -k, k, rng, dtype);
  l.bias = Tensor::uniform({out}, -k, k, rng, dtype);
  return l;
}

Embedding Embedding::init(int64_t vocab, int64_t dim, std::mt19937_64& rng, DType dtype) {
  return {Tensor::normal({vocab, dim}, 0, 1, rng, dtype)};
}

Var dropout(const Var& x, double p, Rng& rng) {
  if (p < 0 || p >= 1) throw Error("rnnc: nn::dropout: p must be in [0, 1), got " + std::to_string(p));
  if (p == 0) return x;
  return x * greater_equal(rng.uniform(x.shape(), x.dtype()), p) * (1.0 / (1.0 - p));
}

}  // namespace rnnc::nn
