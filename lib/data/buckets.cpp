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

Buckets::Buckets(std::vector<std::vector<int32_t>> sequences, std::vector<int32_t> labels, BucketOptions o)
    : seqs_(std::move(sequences)), labels_(std::move(labels)), o_(o) {
  if (labels_.size() != seqs_.size())
    throw Error(fmt::format("rnnc: data::Buckets: {} labels for {} sequences", labels_.size(), seqs_.size()));
  if (o_.batch < 1 || o_.multiple < 1)
    throw Error(
        fmt::format("rnnc: data::Buckets: batch ({}) and multiple ({}) must be at least 1", o_.batch, o_.multiple));
  if (count() < o_.batch)
    throw Error(fmt::format("rnnc: data::Buckets: {} sequences, fewer than one batch of {}", count(), o_.batch));
  for (const auto& s : seqs_) tokens_ += static_cast<int64_t>(s.size());
}

int64_t Buckets::rounded(int64_t i) const {
  const int64_t n = static_cast<int64_t>(seqs_[static_cast<std::size_t>(i)].size());
  return (n + o_.multiple - 1) / o_.multiple * o_.multiple;
}

std::vector<std::vector<int64_t>> Buckets::pass(int64_t pass) const {
  std::vector<int64_t> order = shuffled(count(), o_.seed, pass);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return rounded(a) < rounded(b); });
  std::vector<std::vector<int64_t>> out;
  for (int64_t k = 0; k < batches(); ++k)
    out.emplace_back(order.begin() + k * o_.batch, order.begin() + (k + 1) * o_.batch);
  // The batches in a shuffled order too (a second draw of the same pass), so a pass does not run
  // from the shortest to the longest.
  const std::vector<int64_t> which = shuffled(batches(), ~o_.seed, pass);
  std::vector<std::vector<int64_t>> mixed;
  for (int64_t k : which) mixed.push_back(std::move(out[static_cast<std::size_t>(k)]));
  return mixed;
}

std::vector<std::vector<int64_t>> Buckets::in_order() const {
  std::vector<int64_t> order(static_cast<std::size_t>(count()));
  for (int64_t i = 0; i < count(); ++i) order[static_cast<std::size_t>(i)] = i;
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return rounded(a) < rounded(b); });
  std::vector<std::vector<int64_t>> out;
  for (int64_t k = 0; k < count(); k += o_.batch)
    out.emplace_back(order.begin() + k, order.begin() + std::min(count(), k + o_.batch));
  return out;
}

SequenceBatch Buckets::sequences(const std::vector<int64_t>& which) const {
  const int64_t B = static_cast<int64_t>(which.size());
  int64_t T = 1;  // a scan needs a step, even for a batch of empty sequences
  for (int64_t i : which) {
    if (i < 0 || i >= count()) throw Error(fmt::format("rnnc: data::Buckets: sequence {} of {}", i, count()));
    T = std::max(T, rounded(i));
  }
  Tensor x = Tensor::full({T, B}, o_.pad, DType::i32), lengths = Tensor::zeros({B}, DType::i32),
         y = Tensor::zeros({B}, DType::i32);
  for (int64_t j = 0; j < B; ++j) {
    const auto& s = seqs_[static_cast<std::size_t>(which[static_cast<std::size_t>(j)])];
    for (std::size_t t = 0; t < s.size(); ++t) x.data<int32_t>()[static_cast<int64_t>(t) * B + j] = s[t];
    lengths.data<int32_t>()[j] = static_cast<int32_t>(s.size());
    y.data<int32_t>()[j] = labels_[static_cast<std::size_t>(which[static_cast<std::size_t>(j)])];
  }
  return {x, lengths, y};
}

SequenceBatch Buckets::batch(int64_t pass, int64_t k, Shard shard) const {
  if (!pass_ || pass_->first != pass)
    pass_ = std::make_shared<std::pair<int64_t, std::vector<std::vector<int64_t>>>>(pass, this->pass(pass));
  const std::vector<int64_t>& which = pass_->second.at(static_cast<std::size_t>(k));
  const int64_t share = shard.rows_of(o_.batch, "data::Buckets");
  const auto first = which.begin() + shard.rank * share;
  return sequences(std::vector<int64_t>(first, first + share));
}

SequenceBatch Buckets::eval_batch(int64_t k) const {
  if (!in_order_) in_order_ = std::make_shared<std::vector<std::vector<int64_t>>>(in_order());
  return sequences(in_order_->at(static_cast<std::size_t>(k)));
}

}  // namespace rnnc::data
