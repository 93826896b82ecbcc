// Composite ops: written in terms of primitives, so they need no gradient rule of their own.
#include <algorithm>

#include "build.h"

namespace rnnc {

Var zeros_like(const Var& x, Loc loc) { return full(x.shape(), 0.0, x.dtype(), loc); }
Var ones_like(const Var& x, Loc loc) { return full(x.shape(), 1.0, x.dtype(), loc); }
Var square(const Var& x, Loc loc) { return mul(Operand(x, loc), Operand(x, loc)); }

Var mean(const Var& x, std::vector<int64_t> axes, bool keepdims, Loc loc) {
  ir::require_float("mean", x, loc);
  axes = ir::normalize_axes("mean", std::move(axes), x.shape(), loc);
  int64_t count = 1;
  for (int64_t a : axes) count *= x.shape()[a];
  if (count == 0) fail("mean", fmt::format("mean over an empty axis of shape {}", to_string(x.shape())), loc);
  return mul(Operand(sum(x, axes, keepdims, loc), loc), Operand(1.0 / static_cast<double>(count), loc));
}

// min(x) = -max(-x)
Var min(const Var& x, std::vector<int64_t> axes, bool keepdims, Loc loc) {
  return neg(max(neg(x, loc), std::move(axes), keepdims, loc), loc);
}

std::vector<Var> split(const Var& x, const std::vector<int64_t>& sizes, int64_t axis, Loc loc) {
  if (!x.defined()) fail("split", "operand is an undefined Var", loc);
  int a = normalize_axis(axis, x.rank());
  if (a < 0) fail("split", fmt::format("axis {} is out of range for shape {}", axis, to_string(x.shape())), loc);
  int64_t total = 0;
  for (int64_t s : sizes) {
    if (s < 0) fail("split", "sizes must be non-negative", loc);
    total += s;
  }
  if (total != x.shape()[a])
    fail("split",
         fmt::format("sizes [{}] do not add up to extent {} of axis {} in shape {}", fmt::join(sizes, ", "),
                     x.shape()[a], a, to_string(x.shape())),
         loc);
  std::vector<Var> parts;
  int64_t at = 0;
  for (int64_t s : sizes) {
    parts.push_back(slice(x, a, at, at + s, loc));
    at += s;
  }
  return parts;
}

// As torch.chunk: pieces of ceil(n / chunks) elements, the last one possibly smaller.
std::vector<Var> chunk(const Var& x, int64_t chunks, int64_t axis, Loc loc) {
  if (!x.defined()) fail("chunk", "operand is an undefined Var", loc);
  if (chunks <= 0) fail("chunk", fmt::format("chunks must be positive, got {}", chunks), loc);
  int a = normalize_axis(axis, x.rank());
  if (a < 0) fail("chunk", fmt::format("axis {} is out of range for shape {}", axis, to_string(x.shape())), loc);
  const int64_t n = x.shape()[a], step = (n + chunks - 1) / chunks;
  std::vector<int64_t> sizes;
  for (int64_t at = 0; at < n; at += step) sizes.push_back(std::min(step, n - at));
  if (sizes.empty()) sizes.push_back(0);
  return split(x, sizes, a, loc);
}

Var squeeze(const Var& x, int64_t axis, Loc loc) {
  if (!x.defined()) fail("squeeze", "operand is an undefined Var", loc);
  int a = normalize_axis(axis, x.rank());
  if (a < 0 || x.shape()[a] != 1)
    fail("squeeze", fmt::format("axis {} of shape {} is not of extent 1", axis, to_string(x.shape())), loc);
  Shape s = x.shape();
  s.erase(s.begin() + a);
  return reshape(x, s, loc);
}

Var unsqueeze(const Var& x, int64_t axis, Loc loc) {
  if (!x.defined()) fail("unsqueeze", "operand is an undefined Var", loc);
  int a = normalize_axis(axis, x.rank() + 1);
  if (a < 0) fail("unsqueeze", fmt::format("axis {} is out of range for shape {}", axis, to_string(x.shape())), loc);
  Shape s = x.shape();
  s.insert(s.begin() + a, 1);
  return reshape(x, s, loc);
}

// log sum exp(x) = m + log sum exp(x - m) with m = max(x): no overflow for large x. The max is a
// constant for differentiation (the result does not depend on it), so stop_gradient is exact.
Var logsumexp(const Var& x, std::vector<int64_t> axes, bool keepdims, Loc loc) {
  ir::require_float("logsumexp", x, loc);
  axes = ir::normalize_axes("logsumexp", std::move(axes), x.shape(), loc);
  Var m = stop_gradient(max(x, axes, true, loc), loc);
  Var shifted = sub(Operand(x, loc), Operand(m, loc));
  Var r = add(Operand(log(sum(exp(shifted, loc), axes, true, loc), loc), loc), Operand(m, loc));
  if (keepdims) return r;
  Shape s;
  for (int i = 0; i < x.rank(); ++i)
    if (!std::binary_search(axes.begin(), axes.end(), i)) s.push_back(x.shape()[i]);
  return reshape(r, s, loc);
}

// softmax(x) = exp(x - m) / sum exp(x - m)
Var softmax(const Var& x, int64_t axis, Loc loc) {
  ir::require_float("softmax", x, loc);
  Var m = stop_gradient(max(x, {axis}, true, loc), loc);
  Var e = exp(sub(Operand(x, loc), Operand(m, loc)), loc);
  return div(Operand(e, loc), Operand(sum(e, {axis}, true, loc), loc));
}

// log_softmax(x) = x - logsumexp(x)
Var log_softmax(const Var& x, int64_t axis, Loc loc) {
  ir::require_float("log_softmax", x, loc);
  return sub(Operand(x, loc), Operand(logsumexp(x, {axis}, true, loc), loc));
}

// -log softmax(z)[y] = logsumexp(z) - z[y], with z[y] picked by a one-hot mask (no division,
// no log of a probability, so logits of +-1000 stay finite and so does the gradient softmax - onehot).
Var softmax_cross_entropy(const Var& logits, const Var& labels, Loc loc) {
  ir::require_float("softmax_cross_entropy", logits, loc);
  if (!labels.defined()) fail("softmax_cross_entropy", "labels are an undefined Var", loc);
  Shape expect(logits.shape().begin(), logits.shape().end() - (logits.rank() ? 1 : 0));
  if (logits.rank() == 0 || labels.dtype() != DType::i32 || labels.shape() != expect)
    fail("softmax_cross_entropy",
         fmt::format("logits {} need i32 labels of shape {}, got {}{}", to_string(logits.shape()), to_string(expect),
                     name_of(labels.dtype()), to_string(labels.shape())),
         loc);
  const int64_t classes = logits.shape().back();
  Var picked =
      sum(mul(Operand(one_hot(labels, classes, logits.dtype(), loc), loc), Operand(logits, loc)), {-1}, false, loc);
  return sub(Operand(logsumexp(logits, {-1}, false, loc), loc), Operand(picked, loc));
}

}  // namespace rnnc
