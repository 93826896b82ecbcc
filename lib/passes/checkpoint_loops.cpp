// checkpoint_loops: backpropagation through time in less memory, by recomputation (passes.h).
//
// Autodiff pairs every forward loop F with a backward loop R that reads, as sequences, values F
// stacked for all T steps (the residuals: gates, cell states, ...). With segments of k steps,
// T = S k + r:
//
//   F'   over S segments: runs F for k steps from its carry, stacks only that carry (a checkpoint,
//        [S, ...]) and the outputs something else reads (h for the output layer);
//   F_r  F itself over the last r steps F runs, stacking everything (the remainder);
//   R_r  R over those r steps, first, as R runs the other way;
//   R'   over the S segments, in R's direction: from the segment's checkpoint, F runs k steps again
//        stacking the residuals [k, ...], then R runs back through them.
//
// The bodies of F' and R' hold ordinary loops of k steps, so the pipeline (run over every body)
// hoists their input projections and weight-gradient sums per segment; F' and R' are marked as
// loops over segments, so hoist_loops moves nothing out of them to T-sized buffers again. The
// kernels are the same ones, so the recomputed values are the stored ones bit for bit; what the
// memory plan sees is S checkpoints and one segment of residuals instead of T steps of them.
// A second level applies the same to the segment pair inside R' (k1 steps in segments of k2).
//
// Revolve (Checkpointing::slots = S): segments of one step, F' and R' marked Loop::revolve. The
// graph still says F' stacks its carry at every step; the lowering keeps them in S slots instead
// and has R' get each one back by running F' again from a slot (exec/revolve.h,
// lower_loops.cpp), so the interpreter computes the same values the plain way.
#include <fmt/format.h>

#include <functional>
#include <map>
#include <unordered_map>
#include <unordered_set>

#include "passes/absorb_steps.h"
#include "rnnc/error.h"
#include "rnnc/passes.h"
#include "rnnc/scan.h"

namespace rnnc {

bool Checkpointing::stores_all() const {
  return every.empty() && slots == 0 &&
         std::all_of(pairs.begin(), pairs.end(), [](const Checkpointing& p) { return p.stores_all(); });
}

std::string Checkpointing::str() const {
  if (!pairs.empty()) {
    std::string s = "per loop pair:";
    for (size_t i = 0; i < pairs.size(); ++i) s += fmt::format("{} {}", i ? ";" : "", pairs[i].str());
    if (!Checkpointing{every, slots, {}}.stores_all())
      s += fmt::format("; then {}", Checkpointing{every, slots, {}}.str());
    return s;
  }
  if (slots > 0) return fmt::format("binomial checkpointing (Revolve) in {} slots", slots);
  if (every.empty()) return "store all";
  std::string s = "checkpoint every";
  for (size_t i = 0; i < every.size(); ++i) s += fmt::format("{}{}", i ? " then " : " ", every[i]);
  return s + " steps";
}

namespace {

using LoopPtr = std::shared_ptr<const Loop>;

// Loops already handled, kept alive: with plain pointers, a loop made later could take the address
// of one that was handled and freed since, and be skipped, depending on the allocator (plans that
// varied between runs of the same binary).
struct LoopSet {
  std::unordered_set<const Loop*> at;
  std::vector<LoopPtr> alive;
  void insert(const LoopPtr& l) {
    if (at.insert(l.get()).second) alive.push_back(l);
  }
  bool count(const Loop* l) const { return at.count(l) > 0; }
};

std::shared_ptr<Loop> with_length(const Loop& l, int64_t length) {
  auto c = std::make_shared<Loop>(l);
  c->length = length;
  return c;
}

Shape without_steps(const Shape& s) { return Shape(s.begin() + 1, s.end()); }

using loops::Run;

// The steps [lo, hi) of a sequence bound to a loop.
Var steps(const Var& x, int64_t lo, int64_t hi) { return lo == 0 && hi == x.shape()[0] ? x : slice(x, 0, lo, hi); }
// Steps [lo, lo + S k) as [S, k, ...].
Var segments_of(const Var& x, int64_t lo, int64_t S, int64_t k) {
  Shape s = without_steps(x.shape());
  s.insert(s.begin(), {S, k});
  return reshape(steps(x, lo, lo + S * k), s);
}
// [S, k, ...] -> [S k, ...]
Var unsegment(const Var& y) {
  Shape s(y.shape().begin() + 1, y.shape().end());
  s[0] *= y.shape()[0];
  return reshape(y, s);
}
// A fresh body input like one step (or one segment) of v.
Var like(const Shape& shape, const Var& v, const std::string& name) { return input(shape, v.dtype(), name); }

class Checkpointer {
 public:
  Checkpointer(const Run& f, const Run& r, std::vector<bool> kept, int64_t k, int revolve)
      : F(*f.loop),
        R(*r.loop),
        f_(f),
        r_(r),
        kept_(std::move(kept)),
        k_(k),
        revolve_(revolve),
        T(F.length),
        S(T / k),
        rem(T % k) {
    // F runs the segments first and the remainder last; R the other way round.
    seg_lo = F.reverse ? rem : 0;
    tail_lo = F.reverse ? 0 : S * k_;
  }

