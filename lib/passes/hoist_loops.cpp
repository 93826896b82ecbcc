// hoist_loops: what the fastest RNN implementations do by hand, found in any loop body (see
// passes.h). One Hoister per loop; each method is one transformation, in the order run() applies
// them.
//
//   input projection   x_t W (W invariant) for every t   -> one GEMM [T B, I] x W before the loop
//                      (and what follows it before a carry joins in: the bias, a GRU's split)
//   output projection  y_t = e_t W (or sum_i e_it W_i)   -> the loop outputs e_t; a GEMM after it
//   carry-free output  y_t = f(x_t) with a GEMM in f      -> computed for all steps before the loop
//                      (a gate of x_t alone, stacked for the backward pass: minGRU, QRNN)
//   accumulation       a_{t+1} = a_t + p_t^T q_t          -> the loop outputs p_t, q_t;
//                                                            a_T = a_0 + [T B, M]^T x [T B, N] after it
//                      (or a block of such a product: GEMMs batch_gemms merged in the body)
//                      a_{t+1} = a_t + sum_batch(e_t)     -> a_T = a_0 + a sum over [T, B, ...]
//   invariant work     exp(-exp(nu)) in every step       -> computed once before the loop
// The accumulations are what autodiff makes of weight and bias gradients; the per-step GEMMs left
// in the loop are the recurrent ones (none, for a cell whose matrices read x only). Loop inputs
// and outputs nobody uses any more are dropped.
#include <algorithm>
#include <functional>
#include <map>
#include <optional>
#include <unordered_map>
#include <unordered_set>

#include "passes/hoist.h"

namespace rnnc {

namespace {

using hoisting::flat;
using hoisting::Hoist;
using hoisting::Stacked;

using Build = std::function<Var(const std::vector<Var>& new_ys)>;

class Hoister {
 public:
  Hoister(const NodePtr& first, const std::vector<bool>& live_outputs, const PretransposePays& pretranspose_pays)
      : pretranspose_pays(pretranspose_pays),
        first_(first),
        L(*first->loop),
        bind(inputs_of(first)),
        h(L, bind, live_outputs),
        T(L.length),
        live_outputs(live_outputs),
        rebuild(L.outputs.size()) {
    for (const NodePtr& n : topo_order(L.outputs))
      for (const NodePtr& in : n->inputs) ++uses[in.get()];
    for (const Var& o : L.outputs) ++uses[o.node().get()];
  }

  // The new outputs of the loop (one per old output, undefined where unused), or nothing when
  // no transformation applies.
  std::vector<Var> run() {
    take_accumulations();
    sink_output_projections();
    body_out.clear();
    for (int c : kept_carries) body_out.push_back(L.outputs[c]);
    body_out.insert(body_out.end(), ys.begin(), ys.end());
    hoist_sequence_work();
    push_slices();
    pretranspose_weights();
    hoist_invariant_work();
    return finish();
  }

 private:
  static std::vector<Var> inputs_of(const NodePtr& n) {
    std::vector<Var> b;
    for (const NodePtr& x : n->inputs) b.push_back(Var(x));
    return b;
  }

  // A new loop output (deduplicated).
  int emit(const Var& v) {
    for (size_t k = 0; k < ys.size(); ++k)
      if (ys[k].same(v)) return static_cast<int>(k);
    ys.push_back(v);
    return static_cast<int>(ys.size() - 1);
  }
  // A per-step body value stacked [T, ...] outside: a sequence's binding, or a new loop output.
  Build stacked(const Var& v) {
    if (int s = h.sequence_of(v); s >= 0) return [b = bind[s]](const std::vector<Var>&) { return b; };
    const int k = emit(v);
    return [k](const std::vector<Var>& y) { return y[k]; };
  }

