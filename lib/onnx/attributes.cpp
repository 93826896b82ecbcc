// A node's attributes, as the readers of lib/onnx look them up (parsed.h).
#include "onnx/parsed.h"

namespace rnnc::onnx_import {

const onnx::AttributeProto* find_attr(const onnx::NodeProto& n, const char* name) {
  for (const auto& a : n.attribute())
    if (a.name() == name) return &a;
  return nullptr;
}
int64_t attr_int(const onnx::NodeProto& n, const char* name, int64_t otherwise) {
  const auto* a = find_attr(n, name);
  return a ? a->i() : otherwise;
}
float attr_float(const onnx::NodeProto& n, const char* name, float otherwise) {
  const auto* a = find_attr(n, name);
  return a ? a->f() : otherwise;
}
std::string attr_string(const onnx::NodeProto& n, const char* name, const std::string& otherwise) {
  const auto* a = find_attr(n, name);
  return a ? a->s() : otherwise;
}
std::optional<std::vector<int64_t>> attr_ints(const onnx::NodeProto& n, const char* name) {
  const auto* a = find_attr(n, name);
  if (!a) return std::nullopt;
  return std::vector<int64_t>(a->ints().begin(), a->ints().end());
}

}  // namespace rnnc::onnx_import
