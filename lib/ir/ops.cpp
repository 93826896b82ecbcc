// Front end for the primitives: each function checks its operands, infers the result's shape and
// dtype, and interns one node (plus broadcasts). Composites live in composite.cpp.
#include <algorithm>
#include <atomic>
#include <numeric>

#include "build.h"

namespace rnnc {
namespace ir {

Var make(Op op, DType dtype, Shape shape, std::vector<NodePtr> inputs, const Loc& loc, std::vector<int64_t> ints,
         double scalar) {
  // bf16 holds GEMM operands (dtype.h): it is converted, multiplied and moved, never computed with.
  const OpClass cls = info(op).cls;
  if (op != Op::Cast && op != Op::MatMul && op != Op::Scan && cls != OpClass::Movement && cls != OpClass::Broadcast)
    for (const NodePtr& in : inputs)
      if (in->dtype == DType::bf16)
        fail(name_of(op),
             fmt::format("bf16 operand {}: bf16 holds GEMM operands only (cast it to f32 first)", to_string(in->shape)),
             loc);
  Node n{.op = op,
         .dtype = dtype,
         .shape = std::move(shape),
         .inputs = std::move(inputs),
         .ints = std::move(ints),
         .scalar = scalar,
         .loc = loc};
  return Var(intern(std::move(n)));
}

std::string shape_of(const Var& x) {
  if (!x.defined()) return "(undefined)";
  const Node* n = x.node().get();  // through transposes and reshapes to the leaf, if any
  while (n->inputs.size() == 1 && (info(n->op).cls == OpClass::Movement || n->op == Op::BroadcastTo))
    n = n->inputs[0].get();
  const bool named = n->op == Op::Input && !n->name.empty() && n->name.rfind("arg", 0) != 0;
  if (!named) return to_string(x.shape());
  if (n == x.node().get()) return fmt::format("{} ('{}')", to_string(x.shape()), n->name);
  return fmt::format("{} (a view of '{}' {})", to_string(x.shape()), n->name, to_string(n->shape));
}

void require_float(std::string_view op, const Var& x, const Loc& loc) {
  if (!x.defined()) fail(op, "operand is an undefined Var", loc);
  if (!is_float(x.dtype()))
    fail(op, fmt::format("needs a floating-point operand, got {}{}", name_of(x.dtype()), to_string(x.shape())), loc);
}

std::vector<int64_t> normalize_axes(std::string_view op, std::vector<int64_t> axes, const Shape& shape,
                                    const Loc& loc) {
  const int64_t rank = static_cast<int64_t>(shape.size());
  if (axes.empty()) {
    axes.resize(rank);
    std::iota(axes.begin(), axes.end(), 0);
    return axes;
  }
  for (int64_t& a : axes) {
    int n = normalize_axis(a, rank);
    if (n < 0) fail(op, fmt::format("axis {} is out of range for shape {}", a, to_string(shape)), loc);
    a = n;
  }
  std::sort(axes.begin(), axes.end());
  axes.erase(std::unique(axes.begin(), axes.end()), axes.end());
  return axes;
}

}  // namespace ir

using ir::make;

namespace {

Var unary(Op op, const Var& x, const Loc& loc, bool needs_float = true) {
  if (!x.defined()) fail(name_of(op), "operand is an undefined Var", loc);
  if (needs_float) ir::require_float(name_of(op), x, loc);
  return make(op, x.dtype(), x.shape(), {x.node()}, loc);
}

std::pair<Var, Var> align_typed(std::string_view op, const Operand& a, const Operand& b);

// Resolves two operands (Var or number) to Vars of one dtype and one broadcast shape.
std::pair<Var, Var> align(std::string_view op, const Operand& a, const Operand& b) {
  const Loc& loc = a.loc;
  if (a.is_constant && b.is_constant) fail(op, "needs at least one Var operand", loc);
  if ((!a.is_constant && !a.var.defined()) || (!b.is_constant && !b.var.defined()))
    fail(op, "operand is an undefined Var", loc);
  Operand ra = a, rb = b;
  // Constants from full() are weakly typed, like a plain number (and JAX's weak types): next to a
  // Var of another dtype they take its dtype, so full({}, 0.0) works in a model traced in float64.
  auto weak = [](const Operand& o) { return !o.is_constant && o.var.op() == Op::Full; };
  if (!a.is_constant && !b.is_constant && a.var.dtype() != b.var.dtype() && weak(a) != weak(b)) {
    Operand& w = weak(a) ? ra : rb;
    const Var& strong = weak(a) ? b.var : a.var;
    w.var = full(w.var.shape(), w.var->scalar, strong.dtype(), loc);
  }
  return align_typed(op, ra, rb);
}

std::pair<Var, Var> align_typed(std::string_view op, const Operand& a, const Operand& b) {
  const Loc& loc = a.loc;
  const Var& ref = a.is_constant ? b.var : a.var;
  DType dt = ref.dtype();
  if (!a.is_constant && !b.is_constant && a.var.dtype() != b.var.dtype())
    fail(op,
         fmt::format("operands have different dtypes: {}{} and {}{} (use cast())", name_of(a.var.dtype()),
                     to_string(a.var.shape()), name_of(b.var.dtype()), to_string(b.var.shape())),
         loc);
  Shape sa = a.is_constant ? Shape{} : a.var.shape();
  Shape sb = b.is_constant ? Shape{} : b.var.shape();
  Shape out;
  if (!broadcast_shapes(sa, sb, out))
    fail(op, fmt::format("shapes {} and {} cannot be broadcast together", ir::shape_of(a.var), ir::shape_of(b.var)),
         loc);
  auto lift = [&](const Operand& o) {
    return o.is_constant ? full(out, o.constant, dt, loc) : broadcast_to(o.var, out, loc);
  };
  return {lift(a), lift(b)};
}

Var binary(Op op, const Operand& a, const Operand& b, bool needs_float = false) {
  auto [x, y] = align(name_of(op), a, b);
  if (needs_float) ir::require_float(name_of(op), x, a.loc);
  return make(op, x.dtype(), x.shape(), {x.node(), y.node()}, a.loc);
}

}  // namespace

// ---- leaves

Var input(const Shape& shape, DType dtype, std::string name, Loc loc) {
  static std::atomic<int64_t> next_uid{1};
  for (int64_t d : shape)
    if (d < 0) fail("input", fmt::format("negative extent in shape {}", to_string(shape)), loc);
  Node n{.op = Op::Input, .dtype = dtype, .shape = shape, .uid = next_uid++, .name = std::move(name), .loc = loc};
  return Var(intern(std::move(n)));
}

Var full(const Shape& shape, double value, DType dtype, Loc loc) {
  for (int64_t d : shape)
    if (d < 0) fail("full", fmt::format("negative extent in shape {}", to_string(shape)), loc);
  return make(Op::Full, dtype, shape, {}, loc, {}, value);
}

Var constant(const Tensor& value, Loc loc) {
  if (!value.defined()) fail("constant", "the tensor is undefined", loc);
  Node n{.op = Op::Literal,
         .dtype = value.dtype(),
         .shape = value.shape(),
         .literal = std::make_shared<const Tensor>(value.clone()),
         .loc = loc};
  return Var(intern(std::move(n)));
}

// ---- elementwise

#define UNARY(E, name, dtypes) \
  Var name(const Var& x, Loc loc) { return unary(Op::E, x, loc, OpDTypes::dtypes == OpDTypes::Float); }
#include "rnnc/ops.def"

Var cast(const Var& x, DType dtype, Loc loc) {
  if (!x.defined()) fail("cast", "operand is an undefined Var", loc);
  if (x.dtype() == dtype) return x;
  if ((x.dtype() == DType::bf16 && !is_float(dtype)) || (dtype == DType::bf16 && !is_float(x.dtype())))
    fail("cast",
         fmt::format("bf16 converts from and to f32 or f64 only, not {} to {}", name_of(x.dtype()), name_of(dtype)),
         loc);
  return make(Op::Cast, dtype, x.shape(), {x.node()}, loc);
}

#define BINARY(E, name, dtypes) \
  Var name(const Operand& a, const Operand& b) { return binary(Op::E, a, b, OpDTypes::dtypes == OpDTypes::Float); }
#include "rnnc/ops.def"

Var where(const Operand& cond, const Operand& a, const Operand& b) {
  const Loc& loc = cond.loc;
  auto [x, y] = align("select", a, b);
  Var c = cond.is_constant ? full({}, cond.constant, x.dtype(), loc) : cond.var;
  if (!c.defined()) fail("select", "condition is an undefined Var", loc);
  if (c.dtype() != x.dtype()) c = cast(c, x.dtype(), loc);
  Shape out;
  if (!broadcast_shapes(c.shape(), x.shape(), out))
    fail("select",
         fmt::format("condition shape {} and value shape {} cannot be broadcast together", to_string(c.shape()),
                     to_string(x.shape())),
         loc);
  c = broadcast_to(c, out, loc);
  x = broadcast_to(x, out, loc);
  y = broadcast_to(y, out, loc);
  return make(Op::Select, x.dtype(), out, {c.node(), x.node(), y.node()}, loc);
}

Var operator-(const Operand& x) {
  if (x.is_constant) fail("neg", "needs a Var operand", x.loc);
  return neg(x.var, x.loc);
}
Var operator+(const Operand& a, const Operand& b) { return add(a, b); }
Var operator-(const Operand& a, const Operand& b) { return sub(a, b); }
Var operator*(const Operand& a, const Operand& b) { return mul(a, b); }
Var operator/(const Operand& a, const Operand& b) { return div(a, b); }
Var operator<(const Operand& a, const Operand& b) { return less(a, b); }
Var operator<=(const Operand& a, const Operand& b) { return less_equal(a, b); }
Var operator>(const Operand& a, const Operand& b) { return greater(a, b); }
Var operator>=(const Operand& a, const Operand& b) { return greater_equal(a, b); }

// ---- reductions: the primitive keeps reduced axes as extent 1; keepdims=false reshapes them away.

static Var reduce(Op op, const Var& x, std::vector<int64_t> axes, bool keepdims, const Loc& loc) {
  if (!x.defined()) fail(name_of(op), "operand is an undefined Var", loc);
  axes = ir::normalize_axes(name_of(op), std::move(axes), x.shape(), loc);
  if (axes.empty()) return x;  // a 0-d tensor reduced over no axes is itself
  Shape kept = x.shape(), squeezed;
  for (int64_t a : axes) {
    if (x.shape()[a] == 0 && op == Op::Max)
      fail("max", fmt::format("cannot take the max over empty axis {} of shape {}", a, to_string(x.shape())), loc);
    kept[a] = 1;
  }
  for (int i = 0; i < x.rank(); ++i)
    if (!std::binary_search(axes.begin(), axes.end(), i)) squeezed.push_back(x.shape()[i]);
  Var r = make(op, x.dtype(), kept, {x.node()}, loc, axes);
  return keepdims ? r : reshape(r, squeezed, loc);
}

Var sum(const Var& x, std::vector<int64_t> axes, bool keepdims, Loc loc) {
  return reduce(Op::Sum, x, std::move(axes), keepdims, loc);
}
Var max(const Var& x, std::vector<int64_t> axes, bool keepdims, Loc loc) {
  return reduce(Op::Max, x, std::move(axes), keepdims, loc);
}

// ---- matmul

Var matmul(const Var& a0, const Var& b0, Loc loc) {
  if (!a0.defined() || !b0.defined()) fail("matmul", "operand is an undefined Var", loc);
  if (a0.dtype() != b0.dtype())
    fail("matmul",
         fmt::format("operands have different dtypes: {}{} and {}{}", name_of(a0.dtype()), to_string(a0.shape()),
                     name_of(b0.dtype()), to_string(b0.shape())),
         loc);
  if (a0.rank() == 0 || b0.rank() == 0)
    fail("matmul",
         fmt::format("operands must have rank >= 1, got {} and {}", to_string(a0.shape()), to_string(b0.shape())), loc);
  // bf16 operands give an f32 result, summed in float32 (the compiler's bf16 mode).
  const bool bf = a0.dtype() == DType::bf16;
  if (!bf) ir::require_float("matmul", a0, loc);
  // 1-D operands: a row vector on the left, a column vector on the right (NumPy's rule).
  Var a = a0.rank() == 1 ? reshape(a0, {1, a0.shape()[0]}, loc) : a0;
  Var b = b0.rank() == 1 ? reshape(b0, {b0.shape()[0], 1}, loc) : b0;
  const int64_t m = a.shape()[a.rank() - 2], k = a.shape().back();
  const int64_t k2 = b.shape()[b.rank() - 2], n = b.shape().back();
  if (k != k2)
    fail("matmul",
         fmt::format("shapes {} and {} do not chain: inner extents {} and {} differ", ir::shape_of(a0),
                     ir::shape_of(b0), k, k2),
         loc);
  Shape ba(a.shape().begin(), a.shape().end() - 2), bb(b.shape().begin(), b.shape().end() - 2), batch;
  if (!broadcast_shapes(ba, bb, batch))
    fail("matmul",
         fmt::format("batch extents of {} and {} cannot be broadcast together", to_string(a0.shape()),
                     to_string(b0.shape())),
         loc);
  Shape sa = batch, sb = batch, out = batch;
  sa.insert(sa.end(), {m, k});
  sb.insert(sb.end(), {k, n});
  out.insert(out.end(), {m, n});
  Var r = make(Op::MatMul, bf ? DType::f32 : a.dtype(), out,
               {broadcast_to(a, sa, loc).node(), broadcast_to(b, sb, loc).node()}, loc);
  if (a0.rank() == 1 || b0.rank() == 1) {
    Shape s = batch;
    if (a0.rank() != 1) s.push_back(m);
    if (b0.rank() != 1) s.push_back(n);
    r = reshape(r, s, loc);
  }
  return r;
}

// ---- data movement

Var reshape(const Var& x, Shape shape, Loc loc) {
  if (!x.defined()) fail("reshape", "operand is an undefined Var", loc);
  int infer = -1;
  int64_t known = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1 && infer < 0)
      infer = static_cast<int>(i);
    else if (shape[i] < 0)
      fail("reshape", fmt::format("bad target shape {}", to_string(shape)), loc);
    else
      known *= shape[i];
  }
  if (infer >= 0) {
    if (known == 0 || x.numel() % known != 0)
      fail("reshape", fmt::format("cannot reshape {} to {}", to_string(x.shape()), to_string(shape)), loc);
    shape[infer] = x.numel() / known;
  }
  if (numel(shape) != x.numel())
    fail("reshape",
         fmt::format("cannot reshape {} ({} elements) to {} ({} elements)", to_string(x.shape()), x.numel(),
                     to_string(shape), numel(shape)),
         loc);
  if (shape == x.shape()) return x;
  // reshape(reshape(y)) is reshape(y): keeps chains of views from piling up.
  const Var& src = x.op() == Op::Reshape ? Var(x->inputs[0]) : x;
  if (shape == src.shape()) return src;
  return make(Op::Reshape, x.dtype(), shape, {src.node()}, loc);
}

