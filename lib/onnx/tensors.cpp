// The tensor readers of lib/onnx (parsed.h): an initializer's elements, whichever field holds them.
#include <fmt/format.h>

#include <cmath>
#include <cstring>

#include "onnx/parsed.h"
#include "rnnc/error.h"

namespace rnnc {

using onnx::TensorProto;

bool onnx_import::is_integer(int32_t t) {
  return t == TensorProto::INT32 || t == TensorProto::INT64 || t == TensorProto::BOOL || t == TensorProto::INT8 ||
         t == TensorProto::UINT8;
}

DType onnx_import::dtype_of(int32_t t, const std::string& what) {
  switch (t) {
    case TensorProto::FLOAT: return DType::f32;
    case TensorProto::DOUBLE: return DType::f64;
    case TensorProto::INT32:
    case TensorProto::INT64:
    case TensorProto::BOOL: return DType::i32;
    default: throw Error(fmt::format("rnnc: import_onnx: {}: element type {} is not read", what, t));
  }
}

Shape onnx_import::dims_of(const TensorProto& t) { return Shape(t.dims().begin(), t.dims().end()); }

namespace {
float from_bf16(uint16_t b) {
  const uint32_t u = uint32_t{b} << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
// IEEE half: sign, 5 exponent bits (bias 15), 10 fraction bits.
double from_fp16(uint16_t h) {
  const int sign = h >> 15, exponent = (h >> 10) & 31, fraction = h & 1023;
  const double s = sign ? -1.0 : 1.0;
  if (exponent == 0) return s * std::ldexp(fraction, -24);
  if (exponent == 31) return fraction ? std::nan("") : s * HUGE_VAL;
  return s * std::ldexp(fraction + 1024, exponent - 25);
}
}  // namespace

// A tensor's elements as doubles (raw_data or the typed fields).
std::vector<double> onnx_import::elements(const TensorProto& t) {
  const int64_t n = numel(dims_of(t));
  std::vector<double> out;
  out.reserve(static_cast<size_t>(n));
  const std::string& raw = t.raw_data();
  auto from_raw = [&]<class T>(T) {
    if (raw.size() != static_cast<size_t>(n) * sizeof(T))
      throw Error(
          fmt::format("rnnc: import_onnx: tensor '{}' holds {} bytes for {} elements", t.name(), raw.size(), n));
    for (int64_t i = 0; i < n; ++i) {
      T v;
      std::memcpy(&v, raw.data() + i * static_cast<int64_t>(sizeof(T)), sizeof(T));
      out.push_back(static_cast<double>(v));
    }
  };
  switch (t.data_type()) {
    case TensorProto::FLOAT:
      if (!raw.empty()) from_raw(float{});
      for (float v : t.float_data()) out.push_back(v);
      break;
    case TensorProto::DOUBLE:
      if (!raw.empty()) from_raw(double{});
      for (double v : t.double_data()) out.push_back(v);
      break;
    case TensorProto::INT64:
      if (!raw.empty()) from_raw(int64_t{});
      for (int64_t v : t.int64_data()) out.push_back(static_cast<double>(v));
      break;
    case TensorProto::INT32:
    case TensorProto::BOOL:
      if (!raw.empty()) t.data_type() == TensorProto::INT32 ? from_raw(int32_t{}) : from_raw(uint8_t{});
      for (int32_t v : t.int32_data()) out.push_back(v);
      break;
    case TensorProto::INT8:
    case TensorProto::UINT8:
      if (!raw.empty()) t.data_type() == TensorProto::INT8 ? from_raw(int8_t{}) : from_raw(uint8_t{});
      for (int32_t v : t.int32_data()) out.push_back(t.data_type() == TensorProto::INT8 ? static_cast<int8_t>(v) : v);
      break;
    case TensorProto::BFLOAT16:
    case TensorProto::FLOAT16: {  // 16-bit patterns (raw, or one per int32_data element) as floats
      std::vector<uint16_t> bits;
      if (!raw.empty()) {
        if (raw.size() != static_cast<size_t>(n) * 2)
          throw Error(
              fmt::format("rnnc: import_onnx: tensor '{}' holds {} bytes for {} elements", t.name(), raw.size(), n));
        bits.resize(static_cast<size_t>(n));
        std::memcpy(bits.data(), raw.data(), raw.size());
      }
      for (int32_t v : t.int32_data()) bits.push_back(static_cast<uint16_t>(v));
      for (uint16_t b : bits) out.push_back(t.data_type() == TensorProto::BFLOAT16 ? from_bf16(b) : from_fp16(b));
      break;
    }
    default: throw Error(fmt::format("rnnc: import_onnx: tensor '{}' of element type {}", t.name(), t.data_type()));
  }
  if (static_cast<int64_t>(out.size()) != n)
    throw Error(fmt::format("rnnc: import_onnx: tensor '{}' holds {} elements for {}", t.name(), out.size(), n));
  return out;
}

}  // namespace rnnc
