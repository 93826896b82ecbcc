// The tensor readers of lib/onnx (parsed.h): an initializer's elements, whichever field holds them.
#include <fmt/format.h>

#include <cstring>

#include "onnx/parsed.h"
#include "rnnc/error.h"

namespace rnnc {

using onnx::TensorProto;

bool onnx_import::is_integer(int32_t t) {
  return t == TensorProto::INT32 || t == TensorProto::INT64 || t == TensorProto::BOOL || t == TensorProto::INT8 ||
         t == TensorProto::UINT8;
}

Shape onnx_import::dims_of(const TensorProto& t) { return Shape(t.dims().begin(), t.dims().end()); }

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
    default: throw Error(fmt::format("rnnc: import_onnx: tensor '{}' of element type {}", t.name(), t.data_type()));
  }
  if (static_cast<int64_t>(out.size()) != n)
    throw Error(fmt::format("rnnc: import_onnx: tensor '{}' holds {} elements for {}", t.name(), out.size(), n));
  return out;
}

}  // namespace rnnc
