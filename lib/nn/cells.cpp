// The library's cells (cells.h): PyTorch's parameters by PyTorch's names, and the math.
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

static Tensor zeros_for(const Gates& g, int64_t batch) {
  return Tensor::zeros({batch, g.hidden()}, g.weight_hh.dtype());
}

RNNCell RNNCell::init(int64_t input, int64_t hidden, std::mt19937_64& rng, DType dtype) {
  return {Gates::init(1, input, hidden, rng, dtype)};
}
Hidden RNNCell::initial_state(int64_t batch) const { return {zeros_for(*this, batch)}; }
Hidden RNNCell::operator()(const Var& x, const Hidden& s) const {
  Var pre = linear(x, weight_ih, bias_ih) + linear(s.h, weight_hh, bias_hh);
  return {relu ? rnnc::relu(pre) : tanh(pre)};
}

LSTMCell LSTMCell::init(int64_t input, int64_t hidden, std::mt19937_64& rng, DType dtype) {
  return {Gates::init(4, input, hidden, rng, dtype)};
}
LSTMState LSTMCell::initial_state(int64_t batch) const { return {zeros_for(*this, batch), zeros_for(*this, batch)}; }
LSTMState LSTMCell::operator()(const Var& x, const LSTMState& s) const {
  auto g = chunk(linear(x, weight_ih, bias_ih) + linear(s.h, weight_hh, bias_hh), 4, 1);  // i, f, g, o
  Var c = sigmoid(g[1]) * s.c + sigmoid(g[0]) * tanh(g[2]);
  return {sigmoid(g[3]) * tanh(c), c};
}

GRUCell GRUCell::init(int64_t input, int64_t hidden, std::mt19937_64& rng, DType dtype) {
  return {Gates::init(3, input, hidden, rng, dtype)};
}
Hidden GRUCell::initial_state(int64_t batch) const { return {zeros_for(*this, batch)}; }
Hidden GRUCell::operator()(const Var& x, const Hidden& s) const {
  auto gx = chunk(linear(x, weight_ih, bias_ih), 3, 1);  // r, z, n
  auto gh = chunk(linear(s.h, weight_hh, bias_hh), 3, 1);
  Var r = sigmoid(gx[0] + gh[0]), z = sigmoid(gx[1] + gh[1]);
  Var n = tanh(gx[2] + r * gh[2]);
  return {(1.0 - z) * n + z * s.h};
}

}  // namespace rnnc::nn
