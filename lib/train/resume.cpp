// The training state read back from a checkpoint (train.h; add_training_state in train.cpp writes
// it): the counters of metadata "train.*", as strictly as the command line reads its options (a
// fuzz target feeds it any checkpoint, so this file depends on io alone).
#include <fmt/format.h>

#include <charconv>
#include <cmath>

#include "rnnc/train.h"

namespace rnnc::nn::detail {

Resumed read_training_state(const io::Checkpoint& c) {
  // Each field as strictly as the command line would take it: a wrong one is named, never used.
  auto bad = [&](const std::string& key, const char* what) {
    return Error(fmt::format("rnnc: train: resume: metadata '{}' = '{}' is not {}", key, c.meta(key), what));
  };
  auto count = [&](const std::string& key, uint64_t most) {  // an unsigned integer, digits only
    const std::string& v = c.meta(key);                      // an Error names a missing key
    uint64_t n = 0;
    const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (v.empty() || ec != std::errc() || end != v.data() + v.size() || n > most)
      throw bad(key, most == UINT64_MAX ? "an integer in [0, 2^64)" : "a count in [0, 2^62]");
    return n;
  };
  auto real = [&](const std::string& key) {
    const std::string& v = c.meta(key);
    try {
      std::size_t used = 0;
      const double x = std::stod(v, &used);
      if (used == v.size() && !std::isnan(x)) return x;
    } catch (const std::exception&) {}
    throw bad(key, "a number");
  };
  if (!c.metadata.count("train.step"))
    throw Error("rnnc: train: resume: the checkpoint holds no training state (write it with KeepLast or KeepBest)");
  constexpr uint64_t most_steps = uint64_t{1} << 62;
  Resumed r;
  r.step = static_cast<int64_t>(count("train.step", most_steps));
  r.optim_steps = static_cast<int64_t>(count("train.optim_steps", most_steps));
  r.lr = real("train.lr");
  if (!std::isfinite(r.lr) || r.lr < 0) throw bad("train.lr", "a learning rate (finite, not negative)");
  r.seed = count("train.rng_seed", UINT64_MAX);
  r.draws = count("train.rng_draws", UINT64_MAX);
  r.best_val = real("train.best_val_loss");  // inf before any validation
  for (const auto& [name, t] : c.tensors)
    if (name.rfind("optim.", 0) == 0) r.optim.emplace_back(name.substr(6), t);
  return r;
}

}  // namespace rnnc::nn::detail
