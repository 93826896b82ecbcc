// Element types. Floating tensors are f32 or f64; i32 holds indices (gather, one_hot, labels).
#pragma once
#include <cstddef>
#include <string_view>

namespace rnnc {

enum class DType { f32, f64, i32 };

constexpr std::size_t size_of(DType t) { return t == DType::f64 ? 8 : 4; }
constexpr bool is_float(DType t) { return t != DType::i32; }
constexpr std::string_view name_of(DType t) {
  switch (t) {
    case DType::f32: return "f32";
    case DType::f64: return "f64";
    case DType::i32: return "i32";
  }
  return "?";
}

}  // namespace rnnc
