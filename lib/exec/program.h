// The run time's program: a list of steps over buffers, as lowering (lib/lower) produces it, the
// memory plan places it and the executor (executor.h) runs it. Nothing here knows the graph it came
// from: no nodes, no op table, no LLVM. A step is one of
//   Kernel   a fused loop nest, compiled ahead (KernelFn): its arguments' places, how to share its
//            outermost axis among threads, and which reductions to pre-fill;
//   Gemm     C = A B, where a transposed or sliced operand is a stride, never a copy;
//   Library  a routine of the run time's own (library.cpp): gather, scatter_add, one_hot, ...;
//   Loop     a body program run T times over a scan's carries and sequences.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "exec/revolve.h"
#include "rnnc/tensor.h"

namespace rnnc::exec {

// Where a buffer lives: the arena (planned), the caller's inputs, the fresh output tensors, or
// the program's literals.
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

// The entry point of a compiled kernel: args[i] points at argument i's first element; the
// outermost axis of its domain runs over [begin, end).
using KernelFn = void (*)(void* const* args, int64_t begin, int64_t end);

// A reduction's destination, filled with its identity before the kernel adds into it.
struct Fill {
  enum class Identity : uint8_t { Zero, Lowest } identity = Identity::Zero;  // for sum, for max
  int arg = 0;
  int64_t count = 0;  // elements
};

// A reduction along the outermost axis of a kernel (S6's dA, summed over the batch in each step)
// would keep it on one thread. Instead the axis is cut into KernelStep::chunks (fixed by the
// program: the same sums in the same order whatever the thread count); chunk c > 0 accumulates
// into its own copy of the destination, and the copies are added into it after, in chunk order.
struct Partial {
  int fill = 0;   // the kernel's fill of the destination (its argument, count and identity)
  Access copies;  // arena: (chunks - 1) x count elements
};

struct KernelStep {
  int kernel = -1;           // index into Program::kernels (and the compiler's descriptions)
  std::vector<Access> args;  // one per kernel argument (only buf and offset matter at run time)
  std::vector<Fill> fills;
  int64_t outer = 0;              // extent of the outermost axis of the domain
  int64_t points = 0;             // points of the whole domain
  bool splittable = false;        // whether threads may share the outermost axis (no store reduces along it)
  std::vector<Partial> partials;  // where stores reduce along it: their destinations' copies
  int64_t chunks = 0;             // with partials: the chunks of the outermost axis
};

struct GemmStep {
  Access a, b, c;  // [..., M, K] x [..., K, N] -> [..., M, N]
  // When b is int8 (quantized weights, quantize.h): float32 [2, N], each output channel's scale
  // and the sum of its int8 weights.
  Access scale;
};

// The run time's routines for what is neither a kernel nor a GEMM. Inputs and output contiguous.
enum class Routine : uint8_t {
  Gather,        // (table [V, ...], idx i32 [...]) -> [idx..., ...]
  ScatterAdd,    // (idx i32 [...], rows [idx..., ...]) -> table [V, ...], rows added at idx
  OneHot,        // (idx i32 [...]) -> [idx..., depth]
  SequenceMask,  // (lengths i32 [B]) -> [T, B]: 1 where t < lengths[b]
  Pad,           // (x) -> zeros with x at offset `ints` (low padding per axis)
};
std::string_view name_of(Routine r);

struct LibraryStep {
  Routine routine = Routine::Gather;
  std::vector<int64_t> ints;  // Pad: low padding per axis
  std::string where;          // the op and the user's line, for errors ("gather at model.cpp:12")
  std::vector<Access> inputs;
  Access out;
};

struct Schedule;
struct LoopStep;

// Binomial checkpointing of a loop pair (Loop::revolve, revolve.h), shared by both loop steps.
// The forward loop copies its carry into the slots at the positions the schedule keeps; the
// backward loop, before its step for position i (in the forward loop's order), copies a slot back
// and runs the forward loop's body on from it to c_i, with everything but the carries written to
// `work`.
struct RevolveStep {
  RevolveSchedule schedule;
  const LoopStep* forward = nullptr;       // in the same schedule as the backward loop
  std::vector<Access> slots;               // per forward carry: [S, ...]
  Access work;                             // per carry 3 copies (c_{T-1}, and 2 to run steps), then the ys
  std::vector<int64_t> carry_at[3];        // byte offsets in work, per carry
  std::vector<int64_t> ys_at;              // per forward output: its step's slice in work (-1: none)
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
  std::vector<Access> bindings;                 // initial carries, sequences [T, ...], invariants (contiguous)
  std::vector<Access> results;                  // per body output; buf.index < 0: unused (written to scratch)
  Access scratch;                               // the body's arena, then 2 copies of each carry, then unused ys
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
  // The body is one kernel that reads and writes every carry lane by lane (the same element at
  // the same point, lower_loops.cpp's lanes_apart): threads may each run a share of its outer
  // axis through all T steps, none waiting for another between steps. Decided by the compiler
  // and not written by serialize.h (a program read back runs its loops step by step, to the same
  // bits).
  bool lanes_apart = false;
  // Where the loop's lanes are apart: the body's kernel in its time-fused form
  // (lower::KernelDesc::steps), which runs the steps between the first and the last in one call
  // per share of lanes; -1: none. Not written by serialize.h either.
  int steps_kernel = -1;
};

struct Step {
  enum class Kind { Kernel, Gemm, Library, Loop } kind;
  KernelStep kernel;
  GemmStep gemm;
  LibraryStep library;
  std::shared_ptr<LoopStep> loop;
  std::vector<int> reads, writes;  // arena buffers
};

struct ArenaBuffer {
  int64_t bytes = 0;
  int64_t offset = -1;  // set by the memory plan
};

struct Schedule {
  std::vector<Step> steps;
  std::vector<ArenaBuffer> buffers;
  std::vector<Tensor> literals;
  std::vector<Spec> outputs;  // shape and dtype of each output tensor
  std::vector<Spec> inputs;
  int64_t arena_bytes = 0;
};

// A buffer's place as text ("b3+128 strides [..]"), for dumps.
std::string str(const BufferRef& b);
std::string str(const Access& a);

}  // namespace rnnc::exec
