// Algebraic simplification: local identities that hold exactly in IEEE arithmetic (up to the sign
// of a zero), applied by the rewrite driver until none matches.
#include <algorithm>
#include <cmath>

#include "rnnc/ops.h"
#include "rnnc/passes.h"

namespace rnnc {

namespace {
// The value of a constant fill, if the node is one.
bool is_fill(const Var& v, double value) { return v.op() == Op::Full && v->scalar == value; }
Var in(const Var& v, size_t i) { return Var(v->inputs[i]); }

// A value that is zero outside disjoint blocks along one axis: a pad, or a concat (whose zero
// fills are not blocks). Gradients of slices and chunks are sums of such values.
struct Blocks {
  int64_t axis = -1;
  std::vector<std::pair<int64_t, Var>> at;  // (offset along the axis, block)
};

bool blocks_of(const Var& v, Blocks& b) {
  if (v.op() == Op::Pad) {
    const Var x = in(v, 0);
    for (int k = 0; k < v.rank(); ++k) {
      if (x.shape()[k] == v.shape()[k]) continue;
      if (b.axis >= 0) return false;  // padded along two axes
      b.axis = k;
    }
    if (b.axis < 0) return false;
    b.at.push_back({v->ints[b.axis], x});
    return true;
  }
  if (v.op() == Op::Concat) {
    b.axis = v->ints[0];
    int64_t off = 0;
    for (const NodePtr& p : v->inputs) {
      if (!(p->op == Op::Full && p->scalar == 0)) b.at.push_back({off, Var(p)});
      off += p->shape[b.axis];
    }
    return true;
  }
  return false;
}

// pad(a) + pad(b) with disjoint blocks = concat(a, b) with zero fills in the gaps: one write of
// each block instead of a full-size buffer per term (the gate gradient of an LSTM step, the
// gradient of a sequence sliced into time steps).
Var add_of_blocks(const Var& v) {
  Blocks a, b;
  if (!blocks_of(in(v, 0), a) || !blocks_of(in(v, 1), b) || a.axis != b.axis) return Var();
  std::vector<std::pair<int64_t, Var>> all = a.at;
  all.insert(all.end(), b.at.begin(), b.at.end());
  std::sort(all.begin(), all.end(), [](const auto& x, const auto& y) { return x.first < y.first; });
  std::vector<Var> parts;
  int64_t at = 0;
  const int64_t ax = a.axis, extent = v.shape()[ax];
  auto zeros = [&](int64_t n) {
    Shape s = v.shape();
    s[ax] = n;
    parts.push_back(full(s, 0.0, v.dtype()));
  };
  for (const auto& [off, x] : all) {
    if (off < at) return Var();  // overlapping blocks
    if (off > at) zeros(off - at);
    parts.push_back(x);
    at = off + x.shape()[ax];
  }
  if (at < extent) zeros(extent - at);
  return concat(parts, ax);
}

// concat(slice(x, s_0:s_1), slice(x, s_1:s_2), ...) along axis 0, each slice possibly reshaped:
// the pieces lie one after another in x's memory, so this is a reshape of one slice of x (the
// time steps of a sequence, put back together for the weight-gradient GEMM).
Var concat_of_slices(const Var& v) {
  if (v->ints[0] != 0) return Var();
  Var x;
  int64_t next = -1, first = -1;
  for (const NodePtr& p : v->inputs) {
    const Node* q = p.get();
    if (q->op == Op::Reshape) q = q->inputs[0].get();
    if (q->op != Op::Slice) return Var();
    const Var src(q->inputs[0]);
    for (int k = 1; k < src.rank(); ++k)
      if (q->ints[k] != 0 || q->shape[k] != src.shape()[k]) return Var();  // must span the inner axes
    if (!x.defined()) {
      x = src;
      first = next = q->ints[0];
    }
    if (!src.same(x) || q->ints[0] != next) return Var();
    next += q->shape[0];
  }
  if (!x.defined() || x.rank() == 0) return Var();
  const Var whole = first == 0 && next == x.shape()[0] ? x : slice(x, 0, first, next);
  return reshape(whole, v.shape());
}

// slice(ys, t = last step) where the loop's y is also its carry c: the final value of c.
Var last_step_carry(const Var& v) {
  const Var ys = in(v, 0);
  if (ys.op() != Op::Scan) return Var();
  const Loop& L = *ys->loop;
  const int64_t k = ys->ints[0], last = L.reverse ? 0 : L.length - 1;
  if (k < L.carries || v->shape[0] != 1 || v->ints[0] != last) return Var();
  for (size_t a = 1; a < v->ints.size(); ++a)
    if (v->ints[a] != 0 || v->shape[a] != ys.shape()[a]) return Var();
  for (int c = 0; c < L.carries; ++c)
    if (L.outputs[c].same(L.outputs[k])) {
      Node n = *ys.node();
      n.ints = {c};
      n.shape = L.outputs[c].shape();
      return reshape(Var(intern(std::move(n))), v.shape());
    }
  return Var();
}

Var simplify_node(const Var& v) {
  switch (v.op()) {
    case Op::Add:
      if (is_fill(in(v, 1), 0)) return in(v, 0);  // x + 0
      if (is_fill(in(v, 0), 0)) return in(v, 1);  // 0 + x
      if (Var c = add_of_blocks(v); c.defined()) return c;
      // reshape(a) + reshape(b) = reshape(a + b): exposes sums of reductions (bias gradients).
      if (in(v, 0).op() == Op::Reshape && in(v, 1).op() == Op::Reshape &&
          in(in(v, 0), 0).shape() == in(in(v, 1), 0).shape())
        return reshape(in(in(v, 0), 0) + in(in(v, 1), 0), v.shape());
      break;
    case Op::Sub:
      if (is_fill(in(v, 1), 0)) return in(v, 0);       // x - 0
      if (is_fill(in(v, 0), 0)) return neg(in(v, 1));  // 0 - x
      break;
    case Op::Mul:
      if (is_fill(in(v, 1), 1)) return in(v, 0);  // x * 1
      if (is_fill(in(v, 0), 1)) return in(v, 1);  // 1 * x
      if (is_fill(in(v, 1), -1)) return neg(in(v, 0));
      if (is_fill(in(v, 0), -1)) return neg(in(v, 1));
      break;
    case Op::Div:
      if (is_fill(in(v, 1), 1)) return in(v, 0);  // x / 1
      break;
    case Op::Pow:
      if (is_fill(in(v, 1), 1)) return in(v, 0);             // x^1
      if (is_fill(in(v, 1), 2)) return in(v, 0) * in(v, 0);  // x^2 = x x
      break;
    case Op::Neg:
      if (in(v, 0).op() == Op::Neg) return in(in(v, 0), 0);  // -(-x)
      if (in(v, 0).op() == Op::Full) return full(v.shape(), -in(v, 0)->scalar, v.dtype());
      break;
    case Op::StopGradient:  // only autodiff reads it; once gradients are built it is the identity
      return in(v, 0);
    case Op::Transpose:  // transpose(transpose(x, p), q) = transpose(x, p o q)
      if (Var t = in(v, 0); t.op() == Op::Transpose) {
        std::vector<int64_t> perm(v->ints.size());
        for (size_t i = 0; i < perm.size(); ++i) perm[i] = t->ints[v->ints[i]];
        return transpose(in(t, 0), perm);
      }
      break;
    case Op::BroadcastTo:
      if (Var x = in(v, 0); x.op() == Op::Full) return full(v.shape(), x->scalar, v.dtype());
      if (Var x = in(v, 0); x.op() == Op::BroadcastTo) return broadcast_to(in(x, 0), v.shape());
      break;
    case Op::Reshape:
      if (Var x = in(v, 0); x.op() == Op::Full) return full(v.shape(), x->scalar, v.dtype());
      break;
    case Op::Cast:
      if (Var x = in(v, 0); x.op() == Op::Full) return full(v.shape(), x->scalar, v.dtype());
      break;
    case Op::Sum:
    case Op::Max: {  // reducing over extent-1 axes (kept) changes nothing
      bool trivial = true;
      for (int64_t a : v->ints) trivial &= in(v, 0).shape()[a] == 1;
      if (trivial) return in(v, 0);
      break;
    }
    case Op::Slice:  // the last step's output of a loop whose output is its carry: the final carry
      if (Var c = last_step_carry(v); c.defined()) return c;
      break;
    case Op::Concat:
      if (v->inputs.size() == 1) return in(v, 0);
      if (Var c = concat_of_slices(v); c.defined()) return c;
      break;
    case Op::Select:
      if (Var c = in(v, 0); c.op() == Op::Full && !std::isnan(c->scalar)) return c->scalar != 0 ? in(v, 1) : in(v, 2);
      if (in(v, 1).same(in(v, 2))) return in(v, 1);
      break;
    default: break;
  }
  return Var();
}
}  // namespace

std::vector<Var> simplify(const std::vector<Var>& outputs) { return rewrite(outputs, simplify_node); }

}  // namespace rnnc
