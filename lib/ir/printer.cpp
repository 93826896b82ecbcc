#include "rnnc/printer.h"

#include <algorithm>
#include <unordered_map>

#include "build.h"

namespace rnnc {

namespace {
std::string type_of(const Node& n) { return fmt::format("{}{}", name_of(n.dtype), to_string(n.shape)); }

std::string attrs_of(const Node& n) {
  switch (n.op) {
    case Op::Input: return fmt::format(" \"{}\"", n.name);
    case Op::Full: return fmt::format(" {}", n.scalar);
    case Op::Literal: return fmt::format(" {}", n.literal->str(8));
    default: return n.ints.empty() ? "" : fmt::format(" {{{}}}", fmt::join(n.ints, ", "));
  }
}

struct Numbering {
  std::vector<NodePtr> order;
  std::unordered_map<const Node*, size_t> id;
  explicit Numbering(const std::vector<Var>& outputs) : order(topo_order(outputs)) {
    for (size_t i = 0; i < order.size(); ++i) id[order[i].get()] = i;
  }
};
}  // namespace

std::string to_text(const std::vector<Var>& outputs) {
  Numbering num(outputs);
  std::string s;
  std::vector<const Loop*> loops;  // printed after the graph, as loop0, loop1, ...
  for (const NodePtr& n : num.order) {
    std::string args, extra;
    for (const NodePtr& in : n->inputs) args += fmt::format("{}%{}", args.empty() ? "" : ", ", num.id[in.get()]);
    if (n->op == Op::Scan) {
      auto it = std::find(loops.begin(), loops.end(), n->loop.get());
      if (it == loops.end()) it = loops.insert(loops.end(), n->loop.get());
      extra = fmt::format(" loop{}", it - loops.begin());
    }
    s +=
        fmt::format("%{} = {}({}){}{} : {}\n", num.id[n.get()], name_of(n->op), args, attrs_of(*n), extra, type_of(*n));
  }
  std::string outs;
  for (const Var& o : outputs) outs += fmt::format("{}%{}", outs.empty() ? "" : ", ", num.id[o.node().get()]);
  s += "return " + outs + "\n";
  for (size_t k = 0; k < loops.size(); ++k) {
    const Loop& L = *loops[k];
    s += fmt::format("loop{}: T={}{}, {} carries, {} sequences, {} invariants, {} stacked outputs {{\n", k, L.length,
                     L.reverse ? " reversed" : "", L.carries, L.xs, L.invariants(), L.ys());
    Numbering inner(L.outputs);
    std::string ins;
    for (const Var& v : L.inputs)
      ins += fmt::format("{}%{}", ins.empty() ? "" : ", ",
                         inner.id.count(v.node().get()) ? fmt::format("{}", inner.id[v.node().get()]) : "-");
    std::string body = to_text(L.outputs);
    for (size_t at = 0, nl; at < body.size(); at = nl + 1) {
      nl = body.find('\n', at);
      if (nl == std::string::npos) nl = body.size();
      s += "  " + body.substr(at, nl - at) + "\n";
    }
    s += "  inputs " + ins + "\n}\n";
  }
  return s;
}

std::string to_text(const Function& f) { return to_text(f.outputs); }

std::string to_dot(const Function& f) {
  Numbering num(f.outputs);
  std::string s = "digraph rnnc {\n  rankdir=TB;\n  node [shape=box, fontname=\"monospace\"];\n";
  for (const NodePtr& n : num.order) {
    std::string label = fmt::format("{}{}{}\\n{}", name_of(n->op), n->op == Op::Input ? " " : "",
                                    n->op == Op::Input ? n->name : "", type_of(*n));
    const char* style = n->op == Op::Input ? ", style=filled, fillcolor=lightblue" : "";
    s += fmt::format("  n{} [label=\"{}\"{}];\n", num.id[n.get()], label, style);
    for (const NodePtr& in : n->inputs) s += fmt::format("  n{} -> n{};\n", num.id[in.get()], num.id[n.get()]);
  }
  for (size_t i = 0; i < f.outputs.size(); ++i) {
    s += fmt::format("  out{} [label=\"output {}\", shape=ellipse];\n", i, i);
    s += fmt::format("  n{} -> out{};\n", num.id[f.outputs[i].node().get()], i);
  }
  return s + "}\n";
}

}  // namespace rnnc
