#include "onnx/cells.h"

#include <functional>
#include <unordered_set>

#include "rnnc/cells.h"

namespace rnnc::onnx_export {

namespace {

// The body's weight candidates: its invariant inputs and the constants it holds.
std::vector<NodePtr> leaves(const Loop& loop) {
  std::vector<NodePtr> out;
  for (int i = loop.carries + loop.xs; i < static_cast<int>(loop.inputs.size()); ++i)
    out.push_back(loop.inputs[static_cast<size_t>(i)].node());
  std::unordered_set<const Node*> seen;
  for (const NodePtr& n : out) seen.insert(n.get());
  for (const NodePtr& n : topo_order(loop.outputs))
    if ((n->op == Op::Literal || n->op == Op::Full) && n->rank() > 0 && seen.insert(n.get()).second) out.push_back(n);
  return out;
}

// The loop's outputs as scan() builds them around `next` carries and output `y` (scan.cpp):
// with a mask, a row past its length keeps its carry and outputs zero.
std::vector<Var> as_scan_builds(const Loop& loop, std::vector<Var> next, Var y, bool masked) {
  if (masked) {
    const Var& m = loop.inputs[static_cast<size_t>(loop.carries + loop.xs - 1)];
    auto rows = [&](const Var& v) {
      Shape s(static_cast<size_t>(v.rank()), 1);
      s[0] = m.shape()[0];
      return reshape(m, s);
    };
    for (size_t i = 0; i < next.size(); ++i) next[i] = where(rows(next[i]), next[i], loop.inputs[i]);
    y = where(rows(y), y, 0.0);
  }
  next.push_back(y);
  return next;
}

bool same(const std::vector<Var>& a, const std::vector<Var>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (!a[i].same(b[i])) return false;
  return true;
}

}  // namespace

std::optional<CellMatch> match_cell(const Loop& loop) {
  const bool masked = loop.xs == 2;
  if (loop.xs != 1 + (masked ? 1 : 0) || loop.ys() != 1 || loop.carries < 1 || loop.carries > 2) return std::nullopt;
  const Var& h = loop.inputs[0];
  const Var& x = loop.inputs[static_cast<size_t>(loop.carries)];
  if (h.rank() != 2 || x.rank() != 2 || h.dtype() != x.dtype()) return std::nullopt;
  const int64_t H = h.shape()[1], I = x.shape()[1];
  const std::vector<NodePtr> cands = leaves(loop);

  std::optional<CellMatch> found;
  // Tries every assignment of same-shaped candidates to the four weights of a cell of `gates`.
  using Try = std::function<bool(const NodePtr&, const NodePtr&, const NodePtr&, const NodePtr&)>;
  auto each = [&](int gates, const Try& try_one) {
    auto shaped = [&](Shape s) {
      std::vector<NodePtr> out;
      for (const NodePtr& n : cands)
        if (n->shape == s && n->dtype == h.dtype()) out.push_back(n);
      return out;
    };
    for (const NodePtr& wi : shaped({gates * H, I}))
      for (const NodePtr& wh : shaped({gates * H, H}))
        for (const NodePtr& bi : shaped({gates * H}))
          for (const NodePtr& bh : shaped({gates * H}))
            if (wi != wh && bi != bh && try_one(wi, wh, bi, bh)) return;
  };
  auto gates = [](auto cell, const NodePtr& wi, const NodePtr& wh, const NodePtr& bi, const NodePtr& bh) {
    cell.weight_ih = Var(wi);
    cell.weight_hh = Var(wh);
    cell.bias_ih = Var(bi);
    cell.bias_hh = Var(bh);
    return cell;
  };
  if (loop.carries == 2) {
    const Var& c = loop.inputs[1];
    if (c.shape() != h.shape()) return std::nullopt;
    each(4, [&](const NodePtr& wi, const NodePtr& wh, const NodePtr& bi, const NodePtr& bh) {
      const nn::LSTMState next = gates(nn::LSTMCell{}, wi, wh, bi, bh)(x, nn::LSTMState{h, c});
      if (!same(as_scan_builds(loop, {Var(next.h), Var(next.c)}, Var(next.h), masked), loop.outputs)) return false;
      found = CellMatch{CellMatch::Kind::Lstm, wi, wh, bi, bh, masked, H};
      return true;
    });
    return found;
  }
  each(3, [&](const NodePtr& wi, const NodePtr& wh, const NodePtr& bi, const NodePtr& bh) {
    const nn::Hidden next = gates(nn::GRUCell{}, wi, wh, bi, bh)(x, nn::Hidden{h});
    if (!same(as_scan_builds(loop, {Var(next.h)}, Var(next.h), masked), loop.outputs)) return false;
    found = CellMatch{CellMatch::Kind::Gru, wi, wh, bi, bh, masked, H};
    return true;
  });
  if (found) return found;
  each(1, [&](const NodePtr& wi, const NodePtr& wh, const NodePtr& bi, const NodePtr& bh) {
    for (bool relu : {false, true}) {
      nn::RNNCell cell = gates(nn::RNNCell{}, wi, wh, bi, bh);
      cell.relu = relu;
      const nn::Hidden next = cell(x, nn::Hidden{h});
      if (!same(as_scan_builds(loop, {Var(next.h)}, Var(next.h), masked), loop.outputs)) continue;
      found = CellMatch{relu ? CellMatch::Kind::RnnRelu : CellMatch::Kind::RnnTanh, wi, wh, bi, bh, masked, H};
      return true;
    }
    return false;
  });
  return found;
}

}  // namespace rnnc::onnx_export
