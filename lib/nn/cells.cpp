// The cells, written as the math in nn.h.
#include <cmath>

#include "rnnc/error.h"
#include "rnnc/nn.h"

namespace rnnc::nn {

int gate_count(Cell cell) {
  switch (cell) {
    case Cell::RNNTanh:
    case Cell::RNNRelu: return 1;
    case Cell::LSTM: return 4;
    case Cell::GRU: return 3;
  }
  return 1;
}

std::string_view name_of(Cell cell) {
  switch (cell) {
    case Cell::RNNTanh: return "rnn_tanh";
    case Cell::RNNRelu: return "rnn_relu";
    case Cell::LSTM: return "lstm";
    case Cell::GRU: return "gru";
  }
  return "?";
}

Var linear(const Var& x, const Var& w, const Var& b) { return matmul(x, transpose(w)) + b; }

Var rnn_cell(const Var& x, const Var& h, const Weights& w, bool relu_act) {
  Var pre = linear(x, w.w_ih, w.b_ih) + linear(h, w.w_hh, w.b_hh);
  return relu_act ? relu(pre) : tanh(pre);
}

State lstm_cell(const Var& x, const State& s, const Weights& w) {
  auto g = chunk(linear(x, w.w_ih, w.b_ih) + linear(s.h, w.w_hh, w.b_hh), 4, 1);  // i, f, g, o
  Var c = sigmoid(g[1]) * s.c + sigmoid(g[0]) * tanh(g[2]);
  return {sigmoid(g[3]) * tanh(c), c};
}

Var gru_cell(const Var& x, const Var& h, const Weights& w) {
  auto gx = chunk(linear(x, w.w_ih, w.b_ih), 3, 1);  // r, z, n
  auto gh = chunk(linear(h, w.w_hh, w.b_hh), 3, 1);
  Var r = sigmoid(gx[0] + gh[0]), z = sigmoid(gx[1] + gh[1]);
  Var n = tanh(gx[2] + r * gh[2]);
  return (1.0 - z) * n + z * h;
}

State step(Cell cell, const Var& x, const State& s, const Weights& w) {
  switch (cell) {
    case Cell::RNNTanh: return {rnn_cell(x, s.h, w, false), {}};
    case Cell::RNNRelu: return {rnn_cell(x, s.h, w, true), {}};
    case Cell::LSTM:
      if (!s.c.defined()) throw Error("rnnc: nn::step: an LSTM needs a cell state c");
      return lstm_cell(x, s, w);
    case Cell::GRU: return {gru_cell(x, s.h, w), {}};
  }
  throw Error("rnnc: nn::step: unknown cell");
}

std::pair<Var, State> recur(const CellFn& cell, const Var& xs, const State& init, bool reverse) {
  if (!init.h.defined()) throw Error("rnnc: nn::recur: the initial state has no h");
  const bool has_c = init.c.defined();
  std::vector<Var> carries{init.h};
  if (has_c) carries.push_back(init.c);
  Scanned r = scan(
      [&](std::span<const Var> c, std::span<const Var> x) -> ScanStep {
        State next = cell(x[0], State{c[0], has_c ? c[1] : Var()});
        if (next.c.defined() != has_c)
          throw Error(has_c ? "rnnc: nn::recur: the state has a c but the cell returned none"
                            : "rnnc: nn::recur: the cell returned a c but the state has none");
        std::vector<Var> out{next.h};
        if (has_c) out.push_back(next.c);
        return {out, {next.h}};
      },
      carries, {xs}, reverse);
  return {r.ys[0], State{r.carries[0], has_c ? r.carries[1] : Var()}};
}

std::pair<Var, State> layer(Cell cell, const Var& xs, const State& init, const Weights& w, bool reverse) {
  if (cell == Cell::LSTM && !init.c.defined()) throw Error("rnnc: nn::layer: an LSTM needs a cell state c");
  State s = init;
  if (cell != Cell::LSTM) s.c = Var();
  return recur([&](const Var& x, const State& st) { return step(cell, x, st, w); }, xs, s, reverse);
}

// [T, B, ...] from T steps [B, ...], and back.
Var stacked(const std::vector<Var>& steps) {
  if (steps.empty()) throw Error("rnnc: nn::layer: no steps");
  std::vector<Var> rows;
  for (const Var& x : steps) rows.push_back(unsqueeze(x, 0));
  return concat(rows, 0);
}
std::vector<Var> unstacked(const Var& xs) {
  std::vector<Var> out;
  for (int64_t t = 0; t < xs.shape()[0]; ++t) out.push_back(squeeze(slice(xs, 0, t, t + 1), 0));
  return out;
}

std::pair<std::vector<Var>, State> layer(Cell cell, const std::vector<Var>& xs, const State& init, const Weights& w) {
  auto [ys, last] = layer(cell, stacked(xs), init, w);
  std::vector<Var> hs = unstacked(ys);
  hs.back() = last.h;  // the same value; as the carry, a many-to-one loss needs no stacked cotangent
  return {hs, last};
}

std::pair<std::vector<Var>, std::vector<State>> stack(Cell cell, const std::vector<Var>& xs,
                                                      const std::vector<State>& init,
                                                      const std::vector<Weights>& layers,
                                                      const std::vector<std::vector<Var>>& masks, double p) {
  if (init.size() != layers.size())
    throw Error("rnnc: nn::stack: " + std::to_string(layers.size()) + " layers but " + std::to_string(init.size()) +
                " initial states");
  if (!masks.empty() && masks.size() + 1 != layers.size())
    throw Error("rnnc: nn::stack: dropout needs one list of masks per layer after the first");
  Var seq = stacked(xs);
  std::vector<State> finals;
  for (size_t l = 0; l < layers.size(); ++l) {
    if (l > 0 && !masks.empty()) seq = dropout(seq, stacked(masks[l - 1]), p);
    auto [out, last] = layer(cell, seq, init[l], layers[l]);
    seq = out;
    finals.push_back(last);
  }
  std::vector<Var> hs = unstacked(seq);
  hs.back() = finals.back().h;
  return {hs, finals};
}

Var many_to_one(const std::vector<Var>& hs, const Var& w, const Var& b) {
  if (hs.empty()) throw Error("rnnc: nn::many_to_one: no steps");
  return linear(hs.back(), w, b);
}

Var many_to_many(const std::vector<Var>& hs, const Var& w, const Var& b) {
  if (hs.empty()) throw Error("rnnc: nn::many_to_many: no steps");
  return linear(concat(hs, 0), w, b);
}

Var embedding(const Var& table, const Var& indices) { return gather(table, indices); }

double accuracy(const Tensor& logits, const Tensor& labels) {
  const int64_t n = labels.numel();
  if (n == 0 || logits.numel() % n != 0) throw Error("rnnc: nn::accuracy: logits and labels do not match");
  const int64_t v = logits.numel() / n;
  int64_t right = 0;
  for (int64_t i = 0; i < n; ++i) {
    int64_t best = 0;
    for (int64_t k = 1; k < v; ++k)
      if (logits.at(i * v + k) > logits.at(i * v + best)) best = k;
    right += best == static_cast<int64_t>(labels.at(i));
  }
  return static_cast<double>(right) / static_cast<double>(n);
}

Var dropout(const Var& x, const Var& mask, double p) {
  if (p < 0 || p >= 1) throw Error("rnnc: nn::dropout: p must be in [0, 1), got " + std::to_string(p));
  return x * mask * (1.0 / (1.0 - p));
}

Tensor dropout_mask(const Shape& shape, double p, std::mt19937_64& rng, DType dtype) {
  if (p < 0 || p >= 1) throw Error("rnnc: nn::dropout_mask: p must be in [0, 1), got " + std::to_string(p));
  Tensor m(dtype, shape);
  std::bernoulli_distribution keep(1.0 - p);
  for (int64_t i = 0; i < m.numel(); ++i) m.set(i, keep(rng) ? 1.0 : 0.0);
  return m;
}

std::vector<Spec> weight_specs(Cell cell, int64_t input, int64_t hidden, int layer_index, DType dtype) {
  const int64_t g = gate_count(cell) * hidden;
  const std::string l = "_l" + std::to_string(layer_index);
  return {Spec{{g, input}, dtype, "weight_ih" + l}, Spec{{g, hidden}, dtype, "weight_hh" + l},
          Spec{{g}, dtype, "bias_ih" + l}, Spec{{g}, dtype, "bias_hh" + l}};
}

std::vector<Tensor> init_weights(Cell cell, int64_t input, int64_t hidden, std::mt19937_64& rng, DType dtype) {
  const double k = 1.0 / std::sqrt(static_cast<double>(hidden));
  std::vector<Tensor> out;
  for (const Spec& s : weight_specs(cell, input, hidden, 0, dtype)) out.push_back(Tensor::uniform(s.shape, -k, k, rng, dtype));
  return out;
}

Weights weights(std::span<const Var> four) {
  if (four.size() != 4) throw Error("rnnc: nn::weights: expects 4 Vars (w_ih, w_hh, b_ih, b_hh)");
  return {four[0], four[1], four[2], four[3]};
}

}  // namespace rnnc::nn
