// The vector-Jacobian product of a scan: backpropagation through time as a reverse scan.
//
// For a body (c, x_t, k) -> (c', y_t), autodiff of the body gives, per step,
//   dc = (dc' , dy_t) -> d c      dx_t = ...      dk_t = ...     (the body's own VJP, any ops)
// The VJP graph reads some forward values of the step (the gates, tanh(c), h_{t-1}): those are the
// residuals. The forward loop is extended to stack them ([T, ...], the memory BPTT must keep) and
// the backward loop runs the step's VJP from t = T-1 down to 0 over them, carrying dc and
// accumulating dk = sum_t dk_t; the dx_t come out stacked. Nothing here knows any cell: the
// compiler later turns the accumulations into one GEMM after the loop (passes/loops.cpp).
#include <fmt/format.h>

#include <algorithm>
#include <functional>
#include <unordered_map>
#include <unordered_set>

#include "grad_rules.h"
#include "rnnc/error.h"
#include "rnnc/scan.h"

namespace rnnc::autodiff {

namespace {

// One step's VJP: the cotangent of every float carry (it flows from step to step) and of every y
// that has one are the seeds; g holds the gradients of the body's float inputs (wrt).
struct StepVjp {
  std::vector<Var> seeds, carry_seeds, y_seeds;
  std::vector<int> float_carries, seeded_ys;
  std::vector<int> wrt;                  // body inputs that get gradients
  std::unordered_map<int, size_t> g_at;  // body input -> position in g
  std::vector<Var> g;
};

StepVjp step_vjp(const Loop& L, const std::vector<Var>& cots, const GradRules& rules) {
  StepVjp s;
  std::vector<Var> outs;
  for (int k = 0; k < L.carries; ++k) {
    if (!is_float(L.outputs[k].dtype())) continue;
    s.float_carries.push_back(k);
    s.carry_seeds.push_back(input(L.outputs[k].shape(), L.outputs[k].dtype(), fmt::format("d_carry{}", k)));
    outs.push_back(L.outputs[k]);
    s.seeds.push_back(s.carry_seeds.back());
  }
  for (int j = 0; j < L.ys(); ++j) {
    if (!cots[L.carries + j].defined()) continue;
    s.seeded_ys.push_back(j);
    s.y_seeds.push_back(
        input(L.outputs[L.carries + j].shape(), L.outputs[L.carries + j].dtype(), fmt::format("d_y{}", j)));
    outs.push_back(L.outputs[L.carries + j]);
    s.seeds.push_back(s.y_seeds.back());
  }
  std::vector<Var> wrt_vars;
  for (size_t i = 0; i < L.inputs.size(); ++i)
    if (is_float(L.inputs[i].dtype())) {
      s.g_at[static_cast<int>(i)] = s.wrt.size();
      s.wrt.push_back(static_cast<int>(i));
      wrt_vars.push_back(L.inputs[i]);
    }
  s.g = vjp(outs, s.seeds, wrt_vars, rules);
  return s;
}

// Residuals: values of the forward step (depending on c or x_t, not on a seed) that the VJP reads,
// less those the backward step recomputes more cheaply than the forward loop could stack them.
std::vector<Var> residuals_of(const Loop& L, const StepVjp& s) {
  std::unordered_set<const Node*> seed_nodes, step_nodes;
  for (const Var& v : s.seeds) seed_nodes.insert(v.node().get());
  for (int i = 0; i < L.carries + L.xs; ++i) step_nodes.insert(L.inputs[i].node().get());
  std::unordered_set<const Node*> on_seed, on_step;
  std::vector<Var> residuals;
  std::unordered_set<const Node*> is_residual;
  auto add_residual = [&](const NodePtr& n) {
    if (on_step.count(n.get()) && !on_seed.count(n.get()) && is_residual.insert(n.get()).second)
      residuals.push_back(Var(n));
  };
  for (const NodePtr& n : topo_order(s.g)) {
    bool sd = seed_nodes.count(n.get()) > 0, f = step_nodes.count(n.get()) > 0;
    for (const NodePtr& in : n->inputs) {
      sd |= on_seed.count(in.get()) > 0;
      f |= on_step.count(in.get()) > 0;
    }
    if (sd) on_seed.insert(n.get());
    if (f) on_step.insert(n.get());
    if (sd)
      for (const NodePtr& in : n->inputs) add_residual(in);
  }
  for (const Var& v : s.g) add_residual(v.node());
  // Save less: a view of a residual, or an elementwise value computed from residuals by a few
  // elementwise ops (1 - s, tanh(c), c itself from the gates), is recomputed by the backward step
  // instead of stacked. Latest first, so a chain of them is recomputed from the values it starts from.
  std::unordered_set<const Node*> keep(is_residual);
  auto cheap = [](const Node& n) {
    const OpClass cls = info(n.op).cls;
    return !n.inputs.empty() && ((cls == OpClass::Elementwise && n.op != Op::OneHot) || cls == OpClass::Broadcast ||
                                 n.op == Op::Transpose || n.op == Op::Reshape || n.op == Op::Slice);
  };
  std::function<bool(const Node&, int)> recomputable = [&](const Node& n, int depth) {
    if (!on_step.count(&n) || keep.count(&n)) return true;
    if (depth == 0 || !cheap(n)) return false;
    for (const NodePtr& in : n.inputs)
      if (!recomputable(*in, depth - 1)) return false;
    return true;
  };
  std::vector<Var> candidates = residuals;  // add_residual may append below
  std::sort(candidates.begin(), candidates.end(), [](const Var& a, const Var& b) { return a->seq > b->seq; });
  for (const Var& r : candidates) {
    const Node& n = *r.node();
    if (!cheap(n)) continue;
    keep.erase(&n);
    bool ok = true;
    for (const NodePtr& in : n.inputs) ok &= recomputable(*in, 3);
    if (ok) continue;
    // A view of a step value not yet saved: save the value under it instead.
    if (n.inputs.size() == 1 && info(n.op).cls != OpClass::Elementwise && on_step.count(n.inputs[0].get())) {
      add_residual(n.inputs[0]);
      keep.insert(n.inputs[0].get());
      continue;
    }
    keep.insert(&n);
  }
  std::erase_if(residuals, [&](const Var& v) { return !keep.count(v.node().get()); });
  return residuals;
}

// Where the backward loop reads each residual: the forward loop, extended to stack those it
// computes, or the sequence it is (x_t is already stacked).
std::vector<Var> stacked_residuals(const Node& scan, const std::vector<Var>& bindings,
                                   const std::vector<Var>& residuals) {
  const Loop& L = *scan.loop;
  std::unordered_map<const Node*, int> x_index;
  for (int j = 0; j < L.xs; ++j) x_index[L.inputs[L.carries + j].node().get()] = j;
  auto forward = std::make_shared<Loop>(L);
  std::vector<int> saved_at(residuals.size(), -1);
  for (size_t r = 0; r < residuals.size(); ++r)
    if (!x_index.count(residuals[r].node().get())) {
      saved_at[r] = static_cast<int>(forward->outputs.size());
      forward->outputs.push_back(residuals[r]);
    }
  std::vector<Var> fwd_out;
  if (forward->outputs.size() != L.outputs.size()) fwd_out = make_scan(forward, bindings, scan.loc);
  std::vector<Var> stacked;
  for (size_t r = 0; r < residuals.size(); ++r)
    stacked.push_back(saved_at[r] >= 0 ? fwd_out[saved_at[r]]
                                       : bindings[L.carries + x_index.at(residuals[r].node().get())]);
  return stacked;
}

}  // namespace

std::vector<Var> scan_vjp(const Node& scan, const std::vector<Var>& cots, const GradRules& rules) {
  const Loop& L = *scan.loop;
  const int nc = L.carries, nx = L.xs, nk = L.invariants();
  std::vector<Var> bindings;
  for (const NodePtr& b : scan.inputs) bindings.push_back(Var(b));
  const StepVjp s = step_vjp(L, cots, rules);
  const std::vector<Var>& g = s.g;
  const std::vector<Var> residuals = residuals_of(L, s);
  const std::vector<Var> stacked = stacked_residuals(scan, bindings, residuals);

  // The backward loop: carries dc and the dk accumulators; sequences dy_t and the residuals.
  auto backward = std::make_shared<Loop>();
  backward->length = L.length;
  backward->reverse = !L.reverse;
  std::vector<Var> b_init, b_xs;
  std::vector<Var> b_carry_out, b_ys;
  for (size_t q = 0; q < s.float_carries.size(); ++q) {
    const int k = s.float_carries[q];
    backward->inputs.push_back(s.carry_seeds[q]);
    b_init.push_back(cots[k].defined() ? cots[k] : zeros_like(bindings[k]));
  }
  std::vector<int> inv_grads;  // invariants with an accumulator
  for (size_t q = 0; q < s.float_carries.size(); ++q) b_carry_out.push_back(g[s.g_at.at(s.float_carries[q])]);
  for (int i = nc + nx; i < nc + nx + nk; ++i) {
    if (!s.g_at.count(i)) continue;
    inv_grads.push_back(i);
    Var acc = input(L.inputs[i].shape(), L.inputs[i].dtype(), fmt::format("d_{}", L.inputs[i]->name));
    backward->inputs.push_back(acc);
    b_init.push_back(zeros_like(bindings[i]));
    b_carry_out.push_back(acc + g[s.g_at.at(i)]);
  }
  backward->carries = static_cast<int>(backward->inputs.size());
  for (size_t q = 0; q < s.seeded_ys.size(); ++q) {
    backward->inputs.push_back(s.y_seeds[q]);
    b_xs.push_back(cots[nc + s.seeded_ys[q]]);
  }
  std::unordered_map<const Node*, Var> cut;
  for (size_t r = 0; r < residuals.size(); ++r) {
    const Var& v = residuals[r];
    Var in = input(v.shape(), v.dtype(), fmt::format("saved{}", r));
    cut.emplace(v.node().get(), in);
    backward->inputs.push_back(in);
    b_xs.push_back(stacked[r]);
  }
  backward->xs = static_cast<int>(backward->inputs.size()) - backward->carries;
  for (int i = nc + nx; i < nc + nx + nk; ++i) backward->inputs.push_back(L.inputs[i]);
  for (int j = 0; j < nx; ++j)
    if (s.g_at.count(nc + j)) b_ys.push_back(g[s.g_at.at(nc + j)]);
  std::vector<Var> b_out = b_carry_out;
  b_out.insert(b_out.end(), b_ys.begin(), b_ys.end());
  backward->outputs = substitute(b_out, cut);

  std::vector<Var> b_bind = b_init;
  b_bind.insert(b_bind.end(), b_xs.begin(), b_xs.end());
  for (int i = nc + nx; i < nc + nx + nk; ++i) b_bind.push_back(bindings[i]);
  std::vector<Var> res = make_scan(backward, b_bind, scan.loc);

  std::vector<Var> result(bindings.size());
  for (size_t q = 0; q < s.float_carries.size(); ++q) result[s.float_carries[q]] = res[q];
  for (size_t q = 0; q < inv_grads.size(); ++q) result[inv_grads[q]] = res[s.float_carries.size() + q];
  size_t y = 0;
  for (int j = 0; j < nx; ++j)
    if (s.g_at.count(nc + j)) result[nc + j] = res[backward->carries + y++];
  return result;
}

}  // namespace rnnc::autodiff
