// The one rewrite driver every pass uses: a post-order rebuild that maps each old node to its new
// version. Rebuilt nodes are interned again, so equal results merge (CSE) as the graph is rebuilt.
#include <unordered_map>

#include "rnnc/error.h"
#include "rnnc/passes.h"

namespace rnnc {

std::vector<Var> rewrite(const std::vector<Var>& outputs, const RewriteRule& rule) {
  const std::vector<NodePtr> order = topo_order(outputs);
  std::unordered_map<const Node*, Var> done;
  done.reserve(order.size());
  for (const NodePtr& n : order) {
    bool changed = false;
    for (const NodePtr& in : n->inputs) changed |= done.at(in.get()).node() != in;
    Var v(n);
    if (changed) {  // rebuild with the new inputs (most nodes keep theirs: no copy)
      Node copy = *n;
      for (NodePtr& in : copy.inputs) in = done.at(in.get()).node();
      v = Var(intern(std::move(copy)));
    }
    for (int guard = 0; guard < 64; ++guard) {
      Var r = rule(v);
      if (!r.defined() || r.same(v)) break;
      if (r.shape() != v.shape() || r.dtype() != v.dtype())
        throw Error("rnnc: rewrite: a rule changed the type of a " + std::string(name_of(v.op())) + " node");
      v = r;
    }
    done[n.get()] = v;
  }
  std::vector<Var> result;
  for (const Var& o : outputs) result.push_back(done.at(o.node().get()));
  return result;
}

}  // namespace rnnc
