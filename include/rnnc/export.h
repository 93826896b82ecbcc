// Ahead-of-time export: a compiled function out of rnnc, to run without the compiler, LLVM or
// this library: its kernels as object code, its schedule and memory plan (weights inside) as
// bytes, and the run time's C interface (rnnc/c_runtime.h) around them.
//
// A streaming model (a step of a recurrent model, state carried from call to call):
//
//   auto step = compile([&model](const State& s, const Var& x) { return model.step(s, x); });  // -> (y, s')
//   ExportedModel e = export_stream(step, model.initial_state(1), Tensor::zeros({1}, DType::i32), "out");
//   // out/model.h        the C interface: model_new, model_state_new, model_step, model_state_reset, ...
//   //                    (and model_batch_new, model_step_many with ExportOptions::batch)
//   // out/libmodel.so    all of it, the run time inside (links libstdc++ and libfmt, no LLVM)
//   // out/libmodel.a     the model alone; link it with out/librnnc_runtime.a (link line in model.h)
//   // out/model-config.cmake   find_package(model CONFIG PATHS out): model::shared, model::static
//
// The step takes the state first and returns (outputs, next state) (as the cells' steps do); the
// next state must have the state's leaves. Weights the function captures (rather than takes) are
// constants of the program: they are exported inside it. `name` prefixes every file and symbol.
//
// export_program writes the parts alone (for tests and for other packagings):
//   out/model_kernels.o: the kernels, position-independent, for this CPU (x.cpu)
//   out/model_kernels.c: model_kernels[], the kernel each of the program's steps calls
//   out/model_program.bin: the schedule, buffers, literals, input and output specs
#pragma once
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "rnnc/c_runtime.h"
#include "rnnc/compile.h"
#include "rnnc/tree_function.h"

namespace rnnc {

struct ExportedFiles {
  std::filesystem::path object, table, program;
  int kernels = 0;  // distinct kernels in the object
  std::string cpu;  // the CPU they were compiled for (the host's)
};

// Writes the program of the compiled function's latest shape signature. Throws an Error naming
// the file it could not write.
ExportedFiles export_program(const Compiled& c, const std::filesystem::path& dir, const std::string& name);

struct ExportOptions {
  std::string name = "model";                   // a C identifier: prefixes files and symbols
  std::map<std::string, std::string> metadata;  // read back by rnnc_model_metadata(m, key)
  bool build = true;                            // build the libraries (with cc and ar); else sources only
  // > 0: the step compiled a second time for this many streams at once, for {name}_step_many (every
  // leaf of the state, input and output has a leading axis of 1, which the batched step makes this).
  int batch = 0;
};

struct ExportedModel {
  std::filesystem::path header, source, object, static_library, shared_library, runtime_library, cmake_config;
  std::filesystem::path runtime_source;  // the run-time archive copied into the folder (installed, or this build's)
  int kernels = 0;
  std::string cpu, features;  // what the kernels were compiled for
};

namespace detail {
// The step's leaves as the export names them; state: leaves of the first argument, the last
// `states` outputs its next value.
struct StreamExport {
  const Compiled* compiled = nullptr;
  std::vector<Tensor> initial_state;
  std::vector<std::string> state_names, input_names, output_names;
  const Compiled* batched = nullptr;  // the step for `batch` rows (batch > 0)
  int batch = 0;
  std::shared_ptr<const void> owner;  // of `batched`
};
// Each tensor's leading axis of 1 made `rows` (the row repeated); an Error names a leaf without one.
std::vector<Tensor> repeat_rows(const std::vector<Tensor>& leaves, const std::vector<std::string>& paths, int64_t rows);
ExportedModel export_stream(const StreamExport& s, const std::filesystem::path& dir, const ExportOptions& o);
std::shared_ptr<rnnc_model> stream_model(const StreamExport& s, int threads);

// The checks and names both kinds of stream export share; compiles the step for these shapes.
template <class F, class S, class X>
StreamExport stream_export(const TreeFunction<F, Transform::None>& step, const S& state, const X& input, int batch) {
  auto result = step(state, input);  // traced and compiled for these shapes, if not yet
  static_assert(is_pair_like<decltype(result)>::value, "rnnc: export_stream: the step returns (output, state)");
  const std::vector<Tensor> s = tree::tensors(state), next = tree::tensors(std::get<1>(result));
  const std::vector<std::string> state_paths = tree::paths(state, "state");
  if (next.size() != s.size())
    throw Error("rnnc: export_stream: the step returns a state of " + std::to_string(next.size()) +
                " leaves for one of " + std::to_string(s.size()));
  for (std::size_t i = 0; i < s.size(); ++i)
    if (next[i].shape() != s[i].shape() || next[i].dtype() != s[i].dtype())
      throw Error("rnnc: export_stream: the step returns '" + state_paths[i] + "' as " +
                  std::string(name_of(next[i].dtype())) + to_string(next[i].shape()) + ", it takes it as " +
                  std::string(name_of(s[i].dtype())) + to_string(s[i].shape()));
  StreamExport e;
  e.compiled = &step.compiled_for(state, input);
  e.initial_state = s;
  e.state_names = state_paths;
  e.input_names = tree::paths(input, "input");
  e.output_names = tree::paths(std::get<0>(result), "output");
  if (batch > 0) {
    const S states = tree::replace(state, repeat_rows(s, state_paths, batch));
    const X inputs = tree::replace(input, repeat_rows(tree::tensors(input), e.input_names, batch));
    // Traced anew: a function keeps the shapes of its first argument (here the state).
    auto again = std::make_shared<const TreeFunction<F, Transform::None>>(step.fresh());
    e.batched = &again->compiled_for(states, inputs);
    e.owner = again;
    e.batch = batch;
  } else if (batch < 0) {
    throw Error("rnnc: export_stream: a batch of " + std::to_string(batch) + " streams");
  }
  return e;
}
}  // namespace detail

// Exports step(state, input) -> (output, next state), compiled for the shapes of (state, input);
// the state's values are the streams' initial state. Throws an Error when the next state's leaves
// are not the state's, or a file cannot be written or built.
template <class F, class S, class X>
ExportedModel export_stream(const TreeFunction<F, detail::Transform::None>& step, const S& state, const X& input,
                            const std::filesystem::path& dir, const ExportOptions& o = {}) {
  return detail::export_stream(detail::stream_export(step, state, input, o.batch), dir, o);
}

// The same step as the run time's model in this process (its kernels the JIT's): what an exported
// library runs, for streams here (rnnc_stream_new; rnnc sample steps through one). threads: per
// stream (0: the compiled function's); batch > 0: with a batched step for that many streams
// (rnnc_batch_new).
template <class F, class S, class X>
std::shared_ptr<rnnc_model> stream_model(const TreeFunction<F, detail::Transform::None>& step, const S& state,
                                         const X& input, int threads = 0, int batch = 0) {
  return detail::stream_model(detail::stream_export(step, state, input, batch), threads);
}

}  // namespace rnnc
