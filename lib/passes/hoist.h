// Internal to hoist_loops: what each value of a loop body is (per step, on a carry, a sequence's
// slice, an invariant), and its batched form over all T steps (Stacked), the building block of
// the work hoist_loops moves out of the loop.
#pragma once
#include <optional>
#include <unordered_map>
#include <vector>

#include "rnnc/passes.h"
#include "rnnc/scan.h"

namespace rnnc::hoisting {

struct Hoist {
  const Loop& L;
  std::vector<Var> bind;   // outer values bound to L.inputs
  std::vector<bool> live;  // per output of L: used outside
  std::unordered_map<const Node*, int> input_at;
  std::unordered_map<const Node*, bool> per_step;  // depends on a carry or x_t
  std::unordered_map<const Node*, bool> on_carry;  // depends on a carry

  Hoist(const Loop& l, std::vector<Var> b, std::vector<bool> lv) : L(l), bind(std::move(b)), live(std::move(lv)) {
    for (size_t i = 0; i < L.inputs.size(); ++i) input_at[L.inputs[i].node().get()] = static_cast<int>(i);
    for (const NodePtr& n : topo_order(L.outputs)) {
      bool s = false, c = false;
      if (auto it = input_at.find(n.get()); it != input_at.end()) {
        s = it->second < L.carries + L.xs;
        c = it->second < L.carries;
      }
      for (const NodePtr& in : n->inputs) {
        s |= per_step.at(in.get());
        c |= on_carry.at(in.get());
      }
      per_step[n.get()] = s;
      on_carry[n.get()] = c;
    }
  }

  bool is_step(const Var& v) const { return per_step.at(v.node().get()); }
  int sequence_of(const Var& v) const {
    auto it = input_at.find(v.node().get());
    return it != input_at.end() && it->second >= L.carries && it->second < L.carries + L.xs ? it->second : -1;
  }
  // An invariant body value as an outer value.
  Var outside(const Var& v) const {
    std::unordered_map<const Node*, Var> with;
    for (size_t i = L.carries + L.xs; i < L.inputs.size(); ++i) with.emplace(L.inputs[i].node().get(), bind[i]);
    return substitute({v}, with)[0];
  }
};

// [T, B, ...] -> [T*B, ...]
Var flat(const Var& stack);

// Step work for every step at once (stacked.cpp), memoised per body node.
class Stacked {
 public:
  explicit Stacked(const Hoist& h) : h(h) {}
  // n for every step, stacked [T, ...], or nothing when it has no known batched form (n must not
  // depend on a carry).
  std::optional<Var> vectorized(const NodePtr& n);
  // Whether computing n so takes a GEMM (after vectorized(n)).
  bool has_gemm(const Node* n) const {
    auto it = gemm_in.find(n);
    return it != gemm_in.end() && it->second;
  }
  // The size of the largest per-step value that step work n is computed from: the products and
  // sequence slices in it (what the loop would read per step if n were hoisted up to them).
  int64_t source_size(const NodePtr& n);

 private:
  const Hoist& h;
  std::unordered_map<const Node*, std::optional<Var>> vec_memo;
  std::unordered_map<const Node*, bool> gemm_in;
  std::unordered_map<const Node*, int64_t> source_memo;
};

}  // namespace rnnc::hoisting
