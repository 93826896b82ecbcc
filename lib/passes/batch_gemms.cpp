// GEMMs that share one operand and whose other operands do not depend on one another's results
// become one GEMM over the stacked operands, each original GEMM a slice of its result:
//
//   x_1 W, x_2 W, ..., x_T W   ->   [x_1; ...; x_T] W, sliced by rows
//   W x_1, ..., W x_T          ->   W [x_1 ... x_T], sliced by columns
//
// This is the input projection of all time steps as one GEMM before the recurrence (and, in the
// backward pass, the input gradient of all steps as one GEMM after it), found in any graph: a
// user's cell gets it too. The recurrent product h_{t-1} U is left alone, because h_{t-1} depends
// on the previous step's product: the check below is exactly that dependence.
#include <algorithm>
#include <map>
#include <unordered_map>

#include "rnnc/ops.h"
#include "rnnc/passes.h"

namespace rnnc {

namespace {

struct Key {
  const Node* shared;
  int side;  // 1: the right operand is shared, 0: the left one
  Shape other;
  bool operator<(const Key& k) const { return std::tie(shared, side, other) < std::tie(k.shared, k.side, k.other); }
};

// One round: merges the first eligible group; returns whether it did.
bool merge_one(std::vector<Var>& outputs) {
  const std::vector<NodePtr> order = topo_order(outputs);
  std::unordered_map<const Node*, int> pos;
  for (size_t i = 0; i < order.size(); ++i) pos[order[i].get()] = static_cast<int>(i);
  std::map<Key, std::vector<int>> groups;
  for (size_t i = 0; i < order.size(); ++i) {
    const Node& n = *order[i];
    if (n.op != Op::MatMul || n.inputs[0]->shape.size() != 2 || n.inputs[1]->shape.size() != 2) continue;
    groups[Key{n.inputs[1].get(), 1, n.inputs[0]->shape}].push_back(static_cast<int>(i));
    groups[Key{n.inputs[0].get(), 0, n.inputs[1]->shape}].push_back(static_cast<int>(i));
  }
  for (const auto& [key, members] : groups) {
    if (members.size() < 3) continue;
    // Does any member's other operand depend on a member's result?
    std::vector<char> member(order.size(), 0), tainted(order.size(), 0);
    for (int m : members) member[m] = 1;
    for (size_t i = 0; i < order.size(); ++i)
      for (const NodePtr& in : order[i]->inputs) {
        const int j = pos.at(in.get());
        if (member[j] || tainted[j]) tainted[i] = 1;
      }
    bool independent = true;
    for (int m : members) {
      const int other = pos.at(order[m]->inputs[key.side == 1 ? 0 : 1].get());
      independent &= !tainted[other] && !member[other];
    }
    if (!independent) continue;
    std::vector<int> ordered = members;
    const int side = key.side == 1 ? 0 : 1;  // which input of each member is stacked
    const int64_t axis = key.side == 1 ? 0 : 1, extent = key.other[axis];
    // Stack in the order of an existing concatenation of the same operands, if there is one (the
    // weight gradient's [dg_1; ...; dg_T] from merge_sums): then both share one buffer. Otherwise in
    // creation order, which for a forward pass is time order.
    std::sort(ordered.begin(), ordered.end(),
              [&](int a, int b) { return order[a]->inputs[side]->seq < order[b]->inputs[side]->seq; });
    std::vector<const Node*> want;
    for (int m : ordered) want.push_back(order[m]->inputs[side].get());
    std::sort(want.begin(), want.end());
    for (const NodePtr& n : order) {
      if (n->op != Op::Concat || n->ints[0] != axis || n->inputs.size() != members.size()) continue;
      std::vector<const Node*> have;
      for (const NodePtr& in : n->inputs) have.push_back(in.get());
      std::vector<const Node*> sorted = have;
      std::sort(sorted.begin(), sorted.end());
      if (sorted != want) continue;
      for (size_t k = 0; k < have.size(); ++k)
        for (int m : members)
          if (order[m]->inputs[side].get() == have[k]) ordered[k] = m;
      break;
    }
    std::vector<Var> parts;
    for (int m : ordered) parts.push_back(Var(order[m]->inputs[side]));
    const Var shared(order[members[0]]->inputs[key.side == 1 ? 1 : 0]);
    const Var big = key.side == 1 ? matmul(concat(parts, 0), shared) : matmul(shared, concat(parts, 1));
    std::unordered_map<const Node*, Var> repl;
    for (size_t k = 0; k < ordered.size(); ++k)
      repl[order[ordered[k]].get()] =
          slice(big, axis, static_cast<int64_t>(k) * extent, static_cast<int64_t>(k + 1) * extent);
    outputs = rewrite(outputs, [&](const Var& v) -> Var {
      auto it = repl.find(v.node().get());
      return it == repl.end() ? Var() : it->second;
    });
    return true;
  }
  return false;
}

}  // namespace

std::vector<Var> batch_gemms(const std::vector<Var>& outputs) {
  std::vector<Var> out = outputs;
  for (int round = 0; round < 64 && merge_one(out); ++round) {}
  return out;
}

}  // namespace rnnc
