// absorb_steps (absorb_steps.h): per-step work around a loop moves into its body.
//
// A value whose leading extent is T (stacked: step t is x[t]) or a multiple T r (flat, as after
// reshape [T, B, H] -> [T B, H]: step t is rows [t r, (t + 1) r)) is computed step by step when
// every op on the way keeps steps apart: elementwise ops, broadcasts, reshapes and transposes that
// keep the leading axis, slices and reductions over other axes, and GEMMs by an invariant. Its
// step t is then the same ops on step t of its operands, which the body computes; values that are
// not split into steps enter as invariants, and T-leading values that cannot be split (inputs,
// other loops' outputs) as new sequences.
#include "passes/absorb_steps.h"

#include <fmt/format.h>

#include <algorithm>
#include <optional>

#include "rnnc/error.h"
#include "rnnc/scan.h"

namespace rnnc::loops {

namespace {

// n's op over other operands, with the shape they give.
Var same_op(const Node& n, const Shape& shape, std::vector<NodePtr> inputs, std::vector<int64_t> ints) {
  return Var(intern(Node{.op = n.op,
                         .dtype = n.dtype,
                         .shape = shape,
                         .inputs = std::move(inputs),
                         .ints = std::move(ints),
                         .scalar = n.scalar,
                         .loc = n.loc}));
}

class Absorber {
 public:
  Absorber(const Run& run, const std::vector<Var>& outputs, const std::unordered_set<const Node*>& touch)
      : L(*run.loop), run_(run), T(L.length), touch_(touch) {
    const LoopKey key = loop_key(*first_scan());
    for (const NodePtr& n : topo_order(outputs)) {
      order_.push_back(n);
      bool d = n->op == Op::Scan && loop_key(*n) == key, r = touch.count(n.get()) > 0;
      for (const NodePtr& in : n->inputs) {
        d |= depends_.at(in.get());
        r |= reaches_.at(in.get());
      }
      depends_[n.get()] = d;
      reaches_[n.get()] = r;
    }
    // Everything the loop's bindings need is computed before it: no sum it absorbs may be among them.
    for (const NodePtr& n : topo_order(run.bind)) before_.insert(n.get());
    // The body's own sequences and stacked outputs are step values already.
    for (int j = 0; j < L.xs; ++j) memo_[run.bind[L.carries + j].node().get()] = L.inputs[L.carries + j];
    for (size_t y = L.carries; y < L.outputs.size(); ++y)
      if (run.outs[y].defined()) memo_[run.outs[y].node().get()] = L.outputs[y];
  }

