// Reverse-mode automatic differentiation as a graph-to-graph transformation.
//
// grad(f) is a new Function whose outputs are the gradients of f's scalar output with respect to
// the chosen inputs; it is an ordinary graph, so the backward pass is optimised, compiled and run
// like any forward one. An unrolled recurrence differentiates into backpropagation through time;
// feeding the carried state in as an input truncates it there.
#pragma once
#include <array>
#include <functional>
#include <vector>

#include "rnnc/function.h"

namespace rnnc {

// A vector-Jacobian rule: given a node y (its inputs are y->inputs) and the cotangent g of y,
// returns one cotangent per input (an undefined Var where the input gets no gradient).
using GradRule = std::function<std::vector<Var>(const Var& y, const Var& g)>;

// A table of rules, one per op: a value, passed to vjp/grad. default_grad_rules() is the library's
// (lib/autodiff/grad_rules.cpp), a constant; `with` gives a copy with one rule replaced, for a test
// that needs a deliberately wrong rule or a user trying a custom derivative.
class GradRules {
 public:
  explicit GradRules(std::array<GradRule, kNumOps> rules) : rules_(std::move(rules)) {}
  const GradRule& operator[](Op op) const { return rules_[static_cast<int>(op)]; }
  bool has(Op op) const { return static_cast<bool>((*this)[op]); }
  GradRules with(Op op, GradRule rule) const {
    GradRules r = *this;
    r.rules_[static_cast<int>(op)] = std::move(rule);
    return r;
  }

 private:
  std::array<GradRule, kNumOps> rules_;
};
const GradRules& default_grad_rules();

// Cotangents of `wrt` given output cotangents `seeds` (one per output, same shapes).
// An input the outputs do not depend on gets zeros.
std::vector<Var> vjp(const std::vector<Var>& outputs, const std::vector<Var>& seeds, const std::vector<Var>& wrt,
                     const GradRules& rules = default_grad_rules());

// Gradient of a Function with one scalar output. `wrt` indexes f.inputs; empty = every floating input.
Function grad(const Function& f, std::vector<int> wrt = {}, const GradRules& rules = default_grad_rules());
// Outputs: f's output value, then the gradients. With has_aux (as in JAX), f's first output is the
// scalar to differentiate and its other outputs (a carried hidden state, say) are passed through:
// the result is (value, aux..., gradients...).
Function value_and_grad(const Function& f, std::vector<int> wrt = {}, bool has_aux = false,
                        const GradRules& rules = default_grad_rules());

}  // namespace rnnc
