// Cells and layers as trees (tree.h): a struct of named parameters and the math, as in Keras'
// RNN(cell) and Flax's nn.RNN. A cell is
//
//   struct MyCell {
//     Param ...;  RNNC_TREE(...)
//     State initial_state(int64_t batch) const;           // zeros, as host tensors
//     State operator()(const Var& x, const State& s) const; // one step: x [B, I] -> next state
//   };
//
// and its output at a step is the state's h (a cell may say otherwise with `Var output(const
// State&) const`). nn::RNN<Cell> runs any such cell, a user's own included, over a sequence as one
// scan, in stacked layers with dropout between them.
//
// The library's cells keep PyTorch's layout, names and formulas, so weights exchange with
// torch.nn.RNNCell / LSTMCell / GRUCell (and torch.nn.RNN/LSTM/GRU layer by layer): weight_ih
// [G H, I], weight_hh [G H, H], bias_ih, bias_hh [G H], the G gate blocks stacked in rows.
// Batches are rows: x [B, I], h [B, H].
//   RNN   h' = act(x W_ih^T + b_ih + h W_hh^T + b_hh)                          G = 1
//   LSTM  i, f, g, o = split(x W_ih^T + b_ih + h W_hh^T + b_hh)                 G = 4
//         c' = sigmoid(f) c + sigmoid(i) tanh(g);  h' = sigmoid(o) tanh(c')
//   GRU   r, z, n from x W_ih^T + b_ih and h W_hh^T + b_hh (each split in 3)    G = 3
//         r = sigmoid(xr + hr); z = sigmoid(xz + hz); n = tanh(xn + r hn)      (reset after the product)
//         h' = (1 - z) n + z h
#pragma once
#include <random>
#include <utility>
#include <vector>

#include "rnnc/nn.h"
#include "rnnc/scan.h"
#include "rnnc/tree.h"
#include "rnnc/tree_function.h"