  std::unordered_map<const Node*, Var> run() {
    // Producers of the sequences.
    std::unordered_map<const Node*, Var> replace_input;  // body input -> its step value
    for (int j = 0; j < L.xs; ++j) {
      const Var& x = run_.bind[L.carries + j];
      if (x->inputs.empty() || x.op() == Op::Scan || depends_.at(x.node().get())) continue;
      const Mark m = mark();
      std::optional<Var> v = decompose(x.node());
      if (!v) {
        undo(m);
        continue;
      }
      replace_input[L.inputs[L.carries + j].node().get()] = *v;
      memo_[x.node().get()] = *v;
    }
    // Sums over the steps.
    std::vector<std::pair<const Node*, Var>> sums;  // the outer sum, its step's term
    for (const NodePtr& n : order_) {
      if (before_.count(n.get()) || !reaches_.at(n.get())) continue;
      const Mark m = mark();
      std::optional<Var> term = sum_term(n);
      if (!term) {
        undo(m);
        continue;
      }
      sums.emplace_back(n.get(), *term);
    }
    if (replace_input.empty() && sums.empty()) return {};

    // The loop with its new carries, sequences and invariants.
    auto l = std::make_shared<Loop>(L);
    l->inputs.clear();
    std::vector<Var> bind, outs;
    for (int c = 0; c < L.carries; ++c) {
      l->inputs.push_back(L.inputs[c]);
      bind.push_back(run_.bind[c]);
      outs.push_back(L.outputs[c]);
    }
    for (const auto& [n, term] : sums) {
      Var acc = input(n->shape, n->dtype, "sum");
      l->inputs.push_back(acc);
      bind.push_back(full(n->shape, 0.0, n->dtype));
      outs.push_back(acc + term);
    }
    l->carries = static_cast<int>(l->inputs.size());
    for (int j = 0; j < L.xs; ++j) {
      if (replace_input.count(L.inputs[L.carries + j].node().get())) continue;
      l->inputs.push_back(L.inputs[L.carries + j]);
      bind.push_back(run_.bind[L.carries + j]);
    }
    for (const auto& [in, b] : sequences_) {
      l->inputs.push_back(in);
      bind.push_back(b);
    }
    l->xs = static_cast<int>(l->inputs.size()) - l->carries;
    for (size_t i = L.carries + L.xs; i < L.inputs.size(); ++i) {
      l->inputs.push_back(L.inputs[i]);
      bind.push_back(run_.bind[i]);
    }
    for (const auto& [in, b] : invariants_) {
      l->inputs.push_back(in);
      bind.push_back(b);
    }
    outs.insert(outs.end(), L.outputs.begin() + L.carries, L.outputs.end());
    // A value computed from a sequence that is now computed in the body reads it there.
    std::unordered_map<const Node*, Var> with;
    for (const auto& [in, v] : replace_input) with.emplace(in, v);
    l->outputs = substitute(outs, with);
    for (int round = 0; round < 8 && !with.empty(); ++round) {  // step values may read each other
      std::vector<Var> again = substitute(l->outputs, with);
      bool same = true;
      for (size_t k = 0; k < again.size(); ++k) same &= again[k].same(l->outputs[k]);
      l->outputs = again;
      if (same) break;
    }
    const std::vector<Var> res = make_scan(l, bind, first_scan()->loc);

    std::unordered_map<const Node*, Var> result;
    for (int c = 0; c < L.carries; ++c)
      if (run_.outs[c].defined()) result.emplace(run_.outs[c].node().get(), res[c]);
    for (size_t s = 0; s < sums.size(); ++s) result.emplace(sums[s].first, res[L.carries + s]);
    for (size_t y = L.carries; y < L.outputs.size(); ++y)
      if (run_.outs[y].defined()) result.emplace(run_.outs[y].node().get(), res[l->carries + (y - L.carries)]);
    return result;
  }

 private:
  const Node* first_scan() const {
    for (const Var& o : run_.outs)
      if (o.defined()) return o.node().get();
    throw Error("rnnc: absorb_steps: a loop with no output in the graph");
  }

  // Step t's shape of a T-leading shape (stacked: the rest; flat [T r, ...]: [r, ...]).
  std::optional<Shape> step_shape(const Shape& s) const {
    if (s.empty() || s[0] < T || s[0] % T != 0) return std::nullopt;
    if (s[0] == T) return Shape(s.begin() + 1, s.end());
    Shape r = s;
    r[0] /= T;
    return r;
  }
  bool stacked(const Shape& s) const { return s[0] == T; }

  // Undo support: what was added since a mark.
  struct Mark {
    size_t memo, sequences, invariants;
  };
  Mark mark() const { return {added_.size(), sequences_.size(), invariants_.size()}; }
  void undo(const Mark& m) {
    while (added_.size() > m.memo) {
      memo_.erase(added_.back());
      added_.pop_back();
    }
    sequences_.resize(m.sequences);
    invariants_.resize(m.invariants);
  }
  Var remember(const Node* n, Var v) {
    memo_[n] = v;
    added_.push_back(n);
    return v;
  }

