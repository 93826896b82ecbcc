// The lowering's state and stages (internal to lib/lower): the Lowerer walks an optimised graph
// in topological order and produces a Schedule. Its state is a record per node (Info), per
// kernel group (Group), per loop (LoopPlan) and per concat operand copied into place
// (ConcatCopy). fuse.cpp holds the general stages (kinds, placement, fusion groups, kernels,
// emission; see its top comment), concat.cpp the concats written in place, rows.cpp kernels in
// passes over rows and partial sums, lower_loops.cpp what is particular to loops (histories, slot
// reuse, the loop step).
#pragma once
#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <unordered_map>
#include <utility>
#include <vector>

#include "lower/schedule.h"

namespace rnnc::lower::detail {

enum class Kind : uint8_t { Leaf, Const, Compute, Reduce, Gemm, View, Alias, Concat, Library, Loop };

// Steps of their own that read and write whole contiguous buffers.
inline bool opaque(Kind k) { return k == Kind::Library || k == Kind::Loop; }

Kind kind_of(const Node& n);
Access home(BufferRef buf, DType dtype, const Shape& shape);
// The access of a view node, given the access of its input.
Access compose(const Node& n, const Access& in);
// A GEMM can take this operand as it lies (row- or column-major with a leading dimension).
bool gemm_able(const Access& a);
// The shape without its extent-1 axes: kernels over shapes equal so are over the same points.
inline Shape squeezed(const Shape& s) {
  Shape r;
  for (int64_t e : s)
    if (e != 1) r.push_back(e);
  return r;
}

// Where a value is written straight into a concat's buffer: that concat (a node position) and the
// offset along its axis.
struct ConcatSlot {
  int concat = -1;
  int64_t offset = 0;
};

// Everything the lowering decides about one node (indexed by topological position).
struct Info {
  Kind kind = Kind::Library;
  int input = -1;         // Input leaves: which of the function's inputs
  bool stored = false;    // has a buffer of its own, written by a step
  bool is_const = false;  // a Full, or a view of one
  double value = 0;
  bool has_access = false;  // readable from memory through `access`
  Access access;
  Access source;                       // for a stored view: what it copies
  std::vector<int> users;              // distinct consumers
  int output = -1;                     // the output whose tensor it is written to
  int group = -1;                      // kernel group (roots and the nodes inlined into them)
  std::optional<ConcatSlot> in_place;  // written into a concat's buffer instead of one of its own
  std::vector<Access> extra_stores;    // concat slices its kernel writes besides its own value
};

// A concat operand that is not written in place: copied into its slice after it is computed, by
// the operand's own kernel (by_producer) or by a copy kernel.
struct ConcatCopy {
  int concat = -1, operand = -1;  // node positions
  Access dest;
  bool by_producer = false;
};

// One loop (all its Scan nodes, which share a LoopKey).
struct LoopPlan {
  std::vector<int> outputs;              // its Scan nodes (positions)
  bool planned = false;                  // histories and slots decided
  std::vector<int> history;              // per carry: its history buffer [T + 1, ...], or -1
  std::set<int> dropped;                 // outputs the histories hold (the body does not compute them)
  std::set<int> staged;                  // outputs in the slots of a sequence
  std::shared_ptr<RevolveStep> revolve;  // a forward loop keeping its carries in Revolve's slots
  std::vector<int> checkpoint_of;        // with it: per output, the carry it stacks (-1: none)
};

struct Group {
  Shape domain;
  int first = 0;           // position of its first root: where it runs
  std::vector<int> roots;  // in topological order
  int nodes = 0;
};

// The outputs in the order the schedule should finish them: those that need the fewest nodes
// first (ties in the given order). Steps run in a depth-first order from the outputs, so this
// finishes, say, the output layer's gradients before the backward loop runs down the layers: their
// inputs die sooner, and a data-parallel trainer averages them meanwhile (RunHooks).
std::vector<Var> soonest_first(const std::vector<Var>& outputs);

// A step on its way into the schedule: it runs after the node at position `pos`, and computes
// kernel group `group` or node `node` (for the placement).
struct Pending {
  int pos = 0;
  Step step;
  int group = -1, node = -1;
};

class Lowerer {
 public:
  // Kernel steps' descriptions go to `kernels`, shared with the lowerings of loop bodies.
  Lowerer(const std::vector<Var>& outputs, const std::vector<Var>& inputs, std::vector<Kernel>& kernels)
      : outputs_(outputs), kernels_(kernels) {
    order_ = topo_order(soonest_first(outputs));
    info_.resize(order_.size());
    for (size_t i = 0; i < order_.size(); ++i) pos_[order_[i].get()] = static_cast<int>(i);
    output_node_.assign(outputs.size(), -1);
    for (size_t i = 0; i < inputs.size(); ++i) {
      if (auto it = pos_.find(inputs[i].node().get()); it != pos_.end()) info_[it->second].input = static_cast<int>(i);
      s_.inputs.push_back(Spec{inputs[i].shape(), inputs[i].dtype(), inputs[i]->name});
    }
    for (const Var& o : outputs) s_.outputs.push_back(Spec{o.shape(), o.dtype(), ""});
  }

