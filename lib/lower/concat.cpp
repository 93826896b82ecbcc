// Concats that move nothing: which operands are written by their producers straight into their
// slice of the concat's buffer (plan_concats), and the access of such a slice, seen in the shape
// its producer writes (concat_slice; a reshape without a copy where the strides allow one).
#include <algorithm>
#include <optional>

#include "lower/lowerer.h"

namespace rnnc::lower::detail {

void Lowerer::plan_concats() {
  std::vector<bool> is_output(order_.size(), false);
  for (const Var& o : outputs_) is_output[at(o.node())] = true;
  for (size_t ci = 0; ci < order_.size(); ++ci) {
    const Node& c = *order_[ci];
    if (info_[ci].kind != Kind::Concat) continue;
    const int64_t axis = c.ints[0];
    int64_t lead = 1;
    for (int64_t k = 0; k < axis; ++k) lead *= c.shape[k];
    const bool contiguous_slices = lead == 1;
    int64_t off = 0;
    for (const NodePtr& p : c.inputs) {
      const int64_t here = off;
      off += p->shape[axis];
      if (std::count(c.inputs.begin(), c.inputs.end(), p) != 1) continue;
      int x = at(p);
      bool reshaped = false;
      while (order_[x]->op == Op::Reshape && info_[x].users.size() == 1 && !is_output[x]) {
        x = at(order_[x]->inputs[0]);
        reshaped = true;
      }
      const Info& in = info_[x];
      // Kernels and concats write any strides; GEMMs and library calls contiguous memory. Other
      // consumers of a value read it where it lies: in a strided slice, only those that take
      // strides (kernels, GEMMs with a leading dimension, views, concat copies) may read it.
      const bool writes_strided = in.kind == Kind::Compute || in.kind == Kind::Concat;
      const bool writes_contiguous = in.kind == Kind::Gemm || opaque(in.kind);
      bool users_take_strides = true;
      for (int u : in.users) users_take_strides &= !opaque(info_[u].kind) && info_[u].kind != Kind::Alias;
      if (is_output[x] || info_[x].in_place || (!contiguous_slices && !users_take_strides)) continue;
      if (!(writes_strided && !reshaped) && !((writes_strided || writes_contiguous) && contiguous_slices)) continue;
      info_[x].in_place = ConcatSlot{static_cast<int>(ci), here};
    }
  }
}

const Access& Lowerer::concat_home(int c) {
  Info& in = info_[c];
  if (!in.has_access) store(c);  // its own buffer, or a slice of an enclosing concat
  return in.access;
}

// a's elements seen as `shape` (as many) without moving them, when the strides allow it (as
// numpy's reshape without a copy): each run of old axes that merges or splits into new ones
// must itself be contiguous. Axes of extent 1 take no part.
static std::optional<Access> reshape_view(const Access& a, const Shape& shape) {
  std::vector<int64_t> old_ext, old_str, new_ext;
  for (size_t d = 0; d < a.shape.size(); ++d)
    if (a.shape[d] != 1) {
      old_ext.push_back(a.shape[d]);
      old_str.push_back(a.strides[d]);
    }
  for (int64_t e : shape)
    if (e != 1) new_ext.push_back(e);
  if (std::find(new_ext.begin(), new_ext.end(), 0) != new_ext.end()) return std::nullopt;
  std::vector<int64_t> new_str(new_ext.size(), 1);
  size_t oi = 0, ni = 0;
  while (oi < old_ext.size() && ni < new_ext.size()) {
    size_t oj = oi + 1, nj = ni + 1;
    int64_t op = old_ext[oi], np = new_ext[ni];
    while (op != np) {
      if (np < op) {
        if (nj == new_ext.size()) return std::nullopt;
        np *= new_ext[nj++];
      } else {
        if (oj == old_ext.size()) return std::nullopt;
        op *= old_ext[oj++];
      }
    }
    for (size_t k = oi; k + 1 < oj; ++k)
      if (old_str[k] != old_ext[k + 1] * old_str[k + 1]) return std::nullopt;
    new_str[nj - 1] = old_str[oj - 1];
    for (size_t k = nj - 1; k > ni; --k) new_str[k - 1] = new_str[k] * new_ext[k];
    oi = oj;
    ni = nj;
  }
  if (oi != old_ext.size() || ni != new_ext.size()) return std::nullopt;
  Access v = a;
  v.shape = shape;
  v.strides.assign(shape.size(), 0);
  for (size_t d = 0, k = 0; d < shape.size(); ++d)
    if (shape[d] != 1) v.strides[d] = new_str[k++];
  return v;
}

std::optional<Access> Lowerer::concat_slice(int c, int64_t offset, const Shape& piece, const Shape& shape) {
  Access a = concat_home(c);
  const int64_t axis = order_[c]->ints[0];
  a.offset += offset * a.strides[axis];
  a.shape = piece;
  if (shape == piece) return a;   // strides of the concat
  return reshape_view(a, shape);  // (the slice may itself lie strided in an enclosing concat)
}

}  // namespace rnnc::lower::detail
