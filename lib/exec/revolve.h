// Binomial checkpointing (Griewank and Walther's Revolve) of one forward/backward loop pair: which
// carries the forward loop keeps, and how the backward loop gets back the others.
//
// Positions count in the forward loop's running order: c_i is the carry before its step i (c_0 the
// initial one), i = 0 .. T-1; the backward loop needs them in the other order, c_{T-1} first. With
// S slots (c_0's among them) and every step run again at most r times, Revolve reverses
// beta(S, r) = C(S + r, S) steps, and no schedule with S slots runs fewer steps again than it:
// r l - C(S + r, S + 1) for l steps, r the least with beta(S, r) >= l (Griewank 1992). The
// forward pass itself is the schedule's first sweep: the carries it keeps cost nothing more.
#pragma once
#include <cstdint>
#include <utility>
#include <vector>

namespace rnnc::exec {

struct RevolveSchedule {
  int64_t steps = 0;  // T
  int slots = 0;      // S
  // Per position: the slot the forward pass copies c_i into (-1: none). c_{T-1} goes to the
  // backward loop's first step directly.
  std::vector<int> kept;
  // Before the backward loop's step for position i (all but the first, i = T - 1): c_i again,
  // from the slot holding c_from, running steps from .. i-1, copying c_p into slot s on the way
  // for each (p, s) in `copies`.
  struct Back {
    int restore = -1;
    int64_t from = 0;
    std::vector<std::pair<int64_t, int>> copies;
  };
  std::vector<Back> back;  // per position
  int64_t rerun = 0;       // steps run again in all (the forward pass's not counted)
};

// The schedule for T steps and S >= 1 slots.
RevolveSchedule revolve(int64_t T, int S);

// beta(S, r) = C(S + r, S): the most steps S slots reverse when each step runs again at most r
// times (saturating near 2^60).
int64_t revolve_steps(int S, int64_t r);

// The fewest steps any schedule with S slots runs again to reverse l steps when every step is run
// again: r l - C(S + r, S + 1) (l(l-1)/2 with one slot).
int64_t revolve_cost(int64_t l, int S);

}  // namespace rnnc::exec
