// Dense layers, embeddings, dropout and metrics (nn.h, cells.h).
#include <cmath>

#include <fmt/format.h>

#include "rnnc/cells.h"

namespace rnnc::nn {

Var linear(const Var& x, const Var& w, const Var& b, Loc loc) {
  return add(Operand(matmul(x, transpose(w, loc), loc), loc), Operand(b, loc));
}

Var embedding(const Var& table, const Var& indices) { return gather(table, indices); }

// The shape [T, B, 1, ...] of a per-step, per-row mask over xs [T, B, ...], once xs and
// lengths [B] are checked to match.
static Shape step_mask_shape(const char* op, const Var& xs, const Var& lengths, Loc loc) {
  if (xs.rank() < 2 || lengths.rank() != 1 || xs.shape()[1] != lengths.shape()[0])
    fail(op,
         fmt::format("xs must be [T, B, ...] and lengths [B]; got {} and {}", to_string(xs.shape()),
                     to_string(lengths.shape())),
         loc);
  Shape s(static_cast<size_t>(xs.rank()), 1);
  s[0] = xs.shape()[0];
  s[1] = xs.shape()[1];
  return s;
}

Var masked_mean(const Var& x, const Var& lengths, Loc loc) {
  const Shape s = step_mask_shape("masked_mean", x, lengths, loc);
  Var m = reshape(sequence_mask(lengths, x.shape()[0], x.dtype(), loc), s, loc);
  const double per_step = static_cast<double>(x.numel() / (x.shape()[0] * x.shape()[1]));
  Var real = sum(m, {}, false, loc) * per_step;
  return sum(where(m, x, 0.0), {}, false, loc) / maximum(real, 1.0);
}

Var last_step(const Var& xs, const Var& lengths, Loc loc) {
  const Shape s = step_mask_shape("last_step", xs, lengths, loc);
  // The mask of step lengths[b] - 1 alone: (t < n) - (t < n - 1), the second with n - 1 >= 0.
  const int64_t T = xs.shape()[0];
  Var upto = sequence_mask(lengths, T, xs.dtype(), loc);
  Var before = sequence_mask(maximum(lengths - 1, 0), T, xs.dtype(), loc);
  return sum(where(reshape(upto - before, s, loc), xs, 0.0), {0}, false, loc);
}

double accuracy(const Tensor& logits, const Tensor& labels) {
  const int64_t n = labels.numel();
  if (n == 0 || logits.numel() % n != 0) throw Error("rnnc: nn::accuracy: logits and labels do not match");
  const int64_t v = logits.numel() / n;
  int64_t right = 0;
  for (int64_t i = 0; i < n; ++i) {
    int64_t best = 0;
    for (int64_t k = 1; k < v; ++k)
      if (logits.at(i * v + k) > logits.at(i * v + best)) best = k;
    right += best == static_cast<int64_t>(labels.at(i));
  }
  return static_cast<double>(right) / static_cast<double>(n);
}

double accuracy(const Tensor& logits, const Tensor& labels, const Tensor& lengths) {
  if (labels.rank() != 2 || lengths.rank() != 1 || labels.shape()[1] != lengths.shape()[0] ||
      logits.numel() % std::max<int64_t>(labels.numel(), 1) != 0)
    throw Error(
        fmt::format("rnnc: nn::accuracy: logits {}, labels {} and lengths {} do not match (want [T, B, V], "
                    "[T, B], [B])",
                    to_string(logits.shape()), to_string(labels.shape()), to_string(lengths.shape())));
  const int64_t T = labels.shape()[0], B = labels.shape()[1], v = labels.numel() ? logits.numel() / labels.numel() : 0;
  int64_t right = 0, real = 0;
  for (int64_t t = 0; t < T; ++t)
    for (int64_t b = 0; b < B; ++b) {
      if (t >= static_cast<int64_t>(lengths.at(b))) continue;
      const int64_t i = t * B + b;
      int64_t best = 0;
      for (int64_t k = 1; k < v; ++k)
        if (logits.at(i * v + k) > logits.at(i * v + best)) best = k;
      right += best == static_cast<int64_t>(labels.at(i));
      ++real;
    }
  return real ? static_cast<double>(right) / static_cast<double>(real) : 0.0;
}

Linear Linear::init(int64_t in, int64_t out, std::mt19937_64& rng, DType dtype) {
  const double k = 1.0 / std::sqrt(static_cast<double>(in));  // torch.nn.Linear's default
  Linear l;
  l.weight = Tensor::uniform({out, in}, -k, k, rng, dtype);
  l.bias = Tensor::uniform({out}, -k, k, rng, dtype);
  return l;
}

Embedding Embedding::init(int64_t vocab, int64_t dim, std::mt19937_64& rng, DType dtype) {
  return {Tensor::normal({vocab, dim}, 0, 1, rng, dtype)};
}

Var dropout(const Var& x, double p, Rng& rng) {
  if (p < 0 || p >= 1) throw Error("rnnc: nn::dropout: p must be in [0, 1), got " + std::to_string(p));
  if (p == 0 || !rng.training()) return x;  // evaluation (Rng::evaluation()): the identity
  return x * greater_equal(rng.uniform(x.shape(), x.dtype()), p) * (1.0 / (1.0 - p));
}

}  // namespace rnnc::nn
