// The batched form of a loop body's step work: a value computed for every step at once, stacked
// [T, ...], as hoist_loops moves it before the loop (see hoist.h).
#include "passes/hoist.h"

namespace rnnc::hoisting {

Var flat(const Var& stack) {
  Shape s(stack.shape().begin() + 1, stack.shape().end());
  s[0] *= stack.shape()[0];
  return reshape(stack, s);
}

// n for every step, stacked [T, ...], or nothing when it has no known batched form (n must not
// depend on a carry).
std::optional<Var> Stacked::vectorized(const NodePtr& n) {
  if (auto it = vec_memo.find(n.get()); it != vec_memo.end()) return it->second;
  std::optional<Var> r;
  Shape stacked_shape = n->shape;
  stacked_shape.insert(stacked_shape.begin(), h.L.length);
  auto lift = [&](const NodePtr& in) -> std::optional<Var> {  // an input, stacked
    if (h.is_step(Var(in))) return vectorized(in);
    Shape all = in->shape;
    all.insert(all.begin(), h.L.length);
    return broadcast_to(h.outside(Var(in)), all);  // a view: the new axis leads
  };
  const OpClass cls = info(n->op).cls;
  bool gemm = false;
  if (int s = h.sequence_of(Var(n)); s >= 0) {
    r = h.bind[s];
  } else if (n->op == Op::MatMul && n->rank() == 2 && h.is_step(Var(n->inputs[0])) && !h.is_step(Var(n->inputs[1]))) {
    if (auto a = vectorized(n->inputs[0])) {
      r = reshape(matmul(flat(*a), h.outside(Var(n->inputs[1]))), stacked_shape);
      gemm = true;
    }
  } else if (n->op == Op::BroadcastTo) {
    // (a layer norm's mean over the row, spread along it): the stacked operand, its axes aligned
    // under the result's by leading 1s after T, spread to the stacked shape.
    const NodePtr& in = n->inputs[0];
    if (!h.is_step(Var(in))) {
      r = broadcast_to(h.outside(Var(in)), stacked_shape);
    } else if (auto v = vectorized(in)) {
      Shape aligned(n->rank() - in->rank(), 1);
      aligned.insert(aligned.begin(), h.L.length);
      aligned.insert(aligned.end(), in->shape.begin(), in->shape.end());
      r = broadcast_to(reshape(*v, aligned), stacked_shape);
    }
  } else if (cls == OpClass::Elementwise || n->op == Op::Sum || n->op == Op::Max || n->op == Op::Slice ||
             n->op == Op::Reshape) {
    Node copy = *n;
    copy.shape = stacked_shape;
    if (n->op == Op::Sum || n->op == Op::Max)
      for (int64_t& a : copy.ints) ++a;
    if (n->op == Op::Slice) copy.ints.insert(copy.ints.begin(), 0);
    bool ok = true;
    for (NodePtr& in : copy.inputs) {
      auto v = lift(in);
      if (!v) {
        ok = false;
        break;
      }
      gemm |= gemm_in[in.get()];
      in = v->node();
    }
    if (ok) r = Var(intern(std::move(copy)));
  }
  for (const NodePtr& in : n->inputs) gemm |= gemm_in[in.get()];
  gemm_in[n.get()] = gemm;
  vec_memo[n.get()] = r;
  return r;
}

// The size of the largest per-step value that step work n is computed from: the products and
// sequence slices in it (what the loop would read per step if n were hoisted up to them).
int64_t Stacked::source_size(const NodePtr& n) {
  if (auto it = source_memo.find(n.get()); it != source_memo.end()) return it->second;
  int64_t s = 0;
  if (n->op == Op::MatMul || h.sequence_of(Var(n)) >= 0) {
    s = numel(n->shape);
  } else {
    for (const NodePtr& in : n->inputs)
      if (h.is_step(Var(in))) s = std::max(s, source_size(in));
  }
  return source_memo[n.get()] = s;
}

}  // namespace rnnc::hoisting
