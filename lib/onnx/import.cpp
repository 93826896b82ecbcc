// import_onnx (rnnc/onnx.h): an ONNX file's graph evaluated node by node with rnnc's ops, so that
// a call traces it into rnnc's IR. Values are traced Vars, or integers known when the call traces
// (shapes, axes, the int64 tensors of Reshape, Slice, Range and Shape chains), computed from the
// shapes of the inputs given: an open (symbolic) input axis takes the size passed, and every shape
// in the traced graph is static, as rnnc's are. ONNX's LSTM, GRU and RNN become the library's
// cells (the gates put back in PyTorch's order), one scan per direction; a Scan becomes a scan
// whose body is evaluated the same way. Booleans are 0/1 masks in float32. Weights stored small
// are folded to float32 first (fold_weights.cpp).
#include <fmt/format.h>
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <span>
#include <unordered_map>

#include "onnx/parsed.h"
#include "rnnc/cells.h"
#include "rnnc/error.h"
#include "rnnc/onnx.h"
#include "rnnc/scan.h"

namespace rnnc {

using onnx_import::dtype_of;

namespace {

using onnx::TensorProto;

// A value of the graph: traced, or integers known now (with their shape).
struct Value {
  Var var;
  std::optional<std::vector<int64_t>> ints;
  Shape shape;  // of ints
};

[[noreturn]] void refuse(const onnx::NodeProto& n, const std::string& why) {
  throw Error(fmt::format("rnnc: import_onnx: {} node '{}': {}", n.op_type(), n.name(), why));
}

using namespace onnx_import;

Value value_of(const TensorProto& t) {
  Value v;
  if (is_integer(t.data_type())) {
    const std::vector<double> e = elements(t);
    v.ints = std::vector<int64_t>(e.begin(), e.end());
    v.shape = dims_of(t);
  } else {
    v.var = constant(Tensor::from(elements(t), dims_of(t), dtype_of(t.data_type(), t.name())));
  }
  return v;
}

int64_t axis_in(int64_t axis, int64_t rank) { return axis < 0 ? axis + rank : axis; }

// One graph's evaluation: its values by name, the enclosing graph's visible through `outer`.
class Evaluator {
 public:
  Evaluator(const Evaluator* outer) : outer_(outer) {}

  void set(const std::string& name, Value v) { values_[name] = std::move(v); }
  const Value* find(const std::string& name) const {
    if (auto it = values_.find(name); it != values_.end()) return &it->second;
    return outer_ ? outer_->find(name) : nullptr;
  }

  void run(const onnx::GraphProto& g) {
    for (const onnx::NodeProto& n : g.node()) node(n);
  }

 private:
  const Value& in(const onnx::NodeProto& n, int i) const {
    if (i >= n.input_size() || n.input(i).empty()) refuse(n, fmt::format("input {} is missing", i));
    const Value* v = find(n.input(i));
    if (!v) refuse(n, fmt::format("input '{}' is computed nowhere before it", n.input(i)));
    return *v;
  }
  bool has(const onnx::NodeProto& n, int i) const { return i < n.input_size() && !n.input(i).empty(); }
  Var var(const onnx::NodeProto& n, int i) const {
    const Value& v = in(n, i);
    if (v.var.defined()) return v.var;
    std::vector<double> d(v.ints->begin(), v.ints->end());
    return constant(Tensor::from(d, v.shape, DType::i32));
  }
  std::vector<int64_t> ints(const onnx::NodeProto& n, int i) const {
    const Value& v = in(n, i);
    if (!v.ints) refuse(n, fmt::format("input '{}' must be known when importing (a constant or a shape)", n.input(i)));
    return *v.ints;
  }
  Shape shape(const onnx::NodeProto& n, int i) const {
    const Value& v = in(n, i);
    return v.var.defined() ? v.var.shape() : v.shape;
  }
  void out(const onnx::NodeProto& n, int i, Var v) {
    if (i < n.output_size() && !n.output(i).empty()) set(n.output(i), Value{std::move(v), std::nullopt, {}});
  }
  void out_ints(const onnx::NodeProto& n, std::vector<int64_t> v, Shape s) {
    set(n.output(0), Value{Var(), std::move(v), std::move(s)});
  }
  // The shape after a Squeeze or Unsqueeze node (axes as an input, or an attribute before opset 13).
  Shape squeezed(const onnx::NodeProto& n, Shape s) const {
    std::vector<int64_t> axes = has(n, 1) ? ints(n, 1) : attr_ints(n, "axes").value_or(std::vector<int64_t>{});
    if (n.op_type() == "Unsqueeze") {
      const int64_t rank = static_cast<int64_t>(s.size() + axes.size());
      for (int64_t& a : axes) a = axis_in(a, rank);
      std::sort(axes.begin(), axes.end());
      for (int64_t a : axes) s.insert(s.begin() + a, 1);
      return s;
    }
    const int64_t rank = static_cast<int64_t>(s.size());
    Shape kept;
    for (int64_t k = 0; k < rank; ++k) {
      const bool named = std::any_of(axes.begin(), axes.end(), [&](int64_t a) { return axis_in(a, rank) == k; });
      if (!(axes.empty() ? s[static_cast<size_t>(k)] == 1 : named)) kept.push_back(s[static_cast<size_t>(k)]);
    }
    return kept;
  }
  bool all_ints(const onnx::NodeProto& n) const {
    for (int i = 0; i < n.input_size(); ++i)
      if (has(n, i) && !in(n, i).ints) return false;
    return n.input_size() > 0;
  }

