// A character language model around any cell (cells.h), the shape of every seed tutorial:
// characters in (one-hot, or an embedding), stacked layers of the cell, dropout after each layer
// when training, a dense softmax over the next character at every step.
//
//   auto model = nn::CharRNN<nn::LSTMCell>::init(vocab.size(), 256, rng, {.layers = 2, .dropout = 0.2});
//   auto step = compile(value_and_grad(nn::CharRNN<nn::LSTMCell>::loss));   // (model, state, batch, rng)
//   auto [loss, state, grads] = step(model, model.initial_state(B), streams.chunk(k), rng);
//
// It saves itself with its configuration and vocabulary (checkpoint()), and `rnnc sample` (or
// sample_checkpoint) generates text from such a file without the program that trained it.
#pragma once
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "rnnc/cells.h"
#include "rnnc/checkpoint.h"
#include "rnnc/data.h"
#include "rnnc/export.h"
#include "rnnc/onnx.h"

namespace rnnc::nn {

struct CharRNNOptions {
  int layers = 1;
  int embedding = 0;   // 0: one-hot input; else an Embedding(vocab, embedding)
  double dropout = 0;  // after every layer (Keras' Dropout), when the model is given an Rng
};

// The names checkpoints use for the library's cells; a cell of one's own is "custom".
template <class Cell> std::string cell_name(const Cell& c) {
  if constexpr (requires { c.name(); })
    return std::string(c.name());
  else
    return "custom";
}

template <class Cell> struct CharRNN {
  using State = std::vector<typename RNN<Cell>::State>;
  std::optional<Embedding> embedding;
  RNN<Cell> rnn;
  Linear head;
  int64_t vocab = 0;
  RNNC_TREE(embedding, rnn, head)

  static CharRNN init(int64_t vocab, int64_t hidden, std::mt19937_64& rng, CharRNNOptions o = {},
                      DType dtype = DType::f32) {
    CharRNN m;
    m.vocab = vocab;
    if (o.embedding > 0) m.embedding = Embedding::init(vocab, o.embedding, rng, dtype);
    m.rnn = RNN<Cell>::init(o.embedding > 0 ? o.embedding : vocab, hidden, rng,
                            {.layers = o.layers, .dropout = o.dropout}, dtype);
    m.head = Linear::init(hidden, vocab, rng, dtype);
    return m;
  }
  State initial_state(int64_t batch) const { return rnn.initial_state(batch); }
  int64_t hidden() const { return head.weight.shape()[1]; }

  // inputs [T, B] -> logits [T, B, V] and the final state; dropout when given an Rng.
  std::pair<Var, State> operator()(const Var& inputs, const State& s, Rng* rng = nullptr) const {
    Var x = embedding ? (*embedding)(inputs) : one_hot(inputs, vocab, head.weight.dtype());
    auto [hs, last] = rnn(x, s, {.rng = rng});
    if (rng && rnn.dropout > 0) hs = dropout(hs, rnn.dropout, *rng);
    const Shape& sh = hs.shape();
    return {reshape(head(reshape(hs, {sh[0] * sh[1], sh[2]})), {sh[0], sh[1], vocab}), last};
  }

  // The loss, for value_and_grad: the mean cross-entropy of the next character at every step
  // (nats per character), and the final state; dropout as the Rng says (Rng::evaluation(): none).
  static std::pair<Var, State> loss(const CharRNN& m, const State& s, const data::TextBatch& b, Rng& rng) {
    auto [logits, last] = m(b.x, s, &rng);
    return {mean(softmax_cross_entropy(logits, b.y)), last};
  }
  // Keras windows, many-to-one: the cross-entropy of the character after each window (b.x [B, W],
  // b.y [B]), every window from a fresh state.
  static Var window_loss(const CharRNN& m, const data::TextBatch& b, Rng& rng) {
    auto [logits, last] = m(transpose(b.x), m.initial_state(b.x.shape()[0]), &rng);  // [W, B, V]
    return mean(softmax_cross_entropy(squeeze(slice(logits, 0, -1, logits.shape()[0]), 0), b.y));
  }

  // One character per stream in (c [B]), the logits [B, V] of the next and the state out: for
  // sampling and serving.
  static std::pair<Var, State> next(const CharRNN& m, const State& s, const Var& c) {
    const int64_t B = c.shape().at(0);
    auto [logits, last] = m(reshape(c, {1, B}), s);
    return {reshape(logits, {B, m.vocab}), last};
  }
};

namespace detail {
std::map<std::string, std::string> char_rnn_metadata(const std::string& cell, int layers, int64_t hidden, int embedding,
                                                     double dropout, const data::Vocab& vocab);
struct CharRNNConfig {
  std::string cell;
  int layers = 1, embedding = 0;
  int64_t hidden = 0;
  double dropout = 0;
  data::Vocab vocab;
};
// Reads the metadata (an Error names what is missing or wrong).
CharRNNConfig char_rnn_config(const io::Checkpoint& c);

// One stream of a model whose step takes a character id (int32 [1]) and returns logits [1, V].
class CharStream {
 public:
  CharStream(std::shared_ptr<rnnc_model> model, int64_t vocab);
  ~CharStream();
  CharStream(const CharStream&) = delete;
  CharStream& operator=(const CharStream&) = delete;
  // The logits after character x (the same tensor each time, overwritten by the next step).
  const Tensor& step(int x);

