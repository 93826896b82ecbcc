// Open axes in an ONNX export (OnnxOptions::dynamic_axes). rnnc traces at fixed shapes, so an
// export is traced twice, at the example sizes and with each open axis longer; what differs between
// the two graphs is exactly what depends on those sizes. Dimensions of values that differ become
// symbolic; anything else that differs (a Reshape's target, a state of zeros made inside) is a size
// written into the graph, and the export is refused there. Each name grows by its own amount (3, 4,
// ...), so a dimension that grew by the same pair of sizes as an input's axis is that axis.
#include "onnx/dynamic_axes.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>

#include "rnnc/error.h"

namespace rnnc {

namespace {

int64_t growth(const DynamicAxes& axes, const std::string& name) {
  std::set<std::string> names;
  for (const auto& [input, by_axis] : axes)
    for (const auto& [axis, n] : by_axis) names.insert(n);
  return 3 + std::distance(names.begin(), names.find(name));
}

int64_t axis_in(int axis, std::size_t rank, const std::string& input, const Shape& shape) {
  const int64_t a = axis < 0 ? axis + static_cast<int64_t>(rank) : axis;
  if (a < 0 || a >= static_cast<int64_t>(rank))
    throw Error(fmt::format("rnnc: export_onnx: dynamic axis {} of '{}' is out of range for its shape {}", axis, input,
                            to_string(shape)));
  return a;
}

}  // namespace

void detail::check_dynamic_axes(const DynamicAxes& axes, const std::vector<std::string>& names, std::size_t params) {
  const auto inputs = std::vector<std::string>(names.begin() + static_cast<std::ptrdiff_t>(params), names.end());
  for (const auto& [input, by_axis] : axes) {
    if (std::find(inputs.begin(), inputs.end(), input) == inputs.end())
      throw Error(
          fmt::format("rnnc: export_onnx: dynamic_axes names '{}', which is not an input of the graph (its "
                      "inputs: {})",
                      input, fmt::join(inputs, ", ")));
    for (const auto& [axis, name] : by_axis)
      if (name.empty()) throw Error(fmt::format("rnnc: export_onnx: dynamic axis {} of '{}' has no name", axis, input));
  }
}

Tensor detail::widened(const Tensor& t, const std::string& path, const DynamicAxes& axes) {
  const auto it = axes.find(path);
  if (it == axes.end()) return t;
  Shape s = t.shape();
  for (const auto& [axis, name] : it->second)
    s[static_cast<std::size_t>(axis_in(axis, s.size(), path, t.shape()))] += growth(axes, name);
  return Tensor::zeros(s, t.dtype());
}

namespace onnx_export {

namespace {

using Sizes = std::pair<int64_t, int64_t>;  // a dimension in the example's graph and the wider one's

// Makes the dimensions that differ between two value lists symbolic, in both.
struct Opener {
  std::map<Sizes, std::string> names;