  // Sum over t of one summand of an accumulation, or nothing when it has no known form.
  std::optional<Build> summed(const Var& v) {
    if (!h.is_step(v)) return std::nullopt;
    if (v.op() == Op::Transpose && v.rank() == 2 && v->inputs[0]->op == Op::MatMul) {
      // (sum_t p_t^T q_t)^T = sum_t q_t^T p_t: one GEMM with its operands swapped, no transpose after.
      const Node& m = *v->inputs[0];
      if (m.rank() == 2 && m.inputs[0]->op == Op::Transpose && m.inputs[0]->rank() == 2) {
        Var p(m.inputs[0]->inputs[0]), q(m.inputs[1]);
        if (h.is_step(p) && h.is_step(q)) {
          Build P = stacked(p), Q = stacked(q);
          return [P, Q](const std::vector<Var>& y) { return matmul(transpose(flat(Q(y))), flat(P(y))); };
        }
      }
    }
    if (v.op() == Op::Slice) {  // a block of a merged GEMM (batch_gemms): the block of the sum
      auto inner = summed(Var(v->inputs[0]));
      if (!inner) return std::nullopt;
      const Node* n = v.node().get();
      return [inner = *inner, n](const std::vector<Var>& y) {
        Var x = inner(y);
        for (size_t a = 0; a < n->shape.size(); ++a)
          x = slice(x, static_cast<int64_t>(a), n->ints[a], n->ints[a] + n->shape[a]);
        return x;
      };
    }
    if (v.op() == Op::Reshape || v.op() == Op::Transpose) {
      auto inner = summed(Var(v->inputs[0]));
      if (!inner) return std::nullopt;
      const Node* n = v.node().get();
      return [inner = *inner, n](const std::vector<Var>& y) {
        Var x = inner(y);
        return n->op == Op::Reshape ? reshape(x, n->shape) : transpose(x, n->ints);
      };
    }
    if (v.op() == Op::MatMul && v.rank() == 2 && v->inputs[0]->op == Op::Transpose && v->inputs[0]->rank() == 2) {
      Var p(v->inputs[0]->inputs[0]), q(v->inputs[1]);  // sum_t p_t^T q_t, p_t [B, M], q_t [B, N]
      if (!h.is_step(p) || !h.is_step(q)) return std::nullopt;
      Build P = stacked(p), Q = stacked(q);
      return [P, Q](const std::vector<Var>& y) { return matmul(transpose(flat(P(y))), flat(Q(y))); };
    }
    if (v.op() == Op::Sum && std::find(v->ints.begin(), v->ints.end(), 0) != v->ints.end()) {
      Var e(v->inputs[0]);
      Build E = stacked(e);
      std::vector<int64_t> axes{0};
      for (int64_t a : v->ints) axes.push_back(a + 1);
      const Shape shape = v.shape();
      return [E, axes, shape](const std::vector<Var>& y) { return reshape(sum(E(y), axes, true), shape); };
    }
    // Any other per-step value (a bias gradient at batch 1, where the sum over the batch is a
    // reshape; an elementwise term): stacked as a loop output and summed over t after the loop, so
    // the body keeps only its carries' work. Only where the stack is no larger than a sequence the
    // loop already streams.
    if (numel(v.shape()) <= largest_step_slice()) {
      Build E = stacked(v);
      return [E](const std::vector<Var>& y) { return sum(E(y), {0}); };
    }
    return std::nullopt;
  }

  // Elements of the largest per-step slice of the loop's sequences.
  int64_t largest_step_slice() const {
    int64_t most = 0;
    for (int i = L.carries; i < L.carries + L.xs; ++i) most = std::max(most, numel(L.inputs[i].shape()));
    return most;
  }

  static std::vector<Var> summands(const Var& v) {
    std::vector<Var> out, todo{v};
    while (!todo.empty()) {
      Var x = todo.back();
      todo.pop_back();
      if (x.op() == Op::Add) {
        todo.push_back(Var(x->inputs[0]));
        todo.push_back(Var(x->inputs[1]));
      } else {
        out.push_back(x);
      }
    }
    return out;
  }