namespace rnnc::nn {

// The state of an RNN or GRU cell, and of an LSTM cell.
struct Hidden {
  Leaf h;
  RNNC_TREE(h)
};
struct LSTMState {
  Leaf h, c;
  RNNC_TREE(h, c)
};

// PyTorch's default initialisation: every weight and bias uniform in (-1/sqrt(H), 1/sqrt(H)).
struct Gates {
  Param weight_ih, weight_hh, bias_ih, bias_hh;
  RNNC_TREE(weight_ih, weight_hh, bias_ih, bias_hh)
  static Gates init(int gates, int64_t input, int64_t hidden, std::mt19937_64& rng, DType dtype = DType::f32);
  int64_t hidden() const { return weight_hh.shape()[1]; }
};

// torch.nn.RNNCell: h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh) (relu with nonlinearity relu).
struct RNNCell : Gates {
  bool relu = false;
  std::string_view name() const { return relu ? "rnn_relu" : "rnn_tanh"; }
  static RNNCell init(int64_t input, int64_t hidden, std::mt19937_64& rng, DType dtype = DType::f32);
  Hidden initial_state(int64_t batch) const;
  Hidden operator()(const Var& x, const Hidden& s) const;
};

// torch.nn.LSTMCell: gates i, f, g, o; c' = f c + i g; h' = o tanh(c').
struct LSTMCell : Gates {
  std::string_view name() const { return "lstm"; }
  static LSTMCell init(int64_t input, int64_t hidden, std::mt19937_64& rng, DType dtype = DType::f32);
  LSTMState initial_state(int64_t batch) const;
  LSTMState operator()(const Var& x, const LSTMState& s) const;
};

// torch.nn.GRUCell: r, z, n; h' = (1 - z) n + z h, the reset gate applied after the product.
struct GRUCell : Gates {
  std::string_view name() const { return "gru"; }
  static GRUCell init(int64_t input, int64_t hidden, std::mt19937_64& rng, DType dtype = DType::f32);
  Hidden initial_state(int64_t batch) const;
  Hidden operator()(const Var& x, const Hidden& s) const;
};

// torch.nn.Linear: y = x W^T + b, W [out, in].
struct Linear {
  Param weight, bias;
  RNNC_TREE(weight, bias)
  static Linear init(int64_t in, int64_t out, std::mt19937_64& rng, DType dtype = DType::f32);
  Var operator()(const Var& x, Loc loc = Loc::current()) const { return linear(x, weight, bias, loc); }
};

// torch.nn.Embedding: rows of weight [V, E] for i32 indices; initialised N(0, 1).
struct Embedding {
  Param weight;
  RNNC_TREE(weight)
  static Embedding init(int64_t vocab, int64_t dim, std::mt19937_64& rng, DType dtype = DType::f32);
  Var operator()(const Var& indices) const { return embedding(weight, indices); }
};

// A cell's output at a step: cell.output(state) when it has one, else state.h.
template <class Cell, class State> Var output_of(const Cell& cell, const State& s) {
  if constexpr (requires { cell.output(s); })
    return cell.output(s);
  else
    return Var(s.h);
}

// One cell over a sequence xs [T, B, I] from `init`, as one scan: the outputs [T, B, H] and the
// final state. .reverse: from the last step to the first (outputs stay in step order). .lengths
// (i32 [B], optional): row b has lengths[b] real steps (scan.h): its final state is the state at
// its length, its outputs past it are zero, and reversed it starts at its own last step.
template <class Cell, class State> std::pair<Var, State> run_cell(const Cell& cell, const Var& xs, const State& init,
                                                                  const ScanOptions& o = {}, Loc loc = Loc::current()) {
  auto [last, ys] = scan(
      [&](const State& s, const Var& x) {
        State next = cell(x, s);
        return std::pair<State, Var>{next, output_of(cell, next)};
      },
      init, xs, o, loc);
  return {ys, last};
}

// How a layer runs over a sequence, Keras-style keywords: rnn(xs, state, {.lengths = n, .rng = &rng}).
struct RunOptions {
  Var lengths{};         // i32 [B]: each row's real steps (default: all T)
  Rng* rng = nullptr;    // dropout between layers when given
  bool reverse = false;  // from the last step to the first
};

// How many layers a stack has, and the dropout between them: RNN::init(in, hidden, rng, {.layers = 2}).
struct StackOptions {
  int layers = 1;
  double dropout = 0;  // between layers (not after the last), only when called with an Rng
};

// Keras' RNN(cell) and torch.nn.LSTM(num_layers, dropout): stacked layers of one kind of cell,
// layer l reading layer l-1's outputs, with dropout between layers when given an Rng.
template <class Cell> struct RNN {
  using State = decltype(std::declval<const Cell&>().initial_state(1));
  std::vector<Cell> layers;
  double dropout = 0;  // between layers (not after the last), only when called with an Rng
  RNNC_TREE(layers)

  // o.layers cells made by Cell::init(input, hidden, rng, dtype), the first reading `input` features.
  static RNN init(int64_t input, int64_t hidden, std::mt19937_64& rng, const StackOptions& o = {},
                  DType dtype = DType::f32) {
    RNN r;
    r.dropout = o.dropout;
    for (int l = 0; l < o.layers; ++l) r.layers.push_back(Cell::init(l == 0 ? input : hidden, hidden, rng, dtype));
    return r;
  }
  std::vector<State> initial_state(int64_t batch) const {
    std::vector<State> s;
    for (const Cell& c : layers) s.push_back(c.initial_state(batch));
    return s;
  }
  // xs [T, B, I] -> the top layer's outputs [T, B, H] and every layer's final state.
  std::pair<Var, std::vector<State>> operator()(const Var& xs, const std::vector<State>& init, const RunOptions& o = {},
                                                Loc loc = Loc::current()) const {
    if (init.size() != layers.size())
      fail("RNN",
           "a state per layer is needed: " + std::to_string(init.size()) + " given for " +
               std::to_string(layers.size()) + " layers",
           loc);
    Var h = xs;
    std::vector<State> last;
    for (std::size_t l = 0; l < layers.size(); ++l) {
      if (l > 0 && o.rng && dropout > 0) h = nn::dropout(h, dropout, *o.rng);
      auto [ys, s] = run_cell(layers[l], h, init[l], {.reverse = o.reverse, .lengths = o.lengths}, loc);
      h = ys;
      last.push_back(s);
    }
    return {h, last};
  }
};

// torch.nn.LSTM(bidirectional=True) and Keras' Bidirectional: in every layer one cell reads the
// sequence forward and another backward (each row from its own last real step when given
// lengths), their outputs concatenated [T, B, 2H]; layer l > 0 reads layer l-1's 2H features.
// States are PyTorch's h_n order: layer 0 forward, layer 0 backward, layer 1 forward, ...
template <class Cell> struct Bidirectional {
  using State = typename RNN<Cell>::State;
  std::vector<Cell> forward, backward;
  double dropout = 0;  // between layers, only when called with an Rng
  RNNC_TREE(forward, backward)

  static Bidirectional init(int64_t input, int64_t hidden, std::mt19937_64& rng, const StackOptions& o = {},
                            DType dtype = DType::f32) {
    Bidirectional r;
    r.dropout = o.dropout;
    for (int l = 0; l < o.layers; ++l) {
      r.forward.push_back(Cell::init(l == 0 ? input : 2 * hidden, hidden, rng, dtype));
      r.backward.push_back(Cell::init(l == 0 ? input : 2 * hidden, hidden, rng, dtype));
    }
    return r;
  }
  std::vector<State> initial_state(int64_t batch) const {
    std::vector<State> s;
    for (std::size_t l = 0; l < forward.size(); ++l) {
      s.push_back(forward[l].initial_state(batch));
      s.push_back(backward[l].initial_state(batch));
    }
    return s;
  }
  // xs [T, B, I] -> the top layer's outputs [T, B, 2H] and every final state (2 per layer). Row
  // b's final backward state is the one after reading its step 0.
  std::pair<Var, std::vector<State>> operator()(const Var& xs, const std::vector<State>& init, const RunOptions& o = {},
                                                Loc loc = Loc::current()) const {
    if (init.size() != 2 * forward.size() || backward.size() != forward.size())
      fail("Bidirectional",
           "a state per layer and direction is needed: " + std::to_string(init.size()) + " given for " +
               std::to_string(forward.size()) + " layers",
           loc);
    Var h = xs;
    std::vector<State> last;
    for (std::size_t l = 0; l < forward.size(); ++l) {
      if (l > 0 && o.rng && dropout > 0) h = nn::dropout(h, dropout, *o.rng);
      auto [fy, fs] = run_cell(forward[l], h, init[2 * l], {.reverse = o.reverse, .lengths = o.lengths}, loc);
      auto [by, bs] = run_cell(backward[l], h, init[2 * l + 1], {.reverse = !o.reverse, .lengths = o.lengths}, loc);
      h = concat({fy, by}, -1, loc);
      last.push_back(fs);
      last.push_back(bs);
    }
    return {h, last};
  }
};

// generate (nn.h) with the state as a tree: step(state, index) returns (logits, next state).
template <class F, class State>
requires(!std::is_same_v<State, std::vector<Tensor>>) std::vector<int> generate(const F& step, const State& state,
                                                                                const std::vector<int>& prime, int n,
                                                                                const SampleOptions& o,
                                                                                std::mt19937_64& rng) {
  StepFn flat = [&](const std::vector<Tensor>& s, int x) {
    auto [logits, next] = step(tree::replace(state, s), x);
    return std::pair<Tensor, std::vector<Tensor>>{logits, tree::tensors(next)};
  };
  return generate(flat, tree::tensors(state), prime, n, o, rng);
}

}  // namespace rnnc::nn
