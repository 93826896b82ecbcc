// Lowering and fusion: from an optimised graph to a Schedule of kernels, GEMMs and library calls.
//
// 1. Every node gets a kind from its op-table class (elementwise -> Compute, sum/max -> Reduce,
//    matmul -> Gemm, broadcast/transpose/slice -> View, reshape -> Alias, the rest -> Library).
// 2. Materialisation: a Compute node is stored to memory only when something outside a kernel
//    needs it: it is an output, it has two or more consumers, or its consumer is a GEMM, a library
//    op or a view. Otherwise it is inlined into its single consumer's kernel; a reduction of it is
//    computed in the same loop (the bias gradient summed over the batch does not split a group).
//    Views never move data: they compose into the strides of whoever reads them, and a GEMM
//    takes a transposed or sliced operand as strides. Only where a consumer needs a layout a view
//    cannot give (a reshape of a transposed tensor, a library op) is the view copied.
//    A concat moves nothing either: each operand computed only for it is written by its producer
//    straight into its slice of the concat's buffer; other operands are copied there.
// 3. Grouping: each stored value is the root of a kernel whose expression is inlined back to
//    stored values. Roots with the same iteration domain merge into one kernel when everything
//    the newcomer reads is ready before the group starts, or is computed by the group at the same
//    point; values used only inside a group are never written to memory. The T steps of an
//    unrolled recurrence produce T kernels with equal keys, so the JIT compiles one.
#include <fmt/format.h>

#include <algorithm>

#include "lower/lowerer.h"
#include "rnnc/error.h"

