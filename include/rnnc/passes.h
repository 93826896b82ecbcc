// Graph passes: rewrites that keep a function's meaning and make it cheaper to run.
//
// Two classic passes come free with the representation: a Function refers only to the nodes its
// outputs reach (dead-code elimination), and nodes are hash-consed, so every rebuilt node is merged
// with any equal one (common-subexpression elimination). The passes here are listed, in order, in
// lib/passes/pipeline.cpp. Set RNNC_DUMP=passes to print the graph after each of them.
#pragma once
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "rnnc/env_options.h"
#include "rnnc/function.h"

namespace rnnc {

// A local rewrite: returns the replacement of a node, or an undefined Var to keep it.
using RewriteRule = std::function<Var(const Var& node)>;

// Rebuilds the graph bottom-up, applying `rule` to every node (repeatedly, until it keeps the node).
std::vector<Var> rewrite(const std::vector<Var>& outputs, const RewriteRule& rule);

// Algebraic identities: x*1, x+0, x-0, x/1, neg(neg x), transpose of transpose, broadcast of a
// constant, sums over extent-1 axes, select on a constant condition, stop_gradient after autodiff.
std::vector<Var> simplify(const std::vector<Var>& outputs);
// Evaluates nodes whose inputs are all constants into constants: results up to max_elements, or
// no larger than a literal they read (a captured weight plus its bias: the program holds no more).
// A Literal may be large, a Full never is (its values are one number).
std::vector<Var> fold_constants(const std::vector<Var>& outputs, int64_t max_elements = 1 << 16);

// GEMMs with a one-hot operand become gathers (one_hot(i) W) and scatter-adds (its gradient).
std::vector<Var> one_hot_gemms(const std::vector<Var>& outputs);
// Gathered rows plus a bias, gather(W, x) + b, become gather(W + b, x); with in_loops, a loop
// reading such a sequence gathers its rows a step at a time instead (faster, more memory).
std::vector<Var> gather_rows(const std::vector<Var>& outputs, bool in_loops);

// Sums of three or more GEMMs (or reductions) become one GEMM (reduction) over concatenated
// operands: the weight and bias gradients of a recurrence, summed over its time steps.
std::vector<Var> merge_sums(const std::vector<Var>& outputs);

// GEMMs sharing an operand, whose other operands do not depend on one another's results, become
// one GEMM over the stacked operands: the input projection (and input gradient) of all time steps.
std::vector<Var> batch_gemms(const std::vector<Var>& outputs);

// Loops (scan.h). merge_loops: a loop whose outputs begin another loop's over the same bindings
// (the forward loop autodiff extends with what the backward loop reads) becomes that loop, so the
// forward runs once. optimize_loops: every loop body goes through the pipeline.
std::vector<Var> merge_loops(const std::vector<Var>& outputs);
std::vector<Var> optimize_loops(const std::vector<Var>& outputs);
// Moves work out of loop bodies into large GEMMs before and after the loop: input projections
// x_t W, output projections e_t W, and accumulations a += p_t^T q_t or a += sum_batch(e_t) (the
// weight and bias gradients of backpropagation through time). Drops loop inputs and outputs that
// nothing uses.
// A loop's GEMM [m, k] x [k, n] reading a transposed invariant weight gets it transposed once
// before the loop where pretranspose_pays(m, k, n) says so (compile() asks this CPU: the GEMM of
// that shape timed both ways, exec::transposed_copy_speedup); empty: everywhere.
using PretransposePays = std::function<bool(int64_t m, int64_t k, int64_t n)>;
std::vector<Var> hoist_loops(const std::vector<Var>& outputs, const PretransposePays& pretranspose_pays = {});

// Recomputation (docs/memory.md): how the backward loop of each forward/backward loop pair that
// autodiff made gets the forward values it reads.
//   {}        the forward loop stacks them for all T steps (the fastest; memory O(T));
//   {k}       it keeps only its carries every k steps, and the backward loop recomputes a segment's
//             values from them before running back through it (one more forward pass; memory
//             T/k carries + k steps, least near k = sqrt T);
//   {k1, k2}  the same again inside each segment of k1 steps (segments of k2): one more forward
//             pass per level, memory down to ~3 T^(1/3).
//   {.slots = S}  binomial checkpointing (Griewank and Walther's Revolve): the forward loop keeps
//             its carries at S steps, and the backward loop gets each step's values by running
//             forward again from the nearest kept carry, keeping more on the way; each step runs
//             again at most r times for the least r with C(S + r, S) >= T, which is the fewest
//             steps any schedule with S carries runs. Memory: S carries and one step.
//   pairs     one schedule per loop pair, in the order their backward loops run (the last
//             layer's first); pairs past the list take every/slots.
struct Checkpointing {
  std::vector<int64_t> every;
  int slots = 0;  // Revolve's S (every stays empty)
  std::vector<Checkpointing> pairs{};
  bool stores_all() const;
  std::string str() const;
  bool operator==(const Checkpointing&) const = default;
};
std::vector<Var> checkpoint_loops(const std::vector<Var>& outputs, const Checkpointing& plan);
// The forward/backward loop pairs checkpoint_loops would split (after merge_loops).
int loop_pairs(const std::vector<Var>& outputs);

// Mixed precision (CompileOptions::bf16): every float32 GEMM takes bfloat16 operands and sums in
// float32; everything else stays float32. Weights a loop reads are converted once, before it.
std::vector<Var> bf16_gemms(const std::vector<Var>& outputs);

// What a pipeline run is asked for beyond making the graph faster.
struct PassOptions {
  Checkpointing checkpointing;
  bool bf16 = false;              // bf16_gemms
  bool gathers_in_loops = true;   // gather_rows
  PretransposePays pretranspose;  // hoist_loops' pretranspose_pays
};

struct Pass {
  std::string_view name;
  std::function<std::vector<Var>(const std::vector<Var>&, const PassOptions&)> run;
};
// The pipeline, in order.
const std::vector<Pass>& pipeline();
// Runs the pipeline over f (same inputs, optimised outputs).
Function optimize(const Function& f, const EnvOptions& env = EnvOptions::from_environment(),
                  const PassOptions& options = {});

}  // namespace rnnc
