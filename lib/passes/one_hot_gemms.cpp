// one_hot_gemms: a GEMM with a one-hot operand picks rows; it need not multiply. A
// character model's input projection, one_hot(x) W, is a [T B, V] x [V, N] GEMM of which all but
// one term per sum is zero, and its weight gradient another of K = T B:
//
//   one_hot(i, V) W       -> gather(W, i)                 rows of W
//   one_hot(i, V)^T G     -> scatter_add(i, G, [V, N])    G's rows added at their indices
//   G^T one_hot(i, V)     -> scatter_add(i, G, [V, N])^T
//
// A one_hot reshaped into rows ([T, B, V] -> [T B, V]) counts. Exact for a finite W (the GEMM
// only adds zeros to the picked row); the scatter adds the same terms as the GEMM, in index order.
// gather reads its table whole and in order, so a transposed W (PyTorch's layout, x W^T) is copied
// first, V N values: up to 4 rows the GEMM by W^T costs less than that copy (gemv.h for one row),
// so they stay GEMMs; more rows are picked (min-char-rnn's 25 rows: there the GEMM costs more than
// the copy and the pick; docs/performance.md). A constant W (a sampling step's captured weights) is
// copied here, once, and picked whatever the rows.
//
// The bias of such a projection has for gradient the sum of G's rows, which every row's index
// sends to one row of the scatter's table: so it is the sum of the table's V rows, and the T B
// rows of G (large, read again from memory after the loop) are read once, by the scatter. The same terms, grouped by index. Not where G
// has no more rows than the table (a step of a few rows inside a recomputed segment).
#include <algorithm>
#include <numeric>
#include <unordered_map>

#include "rnnc/interpreter.h"
#include "rnnc/ops.h"
#include "rnnc/passes.h"

namespace rnnc {

namespace {

Var in(const Var& v, size_t i) { return Var(v->inputs[i]); }

// The indices, flattened to [M], when `a` is [M, V] rows of one_hot(i, V); else undefined.
Var one_hot_rows(const Var& a) {
  if (a.rank() != 2) return Var();
  const Var h = a.op() == Op::Reshape ? in(a, 0) : a;
  if (h.op() != Op::OneHot || h.shape().back() != a.shape()[1]) return Var();
  const Var i = in(h, 0);
  if (numel(i.shape()) != a.shape()[0]) return Var();
  return i.rank() == 1 ? i : reshape(i, {a.shape()[0]});
}

// x if v is transpose(x) of a matrix, else undefined.
Var transposed(const Var& v) { return v.op() == Op::Transpose && v.rank() == 2 ? in(v, 0) : Var(); }

Var rewrite_gemm(const Var& v) {
  if (v.op() != Op::MatMul || v.rank() != 2) return Var();
  const Var a = in(v, 0), b = in(v, 1);
  if (Var i = one_hot_rows(a); i.defined()) {                     // one_hot(i) W
    if (b.op() == Op::Transpose && in(b, 0).op() == Op::Literal)  // a constant W^T is copied once, now
      return gather(constant(evaluate({b}, {}, {})[0], b->loc), i);
    if (b.op() == Op::Transpose && a.shape()[0] <= 4) return Var();  // the GEMM costs less than the copy
    return gather(b, i);
  }
  const Var at = transposed(a);
  if (!at.defined()) return Var();
  if (Var i = one_hot_rows(at); i.defined()) return scatter_add(i, b, v.shape());  // one_hot(i)^T G
  if (Var i = one_hot_rows(b); i.defined())                                        // G^T one_hot(i), G = at
    return transpose(scatter_add(i, at, {b.shape()[1], at.shape()[1]}));
  return Var();
}

// What a value is a view of, looking through reshapes.
const Node* base(const Var& v) { return (v.op() == Op::Reshape ? in(v, 0) : v).node().get(); }

// sum(G) over all but its last axis, where scatter_add(i, G') is a table of G's rows (G' a reshape
// of G): the sum of the table's rows.
Var sum_of_scattered(const Var& v, const std::unordered_map<const Node*, Var>& scattered) {
  if (v.op() != Op::Sum) return Var();
  const Var x = in(v, 0);
  const auto it = scattered.find(base(x));
  if (it == scattered.end() || x.rank() < 2 || x.shape().back() != it->second.shape()[1]) return Var();
  std::vector<int64_t> axes = v->ints, leading(static_cast<size_t>(x.rank() - 1));
  std::sort(axes.begin(), axes.end());
  std::iota(leading.begin(), leading.end(), 0);
  if (axes != leading) return Var();
  if (numel(x.shape()) / x.shape().back() <= it->second.shape()[0]) return Var();  // no fewer rows to add
  return reshape(sum(it->second, {0}, true), v.shape());
}

}  // namespace

std::vector<Var> one_hot_gemms(const std::vector<Var>& outputs) {
  const std::vector<Var> picked = rewrite(outputs, rewrite_gemm);
  std::unordered_map<const Node*, Var> scattered;  // G's node (through a reshape) -> a scatter of its rows
  for (const NodePtr& n : topo_order(picked))
    if (n->op == Op::ScatterAdd && n->shape.size() == 2) scattered.emplace(base(Var(n->inputs[1])), Var(n));
  if (scattered.empty()) return picked;
  return rewrite(picked, [&](const Var& v) { return sum_of_scattered(v, scattered); });
}

}  // namespace rnnc
