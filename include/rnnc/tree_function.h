// Functions over trees: compile, value_and_grad and grad take a C++ function of trees (tree.h)
// and give one that takes and returns trees, as jax.jit / jax.value_and_grad and Equinox's
// filter_jit do.
//
//   auto loss = [](const Model& m, const nn::LSTMState& s, const Batch& b) {
//     auto [logits, next] = m(b.x, s);
//     return std::pair{mean(softmax_cross_entropy(logits, b.y)), next};   // (loss, aux)
//   };
//   auto step = compile(value_and_grad(loss));
//   auto [l, next, grads] = step(model, state, batch);   // grads is a Model
//
// The function is traced at the first call with each shape signature and compiled once for it;
// later calls only flatten the trees and run. Traced inputs are named by leaf path: the first
// argument's leaves by their own path ("cell.Wf"), the others with a prefix — with three
// arguments "state." and "batch.", with two "batch.", beyond that "arg2." and so on.
// value_and_grad and grad differentiate every floating leaf of the first argument; what should not
// be differentiated goes in another argument (as Flax keeps params apart from other collections).
// A loss that does not depend on some leaf of the first argument is an error naming it (it usually
// means the function used a captured tree instead of its argument).
//
// The trees' structure (paths and dtypes) is fixed by the first call: a later call whose trees
// hold other leaves, or leaves of another dtype, or a first argument of other shapes, is an error
// naming the leaf. Other shapes (a batch of another size) trace and compile once more.
//
// Randomness (dropout) comes from an Rng argument (Flax's rngs): inside the function,
// rng.uniform(shape) is a fresh tensor of U[0, 1) numbers at every call, drawn on the host from
// (seed, call number), so a step is a pure, reproducible function of its inputs and seed.
#pragma once
#include <cstdint>
#include <functional>
#include <iterator>
#include <memory>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "rnnc/compile.h"
#include "rnnc/gradcheck.h"
#include "rnnc/tree.h"

namespace rnnc {

// A random stream for compiled functions. Passed as an argument; each call of a compiled function
// that takes it uses the next draw (draws() counts them), so training with dropout is
// reproducible from the seed and resumable from (seed, draws).
namespace detail {
enum class Transform { None, Grad, ValueAndGrad };
}

class Rng {
 public:
  explicit Rng(uint64_t seed = 0) : seed_(seed) {}
  // Keras' training=False: an Rng that draws nothing, so that dropout is the identity. One loss
  // serves training (given an Rng) and evaluation (given this one); a function traced with it is
  // another program than the same function traced with a drawing Rng.
  static Rng evaluation() {
    Rng r;
    r.training_ = false;
    return r;
  }
  bool training() const { return training_; }
  uint64_t seed() const { return seed_; }
  uint64_t draws() const { return draws_; }
  void set_draws(uint64_t n) { draws_ = n; }

  // Inside a traced function: independent U[0, 1) numbers, new at every call.
  Var uniform(const Shape& shape, DType dtype = DType::f32, Loc loc = Loc::current());

  // Data-parallel training (nn::fit under mpirun): this process holds rows [rank n, (rank + 1) n)
  // of the whole batch along `axis` of every random tensor (1: rnnc's time-major [T, B, ...]), and
  // draws exactly the numbers one process training the whole batch would draw for them (a random
  // tensor whose rank is at most `axis` is drawn whole). Dropout masks follow the global stream.
  void shard(int axis, int64_t rank, int64_t ranks) {
    shard_axis_ = axis;
    shard_rank_ = rank;
    shard_ranks_ = ranks;
  }

  // The values of request k at draw n (what a compiled call fills in; also for tests): element i
  // is a hash of (seed, n, k, i), so any part of a tensor can be drawn alone.
  static Tensor values(uint64_t seed, uint64_t draw, std::size_t k, const Shape& shape, DType dtype);
  // This Rng's values for request k at its current draw, its shard's part.
  Tensor values(std::size_t k, const Shape& shape, DType dtype) const;