Var transpose(const Var& x, std::vector<int64_t> perm, Loc loc) {
  if (!x.defined()) fail("transpose", "operand is an undefined Var", loc);
  const int r = x.rank();
  std::vector<bool> used(r, false);
  bool ok = static_cast<int>(perm.size()) == r, identity = true;
  for (size_t i = 0; ok && i < perm.size(); ++i) {
    int a = normalize_axis(perm[i], r);
    ok = a >= 0 && !used[a];
    if (ok) used[a] = true, perm[i] = a, identity &= a == static_cast<int>(i);
  }
  if (!ok)
    fail("transpose",
         fmt::format("[{}] is not a permutation of the axes of {}", fmt::join(perm, ", "), to_string(x.shape())), loc);
  if (identity) return x;
  Shape out(r);
  for (int i = 0; i < r; ++i) out[i] = x.shape()[perm[i]];
  return make(Op::Transpose, x.dtype(), out, {x.node()}, loc, perm);
}

Var transpose(const Var& x, Loc loc) {
  if (!x.defined()) fail("transpose", "operand is an undefined Var", loc);
  if (x.rank() < 2)
    fail("transpose", fmt::format("needs rank >= 2 to swap the last two axes, got {}", to_string(x.shape())), loc);
  std::vector<int64_t> perm(x.rank());
  std::iota(perm.begin(), perm.end(), 0);
  std::swap(perm[x.rank() - 1], perm[x.rank() - 2]);
  return transpose(x, perm, loc);
}

