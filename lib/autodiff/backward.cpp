// Reverse mode as a graph-to-graph transformation: walk the forward graph from the outputs back to
// the inputs, applying each node's vector-Jacobian rule and summing the cotangents of nodes used
// more than once. An unrolled recurrence becomes backpropagation through time with no special case.
#include <fmt/format.h>

#include <map>
#include <unordered_map>
#include <unordered_set>

#include "grad_rules.h"
#include "rnnc/error.h"

namespace rnnc {

std::vector<Var> vjp(const std::vector<Var>& outputs, const std::vector<Var>& seeds, const std::vector<Var>& wrt,
                     const GradRules& rules) {
  if (outputs.size() != seeds.size())
    throw Error(fmt::format("rnnc: vjp: {} outputs but {} seeds", outputs.size(), seeds.size()));
  for (size_t i = 0; i < outputs.size(); ++i)
    if (seeds[i].shape() != outputs[i].shape() || seeds[i].dtype() != outputs[i].dtype())
      throw Error(fmt::format("rnnc: vjp: seed {} is {}{} but output {} is {}{}", i, name_of(seeds[i].dtype()),
                              to_string(seeds[i].shape()), i, name_of(outputs[i].dtype()),
                              to_string(outputs[i].shape())));

  const std::vector<NodePtr> order = topo_order(outputs);
  // Only nodes that depend on a differentiated input carry cotangents.
  std::unordered_set<const Node*> live;
  for (const Var& w : wrt) live.insert(w.node().get());
  for (const NodePtr& n : order) {
    if (live.count(n.get()) || !is_float(n->dtype) || n->op == Op::StopGradient) continue;
    for (const NodePtr& in : n->inputs)
      if (live.count(in.get())) {
        live.insert(n.get());
        break;
      }
  }

  std::unordered_map<const Node*, Var> cot;
  auto accumulate = [&](const Node* n, const Var& g) {
    auto [it, fresh] = cot.try_emplace(n, g);
    if (!fresh) it->second = it->second + g;  // a shared node's gradients add up
  };
  for (size_t i = 0; i < outputs.size(); ++i)
    if (live.count(outputs[i].node().get())) accumulate(outputs[i].node().get(), seeds[i]);

  // The outputs of one loop are differentiated together, when the reverse walk reaches the first
  // of them in topological order (all their consumers have been visited by then).
  std::map<LoopKey, std::vector<const Node*>> loop_outputs;
  std::unordered_set<const Node*> loop_first;
  for (const NodePtr& n : order)
    if (n->op == Op::Scan && live.count(n.get())) {
      auto& outs = loop_outputs[loop_key(*n)];
      if (outs.empty()) loop_first.insert(n.get());
      outs.push_back(n.get());
    }

  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    const NodePtr& n = *it;
    if (n->op == Op::Scan) {
      if (!loop_first.count(n.get())) continue;
      std::vector<Var> cots(n->loop->outputs.size());
      bool any = false;
      for (const Node* o : loop_outputs.at(loop_key(*n)))
        if (auto c = cot.find(o); c != cot.end()) {
          cots[o->ints[0]] = c->second;
          any = true;
          cot.erase(c);
        }
      if (!any) continue;
      std::vector<Var> grads = autodiff::scan_vjp(*n, cots, rules);
      for (size_t i = 0; i < grads.size(); ++i)
        if (grads[i].defined() && live.count(n->inputs[i].get())) accumulate(n->inputs[i].get(), grads[i]);
      continue;
    }
    auto c = cot.find(n.get());
    if (c == cot.end() || n->inputs.empty()) continue;
    const GradRule& rule = rules[n->op];
    if (!rule) throw Error(fmt::format("rnnc: grad: op {} has no gradient rule", name_of(n->op)));
    std::vector<Var> grads = rule(Var(n), c->second);
    if (grads.size() != n->inputs.size())
      throw Error(fmt::format("rnnc: grad: the rule of {} returned {} cotangents for {} inputs", name_of(n->op),
                              grads.size(), n->inputs.size()));
    for (size_t i = 0; i < grads.size(); ++i) {
      const Node* in = n->inputs[i].get();
      if (!grads[i].defined() || !live.count(in)) continue;
      if (grads[i].shape() != in->shape || grads[i].dtype() != in->dtype)
        throw Error(
            fmt::format("rnnc: grad: the rule of {} (built at {}) gave input {} a cotangent {}{} for a {}{} value",
                        name_of(n->op), where(n->loc), i, name_of(grads[i].dtype()), to_string(grads[i].shape()),
                        name_of(in->dtype), to_string(in->shape)));
      accumulate(in, grads[i]);
    }
    cot.erase(c);  // no longer needed: keeps the map small on long unrolled graphs
  }

