// Sums of many GEMMs, or of many reductions, become one op over concatenated operands:
//
//   sum_t a_t b_t         = [a_1 ... a_T] [b_1; ...; b_T]        (one GEMM, K = sum of K_t)
//   sum_t sum(x_t, axes)  = sum([x_1; ...; x_T], axes)            (one reduction)
//
// Backpropagation through time produces exactly these: the gradient of a weight shared by T steps
// is the sum of T per-step GEMMs (h_t^T dgates_t), the bias gradient a sum of T batch sums. One
// large GEMM runs far faster than T small ones, keeps no T partial results alive, and the
// lowering writes each step's operands straight into the concatenation (see fuse.cpp), so
// nothing is copied. Two-term sums (x W + h U in a cell) are left alone: they are not worth it.
#include <algorithm>

#include "rnnc/ops.h"
#include "rnnc/passes.h"

namespace rnnc {

namespace {

Var in(const Var& v, size_t i) { return Var(v->inputs[i]); }

bool is_t2(const Var& v) { return v.op() == Op::Transpose && v.rank() == 2 && v->ints[0] == 1; }

std::vector<Var> operands(const Var& v) {
  std::vector<Var> out;
  for (const NodePtr& p : v->inputs) out.push_back(Var(p));
  return out;
}

struct GemmTerms {
  std::vector<Var> a, b;
  std::vector<bool> at;  // a[i] enters transposed (kept apart so no transpose nodes are built)
  int leaves = 0;
  bool merged = false;  // contains a GEMM this pass built
};

// Leaves of an add tree can only be GEMMs (or reductions): fail at once on any other operand, so
// that long add chains of other things cost O(1) per node, not their depth.
bool addable(const Var& v, Op leaf) { return v.op() == Op::Add || v.op() == leaf; }

// The (a_t, b_t) of a sum of 2-D GEMMs, through adds; false if some term is not a GEMM.
bool gemm_terms(const Var& v, GemmTerms& t) {
  if (v.op() == Op::Add)
    return addable(in(v, 0), Op::MatMul) && addable(in(v, 1), Op::MatMul) && gemm_terms(in(v, 0), t) &&
           gemm_terms(in(v, 1), t);
  if (v.op() != Op::MatMul || in(v, 0).rank() != 2 || in(v, 1).rank() != 2) return false;
  ++t.leaves;
  const Var a = in(v, 0), b = in(v, 1);
  // A GEMM over concatenations (built here earlier): its terms, so the sum grows by one level.
  if (b.op() == Op::Concat && b->ints[0] == 0) {
    std::vector<Var> as;
    bool transposed = false;
    if (a.op() == Op::Concat && a->ints[0] == 1) {
      as = operands(a);
    } else if (is_t2(a) && in(a, 0).op() == Op::Concat && in(a, 0)->ints[0] == 0) {
      as = operands(in(a, 0));
      transposed = true;
    }
    const std::vector<Var> bs = operands(b);
    bool aligned = as.size() == bs.size();
    for (size_t i = 0; aligned && i < as.size(); ++i) aligned = as[i].shape()[transposed ? 0 : 1] == bs[i].shape()[0];
    if (aligned) {
      for (size_t i = 0; i < as.size(); ++i) {
        t.a.push_back(as[i]);
        t.at.push_back(transposed);
        t.b.push_back(bs[i]);
      }
      t.merged = true;
      return true;
    }
  }
  t.at.push_back(is_t2(a));
  t.a.push_back(is_t2(a) ? in(a, 0) : a);
  t.b.push_back(b);
  return true;
}

// Terms in a canonical order, so that sums over the same operands in different orders (the
// gradients of U and of W see the steps in opposite orders) build the same concatenation, which is
// then computed once: newest node first. Backpropagation creates the last step's gradient first,
// so for BPTT this is time order, and the forward operands (x_t) come out as consecutive slices
// of the input that simplify turns back into a view. Creation order is deterministic across runs.
std::vector<size_t> canonical_order(const std::vector<Var>& key) {
  std::vector<size_t> idx(key.size());
  for (size_t i = 0; i < idx.size(); ++i) idx[i] = i;
  std::stable_sort(idx.begin(), idx.end(), [&](size_t x, size_t y) { return key[x]->seq > key[y]->seq; });
  return idx;
}

template <class T> std::vector<T> permuted(const std::vector<T>& v, const std::vector<size_t>& idx) {
  std::vector<T> out;
  out.reserve(v.size());
  for (size_t i : idx) out.push_back(v[i]);
  return out;
}

Var merge_gemms(const Var& v) {
  GemmTerms t;
  if (!gemm_terms(v, t) || t.leaves < 2 || (t.leaves < 3 && !t.merged)) return Var();
  const std::vector<size_t> idx = canonical_order(t.b);
  const std::vector<Var> as = permuted(t.a, idx), bs = permuted(t.b, idx);
  const std::vector<bool> at = permuted(t.at, idx);
  Var A;
  if (std::all_of(at.begin(), at.end(), [](bool x) { return x; })) {
    A = transpose(concat(as, 0));  // [x_1^T ... x_T^T] = [x_1; ...; x_T]^T: a transposed GEMM operand
  } else {
    std::vector<Var> cols;
    for (size_t i = 0; i < as.size(); ++i) cols.push_back(at[i] ? transpose(as[i]) : as[i]);
    A = concat(cols, 1);
  }
  return matmul(A, concat(bs, 0));
}

struct SumTerms {
  std::vector<Var> x;
  std::vector<int64_t> axes;
  int leaves = 0;
  bool merged = false;
};

// The x_t of a sum of reductions sum(x_t, axes) with equal axes, through adds.
bool sum_terms(const Var& v, SumTerms& t) {
  if (v.op() == Op::Add)
    return addable(in(v, 0), Op::Sum) && addable(in(v, 1), Op::Sum) && sum_terms(in(v, 0), t) && sum_terms(in(v, 1), t);
  if (v.op() != Op::Sum || v->ints.empty()) return false;
  if (t.leaves++ == 0) t.axes = v->ints;
  if (v->ints != t.axes) return false;
  const Var x = in(v, 0);
  if (x.op() == Op::Concat && x->ints[0] == t.axes[0]) {
    for (const Var& p : operands(x)) t.x.push_back(p);
    t.merged = true;
  } else {
    t.x.push_back(x);
  }
  return true;
}

Var merge_reductions(const Var& v) {
  SumTerms t;
  if (!sum_terms(v, t) || t.leaves < 2 || (t.leaves < 3 && !t.merged)) return Var();
  // Operands must agree outside the concatenation axis (they do when the sum type-checked, unless
  // an operand was broadcast by the add; then leave it).
  for (const Var& x : t.x)
    for (int k = 0; k < x.rank(); ++k)
      if (k != t.axes[0] && x.shape()[k] != t.x[0].shape()[k]) return Var();
  return sum(concat(permuted(t.x, canonical_order(t.x)), t.axes[0]), t.axes, true);
}

// The leaves of an add tree of same-shaped values.
void add_leaves(const Var& v, std::vector<Var>& out) {
  if (v.op() == Op::Add && in(v, 0).shape() == v.shape() && in(v, 1).shape() == v.shape()) {
    add_leaves(in(v, 0), out);
    add_leaves(in(v, 1), out);
  } else {
    out.push_back(v);
  }
}

// sum(x_1 + ... + x_T, axes) = sum([x_1; ...; x_T], axes): the gradient of a bias shared by T
// steps (its broadcast is one node, so autodiff adds the steps' gradients before reducing).
Var merge_reduced_sum(const Var& v) {
  if (v->ints.empty() || in(v, 0).op() != Op::Add) return Var();
  std::vector<Var> xs;
  add_leaves(in(v, 0), xs);
  if (xs.size() < 3) return Var();
  return sum(concat(permuted(xs, canonical_order(xs)), v->ints[0]), v->ints, true);
}

}  // namespace

std::vector<Var> merge_sums(const std::vector<Var>& outputs) {
  return rewrite(outputs, [](const Var& v) -> Var {
    if (v.op() == Op::Sum) return merge_reduced_sum(v);
    if (v.op() != Op::Add) return Var();
    if (Var m = merge_gemms(v); m.defined()) return m;
    return merge_reductions(v);
  });
}

}  // namespace rnnc
