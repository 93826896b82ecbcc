// Element types. Floating tensors are f32 or f64; i32 holds indices (gather, one_hot, labels);
// bf16 (bfloat16: float32's sign and exponent, 7 bits of mantissa) holds GEMM operands in the
// compiler's bf16 mode (CompileOptions::bf16). bf16 is a storage type, not one to compute in: cast
// makes it, matmul of two bf16 operands returns f32 (accumulated in float32), and views (reshape,
// transpose, slice, broadcast, concat) move it; every other op wants f32 or f64. i8 holds weights
// quantized for the run time's int8 GEMMs (CompileOptions::int8, exec/quantize.h), and only those.
#pragma once
#include <bit>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace rnnc {

enum class DType { f32, f64, i32, bf16, i8 };

constexpr std::size_t size_of(DType t) { return t == DType::f64 ? 8 : t == DType::bf16 ? 2 : t == DType::i8 ? 1 : 4; }
constexpr bool is_float(DType t) { return t == DType::f32 || t == DType::f64; }
constexpr std::string_view name_of(DType t) {
  switch (t) {
    case DType::f32: return "f32";
    case DType::f64: return "f64";
    case DType::i32: return "i32";
    case DType::bf16: return "bf16";
    case DType::i8: return "i8";
  }
  return "?";
}

// One bfloat16: the upper 16 bits of a float32, rounded to nearest, ties to even (as
// vcvtneps2bf16 and oneDNN round); a NaN stays a (quiet) NaN.
struct bf16 {
  uint16_t bits = 0;
  bf16() = default;
  constexpr bf16(float x) : bits(round(std::bit_cast<uint32_t>(x))) {}  // NOLINT: converts like a float
  constexpr operator float() const { return std::bit_cast<float>(uint32_t{bits} << 16); }
  static constexpr uint16_t round(uint32_t u) {
    if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40);  // NaN: keep it quiet
    return static_cast<uint16_t>((u + 0x7fffu + ((u >> 16) & 1)) >> 16);
  }
};

}  // namespace rnnc
