// The executor: runs a planned Schedule with its compiled kernels.
#pragma once
#include <array>
#include <memory>
#include <memory_resource>
#include <mutex>
#include <vector>

#include "exec/program.h"
#include "rnnc/run_hooks.h"

namespace rnnc::exec {

// What one caller of a program needs of its own: the arena (the schedule's arena_bytes, 64-byte
// aligned) and a pool for the executor's lists of pointers that keeps their memory from one run to
// the next, so that a run allocates nothing once the workspace has run once. Each caller with a
// workspace of its own may run the same program at the same time (many streams of one model).
class Workspace {
 public:
  explicit Workspace(const Schedule& s);
  std::byte* arena() const { return arena_.get(); }
  std::pmr::memory_resource* pool() { return &pool_; }
  int64_t calls = 0;  // runs so far (the current one included)

 private:
  struct Free {
    void operator()(std::byte* p) const;
  };
  std::unique_ptr<std::byte[], Free> arena_;
  std::pmr::unsynchronized_pool_resource pool_;
};

// A schedule, the kernels it calls, and what its calls keep between them.
struct Program {
  Schedule schedule;
  std::vector<KernelFn> kernels;  // KernelStep::kernel indexes here
  int threads = 1;
  int profile = 0;                       // EnvOptions::profile (RNNC_PROFILE)
  std::unique_ptr<Workspace> workspace;  // run()'s and run_into()'s, made at the first call
  // Each output's tensors from the last two calls, reused once the caller has dropped them. Two,
  // because a caller who feeds outputs back (an optimizer's parameters, a carried state) holds the
  // last call's until the next one returns.
  std::vector<std::array<Tensor, 2>> recycled;
  std::mutex mu;                              // one call at a time uses the workspace
  std::vector<std::vector<int>> final_after;  // per step (+1: after all): the outputs it completes
};

// Runs the program on args (checked against the schedule's input specs) and returns fresh outputs.
// The arena is allocated at the first run.
// hooks.ready hears of each output once it is final, hooks.between_steps between any two steps.
std::vector<Tensor> run(Program& p, const std::vector<Tensor>& args, const RunHooks& hooks = {});

// The same on the caller's memory: inputs[i] holds input i, outputs[k] receives output k (each
// contiguous, row-major, of the schedule's specs), unchecked. No tensor is allocated.
void run_into(Program& p, const void* const* inputs, void* const* outputs);

// The same in the caller's workspace (made for p.schedule), without a lock: nothing of p changes.
// After the workspace's first run, nothing is allocated.
void run_into(const Program& p, Workspace& w, const void* const* inputs, void* const* outputs);

}  // namespace rnnc::exec