Var broadcast_to(const Var& x, const Shape& shape, Loc loc) {
  if (!x.defined()) fail("broadcast_to", "operand is an undefined Var", loc);
  if (x.shape() == shape) return x;
  bool ok = shape.size() >= x.shape().size();
  const size_t lead = ok ? shape.size() - x.shape().size() : 0;
  for (size_t i = 0; ok && i < x.shape().size(); ++i) ok = x.shape()[i] == 1 || x.shape()[i] == shape[lead + i];
  if (!ok) fail("broadcast_to", fmt::format("cannot broadcast {} to {}", to_string(x.shape()), to_string(shape)), loc);
  return make(Op::BroadcastTo, x.dtype(), shape, {x.node()}, loc);
}

Var slice(const Var& x, int64_t axis, int64_t begin, int64_t end, Loc loc) {
  if (!x.defined()) fail("slice", "operand is an undefined Var", loc);
  int a = normalize_axis(axis, x.rank());
  if (a < 0) fail("slice", fmt::format("axis {} is out of range for shape {}", axis, to_string(x.shape())), loc);
  const int64_t n = x.shape()[a];
  int64_t b = begin < 0 ? begin + n : begin, e = end < 0 ? end + n : end;
  if (b < 0 || e > n || b > e)
    fail("slice",
         fmt::format("range [{}, {}) is out of bounds for axis {} of shape {}", begin, end, a, to_string(x.shape())),
         loc);
  if (b == 0 && e == n) return x;
  std::vector<int64_t> begins(x.rank(), 0);
  begins[a] = b;
  Shape out = x.shape();
  out[a] = e - b;
  return make(Op::Slice, x.dtype(), out, {x.node()}, loc, begins);
}

