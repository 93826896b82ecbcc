#include "rnnc/char_model.h"

#include <fmt/format.h>

#include <cmath>

#include "rnnc/autodiff.h"
#include "rnnc/error.h"

namespace rnnc::nn {

namespace {

Cell cell_named(const std::string& s) {
  for (Cell c : {Cell::RNNTanh, Cell::RNNRelu, Cell::LSTM, Cell::GRU})
    if (name_of(c) == s) return c;
  throw Error(fmt::format("rnnc: char model: unknown cell '{}' (rnn_tanh, rnn_relu, lstm, gru)", s));
}

int as_int(const io::Checkpoint& c, const std::string& key) {
  const std::string& v = c.meta(key);
  try {
    return std::stoi(v);
  } catch (const std::exception&) {
    throw Error(fmt::format("rnnc: char model: metadata '{}' = '{}' is not a number", key, v));
  }
}

}  // namespace

CharModel::CharModel(const CharModelConfig& config, data::Vocab vocab, uint64_t seed)
    : config_(config), vocab_(std::move(vocab)) {
  if (config.layers < 1 || config.hidden < 1 || config.embedding < 0)
    throw Error("rnnc: char model: layers and hidden must be positive, embedding non-negative");
  if (vocab_.size() < 1) throw Error("rnnc: char model: empty vocabulary");
  const int64_t V = vocab_.size(), H = config.hidden, E = config.embedding;
  std::mt19937_64 rng(seed);
  if (E > 0) {
    specs_.push_back(Spec{{V, E}, DType::f32, "embedding"});
    params_.push_back(Tensor::normal({V, E}, 0, 1, rng));  // torch.nn.Embedding's N(0, 1)
  }
  for (int l = 0; l < config.layers; ++l) {
    const int64_t in = l > 0 ? H : E > 0 ? E : V;
    for (const Spec& s : weight_specs(config.cell, in, H, l)) specs_.push_back(s);
    for (const Tensor& t : init_weights(config.cell, in, H, rng)) params_.push_back(t);
  }
  const double k = 1 / std::sqrt(static_cast<double>(H));  // torch.nn.Linear's bound
  specs_.push_back(Spec{{V, H}, DType::f32, "dense.weight"});
  specs_.push_back(Spec{{V}, DType::f32, "dense.bias"});
  params_.push_back(Tensor::uniform({V, H}, -k, k, rng));
  params_.push_back(Tensor::uniform({V}, -k, k, rng));
}

int CharModel::state_size() const { return config_.layers * (config_.cell == Cell::LSTM ? 2 : 1); }

std::vector<Tensor> CharModel::zero_state(int batch) const {
  return std::vector<Tensor>(static_cast<size_t>(state_size()), Tensor::zeros({batch, config_.hidden}));
}

int CharModel::dropout_sites() const { return config_.dropout > 0 ? config_.layers : 0; }

std::pair<Var, std::vector<Var>> CharModel::forward(std::span<const Var> p, std::span<const Var> state,
                                                    const Var& inputs, std::span<const Var> masks) const {
  const int64_t T = inputs.shape()[0], B = inputs.shape()[1], V = vocab_.size(), H = config_.hidden;
  const bool lstm = config_.cell == Cell::LSTM;
  size_t k = 0;
  Var x = config_.embedding > 0 ? embedding(p[k++], inputs) : one_hot(inputs, V);  // [T, B, in]
  Var seq = x;  // [T, B, in]: each layer is one scan over it
  std::vector<Var> finals;
  for (int l = 0; l < config_.layers; ++l) {
    State s{state[lstm ? 2 * l : l], lstm ? state[2 * l + 1] : Var()};
    auto [hs, last] = layer(config_.cell, seq, s, weights(p.subspan(k, 4)));
    k += 4;
    seq = masks.empty() ? hs : dropout(hs, masks[l], config_.dropout);  // inverted dropout, [T, B, H] masks
    finals.push_back(last.h);
    if (lstm) finals.push_back(last.c);
  }
  return {linear(reshape(seq, {T * B, H}), p[k], p[k + 1]), finals};
}

Function CharModel::train_step(int T, int B) const {
  std::vector<Spec> specs = specs_;
  for (int i = 0; i < state_size(); ++i) specs.push_back(Spec{{B, config_.hidden}, DType::f32, "state"});
  for (int i = 0; i < dropout_sites(); ++i) specs.push_back(Spec{{T, B, config_.hidden}, DType::f32, "mask"});
  specs.push_back(Spec{{T, B}, DType::i32, "inputs"});
  specs.push_back(Spec{{T, B}, DType::i32, "targets"});
  const size_t np = specs_.size(), ns = static_cast<size_t>(state_size()), nm = static_cast<size_t>(dropout_sites());
  Function f = trace(
      [this, np, ns, nm, T, B](std::span<const Var> a) {
        auto [logits, finals] = forward(a.subspan(0, np), a.subspan(np, ns), a[np + ns + nm], a.subspan(np + ns, nm));
        std::vector<Var> out = {mean(softmax_cross_entropy(logits, reshape(a[np + ns + nm + 1], {T * B})))};
        out.insert(out.end(), finals.begin(), finals.end());
        out.push_back(logits);
        return out;
      },
      specs);
  std::vector<int> wrt;
  for (size_t i = 0; i < np; ++i) wrt.push_back(static_cast<int>(i));
  return value_and_grad(f, wrt, /*has_aux=*/true);
}

Function CharModel::eval_step(int T, int B) const {
  std::vector<Spec> specs = specs_;
  for (int i = 0; i < state_size(); ++i) specs.push_back(Spec{{B, config_.hidden}, DType::f32, "state"});
  specs.push_back(Spec{{T, B}, DType::i32, "inputs"});
  specs.push_back(Spec{{T, B}, DType::i32, "targets"});
  const size_t np = specs_.size(), ns = static_cast<size_t>(state_size());
  return trace(
      [this, np, ns, T, B](std::span<const Var> a) {
        auto [logits, finals] = forward(a.subspan(0, np), a.subspan(np, ns), a[np + ns], {});
        std::vector<Var> out = {mean(softmax_cross_entropy(logits, reshape(a[np + ns + 1], {T * B})))};
        out.insert(out.end(), finals.begin(), finals.end());
        out.push_back(logits);
        return out;
      },
      specs);
}

std::vector<Tensor> CharModel::masks(int T, int B, std::mt19937_64& rng) const {
  std::vector<Tensor> m;
  for (int i = 0; i < dropout_sites(); ++i) m.push_back(dropout_mask({T, B, config_.hidden}, config_.dropout, rng));
  return m;
}

std::string CharModel::sample(std::u32string_view prime, int n, const SampleOptions& o, std::mt19937_64& rng) {
  const Tensor ids = vocab_.encode(prime);  // unknown characters are reported here
  Function one = eval_step(1, 1);
  Function step_fn{one.inputs, {}, one.source};
  // Drop the loss: (state..., logits) for (params..., state..., x, unused target).
  for (size_t i = 1; i < one.outputs.size(); ++i) step_fn.outputs.push_back(one.outputs[i]);
  Compiled c = compile(step_fn);  // cached: a second call reuses the compiled program's kernels
  const size_t ns = static_cast<size_t>(state_size());
  StepFn step = [&](const std::vector<Tensor>& state, int x) {
    std::vector<Tensor> args = params_;
    args.insert(args.end(), state.begin(), state.end());
    args.push_back(Tensor::from({double(x)}, {1, 1}, DType::i32));
    args.push_back(Tensor::from({0.0}, {1, 1}, DType::i32));
    std::vector<Tensor> out = c(args);
    return std::pair<Tensor, std::vector<Tensor>>{out[ns], std::vector<Tensor>(out.begin(), out.begin() + ns)};
  };
  std::vector<int> p;
  for (int64_t i = 0; i < ids.numel(); ++i) p.push_back(static_cast<int>(ids.at(i)));
  return vocab_.decode(generate(step, zero_state(1), p, n, o, rng));
}

io::Checkpoint CharModel::checkpoint() const {
  io::Checkpoint c;
  for (size_t i = 0; i < params_.size(); ++i) c.add(specs_[i].name, params_[i]);
  c.metadata = {{"format", "rnnc-char-model"},
                {"cell", std::string(name_of(config_.cell))},
                {"layers", std::to_string(config_.layers)},
                {"hidden", std::to_string(config_.hidden)},
                {"embedding", std::to_string(config_.embedding)},
                {"dropout", fmt::format("{}", config_.dropout)},
                {"vocab", data::encode_utf8(vocab_.chars())}};
  return c;
}

CharModel CharModel::from_checkpoint(const io::Checkpoint& c) {
  if (!c.metadata.count("format") || c.meta("format") != "rnnc-char-model")
    throw Error("rnnc: char model: the checkpoint is not an rnnc character model (no format 'rnnc-char-model')");
  CharModelConfig cfg;
  cfg.cell = cell_named(c.meta("cell"));
  cfg.layers = as_int(c, "layers");
  cfg.hidden = as_int(c, "hidden");
  cfg.embedding = as_int(c, "embedding");
  cfg.dropout = std::stod(c.meta("dropout"));
  CharModel m(cfg, data::Vocab::from_chars(data::decode_utf8(c.meta("vocab"), "checkpoint vocabulary")), 0);
  for (size_t i = 0; i < m.specs_.size(); ++i) {
    const Tensor& t = c.tensor(m.specs_[i].name);
    if (t.shape() != m.specs_[i].shape || t.dtype() != m.specs_[i].dtype)
      throw Error(fmt::format("rnnc: char model: tensor '{}' is {}{}, the configuration needs {}{}", m.specs_[i].name,
                              name_of(t.dtype()), to_string(t.shape()), name_of(m.specs_[i].dtype),
                              to_string(m.specs_[i].shape)));
    m.params_[i] = t;
  }
  return m;
}

}  // namespace rnnc::nn
