// exp, log, tanh and sigmoid as straight-line code that LLVM's loop vectoriser widens.
//
// LLVM lowers llvm.exp.f32 and friends to scalar libm calls, which stop a loop from vectorising.
// For float32 we emit our own range reduction and polynomials (the classic Cephes single-precision
// coefficients, about 1-2 ulp), using selects rather than branches so the loop stays
// vectorisable. Special values (NaN, +-inf, 0, overflow) are patched with selects at the end.
// float64 is the precision used for checking, not for speed: it calls libm.
#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Intrinsics.h>
#include <llvm/IR/Module.h>

#include <limits>

#include "codegen/codegen.h"

namespace rnnc::codegen {

namespace {

using llvm::Value;

Value* c(llvm::IRBuilderBase&, Value* like, double v) { return llvm::ConstantFP::get(like->getType(), v); }

// a b + c, fused where the CPU has FMA (llvm.fmuladd: one rounding, half the instructions).
Value* fma(llvm::IRBuilderBase& b, Value* x, Value* y, Value* z) {
  return b.CreateIntrinsic(llvm::Intrinsic::fmuladd, {x->getType()}, {x, y, z});
}

// p(x) = coeffs[0] x^(n-1) + ... + coeffs[n-1], by Horner's rule.
Value* horner(llvm::IRBuilderBase& b, Value* x, std::initializer_list<double> coeffs) {
  Value* acc = nullptr;
  for (double k : coeffs) acc = acc ? fma(b, acc, x, c(b, x, k)) : c(b, x, k);
  return acc;
}

Value* libm(llvm::IRBuilderBase& b, const char* name, Value* x) {
  llvm::Module* m = b.GetInsertBlock()->getModule();
  llvm::FunctionCallee f = m->getOrInsertFunction(name, x->getType(), x->getType());
  return b.CreateCall(f, {x});
}

Value* is_nan(llvm::IRBuilderBase& b, Value* x) { return b.CreateFCmpUNO(x, x); }

}  // namespace

// exp(x) = 2^n e^r with n = round(x / ln 2), r = x - n ln 2 (ln 2 split in two for accuracy).
Value* emit_exp(llvm::IRBuilderBase& b, Value* x) {
  if (x->getType()->isDoubleTy()) return libm(b, "exp", x);
  const double hi = 88.72283935546875, lo = -87.0;
  Value* xc = b.CreateSelect(b.CreateFCmpOGT(x, c(b, x, hi)), c(b, x, hi), x);
  xc = b.CreateSelect(b.CreateFCmpOLT(xc, c(b, x, lo)), c(b, x, lo), xc);
  Value* n = b.CreateUnaryIntrinsic(llvm::Intrinsic::floor, fma(b, xc, c(b, x, 1.44269504088896341), c(b, x, 0.5)));
  Value* r = fma(b, n, c(b, x, -0.693359375), xc);
  r = fma(b, n, c(b, x, 2.12194440e-4), r);
  Value* p = horner(
      b, r, {1.9875691500E-4, 1.3981999507E-3, 8.3334519073E-3, 4.1665795894E-2, 1.6666665459E-1, 5.0000001201E-1});
  p = b.CreateFAdd(fma(b, p, b.CreateFMul(r, r), r), c(b, x, 1.0));
  // 2^(n-1) from its bit pattern (n-1 stays in the normal exponent range), times 2.
  Value* ni = b.CreateFPToSI(n, b.getInt32Ty());
  Value* scale = b.CreateBitCast(b.CreateShl(b.CreateAdd(ni, b.getInt32(126)), 23), x->getType());
  Value* y = b.CreateFMul(b.CreateFMul(p, scale), c(b, x, 2.0));
  y = b.CreateSelect(b.CreateFCmpOGT(x, c(b, x, hi)), c(b, x, std::numeric_limits<double>::infinity()), y);
  y = b.CreateSelect(b.CreateFCmpOLT(x, c(b, x, lo)), c(b, x, 0.0), y);
  return b.CreateSelect(is_nan(b, x), x, y);
}

// log(x) = log(m) + e ln 2 with x = m 2^e, m in [sqrt(1/2), sqrt(2)).
Value* emit_log(llvm::IRBuilderBase& b, Value* x) {
  if (x->getType()->isDoubleTy()) return libm(b, "log", x);
  llvm::Type* i32 = b.getInt32Ty();
  Value* bits = b.CreateBitCast(x, i32);
  Value* e = b.CreateSIToFP(b.CreateSub(b.CreateAnd(b.CreateLShr(bits, 23), 0xff), b.getInt32(126)), x->getType());
  Value* m = b.CreateBitCast(b.CreateOr(b.CreateAnd(bits, b.getInt32(0x807fffff)), b.getInt32(0x3f000000)),
                             x->getType());  // in [0.5, 1)
  Value* small = b.CreateFCmpOLT(m, c(b, x, 0.707106781186547524));
  e = b.CreateSelect(small, b.CreateFSub(e, c(b, x, 1.0)), e);
  m = b.CreateFSub(b.CreateSelect(small, b.CreateFAdd(m, m), m), c(b, x, 1.0));
  Value* z = b.CreateFMul(m, m);
  Value* p = horner(b, m,
                    {7.0376836292E-2, -1.1514610310E-1, 1.1676998740E-1, -1.2420140846E-1, 1.4249322787E-1,
                     -1.6668057665E-1, 2.0000714765E-1, -2.4999993993E-1, 3.3333331174E-1});
  Value* y = b.CreateFMul(b.CreateFMul(m, z), p);
  y = b.CreateFAdd(y, b.CreateFMul(e, c(b, x, -2.12194440e-4)));
  y = b.CreateFSub(y, b.CreateFMul(z, c(b, x, 0.5)));
  y = b.CreateFAdd(b.CreateFAdd(m, y), b.CreateFMul(e, c(b, x, 0.693359375)));
  const double inf = std::numeric_limits<double>::infinity();
  y = b.CreateSelect(b.CreateFCmpOEQ(x, c(b, x, inf)), x, y);
  y = b.CreateSelect(b.CreateFCmpOEQ(x, c(b, x, 0.0)), c(b, x, -inf), y);
  y = b.CreateSelect(b.CreateFCmpOLT(x, c(b, x, 0.0)), c(b, x, std::numeric_limits<double>::quiet_NaN()), y);
  return b.CreateSelect(is_nan(b, x), x, y);
}

// tanh: an odd polynomial near 0 (where 1 - 2/(e^2x + 1) would cancel), the exp form elsewhere.
Value* emit_tanh(llvm::IRBuilderBase& b, Value* x) {
  if (x->getType()->isDoubleTy()) return libm(b, "tanh", x);
  Value* ax = b.CreateUnaryIntrinsic(llvm::Intrinsic::fabs, x);
  Value* z = b.CreateFMul(x, x);
  Value* p =
      horner(b, z, {-5.70498872745E-3, 2.06390887954E-2, -5.37397155531E-2, 1.33314422036E-1, -3.33332819422E-1});
  Value* near = fma(b, b.CreateFMul(p, z), x, x);
  Value* t = emit_exp(b, b.CreateFMul(ax, c(b, x, 2.0)));
  Value* far = b.CreateFSub(c(b, x, 1.0), b.CreateFDiv(c(b, x, 2.0), b.CreateFAdd(t, c(b, x, 1.0))));
  far = b.CreateBinaryIntrinsic(llvm::Intrinsic::copysign, far, x);
  return b.CreateSelect(b.CreateFCmpOLT(ax, c(b, x, 0.625)), near, far);
}

// sigmoid(x) = 1 / (1 + e^-x): e^-x overflows to inf for very negative x, giving exactly 0.
Value* emit_sigmoid(llvm::IRBuilderBase& b, Value* x) {
  Value* e = emit_exp(b, b.CreateFNeg(x));
  return b.CreateFDiv(c(b, x, 1.0), b.CreateFAdd(c(b, x, 1.0), e));
}

}  // namespace rnnc::codegen
