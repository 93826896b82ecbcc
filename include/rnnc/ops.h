// The front end: functions and operators over Vars that read like the math.
//
// Shapes are inferred and checked as the graph is built. A mismatch throws rnnc::Error naming the
// op, the shapes and the caller's source line. Binary ops broadcast as NumPy does; a plain number,
// or a constant made by full(), next to a Var takes the Var's dtype. Otherwise operands of one op
// must share a dtype (use cast()).
#pragma once
#include <source_location>
#include <vector>

#include "rnnc/graph.h"

namespace rnnc {

using Loc = std::source_location;
class Leaf;  // tree.h

// An operand of an overloaded operator: a Var or a number, remembering where it was written.
// (Operators cannot take a defaulted source_location, but a converting constructor can.)
struct Operand {
  Operand(const Var& v, Loc loc = Loc::current()) : var(v), loc(loc) {}
  Operand(double c, Loc loc = Loc::current()) : constant(c), is_constant(true), loc(loc) {}
  Operand(const Leaf& leaf, Loc loc = Loc::current());  // a tree's leaf (tree.h)
  Var var;
  double constant = 0;
  bool is_constant = false;
  Loc loc;
};

// ---- leaves
Var input(const Shape& shape, DType dtype = DType::f32, std::string name = "", Loc loc = Loc::current());
Var full(const Shape& shape, double value, DType dtype = DType::f32, Loc loc = Loc::current());
Var zeros_like(const Var& x, Loc loc = Loc::current());
Var ones_like(const Var& x, Loc loc = Loc::current());
Var constant(const Tensor& value, Loc loc = Loc::current());

// ---- elementwise
// One builder per UNARY and BINARY line of ops.def, named as the line names it:
//   Var neg(x), exp, log, tanh, sigmoid, relu, sqrt, abs, sign,
//       hard_sigmoid (Keras': clip(0.2 x + 0.5, 0, 1)), softplus (log(1 + e^x)),
//       stop_gradient (identity forward; blocks the gradient, like jax.lax.stop_gradient, torch .detach())
//   Var add(a, b), sub, mul, div, pow, maximum, minimum,
//       less, less_equal, greater, greater_equal, equal, not_equal (0/1 masks in the operands' dtype)
// Binary operands are Vars or numbers and broadcast together (numpy's rules).
#define UNARY(E, name, dtypes)  Var name(const Var& x, Loc loc = Loc::current());
#define BINARY(E, name, dtypes) Var name(const Operand& a, const Operand& b);
#include "rnnc/ops.def"
Var square(const Var& x, Loc loc = Loc::current());
Var cast(const Var& x, DType dtype, Loc loc = Loc::current());
// cond != 0 ? a : b, broadcasting all three.
Var where(const Operand& cond, const Operand& a, const Operand& b);

Var operator-(const Operand& x);
Var operator+(const Operand& a, const Operand& b);
Var operator-(const Operand& a, const Operand& b);
Var operator*(const Operand& a, const Operand& b);
Var operator/(const Operand& a, const Operand& b);
Var operator<(const Operand& a, const Operand& b);
Var operator<=(const Operand& a, const Operand& b);
Var operator>(const Operand& a, const Operand& b);
Var operator>=(const Operand& a, const Operand& b);

// ---- reductions (axes may be negative; empty axes = all axes)
Var sum(const Var& x, std::vector<int64_t> axes = {}, bool keepdims = false, Loc loc = Loc::current());
Var mean(const Var& x, std::vector<int64_t> axes = {}, bool keepdims = false, Loc loc = Loc::current());
Var max(const Var& x, std::vector<int64_t> axes = {}, bool keepdims = false, Loc loc = Loc::current());
Var min(const Var& x, std::vector<int64_t> axes = {}, bool keepdims = false, Loc loc = Loc::current());

// ---- matrix product: [M,K]x[K,N]; batched [...,M,K]x[...,K,N] with broadcast batch extents;
// a 1-D operand is a row (left) or column (right) vector whose extent is dropped from the result.
Var matmul(const Var& a, const Var& b, Loc loc = Loc::current());

// ---- data movement
Var reshape(const Var& x, Shape shape, Loc loc = Loc::current());  // one extent may be -1
Var transpose(const Var& x, std::vector<int64_t> perm, Loc loc = Loc::current());
Var transpose(const Var& x, Loc loc = Loc::current());  // swaps the last two axes
Var broadcast_to(const Var& x, const Shape& shape, Loc loc = Loc::current());
// Elements [begin, end) along `axis`; negative indices count from the end.
Var slice(const Var& x, int64_t axis, int64_t begin, int64_t end, Loc loc = Loc::current());
// Zero padding: `low` and `high` elements before and after, per axis.
Var pad(const Var& x, std::vector<int64_t> low, std::vector<int64_t> high, Loc loc = Loc::current());
Var concat(const std::vector<Var>& xs, int64_t axis = 0, Loc loc = Loc::current());
std::vector<Var> split(const Var& x, const std::vector<int64_t>& sizes, int64_t axis = 0, Loc loc = Loc::current());
std::vector<Var> chunk(const Var& x, int64_t chunks, int64_t axis = 0, Loc loc = Loc::current());
Var squeeze(const Var& x, int64_t axis, Loc loc = Loc::current());
Var unsqueeze(const Var& x, int64_t axis, Loc loc = Loc::current());

// ---- indexing
// Rows of `table` [V, ...] picked by i32 `indices` [...]: result [indices..., ...] (embedding lookup).
Var gather(const Var& table, const Var& indices, Loc loc = Loc::current());
// The adjoint of gather: zeros of `table_shape` with each row of `updates` added at its index.
Var scatter_add(const Var& indices, const Var& updates, const Shape& table_shape, Loc loc = Loc::current());
// i32 indices [...] -> [..., depth] of 0/1 in `dtype`. Out-of-range indices throw when run.
Var one_hot(const Var& indices, int64_t depth, DType dtype = DType::f32, Loc loc = Loc::current());
// i32 lengths [B] -> [steps, B] of 0/1 in `dtype`: 1 where t < lengths[b] (tf.sequence_mask,
// time-major). A length outside [0, steps] throws when run, naming the row.
Var sequence_mask(const Var& lengths, int64_t steps, DType dtype = DType::f32, Loc loc = Loc::current());

// ---- numerically stable composites (max-subtracted; the max carries no gradient)
Var logsumexp(const Var& x, std::vector<int64_t> axes = {-1}, bool keepdims = false, Loc loc = Loc::current());
Var softmax(const Var& x, int64_t axis = -1, Loc loc = Loc::current());
Var log_softmax(const Var& x, int64_t axis = -1, Loc loc = Loc::current());
// Per-row loss -log softmax(logits)[label]: logits [..., C], i32 labels [...] -> [...].
Var softmax_cross_entropy(const Var& logits, const Var& labels, Loc loc = Loc::current());

}  // namespace rnnc