  // Carries that only accumulate leave the loop: their total is computed after it. A carry that
  // every step sets to the constant it started from (the adjoint of a carry no step reads: zero
  // throughout) is that constant: an invariant, not a carry.
  void take_accumulations() {
    for (int c = 0; c < L.carries; ++c) {
      const Var in = L.inputs[c], out = L.outputs[c];
      if (out.same(bind[c]) && (out.op() == Op::Full || out.op() == Op::Literal)) {
        rebuild[c] = [v = bind[c]](const std::vector<Var>&) { return v; };
        new_k_in.push_back(in);
        new_k_bind.push_back(bind[c]);
        changed = true;
        continue;
      }
      std::optional<Build> acc;
      if (!L.keeps_work_inside() && out.op() == Op::Add && uses[in.node().get()] == 1 &&
          (out->inputs[0] == in.node() || out->inputs[1] == in.node())) {
        Var term(out->inputs[0] == in.node() ? out->inputs[1] : out->inputs[0]);
        std::vector<Build> parts;
        const size_t before = ys.size();
        for (const Var& s : summands(term)) {
          auto b = summed(s);
          if (!b) {
            parts.clear();
            break;
          }
          parts.push_back(*b);
        }
        if (parts.empty())
          ys.resize(before);  // nothing emitted for a carry that stays
        else
          acc = [parts, init = bind[c]](const std::vector<Var>& y) {
            Var total = init;
            for (const Build& p : parts) total = total + p(y);
            return total;
          };
      }
      if (acc) {
        rebuild[c] = *acc;
        changed = true;
      } else {
        kept_carries.push_back(c);
      }
    }
  }

  // Stacked outputs that are projections by an invariant leave the loop; unused ones are dropped.
  void sink_output_projections() {
    for (size_t k = L.carries; k < L.outputs.size(); ++k) {
      if (!live_outputs[k]) {
        changed = true;  // dropped
        continue;
      }
      const Var y = L.outputs[k];
      // y_t = sum_i e_it W_i (an input gradient through several projections): the loop outputs
      // the e_it, and each projection is one GEMM over all steps after it.
      std::vector<Var> terms = summands(y);
      const bool projections = !L.keeps_work_inside() && std::all_of(terms.begin(), terms.end(), [&](const Var& t) {
        return t.op() == Op::MatMul && t.rank() == 2 && h.is_step(Var(t->inputs[0])) && !h.is_step(Var(t->inputs[1]));
      });
      if (projections) {
        std::vector<std::pair<Build, Var>> parts;
        for (const Var& t : terms) parts.emplace_back(stacked(Var(t->inputs[0])), h.outside(Var(t->inputs[1])));
        Shape shape = y.shape();
        shape.insert(shape.begin(), T);
        rebuild[k] = [parts, shape](const std::vector<Var>& ys_) {
          Var total;
          for (const auto& [E, w] : parts) {
            Var p = reshape(matmul(flat(E(ys_)), w), shape);
            total = total.defined() ? total + p : p;
          }
          return total;
        };
        changed = true;
      } else if (std::optional<Var> v; !L.keeps_work_inside() && h.is_step(y) && !h.on_carry.at(y.node().get()) &&
                                       (v = st.vectorized(y.node())) && st.has_gemm(y.node().get())) {
        // No carry in it (a gate of x_t alone, kept for the backward pass): all steps at once,
        // before the loop, rather than a GEMM per step inside it.
        rebuild[k] = [v = *v](const std::vector<Var>&) { return v; };
        changed = true;
      } else {
        const int at = emit(y);
        rebuild[k] = [at](const std::vector<Var>& ys_) { return ys_[at]; };
      }
    }
  }

