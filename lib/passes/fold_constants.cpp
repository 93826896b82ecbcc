// Constant folding: a node whose inputs are all constants is computed once, at compile time, by the
// reference interpreter, and replaced by a fill (when every element is equal) or a literal. It runs
// twice in the pipeline: again last, for what the late passes made of constants (gather_rows' W + b
// over a sampling step's captured weights).
#include <algorithm>

#include "rnnc/interpreter.h"
#include "rnnc/ops.h"
#include "rnnc/passes.h"

namespace rnnc {

namespace {

// The constant n is, or that n repeats or reshapes (a bias broadcast to a weight's shape); else null.
const Node* constant_under_views(const NodePtr& n) {
  const Node* m = n.get();
  while (m->op == Op::BroadcastTo || m->op == Op::Reshape) m = m->inputs[0].get();
  return m->op == Op::Full || m->op == Op::Literal ? m : nullptr;
}

}  // namespace

std::vector<Var> fold_constants(const std::vector<Var>& outputs, int64_t max_elements) {
  return rewrite(outputs, [&](const Var& v) -> Var {
    if (v->inputs.empty()) return Var();
    int64_t largest_literal = 0;
    for (const NodePtr& in : v->inputs) {
      const Node* c = constant_under_views(in);
      if (!c) return Var();
      if (c->op == Op::Literal) largest_literal = std::max(largest_literal, numel(c->shape));
    }
    if (v.numel() > std::max(max_elements, largest_literal)) return Var();
    // A view of a large constant costs nothing at run time; a copy in another layout would only
    // move it from the layout its GEMM reads best (a weight in PyTorch's [out, in]: gemv.h).
    const bool view = v.op() == Op::Transpose || v.op() == Op::Reshape || v.op() == Op::BroadcastTo;
    if (view && v.numel() > max_elements) return Var();
    Tensor t = evaluate({v}, {}, {})[0];
    bool uniform = true;
    for (int64_t i = 1; i < t.numel() && uniform; ++i) {
      double a = t.at(i), b = t.at(0);
      uniform = a == b && std::signbit(a) == std::signbit(b);
    }
    if (uniform && t.numel() > 0) return full(v.shape(), t.at(0), v.dtype());
    return constant(t);
  });
}

}  // namespace rnnc