  std::vector<Var> result;
  for (const Var& w : wrt) {
    auto c = cot.find(w.node().get());
    result.push_back(c != cot.end() ? c->second : zeros_like(w));
  }
  return result;
}

namespace {
std::vector<int> resolve_wrt(const std::vector<Var>& inputs, std::vector<int> wrt, const char* who) {
  if (wrt.empty())
    for (size_t i = 0; i < inputs.size(); ++i)
      if (is_float(inputs[i].dtype())) wrt.push_back(static_cast<int>(i));
  for (int i : wrt) {
    if (i < 0 || i >= static_cast<int>(inputs.size()))
      throw Error(
          fmt::format("rnnc: {}: input index {} out of range (the function has {} inputs)", who, i, inputs.size()));
    if (!is_float(inputs[i].dtype()))
      throw Error(fmt::format("rnnc: {}: input {} ('{}') is {}, which has no gradient", who, i, inputs[i]->name,
                              name_of(inputs[i].dtype())));
  }
  return wrt;
}

// Gradients of the single scalar output of `outputs` with respect to inputs[wrt].
std::vector<Var> scalar_grads(const std::vector<Var>& inputs, const std::vector<Var>& outputs,
                              const std::vector<int>& wrt, bool has_aux, const GradRules& rules, const char* who) {
  if ((outputs.size() != 1 && !has_aux) || outputs.empty() || outputs[0].numel() != 1 || !is_float(outputs[0].dtype()))
    throw Error(fmt::format(
        "rnnc: {}: needs a function with one floating scalar output, got {} output(s){}", who, outputs.size(),
        outputs.empty() ? ""
                        : fmt::format(", the first {}{}", name_of(outputs[0].dtype()), to_string(outputs[0].shape()))));
  std::vector<Var> targets;
  for (int i : wrt) targets.push_back(inputs[i]);
  return vjp({outputs[0]}, {ones_like(outputs[0])}, targets, rules);
}

// grad (with_value = false) or value_and_grad: (value, aux..., gradients...).
std::vector<Var> differentiate(const std::vector<Var>& inputs, const std::vector<Var>& outputs,
                               const std::vector<int>& wrt, bool with_value, bool has_aux, const GradRules& rules,
                               const char* who) {
  std::vector<Var> r = scalar_grads(inputs, outputs, wrt, has_aux, rules, who);
  if (with_value) r.insert(r.begin(), outputs.begin(), has_aux ? outputs.end() : outputs.begin() + 1);
  return r;
}

Function transform(const Function& f, std::vector<int> wrt, bool with_value, bool has_aux, const GradRules& rules,
                   const char* who) {
  wrt = resolve_wrt(f.inputs, std::move(wrt), who);
  Function g;
  g.inputs = f.inputs;
  g.outputs = differentiate(f.inputs, f.outputs, wrt, with_value, has_aux, rules, who);
  if (f.source)  // retracing differentiates with the same rules (a copy: the caller's may not outlive g)
    g.source = [src = f.source, wrt, with_value, has_aux, rules, who](std::span<const Var> in) {
      return differentiate(std::vector<Var>(in.begin(), in.end()), src(in), wrt, with_value, has_aux, rules, who);
    };
  return g;
}
}  // namespace

Function grad(const Function& f, std::vector<int> wrt, const GradRules& rules) {
  return transform(f, std::move(wrt), false, false, rules, "grad");
}
Function value_and_grad(const Function& f, std::vector<int> wrt, bool has_aux, const GradRules& rules) {
  return transform(f, std::move(wrt), true, has_aux, rules, "value_and_grad");
}

}  // namespace rnnc