  // Work that reads the sequences but no carry (the input projection x_t W, with its bias and
  // whatever else follows before the recurrence joins in) is computed for all steps at once before
  // the loop and enters it as a new sequence.
  void hoist_sequence_work() {
    if (L.keeps_work_inside()) return;
    const auto& on_carry = h.on_carry;
    std::unordered_map<const Node*, Var> hoisted;
    for (const NodePtr& n : topo_order(body_out)) {
      if (!on_carry.at(n.get())) continue;
      std::vector<NodePtr> todo(n->inputs.begin(), n->inputs.end());
      while (!todo.empty()) {
        NodePtr in = todo.back();
        todo.pop_back();
        // Below views (the gate blocks of a GRU's projection): hoist what they view, once.
        while ((in->op == Op::Slice || in->op == Op::Reshape || in->op == Op::Transpose) &&
               h.is_step(Var(in->inputs[0])) && !on_carry.at(in->inputs[0].get()))
          in = in->inputs[0];
        if (hoisted.count(in.get()) || !h.is_step(Var(in)) || on_carry.at(in.get()) || h.sequence_of(Var(in)) >= 0)
          continue;
        // A value that spreads per-step data along a new axis (S6's decay exp(dt_t A) [B, D, N],
        // made from dt_t [B, D]), hoisted, would be written for every step, N times the size of
        // what it is made from, and read back by the loop: what it is made from is hoisted
        // instead, and the spreading is done in the step.
        if (numel(in->shape) > st.source_size(in)) {
          todo.insert(todo.end(), in->inputs.begin(), in->inputs.end());
          continue;
        }
        auto v = st.vectorized(in);
        // Worth it when there is a GEMM in it (elementwise work alone moves, but may not shrink).
        if (!v || !st.has_gemm(in.get())) continue;
        Var p = input(in->shape, in->dtype, "hoisted");
        hoisted.emplace(in.get(), p);
        new_x_in.push_back(p);
        new_x_bind.push_back(*v);
        changed = true;
      }
    }
    if (!hoisted.empty()) body_out = substitute(body_out, hoisted);
  }

  // Slices move above elementwise work that only they read: chunk(p_t + h U + b, 4) becomes four
  // sums of slices, so the gate kernel reads the GEMM's output in place and the step runs one
  // kernel instead of writing the [B, 4H] pre-activation and reading it back.
  void push_slices() {
    std::unordered_map<const Node*, std::vector<const Node*>> users;
    const std::vector<NodePtr> order = topo_order(body_out);
    for (const NodePtr& n : order)
      for (const NodePtr& in : n->inputs) users[in.get()].push_back(n.get());
    std::unordered_set<const Node*> is_output;
    for (const Var& o : body_out) is_output.insert(o.node().get());
    std::unordered_map<const Node*, bool> memo;
    std::function<bool(const Node*)> pushable = [&](const Node* n) -> bool {
      if (auto it = memo.find(n); it != memo.end()) return it->second;
      bool ok = info(n->op).cls == OpClass::Elementwise && n->op != Op::OneHot && !is_output.count(n) &&
                !h.input_at.count(n) && users.count(n);
      memo[n] = false;  // (no cycles in a graph; guards the recursion)
      for (const Node* u : ok ? users.at(n) : std::vector<const Node*>{}) ok &= u->op == Op::Slice || pushable(u);
      return memo[n] = ok;
    };
    std::function<Var(const Node&, const Var&)> pushed = [&](const Node& sl, const Var& x) -> Var {
      auto again = [&](const Var& in) {  // the same slice of an operand
        Node c = sl;
        c.inputs = {in.node()};
        return pushed(c, in);
      };
      if (!pushable(x.node().get())) {
        Node c = sl;
        c.inputs = {x.node()};
        return Var(intern(std::move(c)));
      }
      Node c = *x.node();
      c.shape = sl.shape;
      for (NodePtr& in : c.inputs) in = again(Var(in)).node();
      return Var(intern(std::move(c)));
    };
    std::unordered_map<const Node*, Var> sliced;
    for (const NodePtr& n : order)
      if (n->op == Op::Slice && pushable(n->inputs[0].get())) sliced.emplace(n.get(), pushed(*n, Var(n->inputs[0])));
    if (!sliced.empty()) {
      body_out = substitute(body_out, sliced);
      changed = true;
    }
  }

