// A traced graph as an ONNX model (rnnc/onnx.h). Each node becomes the ONNX operators that compute
// it (ops.def's order below); a loop becomes a Scan whose body graph is the step's, its invariants
// read from the enclosing graph by name. Every constant (literals, shapes, axes) is an initializer
// of the main graph, which bodies may read too. The model is checked (onnx::checker, then strict
// shape inference, which also checks every value's type) before it is returned or written.
#include <fmt/format.h>
#include <onnx/checker.h>
#include <onnx/onnx_pb.h>
#include <onnx/shape_inference/implementation.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <unordered_map>
#include <utility>
#include <variant>

#include "onnx/cells.h"
#include "onnx/dynamic_axes.h"
#include "onnx/initializers.h"
#include "rnnc/error.h"
#include "rnnc/onnx.h"

namespace rnnc {

namespace {

using onnx::TensorProto;
using namespace onnx_export;

[[noreturn]] void unsupported(const Node& n, const std::string& why) {
  throw Error(fmt::format("rnnc: export_onnx: {} at {}: {}", name_of(n.op), where(n.loc), why));
}

// One graph being written: the main graph or a Scan's body. Values computed in it are named in
// `names`; its enclosing graph's names are visible through `outer` (only a body's invariants and the
// main graph's initializers are read that way).
struct Scope {
  onnx::GraphProto* graph;
  std::unordered_map<const Node*, std::string> names;
};

class Writer {
 public:
  Writer(onnx::GraphProto* main, int opset) : main_(main), opset_(opset) {}

  std::string fresh(std::string_view hint) { return fmt::format("{}_{}", hint, counter_++); }

  // The name of n's value in scope s, writing the nodes that compute it (and what they read) first.
  std::string value(Scope& s, const NodePtr& n) {
    if (auto it = s.names.find(n.get()); it != s.names.end()) return it->second;
    if (n->op == Op::Literal) {
      if (auto it = literals_.find(n.get()); it != literals_.end()) return it->second;
      const std::string name = fresh("weight");
      check_dtype(*n, n->dtype);
      fill(main_->add_initializer(), name, *n->literal);
      return literals_[n.get()] = name;
    }
    if (n->op == Op::Input) unsupported(*n, fmt::format("'{}' is not an input of the exported function", n->name));
    if (n->op == Op::Scan) {  // one Scan per loop, however many of its outputs are read
      if (auto it = scans_.find(loop_key(*n)); it != scans_.end())
        return s.names[n.get()] = it->second[static_cast<size_t>(n->ints[0])];
      const Located at(loc_, where(n->loc));
      write_scan(s, *n);
      return s.names.at(n.get());
    }
    std::vector<std::string> in;
    for (size_t k = 0; k < n->inputs.size(); ++k) {
      const NodePtr& x = n->inputs[k];
      if (!left_to_numpy(*n, k))
        in.push_back(value(s, x));
      else
        in.push_back(x->op == Op::Full ? scalar(x->scalar, x->dtype) : value(s, x->inputs[0]));
    }
    const Located at(loc_, where(n->loc));
    const std::string out = write_node(s, *n, in);
    s.names[n.get()] = out;
    return out;
  }

  // Whether operand k of n is left to ONNX's own (numpy's) broadcasting: where n is elementwise
  // and another operand has n's shape, a broadcast_to (its operand) or a constant fill (a scalar), so
  // that the size it fills is not written into the graph (an open batch axis stays open).
  static bool left_to_numpy(const Node& n, size_t k) {
    auto filled = [](const Node& x) { return x.op == Op::BroadcastTo || x.op == Op::Full; };
    if (!filled(*n.inputs[k]) || !broadcasts_like_numpy(n.op)) return false;
    for (size_t j = 0; j < n.inputs.size(); ++j)
      if (j != k && !filled(*n.inputs[j]) && n.inputs[j]->shape == n.shape) return true;
    return false;
  }
  static bool broadcasts_like_numpy(Op op) {
    switch (op) {
      case Op::Add:
      case Op::Sub:
      case Op::Mul:
      case Op::Div:
      case Op::Pow:
      case Op::Maximum:
      case Op::Minimum:
      case Op::Less:
      case Op::LessEqual:
      case Op::Greater:
      case Op::GreaterEqual:
      case Op::Equal:
      case Op::NotEqual:
      case Op::Select: return true;
      default: return false;
    }
  }

