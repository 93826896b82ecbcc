// What a caller can hear while a compiled program runs (the run time's, exec/executor.h).
#pragma once
#include <functional>

#include "rnnc/tensor.h"

namespace rnnc {

// What a caller can hear while a compiled function runs, on the calling thread. Data-parallel
// training uses it to start averaging a layer's gradients while the backward pass goes on below.
struct RunHooks {
  // Output k is final: no later step of this call touches it. Once per output, in the order the
  // schedule completes them (the gradients of the last layers first), while later steps still run.
  std::function<void(int output, const Tensor& value)> ready;
  // Between any two steps, those in loop bodies too (thousands per call): keep it cheap.
  std::function<void()> between_steps;
};

}  // namespace rnnc
