// The reference interpreter: one node at a time, plain loops, Eigen for matmul. Obviously right
// rather than fast; reductions accumulate in double so that it is a good oracle for float32 code.
#include "rnnc/interpreter.h"

#include <fmt/format.h>

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <map>
#include <unordered_map>

#include "rnnc/error.h"
#include "ir/math.h"

namespace rnnc {

// The value of n given its inputs' values, and every output of a loop (carries, then stacked ys)
// given its bindings, one step at a time.
Tensor eval_node(const Node& n, const std::vector<Tensor>& in);
std::vector<Tensor> run_loop(const Loop& loop, const std::vector<Tensor>& in);

namespace {

template <class F> decltype(auto) dispatch(DType t, F&& f) {
  switch (t) {
    case DType::f32: return f(float{});
    case DType::f64: return f(double{});
    case DType::i32: return f(int32_t{});
    case DType::bf16: break;  // a storage type: only cast, matmul and views (movement) take it
    case DType::i8: break;    // the run time's quantized weights only
  }
  throw Error(fmt::format("rnnc: interpreter: no arithmetic in {}", name_of(t)));
}
// The element types data is moved in: the arithmetic ones and bf16.
template <class F> decltype(auto) dispatch_moved(DType t, F&& f) {
  if (t == DType::bf16) return f(bf16{});
  return dispatch(t, std::forward<F>(f));
}

template <class T> bool isnan_(T v) {
  if constexpr (std::is_floating_point_v<T>)
    return std::isnan(v);
  else
    return false;
}

// Numbers of type T as math.h's number system: what the machine does for one element.
// Integers wrap around (two's complement), as the compiled kernels' LLVM add, sub and mul do;
// in C++ a signed overflow is undefined, so they are computed unsigned (found by the graph fuzzer).
template <class T> struct ScalarMath {
  template <class F> static T wrap(T a, T b, F f) {
    if constexpr (std::is_integral_v<T>) {
      using U = std::make_unsigned_t<T>;
      return static_cast<T>(f(static_cast<U>(a), static_cast<U>(b)));
    } else {
      return f(a, b);
    }
  }
  T c(double k, T) const { return static_cast<T>(k); }
  T neg(T x) const {
    if constexpr (std::is_integral_v<T>)
      return wrap(T(0), x, std::minus<>());
    else
      return -x;  // -0.0 for 0.0, which 0 - x is not
  }
  T abs(T x) const { return x < T(0) ? neg(x) : x; }
  T add(T a, T b) const { return wrap(a, b, std::plus<>()); }
  T sub(T a, T b) const { return wrap(a, b, std::minus<>()); }
  T mul(T a, T b) const { return wrap(a, b, std::multiplies<>()); }
  T div(T a, T b) const { return a / b; }
  T pow(T a, T b) const { return static_cast<T>(std::pow(a, b)); }
  T exp(T x) const { return static_cast<T>(std::exp(x)); }
  T log(T x) const { return static_cast<T>(std::log(x)); }
  T tanh(T x) const { return static_cast<T>(std::tanh(x)); }
  T sigmoid(T x) const { return static_cast<T>(T(1) / (T(1) + std::exp(-x))); }
  T sqrt(T x) const { return static_cast<T>(std::sqrt(x)); }
  bool lt(T a, T b) const { return a < b; }
  bool le(T a, T b) const { return a <= b; }
  bool gt(T a, T b) const { return a > b; }
  bool ge(T a, T b) const { return a >= b; }
  bool eq(T a, T b) const { return a == b; }
  bool ne(T a, T b) const { return a != b; }
  bool isnan(T x) const { return isnan_(x); }
  T select(bool c, T a, T b) const { return c ? a : b; }
  T mask(bool c, T) const { return T(c); }
};

// Copies `shape`-many elements: dst[dst_base + sum i_k dst_strides_k] = src[src_base + sum i_k src_strides_k].
// Broadcast, transpose, slice, pad and concat are all this loop with different strides.
template <class T> void copy_strided(const T* src, int64_t src_base, const std::vector<int64_t>& src_strides, T* dst,
                                     int64_t dst_base, const std::vector<int64_t>& dst_strides, const Shape& shape) {
  const int64_t n = numel(shape);
  const size_t r = shape.size();
  std::vector<int64_t> idx(r, 0);
  int64_t s = src_base, d = dst_base;
  for (int64_t count = 0; count < n; ++count) {
    dst[d] = src[s];
    for (size_t k = r; k-- > 0;) {  // odometer step
      if (++idx[k] < shape[k]) {
        s += src_strides[k];
        d += dst_strides[k];
        break;
      }
      s -= src_strides[k] * (shape[k] - 1);
      d -= dst_strides[k] * (shape[k] - 1);
      idx[k] = 0;
    }
  }
}

Tensor movement(const Node& n, const std::vector<Tensor>& in) {
  Tensor out(n.dtype, n.shape);
  const Shape& is = n.inputs[0]->shape;
  const std::vector<int64_t> in_st = strides_of(is), out_st = strides_of(n.shape);
  dispatch_moved(n.dtype, [&]<class T>(T) {
    const T* src = in[0].data<T>();
    T* dst = out.data<T>();
    switch (n.op) {
      case Op::BroadcastTo: {
        std::vector<int64_t> st(n.shape.size(), 0);  // stride 0 along broadcast axes
        const size_t lead = n.shape.size() - is.size();
        for (size_t k = 0; k < is.size(); ++k) st[lead + k] = is[k] == 1 ? 0 : in_st[k];
        copy_strided(src, 0, st, dst, 0, out_st, n.shape);
        break;
      }
      case Op::Transpose: {
        std::vector<int64_t> st(n.shape.size());
        for (size_t k = 0; k < st.size(); ++k) st[k] = in_st[n.ints[k]];
        copy_strided(src, 0, st, dst, 0, out_st, n.shape);
        break;
      }
      case Op::Slice: {
        int64_t base = 0;
        for (size_t k = 0; k < is.size(); ++k) base += n.ints[k] * in_st[k];
        copy_strided(src, base, in_st, dst, 0, out_st, n.shape);
        break;
      }
      case Op::Pad: {
        int64_t base = 0;
        for (size_t k = 0; k < is.size(); ++k) base += n.ints[k] * out_st[k];
        copy_strided(src, 0, in_st, dst, base, out_st, is);
        break;
      }
      case Op::Concat: {
        const int64_t axis = n.ints[0];
        int64_t at = 0;
        for (size_t i = 0; i < in.size(); ++i) {
          const Shape& s = n.inputs[i]->shape;
          copy_strided(in[i].data<T>(), 0, strides_of(s), dst, at * out_st[axis], out_st, s);
          at += s[axis];
        }
        break;
      }
      default: throw Error(fmt::format("rnnc: interpreter: {} is not a movement op", name_of(n.op)));
    }
  });
  return out;
}

// Sum or max over n.ints (kept as extent 1).
Tensor reduce(const Node& n, const Tensor& x) {
  Tensor out(n.dtype, n.shape);
  const Shape& is = x.shape();
  const std::vector<int64_t> out_st = strides_of(n.shape);
  std::vector<int64_t> map(is.size());  // stride into the output along each input axis
  for (size_t k = 0; k < is.size(); ++k) map[k] = n.shape[k] == 1 ? 0 : out_st[k];
  dispatch(n.dtype, [&]<class T>(T) {
    const bool is_max = n.op == Op::Max;
    std::vector<double> acc(out.numel(), is_max ? -std::numeric_limits<double>::infinity() : 0.0);
    const T* src = x.data<T>();
    std::vector<int64_t> idx(is.size(), 0);
    int64_t o = 0;
    for (int64_t i = 0; i < x.numel(); ++i) {
      double v = static_cast<double>(src[i]);
      if (!is_max)
        acc[o] += v;
      else if (std::isnan(v) || std::isnan(acc[o]))
        acc[o] = std::numeric_limits<double>::quiet_NaN();
      else
        acc[o] = std::max(acc[o], v);
      for (size_t k = is.size(); k-- > 0;) {
        if (++idx[k] < is[k]) {
          o += map[k];
          break;
        }
        o -= map[k] * (is[k] - 1);
        idx[k] = 0;
      }
    }
    for (int64_t i = 0; i < out.numel(); ++i) out.data<T>()[i] = static_cast<T>(acc[i]);
  });
  return out;
}

Tensor matmul(const Node& n, const Tensor& a, const Tensor& b) {
  // bf16 operands: their exact float32 values, summed in float32 (as oneDNN's bf16 GEMM does).
  if (a.dtype() == DType::bf16) return matmul(n, a.to(DType::f32), b.to(DType::f32));
  Tensor out(n.dtype, n.shape);
  const int r = n.rank();
  const int64_t m = n.shape[r - 2], nn = n.shape[r - 1], k = a.shape()[r - 1];
  const int64_t batch = numel(Shape(n.shape.begin(), n.shape.end() - 2));
  dispatch(n.dtype, [&]<class T>(T) {
    if constexpr (std::is_floating_point_v<T>) {
      using M = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
      for (int64_t i = 0; i < batch; ++i) {
        Eigen::Map<const M> A(a.data<T>() + i * m * k, m, k), B(b.data<T>() + i * k * nn, k, nn);
        Eigen::Map<M> C(out.data<T>() + i * m * nn, m, nn);
        C.noalias() = A * B;
      }
    } else {
      throw Error("rnnc: interpreter: matmul needs floating-point operands");
    }
  });
  return out;
}

int32_t checked_index(const Node& n, int32_t v, int64_t limit) {
  if (v < 0 || v >= limit)
    throw Error(
        fmt::format("rnnc: {}: index {} is out of range [0, {}) (at {})", name_of(n.op), v, limit, where(n.loc)));
  return v;
}

}  // namespace

std::vector<Tensor> run_loop(const Loop& L, const std::vector<Tensor>& in) {
  std::vector<Tensor> carries(in.begin(), in.begin() + L.carries);
  std::vector<Tensor> ys;
  for (int j = 0; j < L.ys(); ++j) {
    Shape s = L.outputs[L.carries + j].shape();
    s.insert(s.begin(), L.length);
    ys.push_back(Tensor::empty(s, L.outputs[L.carries + j].dtype()));
  }
  std::vector<Tensor> args(L.inputs.size());
  for (size_t i = L.carries + L.xs; i < L.inputs.size(); ++i) args[i] = in[i];
  for (int64_t step = 0; step < L.length; ++step) {
    const int64_t t = L.reverse ? L.length - 1 - step : step;
    for (int i = 0; i < L.carries; ++i) args[i] = carries[i];
    for (int j = 0; j < L.xs; ++j) {
      const Tensor& x = in[L.carries + j];
      const int64_t bytes = x.nbytes() / L.length;
      args[L.carries + j] = Tensor::wrap(static_cast<std::byte*>(const_cast<void*>(x.raw())) + t * bytes,
                                         L.inputs[L.carries + j].shape(), x.dtype());
    }
    std::vector<Tensor> out = evaluate(L.outputs, L.inputs, args);
    for (int i = 0; i < L.carries; ++i) carries[i] = out[i].clone();  // out may alias an input slice
    for (int j = 0; j < L.ys(); ++j) {
      const Tensor& y = out[L.carries + j];
      std::memcpy(static_cast<std::byte*>(ys[j].raw()) + t * y.nbytes(), y.raw(), y.nbytes());
    }
  }
  carries.insert(carries.end(), ys.begin(), ys.end());
  return carries;
}

Tensor eval_node(const Node& n, const std::vector<Tensor>& in) {
  auto fresh = [&] { return Tensor(n.dtype, n.shape); };  // zero-filled
  switch (n.op) {
    case Op::Scan: return run_loop(*n.loop, in)[n.ints[0]];
    case Op::Input: throw Error("rnnc: interpreter: unbound input");
    case Op::Full: return Tensor::full(n.shape, n.scalar, n.dtype);
    case Op::Literal: return *n.literal;
    case Op::Reshape: return in[0].reshaped(n.shape);
    case Op::Cast: return in[0].to(n.dtype);
    case Op::MatMul: return matmul(n, in[0], in[1]);
    case Op::Sum:
    case Op::Max: return reduce(n, in[0]);
    case Op::BroadcastTo:
    case Op::Transpose:
    case Op::Slice:
    case Op::Pad:
    case Op::Concat: return movement(n, in);
    case Op::Gather: {
      Tensor out(n.dtype, n.shape);
      const int64_t rows = in[0].shape()[0], row = rows ? in[0].numel() / rows : 0;
      const int32_t* idx = in[1].data<int32_t>();
      dispatch(n.dtype, [&]<class T>(T) {
        for (int64_t i = 0; i < in[1].numel(); ++i)
          std::copy_n(in[0].data<T>() + checked_index(n, idx[i], rows) * row, row, out.data<T>() + i * row);
      });
      return out;
    }
    case Op::ScatterAdd: {
      Tensor out = fresh();
      const int64_t rows = n.shape[0], row = rows ? out.numel() / rows : 0;
      const int32_t* idx = in[0].data<int32_t>();
      dispatch(n.dtype, [&]<class T>(T) {
        for (int64_t i = 0; i < in[0].numel(); ++i) {
          T* dst = out.data<T>() + checked_index(n, idx[i], rows) * row;
          const T* src = in[1].data<T>() + i * row;
          for (int64_t j = 0; j < row; ++j) dst[j] += src[j];
        }
      });
      return out;
    }
    case Op::OneHot: {
      Tensor out = fresh();
      const int64_t depth = n.shape.back();
      const int32_t* idx = in[0].data<int32_t>();
      for (int64_t i = 0; i < in[0].numel(); ++i) out.set(i * depth + checked_index(n, idx[i], depth), 1.0);
      return out;
    }
    case Op::SequenceMask: {
      Tensor out = fresh();
      const int64_t steps = n.shape[0], rows = n.shape[1];
      const int32_t* len = in[0].data<int32_t>();
      for (int64_t b = 0; b < rows; ++b) {
        if (len[b] < 0 || len[b] > steps)
          throw Error(fmt::format("rnnc: sequence_mask: lengths[{}] = {} is outside [0, {}] (at {})", b, len[b], steps,
                                  where(n.loc)));
        for (int64_t t = 0; t < steps; ++t) out.set(t * rows + b, t < len[b] ? 1.0 : 0.0);
      }
      return out;
    }
    default: break;
  }
  // Elementwise: all shapes equal.
  Tensor out(n.dtype, n.shape);
  dispatch(n.dtype, [&]<class T>(T) {
    T* o = out.data<T>();
    const int64_t count = out.numel();
    ScalarMath<T> m;
    const T* a = in[0].data<T>();
    const T* b = in.size() > 1 ? in[1].data<T>() : nullptr;
    const T* c = in.size() > 2 ? in[2].data<T>() : nullptr;
    for (int64_t i = 0; i < count; ++i) o[i] = math::apply(m, n.op, a[i], b ? b[i] : T(0), c ? c[i] : T(0));
  });
  return out;
}

namespace {
// Called after each node with its value; returning true stops the evaluation there.
using NodeCheck = std::function<bool(const Node&, const Tensor&, const std::vector<Tensor>& inputs)>;

std::vector<Tensor> evaluate_checked(const std::vector<Var>& outputs, const std::vector<Var>& inputs,
                                     const std::vector<Tensor>& args, const NodeCheck* check) {
  if (inputs.size() != args.size())
    throw Error(fmt::format("rnnc: run: the function takes {} inputs, {} were given", inputs.size(), args.size()));
  std::unordered_map<const Node*, Tensor> value;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Node& in = *inputs[i].node();
    if (!args[i].defined() || args[i].shape() != in.shape || args[i].dtype() != in.dtype)
      throw Error(fmt::format(
          "rnnc: run: input {} ('{}') expects {}{}, got {}", i, in.name, name_of(in.dtype), to_string(in.shape),
          args[i].defined() ? fmt::format("{}{}", name_of(args[i].dtype()), to_string(args[i].shape()))
                            : std::string("an undefined tensor")));
    value[&in] = args[i];
  }
  const std::vector<NodePtr> order = topo_order(outputs);
  // Remaining uses of each value, so intermediates are freed as soon as they are dead.
  std::unordered_map<const Node*, int> uses;
  for (const NodePtr& n : order)
    for (const NodePtr& in : n->inputs) ++uses[in.get()];
  for (const Var& o : outputs) ++uses[o.node().get()];

