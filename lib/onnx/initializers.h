// Typed values and initializers as the export writes them (export.cpp): ONNX's element types, a
// value's declared type, a tensor's bytes, and a model's parameter in OnnxOptions::weights' format.
#pragma once
#include <onnx/onnx_pb.h>

#include <string>

#include "rnnc/onnx.h"

namespace rnnc::onnx_export {

int32_t onnx_type(DType t);
// v declared as a tensor of this dtype and shape, named.
void set_type(onnx::ValueInfoProto* v, const std::string& name, DType dtype, const Shape& shape);
// p holds t's elements (raw, little-endian), named.
void fill(onnx::TensorProto* p, const std::string& name, const Tensor& t);
// A parameter: an initializer of that name, or (a float32 matrix, in OnnxOptions::weights' smaller
// formats) the smaller initializer `name.bf16` or `name.int8` with `name.scale` and `name.zero`,
// read back into `name` by a node at the head of the graph.
void weight(onnx::GraphProto* g, const std::string& name, const Tensor& w, OnnxWeights format);

}  // namespace rnnc::onnx_export