  // A GEMM in the loop reading a transposed weight (h W_hh^T in PyTorch's layout) gets the weight
  // transposed once, before the loop, where its shape runs faster so on this CPU (pretranspose_pays):
  // on Zen 4 oneDNN's sgemm was faster with B as stored than transposed, the more so as M shrinks;
  // on Zen 3 slower; on Zen 5 it depends on the shape (docs/performance.md). Not for short loops: a copy of the weight per
  // call costs more than the few steps gain. Sampling runs loops of one step, a character at a
  // time, where the copy was most of each call.
  // Where the body itself would copy a transposed invariant, it always gains, however short the
  // loop: a gather's table (a character model's input rows, inside a recomputed segment) is copied
  // every step, and an inner loop's invariant (the weight of a segment's loop) every step of the
  // outer loop; hoisted again from that outer loop, the copy is made once per call.
  static constexpr int64_t kPretransposeMinSteps = 8;
  void pretranspose_weights() {
    std::unordered_map<const Node*, Var> transposed;
    for (const NodePtr& n : topo_order(body_out)) {
      std::vector<NodePtr> reads;  // operands it would read as a copy of a transposed invariant
      if (n->op == Op::MatMul && n->rank() == 2 && T >= kPretransposeMinSteps &&
          (!pretranspose_pays || pretranspose_pays(n->shape[0], n->inputs[0]->shape[1], n->shape[1])))
        reads.push_back(n->inputs[1]);
      if (n->op == Op::Gather) reads.push_back(n->inputs[0]);
      if (n->op == Op::Scan) reads.insert(reads.end(), n->inputs.begin(), n->inputs.end());
      for (const NodePtr& b : reads) {
        if (b->op != Op::Transpose || h.is_step(Var(b)) || transposed.count(b.get())) continue;
        Var k = input(b->shape, b->dtype, "transposed");
        transposed.emplace(b.get(), k);
        new_k_in.push_back(k);
        new_k_bind.push_back(h.outside(Var(b)));  // a view outside: lowering copies it, once per call
        changed = true;
      }
    }
    if (!transposed.empty()) body_out = substitute(body_out, transposed);
  }

  // Work on invariants alone (an LRU's decay exp(-exp(nu)), a weight's norm) is computed once before
  // the loop and enters it as a new invariant, instead of again at every step. Views of invariants
  // stay (pretranspose_weights decides those), as do nested loops.
  void hoist_invariant_work() {
    if (L.keeps_work_inside()) return;
    std::unordered_set<const Node*> steps;  // carries and sequences, old and new
    for (int i = 0; i < L.carries + L.xs; ++i) steps.insert(L.inputs[i].node().get());
    for (const Var& x : new_x_in) steps.insert(x.node().get());
    std::unordered_map<const Node*, bool> per_step, computes, nested;
    const std::vector<NodePtr> order = topo_order(body_out);
    for (const NodePtr& n : order) {
      const OpClass k = info(n->op).cls;
      bool s = steps.count(n.get()) > 0,
           c = k == OpClass::Elementwise || k == OpClass::Reduction || k == OpClass::MatMul, l = n->op == Op::Scan;
      for (const NodePtr& in : n->inputs) {
        s |= per_step.at(in.get());
        c |= computes.at(in.get());
        l |= nested.at(in.get());
      }
      per_step[n.get()] = s;
      computes[n.get()] = c;
      nested[n.get()] = l;
    }
    std::unordered_map<const Node*, Var> hoisted;
    for (const NodePtr& n : order) {
      if (!per_step.at(n.get())) continue;
      for (const NodePtr& in : n->inputs) {
        if (per_step.at(in.get()) || !computes.at(in.get()) || nested.at(in.get()) || hoisted.count(in.get())) continue;
        Var k = input(in->shape, in->dtype, "invariant");
        hoisted.emplace(in.get(), k);
        new_k_in.push_back(k);
        new_k_bind.push_back(h.outside(Var(in)));
        changed = true;
      }
    }
    if (!hoisted.empty()) body_out = substitute(body_out, hoisted);
  }

