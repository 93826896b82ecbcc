// Batching sequences of different lengths by length (data.h), and the shuffles passes draw.
#include <algorithm>
#include <random>

#include <fmt/format.h>

#include "rnnc/data.h"
#include "rnnc/error.h"

namespace rnnc::data {

std::vector<int64_t> shuffled(int64_t count, uint64_t seed, int64_t epoch) {
  std::vector<int64_t> order(static_cast<std::size_t>(count));
  for (int64_t i = 0; i < count; ++i) order[static_cast<std::size_t>(i)] = i;
  std::mt19937_64 g(seed * 0x9e3779b97f4a7c15ull + static_cast<uint64_t>(epoch));
  for (int64_t i = count - 1; i > 0; --i)  // Fisher-Yates with raw draws: the same order on every platform
    std::swap(order[static_cast<std::size_t>(i)], order[static_cast<std::size_t>(g() % static_cast<uint64_t>(i + 1))]);
  return order;
}

Buckets::Buckets(std::vector<std::vector<int32_t>> sequences, std::vector<int32_t> labels, int64_t batch,
                 int64_t multiple, int32_t pad)
    : seqs_(std::move(sequences)), labels_(std::move(labels)), batch_(batch), multiple_(multiple), pad_(pad) {
  if (labels_.size() != seqs_.size())
    throw Error(fmt::format("rnnc: data::Buckets: {} labels for {} sequences", labels_.size(), seqs_.size()));
  if (batch_ < 1 || multiple_ < 1)
    throw Error(fmt::format("rnnc: data::Buckets: batch ({}) and multiple ({}) must be at least 1", batch_, multiple_));
  if (count() < batch_)
    throw Error(fmt::format("rnnc: data::Buckets: {} sequences, fewer than one batch of {}", count(), batch_));
  for (const auto& s : seqs_) tokens_ += static_cast<int64_t>(s.size());
}

int64_t Buckets::rounded(int64_t i) const {
  const int64_t n = static_cast<int64_t>(seqs_[static_cast<std::size_t>(i)].size());
  return (n + multiple_ - 1) / multiple_ * multiple_;
}

std::vector<std::vector<int64_t>> Buckets::pass(uint64_t seed, int64_t epoch) const {
  std::vector<int64_t> order = shuffled(count(), seed, epoch);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return rounded(a) < rounded(b); });
  std::vector<std::vector<int64_t>> out;
  for (int64_t k = 0; k < batches(); ++k) out.emplace_back(order.begin() + k * batch_, order.begin() + (k + 1) * batch_);
  // The batches in a shuffled order too (a second draw of the same pass), so a pass does not run
  // from the shortest to the longest.
  const std::vector<int64_t> which = shuffled(batches(), ~seed, epoch);
  std::vector<std::vector<int64_t>> mixed;
  for (int64_t k : which) mixed.push_back(std::move(out[static_cast<std::size_t>(k)]));
  return mixed;
}

std::vector<std::vector<int64_t>> Buckets::in_order() const {
  std::vector<int64_t> order(static_cast<std::size_t>(count()));
  for (int64_t i = 0; i < count(); ++i) order[static_cast<std::size_t>(i)] = i;
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return rounded(a) < rounded(b); });
  std::vector<std::vector<int64_t>> out;
  for (int64_t k = 0; k < count(); k += batch_)
    out.emplace_back(order.begin() + k, order.begin() + std::min(count(), k + batch_));
  return out;
}

Buckets::Batch Buckets::batch(const std::vector<int64_t>& which) const {
  const int64_t B = static_cast<int64_t>(which.size());
  int64_t T = 1;  // a scan needs a step, even for a batch of empty sequences
  for (int64_t i : which) {
    if (i < 0 || i >= count()) throw Error(fmt::format("rnnc: data::Buckets: sequence {} of {}", i, count()));
    T = std::max(T, rounded(i));
  }
  Batch b{Tensor::full({T, B}, pad_, DType::i32), Tensor::zeros({B}, DType::i32), Tensor::zeros({B}, DType::i32)};
  int32_t* x = b.x.data<int32_t>();
  for (int64_t j = 0; j < B; ++j) {
    const auto& s = seqs_[static_cast<std::size_t>(which[static_cast<std::size_t>(j)])];
    for (std::size_t t = 0; t < s.size(); ++t) x[static_cast<int64_t>(t) * B + j] = s[t];
    b.lengths.data<int32_t>()[j] = static_cast<int32_t>(s.size());
    b.y.data<int32_t>()[j] = labels_[static_cast<std::size_t>(which[static_cast<std::size_t>(j)])];
  }
  return b;
}

}  // namespace rnnc::data
