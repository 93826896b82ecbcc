// Typed values and initializers of an export (initializers.h).
#include "onnx/initializers.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace rnnc::onnx_export {

using onnx::TensorProto;

int32_t onnx_type(DType t) {
  switch (t) {
    case DType::f32: return TensorProto::FLOAT;
    case DType::f64: return TensorProto::DOUBLE;
    case DType::i32: return TensorProto::INT32;
    case DType::bf16: return TensorProto::BFLOAT16;
    case DType::i8: return TensorProto::INT8;
  }
  return TensorProto::UNDEFINED;
}

void set_type(onnx::ValueInfoProto* v, const std::string& name, DType dtype, const Shape& shape) {
  v->set_name(name);
  auto* t = v->mutable_type()->mutable_tensor_type();
  t->set_elem_type(onnx_type(dtype));
  auto* s = t->mutable_shape();
  for (int64_t d : shape) s->add_dim()->set_dim_value(d);
}

void fill(TensorProto* p, const std::string& name, const Tensor& t) {
  p->set_name(name);
  p->set_data_type(onnx_type(t.dtype()));
  for (int64_t d : t.shape()) p->add_dims(d);
  p->set_raw_data(std::string(static_cast<const char*>(t.raw()), t.nbytes()));
}

void weight(onnx::GraphProto* g, const std::string& name, const Tensor& w, OnnxWeights format) {
  if (format == OnnxWeights::f32 || w.dtype() != DType::f32 || w.rank() != 2)
    return fill(g->add_initializer(), name, w);
  onnx::NodeProto* p = g->add_node();
  p->set_name(name + ".dequantize");
  p->add_output(name);
  if (format == OnnxWeights::bf16) {
    fill(g->add_initializer(), name + ".bf16", w.to(DType::bf16));
    p->set_op_type("Cast");
    p->add_input(name + ".bf16");
    auto* a = p->add_attribute();
    a->set_name("to");
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(TensorProto::FLOAT);
    return;
  }
  // int8 per row: q = round(w / s), s = max |row| / 127 (1 for a row of zeros).
  const int64_t rows = w.shape()[0], cols = w.shape()[1];
  const std::vector<double> v = w.values();
  std::vector<double> q(v.size()), scale(static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; ++r) {
    double top = 0;
    for (int64_t c = 0; c < cols; ++c) top = std::max(top, std::abs(v[static_cast<size_t>(r * cols + c)]));
    const double s = top > 0 ? static_cast<double>(static_cast<float>(top / 127)) : 1.0;
    scale[static_cast<size_t>(r)] = s;
    for (int64_t c = 0; c < cols; ++c) {
      const size_t i = static_cast<size_t>(r * cols + c);
      q[i] = std::clamp(std::nearbyint(v[i] / s), -127.0, 127.0);
    }
  }
  fill(g->add_initializer(), name + ".int8", Tensor::from(q, w.shape(), DType::i8));
  fill(g->add_initializer(), name + ".scale", Tensor::from(scale, {rows}, DType::f32));
  fill(g->add_initializer(), name + ".zero", Tensor::zeros({rows}, DType::i8));
  p->set_op_type("DequantizeLinear");
  for (const char* part : {".int8", ".scale", ".zero"}) p->add_input(name + part);
  auto* a = p->add_attribute();
  a->set_name("axis");
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(0);
}

}  // namespace rnnc::onnx_export
