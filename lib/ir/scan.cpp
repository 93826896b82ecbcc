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
    Node n{.op = Op::Scan,
           .dtype = L.outputs[k].dtype(),
           .shape = std::move(shape),
           .inputs = ins,
           .ints = {static_cast<int64_t>(k)},
           .loop = loop,
           .loc = loc};
    out.push_back(Var(intern(std::move(n))));
  }
  return out;
}

Scanned scan(const ScanFn& body, const std::vector<Var>& init, const std::vector<Var>& xs, const ScanOptions& o,
             Loc loc) {
  const int64_t length = o.length;
  const Var& lengths = o.lengths;
  if (xs.empty() && length < 0) fail("no sequences, so the length must be given", loc);
  int64_t T = length;
  for (size_t j = 0; j < xs.size(); ++j) {
    if (xs[j].rank() < 1) fail(fmt::format("sequence {} is a scalar; sequences are [T, ...]", j), loc);
    if (T < 0) T = xs[j].shape()[0];
    if (xs[j].shape()[0] != T)
      fail(fmt::format("sequence {} has {} steps ({}), expected {}", j, xs[j].shape()[0], to_string(xs[j].shape()), T),
           loc);
  }
  if (T < 1) fail("a scan needs at least one step", loc);
  // Per-row lengths: the mask m_t = (t < lengths[b]) is one more sequence of the loop.
  const bool masked = lengths.defined();
  int64_t B = 0;
  if (masked) {
    if (lengths.dtype() != DType::i32 || lengths.rank() != 1)
      fail(fmt::format("lengths must be i32 [B], got {}{}", name_of(lengths.dtype()), to_string(lengths.shape())), loc);
    B = lengths.shape()[0];
    for (size_t i = 0; i < init.size(); ++i)
      if (init[i].rank() < 1 || init[i].shape()[0] != B)
        fail(fmt::format("carry {} is {}, but with lengths [{}] every carry is [B = {}, ...]", i,
                         to_string(init[i].shape()), B, B),
             loc);
  }

  auto L = std::make_shared<Loop>();
  L->carries = static_cast<int>(init.size());
  L->xs = static_cast<int>(xs.size()) + (masked ? 1 : 0);
  L->length = T;
  L->reverse = o.reverse;
  for (size_t i = 0; i < init.size(); ++i)
    L->inputs.push_back(input(init[i].shape(), init[i].dtype(), fmt::format("carry{}", i), loc));
  for (size_t j = 0; j < xs.size(); ++j) {
    Shape s(xs[j].shape().begin() + 1, xs[j].shape().end());
    L->inputs.push_back(input(s, xs[j].dtype(), fmt::format("x{}", j), loc));
  }
  const DType mask_dtype = init.empty() ? DType::f32 : init[0].dtype();
  if (masked) L->inputs.push_back(input({B}, mask_dtype, "mask", loc));
  ScanStep step = body(std::span<const Var>(L->inputs.data(), init.size()),
                       std::span<const Var>(L->inputs.data() + init.size(), xs.size()));
  if (step.carries.size() != init.size())
    fail(fmt::format("the body returned {} carries for {} initial ones", step.carries.size(), init.size()), loc);
  for (size_t i = 0; i < init.size(); ++i)
    if (!step.carries[i].defined() || step.carries[i].shape() != init[i].shape() ||
        step.carries[i].dtype() != init[i].dtype())
      fail(fmt::format("carry {} enters as {}{} but the body returns {}", i, name_of(init[i].dtype()),
                       to_string(init[i].shape()),
                       step.carries[i].defined()
                           ? fmt::format("{}{}", name_of(step.carries[i].dtype()), to_string(step.carries[i].shape()))
                           : std::string("nothing")),
           loc);
  for (const Var& y : step.ys)
    if (!y.defined()) fail("the body returned an undefined output", loc);
  if (masked) {
    // Row b past its length: the carry keeps its value, the output is zero. Selects, not
    // products, so the padding's values (and their gradients) never reach a real step.
    const Var& m = L->inputs[init.size() + xs.size()];
    auto rows = [&](const Var& v) {
      Shape s(static_cast<size_t>(v.rank()), 1);
      s[0] = B;
      return reshape(m, s, loc);
    };
    for (size_t i = 0; i < init.size(); ++i)
      step.carries[i] = where(rows(step.carries[i]), step.carries[i], L->inputs[i]);
    for (size_t j = 0; j < step.ys.size(); ++j) {
      if (step.ys[j].rank() < 1 || step.ys[j].shape()[0] != B)
        fail(fmt::format("output {} is {}, but with lengths [{}] every output is [B = {}, ...]", j,
                         to_string(step.ys[j].shape()), B, B),
             loc);
      step.ys[j] = where(rows(step.ys[j]), step.ys[j], 0.0);
    }
  }

  // Inputs the body reached that are not its own are captured from outside: each becomes an
  // invariant input of the body, bound to the outer value.
  std::vector<Var> outputs = step.carries;
  outputs.insert(outputs.end(), step.ys.begin(), step.ys.end());
  std::unordered_set<const Node*> own;
  for (const Var& v : L->inputs) own.insert(v.node().get());
  std::unordered_map<const Node*, Var> bind;
  std::vector<Var> bindings(init.begin(), init.end());
  bindings.insert(bindings.end(), xs.begin(), xs.end());
  if (masked) bindings.push_back(sequence_mask(lengths, T, mask_dtype, loc));
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
