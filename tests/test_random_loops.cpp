// Random recurrences (random_recurrence.h) and their gradients, compiled vs interpreted: every
// loop pass and lowering (hoisting, accumulations leaving the loop, lanes-apart and time-fused
// loops, loops with GEMMs and with row passes) on graphs nobody wrote by hand. A negative control
// shows the lowering each kind of step should get is the one it gets.
#include <catch2/catch.hpp>

#include <iostream>

#include "random_graph.h"  // same_values
#include "random_recurrence.h"

using namespace rnnc;
using namespace rnnc::testing;

namespace {

// Seeds [first, last] of one dtype; float64 to 1e-12 (relative where above 1), float32 to 1e-4.
void differential_loops(DType t, uint64_t first, uint64_t last) {
  const double tol = t == DType::f64 ? 1e-12 : 1e-4;
  int mismatches = 0, graphs = 0, lanes_apart = 0, other_loops = 0, wrong_lowering = 0;
  for (uint64_t seed = first; seed <= last; ++seed) {
    RandomRecurrence rr = random_recurrence(seed, t);
    // The loss, and what else the recurrence returns passed through (value_and_grad's aux).
    Function scalar{rr.f.inputs, {rr.f.outputs.begin() + 1, rr.f.outputs.end()}, rr.f.source};
    // The step's kind decides the forward loop's lowering: lanes apart (and so time-fused) unless
    // a GEMM reads the carry, or a norm does and there is one row (batch 1: the norm's reduction
    // runs across every lane), or there is one lane (B = H = 1: nothing to share out).
    const int64_t B = rr.args[0].shape()[1], H = rr.args[0].shape()[2];
    const bool across = rr.kind.starts_with("GEMM") || (rr.kind.starts_with("norm") && B == 1) || B * H == 1;
    const Function graphs_of_seed[] = {rr.f, value_and_grad(scalar, {}, true)};
    for (const Function& f : graphs_of_seed) {
      ++graphs;
      CompileOptions o;
      o.threads = 2;
      Compiled c = compile(f, o);
      const CompileStats st = c.stats();
      lanes_apart += st.lanes_apart_loops;
      other_loops += st.loops - st.lanes_apart_loops;
      if (&f == &graphs_of_seed[0] && (across ? st.lanes_apart_loops != 0 : st.lanes_apart_loops != st.loops)) {
        ++wrong_lowering;
        std::cerr << "seed " << seed << " (" << rr.kind << "): " << st.lanes_apart_loops << " of " << st.loops
                  << " loops lanes apart\n"
                  << c.schedule();
      }
      const std::vector<Tensor> got = c(rr.args), want = interpret(f, rr.args);
      for (size_t i = 0; i < got.size(); ++i)
        if (!same_values(got[i], want[i], tol)) {
          ++mismatches;
          std::cerr << name_of(t) << " seed " << seed << " (" << rr.kind << ") output " << i << "\ncompiled "
                    << got[i].str() << "\ninterpreted " << want[i].str() << "\n"
                    << c.schedule();
        }
    }
  }
  INFO(graphs << " graphs: " << lanes_apart << " loops lanes apart, " << other_loops << " others");
  CHECK(graphs == static_cast<int>(2 * (last - first + 1)));
  CHECK(lanes_apart >= graphs / 4);  // both lowerings are among what is compared
  CHECK(other_loops >= graphs / 4);
  CHECK(wrong_lowering == 0);
  CHECK(mismatches == 0);
}

}  // namespace

TEST_CASE("differential: random recurrences in float64 (seeds 1-150)") { differential_loops(DType::f64, 1, 150); }
TEST_CASE("differential: random recurrences in float32 (seeds 151-250)") { differential_loops(DType::f32, 151, 250); }
