#include "rnnc/printer.h"

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
  for (const NodePtr& n : num.order) {
    std::string args;
    for (const NodePtr& in : n->inputs) args += fmt::format("{}%{}", args.empty() ? "" : ", ", num.id[in.get()]);
    s += fmt::format("%{} = {}({}){} : {}\n", num.id[n.get()], name_of(n->op), args, attrs_of(*n), type_of(*n));
  }
  std::string outs;
  for (const Var& o : outputs) outs += fmt::format("{}%{}", outs.empty() ? "" : ", ", num.id[o.node().get()]);
  return s + "return " + outs + "\n";
}

std::string to_text(const Function& f) { return to_text(f.outputs); }

std::string to_dot(const Function& f) {
  Numbering num(f.outputs);
  std::string s = "digraph rnnc {\n  rankdir=TB;\n  node [shape=box, fontname=\"monospace\"];\n";
  for (const NodePtr& n : num.order) {
    std::string label = fmt::format("{}{}{}\\n{}", name_of(n->op), n->op == Op::Input ? " " : "", n->op == Op::Input ? n->name : "", type_of(*n));
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
