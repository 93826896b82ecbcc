#include "passes/rewrite_loops.h"

#include <map>
#include <unordered_set>

#include "rnnc/scan.h"

namespace rnnc::loops {

std::vector<Var> rewrite_loops(const std::vector<Var>& outputs, const LoopRule& rule, const RewriteRule& other) {
  std::unordered_set<const Loop*> made;                                               // loops the rule built
  std::map<std::pair<const Loop*, std::vector<const Node*>>, std::vector<Var>> runs;  // run -> new outputs
  return rewrite(outputs, [&](const Var& v) -> Var {
    if (v.op() != Op::Scan) return other ? other(v) : Var();
    if (made.count(v->loop.get())) return {};
    std::vector<const Node*> key;
    for (const NodePtr& n : v->inputs) key.push_back(n.get());
    auto it = runs.find({v->loop.get(), key});
    if (it == runs.end()) {
      std::optional<Rebuilt> r = rule(*v->loop, std::vector<Var>(v->inputs.begin(), v->inputs.end()));
      std::vector<Var> outs;
      if (r) {
        made.insert(r->loop.get());
        outs = make_scan(r->loop, r->bind, v->loc);
      }
      it = runs.emplace(std::pair{v->loop.get(), key}, std::move(outs)).first;
    }
    return it->second.empty() ? Var() : it->second[v->ints[0]];
  });
}

}  // namespace rnnc::loops
