// Leaves of trees (tree.h): a host tensor or a Var, and the errors that name a leaf by its path.
#include "rnnc/tree.h"

#include "build.h"

namespace rnnc {

const Tensor& Leaf::tensor() const {
  if (!tensor_.defined())
    throw Error(var_.defined() ? "rnnc: leaf: holds a Var (inside a traced function), not a host tensor"
                               : "rnnc: leaf: empty (never given a tensor)");
  return tensor_;
}
Tensor& Leaf::tensor() { return const_cast<Tensor&>(static_cast<const Leaf&>(*this).tensor()); }

// A host tensor whose elements are all equal becomes full() (which folds and fuses); any other
// becomes a literal.
static Var constant_of(const Tensor& t, Loc loc) {
  const int64_t n = t.numel();
  const double v0 = n ? t.at(0) : 0;
  bool uniform = true;
  for (int64_t i = 1; i < n && uniform; ++i) uniform = t.at(i) == v0;
  return uniform ? full(t.shape(), v0, t.dtype(), loc) : constant(t, loc);
}

Var Leaf::var(Loc loc) const {
  if (var_.defined()) return var_;
  if (tensor_.defined()) return constant_of(tensor_, loc);
  fail("leaf", "an empty leaf used in a computation (never given a tensor)", loc);
}

const Shape& Leaf::shape() const { return var_.defined() ? var_.shape() : tensor().shape(); }
DType Leaf::dtype() const { return var_.defined() ? var_.dtype() : tensor().dtype(); }

Operand::Operand(const Leaf& leaf, Loc loc) : var(leaf.var(loc)), loc(loc) {}

namespace tree {

std::vector<std::string> detail::split_names(const char* names) {
  std::vector<std::string> out(1);
  for (const char* c = names; *c; ++c) {
    if (*c == ',')
      out.emplace_back();
    else if (*c != ' ' && *c != '\t' && *c != '\n')
      out.back() += *c;
  }
  return out;
}

const Tensor& tensor_of(const Leaf& l, const std::string& path) {
  if (!l.is_tensor())
    throw Error(fmt::format("rnnc: tree: leaf '{}' {}", path,
                            l.is_var() ? "holds a Var, not a host tensor" : "is empty (never given a tensor)"));
  return l.tensor();
}
const Tensor& tensor_of(const Tensor& t, const std::string& path) {
  if (!t.defined()) throw Error(fmt::format("rnnc: tree: leaf '{}' is an undefined tensor", path));
  return t;
}
Tensor tensor_of(const Var&, const std::string& path) {
  throw Error(fmt::format("rnnc: tree: leaf '{}' is a Var, not a host tensor", path));
}
Var var_of(const Leaf& l, const std::string& path) {
  if (!l.defined()) throw Error(fmt::format("rnnc: tree: leaf '{}' is empty (never given a tensor)", path));
  return l.var();
}
Var var_of(const Tensor& t, const std::string& path) {
  if (!t.defined()) throw Error(fmt::format("rnnc: tree: leaf '{}' is an undefined tensor", path));
  return Leaf(t).var();
}

}  // namespace tree
}  // namespace rnnc