  // The schedule, and where each node is computed (placement, as in Lowered).
  exec::Schedule run(std::vector<std::pair<NodePtr, int>>* placement = nullptr);

 private:
  int at(const NodePtr& n) const { return pos_.at(n.get()); }

  // Kinds, consumers, and which Compute nodes must be stored.
  void classify();

  // Which concat operands are written in place: those whose producer (looking through reshapes
  // of single use) is a kernel, GEMM or library result used by nothing else. GEMMs and library
  // calls write only contiguous slices (a concat along the outermost non-unit axis).
  void plan_concats();

  // The concat's buffer (created by whichever needs it first: an operand or the concat itself).
  const Access& concat_home(int c);

  // The slice of concat c starting at `offset` along its axis, seen with `shape` (the operand's,
  // or for an operand reached through reshapes, its producer's: the slice is then contiguous).
  // Where a concat's piece (seen by the concat as `piece`, computed as `shape`) lies in the
  // concat; nothing when a reshape of the slice cannot be expressed by strides.
  std::optional<Access> concat_slice(int c, int64_t offset, const Shape& piece, const Shape& shape);

  // The node an output shows, looking through reshapes (which do not move data).
  static const Node* shown(const Node* n);

  BufferRef new_buffer(const Node& n, int i);

  // Gives node i a buffer of its own, written by a kernel (for views and constants: a copy).
  void store(int i);

  // Readable accesses for every node that has one.
  void place();

  // Each step's slice of a [T, ...] access is contiguous (the steps may be further apart).
  static bool steps_contiguous(const Access& a);

  // Slot reuse: a sequence the loop reads and nothing reads after it (a hoisted projection, the
  // gates the forward loop saved) lends its step slots to the loop's stacked outputs (the gates,
  // their gradients): step t writes them there once it has read slot t, through a scratch copy.
  // So the projection, the saved gates and the gate gradients of an LSTM share one [T, B, 4H]
  // buffer instead of three.
  void plan_slot_reuse(const LoopKey& key, const std::vector<int>& at_output);

  // A carry whose values the loop's outputs stack (y_t = c_{t+1}: the hidden states; y_t = c_t:
  // the previous ones, which backpropagation saves) lives in one history buffer [T + 1, ...]:
  // step t reads slot t and writes slot t + 1, and those outputs are views of it. No copies, no
  // second buffer. (Forward loops; a reversed loop's carries are gradients, which nothing stacks.)
  void plan_history(const LoopKey& key);

  // Loop::revolve on a forward loop: the outputs stacking its carry inputs (the checkpoints the
  // loop running back reads, and nothing else) are kept in Revolve's slots instead of [T, ...].
  // False (and nothing planned) when they are read otherwise.
  bool plan_revolve(const LoopKey& key, const std::vector<int>& at_output);

  // The loop running back over a Revolve forward loop reads its binding buffers and scratch (to
  // run it again) until it ends.
  static void link_revolve(std::vector<Pending>& steps);

  bool is_root(int i) const;

  // Position after which a buffer holds its value.
  int ready(const BufferRef& b) const;

  // Visits the nodes a root's kernel inlines and the stored values it reads.
  template <class Inline, class Read>
  void walk(int i, bool top, std::vector<int>& seen, Inline&& on_inline, Read&& on_read) {
    const Info& in = info_[i];
    if (std::find(seen.begin(), seen.end(), i) != seen.end()) return;
    seen.push_back(i);
    if (in.is_const) return;
    if (!top && in.has_access) {
      on_read(i);
      return;
    }
    if (!top) on_inline(i);
    const Node& n = *order_[i];
    if (in.stored && (in.kind == Kind::View || in.kind == Kind::Alias)) {
      on_read(-1 - i);  // reads its source
      return;
    }
    for (const NodePtr& x : n.inputs) walk(at(x), false, seen, on_inline, on_read);
  }

  Shape domain_of(int i) const;

  void form_groups();

  // Whether root i, reading `reads`, can join group g: everything it reads is in memory before g
  // runs, or computed by g at the same point, or a row value of g (below).
  bool can_join(int g, int i, const std::vector<int>& reads) const;

  // The value view r shows (r itself when it is not a view or an alias).
  int viewed(int r) const {
    while (info_[r].kind == Kind::View || info_[r].kind == Kind::Alias) r = at(order_[r]->inputs[0]);
    return r;
  }

  // Reading node r (a view: a reshape that adds or drops extent-1 axes) at g's points where it
  // shows a value g computes at the same point (a root of g of the same shape but for extent-1
  // axes): that root's position, else -1. Such a read is a register, as a root's own.
  int same_point(int r, int g) const;

