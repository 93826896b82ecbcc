// Sampling from a character model.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "rnnc/error.h"
#include "rnnc/nn.h"

namespace rnnc::nn {

int pick(const Tensor& logits, const SampleOptions& o, std::mt19937_64& rng) {
  const std::vector<double> l = logits.values();
  if (l.empty()) throw Error("rnnc: nn::pick: no logits");
  const int V = static_cast<int>(l.size());
  std::vector<int> order(V);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return l[a] > l[b]; });
  if (o.greedy || o.temperature <= 0) return order[0];
  const int k = o.top_k > 0 ? std::min(o.top_k, V) : V;
  // softmax(l / T) over the k best, max-subtracted.
  std::vector<double> w(k);
  for (int i = 0; i < k; ++i) w[i] = std::exp((l[order[i]] - l[order[0]]) / o.temperature);
  std::discrete_distribution<int> d(w.begin(), w.end());
  return order[d(rng)];
}

std::vector<int> generate(const StepFn& step, std::vector<Tensor> state, const std::vector<int>& prime, int n,
                          const SampleOptions& o, std::mt19937_64& rng) {
  if (prime.empty()) throw Error("rnnc: nn::generate: the priming text must hold at least one character");
  std::vector<int> out;
  Tensor logits;
  for (int x : prime) std::tie(logits, state) = step(state, x);
  for (int i = 0; i < n; ++i) {
    const int next = pick(logits, o, rng);
    out.push_back(next);
    if (i + 1 < n) std::tie(logits, state) = step(state, next);
  }
  return out;
}

}  // namespace rnnc::nn