  // An int64 vector initializer (shapes, axes, starts), shared by equal contents.
  std::string ints(const std::vector<int64_t>& v) {
    auto [it, added] = ints_.try_emplace(v, "");
    if (added) {
      it->second = fresh("ints");
      TensorProto* p = main_->add_initializer();
      p->set_name(it->second);
      p->set_data_type(TensorProto::INT64);
      p->add_dims(static_cast<int64_t>(v.size()));
      for (int64_t x : v) p->add_int64_data(x);
    }
    return it->second;
  }
  // An int64 scalar initializer.
  std::string int64(int64_t x) {
    const std::string name = fresh("int64");
    TensorProto* p = main_->add_initializer();
    p->set_name(name);
    p->set_data_type(TensorProto::INT64);
    p->add_int64_data(x);
    return name;
  }
  // A scalar initializer of this dtype, shared by equal values.
  std::string scalar(double x, DType dtype) {
    auto [it, added] = scalars_.try_emplace({x, dtype}, "");
    if (added) {
      it->second = fresh("scalar");
      fill(main_->add_initializer(), it->second, Tensor::scalar(x, dtype));
    }
    return it->second;
  }

  int nodes_in_main() const { return main_->node_size(); }

 private:
  static void check_dtype(const Node& n, DType t) {
    if (t == DType::bf16 || t == DType::i8)
      unsupported(n, fmt::format("a {} value; ONNX export takes float32, float64 and int32 graphs (export the "
                                 "float32 model)",
                                 name_of(t)));
  }

  onnx::NodeProto* add(Scope& s, std::string_view op, const std::vector<std::string>& in, const std::string& out) {
    onnx::NodeProto* p = s.graph->add_node();
    p->set_op_type(std::string(op));
    p->set_name(fresh(op));
    p->set_doc_string(loc_);
    for (const std::string& i : in) p->add_input(i);
    p->add_output(out);
    return p;
  }
  // A node attribute: an int, a float, ints, a string or strings.
  struct Attr {
    const char* name;
    std::variant<int64_t, float, std::vector<int64_t>, std::string, std::vector<std::string>> value;
  };
  static void attr(onnx::NodeProto* p, const Attr& at) {
    auto* a = p->add_attribute();
    a->set_name(at.name);
    std::visit(
        [a]<class V>(const V& v) {
          using A = onnx::AttributeProto;
          if constexpr (std::is_same_v<V, int64_t>) a->set_type(A::INT), a->set_i(v);
          if constexpr (std::is_same_v<V, float>) a->set_type(A::FLOAT), a->set_f(v);
          if constexpr (std::is_same_v<V, std::string>) a->set_type(A::STRING), a->set_s(v);
          if constexpr (std::is_same_v<V, std::vector<int64_t>>) {
            a->set_type(A::INTS);
            for (int64_t x : v) a->add_ints(x);
          }
          if constexpr (std::is_same_v<V, std::vector<std::string>>) {
            a->set_type(A::STRINGS);
            for (const std::string& x : v) a->add_strings(x);
          }
        },
        at.value);
  }
  // out = op(in...) into a fresh name, with the attributes given.
  std::string emit(Scope& s, std::string_view op, const std::vector<std::string>& in,
                   const std::vector<Attr>& attrs = {}) {
    const std::string out = fresh(op);
    onnx::NodeProto* p = add(s, op, in, out);
    for (const Attr& a : attrs) attr(p, a);
    return out;
  }
  std::string cast(Scope& s, const std::string& x, DType to) {
    return emit(s, "Cast", {x}, {{"to", int64_t{onnx_type(to)}}});
  }
  std::string to_bool(Scope& s, const std::string& x) {
    return emit(s, "Cast", {x}, {{"to", static_cast<int64_t>(TensorProto::BOOL)}});
  }
  std::string concat(Scope& s, const std::vector<std::string>& in, int64_t axis) {
    return emit(s, "Concat", in, {{"axis", axis}});
  }
  std::string unsqueeze(Scope& s, const std::string& x, std::vector<int64_t> axes) {
    return emit(s, "Unsqueeze", {x, ints(axes)});
  }

