// Internal to the loop passes: a loop with its outer bindings and Scan nodes, and absorb_steps.
#pragma once
#include <memory>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "rnnc/graph.h"

namespace rnnc::loops {

// A loop with every output (carries, then stacked ys) as Scan nodes (undefined where unused).
struct Run {
  std::shared_ptr<const Loop> loop;
  std::vector<Var> bind;
  std::vector<Var> outs;
};

// Per-step work outside a loop, moved into its body, so that no [T, ...] value of it is left
// outside (what recomputation needs: checkpoint_loops.cpp). Two kinds:
//   producers  a sequence computed step by step from others (one_hot(x) -> x_t; the output
//              layer's gradient dh from h, the labels and the loss's cotangent)
//   sums       a sum over the steps of values computed step by step (the loss; an output layer's
//              weight and bias gradients): a new carry that accumulates them
// A sum moves only when it reads a value in `touch` (the pair's stacked outputs). Returns the
// replacements (old node -> new value) for the graph, empty when nothing moved.
std::unordered_map<const Node*, Var> absorb_steps(const Run& run, const std::vector<Var>& outputs,
                                                  const std::unordered_set<const Node*>& touch);

}  // namespace rnnc::loops
