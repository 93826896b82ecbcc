// A fused elementwise kernel, as the compiler hands it to code generation: a loop nest over an
// iteration domain, a little SSA program evaluated at every point of it, and stores.
//
//   for idx in domain:                       (the outermost axis is split across threads)
//     v0 = load  arg0[sum_k idx_k * strides0_k]
//     v1 = const 1.0
//     v2 = add v0 v1 ...
//     arg2[sum_k idx_k * strides2_k]  = v2   (plain store)
//     arg3[sum_k idx_k * strides3_k] += v2   (reducing store: stride 0 along the reduced axes)
//
// Everything that decides the machine code is in this struct, so two kernels with equal key()
// compile to the same code: the T steps of an unrolled recurrence share one kernel. Base pointers
// (with the views' offsets applied) are passed at run time; strides are compile-time constants.
// No LLVM types here: code generation reads it, the run time never sees it.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "rnnc/graph.h"

namespace rnnc::lower {

struct KernelArg {
  DType dtype = DType::f32;
  std::vector<int64_t> strides;  // elements, one per domain axis
  // One row of scratch that the kernel keeps on its own stack (strides 0 but along the innermost
  // axis; the caller's pointer is not used): a value one pass of a row writes and a later pass of
  // the same row reads back (KernelDesc::passes). Each thread's rows stay in its L1 cache, where a
  // buffer of the whole domain would stream every row out to memory and back.
  bool row_local = false;
};

// One instruction. `op` is an op-table entry, or Op::Input (load args[arg]) or Op::Full (constant),
// or Op::Sum / Op::Max: the total of stores[arg] (a store reducing along the innermost axis) over
// the row of the point, which a later pass reads (see KernelDesc::passes).
struct Instr {
  Op op = Op::Full;
  DType dtype = DType::f32;    // of the result
  int a = -1, b = -1, c = -1;  // operand instructions
  int arg = -1;                // Input: which argument
  double value = 0;            // Full: the constant
};

struct Store {
  int value = 0;          // instruction stored
  int arg = 0;            // destination argument
  Op reduce = Op::Input;  // Op::Input: plain store; Op::Sum or Op::Max: accumulate (pre-initialised)
};

struct KernelDesc {
  Shape domain;  // after collapsing: no extent-1 axes, adjacent axes merged where every access allows
  std::vector<KernelArg> args;
  std::vector<Instr> code;
  std::vector<Store> stores;
  // The time-fused form of a loop body that is this one kernel (exec::LoopStep::steps_kernel): its
  // entry runs many steps of the loop, the time axis inside, on one share of the lanes. Its
  // argument array is a plan: per argument (base, increment in bytes, alternate), then the step
  // count, then the staged outputs' count and per staged output (its scratch place, its slot at
  // step 0, the slot's increment in bytes, its bytes per point of the outer axis). Step s reads and
  // writes argument a at alternate_a on odd s where alternate_a is not null (a carry's two scratch
  // copies), else at base_a + s increment_a; then copies each staged output to its slot.
  bool steps = false;

  // A canonical text of the kernel: its identity in every cache.
  std::string key() const;
  // Merges adjacent axes that every argument walks contiguously and drops extent-1 axes.
  void collapse();
  // A kernel that reads row totals (a layer norm's mean and variance, a softmax's max and sum)
  // runs each row of its domain (a point of the outer axes) in passes over the innermost axis:
  //   for row:  pass 0: x..., sum x  ->  mean  |  pass 1: (x - mean)^2..., sum  ->  var  |  pass 2: y
  // An instruction's pass is the latest pass of its operands, a total's one more than its store's;
  // so no total is read before its row is summed, and a row never leaves its thread.
  struct Passes {
    std::vector<int> of_instr, of_store;
    int count = 1;
  };
  Passes passes() const;
  // In a kernel of several passes: what is the same along a row (loads that do not move along
  // the innermost axis, constants, totals, and work on them only), computed once per row; and
  // per instruction the plain store at its point that later passes read it back from (or -1).
  struct Rows {
    std::vector<bool> instr, store;
    std::vector<int> kept;
  };
  Rows rows() const;
  // Whether the outermost axis can be split across threads (no store reduces along it).
  bool splittable() const;
  // Whether store s reduces along the innermost axis and no other (of two or more): each row is
  // summed whole by one pass of one thread, so its total is stored, not added to what the
  // destination held, and the destination needs no filling first (a layer norm's mean, a
  // state's `sum(h * C, {2})`; and a kernel whose steps run inside it may then keep it).
  bool writes_row_total(const Store& s) const;
  // A kernel that reduces along its outermost axis (a column sum: a bias gradient over T B rows)
  // gets its innermost axis cut into blocks that become a new outermost axis, [.., n] -> [n / w, ..,
  // w], so that threads can share it; each sum still runs over the same points in the same order.
  // Only for at least `min_elements` points, and where no store reduces along the innermost axis.
  void block_columns(int64_t min_elements);
};

// Whether code generation handles `op` on values of `dtype` (the rest runs as library calls).
bool supports(Op op, DType dtype);

}  // namespace rnnc::lower
