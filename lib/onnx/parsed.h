// What import_onnx keeps of a file (OnnxGraph::model), and the tensor readers the readers of
// lib/onnx share. Holds protobuf types: private to this stage.
#pragma once
#include <onnx/onnx_pb.h>

#include <optional>
#include <string>
#include <vector>

#include "rnnc/dtype.h"
#include "rnnc/shape.h"

namespace rnnc::onnx_import {

struct Parsed {
  onnx::ModelProto model;
  std::vector<std::string> weight_of;  // per initializer: its key in the weights, or "" (a constant)
};

bool is_integer(int32_t type);
Shape dims_of(const onnx::TensorProto& t);
// The elements as doubles, from raw_data or the typed fields (an Error names a malformed tensor).
std::vector<double> elements(const onnx::TensorProto& t);
// Weights stored small, read back by a node of constants (a DequantizeLinear of int8, a Cast of
// bfloat16 or float16), become the float32 initializers they compute (fold_weights.cpp).
void fold_weights(onnx::GraphProto& g);
// An element type as rnnc's (ints and booleans as int32); an Error names `what` for another.
DType dtype_of(int32_t type, const std::string& what);

// A node's attribute by name (null where absent), and its value or `otherwise` (attributes.cpp).
const onnx::AttributeProto* find_attr(const onnx::NodeProto& n, const char* name);
int64_t attr_int(const onnx::NodeProto& n, const char* name, int64_t otherwise);
float attr_float(const onnx::NodeProto& n, const char* name, float otherwise);
std::string attr_string(const onnx::NodeProto& n, const char* name, const std::string& otherwise);
std::optional<std::vector<int64_t>> attr_ints(const onnx::NodeProto& n, const char* name);

}  // namespace rnnc::onnx_import
