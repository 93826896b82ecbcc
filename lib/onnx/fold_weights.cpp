// Weights stored small (parsed.h, fold_weights): a DequantizeLinear of int8 or uint8 constants (per
// tensor or per axis, ONNX's weight-only quantization, as rnnc's int8 export and onnxruntime's
// quantization tools write it) or a Cast to float32 of bfloat16 or float16 constants becomes the
// float32 initializer it computes, under the node's output name; the node, and the constants no
// other node reads, go. Then a quantized file's weights are weights like any other: they train,
// export again, and make a checkpoint (as rounded).
#include <fmt/format.h>

#include <algorithm>
#include <optional>
#include <set>

#include "onnx/parsed.h"
#include "rnnc/error.h"

namespace rnnc::onnx_import {

namespace {

using onnx::TensorProto;

const TensorProto* find(const onnx::GraphProto& g, const std::string& name) {
  for (const TensorProto& t : g.initializer())
    if (t.name() == name) return &t;
  return nullptr;
}

void add_names(const onnx::GraphProto& g, std::set<std::string>& read) {
  for (const onnx::NodeProto& n : g.node()) {
    for (const std::string& i : n.input()) read.insert(i);
    for (const auto& a : n.attribute()) {
      if (a.has_g()) add_names(a.g(), read);
      for (const auto& sub : a.graphs()) add_names(sub, read);
    }
  }
  for (const auto& o : g.output()) read.insert(o.name());
}

// The float32 values node n computes from constants, or nothing where it is not such a node.
std::optional<std::vector<double>> folded(const onnx::GraphProto& g, const onnx::NodeProto& n, Shape& shape) {
  if (n.output_size() != 1 || n.input_size() == 0) return std::nullopt;
  std::vector<const TensorProto*> in;
  for (const std::string& name : n.input()) {
    const TensorProto* t = name.empty() ? nullptr : find(g, name);
    if (!t && !name.empty()) return std::nullopt;
    in.push_back(t);
  }
  if (!in[0]) return std::nullopt;  // (a malformed node: the evaluator names it)
  const int32_t type = in[0]->data_type();
  shape = dims_of(*in[0]);
  if (n.op_type() == "Cast") {
    if (attr_int(n, "to", 0) != TensorProto::FLOAT || (type != TensorProto::BFLOAT16 && type != TensorProto::FLOAT16))
      return std::nullopt;
    return elements(*in[0]);
  }
  if (n.op_type() != "DequantizeLinear" || (type != TensorProto::INT8 && type != TensorProto::UINT8) || in.size() < 2)
    return std::nullopt;
  // y = (x - zero) * scale, the scale and zero point per tensor or along `axis`.
  int64_t axis = attr_int(n, "axis", 1);
  const int64_t rank = static_cast<int64_t>(shape.size());
  if (axis < 0) axis += rank;
  std::vector<double> x = elements(*in[0]);
  const std::vector<double> scale = elements(*in[1]);
  const std::vector<double> zero = in.size() > 2 && in[2] ? elements(*in[2]) : std::vector<double>(scale.size(), 0.0);
  if (scale.size() != zero.size() ||
      (scale.size() != 1 && (axis < 0 || axis >= rank || shape[axis] != static_cast<int64_t>(scale.size()))))
    throw Error(fmt::format("rnnc: import_onnx: DequantizeLinear node '{}': {} scales for a tensor {} along axis {}",
                            n.name(), scale.size(), to_string(shape), axis));
  int64_t inner = 1;  // elements after the axis
  for (int64_t k = axis + 1; k < rank; ++k) inner *= shape[static_cast<size_t>(k)];
  for (size_t i = 0; i < x.size(); ++i) {
    const size_t c = scale.size() == 1 ? 0 : (i / static_cast<size_t>(inner)) % scale.size();
    x[i] = static_cast<float>((x[i] - zero[c]) * scale[c]);  // as a float32 runtime computes it
  }
  return x;
}

}  // namespace

void fold_weights(onnx::GraphProto& g) {
  std::set<std::string> consumed;  // the folded nodes' inputs
  for (int i = 0; i < g.node_size();) {
    const onnx::NodeProto& n = g.node(i);
    Shape shape;
    const auto values = folded(g, n, shape);
    if (!values) {
      ++i;
      continue;
    }
    TensorProto* t = g.add_initializer();
    t->set_name(n.output(0));
    t->set_data_type(TensorProto::FLOAT);
    for (int64_t d : shape) t->add_dims(d);
    for (double v : *values) t->add_float_data(static_cast<float>(v));
    for (const std::string& in : n.input()) consumed.insert(in);
    g.mutable_node()->erase(g.mutable_node()->begin() + i);
  }
  if (consumed.empty()) return;
  std::set<std::string> read;
  add_names(g, read);
  auto* inits = g.mutable_initializer();
  inits->erase(std::remove_if(inits->begin(), inits->end(),
                              [&](const TensorProto& t) { return consumed.count(t.name()) && !read.count(t.name()); }),
               inits->end());
}

}  // namespace rnnc::onnx_import
