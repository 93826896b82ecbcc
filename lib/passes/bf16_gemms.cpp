// bf16_gemms: the compiler's bf16 mode (CompileOptions::bf16). Every float32 GEMM takes
// its operands in bfloat16 and sums in float32:
//
//   matmul(a, b)  ->  matmul(cast(a, bf16), cast(b, bf16))      (f32 result)
//
// while everything else (the elementwise math of the cells, reductions, the loss, the optimizer's
// update and the float32 master weights it updates) stays float32, as in PyTorch's autocast. The
// conversion is pushed below views (transpose, reshape, broadcast) onto the value itself, and a
// loop's weight is converted once before the loop, not at every step: a cast of a loop invariant
// (or of a sequence's slice) in a body becomes a new invariant (sequence) bound to the cast of the
// outer value. The carried h is converted at each step, by a kernel of B H elements.
//
// GEMMs of fewer than 2^22 multiply-adds stay float32: there the conversions (a kernel per step
// for the carried h) and oneDNN's primitive cost more than bf16 saves (docs/performance.md).
//
// A GEMM one of whose operands is a constant (a model's weights captured by a sampling step, as
// nn::sample does) is converted whatever its size when that constant holds at least 2^18 values
// (1 MB in float32, a core's L2): the conversion is done once, here, into a bf16 constant, and each
// call then reads half the bytes. A batch-1 step is bound by reading its weights.
//
// Runs last, on the optimised graph: the passes before it see ordinary float32 GEMMs (a one-hot
// GEMM is a gather before it gets here), and it runs on the whole graph, autodiff's gradient GEMMs
// included.
#include <unordered_map>

#include "passes/rewrite_loops.h"

namespace rnnc {

namespace {

Var in(const Var& v, size_t i) { return Var(v->inputs[i]); }

constexpr int64_t kMinMacs = int64_t{1} << 22;
constexpr int64_t kMinConstant = int64_t{1} << 18;

Var to_bf16(const Var& x) {
  switch (x.op()) {
    case Op::Transpose: return transpose(to_bf16(in(x, 0)), x->ints);
    case Op::Reshape: return reshape(to_bf16(in(x, 0)), x.shape());
    case Op::BroadcastTo: return broadcast_to(to_bf16(in(x, 0)), x.shape());
    case Op::Literal: return constant(x->literal->to(DType::bf16), x->loc);  // converted once, now
    default: return cast(x, DType::bf16);
  }
}

// The constant under x's views with at least kMinConstant values, if there is one.
bool large_constant(const Var& x) {
  switch (x.op()) {
    case Op::Transpose:
    case Op::Reshape:
    case Op::BroadcastTo: return large_constant(in(x, 0));
    case Op::Literal: return x.numel() >= kMinConstant;
    default: return false;
  }
}

// A loop's body in bf16 mode, with the casts of its sequences and invariants moved out: the new
// body reads, after the old inputs of each kind, the converted inputs `cast_of` lists.
struct Converted {
  std::shared_ptr<const Loop> loop;  // null: nothing changed
  std::vector<int> cast_of_xs, cast_of_invariants;
};

Converted convert(const Loop& L) {
  std::vector<Var> outs = bf16_gemms(L.outputs);
  bool same = true;
  for (size_t i = 0; i < outs.size(); ++i) same &= outs[i].same(L.outputs[i]);
  if (same) return {};
  std::unordered_map<const Node*, int> index;
  for (size_t i = L.carries; i < L.inputs.size(); ++i) index.emplace(L.inputs[i].node().get(), static_cast<int>(i));
  Converted c;
  std::unordered_map<const Node*, Var> with;
  std::vector<Var> new_xs, new_invariants;
  for (const NodePtr& n : topo_order(outs)) {
    if (n->op != Op::Cast || n->dtype != DType::bf16) continue;
    auto it = index.find(n->inputs[0].get());
    if (it == index.end()) continue;
    const Var p = input(n->shape, DType::bf16, "bf16");
    with.emplace(n.get(), p);
    const bool sequence = it->second < L.carries + L.xs;
    (sequence ? c.cast_of_xs : c.cast_of_invariants).push_back(it->second);
    (sequence ? new_xs : new_invariants).push_back(p);
  }
  auto loop = std::make_shared<Loop>(L);
  loop->outputs = substitute(outs, with);
  loop->inputs.insert(loop->inputs.begin() + L.carries + L.xs, new_xs.begin(), new_xs.end());
  loop->inputs.insert(loop->inputs.end(), new_invariants.begin(), new_invariants.end());
  loop->xs += static_cast<int>(new_xs.size());
  c.loop = std::move(loop);
  return c;
}

}  // namespace

std::vector<Var> bf16_gemms(const std::vector<Var>& outputs) {
  std::unordered_map<const Loop*, Converted> bodies;
  return loops::rewrite_loops(
      outputs,
      [&](const Loop& L, const std::vector<Var>& old) -> std::optional<loops::Rebuilt> {
        auto it = bodies.find(&L);
        if (it == bodies.end()) it = bodies.emplace(&L, convert(L)).first;
        const Converted& c = it->second;
        if (!c.loop) return std::nullopt;
        // Bindings in the new body's order: carries, sequences, converted sequences, invariants,
        // converted invariants.
        std::vector<Var> bind(old.begin(), old.begin() + L.carries + L.xs);
        for (int i : c.cast_of_xs) bind.push_back(cast(old[i], DType::bf16));
        bind.insert(bind.end(), old.begin() + L.carries + L.xs, old.end());
        for (int i : c.cast_of_invariants) bind.push_back(cast(old[i], DType::bf16));
        return loops::Rebuilt{c.loop, bind};
      },
      [](const Var& v) -> Var {
        if (v.op() == Op::MatMul && v.dtype() == DType::f32 && in(v, 0).dtype() == DType::f32 &&
            (numel(v.shape()) * in(v, 0).shape().back() >= kMinMacs || large_constant(in(v, 0)) ||
             large_constant(in(v, 1))))
          return matmul(to_bf16(in(v, 0)), to_bf16(in(v, 1)), v->loc);
        return {};
      });
}

}  // namespace rnnc