  // The ONNX nodes computing n from its inputs' values; returns the name of the result.
  std::string write_node(Scope& s, const Node& n, const std::vector<std::string>& in) {
    check_dtype(n, n.dtype);
    for (const NodePtr& i : n.inputs) check_dtype(n, i->dtype);
    auto simple = [&](std::string_view op) { return emit(s, op, in); };
    auto compare = [&](std::string_view op) { return cast(s, emit(s, op, in), n.dtype); };
    switch (n.op) {
      case Op::Input:
      case Op::Literal:
      case Op::Scan: break;  // value() handles them
      case Op::Full: {
        const std::string out = fresh("ConstantOfShape");
        auto* p = add(s, "ConstantOfShape", {ints(n.shape)}, out);
        auto* a = p->add_attribute();
        a->set_name("value");
        a->set_type(onnx::AttributeProto::TENSOR);
        fill(a->mutable_t(), "value", Tensor::from({n.scalar}, {1}, n.dtype));
        return out;
      }
      case Op::Neg: return simple("Neg");
      case Op::Exp: return simple("Exp");
      case Op::Log: return simple("Log");
      case Op::Tanh: return simple("Tanh");
      case Op::Sigmoid: return simple("Sigmoid");
      case Op::Relu: return simple("Relu");
      case Op::Sqrt: return simple("Sqrt");
      case Op::Abs: return simple("Abs");
      case Op::Sign: return simple("Sign");
      case Op::Cast: return cast(s, in[0], n.dtype);
      case Op::HardSigmoid: return emit(s, "HardSigmoid", in, {{"alpha", 0.2F}, {"beta", 0.5F}});
      case Op::Softplus: return simple("Softplus");
      case Op::StopGradient: return simple("Identity");
      case Op::Add: return simple("Add");
      case Op::Sub: return simple("Sub");
      case Op::Mul: return simple("Mul");
      case Op::Div: return simple("Div");
      case Op::Pow: return simple("Pow");
      case Op::Maximum: return simple("Max");
      case Op::Minimum: return simple("Min");
      case Op::Less: return compare("Less");
      case Op::LessEqual: return compare("LessOrEqual");
      case Op::Greater: return compare("Greater");
      case Op::GreaterEqual: return compare("GreaterOrEqual");
      case Op::Equal: return compare("Equal");
      case Op::NotEqual: return cast(s, emit(s, "Not", {emit(s, "Equal", in)}), n.dtype);
      case Op::Select: return emit(s, "Where", {to_bool(s, in[0]), in[1], in[2]});
      case Op::Sum: return emit(s, "ReduceSum", {in[0], ints(n.ints)}, {{"keepdims", int64_t{1}}});
      case Op::Max: return emit(s, "ReduceMax", in, {{"axes", n.ints}, {"keepdims", int64_t{1}}});
      case Op::MatMul: return simple("MatMul");
      case Op::BroadcastTo: {
        // 1 where the operand already has the extent (Expand keeps it): only the sizes it adds are written.
        const Shape& from = n.inputs[0]->shape;
        std::vector<int64_t> to(n.shape);
        const size_t lead = to.size() - from.size();
        for (size_t k = lead; k < to.size(); ++k)
          if (from[k - lead] == to[k]) to[k] = 1;
        return emit(s, "Expand", {in[0], ints(to)});
      }
      case Op::Reshape: return reshape(s, n, in[0]);
      case Op::Transpose: return emit(s, "Transpose", in, {{"perm", n.ints}});
      case Op::Slice: {
        // Only the axes it cuts, so that the others' extents are not written into the graph.
        std::vector<int64_t> starts, ends, axes;
        for (size_t k = 0; k < n.shape.size(); ++k)
          if (n.ints[k] != 0 || n.shape[k] != n.inputs[0]->shape[k] || (k + 1 == n.shape.size() && axes.empty())) {
            starts.push_back(n.ints[k]);
            ends.push_back(n.ints[k] + n.shape[k]);
            axes.push_back(static_cast<int64_t>(k));
          }
        return emit(s, "Slice", {in[0], ints(starts), ints(ends), ints(axes)});
      }
      case Op::Pad: {
        const Shape& from = n.inputs[0]->shape;
        std::vector<int64_t> pads(n.ints);
        for (size_t k = 0; k < from.size(); ++k) pads.push_back(n.shape[k] - from[k] - n.ints[k]);
        return emit(s, "Pad", {in[0], ints(pads)});
      }
      case Op::Concat: return concat(s, in, n.ints[0]);
      case Op::Gather: return simple("Gather");  // axis 0: [idx..., rest of the table]
      case Op::ScatterAdd: {
        // zeros [V, ...] with rows[i] added at idx[i]: ScatterND with reduction "add" (opset 16).
        if (opset_ < 16) unsupported(n, fmt::format("needs opset 16 (ScatterND's reduction), not {}", opset_));
        const std::string zeros = write_node(s, Node{.op = Op::Full, .dtype = n.dtype, .shape = n.shape}, {});
        const std::string idx64 = emit(s, "Cast", {unsqueeze(s, in[0], {n.inputs[0]->rank()})},
                                       {{"to", static_cast<int64_t>(TensorProto::INT64)}});
        return emit(s, "ScatterND", {zeros, idx64, in[1]}, {{"reduction", std::string("add")}});
      }
      case Op::OneHot: {
        // values [off, on] in the result's dtype; the depth a scalar.
        const std::string values = fresh("one_hot_values");
        fill(main_->add_initializer(), values, Tensor::from({0, 1}, {2}, n.dtype));
        const std::string depth = fresh("depth");
        fill(main_->add_initializer(), depth, Tensor::scalar(static_cast<double>(n.shape.back()), DType::i32));
        return emit(s, "OneHot", {in[0], depth, values}, {{"axis", int64_t{-1}}});
      }
      case Op::SequenceMask: return sequence_mask(s, n, in[0], int64(n.shape[0]));
    }
    unsupported(n, "no ONNX form");
  }

