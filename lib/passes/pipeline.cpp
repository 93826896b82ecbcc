// THE pass pipeline, in order. DCE and CSE need no pass of their own (see passes.h).
#include <fmt/format.h>

#include <chrono>
#include <cstdlib>
#include <cstring>

#include "rnnc/passes.h"
#include "rnnc/printer.h"

namespace rnnc {

const std::vector<Pass>& pipeline() {
  static const std::vector<Pass> passes = {
      {"merge_loops", [](const std::vector<Var>& o, const PassOptions&) { return merge_loops(o); }},
      {"checkpoint_loops",
       [](const std::vector<Var>& o, const PassOptions& p) { return checkpoint_loops(o, p.checkpointing); }},
      {"optimize_loops", [](const std::vector<Var>& o, const PassOptions&) { return optimize_loops(o); }},
      {"simplify", [](const std::vector<Var>& o, const PassOptions&) { return simplify(o); }},
      {"fold_constants", [](const std::vector<Var>& o, const PassOptions&) { return fold_constants(o); }},
      {"simplify_again",
       [](const std::vector<Var>& o, const PassOptions&) { return simplify(o); }},  // folding exposes more
      {"hoist_loops", [](const std::vector<Var>& o, const PassOptions& p) { return hoist_loops(o, p.pretranspose); }},
      {"optimize_hoisted",
       [](const std::vector<Var>& o, const PassOptions&) { return optimize_loops(o); }},  // bodies lost work
      {"one_hot_gemms", [](const std::vector<Var>& o,
                           const PassOptions&) { return one_hot_gemms(o); }},  // hoisted projections pick rows
      {"gather_rows",
       [](const std::vector<Var>& o, const PassOptions& p) { return gather_rows(o, p.gathers_in_loops); }},
      {"merge_sums", [](const std::vector<Var>& o, const PassOptions&) { return merge_sums(o); }},
      {"batch_gemms", [](const std::vector<Var>& o, const PassOptions&) { return batch_gemms(o); }},
      {"simplify_merged",
       [](const std::vector<Var>& o, const PassOptions&) { return simplify(o); }},  // concats of slices
      {"bf16_gemms", [](const std::vector<Var>& o, const PassOptions& p) { return p.bf16 ? bf16_gemms(o) : o; }},
      {"fold_late",
       [](const std::vector<Var>& o, const PassOptions&) { return fold_constants(o); }},  // gather_rows' W + b
  };
  return passes;
}

Function optimize(const Function& f, const EnvOptions& env, const PassOptions& options) {
  // Loop bodies go through the pipeline too (optimize_loops); only the outermost graph is dumped,
  // and its text shows the bodies.
  static thread_local int depth = 0;
  struct Nest {
    Nest() { ++depth; }
    ~Nest() { --depth; }
  } nest;
  const bool show = depth == 1 && env.dumps("passes");
  const bool times = depth == 1 && env.dumps("times");
  Function g = f;
  for (const Pass& p : pipeline()) {
    const auto t0 = std::chrono::steady_clock::now();
    g.outputs = p.run(g.outputs, options);
    if (times)
      fmt::print(stderr, "// {}: {:.3f} s\n", p.name,
                 std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    if (show) fmt::print(stderr, "// after {}: {} nodes\n{}", p.name, topo_order(g.outputs).size(), to_text(g));
  }
  return g;
}

}  // namespace rnnc