  // A row value of group g: a total of g's along its innermost axis (a Reduce root of g whose
  // result is g's domain with the last extent 1), or a row root of g (a root of that shape, which
  // computes on totals: the mean from the sum). Reading node r at g's points, when r shows such a
  // value spread along the rows (the value itself, or a broadcast of it along the last axis), the
  // value's position; else -1. Such a read needs no memory: a later pass of g's kernel has it.
  int row_value(int r, int g) const;
  // The domain of g's row values: g's domain with the last extent 1 (empty where g has no rows).
  Shape row_shape(int g) const;
  // Whether a value of `shape` is one per row of g: row_shape(g), or that shape without its last
  // axis (a total taken without keepdims, as `sum(h * C, {2})` of a [B, D, N] state gives [B, D]).
  bool per_row(const Shape& shape, int g) const;

  struct KernelBuilder {
    KernelDesc desc;
    std::vector<Access> args;
    std::vector<exec::Fill> fills;                    // reductions' destinations, pre-filled with their identity
    std::unordered_map<int, int> memo;                // node position -> instruction
    std::unordered_map<int, int> total_store, total;  // Reduce root -> its store, its row total

    // An access read or written at every point of the domain: axes it lacks (extent 1 where the
    // domain has more: a row value in a kernel over rows) do not move it.
    int arg(Access a) {
      // An access of the domain's shape but for extent-1 axes (a [H] value in a [1, H] kernel, a
      // [3, 1] one in a [1, 3] kernel): those axes do not move it.
      if (a.shape != desc.domain && squeezed(a.shape) == squeezed(desc.domain)) {
        std::vector<int64_t> strides;
        size_t k = 0;
        for (int64_t e : desc.domain) {
          while (k < a.shape.size() && a.shape[k] == 1) ++k;
          strides.push_back(e == 1 ? 0 : a.strides[k++]);
        }
        a.shape = desc.domain;
        a.strides = strides;
      }
      // A value of one per row (Lowerer::per_row) lacks the innermost axis: it does not move along it.
      if (a.shape.size() + 1 == desc.domain.size() && std::equal(a.shape.begin(), a.shape.end(), desc.domain.begin())) {
        a.shape.push_back(desc.domain.back());
        a.strides.push_back(0);
      }
      if (a.shape.size() == desc.domain.size())
        for (size_t k = 0; k < a.shape.size(); ++k)
          if (a.shape[k] == 1 && desc.domain[k] != 1) {
            a.shape[k] = desc.domain[k];
            a.strides[k] = 0;
          }
      for (size_t k = 0; k < args.size(); ++k)
        if (args[k].buf == a.buf && args[k].offset == a.offset && args[k].strides == a.strides &&
            args[k].dtype == a.dtype)
          return static_cast<int>(k);
      args.push_back(a);
      desc.args.push_back(KernelArg{a.dtype, a.strides});
      return static_cast<int>(args.size() - 1);
    }
    int push(Instr in) {
      desc.code.push_back(in);
      return static_cast<int>(desc.code.size() - 1);
    }
  };

  int load(KernelBuilder& kb, const Access& a);

  // The instruction computing node i inside group g.
  int expr(KernelBuilder& kb, int i, int g, bool top = false);

  // Whether a root's value is needed outside its group.
  bool needed_outside(int i) const;

  // A kernel step for kb's kernel, its description added to the table.
  Step kernel_step(KernelBuilder& kb, int nodes);
  // A kernel that reduces along its outermost axis, not otherwise shared across threads (no
  // column blocks), of at least kPartialPoints points: cut into kPartialChunks with partial sums
  // (exec::Partial), their copies in the arena.
  static constexpr int64_t kPartialChunks = 4, kPartialPoints = int64_t{1} << 14;
  void partial_sums(exec::KernelStep& k, const KernelDesc& d);
  Step group_step(int g);
  // A kernel in passes recomputes, in a later pass, the point values of earlier ones that it
  // needs. A root whose expression has some weight (an LSTM's cell state before its norm: three
  // activations) is stored instead where it is computed, and read back (emit.cpp): in a row on the
  // kernel's stack, up to kRowStackBytes of them (a thread's stack may be small: a user's, calling
  // an exported model), else in a buffer of the domain.
  static constexpr int64_t kRowStackBytes = 64 << 10;
  void keep_across_passes(KernelBuilder& kb, int g);

  // A loop: its body lowered and planned on its own, and the scratch it needs.
  Step loop_step(const std::vector<int>& outs);

  // A kernel that copies one value.
  Step copy_step(KernelBuilder& kb);

  void emit(std::vector<std::pair<NodePtr, int>>* placement);

  const std::vector<Var>& outputs_;
  std::vector<NodePtr> order_;
  std::vector<Info> info_;
  std::unordered_map<const Node*, int> pos_;  // node -> topological position
  std::vector<int> output_node_;              // per output: the node written into its tensor, or -1
  std::map<std::pair<int, int>, int> ready_;  // buffer (space, index) -> position after which it is written
  std::vector<Group> groups_;
  std::vector<ConcatCopy> copies_;
  std::map<LoopKey, LoopPlan> loops_;
  std::vector<Kernel>& kernels_;
  exec::Schedule s_;
};

}  // namespace rnnc::lower::detail