 private:
  std::shared_ptr<rnnc_model> model_;
  rnnc_stream* stream_ = nullptr;
  Tensor logits_;
};
}  // namespace detail

// The parameters by path, with the configuration and the vocabulary as metadata.
template <class Cell> io::Checkpoint checkpoint(const CharRNN<Cell>& m, const data::Vocab& vocab) {
  io::Checkpoint c;
  c.add_tree(m);
  c.metadata = detail::char_rnn_metadata(cell_name(m.rnn.layers.at(0)), static_cast<int>(m.rnn.layers.size()),
                                         m.hidden(), m.embedding ? static_cast<int>(m.embedding->weight.shape()[1]) : 0,
                                         m.rnn.dropout, vocab);
  return c;
}

// A model saved by checkpoint(), every name, shape and dtype checked; vocab receives its vocabulary.
template <class Cell> CharRNN<Cell> from_checkpoint(const io::Checkpoint& c, data::Vocab* vocab = nullptr) {
  const detail::CharRNNConfig cfg = detail::char_rnn_config(c);
  std::mt19937_64 rng(0);
  CharRNN<Cell> m = CharRNN<Cell>::init(cfg.vocab.size(), cfg.hidden, rng,
                                        {.layers = cfg.layers, .embedding = cfg.embedding, .dropout = cfg.dropout});
  if constexpr (requires { m.rnn.layers[0].relu; })
    for (auto& l : m.rnn.layers) l.relu = cfg.cell == "rnn_relu";
  if (cell_name(m.rnn.layers.at(0)) != cfg.cell)
    throw Error("rnnc: checkpoint: it holds a '" + cfg.cell + "' model, not '" + cell_name(m.rnn.layers.at(0)) + "'");
  c.load_tree(m);
  if (vocab) *vocab = cfg.vocab;
  return m;
}

// n characters after `prime` (unknown characters are an Error), one step each, the state carried.
template <class Cell> std::string sample(const CharRNN<Cell>& m, const data::Vocab& vocab, std::u32string_view prime,
                                         int n, const SampleOptions& o, std::mt19937_64& rng) {
  const Tensor ids = vocab.encode(prime);
  std::vector<int> p;
  for (int64_t i = 0; i < ids.numel(); ++i) p.push_back(static_cast<int>(ids.at(i)));
  // The weights do not change while sampling: captured, they are constants of the compiled step
  // (as in a JAX function closing over its parameters), read in place with nothing bound per call.
  using State = typename CharRNN<Cell>::State;
  CompileOptions options;
  options.bf16 = o.bf16;
  options.int8 = o.int8;
  auto step = compile([&m](const State& s, const Var& c) { return CharRNN<Cell>::next(m, s, c); }, options);
  // Stepped as an exported library steps it: a stream of the run time's model (export.h).
  detail::CharStream stream(stream_model(step, m.initial_state(1), Tensor::zeros({1}, DType::i32)), m.vocab);
  auto one = [&](const std::vector<Tensor>&, int x) { return std::pair{stream.step(x), std::vector<Tensor>{}}; };
  return vocab.decode(generate(one, {}, p, n, o, rng));
}

// What `rnnc sample` runs: text from a checkpoint of a CharRNN of any library cell (and from the
// files the earlier CharModel wrote). An empty prime starts from a random character, which is
// returned in `prime`.
std::string sample_checkpoint(const io::Checkpoint& c, std::u32string& prime, int n, const SampleOptions& o,
                              std::mt19937_64& rng);

// What `rnnc export` runs: a checkpoint's sampling step, (state, character id int32 [1]) ->
// (logits [1, V], state) (and for o.batch streams at once: ids [B] -> logits [B, V]), as a C library (export_stream, rnnc/export.h), from a fresh state; its
// vocabulary (UTF-8, characters in id order) as the metadata "vocab", its cell as "cell", and how
// its weights are held as "weights" (compile.bf16: bfloat16; compile.int8: int8 per output channel).
ExportedModel export_checkpoint(const io::Checkpoint& c, const std::filesystem::path& dir, const ExportOptions& o = {},
                                const CompileOptions& compile = {});

// What `rnnc export --onnx` runs: a checkpoint's model over a chunk, (model, state, ids int32 [T, B])
// -> (logits [T, B, V], next state), as an ONNX file (export_onnx, rnnc/onnx.h): the library's cell
// as ONNX's own LSTM, GRU or RNN, the weights as initializers named by their paths, the state as
// inputs "state.*" and outputs "next_state.*"; its vocabulary and cell in the metadata. T and B are
// fixed where given; 0 leaves the axis open ("time", "batch": the file runs at any size there).
// The weight matrices as `weights` says (OnnxOptions::weights: float32, bf16, int8 per row).
OnnxModel export_checkpoint_onnx(const io::Checkpoint& c, const std::filesystem::path& file, int64_t steps = 0,
                                 int64_t batch = 0, OnnxWeights weights = OnnxWeights::f32);

// What `rnnc import` runs: a character model's checkpoint from an ONNX file, for rnnc sample, rnnc
// export and from_checkpoint: rnnc's own export (weights by path), or a recurrent language model
// as PyTorch exports it (recurrent_model_of, rnnc/onnx.h). The vocabulary is the file's "vocab"
// metadata unless `vocab` is given (a file from elsewhere has none); its size must be the model's.
io::Checkpoint import_checkpoint_onnx(const std::filesystem::path& file, const data::Vocab* vocab = nullptr);

}  // namespace rnnc::nn
