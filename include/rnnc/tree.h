// Trees: a model, a state or a batch as a struct of named leaves (Equinox modules, JAX pytrees).
//
//   struct MGU {
//     Param Wf, Wh, Uh, bf, bh;
//     RNNC_TREE(Wf, Wh, Uh, bf, bh)       // the leaves and sub-trees, by name
//   };
//   struct Model { MGU cell; std::vector<nn::Linear> heads; RNNC_TREE(cell, heads) };
//
// A leaf holds a Tensor on the host and a Var inside a traced function, so one struct serves as
// the model's parameters, as its gradients and as what the traced code computes with. A tree may
// nest trees, std::vector and std::array of trees, std::map<std::string, tree> (keys in order, as paths),
// std::optional, std::pair and std::tuple; fields not listed in
// RNNC_TREE (sizes, flags) are configuration, copied along and never traced. Every leaf has a path
// in PyTorch's state_dict style, "heads.1.weight", which names traced inputs, checkpoint tensors,
// optimizer state and errors.
#pragma once
#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "rnnc/error.h"
#include "rnnc/ops.h"
#include "rnnc/tensor.h"

namespace rnnc {

// One leaf: a Tensor (host side) or a Var (inside a traced function).
class Leaf {
 public:
  Leaf() = default;
  Leaf(Tensor t) : tensor_(std::move(t)) {}
  Leaf(Var v) : var_(std::move(v)) {}

  bool defined() const { return tensor_.defined() || var_.defined(); }
  bool is_tensor() const { return tensor_.defined(); }
  bool is_var() const { return var_.defined(); }

  // The host tensor; an Error when the leaf holds a Var or nothing.
  const Tensor& tensor() const;
  Tensor& tensor();
  // The symbolic value. A leaf holding a host tensor becomes a constant of the graph (as a JAX
  // array captured by a traced function does); an empty leaf is an Error.
  Var var(Loc loc = Loc::current()) const;
  operator Var() const { return var(); }

  const Shape& shape() const;
  DType dtype() const;
  int rank() const { return static_cast<int>(shape().size()); }
  int64_t numel() const { return rnnc::numel(shape()); }

