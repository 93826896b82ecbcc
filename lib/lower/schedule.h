// The compiled form of a graph: a list of steps over buffers, produced by lower() (fuse.cpp),
// given arena offsets by plan_memory() (memory_plan.cpp) and run by the executor.
//
// A step is one of
//   Kernel   a fused group of elementwise/broadcast work, with reductions at its outputs: one loop
//            nest compiled by LLVM (see lower/kernel.h);
//   Gemm     C = op(A) op(B) through Eigen, where a transposed or sliced operand is a stride,
//            never a copy;
//   Library  any other op (gather, scatter_add, pad, concat, ...) by the reference implementation.
// Views (broadcast_to, transpose, slice, contiguous reshape) produce no step: they are strides and
// offsets in the accesses of the steps that read them.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "lower/kernel.h"
#include "lower/revolve.h"
#include "rnnc/function.h"
#include "rnnc/graph.h"
#include "rnnc/tensor.h"

namespace rnnc::sched {

// Where a buffer lives: the arena (planned), the caller's inputs, the fresh output tensors, or
// the compiled graph's literals.
enum class Space : uint8_t { Arena, Input, Output, Literal };

struct BufferRef {
  Space space = Space::Arena;
  int index = 0;  // arena buffer id, input, output or literal number
  bool operator==(const BufferRef&) const = default;
};

// Elements of a buffer seen as a tensor: element idx is at offset + sum_k idx_k * strides_k.
struct Access {
  BufferRef buf;
  DType dtype = DType::f32;
  Shape shape;
  int64_t offset = 0;
  std::vector<int64_t> strides;
  bool contiguous() const;
};

struct KernelStep {
  codegen::KernelDesc desc;       // collapsed
  std::vector<Access> args;       // one per desc.args (only buf and offset matter at run time)
  std::vector<int> reduce_init;   // stores (indices into desc.stores) to pre-fill with their identity
  std::vector<int64_t> init_count;  // elements to fill for each of them
  int group_size = 0;             // graph nodes fused into it (for dumps and tests)
};

struct GemmStep {
  Access a, b, c;  // [..., M, K] x [..., K, N] -> [..., M, N]
};

struct LibraryStep {
  NodePtr node;
  std::vector<Access> inputs;  // contiguous
  Access out;
};

struct Schedule;
struct LoopStep;

// Binomial checkpointing of a loop pair (Loop::revolve, lower/revolve.h), shared by both loop
// steps. The forward loop copies its carry into the slots at the positions the schedule keeps;
// the backward loop, before its step for position i, copies a slot back and runs the forward
// loop's body on from it to c_i, with everything but the carries written to `work`.
struct RevolveStep {
  RevolveSchedule schedule;
  const LoopStep* forward = nullptr;  // in the same schedule as the backward loop
  std::vector<Access> slots;          // per forward carry: [S, ...]
  Access work;                        // per carry 3 copies (c_{T-1}, and 2 to run steps), then the ys
  std::vector<int64_t> carry_at[3];   // byte offsets in work, per carry
  std::vector<int64_t> ys_at;         // per forward output: its step's slice in work (-1: none)
  std::vector<std::pair<int, int>> reads;  // the backward loop's bindings reading c_t: (binding, carry)
};

// A scan: the body's own schedule, run T times. Its Input i is the loop's body input i (a carry,
// the slice x_t of a sequence, or an invariant), its Output k the body output k (a next carry, or
// y_t written straight into slice t of the stacked result). Carries alternate between two copies
// in the scratch buffer; the first step reads the initial value, the last writes the result.
struct LoopStep {
  std::shared_ptr<Schedule> body;
  int64_t length = 0;
  bool reverse = false;
  int carries = 0, xs = 0;
  std::vector<Access> bindings;  // initial carries, sequences [T, ...], invariants (contiguous)
  std::vector<Access> results;   // per body output; buf.index < 0: unused (written to scratch)
  Access scratch;                // the body's arena, then 2 copies of each carry, then unused ys
  std::vector<int64_t> carry_at[2], unused_at;  // byte offsets in the scratch buffer
  std::vector<Access> history;   // per carry: [T + 1, ...] slots (buf.index < 0: none), see lower_loops.cpp
  std::vector<int> body_output;  // per loop output: the body schedule's output, -1: in a history
  // Elements from step t to step t + 1 of each binding and result (sequences and stacked outputs;
  // a step's slice is contiguous, the steps need not be).
  std::vector<int64_t> binding_step, result_step;
  // Per output: where in the scratch the body writes it, to be copied to its slot after the step
  // (-1: written in place). Set for outputs that take over the slots of a sequence the loop reads.
  std::vector<int64_t> staged_at;
  std::shared_ptr<RevolveStep> revolve;  // Loop::revolve: both loops of the pair hold it
};

struct Step {
  enum class Kind { Kernel, Gemm, Library, Loop } kind;
  KernelStep kernel;
  GemmStep gemm;
  LibraryStep library;
  std::shared_ptr<LoopStep> loop;
  std::vector<int> reads, writes;  // arena buffers
  int group = -1, node = -1;       // the kernel group or graph node it comes from (for placement)
};

struct ArenaBuffer {
  int64_t bytes = 0;
  int64_t offset = -1;  // set by plan_memory
};

struct Schedule {
  std::vector<Step> steps;
  std::vector<ArenaBuffer> buffers;
  std::vector<Tensor> literals;
  std::vector<Spec> outputs;  // shape and dtype of each output tensor
  std::vector<Spec> inputs;
  int64_t arena_bytes = 0;
  std::vector<codegen::KernelFn> kernels;  // per step, once compiled (null for non-kernels)

  // Every graph node and the step that computes it (-1: a view, a leaf or a constant, computed by
  // nobody), for drawing the fused groups.
  std::vector<std::pair<NodePtr, int>> placement;

  int kernel_count() const;
  std::string str() const;  // human-readable listing (RNNC_DUMP=groups)
  std::string dot() const;  // Graphviz: the graph, each fused kernel a box around its nodes
};

// Lowers a graph (already optimised) to steps. Kernels are left without entry points.
Schedule lower(const std::vector<Var>& outputs, const std::vector<Var>& inputs);

// Assigns arena offsets: buffers whose lifetimes do not overlap share memory; a step never
// writes memory it reads.
void plan_memory(Schedule& s);

}  // namespace rnnc::sched
