// The schedule's printers (RNNC_DUMP=groups and dot).
#include <fmt/format.h>

#include <map>
#include <unordered_map>

#include "lower/schedule.h"

namespace rnnc::lower {

std::string dot(const Lowered& l) {
  const exec::Schedule& sc = l.schedule;
  std::unordered_map<const Node*, int> id;
  std::map<int, std::vector<std::pair<const Node*, int>>> by_step;
  for (size_t i = 0; i < l.placement.size(); ++i) {
    id[l.placement[i].first.get()] = static_cast<int>(i);
    by_step[l.placement[i].second].emplace_back(l.placement[i].first.get(), static_cast<int>(i));
  }
  auto node_line = [](const Node& n, int i) {
    const char* fill = n.op == Op::MatMul ? "#f4c7a1" : n.op == Op::Input ? "#d9e7f5" : "white";
    return fmt::format("  n{} [label=\"{} {}\", shape=box, style=filled, fillcolor=\"{}\"];\n", i, name_of(n.op),
                       to_string(n.shape), fill);
  };
  std::string s = "digraph rnnc {\n  rankdir=TB;\n  node [fontname=\"sans-serif\", fontsize=10];\n";
  for (const auto& [step, nodes] : by_step) {
    const bool kernel = step >= 0 && sc.steps[step].kind == Step::Kind::Kernel;
    if (kernel)
      s += fmt::format("  subgraph cluster_{} {{\n  label=\"kernel {}\"; style=filled; color=\"#e8f3e0\";\n", step,
                       step);
    for (const auto& [n, i] : nodes) s += node_line(*n, i);
    if (kernel) s += "  }\n";
  }
  for (const auto& [n, i] : l.placement)
    for (const NodePtr& in : n->inputs) s += fmt::format("  n{} -> n{};\n", id.at(in.get()), i);
  return s + "}\n";
}

std::string str(const exec::Schedule& sc, const std::vector<Kernel>& kernels) {
  using exec::str;
  int kernel_steps = 0;
  for (const Step& st : sc.steps) kernel_steps += st.kind == Step::Kind::Kernel;
  std::string s = fmt::format("schedule: {} steps ({} kernels), arena {} bytes in {} buffers\n", sc.steps.size(),
                              kernel_steps, sc.arena_bytes, sc.buffers.size());
  for (size_t i = 0; i < sc.steps.size(); ++i) {
    const Step& st = sc.steps[i];
    switch (st.kind) {
      case Step::Kind::Kernel: {
        const KernelStep& k = st.kernel;
        const Kernel& kd = kernels[static_cast<size_t>(k.kernel)];
        const int passes = kd.desc.passes().count;
        s += fmt::format("  {:4} kernel  domain {} ({} nodes fused, {} instructions{}{})", i, to_string(kd.desc.domain),
                         kd.nodes, kd.desc.code.size(), passes > 1 ? fmt::format(", {} passes over rows", passes) : "",
                         k.partials.empty() ? "" : fmt::format(", {} chunks with partial sums", k.chunks));
        for (const Store& o : kd.desc.stores)  // (a value kept in a row on the kernel's stack: "-> row")
          s += fmt::format(" {}{}", o.reduce == Op::Input ? "-> " : fmt::format("{}-> ", name_of(o.reduce)),
                           kd.desc.args[o.arg].row_local ? "row" : str(k.args[o.arg]));
        s += "  reads";
        for (size_t a = 0; a < k.args.size(); ++a) {
          bool stored = false;
          for (const Store& o : kd.desc.stores) stored |= o.arg == static_cast<int>(a);
          if (!stored) s += fmt::format(" {}", str(k.args[a]));
        }
        s += "\n";
        break;
      }
      case Step::Kind::Gemm:
        s += fmt::format("  {:4} gemm    {} x {} -> {}  ({} x {})\n", i, str(st.gemm.a), str(st.gemm.b), str(st.gemm.c),
                         to_string(st.gemm.a.shape), to_string(st.gemm.b.shape));
        break;
      case Step::Kind::Library: {
        std::string ins;
        for (const Access& a : st.library.inputs) ins += fmt::format(" {}", str(a));
        s += fmt::format("  {:4} {:7}{} -> {}\n", i, exec::name_of(st.library.routine), ins, str(st.library.out));
        break;
      }
      case Step::Kind::Loop: {
        const LoopStep& l = *st.loop;
        std::string ins, outs;
        for (const Access& a : l.bindings) ins += fmt::format(" {}", str(a));
        for (const Access& a : l.results) outs += a.buf.index >= 0 ? fmt::format(" {}", str(a)) : " -";
        std::string revolve;
        if (l.revolve)
          revolve = l.revolve->forward == &l ? fmt::format(", keeping carries in {} slots", l.revolve->schedule.slots)
                                             : fmt::format(", carries run again from {} slots ({} steps)",
                                                           l.revolve->schedule.slots, l.revolve->schedule.rerun);
        s += fmt::format("  {:4} loop    T={}{} ({} carries, {} sequences{}){} ->{}, body:\n", i, l.length,
                         l.reverse ? " reversed" : "", l.carries, l.xs, revolve, ins, outs);
        std::string body = lower::str(*l.body, kernels);
        for (size_t at = 0, nl; at < body.size(); at = nl + 1) {
          nl = body.find('\n', at);
          if (nl == std::string::npos) nl = body.size();
          s += "         | " + body.substr(at, nl - at) + "\n";
        }
        break;
      }
    }
  }
  return s;
}

}  // namespace rnnc::lower
