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
// What the export does not write (bf16 or int8 values computed in the graph: export the float32
// model, and choose OnnxOptions::weights) is an Error naming the op and the user's line.
//
// Sizes are fixed where the example arguments fix them, unless OnnxOptions::dynamic_axes opens an
// input's axis (PyTorch's dynamic_axes): {{"input", {{1, "batch"}}}, {"state.h", {{0, "batch"}}}}.
#pragma once
#include <array>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "rnnc/function.h"
#include "rnnc/tree_function.h"

namespace rnnc {

// Input axes left open in an ONNX file, by input name, then axis: the axis' symbolic name.
using DynamicAxes = std::map<std::string, std::map<int, std::string>>;

// How an export holds the model's weight matrices: as they are (float32), or smaller, each read
// back to float32 by a node beside it that runtimes fold once at load: bfloat16 (a Cast), or int8
// per row (output channel) with a float32 scale each, round(w / scale), scale = max |row| / 127 (a
// DequantizeLinear, axis 0: ONNX's weight-only quantization). Biases, vectors and tables of other
// ranks stay float32. The file is the smaller; the runtime computes in float32 on the weights as
// rounded.
enum class OnnxWeights { f32, bf16, int8 };

struct OnnxOptions {
  std::string name = "model";                   // the graph's name
  int opset = 17;                               // 13 to 17 (Debian's onnx 1.12 checks up to 17)
  std::map<std::string, std::string> metadata;  // the model's metadata_props
  // These input axes open (ONNX dim_params), each named: the file runs at any size there. The
  // function is traced a second time with every named axis longer, and the file is written only
  // if nothing but those sizes differs between the two graphs: a size fixed inside the graph (a
  // state of zeros made in the step, a Reshape that merges two open axes) is an Error naming the
  // node. Outputs' axes that follow an open axis are named after it.
  DynamicAxes dynamic_axes;
  OnnxWeights weights = OnnxWeights::f32;  // the model's weight matrices (its first argument's leaves)
};

struct OnnxModel {
  std::vector<std::string> inputs, outputs, initializers;  // names, in order
  int nodes = 0;                                           // in the main graph (a Scan counts once)
  std::map<std::string, int> operators;                    // how often each ONNX operator is used there
  std::string text;                                        // the model's serialized bytes
};

namespace detail {
// The function's first `params` inputs become initializers holding `values` (named), the rest the
// graph's inputs; its outputs are named `outputs`. `wider`, given o.dynamic_axes, is the same
// function traced with those axes longer (widened). Checks the model and, given a path, writes it.
OnnxModel write_onnx(const Function& f, const Function* wider, const std::vector<std::string>& names,
                     const std::vector<Tensor>& values, std::size_t params, const std::vector<std::string>& outputs,
                     const std::filesystem::path& file, const OnnxOptions& o);

// Every name in `axes` is one of the graph's inputs (names[params..]); an Error lists them otherwise.
void check_dynamic_axes(const DynamicAxes& axes, const std::vector<std::string>& names, std::size_t params);
// t (the leaf at `path`) as zeros with each axis `axes` names for `path` longer (by 3 for the first
// name in order, 4 for the next, ..., so that no two names grow alike); t itself otherwise.
Tensor widened(const Tensor& t, const std::string& path, const DynamicAxes& axes);
template <class T> T widened(const T& t, const std::string& prefix, const DynamicAxes& axes) {
  T copy = t;
  tree::for_each(
      copy,
      [&]<class L>(const std::string& path, L& leaf) {
        if constexpr (std::is_assignable_v<L&, Tensor>) leaf = widened(tree::tensor_of(leaf, path), path, axes);
      },
      prefix);
  return copy;
}

template <class F, class... A>
OnnxModel export_onnx(const TreeFunction<F, Transform::None>& f, std::size_t params, std::vector<std::string> names,
                      const std::filesystem::path& file, const OnnxOptions& o,
                      const std::array<const char*, sizeof...(A)>& prefixes, const A&... args) {
  auto trace = [&](const auto&... xs) {
    auto traced = f.function(xs...);
    if (traced.first.inputs.size() != traced.second.size() || traced.second.size() != names.size())
      throw Error(
          "rnnc: export_onnx: the function draws random numbers (dropout in training); export it with "
          "dropout off");
    return traced;
  };
  auto [fn, leaves] = trace(args...);
  std::optional<Function> wider;
  if (!o.dynamic_axes.empty()) {
    check_dynamic_axes(o.dynamic_axes, names, params);
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      try {
        wider = trace(widened(args, prefixes[I], o.dynamic_axes)...).first;
      } catch (const Error& e) {
        throw Error(std::string("rnnc: export_onnx: with its dynamic axes longer the function does not trace "
                                "(name each open axis on every input that has it): ") +
                    e.what());
      }
    }
    (std::index_sequence_for<A...>{});
  }
  const auto result = f(args...);
  std::vector<std::string> outputs;
  if constexpr (is_pair_like<std::decay_t<decltype(result)>>::value) {
    outputs = tree::paths(std::get<0>(result), "output");
    for (std::string& p : tree::paths(std::get<1>(result), "next_state")) outputs.push_back(std::move(p));
  } else {
    outputs = tree::paths(result, "output");
  }
  return write_onnx(fn, wider ? &*wider : nullptr, names, leaves, params, outputs, file, o);
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
  return detail::export_onnx(step, 0, names, file, o, {"state", "input"}, state, input);
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
  return detail::export_onnx(step, params, names, file, o, {"model", "state", "input"}, model, state, input);
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
  std::vector<Spec> inputs;          // the graph's inputs (not initializers), named; -1 where open
  DynamicAxes dynamic_axes;          // the inputs' open axes (symbolic in the file), named
  std::vector<std::string> outputs;  // names
  std::map<std::string, std::string> metadata;
  std::shared_ptr<const void> model;  // the parsed file

  // The outputs for these inputs (in `inputs`' order) and weights (these keys, e.g. `weights` as
  // traced). An open axis takes any size, the same wherever its name appears. An operator rnnc
  // does not read is an Error naming it and its node.
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