  // A reshape whose target depends as little as it can on the sizes traced, so that an open axis
  // stays open: 0 copies the operand's extent at that place and -1 (once) takes what is left. Where
  // more than one extent is new (time and batch merged for a head, split again after it), they are
  // read from a value before it with the same leading extents: Shape(that)[:k] ++ the rest.
  std::string reshape(Scope& s, const Node& n, const std::string& x) {
    const Shape& from = n.inputs[0]->shape;
    std::vector<int64_t> to(n.shape);
    if (numel(from) == 0) return emit(s, "Reshape", {x, ints(to)}, {{"allowzero", int64_t{1}}});
    int free = 0;
    for (size_t k = 0; k < to.size(); ++k)
      if (k < from.size() && to[k] == from[k])
        to[k] = 0;
      else if (free++ == 0)
        to[k] = -1;
    if (free > 1)
      for (auto k = static_cast<std::ptrdiff_t>(n.shape.size()) - 1; k >= 2; --k)
        if (const NodePtr a = with_leading(n.inputs[0], Shape(n.shape.begin(), n.shape.begin() + k), s)) {
          const std::string lead = emit(s, "Slice", {emit(s, "Shape", {value(s, a)}), ints({0}), ints({int64_t(k)})});
          std::vector<int64_t> rest(n.shape.begin() + k, n.shape.end());
          return emit(s, "Reshape", {x, concat(s, {lead, ints(rest)}, 0)});
        }
    return emit(s, "Reshape", {x, ints(to)});
  }
  // A value among x's first few ancestors in scope s whose shape begins with `lead`.
  static NodePtr with_leading(const NodePtr& x, const Shape& lead, const Scope& s) {
    std::vector<NodePtr> queue{x};
    for (size_t i = 0; i < queue.size() && i < 64; ++i) {
      const NodePtr v = queue[i];  // (a copy: the queue grows below)
      if (v->shape.size() >= lead.size() && std::equal(lead.begin(), lead.end(), v->shape.begin()) &&
          s.names.count(v.get()))
        return v;
      if (v->op != Op::Scan)
        for (const NodePtr& u : v->inputs) queue.push_back(u);
    }
    return nullptr;
  }

  // mask[t, b] = t < lengths[b] for t < steps (an int64 scalar): Range(0, steps) as a column against
  // the lengths as a row. (In int64 as Shape gives it: onnxruntime refuses a Range over a Cast of
  // a Shape it folds.)
  std::string sequence_mask(Scope& s, const Node& n, const std::string& lengths, const std::string& steps) {
    const std::string t = cast(s, emit(s, "Range", {int64(0), steps, int64(1)}), DType::i32);
    return cast(s, emit(s, "Less", {unsqueeze(s, t, {1}), unsqueeze(s, lengths, {0})}), n.dtype);
  }

