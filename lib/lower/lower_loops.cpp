// The lowering of loops (see scan.h and the Loops section of docs/architecture.md): a loop is one
// step that owns the schedule of its body. Carries whose values are stacked live in a history
// buffer; a sequence nothing reads afterwards lends its slots to the loop's stacked outputs.
#include <algorithm>
#include <functional>

#include "lower/lowerer.h"

namespace rnnc::lower::detail {

bool Lowerer::steps_contiguous(const Access& a) {
  if (a.shape.empty()) return false;
  const Shape inner(a.shape.begin() + 1, a.shape.end());
  return std::vector<int64_t>(a.strides.begin() + 1, a.strides.end()) == strides_of(inner) &&
         a.strides[0] >= numel(inner);
}

// Every element of a's slice t = 0 lies in [0, step): slice t lies in slot t of a buffer of slots.
static bool within_first_slot(const Access& a, int64_t step) {
  int64_t reach = a.offset;
  for (size_t d = 1; d < a.shape.size(); ++d) {
    if (a.shape[d] == 0) return true;
    reach += (a.shape[d] - 1) * a.strides[d];
  }
  return a.offset >= 0 && reach < step;
}

void Lowerer::plan_slot_reuse(const LoopKey& key, const std::vector<int>& at_output) {
  const Loop& L = *key.first;
  LoopPlan& plan = loops_.at(key);
  const int first = plan.outputs.front();
  std::set<int> taken;  // outputs placed
  std::set<int> lent;   // buffers lent
  for (int j = 0; j < L.xs; ++j) {
    const int x = at(order_[first]->inputs[L.carries + j]);
    const Access& xa = info_[x].access;
    if (!info_[x].has_access || xa.buf.space != Space::Arena || !steps_contiguous(xa) || lent.count(xa.buf.index))
      continue;
    const int buf = xa.buf.index;
    const int64_t step = xa.strides[0], bytes = size_of(xa.dtype);
    // The buffer must be exactly T slots, and everything that reads it must run before this loop
    // or be this loop.
    if (s_.buffers[buf].bytes != L.length * step * bytes) continue;
    bool free_after = true;
    // Where u reads its operands: a loop's outputs are all computed where its first one is; a view
    // (and a value fused into its consumer) reads where its consumers run.
    std::function<bool(int)> reads_from_here = [&](int u) {
      const Info& ui = info_[u];
      if (ui.kind == Kind::Loop)
        return loop_key(*order_[u]) != key && loops_.at(loop_key(*order_[u])).outputs.front() >= first;
      const bool passes_on = ui.kind == Kind::View || ui.kind == Kind::Alias ||
                             ((ui.kind == Kind::Compute || ui.kind == Kind::Reduce) && !ui.stored);
      if (!passes_on) return u >= first;
      return std::any_of(ui.users.begin(), ui.users.end(), reads_from_here);
    };
    for (size_t i = 0; i < order_.size() && free_after; ++i) {
      const Info& in = info_[i];
      if (!in.has_access || in.access.buf != xa.buf) continue;
      if (in.output >= 0 || std::find_if(outputs_.begin(), outputs_.end(), [&](const Var& o) {
                              return o.node().get() == order_[i].get();
                            }) != outputs_.end())
        free_after = false;
      if (std::any_of(in.users.begin(), in.users.end(), reads_from_here)) free_after = false;
    }
    // The loop reads the buffer only as sequences with this step, each within slot t at step t,
    // never as a carry or an invariant, which every step would read, nor shifted into another
    // slot (x_{t+1} at step t), which a later step would read after step t overwrote it.
    for (size_t k = 0; k < order_[first]->inputs.size(); ++k) {
      const Access& b = info_[at(order_[first]->inputs[k])].access;
      if (b.buf != xa.buf) continue;
      const bool sequence = static_cast<int>(k) >= L.carries && static_cast<int>(k) < L.carries + L.xs;
      if (!sequence || b.strides.empty() || b.strides[0] != step || !within_first_slot(b, step)) free_after = false;
    }
    if (!free_after) continue;
    // Pack stacked outputs of the same dtype into the slot, in order, from the slot's start (slot t
    // is [t step, (t + 1) step) of the buffer; x may be a view of only part of it, e.g. the second
    // of the stacks an earlier loop packed there).
    int64_t used = 0;
    for (int k = L.carries; k < static_cast<int>(L.outputs.size()); ++k) {
      const int i = at_output[k];
      if (i < 0 || taken.count(k) || info_[i].has_access || info_[i].in_place || info_[i].output >= 0) continue;
      if (std::find_if(outputs_.begin(), outputs_.end(),
                       [&](const Var& o) { return shown(o.node().get()) == order_[i].get(); }) != outputs_.end())
        continue;
      const Shape& shape = order_[i]->shape;
      const int64_t slot = numel(shape) / L.length;
      if (order_[i]->dtype != xa.dtype || used + slot > step) continue;
      Access lent_access = xa;
      lent_access.offset = used;
      lent_access.shape = shape;
      lent_access.strides = strides_of(shape);
      lent_access.strides[0] = step;
      // A reshape views its operand as contiguous, and is placed after this (placing the loop
      // placed its outputs), too late to copy a strided operand first: such outputs keep their own
      // buffer unless the slot holds them contiguously.
      if (!lent_access.contiguous() && std::any_of(info_[i].users.begin(), info_[i].users.end(),
                                                   [&](int u) { return info_[u].kind == Kind::Alias; }))
        continue;
      Info& in = info_[i];
      in.access = lent_access;
      in.stored = in.has_access = true;
      taken.insert(k);
      plan.staged.insert(k);
      used += slot;
    }
    if (used > 0) lent.insert(buf);
  }
}

void Lowerer::plan_history(const LoopKey& key) {
  LoopPlan& plan = loops_.at(key);
  const std::vector<int>& outs = plan.outputs;
  const Loop& L = *key.first;
  std::vector<int>& history = plan.history;
  history.assign(L.carries, -1);
  plan.planned = true;
  std::vector<int> at_output(L.outputs.size(), -1);
  for (int i : outs) at_output[order_[i]->ints[0]] = i;
  // Revolve's forward loop lends no slots: running it again reads its sequences.
  if (L.revolve > 0 && plan_revolve(key, at_output)) return;
  for (int c = 0; c < L.carries && !L.reverse; ++c) {
    int same = -1, prev = -1;
    for (int k = L.carries; k < static_cast<int>(L.outputs.size()); ++k) {
      if (same < 0 && L.outputs[k].same(L.outputs[c])) same = k;
      if (prev < 0 && L.outputs[k].same(L.inputs[c])) prev = k;
    }
    if (same < 0 && prev < 0) continue;
    bool free = true;  // none of them is claimed by a concat
    for (int k : {c, same, prev})
      if (k >= 0 && at_output[k] >= 0) free &= !info_[at_output[k]].in_place;
    if (!free) continue;
    const Shape& shape = L.outputs[c].shape();
    const DType dtype = L.outputs[c].dtype();
    const int64_t slot = numel(shape);
    Shape all = shape;
    all.insert(all.begin(), L.length + 1);
    s_.buffers.push_back(ArenaBuffer{static_cast<int64_t>(numel(all) * size_of(dtype)), -1});
    history[c] = static_cast<int>(s_.buffers.size() - 1);
    const Access whole = home(BufferRef{Space::Arena, history[c]}, dtype, all);
    auto view = [&](int k, int64_t first) {
      if (k < 0 || at_output[k] < 0) return;
      Info& in = info_[at_output[k]];
      in.access = whole;
      in.access.offset = first * slot;
      in.access.shape = order_[at_output[k]]->shape;
      in.access.strides = strides_of(in.access.shape);
      in.stored = in.has_access = true;
    };
    view(same, 1);
    view(prev, 0);
    view(c, L.length);
    for (int k : {same, prev})
      if (k >= 0) plan.dropped.insert(k);
  }
  plan_slot_reuse(key, at_output);
}

bool Lowerer::plan_revolve(const LoopKey& key, const std::vector<int>& at_output) {
  const Loop& L = *key.first;
  LoopPlan& plan = loops_.at(key);
  std::vector<int> checkpoint_of(L.outputs.size(), -1);
  const Loop* back = nullptr;  // the one loop reading the checkpoints
  for (int c = 0; c < L.carries; ++c)
    for (int k = L.carries; k < static_cast<int>(L.outputs.size()); ++k) {
      if (!L.outputs[k].same(L.inputs[c]) || at_output[k] < 0) continue;
      const Info& in = info_[at_output[k]];
      if (in.in_place || in.output >= 0) return false;
      for (int u : in.users) {
        const Node& un = *order_[u];
        if (un.op != Op::Scan || un.loop->revolve != L.revolve || un.loop.get() == &L ||
            (back && un.loop.get() != back))
          return false;
        back = un.loop.get();
        for (size_t b = 0; b < un.inputs.size(); ++b)
          if (un.inputs[b].get() == order_[at_output[k]].get() &&
              (static_cast<int>(b) < back->carries || static_cast<int>(b) >= back->carries + back->xs))
            return false;  // read other than as a sequence
      }
      if (std::find(checkpoint_of.begin(), checkpoint_of.end(), c) != checkpoint_of.end()) return false;  // twice
      checkpoint_of[k] = c;
    }
  // Running the loop again needs every carry from a slot.
  for (int c = 0; c < L.carries; ++c)
    if (std::find(checkpoint_of.begin(), checkpoint_of.end(), c) == checkpoint_of.end()) return false;
  if (!back) return false;

  auto r = std::make_shared<RevolveStep>();
  r->schedule = exec::revolve(L.length, L.revolve);
  auto round = [](int64_t b) { return (b + 63) / 64 * 64; };
  int64_t work = 0;
  for (auto& copy : r->carry_at)
    for (int c = 0; c < L.carries; ++c) {
      copy.push_back(work);
      work += round(numel(L.outputs[c].shape()) * size_of(L.outputs[c].dtype()));
    }
  r->slots.resize(L.carries);
  for (int k = 0; k < static_cast<int>(L.outputs.size()); ++k) {
    const int c = checkpoint_of[k];
    r->ys_at.push_back(-1);
    if (k >= L.carries && c < 0) {  // a stacked output: one step of it while running again
      r->ys_at.back() = work;
      work += round(numel(L.outputs[k].shape()) * size_of(L.outputs[k].dtype()));
    }
    if (c < 0) continue;
    // The checkpoints [T, ...] are the slots [S, ...]: the loop running back is pointed at the
    // carry each step needs, never at a slot by position.
    const Shape& one = L.inputs[c].shape();
    const DType dtype = L.inputs[c].dtype();
    s_.buffers.push_back(ArenaBuffer{static_cast<int64_t>(L.revolve * numel(one) * size_of(dtype)), -1});
    Shape all = one;
    all.insert(all.begin(), L.revolve);
    r->slots[c] = home(BufferRef{Space::Arena, static_cast<int>(s_.buffers.size() - 1)}, dtype, all);
    Info& in = info_[at_output[k]];
    in.access = r->slots[c];
    in.access.shape = order_[at_output[k]]->shape;
    in.access.strides = strides_of(in.access.shape);
    in.stored = in.has_access = true;
    plan.dropped.insert(k);
  }
  s_.buffers.push_back(ArenaBuffer{std::max<int64_t>(work, 64), -1});
  r->work = home(BufferRef{Space::Arena, static_cast<int>(s_.buffers.size() - 1)}, DType::f32, {1});
  plan.revolve = std::move(r);
  plan.checkpoint_of = std::move(checkpoint_of);
  return true;
}

void Lowerer::link_revolve(std::vector<Pending>& steps) {
  for (Pending& b : steps) {
    Step& back = b.step;
    if (back.kind != Step::Kind::Loop || !back.loop->revolve || back.loop->revolve->forward == back.loop.get())
      continue;
    const LoopStep* f = back.loop->revolve->forward;
    for (const Pending& q : steps) {
      const Step& fwd = q.step;
      if (fwd.kind != Step::Kind::Loop || fwd.loop.get() != f) continue;
      for (size_t b = f->carries; b < f->bindings.size(); ++b)  // c_0 is in slot 0
        if (f->bindings[b].buf.space == Space::Arena) back.reads.push_back(f->bindings[b].buf.index);
      back.reads.push_back(f->scratch.buf.index);
      back.writes.push_back(f->scratch.buf.index);
    }
  }
}

// Whether the loop's body is one kernel in which every lane of every carry is read and written at
// the same point: a plain store of next carry c and every load of carry c with the same strides
// and offset, which select lanes along the kernel's outer axis. Then a point's carry depends only
// on the same point's carry a step before (and on inputs of its own step), and a share of the
// outer axis can run through all T steps on one thread while other threads run theirs: the
// backward loop of such a loop is again of this kind (its adjoint carry is elementwise too).
static bool lanes_apart(const LoopStep& l, const std::vector<Kernel>& kernels) {
  const exec::Schedule& body = *l.body;
  if (body.steps.size() != 1 || body.steps[0].kind != Step::Kind::Kernel || l.revolve || l.carries == 0) return false;
  const KernelStep& k = body.steps[0].kernel;
  if (!k.splittable || !k.fills.empty() || k.outer < 2) return false;
  const KernelDesc& d = kernels.at(static_cast<size_t>(k.kernel)).desc;
  // An output staged (written to scratch, then copied over the slice of a sequence the step read)
  // must be stored so that a share of the outer axis is one range of it: point i of the outer axis
  // writes only within its S elements [i S, (i + 1) S), S = the output's size / the outer extent
  // (row-major, or the pieces of a concat along the last axis: a chunked gate gradient).
  for (size_t r = 0; r < l.staged_at.size(); ++r) {
    if (l.staged_at[r] < 0) continue;
    const int o = l.body_output[r];
    const int64_t size = numel(l.body->outputs[static_cast<size_t>(o)].shape), S = size / k.outer;
    if (S * k.outer != size) return false;
    for (const Store& st : d.stores) {
      const std::vector<int64_t>& strides = d.args[static_cast<size_t>(st.arg)].strides;
      if (k.args[static_cast<size_t>(st.arg)].buf != BufferRef{Space::Output, o}) continue;
      int64_t last = k.args[static_cast<size_t>(st.arg)].offset;
      for (size_t a = 1; a < strides.size(); ++a) {
        if (strides[a] < 0) return false;
        last += (d.domain[a] - 1) * strides[a];
      }
      if (st.reduce != Op::Input || strides[0] != S || k.args[static_cast<size_t>(st.arg)].offset < 0 || last >= S)
        return false;
    }
  }
  for (int c = 0; c < l.carries; ++c) {
    const KernelArg* written = nullptr;
    int64_t offset = 0;
    for (const Store& st : d.stores) {
      const Access& a = k.args[static_cast<size_t>(st.arg)];
      if (a.buf != BufferRef{Space::Output, c}) continue;
      const KernelArg& arg = d.args[static_cast<size_t>(st.arg)];
      if (st.reduce != Op::Input || (written && (arg.strides != written->strides || a.offset != offset))) return false;
      written = &arg, offset = a.offset;
    }
    if (!written || written->strides.empty() || written->strides[0] == 0) return false;
    for (size_t a = 0; a < k.args.size(); ++a)
      if (k.args[a].buf == BufferRef{Space::Input, c} &&
          (d.args[a].strides != written->strides || k.args[a].offset != offset))
        return false;
  }
  return true;
}

Step Lowerer::loop_step(const std::vector<int>& outs) {
  const Node& n = *order_[outs.front()];
  const Loop& L = *n.loop;
  const LoopPlan& plan = loops_.at(loop_key(n));
  auto ls = std::make_shared<LoopStep>();
  // The body computes every output but those its carries' histories hold.
  std::vector<Var> body_outputs;
  const std::set<int>& dropped = plan.dropped;
  for (size_t k = 0; k < L.outputs.size(); ++k) {
    ls->body_output.push_back(dropped.count(static_cast<int>(k)) ? -1 : static_cast<int>(body_outputs.size()));
    if (!dropped.count(static_cast<int>(k))) body_outputs.push_back(L.outputs[k]);
  }
  ls->body = std::make_shared<exec::Schedule>(Lowerer(body_outputs, L.inputs, kernels_).run());
  plan_memory(*ls->body);
  ls->length = L.length;
  ls->reverse = L.reverse;
  ls->carries = L.carries;
  ls->xs = L.xs;
  Step st{Step::Kind::Loop, {}, {}, {}, {}, {}, {}};
  for (const NodePtr& x : n.inputs) {
    ls->bindings.push_back(info_[at(x)].access);
    if (ls->bindings.back().buf.space == Space::Arena) st.reads.push_back(ls->bindings.back().buf.index);
  }
  ls->results.assign(L.outputs.size(), Access{BufferRef{Space::Arena, -1}, DType::f32, {}, 0, {}});
  for (int i : outs) {
    const Access& a = info_[i].access;
    ls->results[order_[i]->ints[0]] = a;
    if (a.buf.space == Space::Arena) st.writes.push_back(a.buf.index);
  }
  for (int h : plan.history) {
    ls->history.push_back(Access{BufferRef{Space::Arena, h}, DType::f32, {}, 0, {}});
    if (h >= 0) st.writes.push_back(h);
  }
  if (plan.revolve) {  // the forward loop of a Revolve pair
    ls->revolve = plan.revolve;
    plan.revolve->forward = ls.get();
    st.writes.push_back(plan.revolve->work.buf.index);
  } else if (L.revolve > 0) {  // the loop running back over one, when it kept its carries in slots
    for (size_t b = 0; b < n.inputs.size(); ++b) {
      const Node& x = *n.inputs[b];
      if (x.op != Op::Scan) continue;
      const LoopPlan& f = loops_.at(loop_key(x));
      if (!f.revolve || f.checkpoint_of[x.ints[0]] < 0) continue;
      ls->revolve = f.revolve;
      f.revolve->reads.emplace_back(static_cast<int>(b), f.checkpoint_of[x.ints[0]]);
    }
    if (ls->revolve) {
      st.reads.push_back(ls->revolve->work.buf.index);
      st.writes.push_back(ls->revolve->work.buf.index);
    }
  }
  auto round = [](int64_t b) { return (b + 63) / 64 * 64; };
  int64_t bytes = round(ls->body->arena_bytes);
  for (auto& copy : ls->carry_at)
    for (int c = 0; c < L.carries; ++c) {
      copy.push_back(bytes);
      bytes += round(numel(L.outputs[c].shape()) * size_of(L.outputs[c].dtype()));
    }
  for (size_t k = 0; k < n.inputs.size(); ++k) {
    const Access& a = ls->bindings[k];
    ls->binding_step.push_back(a.shape.empty() ? 0 : a.strides[0]);
  }
  for (size_t k = 0; k < L.outputs.size(); ++k) {
    const Access& a = ls->results[k];
    ls->result_step.push_back(a.shape.empty() || a.buf.index < 0 ? 0 : a.strides[0]);
    ls->staged_at.push_back(-1);
    if (!plan.staged.count(static_cast<int>(k))) continue;
    ls->staged_at.back() = bytes;
    bytes += round(numel(L.outputs[k].shape()) * size_of(L.outputs[k].dtype()));
  }
  for (size_t k = 0; k < L.outputs.size(); ++k) {
    ls->unused_at.push_back(-1);
    if (static_cast<int>(k) < L.carries || ls->results[k].buf.index >= 0 || ls->body_output[k] < 0) continue;
    ls->unused_at.back() = bytes;
    bytes += round(numel(L.outputs[k].shape()) * size_of(L.outputs[k].dtype()));
  }
  ls->lanes_apart = lanes_apart(*ls, kernels_);
  if (ls->lanes_apart) {
    const int body_kernel = ls->body->steps[0].kernel.kernel;
    Kernel steps = kernels_.at(static_cast<size_t>(body_kernel));
    steps.desc.steps = true;
    ls->steps_kernel = static_cast<int>(kernels_.size());
    kernels_.push_back(std::move(steps));
  }
  s_.buffers.push_back(ArenaBuffer{std::max<int64_t>(bytes, 64), -1});
  const int scratch = static_cast<int>(s_.buffers.size() - 1);
  ls->scratch = home(BufferRef{Space::Arena, scratch}, DType::f32, {1});
  st.writes.push_back(scratch);
  st.loop = std::move(ls);
  return st;
}

}  // namespace rnnc::lower::detail
