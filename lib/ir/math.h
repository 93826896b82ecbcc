// The value of every elementwise primitive at one point, written once for every evaluator.
//
// `apply(m, op, x...)` is generic over a number system M: the interpreter instantiates it with
// float, double and int32_t (lib/interp/interpreter.cpp), code generation with LLVM values
// (lib/codegen/emit.cpp), so the reference and the compiled kernels compute the same formula. M
// provides the machine's instructions:
//
//   V c(double k, V like)                    the constant k in like's type
//   V neg(V), abs(V), add, sub, mul, div, pow(V, V)
//   V exp(V), log, tanh, sigmoid, sqrt       (float only)
//   B lt(V, V), le, gt, ge, eq, ne, isnan(V) comparisons; ne is true when either is NaN
//   V select(B, V, V), V mask(B, V like)     mask: 1 where B holds, else 0, in like's type
//
// A new primitive written from these instructions needs nothing in either evaluator. One that
// needs a new instruction (erf, say) adds it to both number systems as well.
#pragma once
#include <fmt/format.h>

#include "rnnc/error.h"
#include "rnnc/graph.h"

namespace rnnc::math {

template <class M, class V> V apply(M& m, Op op, V a, V b = V{}, V c = V{}) {
  auto k = [&](double v) { return m.c(v, a); };
  switch (op) {
    case Op::Neg: return m.neg(a);
    case Op::Exp: return m.exp(a);
    case Op::Log: return m.log(a);
    case Op::Tanh: return m.tanh(a);
    case Op::Sigmoid: return m.sigmoid(a);
    case Op::Relu: return m.select(m.gt(a, k(0)), a, k(0));
    case Op::Sqrt: return m.sqrt(a);
    case Op::Abs: return m.abs(a);
    // NaN stays NaN.
    case Op::Sign: return m.select(m.isnan(a), a, m.sub(m.mask(m.gt(a, k(0)), a), m.mask(m.lt(a, k(0)), a)));
    // clip(0.2 x + 0.5, 0, 1); NaN stays NaN (the comparisons fail).
    case Op::HardSigmoid: {
      V y = m.add(m.mul(a, k(0.2)), k(0.5));
      return m.select(m.lt(y, k(0)), k(0), m.select(m.gt(y, k(1)), k(1), y));
    }
    // log(1 + e^x) = max(x, 0) + log1p(e^-|x|): e^-|x| <= 1 never overflows. log1p(u) is
    // log(w) u / (w - 1) with w = 1 + u (exact to a few ulp: Goldberg 1991), and u where w rounds to 1.
    case Op::Softplus: {
      V u = m.exp(m.neg(m.abs(a)));
      V w = m.add(k(1), u);
      V log1p = m.select(m.eq(w, k(1)), u, m.div(m.mul(m.log(w), u), m.sub(w, k(1))));
      return m.add(m.select(m.gt(a, k(0)), a, k(0)), log1p);
    }
    case Op::StopGradient: return a;
    case Op::Add: return m.add(a, b);
    case Op::Sub: return m.sub(a, b);
    case Op::Mul: return m.mul(a, b);
    case Op::Div: return m.div(a, b);
    case Op::Pow: return m.pow(a, b);
    // NaN in either operand gives NaN, as in PyTorch; ties take the first.
    case Op::Maximum: return m.select(m.isnan(a), a, m.select(m.isnan(b), b, m.select(m.ge(a, b), a, b)));
    case Op::Minimum: return m.select(m.isnan(a), a, m.select(m.isnan(b), b, m.select(m.le(a, b), a, b)));
    case Op::Less: return m.mask(m.lt(a, b), a);
    case Op::LessEqual: return m.mask(m.le(a, b), a);
    case Op::Greater: return m.mask(m.gt(a, b), a);
    case Op::GreaterEqual: return m.mask(m.ge(a, b), a);
    case Op::Equal: return m.mask(m.eq(a, b), a);
    case Op::NotEqual: return m.mask(m.ne(a, b), a);
    case Op::Select: return m.select(m.ne(a, m.c(0, a)), b, c);
    default: throw Error(fmt::format("rnnc: {} is not elementwise math", name_of(op)));
  }
}

// Whether apply() computes `op` on values of `dtype` (from the op table's dtypes column).
constexpr bool computes(Op op, DType dtype) {
  switch (op) {
#define UNARY(E, name, dtypes) \
  case Op::E:                  \
    return OpDTypes::dtypes == OpDTypes::Number || dtype != DType::i32;
#define BINARY(E, name, dtypes) UNARY(E, name, dtypes)
#include "rnnc/ops.def"
    case Op::Select: return true;
    default: return false;
  }
}

}  // namespace rnnc::math