  // A loop as one Scan: inputs the initial carries then the sequences (a loop without sequences
  // scans a [T] placeholder, ONNX's Scan taking its length from them), the invariants read by name.
  void write_scan(Scope& s, const Node& scan) {
    const LoopKey key = loop_key(scan);
    const Loop& loop = *scan.loop;
    if (auto cell = onnx_export::match_cell(loop)) {
      write_cell(s, scan, *cell);
      return;
    }
    // The mask of a loop with lengths counts the steps of the loop's first sequence, so that an open
    // time axis stays open.
    for (int i = loop.carries + 1; i < loop.carries + loop.xs; ++i) {
      const NodePtr& mask = scan.inputs[static_cast<size_t>(i)];
      if (mask->op != Op::SequenceMask || s.names.count(mask.get())) continue;
      const std::string x = value(s, scan.inputs[static_cast<size_t>(loop.carries)]);
      const std::string steps = emit(s, "Squeeze", {emit(s, "Gather", {emit(s, "Shape", {x}), ints({0})}), ints({0})});
      const Located at(loc_, where(mask->loc));
      s.names[mask.get()] = sequence_mask(s, *mask, value(s, mask->inputs[0]), steps);
    }
    std::vector<std::string> bound;
    for (const NodePtr& b : scan.inputs) bound.push_back(value(s, b));

    onnx::NodeProto* p = s.graph->add_node();
    p->set_op_type("Scan");
    p->set_name(fresh("Scan"));
    p->set_doc_string(loc_);
    for (int i = 0; i < loop.carries + loop.xs; ++i) p->add_input(bound[static_cast<size_t>(i)]);
    if (loop.xs == 0)
      p->add_input(write_node(s, Node{.op = Op::Full, .dtype = DType::f32, .shape = {loop.length}}, {}));
    const int scanned = std::max(loop.xs, 1);

    auto* a = p->add_attribute();
    a->set_name("body");
    a->set_type(onnx::AttributeProto::GRAPH);
    Scope body{a->mutable_g(), {}};
    body.graph->set_name(fresh("step"));
    for (int i = 0; i < static_cast<int>(loop.inputs.size()); ++i) {
      const Node& in = *loop.inputs[static_cast<size_t>(i)].node();
      if (i >= loop.carries + loop.xs) {  // an invariant: the enclosing graph's value
        body.names[&in] = bound[static_cast<size_t>(i)];
        continue;
      }
      const std::string name = fresh(i < loop.carries ? "carry" : "x_t");
      set_type(body.graph->add_input(), name, in.dtype, in.shape);
      body.names[&in] = name;
    }
    if (loop.xs == 0) set_type(body.graph->add_input(), fresh("t"), DType::f32, {});
    for (const Var& o : loop.outputs) {
      // Through Identity: an output may be an input, an invariant, or another output's value.
      const std::string name = fresh(body.graph->output_size() < loop.carries ? "next_carry" : "y_t");
      add(body, "Identity", {value(body, o.node())}, name);
      set_type(body.graph->add_output(), name, o.dtype(), o.shape());
    }
    attr(p, {"num_scan_inputs", int64_t{scanned}});
    const int64_t direction = loop.reverse ? 1 : 0;
    attr(p, {"scan_input_directions", std::vector<int64_t>(static_cast<size_t>(scanned), direction)});
    // A reverse loop still stacks y_t at t: ONNX's direction 1 prepends each step's output.
    if (loop.ys() > 0)
      attr(p, {"scan_output_directions", std::vector<int64_t>(static_cast<size_t>(loop.ys()), direction)});

    // One name per output of the loop; the Scan nodes of this loop in the graph each take theirs.
    std::vector<std::string> outs;
    for (size_t k = 0; k < loop.outputs.size(); ++k) {
      outs.push_back(fresh("scan_out"));
      p->add_output(outs.back());
    }
    scans_[key] = outs;
    s.names[&scan] = outs[static_cast<size_t>(scan.ints[0])];
  }