  void value(onnx::ValueInfoProto& a, onnx::ValueInfoProto& b) {
    if (!a.type().has_tensor_type() || !b.type().has_tensor_type()) return;
    auto* sa = a.mutable_type()->mutable_tensor_type()->mutable_shape();
    auto* sb = b.mutable_type()->mutable_tensor_type()->mutable_shape();
    if (sa->dim_size() != sb->dim_size()) return;
    for (int k = 0; k < sa->dim_size(); ++k) {
      auto *da = sa->mutable_dim(k), *db = sb->mutable_dim(k);
      if (!da->has_dim_value() || !db->has_dim_value() || da->dim_value() == db->dim_value()) continue;
      auto [it, added] = names.try_emplace(Sizes{da->dim_value(), db->dim_value()});
      if (added) it->second = fmt::format("{}_dim{}", a.name(), k);
      da->set_dim_param(it->second);
      db->set_dim_param(it->second);
    }
  }
  template <class List> void values(List* a, List* b) {
    if (a->size() != b->size()) return;
    for (int i = 0; i < a->size(); ++i) value(*a->Mutable(i), *b->Mutable(i));
  }
  void graph(onnx::GraphProto& a, onnx::GraphProto& b) {
    values(a.mutable_input(), b.mutable_input());
    values(a.mutable_output(), b.mutable_output());
    values(a.mutable_value_info(), b.mutable_value_info());
    if (a.node_size() != b.node_size()) return;
    for (int i = 0; i < a.node_size(); ++i) {
      auto *na = a.mutable_node(i), *nb = b.mutable_node(i);
      if (na->attribute_size() != nb->attribute_size()) continue;
      for (int j = 0; j < na->attribute_size(); ++j) {
        auto *aa = na->mutable_attribute(j), *ab = nb->mutable_attribute(j);
        if (aa->has_g() && ab->has_g()) graph(*aa->mutable_g(), *ab->mutable_g());
        if (aa->graphs_size() == ab->graphs_size())
          for (int k = 0; k < aa->graphs_size(); ++k) graph(*aa->mutable_graphs(k), *ab->mutable_graphs(k));
      }
    }
  }
};

std::string describe(const onnx::NodeProto& n) {
  return fmt::format("{} node '{}'{}", n.op_type(), n.name(),
                     n.doc_string().empty() ? "" : " (" + n.doc_string() + ")");
}

// The first node of g (or of a body inside it) that reads `name`.
const onnx::NodeProto* reader(const onnx::GraphProto& g, const std::string& name) {
  for (const onnx::NodeProto& n : g.node()) {
    if (std::find(n.input().begin(), n.input().end(), name) != n.input().end()) return &n;
    for (const auto& a : n.attribute())
      if (a.has_g())
        if (const onnx::NodeProto* r = reader(a.g(), name)) return r;
  }
  return nullptr;
}

// Where two graphs that should be equal first differ, in words.
std::string first_difference(const onnx::GraphProto& a, const onnx::GraphProto& b) {
  for (int i = 0; i < std::min(a.initializer_size(), b.initializer_size()); ++i)
    if (a.initializer(i).SerializeAsString() != b.initializer(i).SerializeAsString()) {
      const onnx::NodeProto* r = reader(a, a.initializer(i).name());
      return r ? describe(*r) : fmt::format("the constant '{}'", a.initializer(i).name());
    }
  for (int i = 0; i < std::min(a.node_size(), b.node_size()); ++i) {
    const onnx::NodeProto &na = a.node(i), &nb = b.node(i);
    if (na.SerializeAsString() == nb.SerializeAsString()) continue;
    for (int j = 0; j < std::min(na.attribute_size(), nb.attribute_size()); ++j)
      if (na.attribute(j).has_g() && nb.attribute(j).has_g() &&
          na.attribute(j).g().SerializeAsString() != nb.attribute(j).g().SerializeAsString())
        return fmt::format("{}, in the body of {}", first_difference(na.attribute(j).g(), nb.attribute(j).g()),
                           describe(na));
    return describe(na);
  }
  return fmt::format("the graph '{}' ({} and {} nodes)", a.name(), a.node_size(), b.node_size());
}

}  // namespace

void open_axes(onnx::ModelProto& m, onnx::ModelProto& wider, const DynamicAxes& axes) {
  Opener open;
  std::map<std::string, std::string> seen;  // each name's first use, for the error below
  for (int i = 0; i < m.graph().input_size(); ++i) {
    const auto it = axes.find(m.graph().input(i).name());
    if (it == axes.end()) continue;
    const auto& da = m.graph().input(i).type().tensor_type().shape();
    const auto& db = wider.graph().input(i).type().tensor_type().shape();
    Shape shape;
    for (const auto& d : da.dim()) shape.push_back(d.dim_value());
    for (const auto& [axis, name] : it->second) {
      const int64_t k = axis_in(axis, shape.size(), it->first, shape);
      const Sizes sizes{da.dim(static_cast<int>(k)).dim_value(), db.dim(static_cast<int>(k)).dim_value()};
      const std::string here = fmt::format("'{}' axis {} ({})", it->first, k, sizes.first);
      for (const auto& [other, name_of] : open.names)
        if (name_of == name && other != sizes)
          throw Error(
              fmt::format("rnnc: export_onnx: the dynamic axis '{}' has two sizes: {} and {}", name, seen[name], here));
      open.names[sizes] = name;
      seen.try_emplace(name, here);
    }
  }
  open.graph(*m.mutable_graph(), *wider.mutable_graph());
  if (m.SerializeAsString() == wider.SerializeAsString()) return;
  std::set<std::string> names;
  for (const auto& [input, by_axis] : axes)
    for (const auto& [axis, name] : by_axis) names.insert(name);
  throw Error(fmt::format(
      "rnnc: export_onnx: the dynamic axes ({}) cannot stay open: {} holds a size that changes with them (rnnc "
      "traces fixed shapes, and this one is written into the graph); export with that axis fixed, or compute "
      "the step without it",
      fmt::join(names, ", "), first_difference(m.graph(), wider.graph())));
}

}  // namespace onnx_export
}  // namespace rnnc
