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
#include <memory>
#include <type_traits>
#include <span>
#include <utility>
#include <vector>

#include "rnnc/ops.h"
#include "rnnc/tree.h"

namespace rnnc {

struct ScanStep {
  std::vector<Var> carries, ys;
};
using ScanFn = std::function<ScanStep(std::span<const Var> carries, std::span<const Var> xs)>;

struct Scanned {
  std::vector<Var> carries;  // after the last step
  std::vector<Var> ys;       // [T, ...] each
};

// How a scan runs, by name: scan(body, init, xs, {.reverse = true, .lengths = n}).
struct ScanOptions {
  bool reverse = false;  // from the last step to the first (outputs stay in step order)
  Var lengths{};         // i32 [B]: each row's real steps (below)
  int64_t length = -1;   // T, when there are no sequences to take it from
};

// Runs `body` over t = 0..T-1 (T-1..0 with .reverse). T is the sequences' leading extent, or
// .length when there are no sequences.
//
// With per-row .lengths (i32 [B]; every carry and output is then [B, ...]), row b has lengths[b]
// real steps: its carries stop changing after its last one (the final carries are its state at
// its length, the initial one for a length of 0), its outputs past it are zero, and a reverse
// scan starts at its own last real step. No gradient flows from the padding. The extra work is a
// select per carry and output, fused into the step's kernel. A length outside [0, T] throws when
// run, naming the row.
Scanned scan(const ScanFn& body, const std::vector<Var>& init, const std::vector<Var>& xs, const ScanOptions& o = {},
             Loc loc = Loc::current());

// The Scan nodes of one loop: a body with its outer bindings (inputs in Loop order). Returns every
// output (carries, then stacked ys). For autodiff and passes, which build loops directly.
std::vector<Var> make_scan(std::shared_ptr<const Loop> loop, const std::vector<Var>& bindings,
                           Loc loc = Loc::current());

// scan over trees (jax.lax.scan's contract): body(carry, x_t) returns std::pair{next carry, y_t},
// where the carry is any tree of Vars or Leafs (an LSTM's {h, c}), xs a tree of sequences [T, ...]
// (a Var, or a struct of them) and y_t any tree. Returns {the final carry, the ys stacked [T, ...]}.
//
//   auto [last, hs] = scan([&](const nn::LSTMState& s, const Var& x) {
//     nn::LSTMState next = cell(x, s);
//     return std::pair{next, Var(next.h)};
//   }, cell.initial_state(B), xs);
template <class Body, class Carry, class Xs>
requires(!std::is_same_v<std::invoke_result_t<const Body&, const Carry&, const Xs&>, ScanStep>) auto scan(
    const Body& body, const Carry& init, const Xs& xs, const ScanOptions& o = {}, Loc loc = Loc::current()) {
  using Result = std::invoke_result_t<const Body&, const Carry&, const Xs&>;
  using Y = std::decay_t<std::tuple_element_t<1, Result>>;
  std::shared_ptr<Y> ys;  // the structure of one step's outputs, as the body returned it
  Scanned r = scan(
      [&](std::span<const Var> c, std::span<const Var> x) -> ScanStep {
        Result out = body(tree::replace(init, std::vector<Var>(c.begin(), c.end())),
                          tree::replace(xs, std::vector<Var>(x.begin(), x.end())));
        ys = std::make_shared<Y>(std::get<1>(out));
        return {tree::vars(std::get<0>(out)), tree::vars(std::get<1>(out))};
      },
      tree::vars(init), tree::vars(xs), o, loc);
  return std::pair<Carry, Y>{tree::replace(init, r.carries), tree::replace(*ys, r.ys)};
}

}  // namespace rnnc