  // A library cell's loop as ONNX's RNN, LSTM or GRU (layout 0, one direction): weights reordered
  // from PyTorch's gate order to ONNX's (LSTM i f g o -> i o f c, GRU r z n -> z r h) by Split and
  // Concat, which runtimes fold once at load; lengths as sequence_lens.
  void write_cell(Scope& s, const Node& scan, const onnx_export::CellMatch& m) {
    using Kind = onnx_export::CellMatch::Kind;
    const Loop& loop = *scan.loop;
    auto outer = [&](const NodePtr& w) {  // the weight's value in the enclosing graph
      for (size_t i = static_cast<size_t>(loop.carries + loop.xs); i < loop.inputs.size(); ++i)
        if (loop.inputs[i].node() == w) return value(s, scan.inputs[i]);
      return value(s, w);  // a constant inside the body
    };
    const std::vector<int64_t> order = m.kind == Kind::Lstm  ? std::vector<int64_t>{0, 3, 1, 2}
                                       : m.kind == Kind::Gru ? std::vector<int64_t>{1, 0, 2}
                                                             : std::vector<int64_t>{0};
    auto reorder = [&](const std::string& w) {
      if (order.size() == 1) return w;
      onnx::NodeProto* split = add(s, "Split", {w}, fresh("gate"));
      split->clear_output();
      std::vector<std::string> parts;
      for (size_t g = 0; g < order.size(); ++g) {
        parts.push_back(fresh("gate"));
        split->add_output(parts.back());
      }
      attr(split, {"axis", int64_t{0}});
      std::vector<std::string> in;
      for (int64_t g : order) in.push_back(parts[static_cast<size_t>(g)]);
      return concat(s, in, 0);
    };
    const std::string W = unsqueeze(s, reorder(outer(m.weight_ih)), {0});
    const std::string R = unsqueeze(s, reorder(outer(m.weight_hh)), {0});
    const std::string B = unsqueeze(s, concat(s, {reorder(outer(m.bias_ih)), reorder(outer(m.bias_hh))}, 0), {0});
    const std::string lengths =
        m.masked ? value(s, scan.inputs[static_cast<size_t>(loop.carries + 1)]->inputs[0]) : std::string();
    std::vector<std::string> in{value(s, scan.inputs[static_cast<size_t>(loop.carries)]), W, R, B, lengths};
    for (int c = 0; c < loop.carries; ++c)
      in.push_back(unsqueeze(s, value(s, scan.inputs[static_cast<size_t>(c)]), {0}));
    const char* op = m.kind == Kind::Lstm ? "LSTM" : m.kind == Kind::Gru ? "GRU" : "RNN";
    onnx::NodeProto* p = add(s, op, in, fresh("Y"));
    const std::string Y = p->output(0);
    std::vector<std::string> finals;
    for (int c = 0; c < loop.carries; ++c) {
      finals.push_back(fresh(c == 0 ? "Y_h" : "Y_c"));
      p->add_output(finals.back());
    }
    attr(p, {"hidden_size", m.hidden});
    attr(p, {"direction", std::string(loop.reverse ? "reverse" : "forward")});
    if (m.kind == Kind::Gru) attr(p, {"linear_before_reset", int64_t{1}});  // PyTorch's GRU
    if (m.kind == Kind::RnnRelu) attr(p, {"activations", std::vector<std::string>{"Relu"}});
    // Y [T, 1, B, H] -> [T, B, H]; Y_h, Y_c [1, B, H] -> [B, H]. The loop's outputs: carries, then y.
    std::vector<std::string> outs;
    for (const std::string& f : finals) outs.push_back(emit(s, "Squeeze", {f, ints({0})}));
    outs.push_back(emit(s, "Squeeze", {Y, ints({1})}));
    scans_[loop_key(scan)] = outs;
    s.names[&scan] = outs[static_cast<size_t>(scan.ints[0])];
  }