  // An outer value computed before the loop, as an invariant of the body.
  std::optional<Var> invariant(const NodePtr& n) {
    if (depends_.at(n.get())) return std::nullopt;
    if (auto it = memo_.find(n.get()); it != memo_.end()) return it->second;
    if (n->op == Op::Full && n->inputs.empty()) return remember(n.get(), full(n->shape, n->scalar, n->dtype));
    Var in = input(n->shape, n->dtype, n->op == Op::Input ? n->name : "outside");
    invariants_.emplace_back(in, Var(n));
    return remember(n.get(), in);
  }

  // Step t of an outer T-leading value: computed in the body, or a new sequence.
  std::optional<Var> step(const NodePtr& n) {
    if (auto it = memo_.find(n.get()); it != memo_.end()) return it->second;
    const std::optional<Shape> s = step_shape(n->shape);
    if (!s) return std::nullopt;
    if (std::optional<Var> v = decompose(n)) return remember(n.get(), *v);
    if (depends_.at(n.get())) return std::nullopt;  // the loop computes it: not there before it
    // Another loop's stacked output becomes a sequence only from the pair: a loop reading two
    // other loops' outputs would tie them together.
    if (n->op == Op::Scan && !touch_.count(n.get())) return std::nullopt;
    // A new sequence [T, ...] (a flat value seen as [T, r, ...], no copy).
    Shape all = *s;
    all.insert(all.begin(), T);
    Var in = input(*s, n->dtype, n->op == Op::Input ? n->name : "step");
    sequences_.emplace_back(in, stacked(n->shape) ? Var(n) : reshape(Var(n), all));
    return remember(n.get(), in);
  }

  // The same op on step t of the operands, or nothing when the op mixes steps.
  std::optional<Var> decompose(const NodePtr& n) {
    const std::optional<Shape> S = step_shape(n->shape);
    if (!S || n->op == Op::Scan || n->op == Op::Input || n->op == Op::Literal) return std::nullopt;
    const Node& x = n->inputs.empty() ? *n : *n->inputs[0];
    const bool st = stacked(n->shape);
    const OpClass cls = info(n->op).cls;
    try {
      if (n->op == Op::Full) return full(*S, n->scalar, n->dtype);
      if (cls == OpClass::Elementwise) {
        std::vector<NodePtr> ins;
        for (const NodePtr& in : n->inputs) {
          if (n->op != Op::OneHot && in->shape != n->shape) return std::nullopt;
          std::optional<Var> v = step(in);
          if (!v) return std::nullopt;
          ins.push_back(v->node());
        }
        return same_op(*n, *S, ins, n->ints);
      }
      if (n->op == Op::BroadcastTo) {
        if (x.rank() == n->rank() && x.shape[0] == n->shape[0]) {
          std::optional<Var> v = step(n->inputs[0]);
          return v ? std::optional<Var>(broadcast_to(*v, *S)) : std::nullopt;
        }
        std::optional<Var> v = invariant(n->inputs[0]);
        if (!v) return std::nullopt;
        if (x.rank() == n->rank() && st) *v = reshape(*v, Shape(x.shape.begin() + 1, x.shape.end()));
        return broadcast_to(*v, *S);
      }
      if (n->op == Op::Reshape) {
        std::optional<Var> v = step(n->inputs[0]);
        return v ? std::optional<Var>(reshape(*v, *S)) : std::nullopt;
      }
      if (n->op == Op::Transpose) {
        if (n->ints.empty() || n->ints[0] != 0) return std::nullopt;
        std::optional<Var> v = step(n->inputs[0]);
        if (!v) return std::nullopt;
        std::vector<int64_t> perm(n->ints.begin() + (st ? 1 : 0), n->ints.end());
        if (st)
          for (int64_t& p : perm) --p;
        return transpose(*v, perm);
      }
      if (n->op == Op::Slice) {
        if (n->ints.empty() || n->ints[0] != 0 || x.shape[0] != n->shape[0]) return std::nullopt;
        std::optional<Var> v = step(n->inputs[0]);
        if (!v) return std::nullopt;
        std::vector<int64_t> begins(n->ints.begin() + (st ? 1 : 0), n->ints.end());
        return same_op(*n, *S, {v->node()}, begins);
      }
      if (n->op == Op::Sum || n->op == Op::Max) {
        if (std::find(n->ints.begin(), n->ints.end(), 0) != n->ints.end()) return std::nullopt;
        std::optional<Var> v = step(n->inputs[0]);
        if (!v) return std::nullopt;
        std::vector<int64_t> axes = n->ints;
        if (st)
          for (int64_t& a : axes) --a;
        return same_op(*n, *S, {v->node()}, axes);
      }
      if (n->op == Op::MatMul && n->rank() == 2 && n->inputs[1]->rank() == 2) {
        std::optional<Var> a = step(n->inputs[0]);
        std::optional<Var> b = a ? invariant(n->inputs[1]) : std::nullopt;
        if (!b) return std::nullopt;
        if (a->rank() == 1) *a = reshape(*a, {1, a->shape()[0]});
        Var m = matmul(*a, *b);
        return m.shape() == *S ? m : reshape(m, *S);
      }
    } catch (const Error&) {
      return std::nullopt;  // per-step shapes that do not fit: not split into steps
    }
    return std::nullopt;
  }

