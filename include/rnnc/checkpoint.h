// Checkpoints in the safetensors format (https://github.com/huggingface/safetensors), so Python's
// safetensors.torch.load_file reads them: an 8-byte little-endian header length, a JSON header
// {"name": {"dtype", "shape", "data_offsets"}, "__metadata__": {string: string}}, then the data.
//
// Files are written atomically: a temporary file in the same folder (its own for every save, so
// threads may save to one path), fsync, rename; a crash leaves the old checkpoint or the new one,
// never half of one, and the next save of that path removes the temporary a killed save left. The loader checks everything a damaged or
// hostile file could get wrong and says what it found.
#pragma once
#include <filesystem>
#include <limits>
#include <map>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "rnnc/tensor.h"
#include "rnnc/tree.h"

namespace rnnc::io {

struct Checkpoint {
  std::vector<std::pair<std::string, Tensor>> tensors;  // in file order
  std::map<std::string, std::string> metadata;          // config, vocabulary, step, RNG state, ...

  void add(const std::string& name, const Tensor& t) { tensors.emplace_back(name, t); }
  const Tensor& tensor(const std::string& name) const;    // an Error names a missing tensor
  const std::string& meta(const std::string& key) const;  // an Error names a missing key
  bool has(const std::string& name) const;

  // Every leaf of a tree, named prefix + path ("rnn.layers.1.weight_ih").
  template <class T> void add_tree(const T& t, const std::string& prefix = "") {
    const std::vector<std::string> names = tree::paths(t, prefix);
    const std::vector<Tensor> values = tree::tensors(t);
    for (std::size_t i = 0; i < names.size(); ++i) add(names[i], values[i]);
  }
  // Loads a tree's leaves by name. Every name, shape and dtype is checked first: the first
  // mismatch is an Error (path, expected, found) and the tree is left untouched.
  template <class T> void load_tree(T& t, const std::string& prefix = "") const {
    tree::assign(t, matching(tree::paths(t, prefix), tree::tensors(t)));
  }
  // Copies of the tensors named `names`, each checked against `like` (shape and dtype).
  std::vector<Tensor> matching(const std::vector<std::string>& names, const std::vector<Tensor>& like) const;
};

void save(const std::filesystem::path& path, const Checkpoint& c);
Checkpoint load(const std::filesystem::path& path);
// A checkpoint from a file's bytes (errors name `path`).
Checkpoint parse(std::string_view bytes, const std::filesystem::path& path = "<memory>");

// The state of a random engine as text (for the metadata), and back.
std::string rng_state(const std::mt19937_64& rng);
std::mt19937_64 rng_from_state(const std::string& state);

// Keras' ModelCheckpoint(save_best_only=True): writes the checkpoint when the monitored loss is the
// lowest seen so far.
class KeepBest {
 public:
  explicit KeepBest(std::filesystem::path path) : path_(std::move(path)) {}
  // Returns whether it was written.
  bool offer(double loss, const Checkpoint& c);
  double best() const { return best_; }

 private:
  std::filesystem::path path_;
  double best_ = std::numeric_limits<double>::infinity();
};

}  // namespace rnnc::io
