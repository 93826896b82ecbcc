// scan: a loop over time in the graph (jax.lax.scan), so a recurrence is traced once, not T times.
//
//   auto [carries, ys] = scan(
//       [&](std::span<const Var> c, std::span<const Var> x) -> ScanStep {
//         Var h = tanh(matmul(x[0], w) + matmul(c[0], u));
//         return {{h}, {h}};                  // the next carries, this step's outputs
//       },
//       {h0}, {xs});                           // xs [T, B, I] -> ys[0] [T, B, H], carries[0] = h_T
//
// The body sees one slice x_t of every sequence (their leading extent is T) and the carries; it
// returns the next carries (same shapes and dtypes) and any per-step outputs, which come back
// stacked [T, ...]. Vars the body captures from outside (weights) are bound once for all steps.
// The graph holds the body once, so compile time does not grow with T. Autodiff turns it into a
// reverse scan over the values the forward scan saved (backpropagation through time); the
// compiler runs it as one compiled step sequence repeated T times.
#pragma once
#include <functional>
#include <span>
#include <utility>
#include <vector>

#include "rnnc/ops.h"

namespace rnnc {

struct ScanStep {
  std::vector<Var> carries, ys;
};
using ScanFn = std::function<ScanStep(std::span<const Var> carries, std::span<const Var> xs)>;

struct Scanned {
  std::vector<Var> carries;  // after the last step
  std::vector<Var> ys;       // [T, ...] each
};

// Runs `body` over t = 0..T-1 (T-1..0 with reverse). T is the sequences' leading extent, or
// `length` when there are no sequences.
Scanned scan(const ScanFn& body, const std::vector<Var>& init, const std::vector<Var>& xs, bool reverse = false,
             int64_t length = -1, Loc loc = Loc::current());

// The Scan nodes of one loop: a body with its outer bindings (inputs in Loop order). Returns every
// output (carries, then stacked ys). For autodiff and passes, which build loops directly.
std::vector<Var> make_scan(std::shared_ptr<const Loop> loop, const std::vector<Var>& bindings,
                           Loc loc = Loc::current());

}  // namespace rnnc