namespace rnnc::lower {

namespace detail {

std::vector<Var> soonest_first(const std::vector<Var>& outputs) {
  std::vector<std::pair<size_t, size_t>> need;  // (nodes it needs, position)
  for (size_t k = 0; k < outputs.size(); ++k) need.emplace_back(topo_order({outputs[k]}).size(), k);
  std::stable_sort(need.begin(), need.end());
  std::vector<Var> sorted;
  for (const auto& [n, k] : need) sorted.push_back(outputs[k]);
  return sorted;
}

Kind kind_of(const Node& n) {
  switch (n.op) {
    case Op::Input:
    case Op::Literal: return Kind::Leaf;
    case Op::Full: return Kind::Const;
    case Op::MatMul: return is_float(n.dtype) ? Kind::Gemm : Kind::Library;
    case Op::BroadcastTo:
    case Op::Transpose:
    case Op::Slice: return Kind::View;
    case Op::Reshape: return Kind::Alias;
    case Op::Concat: return Kind::Concat;
    case Op::Scan: return Kind::Loop;
    case Op::Sum:
    case Op::Max: return supports(n.op, n.dtype) ? Kind::Reduce : Kind::Library;
    default: break;
  }
  if (info(n.op).cls == OpClass::Elementwise && n.op != Op::OneHot && supports(n.op, n.dtype)) return Kind::Compute;
  return Kind::Library;
}

Access home(BufferRef buf, DType dtype, const Shape& shape) { return Access{buf, dtype, shape, 0, strides_of(shape)}; }

// The access of a view node, given the access of its input.
Access compose(const Node& n, const Access& in) {
  Access a = in;
  a.shape = n.shape;
  const Shape& is = n.inputs[0]->shape;
  switch (n.op) {
    case Op::BroadcastTo: {
      const size_t lead = n.shape.size() - is.size();
      a.strides.assign(n.shape.size(), 0);
      for (size_t k = 0; k < is.size(); ++k) a.strides[lead + k] = is[k] == 1 ? 0 : in.strides[k];
      break;
    }
    case Op::Transpose:
      for (size_t k = 0; k < n.shape.size(); ++k) a.strides[k] = in.strides[n.ints[k]];
      break;
    case Op::Slice:
      for (size_t k = 0; k < is.size(); ++k) a.offset += n.ints[k] * in.strides[k];
      break;
    case Op::Reshape: a.strides = strides_of(n.shape); break;  // only of contiguous accesses
    default: throw Error(fmt::format("rnnc: lower: {} is not a view", name_of(n.op)));
  }
  return a;
}

// A GEMM operand: each matrix is row-major or column-major with some leading dimension.
bool gemm_able(const Access& a) {
  const size_t r = a.shape.size();
  if (r < 2) return false;
  const int64_t rows = a.shape[r - 2], cols = a.shape[r - 1], sr = a.strides[r - 2], sc = a.strides[r - 1];
  const bool row_major = (sc == 1 || cols == 1) && (sr >= cols || rows == 1);
  const bool col_major = (sr == 1 || rows == 1) && (sc >= rows || cols == 1);
  return row_major || col_major;
}

exec::Schedule Lowerer::run(std::vector<std::pair<NodePtr, int>>* placement) {
  classify();
  plan_concats();
  place();
  form_groups();
  emit(placement);
  return std::move(s_);
}

void Lowerer::classify() {
  for (size_t i = 0; i < order_.size(); ++i) {
    Info& in = info_[i];
    in.kind = kind_of(*order_[i]);
    if (in.kind == Kind::Loop) loops_[loop_key(*order_[i])].outputs.push_back(static_cast<int>(i));
    for (const NodePtr& x : order_[i]->inputs) {
      std::vector<int>& u = info_[at(x)].users;
      if (u.empty() || u.back() != static_cast<int>(i)) u.push_back(static_cast<int>(i));
    }
  }
  std::vector<bool> is_output(order_.size(), false);
  for (const Var& o : outputs_) is_output[at(o.node())] = true;
  for (size_t i = 0; i < order_.size(); ++i) {
    Info& in = info_[i];
    if (in.kind != Kind::Compute) continue;
    const Kind user = in.users.size() == 1 ? info_[in.users[0]].kind : Kind::Library;
    in.stored = is_output[i] || in.users.size() != 1 || (user != Kind::Compute && user != Kind::Reduce);
  }
}

const Node* Lowerer::shown(const Node* n) {
  while (n->op == Op::Reshape) n = n->inputs[0].get();
  return n;
}

BufferRef Lowerer::new_buffer(const Node& n, int i) {
  // The first output that is this node (or a reshape of it) gets it written straight into its tensor.
  for (size_t k = 0; k < outputs_.size(); ++k)
    if (shown(outputs_[k].node().get()) == &n && output_node_[k] < 0) {
      output_node_[k] = i;
      info_[i].output = static_cast<int>(k);
      return BufferRef{Space::Output, static_cast<int>(k)};
    }
  s_.buffers.push_back(ArenaBuffer{static_cast<int64_t>(numel(n.shape) * size_of(n.dtype)), -1});
  return BufferRef{Space::Arena, static_cast<int>(s_.buffers.size() - 1)};
}

void Lowerer::store(int i) {
  Info& in = info_[i];
  if (in.stored && in.has_access) return;
  if (in.kind == Kind::View || in.kind == Kind::Alias) in.source = in.access;
  in.stored = true;
  if (in.in_place) {
    const auto [c, offset] = *in.in_place;
    // The operand the concat sees (this node, or a reshape of it).
    const Node* piece = nullptr;
    for (const NodePtr& p : order_[c]->inputs) {
      const Node* q = p.get();
      while (q != order_[i].get() && q->op == Op::Reshape) q = q->inputs[0].get();
      if (q == order_[i].get()) piece = p.get();
    }
    std::optional<Access> slot = concat_slice(c, offset, piece->shape, order_[i]->shape);
    // A GEMM or a library call writes contiguous memory, a loop each step's slice: a slot that
    // lies strided in an enclosing concat does not hold them.
    if (slot && (in.kind == Kind::Gemm || in.kind == Kind::Library) && !slot->contiguous()) slot.reset();
    if (slot && in.kind == Kind::Loop && !steps_contiguous(*slot)) slot.reset();
    if (slot)
      in.access = *slot;
    else {
      in.in_place.reset();  // the concat copies it
      in.access = home(new_buffer(*order_[i], i), order_[i]->dtype, order_[i]->shape);
    }
  } else {
    in.access = home(new_buffer(*order_[i], i), order_[i]->dtype, order_[i]->shape);
  }
  in.has_access = true;
}

void Lowerer::place() {
  for (size_t i = 0; i < order_.size(); ++i) {
    const Node& n = *order_[i];
    Info& in = info_[i];
    switch (in.kind) {
      case Kind::Leaf:
        if (n.op == Op::Input) {
          if (in.input < 0)
            throw Error(
                fmt::format("rnnc: compile: the graph uses input '{}' {}{} that is not among the "
                            "function's inputs",
                            n.name, name_of(n.dtype), to_string(n.shape)));
          in.access = home(BufferRef{Space::Input, in.input}, n.dtype, n.shape);
        } else {
          s_.literals.push_back(*n.literal);
          in.access = home(BufferRef{Space::Literal, static_cast<int>(s_.literals.size() - 1)}, n.dtype, n.shape);
        }
        in.has_access = true;
        break;
      case Kind::Const:
        in.is_const = true;
        in.value = n.scalar;
        break;
      case Kind::View:
      case Kind::Alias: {
        const int x = at(n.inputs[0]);
        if (info_[x].is_const) {
          in.is_const = true;
          in.value = info_[x].value;
          break;
        }
        if (in.kind == Kind::Alias && !info_[x].access.contiguous()) store(x);
        in.access = compose(n, info_[x].access);
        in.has_access = true;
        break;
      }
      case Kind::Compute:
        if (in.stored) store(static_cast<int>(i));
        break;
      case Kind::Reduce: store(static_cast<int>(i)); break;
      case Kind::Gemm:
        for (const NodePtr& x : n.inputs)
          if (!info_[at(x)].has_access || !gemm_able(info_[at(x)].access)) store(at(x));
        store(static_cast<int>(i));
        break;
      case Kind::Concat: {
        concat_home(static_cast<int>(i));
        int64_t off = 0;
        for (const NodePtr& x : n.inputs) {
          const int xi = at(x);
          const Node* q = x.get();
          while (q->op == Op::Reshape) q = q->inputs[0].get();
          const std::optional<ConcatSlot>& slot = info_[pos_.at(q)].in_place;
          if (!slot || slot->concat != static_cast<int>(i))
            copies_.push_back({static_cast<int>(i), xi,
                               *concat_slice(static_cast<int>(i), off, x->shape, x->shape)});  // (same shape: always)
          off += x->shape[n.ints[0]];
        }
        break;
      }
      case Kind::Library:
      case Kind::Loop:
        for (size_t k = 0; k < n.inputs.size(); ++k) {
          const int x = at(n.inputs[k]);
          const bool sequence = in.kind == Kind::Loop && static_cast<int>(k) >= n.loop->carries &&
                                static_cast<int>(k) < n.loop->carries + n.loop->xs;
          if (!info_[x].has_access ||
              !(info_[x].access.contiguous() || (sequence && steps_contiguous(info_[x].access))))
            store(x);
        }
        if (in.kind == Kind::Loop && !loops_.at(loop_key(n)).planned) plan_history(loop_key(n));
        store(static_cast<int>(i));
        break;
    }
  }
}

bool Lowerer::is_root(int i) const {
  const Info& in = info_[i];
  return in.stored && in.kind != Kind::Leaf && in.kind != Kind::Gemm && !opaque(in.kind);
}

int Lowerer::ready(const BufferRef& b) const {
  if (b.space == Space::Input || b.space == Space::Literal) return -1;
  auto it = ready_.find({static_cast<int>(b.space), b.index});
  return it == ready_.end() ? 1 << 30 : it->second;
}

Shape Lowerer::domain_of(int i) const {
  const Node& n = *order_[i];
  return info_[i].kind == Kind::Reduce ? n.inputs[0]->shape : n.shape;
}

void Lowerer::form_groups() {
  std::map<Shape, int> last;  // latest group per domain (squeezed: [1, H] and [H] are the same points)
  for (size_t ii = 0; ii < order_.size(); ++ii) {
    const int i = static_cast<int>(ii);
    const Info& in = info_[i];
    if (in.kind == Kind::Gemm || opaque(in.kind) || in.kind == Kind::Concat) {
      ready_[{static_cast<int>(in.access.buf.space), in.access.buf.index}] = i;  // all slices written
      continue;
    }
    if (!is_root(i)) continue;
    const Shape dom = domain_of(i);
    std::vector<int> inlined, reads, seen;
    walk(
        i, true, seen, [&](int j) { inlined.push_back(j); }, [&](int j) { reads.push_back(j); });
    int g = -1;
    auto it = last.find(squeezed(dom));
    if (it != last.end() && can_join(it->second, i, reads)) g = it->second;
    // A row root (the mean from a sum) joins the group whose totals it reads.
    for (int r : reads) {
      if (g >= 0 || r < 0) continue;
      const int q = viewed(r);
      if (info_[q].group >= 0 && row_value(r, info_[q].group) == q && can_join(info_[q].group, i, reads))
        g = info_[q].group;
    }
    if (g < 0) {
      groups_.push_back(Group{dom, i, {}, 0});
      g = static_cast<int>(groups_.size() - 1);
      last[squeezed(dom)] = g;
    }
    groups_[g].roots.push_back(i);
    groups_[g].nodes += 1 + static_cast<int>(inlined.size());
    info_[i].group = g;
    for (int j : inlined) info_[j].group = g;
    ready_[{static_cast<int>(in.access.buf.space), in.access.buf.index}] = groups_[g].first;
  }
}

bool Lowerer::can_join(int g, int i, const std::vector<int>& reads) const {
  // Roots over g's domain join it, and roots over its rows that read its row values.
  const Shape dom = domain_of(i);
  // (A reduction keeps to its own domain: its axes are the domain's.)
  if (dom != groups_[g].domain && info_[i].kind == Kind::Reduce) return false;
  const bool row_root = squeezed(dom) != squeezed(groups_[g].domain);
  if (row_root && (!per_row(dom, g) || info_[i].kind != Kind::Compute)) return false;
  bool on_rows = false;
  for (int r : reads) {
    const Access& a = r >= 0 ? info_[r].access : info_[-1 - r].source;
    // A value the group computes at the same point can be used in registers...
    if (r >= 0 && info_[r].group == g && info_[r].kind != Kind::Reduce && is_root(r)) {
      on_rows |= row_root;
      continue;
    }
    // ...or seen through a reshape that only adds or drops extent-1 axes...
    if (r >= 0 && same_point(r, g) >= 0) {
      on_rows |= row_root;
      continue;
    }
    // ...and so can its row values, in a later pass...
    if (r >= 0 && row_value(r, g) >= 0) {
      on_rows = true;
      continue;
    }
    // ...anything else must be in memory before the group runs.
    if (ready(a.buf) >= groups_[g].first) return false;
  }
  return !row_root || on_rows;
}

int Lowerer::load(KernelBuilder& kb, const Access& a) {
  Instr in;
  in.op = Op::Input;
  in.dtype = a.dtype;
  in.arg = kb.arg(a);
  return kb.push(in);
}

int Lowerer::expr(KernelBuilder& kb, int i, int g, bool top) {
  if (!top)
    if (const int q = row_value(i, g); q >= 0) {  // computed in an earlier pass
      if (info_[q].kind != Kind::Reduce) return kb.memo.at(q);
      if (auto it = kb.total.find(q); it != kb.total.end()) return it->second;
      Instr t;
      t.op = order_[q]->op;
      t.dtype = order_[q]->dtype;
      t.arg = kb.total_store.at(q);
      return kb.total[q] = kb.push(t);
    }
  if (auto it = kb.memo.find(i); it != kb.memo.end()) return it->second;
  if (const int q = top ? -1 : same_point(i, g); q >= 0) return kb.memo.at(q);
  const Info& in = info_[i];
  const Node& n = *order_[i];
  int v;
  if (in.is_const) {
    Instr c;
    c.op = Op::Full;
    c.dtype = n.dtype;
    c.value = in.value;
    v = kb.push(c);
  } else if (!top && in.has_access) {
    v = load(kb, in.access);
  } else if (in.kind == Kind::View || in.kind == Kind::Alias) {
    v = load(kb, in.source);
  } else if (in.kind == Kind::Reduce) {
    v = expr(kb, at(n.inputs[0]), g);
  } else {
    Instr c;
    c.op = n.op;
    c.dtype = n.dtype;
    int* operand[3] = {&c.a, &c.b, &c.c};
    for (size_t k = 0; k < n.inputs.size() && k < 3; ++k) *operand[k] = expr(kb, at(n.inputs[k]), g);
    v = kb.push(c);
  }
  if (in.kind != Kind::Reduce) kb.memo[i] = v;
  return v;
}

bool Lowerer::needed_outside(int i) const {
  if (info_[i].output >= 0 || info_[i].kind == Kind::Reduce) return true;
  for (int u : info_[i].users)
    if (info_[u].group != info_[i].group) return true;
  return false;
}

Step Lowerer::kernel_step(KernelBuilder& kb, int nodes) {
  kb.desc.collapse();
  // From the size at which the executor shares a kernel out (executor.cpp's kWakeElements).
  kb.desc.block_columns(int64_t{1} << 15);
  const KernelDesc& d = kb.desc;
  Step st{Step::Kind::Kernel, {}, {}, {}, {}, {}, {}};
  KernelStep& k = st.kernel;
  k.kernel = static_cast<int>(kernels_.size());
  k.args = std::move(kb.args);
  k.outer = d.domain[0];
  k.points = numel(d.domain);
  k.splittable = d.splittable();
  k.fills = std::move(kb.fills);
  std::erase_if(k.fills, [&](const exec::Fill& f) {
    return std::all_of(d.stores.begin(), d.stores.end(),
                       [&](const Store& s) { return s.arg != f.arg || d.writes_row_total(s); });
  });
  partial_sums(k, d);
  for (size_t a = 0; a < k.args.size(); ++a) {
    const BufferRef& b = k.args[a].buf;
    if (b.space != Space::Arena) continue;
    bool written = false;
    for (const Store& s : d.stores) written |= s.arg == static_cast<int>(a);
    (written ? st.writes : st.reads).push_back(b.index);
  }
  for (const exec::Partial& q : k.partials) st.writes.push_back(q.copies.buf.index);
  kernels_.push_back(Kernel{std::move(kb.desc), nodes});
  return st;
}

Step Lowerer::group_step(int g) {
  const Group& gr = groups_[g];
  KernelBuilder kb;
  kb.desc.domain = gr.domain;
  for (int r : gr.roots) {
    const int v = expr(kb, r, g, true);
    kb.memo[r] = v;
    for (const Access& dest : info_[r].extra_stores) kb.desc.stores.push_back(Store{v, kb.arg(dest), Op::Input});
    if (!needed_outside(r)) continue;
    const Info& in = info_[r];
    Access out = in.access;
    Store s;
    s.value = v;
    if (in.kind == Kind::Reduce) {
      // Stride 0 along the reduced axes: every point of them adds into the same element.
      out.shape = gr.domain;
      for (size_t k = 0; k < gr.domain.size(); ++k)
        if (order_[r]->shape[k] == 1 && gr.domain[k] != 1) out.strides[k] = 0;
      s.reduce = order_[r]->op;
    }
    s.arg = kb.arg(out);
    if (s.reduce != Op::Input) kb.total_store[r] = static_cast<int>(kb.desc.stores.size());
    if (s.reduce != Op::Input)
      kb.fills.push_back(exec::Fill{s.reduce == Op::Sum ? exec::Fill::Identity::Zero : exec::Fill::Identity::Lowest,
                                    s.arg, numel(order_[r]->shape)});
    kb.desc.stores.push_back(s);
  }
  keep_across_passes(kb, g);
  return kernel_step(kb, gr.nodes);
}

Step Lowerer::copy_step(KernelBuilder& kb) { return kernel_step(kb, 1); }

// The run time's routine for a library node, with what its errors name.
LibraryStep library_step(const Node& n, std::vector<Access> ins, const Access& out) {
  LibraryStep l{exec::Routine::Gather, {}, where(n.loc), std::move(ins), out};
  switch (n.op) {
    case Op::Gather: l.routine = exec::Routine::Gather; break;
    case Op::ScatterAdd: l.routine = exec::Routine::ScatterAdd; break;
    case Op::OneHot: l.routine = exec::Routine::OneHot; break;
    case Op::SequenceMask: l.routine = exec::Routine::SequenceMask; break;
    case Op::Pad:
      l.routine = exec::Routine::Pad;
      l.ints = n.ints;
      break;
    default:
      throw Error(fmt::format("rnnc: compile: {} on {}{} has no kernel and no run-time routine (at {})", name_of(n.op),
                              name_of(n.dtype), to_string(n.shape), where(n.loc)));
  }
  return l;
}

void Lowerer::emit(std::vector<std::pair<NodePtr, int>>* placement) {
  for (ConcatCopy& copy : copies_) {
    Info& in = info_[copy.operand];
    if (in.kind != Kind::Compute || in.group < 0 || !is_root(copy.operand) ||
        order_[copy.operand]->shape != copy.dest.shape)
      continue;
    in.extra_stores.push_back(copy.dest);
    copy.by_producer = true;
  }
  // An output that repeats another (a loop body whose step value is two of its carries, or a
  // carry and a stacked output) is stored by the kernel computing it, beside its first place,
  // rather than copied after by a kernel of its own: the body stays one kernel.
  std::vector<bool> by_producer(outputs_.size(), false);
  for (size_t k = 0; k < outputs_.size(); ++k) {
    const int i = at(outputs_[k].node());
    if (output_node_[k] >= 0 || info_[i].kind != Kind::Compute || info_[i].group < 0 || !is_root(i)) continue;
    const Var& o = outputs_[k];
    info_[i].extra_stores.push_back(home(BufferRef{Space::Output, static_cast<int>(k)}, o.dtype(), o.shape()));
    by_producer[k] = true;
  }
  std::vector<Pending> steps;
  for (size_t g = 0; g < groups_.size(); ++g)
    steps.push_back(Pending{groups_[g].first, group_step(static_cast<int>(g)), static_cast<int>(g), -1});
  for (size_t ii = 0; ii < order_.size(); ++ii) {
    const int i = static_cast<int>(ii);
    const Info& in = info_[i];
    if (in.kind != Kind::Gemm && in.kind != Kind::Library) continue;
    Step st{in.kind == Kind::Gemm ? Step::Kind::Gemm : Step::Kind::Library, {}, {}, {}, {}, {}, {}};
    std::vector<Access> ins;
    for (const NodePtr& x : order_[i]->inputs) ins.push_back(info_[at(x)].access);
    if (in.kind == Kind::Gemm)
      st.gemm = GemmStep{ins[0], ins[1], in.access, {}};
    else
      st.library = library_step(*order_[i], ins, in.access);
    for (const Access& a : ins)
      if (a.buf.space == Space::Arena) st.reads.push_back(a.buf.index);
    if (in.access.buf.space == Space::Arena) st.writes.push_back(in.access.buf.index);
    steps.push_back(Pending{i, std::move(st), -1, i});
  }
  // One step per loop, where its first output is (every output of a loop has the same inputs).
  for (const auto& [key, plan] : loops_)
    steps.push_back(Pending{plan.outputs.front(), loop_step(plan.outputs), -1, plan.outputs.front()});
  link_revolve(steps);
  // Concat operands not written in place are copied into their slices: by the kernel that
  // computes them when there is one (a value in two concats, as the reset and update gate
  // gradients of a GRU, which both its weight gradients read), else by a copy kernel.
  for (const ConcatCopy& copy : copies_) {
    if (copy.by_producer) continue;
    KernelBuilder kb;
    kb.desc.domain = copy.dest.shape;
    const int v = expr(kb, copy.operand, -1);
    kb.desc.stores.push_back(Store{v, kb.arg(copy.dest), Op::Input});
    steps.push_back(Pending{copy.concat, copy_step(kb)});
  }
  // Outputs not written in place (inputs, constants, views, repeated outputs) are copied, as soon
  // as their value exists (RunHooks hears of them then).
  for (size_t k = 0; k < outputs_.size(); ++k) {
    if (output_node_[k] >= 0 || by_producer[k]) continue;
    const int i = at(outputs_[k].node());
    KernelBuilder kb;
    kb.desc.domain = outputs_[k].shape();
    const int v = expr(kb, i, -1);
    const Access out = home(BufferRef{Space::Output, static_cast<int>(k)}, outputs_[k].dtype(), outputs_[k].shape());
    kb.desc.stores.push_back(Store{v, kb.arg(out), Op::Input});
    steps.push_back(Pending{i, copy_step(kb)});
  }
  std::stable_sort(steps.begin(), steps.end(), [](const Pending& a, const Pending& b) { return a.pos < b.pos; });
  std::vector<int> step_of_group(groups_.size(), -1), step_of_node(order_.size(), -1);
  for (Pending& p : steps) {
    const int k = static_cast<int>(s_.steps.size());
    if (p.group >= 0) step_of_group[p.group] = k;
    if (p.node >= 0) step_of_node[p.node] = k;
    s_.steps.push_back(std::move(p.step));
  }
  if (placement)
    for (size_t i = 0; i < order_.size(); ++i) {
      const int g = info_[i].group;
      placement->emplace_back(order_[i], g >= 0 ? step_of_group[g] : step_of_node[i]);
    }
}

}  // namespace detail

Lowered lower(const std::vector<Var>& outputs, const std::vector<Var>& inputs) {
  Lowered l;
  l.schedule = detail::Lowerer(outputs, inputs, l.kernels).run(&l.placement);
  return l;
}

}  // namespace rnnc::lower