  std::vector<Tensor> in_values;
  // The outputs of a scan come from one run of its loop, shared by its Scan nodes.
  std::map<LoopKey, std::vector<Tensor>> loops;
  for (const NodePtr& n : order) {
    if (value.count(n.get())) continue;
    if (n->op == Op::Input)
      throw Error(fmt::format("rnnc: run: the graph uses input '{}' {}{} that was not given", n->name,
                              name_of(n->dtype), to_string(n->shape)));
    in_values.clear();
    for (const NodePtr& in : n->inputs) in_values.push_back(value.at(in.get()));
    if (n->op == Op::Scan) {
      const LoopKey key = loop_key(*n);
      auto it = loops.find(key);
      if (it == loops.end()) it = loops.emplace(key, run_loop(*n->loop, in_values)).first;
      value[n.get()] = it->second[n->ints[0]];
    } else {
      value[n.get()] = eval_node(*n, in_values);
    }
    if (check && (*check)(*n, value[n.get()], in_values)) return {};
    for (const NodePtr& in : n->inputs)
      if (--uses[in.get()] == 0) value.erase(in.get());
  }
  std::vector<Tensor> result;
  for (const Var& o : outputs) result.push_back(value.at(o.node().get()));
  return result;
}

bool finite(const Tensor& t) {
  if (!is_float(t.dtype())) return true;
  for (int64_t i = 0; i < t.numel(); ++i)
    if (!std::isfinite(t.at(i))) return false;
  return true;
}
}  // namespace

std::vector<Tensor> evaluate(const std::vector<Var>& outputs, const std::vector<Var>& inputs,
                             const std::vector<Tensor>& args) {
  return evaluate_checked(outputs, inputs, args, nullptr);
}

std::string first_non_finite(const Function& f, const std::vector<Tensor>& args) {
  std::string found;
  const NodeCheck check = [&](const Node& n, const Tensor& v, const std::vector<Tensor>& in) {
    if (finite(v) || !std::all_of(in.begin(), in.end(), finite)) return false;
    found = fmt::format("{} at {} gives {}{} holding a NaN or an infinity from finite operands", name_of(n.op),
                        where(n.loc), name_of(n.dtype), to_string(n.shape));
    if (n.op == Op::Scan) found += " (inside the loop's body)";
    return true;
  };
  for (std::size_t i = 0; i < args.size(); ++i)
    if (!finite(args[i])) return fmt::format("input '{}' holds a NaN or an infinity", f.inputs.at(i)->name);
  evaluate_checked(f.outputs, f.inputs, args, &check);
  return found;
}

std::vector<Tensor> interpret(const Function& f, const std::vector<Tensor>& args) {
  return evaluate(f.outputs, f.inputs, args);
}

}  // namespace rnnc
