// The executor: runs a planned Schedule with its compiled kernels.
#pragma once
#include <array>
#include <memory>
#include <mutex>
#include <vector>

#include "exec/program.h"
#include "rnnc/run_hooks.h"

namespace rnnc::exec {

// A schedule, the kernels it calls, and what its calls keep between them.
struct Program {
  Schedule schedule;
  std::vector<KernelFn> kernels;           // KernelStep::kernel indexes here
  int threads = 1;
  int profile = 0;                         // EnvOptions::profile (RNNC_PROFILE)
  std::shared_ptr<std::byte[]> arena;      // schedule.arena_bytes, allocated once
  // Each output's tensors from the last two calls, reused once the caller has dropped them. Two,
  // because a caller who feeds outputs back (an optimizer's parameters, a carried state) holds the
  // last call's until the next one returns.
  std::vector<std::array<Tensor, 2>> recycled;
  std::mutex mu;                           // one call at a time uses the arena
  std::vector<std::vector<int>> final_after;  // per step (+1: after all): the outputs it completes
  int64_t calls = 0;                       // runs so far (this one included)
};

// Runs the program on args (checked against the schedule's input specs) and returns fresh outputs.
// The arena is allocated at the first run.
// hooks.ready hears of each output once it is final, hooks.between_steps between any two steps.
std::vector<Tensor> run(Program& p, const std::vector<Tensor>& args, const RunHooks& hooks = {});

// The same on the caller's memory: inputs[i] holds input i, outputs[k] receives output k (each
// contiguous, row-major, of the schedule's specs), unchecked. No tensor is allocated.
void run_into(Program& p, const void* const* inputs, void* const* outputs);

}  // namespace rnnc::exec
