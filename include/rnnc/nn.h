// Recurrent cells and layers as ordinary graph functions: a few lines of math each, with no
// gradient written by hand (autodiff derives it) and nothing the compiler treats specially (a
// user's own cell, written the same way, is fused the same way).
//
// Weights follow PyTorch's layout and formulas, so they can be exchanged with torch.nn.RNN/LSTM/GRU:
//   w_ih [G*H, I], w_hh [G*H, H], b_ih [G*H], b_hh [G*H], with G gate blocks stacked in rows:
//   RNN   h' = act(x w_ih^T + b_ih + h w_hh^T + b_hh)                           G = 1
//   LSTM  i, f, g, o = split(x w_ih^T + b_ih + h w_hh^T + b_hh)                  G = 4
//         c' = sigmoid(f) c + sigmoid(i) tanh(g);  h' = sigmoid(o) tanh(c')
//   GRU   r, z, n from x w_ih^T + b_ih and h w_hh^T + b_hh (each split in 3)     G = 3
//         r = sigmoid(xr + hr); z = sigmoid(xz + hz); n = tanh(xn + r (hn))      (reset after the product)
//         h' = (1 - z) n + z h
// Batches are rows: x [B, I], h [B, H].
#pragma once
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "rnnc/function.h"
#include "rnnc/ops.h"
#include "rnnc/scan.h"

namespace rnnc::nn {

enum class Cell { RNNTanh, RNNRelu, LSTM, GRU };
int gate_count(Cell cell);
std::string_view name_of(Cell cell);

struct Weights {
  Var w_ih, w_hh, b_ih, b_hh;
};

// The recurrent state: h, and c for an LSTM (undefined otherwise).
struct State {
  Var h, c;
};

// One step of a cell.
State step(Cell cell, const Var& x, const State& s, const Weights& w);
Var rnn_cell(const Var& x, const Var& h, const Weights& w, bool relu = false);
State lstm_cell(const Var& x, const State& s, const Weights& w);
Var gru_cell(const Var& x, const Var& h, const Weights& w);

// A layer over a stacked sequence xs [T, B, I] from `init`: one scan (scan.h), so the graph holds
// the cell once whatever T. Returns every step's output h, stacked [T, B, H], and the final state.
// reverse: from the last step to the first (the backward half of a bidirectional layer); the
// outputs stay in step order.
std::pair<Var, State> layer(Cell cell, const Var& xs, const State& init, const Weights& w, bool reverse = false);
// The same over a list of steps (xs[t] [B, I]); returns the outputs step by step.
std::pair<std::vector<Var>, State> layer(Cell cell, const std::vector<Var>& xs, const State& init, const Weights& w);

// Any cell, a user's own included, over a stacked sequence xs [T, B, I], as one scan: the cell
// maps (x_t, state) to the next state, whose h is the step's output. Its weights are captured by
// the lambda. Returns the stacked outputs [T, B, H] and the final state.
using CellFn = std::function<State(const Var& x, const State& s)>;
std::pair<Var, State> recur(const CellFn& cell, const Var& xs, const State& init, bool reverse = false);

// Stacked layers (torch.nn.LSTM(num_layers=L, dropout=p)): layer l reads layer l-1's outputs,
// with inverted dropout between layers (masks[l - 1] for the input of layer l, one mask per
// step: masks[l - 1][t]; empty for no dropout). Returns the top layer's outputs and every layer's
// final state.
std::pair<std::vector<Var>, std::vector<State>> stack(Cell cell, const std::vector<Var>& xs,
                                                      const std::vector<State>& init,
                                                      const std::vector<Weights>& layers,
                                                      const std::vector<std::vector<Var>>& masks = {}, double p = 0);

// Heads: many-to-one is the last output; many-to-many applies the same dense layer at every step
// (Keras' TimeDistributed(Dense)), as one GEMM over the stacked steps [T B, H].
Var many_to_one(const std::vector<Var>& hs, const Var& w, const Var& b);
Var many_to_many(const std::vector<Var>& hs, const Var& w, const Var& b);  // [T B, out], step-major

// Embedding lookup (torch.nn.Embedding): rows of table [V, E] for i32 indices.
Var embedding(const Var& table, const Var& indices);

// Dense: x w^T + b, w [out, in] (torch.nn.Linear).
Var linear(const Var& x, const Var& w, const Var& b);

// Inverted dropout: x * mask / (1 - p), mask a 0/1 tensor drawn by dropout_mask (so a step is a
// pure function of its inputs, and the same seed gives the same masks).
Var dropout(const Var& x, const Var& mask, double p);
Tensor dropout_mask(const Shape& shape, double p, std::mt19937_64& rng, DType dtype = DType::f32);

// The weights' specs, named as PyTorch names them (weight_ih_l0, ...), and their initial values:
// uniform(-1/sqrt(H), 1/sqrt(H)), PyTorch's default.
std::vector<Spec> weight_specs(Cell cell, int64_t input, int64_t hidden, int layer = 0, DType dtype = DType::f32);
std::vector<Tensor> init_weights(Cell cell, int64_t input, int64_t hidden, std::mt19937_64& rng,
                                 DType dtype = DType::f32);
// Weights from four Vars in weight_specs order.
Weights weights(std::span<const Var> four);

// ---- Metrics (on host tensors)
// Fraction of rows of logits [N, V] whose argmax equals labels [N] (i32).
double accuracy(const Tensor& logits, const Tensor& labels);
// Mean nats per character to bits per character.
inline double bits_per_char(double nats) { return nats / 0.69314718055994530942; }

// ---- Sampling (char-rnn's sample.lua, the Keras tutorials' temperature)
struct SampleOptions {
  double temperature = 1.0;  // <= 0 means greedy
  int top_k = 0;             // draw among the k most likely only (0: all)
  bool greedy = false;       // argmax
};

// An index drawn from logits [V] (any shape, flattened): argmax when greedy, otherwise from
// softmax(logits / temperature) restricted to the top_k largest logits.
int pick(const Tensor& logits, const SampleOptions& o, std::mt19937_64& rng);

// One step of a trained model: (state, input index) -> (logits, next state).
using StepFn = std::function<std::pair<Tensor, std::vector<Tensor>>(const std::vector<Tensor>& state, int x)>;

// Generates n indices after feeding `prime` (at least one index) one step at a time, the state
// carried from step to step: prime.size() + n - 1 steps in all, never a re-run over a window.
std::vector<int> generate(const StepFn& step, std::vector<Tensor> state, const std::vector<int>& prime, int n,
                          const SampleOptions& o, std::mt19937_64& rng);

}  // namespace rnnc::nn
