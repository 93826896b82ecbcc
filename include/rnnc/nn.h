// The model library's functions: dense layers, embeddings, dropout, metrics and sampling. The
// cells and layers themselves are trees (cells.h; the character model, char_rnn.h, a stage above).
#pragma once
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "rnnc/ops.h"
#include "rnnc/tensor.h"
#include "rnnc/tree_function.h"

namespace rnnc::nn {

// Dense: x w^T + b, w [out, in] (torch.nn.Linear).
Var linear(const Var& x, const Var& w, const Var& b, Loc loc = Loc::current());

// Embedding lookup (torch.nn.Embedding): rows of table [V, E] for i32 indices.
Var embedding(const Var& table, const Var& indices);

// Inverted dropout with a fresh mask at every call: x * (u >= p) / (1 - p), u = rng.uniform()
// (tree_function.h), so a step stays a pure function of its inputs and the Rng's seed. With an
// evaluation Rng (Rng::evaluation()), x itself.
Var dropout(const Var& x, double p, Rng& rng);

// ---- Masked losses (sequences of different lengths, scan.h)
// The mean of per-step values x [T, B, ...] over real steps only, t < lengths[b] (i32 [B]): the
// padding's values, even a NaN, neither count nor reach the gradient. No real step at all: 0.
Var masked_mean(const Var& x, const Var& lengths, Loc loc = Loc::current());
// The last real step of every row of xs [T, B, ...] (row b's step lengths[b] - 1; zeros for a
// length of 0): [B, ...]. A forward layer's output at the end of each sequence.
Var last_step(const Var& xs, const Var& lengths, Loc loc = Loc::current());

// ---- Metrics (on host tensors)
// Fraction of rows of logits [N, V] whose argmax equals labels [N] (i32).
double accuracy(const Tensor& logits, const Tensor& labels);
// The same over real steps only: logits [T, B, V], labels [T, B], lengths [B] (i32).
double accuracy(const Tensor& logits, const Tensor& labels, const Tensor& lengths);
// Mean nats per character to bits per character.
inline double bits_per_char(double nats) { return nats / 0.69314718055994530942; }

// ---- Sampling (char-rnn's sample.lua, the Keras tutorials' temperature)
struct SampleOptions {
  double temperature = 1.0;  // <= 0 means greedy
  int top_k = 0;             // draw among the k most likely only (0: all)
  bool greedy = false;       // argmax
  // GEMMs on bf16 copies of the weights, summed in float32 (CompileOptions::bf16): a step reads
  // half the bytes, which is what a one-character step waits for. Float32 on a CPU without
  // avx512_bf16 (compile says so once).
  bool bf16 = false;
  // GEMMs on int8 copies of the weights, per output channel (CompileOptions::int8): a quarter of
  // the bytes; the logits differ from float32's by about 1%.
  bool int8 = false;
};

// An index drawn from logits [V] (any shape, flattened): argmax when greedy, otherwise from
// softmax(logits / temperature) restricted to the top_k largest logits.
int pick(const Tensor& logits, const SampleOptions& o, std::mt19937_64& rng);

// One step of a trained model: (state, input index) -> (logits, next state).
using StepFn = std::function<std::pair<Tensor, std::vector<Tensor>>(const std::vector<Tensor>& state, int x)>;

// Generates n indices after feeding `prime` (at least one index) one step at a time, the state
// carried from step to step: prime.size() + n - 1 steps in all, never a re-run over a window.
// (cells.h has the same with the state as a tree.)
std::vector<int> generate(const StepFn& step, std::vector<Tensor> state, const std::vector<int>& prime, int n,
                          const SampleOptions& o, std::mt19937_64& rng);

}  // namespace rnnc::nn