 private:
  uint64_t seed_ = 0, draws_ = 0;
  bool training_ = true;
  int shard_axis_ = -1;
  int64_t shard_rank_ = 0, shard_ranks_ = 1;
  std::vector<Var>* recorder_ = nullptr;  // set while tracing
  template <class F, detail::Transform T> friend class TreeFunction;
};

// What value_and_grad's compiled form returns: the loss, the function's other output (when it
// returned a pair), and gradients shaped like the first argument.
template <class P> struct ValueGrads {
  Tensor value;
  P grads;
};
template <class Aux, class P> struct ValueAuxGrads {
  Tensor value;
  Aux aux;
  P grads;
};

// What a caller of a gradient function can hear while the call runs (on the calling thread), to
// start work on gradients that are done while the backward pass goes on (dist.h's overlapped
// averaging). gradient_ready(i, g): the gradient of the differentiated tree's leaf i (tree order)
// is final, once per floating-point leaf, in the order the compiled schedule finishes them (all at
// the end when interpreted). between_steps: between any two compiled steps; keep it cheap.
struct CallHooks {
  std::function<void(int leaf, const Tensor& grad)> gradient_ready;
  std::function<void()> between_steps;
};

namespace detail {
template <class F, Transform T> struct Transformed { F fn; };

// What tracing produced: the inputs (leaves in argument order, named by path, then the Rng's
// requests) and the outputs flattened (for a gradient, the loss first).
struct TracedCall {
  std::vector<Var> inputs, random, outputs;
  int params = 0;  // leaves of the first argument
};

// One compiled (or interpreted) program per shape signature, and the checks that name a leaf.
class Programs {
 public:
  Programs(Transform t, CompileOptions options, bool interpret)
      : transform_(t), options_(options), interpret_(interpret) {}
  // The index of the program for these leaves, -1 when they need a new trace, -2 when the trees'
  // structure changed since the first trace (explain() then throws the Error that names the leaf).
  // `training`: the mode of the call's Rng (Rng::evaluation() traces another program).
  int find(const std::vector<Tensor>& leaves, bool training = true) const;
  [[noreturn]] void explain(const std::vector<Tensor>& leaves, const std::vector<std::string>& paths) const;
  int add(TracedCall call, std::shared_ptr<const void> structure, const std::vector<Tensor>& leaves,
          bool training = true);
  std::vector<Tensor> run(int program, std::vector<Tensor> leaves, const Rng* rng, const CallHooks& hooks = {}) const;
  const void* structure(int program) const;
  const Function& function(int program) const;
  const Compiled& compiled(int program) const;
  int count() const;
  // Programs of the same transform and options, none traced yet.
  std::shared_ptr<Programs> fresh() const { return std::make_shared<Programs>(transform_, options_, interpret_); }

  struct Program;
  // The first argument's tree with empty leaves (typed by the front end): what gradients fill.
  std::shared_ptr<const void> skeleton;