  // The loop with its remaining inputs and outputs, and every old output rebuilt from it.
  std::vector<Var> finish() {
    std::unordered_set<const Node*> used;
    for (const NodePtr& n : topo_order(body_out)) used.insert(n.get());
    auto loop = std::make_shared<Loop>();
    loop->length = T;
    loop->reverse = L.reverse;
    loop->segments = L.segments;
    loop->lean = L.lean;
    loop->revolve = L.revolve;
    std::vector<Var> bindings;
    for (int c : kept_carries) {
      loop->inputs.push_back(L.inputs[c]);
      bindings.push_back(bind[c]);
    }
    loop->carries = static_cast<int>(kept_carries.size());
    for (int j = 0; j < L.xs; ++j) {
      if (!used.count(L.inputs[L.carries + j].node().get())) {
        changed = true;
        continue;
      }
      loop->inputs.push_back(L.inputs[L.carries + j]);
      bindings.push_back(bind[L.carries + j]);
    }
    loop->inputs.insert(loop->inputs.end(), new_x_in.begin(), new_x_in.end());
    bindings.insert(bindings.end(), new_x_bind.begin(), new_x_bind.end());
    loop->xs = static_cast<int>(loop->inputs.size()) - loop->carries;
    for (size_t i = L.carries + L.xs; i < L.inputs.size(); ++i) {
      if (!used.count(L.inputs[i].node().get())) {
        changed = true;
        continue;
      }
      loop->inputs.push_back(L.inputs[i]);
      bindings.push_back(bind[i]);
    }
    loop->inputs.insert(loop->inputs.end(), new_k_in.begin(), new_k_in.end());
    bindings.insert(bindings.end(), new_k_bind.begin(), new_k_bind.end());
    if (!changed) return {};
    loop->outputs = body_out;

    std::vector<Var> outs = make_scan(loop, bindings, first_->loc);
    std::vector<Var> new_ys(outs.begin() + loop->carries, outs.end());
    std::vector<Var> result(L.outputs.size());
    for (size_t q = 0; q < kept_carries.size(); ++q) result[kept_carries[q]] = outs[q];
    for (size_t k = 0; k < L.outputs.size(); ++k)
      if (rebuild[k] && live_outputs[k]) result[k] = rebuild[k](new_ys);
    return result;
  }

  const PretransposePays& pretranspose_pays;
  NodePtr first_;
  const Loop& L;
  std::vector<Var> bind;  // outer values bound to L.inputs
  Hoist h;
  Stacked st{h};
  const int64_t T;
  std::vector<bool> live_outputs;
  std::unordered_map<const Node*, int> uses;  // body uses of each node
  std::vector<Var> ys;                        // the new stacked outputs (body values)
  std::vector<Build> rebuild;                 // per old output: how to get it from the new ones
  std::vector<int> kept_carries;
  std::vector<Var> body_out;              // the body's new outputs
  std::vector<Var> new_x_in, new_x_bind;  // sequences computed before the loop
  std::vector<Var> new_k_in, new_k_bind;  // invariants computed before the loop
  bool changed = false;
};

}  // namespace

std::vector<Var> hoist_loops(const std::vector<Var>& outputs, const PretransposePays& pretranspose_pays) {
  std::vector<Var> out = outputs;
  std::unordered_set<const Loop*> settled;  // loops with nothing (more) to move
  for (int guard = 0; guard < 1000; ++guard) {
    // The loops, in topological order of their first output, with the outputs used.
    std::vector<std::pair<NodePtr, std::vector<const Node*>>> groups;
    std::map<std::pair<const Loop*, std::vector<const Node*>>, size_t> index;
    for (const NodePtr& n : topo_order(out)) {
      if (n->op != Op::Scan) continue;
      std::vector<const Node*> key;
      for (const NodePtr& in : n->inputs) key.push_back(in.get());
      auto [it, fresh] = index.try_emplace({n->loop.get(), key}, groups.size());
      if (fresh) groups.push_back({n, std::vector<const Node*>(n->loop->outputs.size(), nullptr)});
      groups[it->second].second[n->ints[0]] = n.get();
    }
    bool progress = false;
    for (const auto& [first, nodes] : groups) {
      if (settled.count(first->loop.get())) continue;
      std::vector<bool> live;
      for (const Node* n : nodes) live.push_back(n != nullptr);
      std::vector<Var> result = Hoister(first, live, pretranspose_pays).run();
      if (result.empty()) {
        settled.insert(first->loop.get());
        continue;
      }
      std::unordered_map<const Node*, Var> with;
      for (size_t k = 0; k < nodes.size(); ++k)
        if (nodes[k]) with.emplace(nodes[k], result[k]);
      out = substitute(out, with);
      progress = true;
      break;  // later loops may read this one: collect again
    }
    if (!progress) break;
  }
  return out;
}

}  // namespace rnnc