  void node(const onnx::NodeProto& n);
  void static_node(const onnx::NodeProto& n);
  void cell(const onnx::NodeProto& n);
  void scan(const onnx::NodeProto& n);

  const Evaluator* outer_;
  std::unordered_map<std::string, Value> values_;
};

// Integer nodes on values known now (shape arithmetic), computed here.
void Evaluator::static_node(const onnx::NodeProto& n) {
  const std::string& op = n.op_type();
  std::vector<int64_t> a = ints(n, 0);
  const Shape sa = shape(n, 0);
  if (op == "Identity" || op == "Cast") return out_ints(n, a, sa);
  if (op == "Unsqueeze" || op == "Squeeze") return out_ints(n, a, squeezed(n, sa));
  if (op == "Concat") {
    std::vector<int64_t> all;
    for (int i = 0; i < n.input_size(); ++i)
      for (int64_t x : ints(n, i)) all.push_back(x);
    return out_ints(n, all, {static_cast<int64_t>(all.size())});
  }
  if (op == "Gather") {
    std::vector<int64_t> idx = ints(n, 1), r;
    if (sa.size() != 1) refuse(n, "gathers from a constant of rank other than 1");
    for (int64_t i : idx) r.push_back(a.at(static_cast<size_t>(i < 0 ? i + sa[0] : i)));
    return out_ints(n, r, shape(n, 1));
  }
  if (op == "Reshape") {
    const std::vector<int64_t> s = ints(n, 1);
    return out_ints(n, a, Shape(s.begin(), s.end()));
  }
  if (op == "Slice") {  // of a vector (a shape's leading extents)
    if (sa.size() != 1) refuse(n, "slices a constant of rank other than 1");
    if ((has(n, 3) && ints(n, 3) != std::vector<int64_t>{0}) || (has(n, 4) && ints(n, 4) != std::vector<int64_t>{1}))
      refuse(n, "slices a constant along an axis other than 0 or with a step");
    const int64_t size = sa[0];
    auto clamp = [&](int64_t v) { return std::clamp(v < 0 ? v + size : v, int64_t{0}, size); };
    const int64_t begin = clamp(ints(n, 1).at(0)), end = std::max(begin, clamp(ints(n, 2).at(0)));
    return out_ints(n, std::vector<int64_t>(a.begin() + begin, a.begin() + end), {end - begin});
  }
  auto binary = [&](auto f) {
    const std::vector<int64_t> b = ints(n, 1);
    std::vector<int64_t> r;
    const size_t size = std::max(a.size(), b.size());
    if (a.size() != size && a.size() != 1) refuse(n, "broadcasts constants other than scalars");
    if (b.size() != size && b.size() != 1) refuse(n, "broadcasts constants other than scalars");
    for (size_t i = 0; i < size; ++i) r.push_back(f(a[a.size() == 1 ? 0 : i], b[b.size() == 1 ? 0 : i]));
    out_ints(n, r, a.size() >= b.size() ? sa : shape(n, 1));
  };
  if (op == "Add") return binary([](int64_t x, int64_t y) { return x + y; });
  if (op == "Sub") return binary([](int64_t x, int64_t y) { return x - y; });
  if (op == "Mul") return binary([](int64_t x, int64_t y) { return x * y; });
  if (op == "Div") return binary([](int64_t x, int64_t y) { return y ? x / y : 0; });
  if (op == "Range") {
    std::vector<int64_t> r;
    const int64_t start = a.at(0), limit = ints(n, 1).at(0), delta = ints(n, 2).at(0);
    if (delta == 0) refuse(n, "a delta of 0");
    for (int64_t x = start; delta > 0 ? x < limit : x > limit; x += delta) r.push_back(x);
    return out_ints(n, r, {static_cast<int64_t>(r.size())});
  }
  refuse(n, "not read on integer constants");
}

void Evaluator::node(const onnx::NodeProto& n) {
  const std::string& op = n.op_type();
  if (op == "Constant") {
    const auto* a = find_attr(n, "value");
    if (!a) refuse(n, "only the 'value' form of Constant is read");
    return set(n.output(0), value_of(a->t()));
  }
  if (op == "Shape") {
    const Shape s = shape(n, 0);
    return out_ints(n, std::vector<int64_t>(s.begin(), s.end()), {static_cast<int64_t>(s.size())});
  }
  if (op == "LSTM" || op == "GRU" || op == "RNN") return cell(n);
  if (op == "Scan") return scan(n);
  if (all_ints(n) && op != "ConstantOfShape" && op != "OneHot" && op != "Expand") return static_node(n);

  using Unary = Var (*)(const Var&, Loc);
  static const std::map<std::string, Unary> unary = {
      {"Neg", [](const Var& x, Loc l) { return neg(x, l); }},
      {"Exp", [](const Var& x, Loc l) { return exp(x, l); }},
      {"Log", [](const Var& x, Loc l) { return log(x, l); }},
      {"Tanh", [](const Var& x, Loc l) { return tanh(x, l); }},
      {"Sigmoid", [](const Var& x, Loc l) { return sigmoid(x, l); }},
      {"Relu", [](const Var& x, Loc l) { return relu(x, l); }},
      {"Sqrt", [](const Var& x, Loc l) { return sqrt(x, l); }},
      {"Abs", [](const Var& x, Loc l) { return abs(x, l); }},
      {"Sign", [](const Var& x, Loc l) { return sign(x, l); }},
      {"Softplus", [](const Var& x, Loc l) { return softplus(x, l); }},
  };
  if (auto it = unary.find(op); it != unary.end()) return out(n, 0, it->second(var(n, 0), Loc::current()));
  using Binary = std::function<Var(const Var&, const Var&)>;
  static const std::map<std::string, Binary> binary = {
      {"Add", [](const Var& a, const Var& b) { return a + b; }},
      {"Sub", [](const Var& a, const Var& b) { return a - b; }},
      {"Mul", [](const Var& a, const Var& b) { return a * b; }},
      {"Div", [](const Var& a, const Var& b) { return a / b; }},
      {"Pow", [](const Var& a, const Var& b) { return pow(a, b); }},
      {"Max", [](const Var& a, const Var& b) { return maximum(a, b); }},
      {"Min", [](const Var& a, const Var& b) { return minimum(a, b); }},
      {"Less", [](const Var& a, const Var& b) { return cast(a < b, DType::f32); }},
      {"LessOrEqual", [](const Var& a, const Var& b) { return cast(a <= b, DType::f32); }},
      {"Greater", [](const Var& a, const Var& b) { return cast(a > b, DType::f32); }},
      {"GreaterOrEqual", [](const Var& a, const Var& b) { return cast(a >= b, DType::f32); }},
      {"Equal", [](const Var& a, const Var& b) { return cast(equal(a, b), DType::f32); }},
  };
  if (auto it = binary.find(op); it != binary.end()) {
    Var r = var(n, 0);
    for (int i = 1; i < n.input_size(); ++i) r = it->second(r, var(n, i));
    return out(n, 0, r);
  }
  if (op == "Identity") return set(n.output(0), in(n, 0));
  if (op == "Not") return out(n, 0, 1.0 - var(n, 0));
  if (op == "Where") return out(n, 0, where(var(n, 0), var(n, 1), var(n, 2)));
  if (op == "Cast") {
    const int64_t to = attr_int(n, "to", TensorProto::FLOAT);
    const Var x = var(n, 0);
    if (to == TensorProto::BOOL) return out(n, 0, cast(not_equal(x, 0.0), DType::f32));
    return out(n, 0, cast(x, dtype_of(static_cast<int32_t>(to), n.name())));
  }
  if (op == "HardSigmoid") {
    const double alpha = attr_float(n, "alpha", 0.2F), beta = attr_float(n, "beta", 0.5F);
    const Var x = var(n, 0);
    if (std::abs(alpha - 0.2) < 1e-7 && std::abs(beta - 0.5) < 1e-7) return out(n, 0, hard_sigmoid(x));
    return out(n, 0, maximum(minimum(alpha * x + beta, 1.0), 0.0));
  }
  if (op == "MatMul") return out(n, 0, matmul(var(n, 0), var(n, 1)));
  if (op == "Gemm") {
    Var a = var(n, 0), b = var(n, 1);
    if (attr_int(n, "transA", 0)) a = transpose(a);
    if (attr_int(n, "transB", 0)) b = transpose(b);
    Var y = matmul(a, b);
    if (const double alpha = attr_float(n, "alpha", 1); alpha != 1) y = alpha * y;
    if (has(n, 2)) y = y + attr_float(n, "beta", 1) * var(n, 2);
    return out(n, 0, y);
  }
  if (op == "Softmax" || op == "LogSoftmax") {
    const Var x = var(n, 0);
    const int64_t axis = axis_in(attr_int(n, "axis", -1), x.rank());
    return out(n, 0, op == "Softmax" ? softmax(x, axis) : log_softmax(x, axis));
  }
  if (op == "Gather") {
    if (axis_in(attr_int(n, "axis", 0), shape(n, 0).size()) != 0) refuse(n, "gathers along an axis other than 0");
    return out(n, 0, gather(var(n, 0), cast(var(n, 1), DType::i32)));
  }
  if (op == "Reshape") {
    const Shape from = shape(n, 0);
    std::vector<int64_t> to = ints(n, 1);
    for (size_t k = 0; k < to.size(); ++k)
      if (to[k] == 0 && !attr_int(n, "allowzero", 0)) to[k] = from.at(k);
    return out(n, 0, reshape(var(n, 0), Shape(to.begin(), to.end())));
  }
  if (op == "Transpose") {
    const Var x = var(n, 0);
    std::vector<int64_t> perm = attr_ints(n, "perm").value_or(std::vector<int64_t>{});
    if (perm.empty())
      for (int64_t k = x.rank() - 1; k >= 0; --k) perm.push_back(k);
    return out(n, 0, transpose(x, perm));
  }
  if (op == "Squeeze" || op == "Unsqueeze") return out(n, 0, reshape(var(n, 0), squeezed(n, shape(n, 0))));
  if (op == "Concat") {
    std::vector<Var> xs;
    for (int i = 0; i < n.input_size(); ++i) xs.push_back(var(n, i));
    return out(n, 0, concat(xs, axis_in(attr_int(n, "axis", 0), xs[0].rank())));
  }
  if (op == "Split") {
    const Var x = var(n, 0);
    const int64_t axis = axis_in(attr_int(n, "axis", 0), x.rank());
    std::vector<int64_t> sizes = has(n, 1) ? ints(n, 1) : attr_ints(n, "split").value_or(std::vector<int64_t>{});
    if (sizes.empty())
      sizes.assign(static_cast<size_t>(n.output_size()), x.shape()[static_cast<size_t>(axis)] / n.output_size());
    const std::vector<Var> parts = split(x, sizes, axis);
    for (size_t k = 0; k < parts.size(); ++k) out(n, static_cast<int>(k), parts[k]);
    return;
  }
  if (op == "Slice") {
    Var x = var(n, 0);
    const std::vector<int64_t> starts = ints(n, 1), ends = ints(n, 2);
    std::vector<int64_t> axes = has(n, 3) ? ints(n, 3) : std::vector<int64_t>{};
    if (axes.empty())
      for (size_t k = 0; k < starts.size(); ++k) axes.push_back(static_cast<int64_t>(k));
    if (has(n, 4))
      for (int64_t st : ints(n, 4))
        if (st != 1) refuse(n, "a step other than 1");
    for (size_t k = 0; k < axes.size(); ++k) {
      const int64_t a = axis_in(axes[k], x.rank()), extent = x.shape()[static_cast<size_t>(a)];
      auto clamp = [&](int64_t v) { return std::clamp(v < 0 ? v + extent : v, int64_t{0}, extent); };
      x = slice(x, a, clamp(starts[k]), std::max(clamp(starts[k]), clamp(ends[k])));
    }
    return out(n, 0, x);
  }
  if (op == "ConstantOfShape") {
    const std::vector<int64_t> s = ints(n, 0);
    double v = 0;
    DType t = DType::f32;
    if (const auto* a = find_attr(n, "value")) {
      v = elements(a->t()).at(0);
      t = dtype_of(a->t().data_type(), n.name());
    }
    return out(n, 0, full(Shape(s.begin(), s.end()), v, t));
  }
  if (op == "Expand") {
    const Var x = var(n, 0);
    const std::vector<int64_t> s = ints(n, 1);
    Shape target(std::max(s.size(), x.shape().size()), 1);
    for (size_t k = 0; k < target.size(); ++k) {
      const size_t from_s = target.size() - s.size(), from_x = target.size() - x.shape().size();
      const int64_t a = k >= from_s ? s[k - from_s] : 1, b = k >= from_x ? x.shape()[k - from_x] : 1;
      target[k] = std::max(a, b);
    }
    return out(n, 0, broadcast_to(x, target));
  }
  if (op == "OneHot") {
    if (axis_in(attr_int(n, "axis", -1), shape(n, 0).size() + 1) != static_cast<int64_t>(shape(n, 0).size()))
      refuse(n, "an axis other than the last");
    const int64_t depth = ints(n, 1).at(0);
    const Value& values = in(n, 2);
    const Var hot = one_hot(cast(var(n, 0), DType::i32), depth, values.var.defined() ? values.var.dtype() : DType::f32);
    // values = [off, on]: off + (on - off) * hot.
    const Var vs = var(n, 2);
    return out(n, 0, slice(vs, 0, 0, 1) + (slice(vs, 0, 1, 2) - slice(vs, 0, 0, 1)) * hot);
  }
  if (op == "ReduceSum" || op == "ReduceMean" || op == "ReduceMax") {
    const Var x = var(n, 0);
    std::vector<int64_t> axes =
        op == "ReduceSum" && has(n, 1) ? ints(n, 1) : attr_ints(n, "axes").value_or(std::vector<int64_t>{});
    for (int64_t& a : axes) a = axis_in(a, x.rank());
    if (axes.empty())
      for (int64_t k = 0; k < x.rank(); ++k) axes.push_back(k);
    const bool keep = attr_int(n, "keepdims", 1) != 0;
    return out(n, 0,
               op == "ReduceSum"    ? sum(x, axes, keep)
               : op == "ReduceMean" ? mean(x, axes, keep)
                                    : max(x, axes, keep));
  }
  refuse(n, "an operator rnnc does not read");
}

// ONNX's cell operators as the library's cells: weights [D, G H, I] back in PyTorch's gate order,
// one scan per direction (the backward one reversed), lengths from sequence_lens.
void Evaluator::cell(const onnx::NodeProto& n) {
  const std::string& op = n.op_type();
  if (attr_int(n, "layout", 0) != 0) refuse(n, "layout 1 (batch first); rnnc reads layout 0");
  if (find_attr(n, "clip")) refuse(n, "a cell clip");
  if (op == "LSTM" && (attr_int(n, "input_forget", 0) != 0 || has(n, 7))) refuse(n, "peepholes or coupled gates");
  if (op == "GRU" && attr_int(n, "linear_before_reset", 0) != 1)
    refuse(n, "linear_before_reset 0 (rnnc's GRU is PyTorch's, with the reset gate after the product)");
  const auto* acts = find_attr(n, "activations");
  bool relu = false;
  if (acts) {
    const std::vector<std::string> want = op == "LSTM"  ? std::vector<std::string>{"Sigmoid", "Tanh", "Tanh"}
                                          : op == "GRU" ? std::vector<std::string>{"Sigmoid", "Tanh"}
                                                        : std::vector<std::string>{"Tanh"};
    std::vector<std::string> got(acts->strings().begin(), acts->strings().end());
    relu = op == "RNN" && got.size() >= 1 && got[0] == "Relu";
    for (size_t k = 0; k < got.size(); ++k)
      if (!(relu && k == 0) && got[k] != want[k % want.size()])
        refuse(n, fmt::format("activation {} ({}); rnnc's cells have {}", k, got[k], want[k % want.size()]));
  }
  const std::string direction = attr_string(n, "direction", "forward");
  const int dirs = direction == "bidirectional" ? 2 : 1;
  const Var X = var(n, 0), W = var(n, 1), R = var(n, 2);
  const int64_t H = attr_int(n, "hidden_size", R.shape().back());
  const int64_t G = op == "LSTM" ? 4 : op == "GRU" ? 3 : 1, B = X.shape()[1];
  const std::vector<int64_t> order = op == "LSTM"  ? std::vector<int64_t>{0, 2, 3, 1}  // i o f c -> i f g o
                                     : op == "GRU" ? std::vector<int64_t>{1, 0, 2}     // z r h -> r z n
                                                   : std::vector<int64_t>{0};
  auto torch_order = [&](const Var& w) {  // [G H, ...] in ONNX's gate order -> PyTorch's
    if (G == 1) return w;
    const std::vector<Var> parts = chunk(w, G, 0);
    std::vector<Var> in;
    for (int64_t g : order) in.push_back(parts[static_cast<size_t>(g)]);
    return concat(in, 0);
  };
  const Var lengths = has(n, 4) ? cast(var(n, 4), DType::i32) : Var();
  std::vector<Var> ys, hs, cs;
  for (int d = 0; d < dirs; ++d) {
    auto at = [&](const Var& v) { return squeeze(slice(v, 0, d, d + 1), 0); };
    Var b = has(n, 3) ? at(var(n, 3)) : full({2 * G * H}, 0.0, X.dtype());
    nn::Gates gates;
    gates.weight_ih = torch_order(at(W));
    gates.weight_hh = torch_order(at(R));
    gates.bias_ih = torch_order(slice(b, 0, 0, G * H));
    gates.bias_hh = torch_order(slice(b, 0, G * H, 2 * G * H));
    const Var h0 = has(n, 5) ? at(var(n, 5)) : full({B, H}, 0.0, X.dtype());
    const bool reverse = direction == "reverse" || d == 1;
    const ScanOptions o{.reverse = reverse, .lengths = lengths};
    if (op == "LSTM") {
      const Var c0 = has(n, 6) ? at(var(n, 6)) : full({B, H}, 0.0, X.dtype());
      auto [y, last] = nn::run_cell(nn::LSTMCell{gates}, X, nn::LSTMState{h0, c0}, o);
      ys.push_back(y), hs.push_back(Var(last.h)), cs.push_back(Var(last.c));
    } else if (op == "GRU") {
      auto [y, last] = nn::run_cell(nn::GRUCell{gates}, X, nn::Hidden{h0}, o);
      ys.push_back(y), hs.push_back(Var(last.h));
    } else {
      nn::RNNCell c{gates};
      c.relu = relu;
      auto [y, last] = nn::run_cell(c, X, nn::Hidden{h0}, o);
      ys.push_back(y), hs.push_back(Var(last.h));
    }
  }
  auto stack = [](const std::vector<Var>& vs, int64_t axis) {
    std::vector<Var> u;
    for (const Var& v : vs) u.push_back(unsqueeze(v, axis));
    return u.size() == 1 ? u[0] : concat(u, axis);
  };
  out(n, 0, stack(ys, 1));  // Y [T, D, B, H]
  out(n, 1, stack(hs, 0));  // Y_h [D, B, H]
  if (op == "LSTM") out(n, 2, stack(cs, 0));
}

// Scan as rnnc's scan: the body evaluated with the carries and slices as its inputs, the
// enclosing graph's values visible by name.
void Evaluator::scan(const onnx::NodeProto& n) {
  const auto* body = find_attr(n, "body");
  if (!body) refuse(n, "no body");
  const onnx::GraphProto& g = body->g();
  const int64_t m = attr_int(n, "num_scan_inputs", 0);
  const int carries = n.input_size() - static_cast<int>(m);
  auto all_equal = [&](const char* name, int64_t count) -> std::optional<int64_t> {
    const auto v = attr_ints(n, name).value_or(std::vector<int64_t>(static_cast<size_t>(count), 0));
    for (int64_t x : v)
      if (x != v.front()) return std::nullopt;
    return v.empty() ? 0 : v.front();
  };
  const auto in_dir = all_equal("scan_input_directions", m);
  const int ys = g.output_size() - carries;
  const auto out_dir = all_equal("scan_output_directions", ys);
  if (!in_dir || !out_dir || (ys > 0 && *out_dir != *in_dir))
    refuse(n, "scan inputs and outputs in different directions");
  if (attr_ints(n, "scan_input_axes") || attr_ints(n, "scan_output_axes")) {
    for (const char* a : {"scan_input_axes", "scan_output_axes"})
      for (int64_t x : attr_ints(n, a).value_or(std::vector<int64_t>{}))
        if (x != 0) refuse(n, "scan axes other than 0");
  }
  std::vector<Var> init, xs;
  for (int i = 0; i < carries; ++i) init.push_back(var(n, i));
  for (int i = carries; i < n.input_size(); ++i) xs.push_back(var(n, i));
  const Scanned r = rnnc::scan(
      [&](std::span<const Var> c, std::span<const Var> x) -> ScanStep {
        Evaluator e(this);
        for (int i = 0; i < carries; ++i) e.set(g.input(i).name(), Value{c[static_cast<size_t>(i)], std::nullopt, {}});
        for (size_t j = 0; j < x.size(); ++j)
          e.set(g.input(carries + static_cast<int>(j)).name(), Value{x[j], std::nullopt, {}});
        e.run(g);
        ScanStep s;
        for (int k = 0; k < g.output_size(); ++k) {
          const Value* v = e.find(g.output(k).name());
          if (!v) refuse(n, fmt::format("the body computes no '{}'", g.output(k).name()));
          Var o =
              v->var.defined()
                  ? v->var
                  : constant(Tensor::from(std::vector<double>(v->ints->begin(), v->ints->end()), v->shape, DType::i32));
          (k < carries ? s.carries : s.ys).push_back(o);
        }
        return s;
      },
      init, xs, {.reverse = *in_dir == 1});
  for (int k = 0; k < carries; ++k) out(n, k, r.carries[static_cast<size_t>(k)]);
  for (int k = 0; k < ys; ++k) out(n, carries + k, r.ys[static_cast<size_t>(k)]);
}

}  // namespace

OnnxGraph import_onnx(const std::filesystem::path& file) {
  std::ifstream is(file, std::ios::binary);
  if (!is) throw Error(fmt::format("rnnc: import_onnx: cannot read '{}'", file.string()));
  auto p = std::make_shared<Parsed>();
  if (!p->model.ParseFromIstream(&is))
    throw Error(fmt::format("rnnc: import_onnx: '{}' is not an ONNX model (protobuf does not parse)", file.string()));
  fold_weights(*p->model.mutable_graph());
  const onnx::GraphProto& g = p->model.graph();
  OnnxGraph out;
  for (const auto& m : p->model.metadata_props()) out.metadata[m.key()] = m.value();
  std::set<std::string> initialized;
  // rnnc's exports name their weights "model.<path>" (the keys are the paths); their other
  // initializers (shapes, one-hot values) are constants. Elsewhere every floating-point
  // initializer is a weight, under its own name.
  const bool ours = p->model.producer_name() == "rnnc";
  for (const TensorProto& t : g.initializer()) {
    initialized.insert(t.name());
    const bool weight = !is_integer(t.data_type()) && (!ours || t.name().starts_with("model."));
    if (!weight) {
      p->weight_of.emplace_back();
      continue;
    }
    const std::string key = ours ? t.name().substr(6) : t.name();
    out.weights[key] = Tensor::from(elements(t), dims_of(t), dtype_of(t.data_type(), t.name()));
    p->weight_of.push_back(key);
  }
  for (const auto& i : g.input()) {
    if (initialized.count(i.name())) continue;
    const auto& tt = i.type().tensor_type();
    Shape s;
    for (const auto& d : tt.shape().dim()) {
      if (!d.has_dim_value()) {  // open: named, or unnamed (then its own)
        const int k = static_cast<int>(s.size());
        out.dynamic_axes[i.name()][k] = d.dim_param().empty() ? fmt::format("{}_dim{}", i.name(), k) : d.dim_param();
      }
      s.push_back(d.has_dim_value() ? d.dim_value() : -1);
    }
    out.inputs.push_back(Spec{s, dtype_of(tt.elem_type(), i.name()), i.name()});
  }
  for (const auto& o : g.output()) out.outputs.push_back(o.name());
  out.model = p;
  return out;
}

std::vector<Var> OnnxGraph::operator()(const Weights& w, const std::vector<Var>& in) const {
  const auto& p = *static_cast<const Parsed*>(model.get());
  const onnx::GraphProto& g = p.model.graph();
  if (in.size() != inputs.size())
    throw Error(fmt::format("rnnc: import_onnx: the graph takes {} inputs, {} were given", inputs.size(), in.size()));
  Evaluator e(nullptr);
  for (int k = 0; k < g.initializer_size(); ++k) {
    const std::string& key = p.weight_of[static_cast<size_t>(k)];
    if (key.empty()) {
      e.set(g.initializer(k).name(), value_of(g.initializer(k)));
      continue;
    }
    auto it = w.find(key);
    if (it == w.end()) throw Error(fmt::format("rnnc: import_onnx: no weight '{}' was given", key));
    e.set(g.initializer(k).name(), Value{it->second.var(), std::nullopt, {}});
  }
  std::map<std::string, std::pair<int64_t, std::string>> sizes;  // each open axis' size, and where it was set
  for (size_t i = 0; i < in.size(); ++i) {
    const Shape& want = inputs[i].shape;
    const Shape& got = in[i].shape();
    bool fits = got.size() == want.size();
    for (size_t k = 0; fits && k < want.size(); ++k) {
      if (want[k] >= 0) {
        fits = got[k] == want[k];
        continue;
      }
      const std::string& name = dynamic_axes.at(inputs[i].name).at(static_cast<int>(k));
      const std::string here = fmt::format("input '{}' axis {}", inputs[i].name, k);
      auto [it, added] = sizes.try_emplace(name, got[k], here);
      if (!added && it->second.first != got[k])
        throw Error(fmt::format("rnnc: import_onnx: the open axis '{}' is {} at {} but {} at {}", name,
                                it->second.first, it->second.second, got[k], here));
    }
    if (!fits)
      throw Error(fmt::format("rnnc: import_onnx: input '{}' is {}, the graph takes {}{}", inputs[i].name,
                              to_string(got), to_string(want),
                              dynamic_axes.count(inputs[i].name) ? " (-1: any size)" : ""));
    e.set(inputs[i].name, Value{in[i], std::nullopt, {}});
  }
  e.run(g);
  std::vector<Var> outs;
  for (const std::string& name : outputs) {
    const Value* v = e.find(name);
    if (!v) throw Error(fmt::format("rnnc: import_onnx: the graph computes no output '{}'", name));
    outs.push_back(v->var.defined() ? v->var
                                    : constant(Tensor::from(std::vector<double>(v->ints->begin(), v->ints->end()),
                                                            v->shape, DType::i32)));
  }
  return outs;
}

}  // namespace rnnc