 private:
  Tensor tensor_;
  Var var_;
};

// A model's parameter: the same type, named for what it holds.
using Param = Leaf;

// Lists the leaves and sub-trees of a struct, inside its definition: RNNC_TREE(Wf, Wh, bf).
#define RNNC_TREE(...)                                                                           \
  template <class RnncF> void rnnc_fields(RnncF&& rnnc_f) { rnnc_f(#__VA_ARGS__, __VA_ARGS__); } \
  template <class RnncF> void rnnc_fields(RnncF&& rnnc_f) const { rnnc_f(#__VA_ARGS__, __VA_ARGS__); }

namespace tree {

namespace detail {
template <class T> struct is_vector : std::false_type {};
template <class T, class A> struct is_vector<std::vector<T, A>> : std::true_type {};
template <class T> struct is_array : std::false_type {};
template <class T, std::size_t N> struct is_array<std::array<T, N>> : std::true_type {};
template <class T> struct is_map : std::false_type {};
template <class T, class C, class A> struct is_map<std::map<std::string, T, C, A>> : std::true_type {};
template <class T> struct is_optional : std::false_type {};
template <class T> struct is_optional<std::optional<T>> : std::true_type {};
template <class T> struct is_tuple : std::false_type {};
template <class... T> struct is_tuple<std::tuple<T...>> : std::true_type {};
template <class A, class B> struct is_tuple<std::pair<A, B>> : std::true_type {};
template <class T> inline constexpr bool always_false = false;

// "a, b,c" -> {"a", "b", "c"} (RNNC_TREE's field list as written).
std::vector<std::string> split_names(const char* names);
inline std::string join(const std::string& prefix, const std::string& name) {
  return prefix.empty() ? name : prefix + "." + name;
}
}  // namespace detail

template <class T> inline constexpr bool is_leaf_v =
    std::is_same_v<T, Leaf> || std::is_same_v<T, Var> || std::is_same_v<T, Tensor>;
template <class T>
concept Named = requires(T& t) {
  t.rnnc_fields([](const char*, auto&...) {});
};

// Calls f(path, leaf) for every leaf of t, depth first in declaration order; `leaf` is a Leaf, Var
// or Tensor (const when t is). With Paths = false no path is built (the per-call fast path) and f
// gets an empty string.
template <bool Paths = true, class T, class F> void for_each(T& t, F&& f, const std::string& path = "") {
  using U = std::remove_const_t<T>;
  if constexpr (is_leaf_v<U>) {
    f(path, t);
  } else if constexpr (detail::is_vector<U>::value || detail::is_array<U>::value) {
    for (std::size_t i = 0; i < t.size(); ++i)
      for_each<Paths>(t[i], f, Paths ? detail::join(path, std::to_string(i)) : std::string());
  } else if constexpr (detail::is_map<U>::value) {
    for (auto& [key, value] : t) for_each<Paths>(value, f, Paths ? detail::join(path, key) : std::string());
  } else if constexpr (detail::is_optional<U>::value) {
    if (t) for_each<Paths>(*t, f, path);  // absent: no leaves
  } else if constexpr (detail::is_tuple<U>::value) {
    std::size_t i = 0;
    std::apply(
        [&](auto&... e) {
          ((for_each<Paths>(e, f, Paths ? detail::join(path, std::to_string(i++)) : std::string())), ...);
        },
        t);
  } else if constexpr (Named<U>) {
    t.rnnc_fields([&](const char* names, auto&... fields) {
      static const std::vector<std::string> ns = detail::split_names(names);  // once per type
      std::size_t i = 0;
      ((for_each<Paths>(fields, f, Paths ? detail::join(path, ns[i++]) : std::string())), ...);
    });
  } else {
    static_assert(detail::always_false<U>, "rnnc: not a tree: list the struct's leaves with RNNC_TREE(...)");
  }
}

// The leaves' paths, in order.
template <class T> std::vector<std::string> paths(const T& t, const std::string& prefix = "") {
  std::vector<std::string> out;
  for_each(
      t, [&](const std::string& p, const auto&) { out.push_back(p); }, prefix);
  return out;
}
template <class T> std::size_t size(const T& t) {
  std::size_t n = 0;
  for_each<false>(t, [&](const std::string&, const auto&) { ++n; });
  return n;
}

// A leaf as a host tensor / a Var, with its path in the error when it holds the other kind.
const Tensor& tensor_of(const Leaf& l, const std::string& path);
const Tensor& tensor_of(const Tensor& t, const std::string& path);
Tensor tensor_of(const Var& v, const std::string& path);  // always an Error
Var var_of(const Leaf& l, const std::string& path);
inline Var var_of(const Var& v, const std::string&) { return v; }
Var var_of(const Tensor& t, const std::string& path);  // a constant

// The leaves as host tensors (an Error names the first leaf that holds none).
template <class T> std::vector<Tensor> tensors(const T& t) {
  std::vector<Tensor> out;
  bool ok = true;
  for_each<false>(t, [&](const std::string&, const auto& l) {
    using L = std::decay_t<decltype(l)>;
    if constexpr (std::is_same_v<L, Tensor>)
      ok &= l.defined(), out.push_back(l);
    else if constexpr (std::is_same_v<L, Leaf>)
      ok &= l.is_tensor(), out.push_back(l.is_tensor() ? l.tensor() : Tensor());
    else
      ok = false, out.push_back(Tensor());
  });
  if (!ok) for_each(t, [&](const std::string& p, const auto& l) { (void)tensor_of(l, p); });  // throws, naming it
  return out;
}
// The leaves as Vars (host tensors become constants).
template <class T> std::vector<Var> vars(const T& t) {
  std::vector<Var> out;
  for_each(t, [&](const std::string& p, const auto& l) { out.push_back(var_of(l, p)); });
  return out;
}

// Sets t's leaves to `values` in order (Tensors or Vars; the count must match), moving them in.
template <class T, class V> void assign(T& t, std::vector<V> values) {
  std::size_t i = 0;
  for_each<false>(t, [&](const std::string&, auto& l) {
    using L = std::decay_t<decltype(l)>;
    if (i >= values.size()) throw Error("rnnc: tree: more leaves than values (" + std::to_string(values.size()) + ")");
    if constexpr (std::is_same_v<L, Leaf> || std::is_same_v<L, V>)
      l = std::move(values[i++]);
    else
      throw Error("rnnc: tree: a leaf of this type cannot hold the value");
  });
  if (i != values.size())
    throw Error("rnnc: tree: " + std::to_string(i) + " leaves for " + std::to_string(values.size()) + " values");
}
// A copy of t whose leaves are `values`.
template <class T, class V> T replace(const T& t, std::vector<V> values) {
  T out = t;
  assign(out, std::move(values));
  return out;
}

// Host trees of zeros, and a copy that shares no storage.
template <class T> T zeros_like(const T& t) {
  std::vector<Tensor> z;
  for (const Tensor& x : tensors(t)) z.push_back(Tensor::zeros(x.shape(), x.dtype()));
  return replace(t, z);
}
template <class T> T clone(const T& t) {
  std::vector<Tensor> c;
  for (const Tensor& x : tensors(t)) c.push_back(x.clone());
  return replace(t, c);
}

}  // namespace tree
}  // namespace rnnc
