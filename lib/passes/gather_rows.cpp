// gather_rows. After hoist_loops and one_hot_gemms a character model's input projection
// is rows of a table plus a bias,
//
//   xs = reshape(gather(W, reshape(x, [T B])), [T, B, N]) + broadcast(b)
//
// a sequence the loop reads once, step by step: [T, B, N] floats written, read and written again
// by the bias add, then read. Always: the bias is added to the table's V rows instead, gather(W +
// b, x) (the same single addition per element: the same bits), which saves that pass and its
// buffer. With in_loops (the fastest plan, CompileOptions without a memory budget): the loop reads
// the indices x [T, B] and the table W + b [V, N], and its body gathers its B rows a step at a
// time, into a buffer that stays in cache (faster: docs/performance.md). That costs
// memory: the forward loop stacks its gates into the [T, B, 4H] buffer of the sequence it read, and
// the backward loop its gate gradients into the same buffer again; without it they need buffers of
// their own (a larger arena). A memory budget plans without it
// first (compile.cpp).
#include <algorithm>
#include <optional>

#include "passes/rewrite_loops.h"
#include "rnnc/ops.h"

namespace rnnc {

namespace {

Var in(const Var& v, size_t i) { return Var(v->inputs[i]); }

struct Gathered {
  Var table;    // [V, N], the bias added
  Var indices;  // [T, rest...]
};

// The table and indices of a sequence xs [T, rest..., N] of gathered rows (plus a bias [N]).
std::optional<Gathered> gathered(const Var& xs) {
  if (xs.rank() < 2) return std::nullopt;
  const int64_t N = xs.shape().back();
  Var v = xs, bias;
  if (v.op() == Op::Add) {
    for (size_t k : {0, 1}) {
      Var b = in(v, 1 - k);
      if (b.op() != Op::BroadcastTo) continue;
      while (b.op() == Op::BroadcastTo) b = in(b, 0);  // a broadcast of a broadcast, before simplify
      if (in(v, k).op() == Op::Reshape && b.numel() == N && b.shape().back() == N) {
        bias = reshape(b, {N});
        v = in(v, k);
        break;
      }
    }
    if (!bias.defined()) return std::nullopt;
  }
  if (v.op() != Op::Reshape || in(v, 0).op() != Op::Gather) return std::nullopt;
  const Var g = in(v, 0), table = in(g, 0), idx = in(g, 1);
  if (table.rank() != 2 || idx.rank() != 1 || table.shape()[1] != N) return std::nullopt;
  const Shape rows(xs.shape().begin(), xs.shape().end() - 1);
  if (numel(rows) != idx.numel()) return std::nullopt;
  return Gathered{bias.defined() ? table + broadcast_to(bias, table.shape()) : table, reshape(idx, rows)};
}

}  // namespace

std::vector<Var> gather_rows(const std::vector<Var>& outputs, bool in_loops) {
  // gather(W, x) + b -> gather(W + b, x), wherever it is.
  const RewriteRule fold = [](const Var& v) -> Var {
    if (v.op() != Op::Add) return {};
    const std::optional<Gathered> g = gathered(v);
    if (!g) return {};
    return reshape(gather(g->table, reshape(g->indices, {g->indices.numel()})), v.shape());
  };
  if (!in_loops) return rewrite(outputs, fold);
  return loops::rewrite_loops(
      outputs,
      [](const Loop& L, const std::vector<Var>& bind) -> std::optional<loops::Rebuilt> {
        // Only beside a GEMM: a body of elementwise work alone is one kernel whose loop runs with
        // the time axis inside (lower_loops.cpp's lanes_apart), which a gather step would split.
        const std::vector<NodePtr> body = topo_order(L.outputs);
        if (std::none_of(body.begin(), body.end(), [](const NodePtr& n) { return n->op == Op::MatMul; }))
          return std::nullopt;
        auto loop = std::make_shared<Loop>(L);
        std::vector<Var> new_bind = bind;
        std::unordered_map<const Node*, Var> with;
        for (int j = L.carries; j < L.carries + L.xs; ++j) {
          const std::optional<Gathered> g = gathered(bind[j]);
          if (!g) continue;
          const Var& x = L.inputs[j];  // [rest..., N]
          const Shape rows(x.shape().begin(), x.shape().end() - 1);
          const Var idx = input(rows, DType::i32, "rows"), table = input(g->table.shape(), g->table.dtype(), "table");
          with.emplace(x.node().get(), reshape(gather(table, reshape(idx, {numel(rows)})), x.shape()));
          loop->inputs[j] = idx;
          loop->inputs.push_back(table);
          new_bind[j] = g->indices;
          new_bind.push_back(g->table);
        }
        if (with.empty()) return std::nullopt;
        loop->outputs = substitute(L.outputs, with);
        return loops::Rebuilt{loop, new_bind};
      },
      fold);
}

}  // namespace rnnc