  // Replacements for F's and R's Scan nodes (keyed by the old node).
  std::unordered_map<const Node*, Var> run(const std::vector<int64_t>& deeper) {
    const int nc = F.carries, nx = F.xs;
    const LoopPtr Fk = with_length(F, k_);

    // F': checkpoints and the outputs read elsewhere, a segment at a time.
    auto fs = std::make_shared<Loop>();
    fs->length = S;
    fs->reverse = F.reverse;
    fs->segments = true;
    fs->revolve = revolve_;
    fs->carries = nc;
    fs->xs = nx;
    std::vector<Var> fs_bind;
    for (int c = 0; c < nc; ++c) {
      fs->inputs.push_back(like(F.inputs[c].shape(), F.inputs[c], fmt::format("checkpoint{}", c)));
      fs_bind.push_back(f_.bind[c]);
    }
    for (int j = 0; j < nx; ++j) {
      const Var& x = f_.bind[nc + j];
      fs->inputs.push_back(like(seg_shape(x), x, fmt::format("segment_x{}", j)));
      fs_bind.push_back(segments_of(x, seg_lo, S, k_));
    }
    const std::vector<Var> f_inv = invariants(F, *fs, f_.bind, fs_bind);
    std::vector<Var> inner = make_scan(Fk, body_binding(*fs, f_inv.size()));
    std::vector<int> kept_ys;  // F's stacked outputs F' stacks too
    for (int c = 0; c < nc; ++c) fs->outputs.push_back(inner[c]);
    for (size_t y = nc; y < F.outputs.size(); ++y)
      if (kept_[y]) {
        kept_ys.push_back(static_cast<int>(y));
        fs->outputs.push_back(inner[y]);
      }
    for (int c = 0; c < nc; ++c) fs->outputs.push_back(fs->inputs[c]);  // the checkpoints
    const std::vector<Var> fs_out = make_scan(fs, fs_bind);
    auto kept_segments = [&](int y) {  // F's output y as [S, k, ...]
      const auto at = std::find(kept_ys.begin(), kept_ys.end(), y) - kept_ys.begin();
      return fs_out[nc + at];
    };
    auto checkpoint = [&](int c) { return fs_out[nc + kept_ys.size() + c]; };

    // F_r: the remainder, stacking everything.
    std::vector<Var> f_tail;
    if (rem > 0) {
      std::vector<Var> b(fs_out.begin(), fs_out.begin() + nc);
      for (int j = 0; j < nx; ++j) b.push_back(steps(f_.bind[nc + j], tail_lo, tail_lo + rem));
      b.insert(b.end(), f_.bind.begin() + nc + nx, f_.bind.end());
      f_tail = make_scan(with_length(F, rem), b);
    }

    // F's outputs anyone reads, rebuilt in step order (the remainder is the last steps F runs).
    auto whole = [&](const Var& segs, const std::vector<Var>& tail, size_t y) {
      Var s = unsegment(segs);
      if (rem == 0) return s;
      return F.reverse ? concat({tail[y], s}) : concat({s, tail[y]});
    };
    std::unordered_map<const Node*, Var> with;
    for (int c = 0; c < nc; ++c)
      if (f_.outs[c].defined()) with.emplace(f_.outs[c].node().get(), rem > 0 ? f_tail[c] : fs_out[c]);
    for (int y : kept_ys)
      if (f_.outs[y].defined()) with.emplace(f_.outs[y].node().get(), whole(kept_segments(y), f_tail, y));

    // What R reads from F: its sequences bound to F's stacked outputs. Its other bindings (the
    // cotangent of F's last carry, say) may read F's outputs: they read the new ones.
    const int rc = R.carries, rx = R.xs;
    std::map<int, int> from_f;  // R sequence -> F output
    for (int j = 0; j < rx; ++j)
      for (size_t y = nc; y < F.outputs.size(); ++y)
        if (f_.outs[y].defined() && r_.bind[rc + j].same(f_.outs[y])) from_f[j] = static_cast<int>(y);
    for (size_t i = 0; i < r_.bind.size(); ++i)
      if (!from_f.count(static_cast<int>(i) - rc)) r_.bind[i] = substitute({r_.bind[i]}, with)[0];

    // R_r: R over the remainder first.
    std::vector<Var> r_tail;
    if (rem > 0) {
      std::vector<Var> b(r_.bind.begin(), r_.bind.begin() + rc);
      for (int j = 0; j < rx; ++j)
        b.push_back(from_f.count(j) ? f_tail[from_f[j]] : steps(r_.bind[rc + j], tail_lo, tail_lo + rem));
      b.insert(b.end(), r_.bind.begin() + rc + rx, r_.bind.end());
      r_tail = make_scan(with_length(R, rem), b);
    }

    // R': per segment, F again from the checkpoint, then R back through it.
    auto rs = std::make_shared<Loop>();
    rs->length = S;
    rs->reverse = R.reverse;
    rs->segments = true;
    rs->revolve = revolve_;
    std::vector<Var> rs_bind;
    for (int c = 0; c < rc; ++c) {
      rs->inputs.push_back(like(R.inputs[c].shape(), R.inputs[c], fmt::format("d_carry{}", c)));
      rs_bind.push_back(rem > 0 ? r_tail[c] : r_.bind[c]);
    }
    for (int c = 0; c < nc; ++c) {
      rs->inputs.push_back(like(F.inputs[c].shape(), F.inputs[c], fmt::format("checkpoint{}", c)));
      rs_bind.push_back(checkpoint(c));
    }
    for (int j = 0; j < nx; ++j) {
      rs->inputs.push_back(like(fs->inputs[nc + j].shape(), fs->inputs[nc + j], fmt::format("segment_x{}", j)));
      rs_bind.push_back(fs_bind[nc + j]);
    }
    std::vector<int> r_seq_at(rx, -1);  // R sequence -> R' input (when not recomputed)
    for (int j = 0; j < rx; ++j) {
      if (from_f.count(j) && !kept_[from_f[j]]) continue;
      const Var& x = r_.bind[rc + j];
      r_seq_at[j] = static_cast<int>(rs->inputs.size());
      rs->inputs.push_back(like(seg_shape(x), x, fmt::format("segment_dx{}", j)));
      rs_bind.push_back(from_f.count(j) ? kept_segments(from_f[j]) : segments_of(x, seg_lo, S, k_));
    }
    rs->carries = rc;
    rs->xs = static_cast<int>(rs->inputs.size()) - rc;
    const std::vector<Var> fi = invariants(F, *rs, f_.bind, rs_bind);
    const std::vector<Var> ri = invariants(R, *rs, r_.bind, rs_bind);
    std::vector<Var> fb(rs->inputs.begin() + rc, rs->inputs.begin() + rc + nc + nx);
    fb.insert(fb.end(), fi.begin(), fi.end());
    const std::vector<Var> again = make_scan(Fk, fb);
    std::vector<Var> rb(rs->inputs.begin(), rs->inputs.begin() + rc);
    for (int j = 0; j < rx; ++j) rb.push_back(r_seq_at[j] >= 0 ? rs->inputs[r_seq_at[j]] : again[from_f[j]]);
    rb.insert(rb.end(), ri.begin(), ri.end());
    rs->outputs = make_scan(with_length(R, k_), rb);
    if (!deeper.empty()) rs->outputs = checkpoint_loops(rs->outputs, Checkpointing{deeper});
    const std::vector<Var> rs_out = make_scan(rs, rs_bind);

    for (int c = 0; c < rc; ++c)
      if (r_.outs[c].defined()) with.emplace(r_.outs[c].node().get(), rs_out[c]);
    for (size_t y = rc; y < R.outputs.size(); ++y)
      if (r_.outs[y].defined()) with.emplace(r_.outs[y].node().get(), whole(rs_out[y], r_tail, y));
    return with;
  }

