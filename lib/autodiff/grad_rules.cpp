// THE table of vector-Jacobian rules: one entry per primitive of ops.def, written like the math.
// y is the node, x(i) its inputs, g the cotangent of y; each rule returns the cotangent of every
// input (an undefined Var, `none`, where the input gets no gradient). Rules build ordinary graph
// nodes, so the backward pass is optimised and compiled like the forward one.
#include "grad_rules.h"

#include <numeric>

#include "rnnc/error.h"

namespace rnnc::autodiff {

namespace {
using Grads = std::vector<Var>;
const Var none;

Var x(const Var& y, size_t i) { return Var(y->inputs[i]); }

// Sums g over the axes along which x was broadcast to g's shape: the adjoint of broadcast_to.
Var sum_to(const Var& g, const Shape& shape) {
  const size_t lead = g.shape().size() - shape.size();
  std::vector<int64_t> axes;
  for (size_t i = 0; i < g.shape().size(); ++i)
    if (i < lead || (shape[i - lead] == 1 && g.shape()[i] != 1)) axes.push_back(static_cast<int64_t>(i));
  if (axes.empty()) return reshape(g, shape);
  return reshape(sum(g, axes, true), shape);
}

Grads no_grads(const Var& y, const Var&) { return Grads(y->inputs.size()); }

// clang-format off: one rule a line, aligned, reads as a table
std::array<GradRule, kNumOps> make_table() {
  std::array<GradRule, kNumOps> t;
  auto rule = [&](Op op, GradRule r) { t[static_cast<int>(op)] = std::move(r); };

  // Leaves and ops whose output is piecewise constant (or cut on purpose) pass no gradient.
  for (Op op : {Op::Input, Op::Full, Op::Literal, Op::Sign, Op::StopGradient, Op::OneHot, Op::SequenceMask, Op::Less,
                Op::LessEqual, Op::Greater, Op::GreaterEqual, Op::Equal, Op::NotEqual})
    rule(op, no_grads);

  // A loop's outputs are differentiated together by vjp() through scan_vjp (scan_grad.cpp).
  rule(Op::Scan, [](const Var&, const Var&) -> Grads {
    throw Error("rnnc: grad: the outputs of a scan are differentiated by vjp(), not one at a time");
  });
  rule(Op::Neg, [](const Var&, const Var& g) -> Grads { return {-g}; });
  rule(Op::Exp, [](const Var& y, const Var& g) -> Grads { return {g * y}; });                  // e^x
  rule(Op::Log, [](const Var& y, const Var& g) -> Grads { return {g / x(y, 0)}; });            // 1/x
  rule(Op::Tanh, [](const Var& y, const Var& g) -> Grads { return {g * (1.0 - y * y)}; });     // 1 - tanh^2
  rule(Op::Sigmoid, [](const Var& y, const Var& g) -> Grads { return {g * y * (1.0 - y)}; });  // s (1 - s)
  rule(Op::Relu, [](const Var& y, const Var& g) -> Grads { return {where(x(y, 0) > 0.0, g, 0.0)}; });
  rule(Op::Sqrt, [](const Var& y, const Var& g) -> Grads { return {g / (2.0 * y)}; });  // 1 / 2 sqrt x
  rule(Op::Abs, [](const Var& y, const Var& g) -> Grads { return {g * sign(x(y, 0))}; });
  // 0.2 inside the ramp, 0 where it is clipped
  rule(Op::HardSigmoid,
       [](const Var& y, const Var& g) -> Grads { return {where((y > 0.0) * (y < 1.0), 0.2 * g, 0.0)}; });
  rule(Op::Softplus, [](const Var& y, const Var& g) -> Grads { return {g * sigmoid(x(y, 0))}; });  // 1 / (1 + e^-x)
  rule(Op::Cast, [](const Var& y, const Var& g) -> Grads {
    return {is_float(x(y, 0).dtype()) ? cast(g, x(y, 0).dtype()) : none};
  });

  rule(Op::Add, [](const Var&, const Var& g) -> Grads { return {g, g}; });
  rule(Op::Sub, [](const Var&, const Var& g) -> Grads { return {g, -g}; });
  rule(Op::Mul, [](const Var& y, const Var& g) -> Grads { return {g * x(y, 1), g * x(y, 0)}; });
  // a/b: 1/b and -a/b^2 = -y/b
  rule(Op::Div, [](const Var& y, const Var& g) -> Grads { return {g / x(y, 1), -(g * y) / x(y, 1)}; });
  // a^b: b a^(b-1) and a^b log a
  rule(Op::Pow, [](const Var& y, const Var& g) -> Grads {
    Var a = x(y, 0), b = x(y, 1);
    return {g * b * pow(a, b - 1.0), g * y * log(a)};
  });
  // The larger operand takes the gradient; ties go to the first.
  rule(Op::Maximum, [](const Var& y, const Var& g) -> Grads {
    Var first = x(y, 0) >= x(y, 1);
    return {where(first, g, 0.0), where(first, 0.0, g)};
  });
  rule(Op::Minimum, [](const Var& y, const Var& g) -> Grads {
    Var first = x(y, 0) <= x(y, 1);
    return {where(first, g, 0.0), where(first, 0.0, g)};
  });
  rule(Op::Select, [](const Var& y, const Var& g) -> Grads {
    Var c = x(y, 0);
    return {none, where(c, g, 0.0), where(c, 0.0, g)};
  });

  // Reductions keep their axes (extent 1), so the gradient broadcasts straight back.
  rule(Op::Sum, [](const Var& y, const Var& g) -> Grads { return {broadcast_to(g, x(y, 0).shape())}; });
  // max: the gradient is shared evenly among the elements equal to the max.
  rule(Op::Max, [](const Var& y, const Var& g) -> Grads {
    Var in = x(y, 0);
    Var mask = equal(in, broadcast_to(y, in.shape()));
    Var count = sum(mask, y->ints, true);
    return {mask * broadcast_to(g / count, in.shape())};
  });

  // C = A B:  dA = g B^T,  dB = A^T g
  rule(Op::MatMul, [](const Var& y, const Var& g) -> Grads {
    return {matmul(g, transpose(x(y, 1))), matmul(transpose(x(y, 0)), g)};
  });

  rule(Op::BroadcastTo, [](const Var& y, const Var& g) -> Grads { return {sum_to(g, x(y, 0).shape())}; });
  rule(Op::Reshape, [](const Var& y, const Var& g) -> Grads { return {reshape(g, x(y, 0).shape())}; });
  rule(Op::Transpose, [](const Var& y, const Var& g) -> Grads {
    std::vector<int64_t> inverse(y->ints.size());
    for (size_t i = 0; i < inverse.size(); ++i) inverse[y->ints[i]] = static_cast<int64_t>(i);
    return {transpose(g, inverse)};
  });
  // slice and pad are each other's adjoint.
  rule(Op::Slice, [](const Var& y, const Var& g) -> Grads {
    const Shape& in = x(y, 0).shape();
    std::vector<int64_t> high(in.size());
    for (size_t i = 0; i < in.size(); ++i) high[i] = in[i] - y->ints[i] - y.shape()[i];
    return {pad(g, y->ints, high)};
  });
  rule(Op::Pad, [](const Var& y, const Var& g) -> Grads {
    Var r = g;
    const Shape& in = x(y, 0).shape();
    for (size_t i = 0; i < in.size(); ++i) r = slice(r, static_cast<int64_t>(i), y->ints[i], y->ints[i] + in[i]);
    return {r};
  });
  rule(Op::Concat, [](const Var& y, const Var& g) -> Grads {
    std::vector<int64_t> sizes;
    for (const NodePtr& in : y->inputs) sizes.push_back(in->shape[y->ints[0]]);
    return split(g, sizes, y->ints[0]);
  });

  // gather and scatter_add are each other's adjoint; indices get none.
  rule(Op::Gather, [](const Var& y, const Var& g) -> Grads {
    return {scatter_add(x(y, 1), g, x(y, 0).shape()), none};
  });
  rule(Op::ScatterAdd, [](const Var& y, const Var& g) -> Grads { return {none, gather(g, x(y, 0))}; });
  return t;
}
// clang-format on
}  // namespace

}  // namespace rnnc::autodiff

namespace rnnc {
const GradRules& default_grad_rules() {
  static const GradRules table(autodiff::make_table());
  return table;
}
}  // namespace rnnc
