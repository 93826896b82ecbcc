// Functions: graphs with named inputs and a list of outputs, traced from ordinary C++ code.
//
//   Function f = trace([](Var x, Var w) { return sum(tanh(matmul(x, w))); },
//                      {Spec{{3, 4}}, Spec{{4, 5}}});
//
// Tracing calls the C++ function once with symbolic inputs; whatever it computes becomes the
// graph. A Function remembers how it was traced, so it can be traced again for other dtypes
// (gradcheck retraces in float64).
#pragma once
#include <functional>
#include <span>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "rnnc/error.h"
#include "rnnc/graph.h"
#include "rnnc/ops.h"

namespace rnnc {

using TraceFn = std::function<std::vector<Var>(std::span<const Var>)>;

struct Function {
  std::vector<Var> inputs;  // Input nodes, in call order
  std::vector<Var> outputs;
  TraceFn source;  // how it was traced (empty for hand-assembled functions)

  std::vector<Spec> input_specs() const;
  // Traces `source` again with the given input specs.
  Function retrace(const std::vector<Spec>& specs) const;
};

// Core tracer: calls fn with one Input Var per spec.
Function trace_fn(TraceFn fn, const std::vector<Spec>& specs);

namespace detail {
inline void collect(std::vector<Var>& out, const Var& v) { out.push_back(v); }
inline void collect(std::vector<Var>& out, const std::vector<Var>& vs) { out.insert(out.end(), vs.begin(), vs.end()); }
template <class... Ts> void collect(std::vector<Var>& out, const std::tuple<Ts...>& t) {
  std::apply([&](const auto&... v) { (collect(out, v), ...); }, t);
}
template <class A, class B> void collect(std::vector<Var>& out, const std::pair<A, B>& p) {
  collect(out, p.first);
  collect(out, p.second);
}

template <class F, std::size_t... I>
std::vector<Var> call_unpacked(F& fn, std::span<const Var> in, std::index_sequence<I...>) {
  std::vector<Var> out;
  collect(out, fn(in[I]...));
  return out;
}

// Arity of a non-generic lambda, function object or function pointer.
template <class T> struct arity : arity<decltype(&T::operator())> {};
template <class R, class... A> struct arity<R (*)(A...)> : std::integral_constant<std::size_t, sizeof...(A)> {};
template <class R, class... A> struct arity<R(A...)> : std::integral_constant<std::size_t, sizeof...(A)> {};
template <class C, class R, class... A> struct arity<R (C::*)(A...) const>
    : std::integral_constant<std::size_t, sizeof...(A)> {};
template <class C, class R, class... A> struct arity<R (C::*)(A...)>
    : std::integral_constant<std::size_t, sizeof...(A)> {};
}  // namespace detail

// Wraps a C++ function over Vars (fixed arity, or taking std::span<const Var>) as a TraceFn.
// It may return a Var, a std::vector<Var>, or a tuple/pair of them.
template <class F> TraceFn to_trace_fn(F fn) {
  if constexpr (std::is_invocable_v<F&, std::span<const Var>>) {
    return [fn](std::span<const Var> in) mutable {
      std::vector<Var> out;
      detail::collect(out, fn(in));
      return out;
    };
  } else {
    constexpr std::size_t N = detail::arity<std::decay_t<F>>::value;
    return [fn](std::span<const Var> in) mutable {
      if (in.size() != N)
        throw Error("rnnc: trace: the function takes " + std::to_string(N) + " inputs, " + std::to_string(in.size()) +
                    " were given");
      return detail::call_unpacked(fn, in, std::make_index_sequence<N>{});
    };
  }
}

template <class F> Function trace(F fn, const std::vector<Spec>& specs) {
  return trace_fn(to_trace_fn(std::move(fn)), specs);
}

}  // namespace rnnc
