// Reverse-mode automatic differentiation as a graph-to-graph transformation.
//
// grad(f) is a new Function whose outputs are the gradients of f's scalar output with respect to
// the chosen inputs; it is an ordinary graph, so the backward pass is optimised, compiled and run
// like any forward one. An unrolled recurrence differentiates into backpropagation through time;
// feeding the carried state in as an input truncates it there.
#pragma once
#include <functional>
#include <vector>

#include "rnnc/function.h"

namespace rnnc {

// Cotangents of `wrt` given output cotangents `seeds` (one per output, same shapes).
// An input the outputs do not depend on gets zeros.
std::vector<Var> vjp(const std::vector<Var>& outputs, const std::vector<Var>& seeds,
                     const std::vector<Var>& wrt);

// Gradient of a Function with one scalar output. `wrt` indexes f.inputs; empty = every floating input.
Function grad(const Function& f, std::vector<int> wrt = {});
// Outputs: f's output value, then the gradients. With has_aux (as in JAX), f's first output is the
// scalar to differentiate and its other outputs (a carried hidden state, say) are passed through:
// the result is (value, aux..., gradients...).
Function value_and_grad(const Function& f, std::vector<int> wrt = {}, bool has_aux = false);

// A vector-Jacobian rule: given a node y (its inputs are y->inputs) and the cotangent g of y,
// returns one cotangent per input (an undefined Var where the input gets no gradient).
// The table of rules lives in lib/autodiff/grad_rules.cpp.
using GradRule = std::function<std::vector<Var>(const Var& y, const Var& g)>;

// Replaces an op's rule while alive (tests use it for a deliberately wrong rule; users may use it
// to try a custom derivative).
class ScopedGradRule {
 public:
  ScopedGradRule(Op op, GradRule rule);
  ~ScopedGradRule();
  ScopedGradRule(const ScopedGradRule&) = delete;
  ScopedGradRule& operator=(const ScopedGradRule&) = delete;

 private:
  Op op_;
  GradRule saved_;
};

// True when the op has an entry in the rule table (every op must; a test checks it).
bool has_grad_rule(Op op);

}  // namespace rnnc
