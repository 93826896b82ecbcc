// scan(): traces the body once over fresh Input nodes and binds what it captured from outside.
#include "rnnc/scan.h"

#include <unordered_set>

#include "build.h"

namespace rnnc {

namespace {
[[noreturn]] void fail(const std::string& what, const Loc& loc) {
  throw Error(fmt::format("rnnc: scan: {} (at {})", what, where(loc)));
}
}  // namespace

std::vector<Var> make_scan(std::shared_ptr<const Loop> loop, const std::vector<Var>& bindings, Loc loc) {
  const Loop& L = *loop;
  if (bindings.size() != L.inputs.size())
    fail(fmt::format("{} bindings for a body of {} inputs", bindings.size(), L.inputs.size()), loc);
  std::vector<NodePtr> ins;
  for (size_t i = 0; i < bindings.size(); ++i) {
    Shape want = L.inputs[i].shape();
    if (static_cast<int>(i) >= L.carries && static_cast<int>(i) < L.carries + L.xs) want.insert(want.begin(), L.length);
    if (bindings[i].shape() != want || bindings[i].dtype() != L.inputs[i].dtype())
      fail(fmt::format("input {} is {}{}, the body expects {}{}", i, name_of(bindings[i].dtype()),
                       to_string(bindings[i].shape()), name_of(L.inputs[i].dtype()), to_string(want)),
           loc);
    ins.push_back(bindings[i].node());
  }
  std::vector<Var> out;
  for (size_t k = 0; k < L.outputs.size(); ++k) {
    Shape shape = L.outputs[k].shape();
    if (static_cast<int>(k) >= L.carries) shape.insert(shape.begin(), L.length);
    Node n{.op = Op::Scan, .dtype = L.outputs[k].dtype(), .shape = std::move(shape), .inputs = ins,
           .ints = {static_cast<int64_t>(k)}, .loop = loop, .loc = loc};
    out.push_back(Var(intern(std::move(n))));
  }
  return out;
}

Scanned scan(const ScanFn& body, const std::vector<Var>& init, const std::vector<Var>& xs, bool reverse,
             int64_t length, Loc loc) {
  if (xs.empty() && length < 0) fail("no sequences, so the length must be given", loc);
  int64_t T = length;
  for (size_t j = 0; j < xs.size(); ++j) {
    if (xs[j].rank() < 1) fail(fmt::format("sequence {} is a scalar; sequences are [T, ...]", j), loc);
    if (T < 0) T = xs[j].shape()[0];
    if (xs[j].shape()[0] != T)
      fail(fmt::format("sequence {} has {} steps ({}), expected {}", j, xs[j].shape()[0], to_string(xs[j].shape()), T), loc);
  }
  if (T < 1) fail("a scan needs at least one step", loc);

  auto L = std::make_shared<Loop>();
  L->carries = static_cast<int>(init.size());
  L->xs = static_cast<int>(xs.size());
  L->length = T;
  L->reverse = reverse;
  for (size_t i = 0; i < init.size(); ++i) L->inputs.push_back(input(init[i].shape(), init[i].dtype(), fmt::format("carry{}", i), loc));
  for (size_t j = 0; j < xs.size(); ++j) {
    Shape s(xs[j].shape().begin() + 1, xs[j].shape().end());
    L->inputs.push_back(input(s, xs[j].dtype(), fmt::format("x{}", j), loc));
  }
  ScanStep step = body(std::span<const Var>(L->inputs.data(), init.size()),
                       std::span<const Var>(L->inputs.data() + init.size(), xs.size()));
  if (step.carries.size() != init.size())
    fail(fmt::format("the body returned {} carries for {} initial ones", step.carries.size(), init.size()), loc);
  for (size_t i = 0; i < init.size(); ++i)
    if (!step.carries[i].defined() || step.carries[i].shape() != init[i].shape() ||
        step.carries[i].dtype() != init[i].dtype())
      fail(fmt::format("carry {} enters as {}{} but the body returns {}", i, name_of(init[i].dtype()),
                       to_string(init[i].shape()),
                       step.carries[i].defined() ? fmt::format("{}{}", name_of(step.carries[i].dtype()),
                                                               to_string(step.carries[i].shape()))
                                                 : std::string("nothing")),
           loc);
  for (const Var& y : step.ys)
    if (!y.defined()) fail("the body returned an undefined output", loc);

  // Inputs the body reached that are not its own are captured from outside: each becomes an
  // invariant input of the body, bound to the outer value.
  std::vector<Var> outputs = step.carries;
  outputs.insert(outputs.end(), step.ys.begin(), step.ys.end());
  std::unordered_set<const Node*> own;
  for (const Var& v : L->inputs) own.insert(v.node().get());
  std::unordered_map<const Node*, Var> bind;
  std::vector<Var> bindings(init.begin(), init.end());
  bindings.insert(bindings.end(), xs.begin(), xs.end());
  for (const NodePtr& n : topo_order(outputs))
    if (n->op == Op::Input && !own.count(n.get())) {
      Var inner = input(n->shape, n->dtype, n->name, n->loc);
      bind.emplace(n.get(), inner);
      L->inputs.push_back(inner);
      bindings.push_back(Var(n));
    }
  L->outputs = bind.empty() ? outputs : substitute(outputs, bind);

  std::vector<Var> all = make_scan(L, bindings, loc);
  Scanned r;
  r.carries.assign(all.begin(), all.begin() + L->carries);
  r.ys.assign(all.begin() + L->carries, all.end());
  return r;
}

LoopKey loop_key(const Node& scan) {
  LoopKey key{scan.loop.get(), {}};
  for (const NodePtr& in : scan.inputs) key.second.push_back(in.get());
  return key;
}

}  // namespace rnnc