  // Step t's term of a sum over the steps, or nothing when n is not one.
  std::optional<Var> sum_term(const NodePtr& n) {
    try {
      if (n->op == Op::Sum && !n->inputs.empty() && std::find(n->ints.begin(), n->ints.end(), 0) != n->ints.end()) {
        const NodePtr& x = n->inputs[0];
        if (!step_shape(x->shape)) return std::nullopt;
        std::optional<Var> v = step(x);
        if (!v) return std::nullopt;
        std::vector<int64_t> axes;
        for (int64_t a : n->ints)
          if (!stacked(x->shape))
            axes.push_back(a);
          else if (a > 0)
            axes.push_back(a - 1);
        Var t = axes.empty() ? *v : sum(*v, axes, /*keepdims=*/true);
        return reshape(t, n->shape);
      }
      // sum_t a_t^T b_t: matmul(transpose(a), b) over flat [T r, K] and [T r, N].
      if (n->op == Op::MatMul && n->rank() == 2 && n->inputs[0]->op == Op::Transpose && n->inputs[0]->rank() == 2) {
        const NodePtr& a = n->inputs[0]->inputs[0];
        const NodePtr& b = n->inputs[1];
        if (!step_shape(a->shape) || !step_shape(b->shape) || a->shape[0] != b->shape[0]) return std::nullopt;
        std::optional<Var> sa = step(a);
        std::optional<Var> sb = sa ? step(b) : std::nullopt;
        if (!sb) return std::nullopt;
        if (sa->rank() == 1) *sa = reshape(*sa, {1, sa->shape()[0]});
        if (sb->rank() == 1) *sb = reshape(*sb, {1, sb->shape()[0]});
        return matmul(transpose(*sa), *sb);
      }
    } catch (const Error&) {
      return std::nullopt;
    }
    return std::nullopt;
  }

  const Loop& L;
  const Run& run_;
  int64_t T;
  const std::unordered_set<const Node*>& touch_;  // the pair's stacked outputs
  std::vector<NodePtr> order_;
  std::unordered_map<const Node*, bool> depends_;  // reads the loop's outputs
  std::unordered_map<const Node*, bool> reaches_;  // reads a value in touch
  std::unordered_set<const Node*> before_;         // the loop's bindings read it
  std::unordered_map<const Node*, Var> memo_;      // outer value -> its step value in the body
  std::vector<const Node*> added_;
  std::vector<std::pair<Var, Var>> sequences_, invariants_;  // body input, outer binding
};

}  // namespace

std::unordered_map<const Node*, Var> absorb_steps(const Run& run, const std::vector<Var>& outputs,
                                                  const std::unordered_set<const Node*>& touch) {
  return Absorber(run, outputs, touch).run();
}

}  // namespace rnnc::loops