Var pad(const Var& x, std::vector<int64_t> low, std::vector<int64_t> high, Loc loc) {
  if (!x.defined()) fail("pad", "operand is an undefined Var", loc);
  if (low.size() != static_cast<size_t>(x.rank()) || high.size() != low.size())
    fail("pad",
         fmt::format("needs {} low and high widths for shape {}, got {} and {}", x.rank(), to_string(x.shape()),
                     low.size(), high.size()),
         loc);
  Shape out = x.shape();
  bool none = true;
  for (int i = 0; i < x.rank(); ++i) {
    if (low[i] < 0 || high[i] < 0) fail("pad", "widths must be non-negative", loc);
    out[i] += low[i] + high[i];
    none &= low[i] == 0 && high[i] == 0;
  }
  if (none) return x;
  return make(Op::Pad, x.dtype(), out, {x.node()}, loc, low);
}

Var concat(const std::vector<Var>& xs, int64_t axis, Loc loc) {
  if (xs.empty()) fail("concat", "needs at least one operand", loc);
  for (const Var& x : xs)
    if (!x.defined()) fail("concat", "operand is an undefined Var", loc);
  const Var& x0 = xs[0];
  int a = normalize_axis(axis, x0.rank());
  if (a < 0) fail("concat", fmt::format("axis {} is out of range for shape {}", axis, to_string(x0.shape())), loc);
  if (xs.size() == 1) return x0;
  Shape out = x0.shape();
  out[a] = 0;
  std::vector<NodePtr> ins;
  for (const Var& x : xs) {
    bool ok = x.dtype() == x0.dtype() && x.rank() == x0.rank();
    for (int i = 0; ok && i < x.rank(); ++i) ok = i == a || x.shape()[i] == x0.shape()[i];
    if (!ok)
      fail("concat",
           fmt::format("operand {}{} does not match {}{} outside axis {}", name_of(x.dtype()), to_string(x.shape()),
                       name_of(x0.dtype()), to_string(x0.shape()), a),
           loc);
    out[a] += x.shape()[a];
    ins.push_back(x.node());
  }
  return make(Op::Concat, x0.dtype(), out, std::move(ins), loc, {a});
}

