// Internal to the passes: rebuilding the runs of loops. A run is a loop with its outer bindings
// (its Scan nodes share both); a rule may give it a new body and new bindings, with the same
// outputs (same order, shapes and dtypes). Every Scan node of the run is replaced by the new
// run's, and everything reading them is rebuilt.
#pragma once
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "rnnc/passes.h"

namespace rnnc::loops {

struct Rebuilt {
  std::shared_ptr<const Loop> loop;
  std::vector<Var> bind;
};
// `bind`: the run's bindings, already rebuilt. nullopt keeps the run.
using LoopRule = std::function<std::optional<Rebuilt>(const Loop& loop, const std::vector<Var>& bind)>;

// rewrite() (passes.h) with `rule` applied once to each run of a loop, and `other` to every
// other node. Loops the rule built are not given to it again.
std::vector<Var> rewrite_loops(const std::vector<Var>& outputs, const LoopRule& rule, const RewriteRule& other = {});

}  // namespace rnnc::loops
