#include "rnnc/function.h"

#include "build.h"

namespace rnnc {

std::vector<Spec> Function::input_specs() const {
  std::vector<Spec> specs;
  for (const Var& in : inputs) specs.push_back(Spec{in.shape(), in.dtype(), in->name});
  return specs;
}

Function Function::retrace(const std::vector<Spec>& specs) const {
  if (!source) throw Error("rnnc: retrace: this function was not traced from C++ code, so it cannot be traced again");
  return trace_fn(source, specs);
}

Function trace_fn(TraceFn fn, const std::vector<Spec>& specs) {
  Function f;
  for (size_t i = 0; i < specs.size(); ++i) {
    std::string name = specs[i].name.empty() ? fmt::format("arg{}", i) : specs[i].name;
    f.inputs.push_back(input(specs[i].shape, specs[i].dtype, name));
  }
  f.outputs = fn(std::span<const Var>(f.inputs));
  for (size_t i = 0; i < f.outputs.size(); ++i)
    if (!f.outputs[i].defined()) throw Error(fmt::format("rnnc: trace: output {} is an undefined Var", i));
  f.source = std::move(fn);
  return f;
}

}  // namespace rnnc
