// ONNX export: any traced function as an ONNX model (opset 17, IR version 8), checked by ONNX's own
// checker and shape inference before it is written.
//
//   auto step = compile([&](const Model& m, const State& s, const Var& x) { return Model::next(m, s, x); });
//   export_onnx(step, m, m.initial_state(1), x, "charlm.onnx");
//
// The graph is exported op by op: each primitive becomes the ONNX operator (or the few) that
// computes it, and a scan becomes a `Scan` whose body is the step's graph, so every cell a user
// writes exports. The step's arguments are the model's inputs, named by their tree paths
// ("state.h", "input"); the parameters, when given as the first argument, its initializers
// ("model.cell.weight"); the results its outputs ("output", "next_state.h"). A state in and a
// state out make streaming explicit: feed "next_state.*" back as "state.*".
//
// What ONNX cannot hold (bf16 or int8 values) is an Error naming the op and the user's line.
#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "rnnc/function.h"
#include "rnnc/tree_function.h"

namespace rnnc {

struct OnnxOptions {
  std::string name = "model";                   // the graph's name
  int opset = 17;                               // 13 to 17 (Debian's onnx 1.12 checks up to 17)
  std::map<std::string, std::string> metadata;  // the model's metadata_props
};

struct OnnxModel {
  std::vector<std::string> inputs, outputs, initializers;  // names, in order
  int nodes = 0;                                           // in the main graph (a Scan counts once)
  std::map<std::string, int> operators;                    // how often each ONNX operator is used there
  std::string text;                                        // the model's serialized bytes
};

namespace detail {
// The function's first `params` inputs become initializers holding `values` (named), the rest the
// graph's inputs; its outputs are named `outputs`. Checks the model and, given a path, writes it.
OnnxModel write_onnx(const Function& f, const std::vector<std::string>& names, const std::vector<Tensor>& values,
                     std::size_t params, const std::vector<std::string>& outputs, const std::filesystem::path& file,
                     const OnnxOptions& o);

template <class F, class... A> OnnxModel export_onnx(const TreeFunction<F, Transform::None>& f, std::size_t params,
                                                     std::vector<std::string> names, const std::filesystem::path& file,
                                                     const OnnxOptions& o, const A&... args) {
  auto [fn, leaves] = f.function(args...);
  if (fn.inputs.size() != leaves.size() || leaves.size() != names.size())
    throw Error(
        "rnnc: export_onnx: the function draws random numbers (dropout in training); export it with "
        "dropout off");
  const auto result = f(args...);
  std::vector<std::string> outputs;
  if constexpr (is_pair_like<std::decay_t<decltype(result)>>::value) {
    outputs = tree::paths(std::get<0>(result), "output");
    for (std::string& p : tree::paths(std::get<1>(result), "next_state")) outputs.push_back(std::move(p));
  } else {
    outputs = tree::paths(result, "output");
  }
  return write_onnx(fn, names, leaves, params, outputs, file, o);
}

template <class T> void append_paths(std::vector<std::string>& to, const T& t, const std::string& prefix) {
  for (std::string& p : tree::paths(t, prefix)) to.push_back(std::move(p));
}
}  // namespace detail

// step(state, input) -> (output, next state), weights captured (initializers named "weight_<n>").
// Writes `file` unless it is empty; returns the names and the model's bytes.
template <class F, class S, class X>
OnnxModel export_onnx(const TreeFunction<F, detail::Transform::None>& step, const S& state, const X& input,
                      const std::filesystem::path& file, const OnnxOptions& o = {}) {
  std::vector<std::string> names;
  detail::append_paths(names, state, "state");
  detail::append_paths(names, input, "input");
  return detail::export_onnx(step, 0, names, file, o, state, input);
}

// step(model, state, input) -> (output, next state): the model's leaves become initializers named
// by their paths ("model.layers.0.weight").
template <class F, class M, class S, class X>
OnnxModel export_onnx(const TreeFunction<F, detail::Transform::None>& step, const M& model, const S& state,
                      const X& input, const std::filesystem::path& file, const OnnxOptions& o = {}) {
  std::vector<std::string> names;
  detail::append_paths(names, model, "model");
  const std::size_t params = names.size();
  detail::append_paths(names, state, "state");
  detail::append_paths(names, input, "input");
  return detail::export_onnx(step, params, names, file, o, model, state, input);
}

// An ONNX model read into rnnc (import_onnx): its floating-point initializers as a tree of named
// leaves, trained like any model's, and its graph, which a call traces with rnnc's ops (ONNX's
// LSTM, GRU and RNN as the library's cells, a Scan as a scan), so that it compiles, differentiates
// and exports again like a model written in rnnc:
//
//   OnnxGraph g = import_onnx("model.onnx");
//   auto f = compile([&g](const OnnxGraph::Weights& w, const std::vector<Var>& in) { return g(w, in); });
//   std::vector<Tensor> out = f(g.weights, inputs);   // inputs in g.inputs' order
//
// rnnc's own exports name their initializers "model.<path>"; the weights' keys are the paths.
struct OnnxGraph {
  using Weights = std::map<std::string, Leaf>;
  Weights weights;
  std::vector<Spec> inputs;          // the graph's inputs (not initializers), named
  std::vector<std::string> outputs;  // names
  std::map<std::string, std::string> metadata;
  std::shared_ptr<const void> model;  // the parsed file

  // The outputs for these inputs (in `inputs`' order) and weights (these keys, e.g. `weights` as
  // traced). An operator rnnc does not read is an Error naming it and its node.
  std::vector<Var> operator()(const Weights& w, const std::vector<Var>& in) const;
};

OnnxGraph import_onnx(const std::filesystem::path& file);

// A recurrent language model as exporters write it (PyTorch's torch.onnx.export of Embedding ->
// LSTM/GRU/RNN -> Linear): ids through a Gather of an embedding table (or a OneHot), one ONNX cell
// operator per layer (one direction, layout 0, weights as initializers), a head of MatMul and Add
// (or Gemm). Its tensors in PyTorch's layout and gate order, for a checkpoint (rnnc import).
struct OnnxRecurrentModel {
  struct Layer {
    Tensor weight_ih, weight_hh, bias_ih, bias_hh;
  };
  std::string cell;  // "lstm", "gru", "rnn_tanh", "rnn_relu"
  std::vector<Layer> layers;
  Tensor embedding;               // [V, E], or undefined for one-hot ids
  Tensor head_weight, head_bias;  // [V, H], [V]
};
// An Error says which part the graph lacks (naming the node where one is there but not readable).
OnnxRecurrentModel recurrent_model_of(const OnnxGraph& g);

}  // namespace rnnc
