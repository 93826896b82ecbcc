// CharRNN's checkpoints (char_rnn.h): the configuration as metadata, and sampling from a file of
// any library cell, which is what `rnnc sample` runs.
#include "rnnc/char_rnn.h"

#include <fmt/format.h>

namespace rnnc::nn {

namespace detail {

std::map<std::string, std::string> char_rnn_metadata(const std::string& cell, int layers, int64_t hidden,
                                                     int embedding, double dropout, const data::Vocab& vocab) {
  return {{"format", "rnnc-char-rnn"},
          {"cell", cell},
          {"layers", std::to_string(layers)},
          {"hidden", std::to_string(hidden)},
          {"embedding", std::to_string(embedding)},
          {"dropout", fmt::format("{}", dropout)},
          {"vocab", data::encode_utf8(vocab.chars())}};
}

static int64_t as_int(const io::Checkpoint& c, const std::string& key, int64_t lo) {
  const std::string& v = c.meta(key);
  std::size_t used = 0;
  int64_t x = 0;
  try {
    x = std::stoll(v, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != v.size() || v.empty() || x < lo)
    throw Error(fmt::format("rnnc: checkpoint: metadata '{}' = '{}' is not a number >= {}", key, v, lo));
  return x;
}

CharRNNConfig char_rnn_config(const io::Checkpoint& c) {
  const std::string format = c.metadata.count("format") ? c.meta("format") : "";
  if (format != "rnnc-char-rnn" && format != "rnnc-char-model")
    throw Error("rnnc: checkpoint: not an rnnc character model (its metadata has no format 'rnnc-char-rnn')");
  CharRNNConfig cfg;
  cfg.cell = c.meta("cell");
  cfg.layers = static_cast<int>(as_int(c, "layers", 1));
  cfg.hidden = as_int(c, "hidden", 1);
  cfg.embedding = static_cast<int>(as_int(c, "embedding", 0));
  try {
    cfg.dropout = std::stod(c.meta("dropout"));
  } catch (const std::invalid_argument&) {
    throw Error(fmt::format("rnnc: checkpoint: metadata 'dropout' = '{}' is not a number", c.meta("dropout")));
  }
  cfg.vocab = data::Vocab::from_chars(data::decode_utf8(c.meta("vocab"), "checkpoint vocabulary"));
  return cfg;
}

// The files CharModel wrote named tensors as torch.nn.LSTM does (weight_ih_l0, dense.weight,
// embedding): the same tensors under the paths of a CharRNN.
static io::Checkpoint from_char_model(const io::Checkpoint& c) {
  io::Checkpoint out;
  out.metadata = c.metadata;
  for (const auto& [name, t] : c.tensors) {
    std::string path = name;
    if (name == "embedding") path = "embedding.weight";
    else if (name.rfind("dense.", 0) == 0) path = "head." + name.substr(6);
    else if (auto l = name.rfind("_l"); l != std::string::npos) path = fmt::format("rnn.layers.{}.{}", name.substr(l + 2), name.substr(0, l));
    out.add(path, t);
  }
  return out;
}

}  // namespace detail

template <class Cell>
static std::string sample_as(const io::Checkpoint& c, std::u32string& prime, int n, const SampleOptions& o,
                             std::mt19937_64& rng) {
  data::Vocab vocab;
  CharRNN<Cell> m = from_checkpoint<Cell>(c, &vocab);
  if (prime.empty()) prime = std::u32string(1, vocab.at(static_cast<int>(rng() % vocab.size())));
  return sample(m, vocab, prime, n, o, rng);
}

std::string sample_checkpoint(const io::Checkpoint& file, std::u32string& prime, int n, const SampleOptions& o,
                              std::mt19937_64& rng) {
  const detail::CharRNNConfig cfg = detail::char_rnn_config(file);
  const io::Checkpoint c = file.meta("format") == "rnnc-char-model" ? detail::from_char_model(file) : file;
  if (cfg.cell == "lstm") return sample_as<LSTMCell>(c, prime, n, o, rng);
  if (cfg.cell == "gru") return sample_as<GRUCell>(c, prime, n, o, rng);
  if (cfg.cell == "rnn_tanh" || cfg.cell == "rnn_relu") return sample_as<RNNCell>(c, prime, n, o, rng);
  throw Error(fmt::format("rnnc: checkpoint: cell '{}' is not one of the library's (rnn_tanh, rnn_relu, lstm, gru); "
                          "sample it from the program that defines it",
                          cfg.cell));
}

}  // namespace rnnc::nn
