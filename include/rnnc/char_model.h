// A character language model, the shape every seed tutorial uses: characters in (one-hot, or an
// embedding), L stacked recurrent layers with dropout between them, a dense softmax out. It owns
// its parameters and vocabulary, traces its own training and sampling steps, and saves itself as
// a safetensors checkpoint that `rnnc sample` (or Python) can read back without its source.
#pragma once
#include <random>
#include <string>
#include <vector>

#include "rnnc/checkpoint.h"
#include "rnnc/compile.h"
#include "rnnc/data.h"
#include "rnnc/nn.h"

namespace rnnc::nn {

struct CharModelConfig {
  Cell cell = Cell::LSTM;
  int layers = 1;
  int hidden = 256;
  int embedding = 0;     // 0: one-hot input
  double dropout = 0;    // between layers (and before the dense layer when layers > 1)
};

class CharModel {
 public:
  CharModel(const CharModelConfig& config, data::Vocab vocab, uint64_t seed);

  const CharModelConfig& config() const { return config_; }
  const data::Vocab& vocab() const { return vocab_; }
  std::vector<Tensor>& params() { return params_; }
  const std::vector<Spec>& param_specs() const { return specs_; }

  // Recurrent state for `batch` streams: h (and c) per layer, zeros.
  std::vector<Tensor> zero_state(int batch) const;
  int state_size() const;  // tensors in a state

  // Traceable model: logits [T B, V] for inputs [T, B] from `state`, with dropout masks
  // (one [T, B, H] per dropout site, or none when not training). Returns logits and the final state.
  std::pair<Var, std::vector<Var>> forward(std::span<const Var> params, std::span<const Var> state, const Var& inputs,
                                           std::span<const Var> masks) const;
  int dropout_sites() const;

  // The training step: (params..., state..., masks..., inputs [T, B], targets [T, B]) ->
  // (mean loss, final state..., logits, gradients of params...). Many-to-many: a loss at every step.
  Function train_step(int T, int B) const;
  // The same without dropout or gradients: (params..., state..., inputs, targets) -> (loss, state..., logits).
  Function eval_step(int T, int B) const;
  // Dropout masks for one training step.
  std::vector<Tensor> masks(int T, int B, std::mt19937_64& rng) const;

  // Text after `prime` (encoded with the vocabulary: unknown characters are errors), one character
  // at a time, the state carried.
  std::string sample(std::u32string_view prime, int n, const SampleOptions& o, std::mt19937_64& rng);

  // Parameters (PyTorch names), configuration and vocabulary as a checkpoint, and back.
  io::Checkpoint checkpoint() const;
  static CharModel from_checkpoint(const io::Checkpoint& c);

 private:
  CharModelConfig config_;
  data::Vocab vocab_;
  std::vector<Spec> specs_;
  std::vector<Tensor> params_;
};

}  // namespace rnnc::nn
