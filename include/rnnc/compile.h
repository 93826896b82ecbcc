// compile(f): the fast path. The graph is optimised (passes.h), lowered to fused kernels, GEMMs
// and library calls, its memory planned into one arena, and its kernels compiled by LLVM.
//
//   Compiled step = compile(trace(loss_and_grads, specs));
//   std::vector<Tensor> out = step({x, h0, w});   // same results as interpret(), much faster
//
// Calling it with other shapes traces and compiles again (each shape signature once). Kernels are
// cached by structure in the process and on disk (see lib/codegen/jit.cpp), so the T steps of an
// unrolled recurrence compile one kernel and a second process does not run LLVM again.
//
// Debugging: RNNC_DUMP=passes,groups,llvm,dot,memory prints the graph after each pass, the schedule
// with its fused groups, the optimised LLVM IR of newly compiled kernels, the graph with its fused
// kernels marked in Graphviz DOT, and each schedule memory_budget planned (any subset, comma-separated).
// RNNC_THREADS=N caps the threads (default: all cores).
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "rnnc/env_options.h"
#include "rnnc/function.h"
#include "rnnc/passes.h"
#include "rnnc/run_hooks.h"
#include "rnnc/tensor.h"

namespace rnnc {

struct CompileOptions {
  bool optimize = true;                             // run the pass pipeline before lowering
  int threads = 0;                                  // 0: env.threads (RNNC_THREADS), else every hardware thread
  EnvOptions env = EnvOptions::from_environment();  // dumps, profiling, the kernel cache
  // Long sequences in bounded memory (docs/memory.md). memory_budget: the most bytes the compiled
  // function may plan for its intermediate values (its arena; the caller's inputs and the
  // returned outputs are not in it); 0: no limit. The compiler plans storing every step first,
  // then recomputation schedules from the fastest down (segments on one, two, three levels, then
  // Revolve's binomial checkpointing in fewer and fewer slots), and takes the first that fits; a budget
  // none fits throws, naming the smallest plan it reached. A function without a backward loop (an
  // evaluation) has nothing to recompute: its per-step work (output layer, loss) moves into its
  // loops instead (stats().steps_in_loops).
  int64_t memory_budget = 0;
  // When no plan meets memory_budget: compile the least one reached instead of throwing
  // (stats().within_budget says which happened). nn::fit compiles its evaluations so.
  bool least_if_over_budget = false;
  // A schedule chosen by hand instead (when memory_budget is 0); {} stores every step.
  Checkpointing checkpointing{};
  // Mixed precision: float32 GEMMs take bfloat16 operands and sum in float32 (oneDNN's bf16
  // matmul); weights, optimizer state, elementwise math and reductions stay float32. On a CPU
  // without avx512_bf16, or where bfloat16 GEMMs are measured slower than float32's (an Intel Xeon
  // without AMX: 0.6x), it says so once on stderr and compiles float32 (env.bf16_force, or
  // RNNC_BF16=force, insists); stats().bf16 tells.
  bool bf16 = false;
  // Int8 weights, for inference: every float32 GEMM whose weights are constants (captured by the
  // function) reads them as int8 per output channel, and quantizes its other operand per row at
  // each call (PyTorch's dynamic quantization; exec/quantize.h). A quarter of float32's bytes; the
  // results differ from float32's by about 1%. VNNI's vpdpbusd where the CPU has it.
  bool int8 = false;
};

struct CompileStats {
  int nodes = 0;             // graph nodes after optimisation
  int steps = 0;             // kernels + GEMMs + library calls (a loop's body counted once)
  int kernels = 0;           // fused kernels (a loop's body counted once)
  int unique_kernels = 0;    // distinct kernels (what LLVM compiles)
  int compiled_kernels = 0;  // compiled by LLVM in this compile (not found in a cache)
  int disk_hits = 0;         // loaded from the on-disk cache
  int gemms = 0;
  int library_calls = 0;
  int loops = 0;  // scans run as compiled loops
  // ... of which one elementwise kernel is the body, every carry lane by lane: on threads, each
  // runs its lanes through all T steps without waiting for the others between steps, the steps
  // inside one call of the kernel's time-fused form (from 5 steps on).
  int lanes_apart_loops = 0;
  int64_t arena_bytes = 0;
  Checkpointing checkpointing;  // the recomputation schedule compiled (chosen for memory_budget)
  int plans_tried = 1;          // schedules planned to find one within memory_budget
  // memory_budget on a function without a backward loop (an evaluation): its per-step work (the
  // output layer, the loss) was moved into the loops, which keep nothing of the T steps.
  bool steps_in_loops = false;
  bool within_budget = true;  // false: no plan met memory_budget (least_if_over_budget)
  bool bf16 = false;          // GEMMs in bf16 (CompileOptions::bf16, on a CPU that has it)
  int int8_gemms = 0;         // GEMMs on int8 weights (CompileOptions::int8)
  double pass_seconds = 0, lower_seconds = 0, jit_seconds = 0, seconds = 0;
  std::string str() const;
};

namespace exec {
struct Program;  // the run time's (lib/exec/program.h)
}
struct Built;  // a program and its lowering (lib/compile/built.h)

class Compiled {
 public:
  Compiled() = default;
  // Runs the compiled graph; args match the function's inputs in number and dtype.
  std::vector<Tensor> operator()(const std::vector<Tensor>& args) const;
  std::vector<Tensor> operator()(const std::vector<Tensor>& args, const RunHooks& hooks) const;
  // Of the most recently compiled shape signature.
  const CompileStats& stats() const;
  // The schedule: steps, fused groups, buffers (what RNNC_DUMP=groups prints).
  std::string schedule() const;
  // The optimised graph in Graphviz DOT, each fused kernel drawn as a box around its nodes
  // (RNNC_DUMP=dot prints it; `dot -Tsvg` from Debian's graphviz draws it).
  std::string dot() const;
  // The run-time program of the most recently compiled shape signature: its schedule and kernels,
  // what an export writes.
  std::shared_ptr<exec::Program> program() const;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
  friend Compiled compile(const Function& f, const CompileOptions& options);
  friend Built built(const Compiled& c);  // the latest program (lib/compile/built.h)
};

Compiled compile(const Function& f, const CompileOptions& options = {});

// Whether CompileOptions::bf16 takes effect on this CPU: it multiplies bfloat16 natively
// (avx512_bf16) and bfloat16 GEMMs are measured faster than float32's (or RNNC_BF16=force).
bool bf16_supported();

// This CPU and what compile() chooses on it: what `rnnc info` prints. The speedups are measured
// at the first call (GEMMs of a recurrent layer's shape, [128, 256] x [256, 1024], one thread, a
// few milliseconds) and remembered for the process, as compile() itself does.
struct HostInfo {
  std::string cpu;                    // /proc/cpuinfo: model name, family, model
  std::string llvm_cpu;               // what kernels are compiled for ("znver5", "sapphirerapids")
  std::vector<std::string> features;  // the instructions rnnc's paths use that this CPU has
  int threads = 0;                    // kernels and GEMMs when CompileOptions::threads is 0
  std::string gemm;                   // the float32 GEMMs' library
  // A loop's weight copied transposed before the loop, decided per GEMM shape [m, k] x [k, n]:
  // the GEMM's speed so over reading W^T in place, and whether compile() makes the copy (>= 1.1,
  // or RNNC_PRETRANSPOSE), at a few recurrent layers' shapes.
  struct Pretranspose {
    int64_t m, k, n;
    double speedup;
    bool used;
  };
  std::vector<Pretranspose> pretranspose;
  // bfloat16 GEMMs over float32's (0: no avx512_bf16), and whether CompileOptions::bf16 takes effect.
  double bf16_speedup = 0;
  bool bf16 = false;
  std::string int8;  // how GEMMs on int8 weights (exported models) multiply
  // The file the timings above are kept in for every process on this machine (in the cache folder),
  // or "" where each process times them again (RNNC_DISK_CACHE=0, no cache folder).
  std::string measurements;
};
HostInfo host_info();

}  // namespace rnnc
