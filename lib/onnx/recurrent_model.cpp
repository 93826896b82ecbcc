// recurrent_model_of (rnnc/onnx.h): a character model's parts found in an ONNX graph by the
// operators that hold them, as PyTorch's exporter writes them.
#include <fmt/format.h>

#include <map>

#include "onnx/parsed.h"
#include "rnnc/error.h"
#include "rnnc/onnx.h"

namespace rnnc {

namespace {

using onnx_import::dims_of;
using onnx_import::elements;

[[noreturn]] void lacks(const std::string& what) {
  throw Error("rnnc: import: the graph is not a recurrent language model rnnc reads: " + what);
}

// A float32 initializer by name, or undefined.
Tensor initializer(const onnx::GraphProto& g, const std::string& name) {
  for (const onnx::TensorProto& t : g.initializer())
    if (t.name() == name && t.data_type() == onnx::TensorProto::FLOAT)
      return Tensor::from(elements(t), dims_of(t), DType::f32);
  return Tensor();
}

// Rows [G H, ...] in ONNX's gate order put in PyTorch's.
Tensor torch_order(const Tensor& w, const std::vector<int64_t>& order) {
  const int64_t G = static_cast<int64_t>(order.size()), rows = w.shape()[0] / G, row = w.numel() / w.shape()[0];
  Tensor out = Tensor::empty(w.shape());
  for (int64_t g = 0; g < G; ++g)
    std::copy_n(w.data<float>() + order[static_cast<size_t>(g)] * rows * row, rows * row,
                out.data<float>() + g * rows * row);
  return out;
}

Tensor part(const Tensor& t, int64_t index, Shape shape) {  // t[index] of a [D, ...] tensor
  const int64_t n = numel(shape);
  Tensor out = Tensor::empty(shape);
  std::copy_n(t.data<float>() + index * n, n, out.data<float>());
  return out;
}

Tensor transposed(const Tensor& t) {  // [R, C] -> [C, R]
  const int64_t R = t.shape()[0], C = t.shape()[1];
  Tensor out = Tensor::empty({C, R});
  for (int64_t r = 0; r < R; ++r)
    for (int64_t c = 0; c < C; ++c) out.data<float>()[c * R + r] = t.data<float>()[r * C + c];
  return out;
}

std::string attr_s(const onnx::NodeProto& n, const char* name, const std::string& otherwise) {
  for (const auto& a : n.attribute())
    if (a.name() == name) return a.type() == onnx::AttributeProto::STRINGS && a.strings_size() ? a.strings(0) : a.s();
  return otherwise;
}

}  // namespace

OnnxRecurrentModel recurrent_model_of(const OnnxGraph& graph) {
  const auto& parsed = *static_cast<const onnx_import::Parsed*>(graph.model.get());
  const onnx::GraphProto& g = parsed.model.graph();
  OnnxRecurrentModel m;
  for (const onnx::NodeProto& n : g.node()) {
    const std::string& op = n.op_type();
    if (op != "LSTM" && op != "GRU" && op != "RNN") continue;
    auto refuse = [&](const std::string& why) { lacks(fmt::format("{} node '{}': {}", op, n.name(), why)); };
    const std::string cell = op == "LSTM"  ? "lstm"
                             : op == "GRU" ? "gru"
                                           : (attr_s(n, "activations", "Tanh") == "Relu" ? "rnn_relu" : "rnn_tanh");
    if (!m.cell.empty() && m.cell != cell) refuse("layers of different cells");
    m.cell = cell;
    if (attr_s(n, "direction", "forward") != "forward") refuse("a direction other than forward");
    if (onnx_import::attr_int(n, "layout", 0) != 0) refuse("layout 1");
    if (op == "GRU" && onnx_import::attr_int(n, "linear_before_reset", 0) != 1) refuse("linear_before_reset 0");
    const Tensor W = n.input_size() > 1 ? initializer(g, n.input(1)) : Tensor();
    const Tensor R = n.input_size() > 2 ? initializer(g, n.input(2)) : Tensor();
    const Tensor B = n.input_size() > 3 && !n.input(3).empty() ? initializer(g, n.input(3)) : Tensor();
    if (!W.defined() || !R.defined()) refuse("its weights W and R are not float32 initializers");
    const std::vector<int64_t> order = op == "LSTM"  ? std::vector<int64_t>{0, 2, 3, 1}
                                       : op == "GRU" ? std::vector<int64_t>{1, 0, 2}
                                                     : std::vector<int64_t>{0};
    const int64_t GH = W.shape()[1], I = W.shape()[2], H = R.shape()[2];
    OnnxRecurrentModel::Layer l;
    l.weight_ih = torch_order(part(W, 0, {GH, I}), order);
    l.weight_hh = torch_order(part(R, 0, {GH, H}), order);
    const Tensor b = B.defined() ? part(B, 0, {2 * GH}) : Tensor::zeros({2 * GH});
    l.bias_ih = torch_order(part(b, 0, {GH}), order);
    l.bias_hh = torch_order(part(b, 1, {GH}), order);
    m.layers.push_back(l);
  }
  if (m.layers.empty()) lacks("no LSTM, GRU or RNN operator");
  const int64_t H = m.layers.back().weight_hh.shape()[1];
  for (const onnx::NodeProto& n : g.node()) {
    if (n.op_type() == "Gather" && !m.embedding.defined()) m.embedding = initializer(g, n.input(0));
    if (n.op_type() == "MatMul" && !m.head_weight.defined()) {
      const Tensor w = initializer(g, n.input(1));
      if (w.defined() && w.rank() == 2 && w.shape()[0] == H) m.head_weight = transposed(w);
    }
    if (n.op_type() == "Gemm" && !m.head_weight.defined()) {
      Tensor w = initializer(g, n.input(1));
      if (w.defined() && !onnx_import::attr_int(n, "transB", 0)) w = transposed(w);
      if (w.defined() && w.rank() == 2 && w.shape()[1] == H) m.head_weight = w;
      if (n.input_size() > 2) m.head_bias = initializer(g, n.input(2));
    }
    if (n.op_type() == "Add" && m.head_weight.defined() && !m.head_bias.defined())
      for (int i = 0; i < 2; ++i)
        if (Tensor b = initializer(g, n.input(i));
            b.defined() && b.rank() == 1 && b.shape()[0] == m.head_weight.shape()[0])
          m.head_bias = b;
  }
  if (!m.head_weight.defined()) lacks("no head (a MatMul or Gemm with a [" + std::to_string(H) + ", V] weight)");
  const int64_t V = m.head_weight.shape()[0];
  if (!m.head_bias.defined()) m.head_bias = Tensor::zeros({V});
  const int64_t I = m.layers[0].weight_ih.shape()[1];
  if (m.embedding.defined() && (m.embedding.rank() != 2 || m.embedding.shape()[0] != V || m.embedding.shape()[1] != I))
    lacks(fmt::format("an embedding {} for a vocabulary of {} and a first layer reading {}",
                      to_string(m.embedding.shape()), V, I));
  if (!m.embedding.defined() && I != V)
    lacks(fmt::format("no embedding, and a first layer reading {} for {} characters", I, V));
  return m;
}

}  // namespace rnnc