 private:
  Transform transform_;
  CompileOptions options_;
  bool interpret_;
  std::vector<std::string> paths_;  // of the first trace
  std::vector<DType> dtypes_;
  std::vector<Shape> param_shapes_;
  std::vector<std::shared_ptr<Program>> programs_;
};

// A tree type with its leaf types changed by Rule, containers rebuilt around them.
template <template <class> class Rule, class T> struct rebind { using type = typename Rule<T>::type; };
template <template <class> class Rule, class T> struct rebind<Rule, std::vector<T>> {
  using type = std::vector<typename rebind<Rule, T>::type>;
};
template <template <class> class Rule, class T, std::size_t N> struct rebind<Rule, std::array<T, N>> {
  using type = std::array<typename rebind<Rule, T>::type, N>;
};
template <template <class> class Rule, class T> struct rebind<Rule, std::map<std::string, T>> {
  using type = std::map<std::string, typename rebind<Rule, T>::type>;
};
template <template <class> class Rule, class A, class B> struct rebind<Rule, std::pair<A, B>> {
  using type = std::pair<typename rebind<Rule, A>::type, typename rebind<Rule, B>::type>;
};
template <template <class> class Rule, class... T> struct rebind<Rule, std::tuple<T...>> {
  using type = std::tuple<typename rebind<Rule, T>::type...>;
};

// host_t: the type a traced output comes back as (Var -> Tensor; trees of Leafs stay).
template <class T> struct host_leaf { using type = T; };
template <> struct host_leaf<Var> { using type = Tensor; };
template <class T> using host_t = typename rebind<host_leaf, std::decay_t<T>>::type;

// traced_t: the type an argument is traced as (Tensor -> Var; trees of Leafs stay; Rng by reference).
template <class T> struct traced_leaf { using type = T; };
template <> struct traced_leaf<Tensor> { using type = Var; };
template <> struct traced_leaf<Rng> { using type = Rng&; };
template <class T> using traced_t = typename rebind<traced_leaf, std::decay_t<T>>::type;

template <class T> struct is_pair_like : std::false_type {};
template <class A, class B> struct is_pair_like<std::pair<A, B>> : std::true_type {};
template <class A, class B> struct is_pair_like<std::tuple<A, B>> : std::true_type {};

// Maps a tree leaf by leaf, rebuilding containers (so Var leaves may become Tensors and back).
template <class Out, class T, class F> Out map_tree(const T& t, F& leaf, const std::string& path) {
  using U = std::decay_t<T>;
  if constexpr (tree::is_leaf_v<U>) {
    return leaf(t, path);
  } else if constexpr (tree::detail::is_vector<U>::value) {
    Out out;
    out.reserve(t.size());
    for (std::size_t i = 0; i < t.size(); ++i)
      out.push_back(map_tree<typename Out::value_type>(t[i], leaf, tree::detail::join(path, std::to_string(i))));
    return out;
  } else if constexpr (tree::detail::is_array<U>::value) {
    Out out;
    for (std::size_t i = 0; i < t.size(); ++i)
      out[i] = map_tree<typename Out::value_type>(t[i], leaf, tree::detail::join(path, std::to_string(i)));
    return out;
  } else if constexpr (tree::detail::is_map<U>::value) {
    Out out;
    for (const auto& [key, value] : t)
      out.emplace(key, map_tree<typename Out::mapped_type>(value, leaf, tree::detail::join(path, key)));
    return out;
  } else if constexpr (tree::detail::is_tuple<U>::value) {
    return [&]<std::size_t... I>(std::index_sequence<I...>) {
      return Out{
          map_tree<std::tuple_element_t<I, Out>>(std::get<I>(t), leaf, tree::detail::join(path, std::to_string(I)))...};
    }
    (std::make_index_sequence<std::tuple_size_v<U>>{});
  } else {
    static_assert(std::is_same_v<Out, U>, "rnnc: a tree struct's leaves must be Leaf (Param) members");
    Out out = t;
    tree::for_each(
        out,
        [&](const std::string& p, auto& l) {
          using L = std::decay_t<decltype(l)>;
          if constexpr (std::is_same_v<L, Leaf>)
            l = Leaf(leaf(l, p));
          else
            static_assert(tree::detail::always_false<L>, "rnnc: a tree struct's leaves must be Leaf (Param) members");
        },
        path);
    return out;
  }
}

inline std::string arg_prefix(std::size_t k, std::size_t n) {
  if (k == 0) return "";
  if (n == 2) return "batch";
  if (n == 3) return k == 1 ? "state" : "batch";
  return "arg" + std::to_string(k);
}
}  // namespace detail

// A function over trees, traced and compiled per shape signature (see the top of this file).
template <class F, detail::Transform Kind> class TreeFunction {
 public:
  TreeFunction(F fn, CompileOptions options, bool interpret)
      : fn_(std::move(fn)), programs_(std::make_shared<detail::Programs>(Kind, options, interpret)) {}

  template <class... A> auto operator()(A&&... args) const { return call(CallHooks{}, std::forward<A>(args)...); }

  // The same call, telling `hooks` of each gradient as soon as it is final (see CallHooks).
  template <class... A> auto call(const CallHooks& hooks, A&&... args) const {
    using R = std::invoke_result_t<const F&, detail::traced_t<A>&...>;
    std::vector<Tensor> leaves;
    Rng* rng = nullptr;
    (flatten(args, leaves, rng), ...);
    const bool training = !rng || rng->training();
    int p = programs_->find(leaves, training);
    if (p == -2) programs_->explain(leaves, paths(args...));
    if (p < 0) p = trace<R>(leaves, training, args...);
    std::vector<Tensor> out = programs_->run(p, std::move(leaves), rng, hooks);
    if (rng && training) rng->set_draws(rng->draws() + 1);
    return result<R>(*static_cast<const R*>(programs_->structure(p)), std::move(out), args...);
  }

  // The graph traced for these arguments (before any transform), and its inputs as tensors.
  template <class... A> std::pair<Function, std::vector<Tensor>> function(A&&... args) const {
    using R = std::invoke_result_t<const F&, detail::traced_t<A>&...>;
    detail::TracedCall call = trace_call<R>(nullptr, args...);
    std::vector<Tensor> leaves;
    Rng* rng = nullptr;
    (flatten(args, leaves, rng), ...);
    for (std::size_t k = 0; k < call.random.size(); ++k)
      leaves.push_back(Rng::values(rng ? rng->seed() : 0, rng ? rng->draws() : 0, k, call.random[k].shape(),
                                   call.random[k].dtype()));
    Function f;
    f.inputs = call.inputs;
    f.inputs.insert(f.inputs.end(), call.random.begin(), call.random.end());
    f.outputs = call.outputs;
    return {f, leaves};
  }

  // The same function and options with nothing traced yet: for its first argument (whose shapes a
  // function keeps from its first trace) at other shapes.
  TreeFunction fresh() const {
    TreeFunction f = *this;
    f.programs_ = programs_->fresh();
    return f;
  }

  // Of the most recent shape signature.
  const Compiled& compiled() const { return programs_->compiled(programs_->count() - 1); }
  // Of these arguments' shapes (traced and compiled now, if not yet).
  template <class... A> const Compiled& compiled_for(A&&... args) const {
    std::vector<Tensor> leaves;
    Rng* rng = nullptr;
    (flatten(args, leaves, rng), ...);
    const bool training = !rng || rng->training();
    if (programs_->find(leaves, training) < 0) (void)(*this)(std::forward<A>(args)...);
    return programs_->compiled(programs_->find(leaves, training));
  }
  int signatures() const { return programs_->count(); }

 private:
  template <class A> static void flatten(A& a, std::vector<Tensor>& leaves, Rng*& rng) {
    if constexpr (std::is_same_v<std::decay_t<A>, Rng>) {
      if (rng) throw Error("rnnc: a compiled function takes at most one Rng");
      if constexpr (!std::is_const_v<std::remove_reference_t<A>>)
        rng = &a;
      else
        static_assert(!std::is_same_v<A, A>, "rnnc: pass the Rng as a mutable lvalue: each call advances it");
    } else {
      for (Tensor& t : tree::tensors(a)) leaves.push_back(std::move(t));
    }
  }

  template <class... A> static std::vector<std::string> paths(const A&... args) {
    std::vector<std::string> out;
    std::size_t k = 0;
    const std::size_t n = ((std::is_same_v<std::decay_t<A>, Rng> ? 0 : 1) + ...);
    auto one = [&](const auto& a) {
      if constexpr (!std::is_same_v<std::decay_t<decltype(a)>, Rng>) {
        for (std::string& p : tree::paths(a, detail::arg_prefix(k, n))) out.push_back(p.empty() ? "arg0" : p);
        ++k;
      }
    };
    (one(args), ...);
    return out;
  }

  template <class R, class... A>
  detail::TracedCall trace_call(std::shared_ptr<const void>* structure, A&... args) const {
    detail::TracedCall call;
    Rng tracing;
    tracing.recorder_ = &call.random;
    const std::size_t n = ((std::is_same_v<std::decay_t<A>, Rng> ? 0 : 1) + ...);
    std::size_t k = 0;
    auto make = [&](auto& a) -> decltype(auto) {
      using T = std::decay_t<decltype(a)>;
      if constexpr (std::is_same_v<T, Rng>) {
        tracing.seed_ = a.seed_;
        tracing.training_ = a.training_;
        return static_cast<Rng&>(tracing);
      } else {
        const std::string prefix = detail::arg_prefix(k, n);
        const bool first = k++ == 0;
        auto leaf = [&](const auto& l, const std::string& path) {
          const Tensor& t = tree::tensor_of(l, path);
          Var v = input(t.shape(), t.dtype(), path.empty() ? "arg0" : path);
          call.inputs.push_back(v);
          if (first) ++call.params;
          return v;
        };
        return detail::map_tree<detail::traced_t<T>>(a, leaf, prefix);
      }
    };
    std::tuple<detail::traced_t<A>...> traced{make(args)...};  // braces: in argument order
    R r = std::apply(fn_, traced);
    if constexpr (Kind == detail::Transform::None) {
      call.outputs = tree::vars(r);
    } else if constexpr (std::is_convertible_v<R, Var>) {
      call.outputs = {Var(r)};
    } else if constexpr (detail::is_pair_like<R>::value) {
      call.outputs = {Var(std::get<0>(r))};
      for (Var& v : tree::vars(std::get<1>(r))) call.outputs.push_back(v);
    } else {
      static_assert(detail::is_pair_like<R>::value,
                    "rnnc: value_and_grad: return the loss (a Var) or a pair (loss, aux)");
    }
    if (structure) *structure = std::make_shared<R>(std::move(r));
    return call;
  }

  template <class R, class... A> int trace(const std::vector<Tensor>& leaves, bool training, A&... args) const {
    std::shared_ptr<const void> structure;
    detail::TracedCall call = trace_call<R>(&structure, args...);
    return programs_->add(std::move(call), std::move(structure), leaves, training);
  }

  // The outputs as trees: the traced structure (or the first argument's, for gradients) with the
  // tensors moved in; no path is built and nothing is traced.
  template <class R, class P, class... A>
  auto result(const R& structure, std::vector<Tensor> out, const P& params, const A&...) const {
    std::size_t i = 0;
    auto next = [&](const auto&, const std::string&) { return std::move(out.at(i++)); };
    auto grads = [&] {
      using G = std::decay_t<P>;
      if (!programs_->skeleton)
        programs_->skeleton = std::make_shared<G>(tree::replace(params, std::vector<Tensor>(tree::size(params))));
      G g = *static_cast<const G*>(programs_->skeleton.get());
      tree::assign(g,
                   std::vector<Tensor>(std::make_move_iterator(out.begin() + i), std::make_move_iterator(out.end())));
      return g;
    };
    if constexpr (Kind == detail::Transform::None) {
      return detail::map_tree<detail::host_t<R>>(structure, next, "");
    } else if constexpr (Kind == detail::Transform::Grad) {
      return grads();
    } else if constexpr (detail::is_pair_like<R>::value) {
      using Aux = detail::host_t<std::tuple_element_t<1, R>>;
      Tensor value = std::move(out.at(i++));
      Aux aux = detail::map_tree<Aux>(std::get<1>(structure), next, "");
      return ValueAuxGrads<Aux, std::decay_t<P>>{std::move(value), std::move(aux), grads()};
    } else {
      Tensor value = std::move(out.at(i++));
      return ValueGrads<std::decay_t<P>>{std::move(value), grads()};
    }
  }

  F fn_;
  std::shared_ptr<detail::Programs> programs_;
};

template <class F>
concept TreeFn = !std::is_convertible_v<F, const Function&>;

// value_and_grad(fn): for compile() or interpret(). fn returns the loss, or a pair (loss, aux).
template <TreeFn F> auto value_and_grad(F fn) {
  return detail::Transformed<F, detail::Transform::ValueAndGrad>{std::move(fn)};
}
// grad(fn): the gradients only, shaped like the first argument (fn returns the loss).
template <TreeFn F> auto grad(F fn) { return detail::Transformed<F, detail::Transform::Grad>{std::move(fn)}; }

// The compiled function over trees (see the top of this file); fn itself, or value_and_grad(fn).
template <class F, detail::Transform T>
TreeFunction<F, T> compile(detail::Transformed<F, T> t, const CompileOptions& options = {}) {
  return TreeFunction<F, T>(std::move(t.fn), options, false);
}
template <TreeFn F> TreeFunction<F, detail::Transform::None> compile(F fn, const CompileOptions& options = {}) {
  return TreeFunction<F, detail::Transform::None>(std::move(fn), options, false);
}
// The same run by the reference interpreter (for tests: compiled == interpreted).
template <class F, detail::Transform T> TreeFunction<F, T> interpret(detail::Transformed<F, T> t) {
  return TreeFunction<F, T>(std::move(t.fn), {}, true);
}
template <TreeFn F> TreeFunction<F, detail::Transform::None> interpret(F fn) {
  return TreeFunction<F, detail::Transform::None>(std::move(fn), {}, true);
}

}  // namespace rnnc
