// CharRNN's checkpoints (char_rnn.h): the configuration as metadata, and sampling from a file of
// any library cell, which is what `rnnc sample` runs.
#include "rnnc/char_rnn.h"

#include "rnnc/onnx.h"

#include <fmt/format.h>

namespace rnnc::nn {

namespace detail {

std::map<std::string, std::string> char_rnn_metadata(const std::string& cell, int layers, int64_t hidden, int embedding,
                                                     double dropout, const data::Vocab& vocab) {
  return {{"format", "rnnc-char-rnn"},
          {"cell", cell},
          {"layers", std::to_string(layers)},
          {"hidden", std::to_string(hidden)},
          {"embedding", std::to_string(embedding)},
          {"dropout", fmt::format("{}", dropout)},
          {"vocab", data::encode_utf8(vocab.chars())}};
}

static int64_t as_int(const io::Checkpoint& c, const std::string& key, int64_t lo, int64_t hi) {
  const std::string& v = c.meta(key);
  std::size_t used = 0;
  int64_t x = 0;
  try {
    x = std::stoll(v, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != v.size() || v.empty() || x < lo || x > hi)
    throw Error(fmt::format("rnnc: checkpoint: metadata '{}' = '{}' is not a number in [{}, {}]", key, v, lo, hi));
  return x;
}

CharRNNConfig char_rnn_config(const io::Checkpoint& c) {
  const std::string format = c.metadata.count("format") ? c.meta("format") : "";
  if (format != "rnnc-char-rnn" && format != "rnnc-char-model")
    throw Error("rnnc: checkpoint: not an rnnc character model (its metadata has no format 'rnnc-char-rnn')");
  CharRNNConfig cfg;
  cfg.cell = c.meta("cell");
  cfg.layers = static_cast<int>(as_int(c, "layers", 1, 1 << 20));
  cfg.hidden = as_int(c, "hidden", 1, int64_t{1} << 40);
  cfg.embedding = static_cast<int>(as_int(c, "embedding", 0, 1 << 30));
  const std::string& d = c.meta("dropout");
  std::size_t used = 0;
  try {
    cfg.dropout = std::stod(d, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != d.size() || !(cfg.dropout >= 0 && cfg.dropout < 1))
    throw Error(fmt::format("rnnc: checkpoint: metadata 'dropout' = '{}' is not a number in [0, 1)", d));
  cfg.vocab = data::Vocab::from_chars(data::decode_utf8(c.meta("vocab"), "checkpoint vocabulary"));

  // The model the metadata describes is built before its tensors are checked one by one, so its
  // size is bounded by the file's own first: a file that says hidden = 100000 is an error, not
  // 60 GB of weights.
  const int64_t gates = cfg.cell == "lstm" ? 4 : cfg.cell == "gru" ? 3 : 1;
  const auto V = static_cast<long double>(cfg.vocab.size()), H = static_cast<long double>(cfg.hidden),
             E = static_cast<long double>(cfg.embedding);
  long double need = V * H + V + E * V;  // head, embedding
  for (int l = 0; l < cfg.layers; ++l) {
    const long double in = l > 0 ? H : cfg.embedding > 0 ? E : V;
    need += gates * H * (in + H + 2);  // weight_ih, weight_hh, two biases
  }
  long double held = 0;
  for (const auto& [name, t] : c.tensors) held += static_cast<long double>(t.numel());
  if (need > 2 * held + (1 << 20))  // room for the shape check below to name a tensor that differs
    throw Error(
        fmt::format("rnnc: checkpoint: its configuration ({} cell, {} layers, hidden {}, embedding {}, {} "
                    "characters) needs {:.0f} parameters, but the file holds {:.0f}: the metadata does not "
                    "describe the tensors",
                    cfg.cell, cfg.layers, cfg.hidden, cfg.embedding, cfg.vocab.size(), static_cast<double>(need),
                    static_cast<double>(held)));
  return cfg;
}

// The files CharModel wrote named tensors as torch.nn.LSTM does (weight_ih_l0, dense.weight,
// embedding): the same tensors under the paths of a CharRNN.
static io::Checkpoint from_char_model(const io::Checkpoint& c) {
  io::Checkpoint out;
  out.metadata = c.metadata;
  for (const auto& [name, t] : c.tensors) {
    std::string path = name;
    if (name == "embedding")
      path = "embedding.weight";
    else if (name.rfind("dense.", 0) == 0)
      path = "head." + name.substr(6);
    else if (auto l = name.rfind("_l"); l != std::string::npos)
      path = fmt::format("rnn.layers.{}.{}", name.substr(l + 2), name.substr(0, l));
    out.add(path, t);
  }
  return out;
}

CharStream::CharStream(std::shared_ptr<rnnc_model> model, int64_t vocab)
    : model_(std::move(model)), logits_(Tensor::empty({vocab}, DType::f32)) {
  char err[1024] = "";
  rnnc_spec out;
  if (rnnc_model_inputs(model_.get()) != 1 || rnnc_model_outputs(model_.get()) != 1 ||
      rnnc_model_output(model_.get(), 0, &out) != RNNC_OK || out.dtype != RNNC_F32 || out.rank != 2 ||
      out.shape[0] != 1 || out.shape[1] != vocab)
    throw Error(fmt::format("rnnc: sample: the step must take one character and return {} float32 logits", vocab));
  stream_ = rnnc_stream_new(model_.get(), err, sizeof err);
  if (!stream_) throw Error(err);
}

CharStream::~CharStream() { rnnc_stream_free(stream_); }

const Tensor& CharStream::step(int x) {
  const int32_t c = x;
  const void* in[] = {&c};
  void* out[] = {logits_.raw()};
  char err[1024] = "";
  if (rnnc_stream_step(model_.get(), stream_, in, out, err, sizeof err) != RNNC_OK) throw Error(err);
  return logits_;
}

}  // namespace detail

template <class Cell> static std::string sample_as(const io::Checkpoint& c, std::u32string& prime, int n,
                                                   const SampleOptions& o, std::mt19937_64& rng) {
  data::Vocab vocab;
  CharRNN<Cell> m = from_checkpoint<Cell>(c, &vocab);
  if (prime.empty()) prime = std::u32string(1, vocab.at(static_cast<int>(rng() % vocab.size())));
  return sample(m, vocab, prime, n, o, rng);
}

// The sampling step with the weights captured (constants of the program, so exported inside it).
template <class Cell> static ExportedModel export_as(const io::Checkpoint& c, const std::filesystem::path& dir,
                                                     ExportOptions o, const CompileOptions& options) {
  data::Vocab vocab;
  const CharRNN<Cell> m = from_checkpoint<Cell>(c, &vocab);
  using State = typename CharRNN<Cell>::State;
  auto step = compile([&m](const State& s, const Var& x) { return CharRNN<Cell>::next(m, s, x); }, options);
  o.metadata["vocab"] = data::encode_utf8(vocab.chars());
  o.metadata["cell"] = c.meta("cell");
  o.metadata["weights"] = options.int8 ? "int8" : options.bf16 && bf16_supported() ? "bf16" : "f32";
  return export_stream(step, m.initial_state(1), Tensor::zeros({1}, DType::i32), dir, o);
}

// A checkpoint of the earlier CharModel, renamed to CharRNN's paths (as sample_checkpoint reads it).
static io::Checkpoint as_char_rnn(const io::Checkpoint& file) {
  return file.meta("format") == "rnnc-char-model" ? detail::from_char_model(file) : file;
}

static const char* kNotLibraryCell =
    "rnnc: checkpoint: cell '{}' is not one of the library's (rnn_tanh, rnn_relu, lstm, "
    "gru); {} it from the program that defines it";

// f.template operator()<Cell>() for the library cell named `cell` (a checkpoint's "cell"); `verb`
// is what cannot be done with a cell the library does not have.
template <class F> static auto with_cell(const std::string& cell, const char* verb, F&& f) {
  if (cell == "lstm") return f.template operator()<LSTMCell>();
  if (cell == "gru") return f.template operator()<GRUCell>();
  if (cell == "rnn_tanh" || cell == "rnn_relu") return f.template operator()<RNNCell>();
  throw Error(fmt::format(fmt::runtime(kNotLibraryCell), cell, verb));
}

ExportedModel export_checkpoint(const io::Checkpoint& file, const std::filesystem::path& dir, const ExportOptions& o,
                                const CompileOptions& compile) {
  const detail::CharRNNConfig cfg = detail::char_rnn_config(file);
  const io::Checkpoint c = as_char_rnn(file);
  return with_cell(cfg.cell, "export", [&]<class Cell>() { return export_as<Cell>(c, dir, o, compile); });
}

template <class Cell> static OnnxModel export_onnx_as(const io::Checkpoint& c, const std::filesystem::path& file,
                                                      int64_t steps, int64_t batch, OnnxWeights weights) {
  data::Vocab vocab;
  const CharRNN<Cell> m = from_checkpoint<Cell>(c, &vocab);
  using State = typename CharRNN<Cell>::State;
  auto chunk = compile([](const CharRNN<Cell>& model, const State& s, const Var& ids) { return model(ids, s); });
  OnnxOptions o;
  o.name = "char_" + c.meta("cell");
  o.metadata["vocab"] = data::encode_utf8(vocab.chars());
  o.metadata["cell"] = c.meta("cell");
  o.weights = weights;
  // An open axis is traced at an example size (3 steps, 2 streams) and left open in the file.
  if (steps == 0) o.dynamic_axes["input"][0] = "time";
  if (batch == 0) {
    o.dynamic_axes["input"][1] = "batch";
    for (const std::string& path : tree::paths(m.initial_state(1), "state")) o.dynamic_axes[path][0] = "batch";
  }
  const int64_t T = steps ? steps : 3, B = batch ? batch : 2;
  return export_onnx(chunk, m, m.initial_state(B), Tensor::zeros({T, B}, DType::i32), file, o);
}

OnnxModel export_checkpoint_onnx(const io::Checkpoint& file, const std::filesystem::path& out, int64_t steps,
                                 int64_t batch, OnnxWeights weights) {
  if (steps < 0 || batch < 0)
    throw Error(
        fmt::format("rnnc: export: {} steps of {} streams; both must be at least 1 (or 0: open)", steps, batch));
  const detail::CharRNNConfig cfg = detail::char_rnn_config(file);
  const io::Checkpoint c = as_char_rnn(file);
  return with_cell(cfg.cell, "export",
                   [&]<class Cell>() { return export_onnx_as<Cell>(c, out, steps, batch, weights); });
}

io::Checkpoint import_checkpoint_onnx(const std::filesystem::path& file, const data::Vocab* given) {
  const OnnxGraph g = import_onnx(file);
  std::string cell;
  OnnxRecurrentModel r;
  if (g.weights.count("rnn.layers.0.weight_ih") && g.metadata.count("cell")) {  // rnnc's own export
    cell = g.metadata.at("cell");
    auto weight = [&](const std::string& key) {
      auto it = g.weights.find(key);
      if (it == g.weights.end()) throw Error(fmt::format("rnnc: import: '{}' has no weight '{}'", file.string(), key));
      return it->second.tensor();
    };
    for (int l = 0; g.weights.count(fmt::format("rnn.layers.{}.weight_ih", l)); ++l) {
      const std::string at = fmt::format("rnn.layers.{}.", l);
      r.layers.push_back(
          {weight(at + "weight_ih"), weight(at + "weight_hh"), weight(at + "bias_ih"), weight(at + "bias_hh")});
    }
    if (g.weights.count("embedding.weight")) r.embedding = weight("embedding.weight");
    r.head_weight = weight("head.weight");
    r.head_bias = weight("head.bias");
  } else {
    r = recurrent_model_of(g);
    cell = r.cell;
  }
  const int64_t V = r.head_weight.shape()[0], H = r.layers.back().weight_hh.shape()[1];
  data::Vocab vocab;
  if (given) {
    vocab = *given;
  } else if (g.metadata.count("vocab")) {
    vocab = data::Vocab::from_chars(data::decode_utf8(g.metadata.at("vocab"), "the model's vocabulary"));
  } else {
    throw Error(fmt::format("rnnc: import: '{}' has no vocabulary; give its {} characters in id order (--vocab FILE)",
                            file.string(), V));
  }
  if (vocab.size() != V)
    throw Error(
        fmt::format("rnnc: import: the vocabulary has {} characters and the model {} outputs", vocab.size(), V));
  io::Checkpoint c;
  if (r.embedding.defined()) c.add("embedding.weight", r.embedding);
  for (size_t l = 0; l < r.layers.size(); ++l) {
    const std::string at = fmt::format("rnn.layers.{}.", l);
    c.add(at + "weight_ih", r.layers[l].weight_ih);
    c.add(at + "weight_hh", r.layers[l].weight_hh);
    c.add(at + "bias_ih", r.layers[l].bias_ih);
    c.add(at + "bias_hh", r.layers[l].bias_hh);
  }
  c.add("head.weight", r.head_weight);
  c.add("head.bias", r.head_bias);
  c.metadata =
      detail::char_rnn_metadata(cell, static_cast<int>(r.layers.size()), H,
                                r.embedding.defined() ? static_cast<int>(r.embedding.shape()[1]) : 0, 0.0, vocab);
  // Read back as the model it describes: every name, shape and dtype checked.
  with_cell(cell, "import", [&]<class Cell>() { (void)from_checkpoint<Cell>(c); });
  return c;
}

std::string sample_checkpoint(const io::Checkpoint& file, std::u32string& prime, int n, const SampleOptions& o,
                              std::mt19937_64& rng) {
  const detail::CharRNNConfig cfg = detail::char_rnn_config(file);
  const io::Checkpoint c = as_char_rnn(file);
  return with_cell(cfg.cell, "sample", [&]<class Cell>() { return sample_as<Cell>(c, prime, n, o, rng); });
}

}  // namespace rnnc::nn
