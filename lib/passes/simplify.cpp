// Algebraic simplification: local identities that hold exactly in IEEE arithmetic (up to the sign
// of a zero), applied by the rewrite driver until none matches.
#include <cmath>

#include "rnnc/ops.h"
#include "rnnc/passes.h"

namespace rnnc {

namespace {
// The value of a constant fill, if the node is one.
bool is_fill(const Var& v, double value) { return v.op() == Op::Full && v->scalar == value; }
Var in(const Var& v, size_t i) { return Var(v->inputs[i]); }

Var simplify_node(const Var& v) {
  switch (v.op()) {
    case Op::Add:
      if (is_fill(in(v, 1), 0)) return in(v, 0);  // x + 0
      if (is_fill(in(v, 0), 0)) return in(v, 1);  // 0 + x
      break;
    case Op::Sub:
      if (is_fill(in(v, 1), 0)) return in(v, 0);      // x - 0
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
      if (is_fill(in(v, 1), 1)) return in(v, 0);                // x^1
      if (is_fill(in(v, 1), 2)) return in(v, 0) * in(v, 0);     // x^2 = x x
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