// ---- indexing

Var gather(const Var& table, const Var& indices, Loc loc) {
  if (!table.defined() || !indices.defined()) fail("gather", "operand is an undefined Var", loc);
  if (indices.dtype() != DType::i32)
    fail("gather", fmt::format("indices must be i32, got {}{}", name_of(indices.dtype()), to_string(indices.shape())),
         loc);
  if (table.rank() < 1) fail("gather", "the table must have rank >= 1", loc);
  Shape out = indices.shape();
  out.insert(out.end(), table.shape().begin() + 1, table.shape().end());
  return make(Op::Gather, table.dtype(), out, {table.node(), indices.node()}, loc);
}

Var scatter_add(const Var& indices, const Var& updates, const Shape& table_shape, Loc loc) {
  if (!updates.defined() || !indices.defined()) fail("scatter_add", "operand is an undefined Var", loc);
  if (indices.dtype() != DType::i32) fail("scatter_add", "indices must be i32", loc);
  Shape expect = indices.shape();
  if (table_shape.empty()) fail("scatter_add", "the table must have rank >= 1", loc);
  expect.insert(expect.end(), table_shape.begin() + 1, table_shape.end());
  if (updates.shape() != expect)
    fail("scatter_add",
         fmt::format("updates {} do not match indices {} and table {} (expected {})", to_string(updates.shape()),
                     to_string(indices.shape()), to_string(table_shape), to_string(expect)),
         loc);
  return make(Op::ScatterAdd, updates.dtype(), table_shape, {indices.node(), updates.node()}, loc);
}

Var one_hot(const Var& indices, int64_t depth, DType dtype, Loc loc) {
  if (!indices.defined()) fail("one_hot", "operand is an undefined Var", loc);
  if (indices.dtype() != DType::i32) fail("one_hot", "indices must be i32", loc);
  if (depth <= 0) fail("one_hot", fmt::format("depth must be positive, got {}", depth), loc);
  Shape out = indices.shape();
  out.push_back(depth);
  return make(Op::OneHot, dtype, out, {indices.node()}, loc);
}

Var sequence_mask(const Var& lengths, int64_t steps, DType dtype, Loc loc) {
  if (!lengths.defined()) fail("sequence_mask", "lengths is an undefined Var", loc);
  if (lengths.dtype() != DType::i32 || lengths.rank() != 1)
    fail("sequence_mask",
         fmt::format("lengths must be i32 [B], got {}{}", name_of(lengths.dtype()), to_string(lengths.shape())), loc);
  if (steps < 0) fail("sequence_mask", fmt::format("steps must not be negative, got {}", steps), loc);
  return make(Op::SequenceMask, dtype, {steps, lengths.shape()[0]}, {lengths.node()}, loc);
}

}  // namespace rnnc
