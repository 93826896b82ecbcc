// Passes over scans (see scan.h): merging the forward loops that autodiff extends, and optimising
// loop bodies. Moving work out of loops is hoist_loops.cpp.
#include <fmt/format.h>

#include <functional>
#include <map>
#include <optional>
#include <unordered_set>
#include <unordered_map>

#include "rnnc/passes.h"
#include "rnnc/scan.h"

namespace rnnc {

namespace {

using LoopPtr = std::shared_ptr<const Loop>;

std::vector<Var> replace_loops(const std::vector<Var>& outputs, const std::unordered_map<const Loop*, LoopPtr>& with) {
  if (with.empty()) return outputs;
  return rewrite(outputs, [&](const Var& v) -> Var {
    if (v.op() != Op::Scan) return {};
    auto it = with.find(v->loop.get());
    if (it == with.end()) return {};
    Node n = *v.node();
    n.loop = it->second;
    return Var(intern(std::move(n)));
  });
}

// A's outputs are the first outputs of B over the same body inputs (autodiff's extended loop).
bool extends(const Loop& b, const Loop& a) {
  if (b.outputs.size() <= a.outputs.size() || b.carries != a.carries || b.xs != a.xs || b.length != a.length ||
      b.reverse != a.reverse || b.inputs.size() != a.inputs.size())
    return false;
  for (size_t i = 0; i < a.inputs.size(); ++i)
    if (!a.inputs[i].same(b.inputs[i])) return false;
  for (size_t i = 0; i < a.outputs.size(); ++i)
    if (!a.outputs[i].same(b.outputs[i])) return false;
  return true;
}

}  // namespace

std::vector<Var> merge_loops(const std::vector<Var>& outputs) {
  std::map<std::vector<const Node*>, std::vector<LoopPtr>> by_bindings;
  for (const NodePtr& n : topo_order(outputs)) {
    if (n->op != Op::Scan) continue;
    std::vector<const Node*> key;
    for (const NodePtr& in : n->inputs) key.push_back(in.get());
    auto& loops = by_bindings[key];
    if (std::find(loops.begin(), loops.end(), n->loop) == loops.end()) loops.push_back(n->loop);
  }
  std::unordered_map<const Loop*, LoopPtr> into;
  for (auto& [key, loops] : by_bindings)
    for (const LoopPtr& a : loops) {
      LoopPtr best;
      for (const LoopPtr& b : loops)
        if (extends(*b, *a) && (!best || b->outputs.size() > best->outputs.size())) best = b;
      if (best) into[a.get()] = best;
    }
  return replace_loops(outputs, into);
}

std::vector<Var> optimize_loops(const std::vector<Var>& outputs) {
  std::unordered_map<const Loop*, LoopPtr> done;
  // Once per loop, not once per output (a loop's Scan nodes share it): bodies nest, and for
  // three levels of recomputation optimizing each once per output took seconds.
  std::unordered_set<const Loop*> seen;
  for (const NodePtr& n : topo_order(outputs)) {
    if (n->op != Op::Scan || !seen.insert(n->loop.get()).second) continue;
    Function body;
    body.inputs = n->loop->inputs;
    body.outputs = n->loop->outputs;
    Function opt = optimize(body);
    bool same = true;
    for (size_t i = 0; i < opt.outputs.size(); ++i) same &= opt.outputs[i].same(body.outputs[i]);
    if (same) continue;
    auto l = std::make_shared<Loop>(*n->loop);
    l->outputs = opt.outputs;
    done.emplace(n->loop.get(), std::move(l));
  }
  return replace_loops(outputs, done);
}

}  // namespace rnnc