  onnx::GraphProto* main_;
  int opset_;
  int counter_ = 0;
  std::unordered_map<const Node*, std::string> literals_;
  std::map<std::vector<int64_t>, std::string> ints_;
  std::map<std::pair<double, DType>, std::string> scalars_;
  std::map<LoopKey, std::vector<std::string>> scans_;  // each loop's output names
  std::string loc_;                                    // the user's line of the node being written
  // Sets loc_ for a node's writing, and puts the enclosing node's back after it.
  struct Located {
    Located(std::string& l, std::string now) : loc(l), saved(std::exchange(l, std::move(now))) {}
    ~Located() { loc = std::move(saved); }
    std::string& loc;
    std::string saved;
  };
};

}  // namespace

namespace {

// The model of f (unchecked); its names and operators into `out`.
onnx::ModelProto model_of(const Function& f, const std::vector<std::string>& names, const std::vector<Tensor>& values,
                          std::size_t params, const std::vector<std::string>& outputs, const OnnxOptions& o,
                          OnnxModel& out) {
  onnx::ModelProto m;
  m.set_ir_version(8);
  m.set_producer_name("rnnc");
  m.set_producer_version(RNNC_VERSION);
  for (const auto& [key, value] : o.metadata) {
    auto* p = m.add_metadata_props();
    p->set_key(key);
    p->set_value(value);
  }
  auto* opset = m.add_opset_import();
  opset->set_domain("");
  opset->set_version(o.opset);
  onnx::GraphProto* g = m.mutable_graph();
  g->set_name(o.name);

  out = OnnxModel{};
  Writer w(g, o.opset);
  Scope main{g, {}};
  for (size_t i = 0; i < f.inputs.size(); ++i) {
    const Node& in = *f.inputs[i].node();
    if (in.dtype == DType::bf16 || in.dtype == DType::i8)
      throw Error(
          fmt::format("rnnc: export_onnx: '{}' is {}; ONNX export takes float32, float64 and int32 values "
                      "(export the float32 model)",
                      names[i], name_of(in.dtype)));
    main.names[&in] = names[i];
    if (i < params) {
      weight(g, names[i], values[i], o.weights);
      out.initializers.push_back(names[i]);
    } else {
      set_type(g->add_input(), names[i], in.dtype, in.shape);
      out.inputs.push_back(names[i]);
    }
  }
  for (size_t k = 0; k < f.outputs.size(); ++k) {
    const Var& v = f.outputs[k];
    const std::string value = w.value(main, v.node());
    onnx::NodeProto* p = g->add_node();
    p->set_op_type("Identity");
    p->set_name(w.fresh("Identity"));
    p->add_input(value);
    p->add_output(outputs[k]);
    set_type(g->add_output(), outputs[k], v.dtype(), v.shape());
    out.outputs.push_back(outputs[k]);
  }
  out.nodes = g->node_size();
  for (const onnx::NodeProto& n : g->node()) ++out.operators[n.op_type()];
  return m;
}

}  // namespace

OnnxModel detail::write_onnx(const Function& f, const Function* wider, const std::vector<std::string>& names,
                             const std::vector<Tensor>& values, std::size_t params,
                             const std::vector<std::string>& outputs, const std::filesystem::path& file,
                             const OnnxOptions& o) {
  if (o.opset < 13 || o.opset > 17)
    throw Error(fmt::format("rnnc: export_onnx: opset {}; rnnc writes opsets 13 to 17", o.opset));
  if (outputs.size() != f.outputs.size())
    throw Error(fmt::format("rnnc: export_onnx: {} output names for {} outputs", outputs.size(), f.outputs.size()));
  OnnxModel out, unused;
  onnx::ModelProto m = model_of(f, names, values, params, outputs, o, out);
  if (wider) {
    onnx::ModelProto w = model_of(*wider, names, values, params, outputs, o, unused);
    onnx_export::open_axes(m, w, o.dynamic_axes);
  }
  try {
    onnx::checker::check_model(m);
    onnx::ShapeInferenceOptions strict(/*check_type=*/true, /*error_mode=*/1, /*data_prop=*/false);
    onnx::shape_inference::InferShapes(m, onnx::OpSchemaRegistry::Instance(), strict);
  } catch (const std::exception& e) {
    throw Error(
        fmt::format("rnnc: export_onnx: ONNX's checker refuses the model (a bug in rnnc's export; please "
                    "report it): {}",
                    e.what()));
  }
  out.text = m.SerializeAsString();
  if (!file.empty()) {
    std::ofstream os(file, std::ios::binary | std::ios::trunc);
    os.write(out.text.data(), static_cast<std::streamsize>(out.text.size()));
    if (!os.flush()) throw Error(fmt::format("rnnc: export_onnx: cannot write '{}'", file.string()));
  }
  return out;
}

}  // namespace rnnc