 private:
  Shape seg_shape(const Var& x) const {
    Shape s = without_steps(x.shape());
    s.insert(s.begin(), k_);
    return s;
  }
  // The invariants of `inner`, as new invariant inputs of the segment loop `outer`.
  static std::vector<Var> invariants(const Loop& inner, Loop& outer, const std::vector<Var>& bind,
                                     std::vector<Var>& outer_bind) {
    std::vector<Var> v;
    for (size_t i = inner.carries + inner.xs; i < inner.inputs.size(); ++i) {
      outer.inputs.push_back(like(inner.inputs[i].shape(), inner.inputs[i], inner.inputs[i]->name));
      outer_bind.push_back(bind[i]);
      v.push_back(outer.inputs.back());
    }
    return v;
  }
  static std::vector<Var> body_binding(const Loop& outer, size_t invariants) {
    std::vector<Var> b(outer.inputs.begin(), outer.inputs.begin() + outer.carries + outer.xs);
    b.insert(b.end(), outer.inputs.end() - static_cast<std::ptrdiff_t>(invariants), outer.inputs.end());
    return b;
  }

  const Loop& F;
  const Loop& R;
  Run f_, r_;
  std::vector<bool> kept_;  // per F output: read by something other than R
  int64_t k_;
  int revolve_;  // Loop::revolve of F' and R' (k = 1)
  int64_t T, S, rem, seg_lo = 0, tail_lo = 0;
};

// Every loop of the graph with its outputs, in topological order of their first, and who reads
// each node (nullptr: a graph output).
struct Runs {
  std::map<LoopKey, Run> runs;
  std::vector<LoopKey> order;
  std::unordered_map<const Node*, std::vector<const Node*>> users;
};
Runs collect_runs(const std::vector<Var>& out) {
  Runs r;
  for (const NodePtr& n : topo_order(out)) {
    for (const NodePtr& in : n->inputs) r.users[in.get()].push_back(n.get());
    if (n->op != Op::Scan) continue;
    const LoopKey key = loop_key(*n);
    auto [it, fresh] = r.runs.try_emplace(key);
    if (fresh) {
      r.order.push_back(key);
      it->second.loop = n->loop;
      for (const NodePtr& b : n->inputs) it->second.bind.push_back(Var(b));
      it->second.outs.resize(n->loop->outputs.size());
    }
    it->second.outs[n->ints[0]] = Var(n);
  }
  for (const Var& o : out) r.users[o.node().get()].push_back(nullptr);
  return r;
}

// The forward loop R runs back over: the loop running the other way whose stacked outputs R
// reads most (R may read another loop's too, the layer below's outputs, as a sequence like any
// other), only as sequences. nullptr: none (R is not a backward loop).
const Run* partner(const Run& r, const Runs& all) {
  const Loop& R = *r.loop;
  if (R.segments) return nullptr;
  std::vector<std::pair<const Run*, int>> reads;  // in the order R binds them (deterministic)
  for (size_t i = 0; i < r.bind.size(); ++i) {
    const Var& b = r.bind[i];
    if (b.op() != Op::Scan) continue;
    const Run& cand = all.runs.at(loop_key(*b.node()));
    if (cand.loop->length != R.length || cand.loop->reverse == R.reverse || cand.loop->segments) continue;
    const bool sequence = static_cast<int>(i) >= R.carries && static_cast<int>(i) < R.carries + R.xs;
    auto it = std::find_if(reads.begin(), reads.end(), [&](const auto& p) { return p.first == &cand; });
    if (it == reads.end()) it = reads.insert(reads.end(), {&cand, 0});
    it->second += sequence && b->ints[0] >= cand.loop->carries ? 1 : -1000;
  }
  const Run* f = nullptr;
  int most = 0;
  for (const auto& [cand, n] : reads)
    if (n > most) {
      f = cand;
      most = n;
    }
  return f;
}

// A function without a backward loop (an evaluation) has nothing to recompute, but its loops'
// stacked outputs, [T, ...], and what is computed from them step by step (the output layer, the
// loss) are most of its memory at long T: that per-step work moves into the loops, which then keep
// nothing of the T steps (a loss becomes a carry that accumulates).
std::vector<Var> absorb_lone_loops(std::vector<Var> out) {
  LoopSet absorbed;
  for (int guard = 0; guard < 1000; ++guard) {
    const Runs all = collect_runs(out);
    const auto& [runs, order, users] = all;
    bool moved = false;
    for (const LoopKey& key : order) {
      const Run& r = runs.at(key);
      if (absorbed.count(r.loop.get())) continue;
      if (!r.loop->lean) {  // first marked lean, so that hoist_loops leaves its work inside
        auto lean = std::make_shared<Loop>(*r.loop);
        lean->lean = true;
        const std::vector<Var> res = make_scan(lean, r.bind);
        std::unordered_map<const Node*, Var> with;
        for (size_t y = 0; y < r.outs.size(); ++y)
          if (r.outs[y].defined()) with.emplace(r.outs[y].node().get(), res[y]);
        out = substitute(out, with);
        moved = true;
        break;  // collect again
      }
      absorbed.insert(r.loop);
      std::unordered_set<const Node*> touch;
      for (size_t y = r.loop->carries; y < r.outs.size(); ++y)
        if (r.outs[y].defined()) touch.insert(r.outs[y].node().get());
      std::unordered_map<const Node*, Var> with = loops::absorb_steps(r, out, touch);
      if (with.empty()) continue;
      for (const auto& [old, v] : with)
        if (v.op() == Op::Scan) absorbed.insert(v->loop);
      out = substitute(out, with);
      moved = true;
      break;  // collect again
    }
    if (!moved) break;
  }
  return out;
}

}  // namespace

std::vector<Var> checkpoint_loops(const std::vector<Var>& outputs, const Checkpointing& plan) {
  if (plan.stores_all()) return outputs;
  std::function<void(const Checkpointing&)> check = [&](const Checkpointing& c) {
    if (c.slots > 0 && !c.every.empty())
      throw Error(
          fmt::format("rnnc: checkpoint_loops: a schedule is either segments ({}) or Revolve's slots ({}), not both",
                      Checkpointing{c.every, 0, {}}.str(), c.slots));
    if (c.slots < 0)
      throw Error(fmt::format("rnnc: checkpoint_loops: Revolve's slots must be at least 1 (got {})", c.slots));
    for (int64_t k : c.every)
      if (k < 1) throw Error(fmt::format("rnnc: checkpoint_loops: segments must be at least 1 step (got {})", k));
    for (const Checkpointing& p : c.pairs) check(p);
  };
  check(plan);
  std::vector<Var> out = outputs;
  LoopSet done, absorbed;
  bool paired = false;  // a forward/backward pair was found
  // Each pair's number, in the order they are met (the backward loops' order), carried over to
  // the loops that absorbing the work around a pair makes of it.
  std::unordered_map<const Loop*, std::pair<LoopPtr, size_t>> pair_of;
  size_t pairs_met = 0;
  for (int guard = 0; guard < 1000; ++guard) {
    Runs all = collect_runs(out);
    auto& [runs, order, users] = all;

    bool changed = false;
    for (const LoopKey& rkey : order) {
      const Run& r = runs.at(rkey);
      const Loop& R = *r.loop;
      if (done.count(&R)) continue;
      const Run* f = partner(r, all);
      if (!f) continue;
      paired = true;
      auto [number, fresh] = pair_of.try_emplace(&R, r.loop, pairs_met);
      if (fresh) ++pairs_met;
      const size_t pair = number->second.second;
      const Checkpointing& mine = pair < plan.pairs.size() ? plan.pairs[pair] : plan;
      // Revolve: one-step segments, their checkpoints kept in the slots (S >= T keeps them all).
      const int64_t k = mine.slots > 0 ? 1 : mine.every.empty() ? 0 : mine.every.front();
      const int revolve = mine.slots > 0 && mine.slots < R.length ? mine.slots : 0;
      if (k < 1 || R.length / k < 2) {  // stored (or fewer than two segments: nothing to save)
        done.insert(r.loop);
        continue;
      }
      // F's outputs something other than R reads stay stored.
      std::vector<bool> kept(f->loop->outputs.size(), false);
      for (size_t y = 0; y < kept.size(); ++y) {
        if (!f->outs[y].defined()) continue;
        for (const Node* u : users[f->outs[y].node().get()])
          if (!u || u->op != Op::Scan || loop_key(*u) != rkey) kept[y] = true;
      }
      // First the per-step work around the pair moves into it (the output layer, the loss, its
      // gradients), so that what the loops read and write is all they keep of the T steps.
      bool moved = false;
      for (const Run* l : {&r, f}) {
        if (absorbed.count(l->loop.get())) continue;
        std::unordered_set<const Node*> touch;
        for (const Run* p : {&r, f})
          for (size_t y = p->loop->carries; y < p->outs.size(); ++y)
            if (p->outs[y].defined()) touch.insert(p->outs[y].node().get());
        std::unordered_map<const Node*, Var> with = loops::absorb_steps(*l, out, touch);
        absorbed.insert(l->loop);
        if (with.empty()) continue;
        for (const auto& [old, v] : with)
          if (v.op() == Op::Scan) {
            absorbed.insert(v->loop);
            if (old->op == Op::Scan && old->loop.get() == &R) pair_of.try_emplace(v->loop.get(), v->loop, pair);
          }
        out = substitute(out, with);
        moved = true;
        break;
      }
      if (moved) {
        changed = true;
        break;  // collect again
      }
      const std::vector<int64_t> deeper(mine.every.begin() + (mine.every.empty() ? 0 : 1), mine.every.end());
      std::unordered_map<const Node*, Var> with = Checkpointer(*f, r, kept, k, revolve).run(deeper);
      done.insert(r.loop);
      out = substitute(out, with);
      // The loops the split made (over segments, and the remainder's pair) are not split again.
      std::unordered_set<const Loop*> before;
      for (const auto& [key, run] : runs) before.insert(run.loop.get());
      for (const auto& [key, made] : collect_runs(out).runs)
        if (!before.count(made.loop.get())) done.insert(made.loop);
      changed = true;
      break;  // the graph changed: collect again
    }
    if (!changed) break;
  }
  if (!paired) out = absorb_lone_loops(out);
  return out;
}

int loop_pairs(const std::vector<Var>& outputs) {
  const Runs all = collect_runs(outputs);
  int n = 0;
  for (const LoopKey& key : all.order) n += partner(all.runs.at(key), all) != nullptr;
  return n;
}

}  // namespace rnnc
