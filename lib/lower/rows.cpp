// Work along rows: a kernel whose domain's last axis is reduced and read back in the same row runs
// each row in passes (KernelDesc::passes); here are the row values it reads (row_value), the
// values a later pass needs again and is given from memory rather than recomputing
// (keep_across_passes), and the kernels whose stores reduce along their outer axis, cut into
// chunks with partial sums (partial_sums).
#include <algorithm>
#include <vector>

#include "lower/lowerer.h"

namespace rnnc::lower::detail {

Shape Lowerer::row_shape(int g) const {
  Shape row = groups_[g].domain;
  if (row.empty() || row.back() == 1) return {};
  row.back() = 1;
  return row;
}

bool Lowerer::per_row(const Shape& shape, int g) const {
  const Shape row = row_shape(g);
  return !row.empty() && (shape == row || shape == Shape(row.begin(), row.end() - 1));
}

int Lowerer::same_point(int r, int g) const {
  const Info& in = info_[r];
  if (g < 0 || !in.has_access || (in.kind != Kind::View && in.kind != Kind::Alias)) return -1;
  const int q = viewed(r);
  const Info& v = info_[q];
  const Shape points = squeezed(groups_[g].domain);
  if (v.group != g || v.kind != Kind::Compute || !is_root(q) || !v.has_access || squeezed(order_[q]->shape) != points ||
      squeezed(order_[r]->shape) != points)
    return -1;
  // The same element at every point: the same place, moving alike along the axes that are not 1.
  auto moving = [](const Access& a) {
    std::vector<int64_t> st;
    for (size_t k = 0; k < a.shape.size(); ++k)
      if (a.shape[k] != 1) st.push_back(a.strides[k]);
    return st;
  };
  const Access &a = in.access, &w = v.access;
  return a.buf == w.buf && a.offset == w.offset && a.dtype == w.dtype && moving(a) == moving(w) ? q : -1;
}

int Lowerer::row_value(int r, int g) const {
  if (g < 0 || !info_[r].has_access) return -1;
  const int q = viewed(r);
  const Info& v = info_[q];
  const Shape row = row_shape(g);
  if (v.group != g || !per_row(order_[q]->shape, g) || !v.has_access) return -1;
  if (v.kind == Kind::Reduce ? order_[q]->inputs[0]->shape != groups_[g].domain
                             : v.kind != Kind::Compute || !is_root(q))
    return -1;
  // r must read, at each point of g's domain, the element of its row: the same place but along
  // the last axis, which it does not move along (or lacks: a value of one per row).
  const Access& a = info_[r].access;
  const Access& w = v.access;
  if (a.buf != w.buf || a.offset != w.offset || a.dtype != w.dtype ||
      (a.shape.size() != row.size() && !per_row(a.shape, g)))
    return -1;
  for (size_t k = 0; k + 1 < row.size(); ++k)
    if (row[k] != 1 && a.strides[k] != w.strides[k]) return -1;
  return a.shape.size() < row.size() || a.shape.back() == 1 || a.strides.back() == 0 ? q : -1;
}

void Lowerer::partial_sums(KernelStep& k, const KernelDesc& d) {
  if (k.splittable || d.domain.size() < 2 || k.outer < kPartialChunks || k.points < kPartialPoints) return;
  std::vector<int> fills;
  for (const Store& st : d.stores) {
    if (d.args[st.arg].strides[0] != 0) continue;
    // Only reductions can be cut: a plain store along the axis would be written by every chunk.
    auto f = std::find_if(k.fills.begin(), k.fills.end(), [&](const exec::Fill& x) { return x.arg == st.arg; });
    if (st.reduce == Op::Input || f == k.fills.end()) return;
    const int at = static_cast<int>(f - k.fills.begin());
    if (std::find(fills.begin(), fills.end(), at) == fills.end()) fills.push_back(at);
  }
  for (int f : fills) {
    const DType t = k.args[k.fills[f].arg].dtype;
    s_.buffers.push_back(ArenaBuffer{(kPartialChunks - 1) * k.fills[f].count * static_cast<int64_t>(size_of(t)), -1});
    const BufferRef copies{Space::Arena, static_cast<int>(s_.buffers.size() - 1)};
    k.partials.push_back(exec::Partial{f, home(copies, t, {(kPartialChunks - 1) * k.fills[f].count})});
  }
  k.chunks = kPartialChunks;
}

// Compute instructions in v's expression (loads, constants and totals are free).
static int work(const KernelDesc& d, int v, std::vector<bool>& seen) {
  if (v < 0 || seen[v]) return 0;
  seen[v] = true;
  const Instr& in = d.code[v];
  const bool free = in.op == Op::Input || in.op == Op::Full || in.op == Op::Sum || in.op == Op::Max;
  return (free ? 0 : 1) + work(d, in.a, seen) + work(d, in.b, seen) + work(d, in.c, seen);
}

// Per instruction, the latest pass that computes it at the points of a row (-1: none): each pass
// computes what its stores need, down to row values and to values an earlier pass wrote.
static std::vector<int> latest_pass(const KernelDesc& d) {
  const KernelDesc::Passes p = d.passes();
  const KernelDesc::Rows rows = d.rows();
  std::vector<int> latest(d.code.size(), -1);
  for (int q = 0; q < p.count; ++q) {
    std::vector<int> todo;
    for (size_t s = 0; s < d.stores.size(); ++s)
      if (p.of_store[s] == q && !rows.store[s]) todo.push_back(d.stores[s].value);
    std::vector<bool> seen(d.code.size(), false);
    while (!todo.empty()) {
      const int i = todo.back();
      todo.pop_back();
      if (i < 0 || seen[i] || rows.instr[i]) continue;
      seen[i] = true;
      if (p.of_instr[i] < q && rows.kept[i] >= 0) continue;  // read back
      latest[i] = std::max(latest[i], q);
      todo.insert(todo.end(), {d.code[i].a, d.code[i].b, d.code[i].c});
    }
  }
  return latest;
}

static bool costly(Op op) {
  switch (op) {
    case Op::Exp:
    case Op::Log:
    case Op::Tanh:
    case Op::Sigmoid:
    case Op::Softplus:
    case Op::Sqrt:
    case Op::Div:
    case Op::Pow: return true;
    default: return false;
  }
}

void Lowerer::keep_across_passes(KernelBuilder& kb, int g) {
  const Group& gr = groups_[g];
  if (kb.desc.passes().count == 1) return;
  const std::vector<int> of_instr = kb.desc.passes().of_instr;
  // A kept value lives in a row on the kernel's stack (KernelArg::row_local) while the rows stay
  // small, else in a buffer of the whole domain. (The arena's row only gives the argument a place.)
  int64_t stack = 0;
  auto keep = [&](int v, DType t) {
    const int64_t row_bytes = gr.domain.back() * static_cast<int64_t>(size_of(t));
    const bool local = stack + row_bytes <= kRowStackBytes;
    Shape shape = gr.domain;
    if (local) {
      std::fill(shape.begin(), shape.end() - 1, 1);
      stack += row_bytes;
    }
    s_.buffers.push_back(ArenaBuffer{static_cast<int64_t>(numel(shape) * size_of(t)), -1});
    const int a = kb.arg(home(BufferRef{Space::Arena, static_cast<int>(s_.buffers.size() - 1)}, t, shape));
    kb.desc.args[a].row_local = local;
    kb.desc.stores.push_back(Store{v, a, Op::Input});
  };
  // Roots of some weight (an LSTM's cell state: three activations and their sums)...
  std::vector<int> latest = latest_pass(kb.desc);
  for (int r : gr.roots) {
    if (info_[r].kind == Kind::Reduce || order_[r]->shape != gr.domain) continue;
    const int v = kb.memo.at(r);
    std::vector<bool> seen(kb.desc.code.size(), false);
    if (latest[v] > of_instr[v] && kb.desc.rows().kept[v] < 0 && work(kb.desc, v, seen) >= 3) keep(v, order_[r]->dtype);
  }
  // ...then single activations a later pass still needs (the gates a backward pass reads again),
  // the latest first: one kept may spare the pass the values it is made from.
  for (int v = static_cast<int>(kb.desc.code.size()); v-- > 0;) {
    if (!costly(kb.desc.code[v].op)) continue;
    latest = latest_pass(kb.desc);
    if (latest[v] > of_instr[v] && kb.desc.rows().kept[v] < 0 && !kb.desc.rows().instr[v])
      keep(v, kb.desc.code[v].dtype);
  }
}

}  // namespace rnnc::lower::detail
