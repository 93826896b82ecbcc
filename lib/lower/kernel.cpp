#include "lower/kernel.h"

#include <fmt/format.h>

#include <algorithm>

#include "ir/math.h"

namespace rnnc::lower {

std::string KernelDesc::key() const {
  std::string k = "d";
  for (int64_t e : domain) k += fmt::format(",{}", e);
  for (const KernelArg& a : args) {
    k += fmt::format("|a{}{}", static_cast<int>(a.dtype), a.row_local ? "r" : "");
    for (int64_t s : a.strides) k += fmt::format(",{}", s);
  }
  for (const Instr& i : code)
    k +=
        fmt::format("|{},{},{},{},{},{},{:a}", name_of(i.op), static_cast<int>(i.dtype), i.a, i.b, i.c, i.arg, i.value);
  for (const Store& s : stores) k += fmt::format("|s{},{},{}", s.value, s.arg, name_of(s.reduce));
  if (steps) k += "|steps";
  return k;
}

void KernelDesc::collapse() {
  // Drop extent-1 axes: they contribute nothing to any address.
  Shape d;
  std::vector<std::vector<int64_t>> st(args.size());
  for (size_t k = 0; k < domain.size(); ++k) {
    if (domain[k] == 1) continue;
    d.push_back(domain[k]);
    for (size_t a = 0; a < args.size(); ++a) st[a].push_back(args[a].strides[k]);
  }
  // Merge axis k into k+1 when every argument steps over axis k exactly as one pass over k+1
  // (stride_k == stride_{k+1} * extent_{k+1}); broadcasts (stride 0 on both) merge too.
  for (size_t k = d.size(); k-- > 1;) {
    bool ok = true;
    for (size_t a = 0; a < args.size() && ok; ++a) ok = st[a][k - 1] == st[a][k] * d[k];
    if (!ok) continue;
    d[k - 1] *= d[k];
    d.erase(d.begin() + static_cast<std::ptrdiff_t>(k));
    for (auto& s : st) {
      s[k - 1] = s[k];
      s.erase(s.begin() + static_cast<std::ptrdiff_t>(k));
    }
  }
  if (d.empty()) {  // a single point
    d.push_back(1);
    for (auto& s : st) s.push_back(0);
  }
  domain = d;
  for (size_t a = 0; a < args.size(); ++a) args[a].strides = st[a];
}

KernelDesc::Passes KernelDesc::passes() const {
  Passes p;
  p.of_instr.assign(code.size(), 0);
  for (size_t i = 0; i < code.size(); ++i) {
    const Instr& in = code[i];
    int& q = p.of_instr[i];
    if (in.op == Op::Sum || in.op == Op::Max) q = p.of_instr[static_cast<size_t>(stores[in.arg].value)] + 1;
    for (int o : {in.a, in.b, in.c})
      if (o >= 0) q = std::max(q, p.of_instr[static_cast<size_t>(o)]);
  }
  for (const Store& s : stores) {
    p.of_store.push_back(p.of_instr[static_cast<size_t>(s.value)]);
    p.count = std::max(p.count, p.of_store.back() + 1);
  }
  return p;
}

KernelDesc::Rows KernelDesc::rows() const {
  Rows r;
  r.instr.assign(code.size(), false);
  r.store.assign(stores.size(), false);
  r.kept.assign(code.size(), -1);
  if (passes().count == 1) return r;
  const size_t inner = domain.size() - 1;
  for (size_t i = 0; i < code.size(); ++i) {
    const Instr& in = code[i];
    bool row = in.op != Op::Input || args[in.arg].strides[inner] == 0;
    for (int o : {in.a, in.b, in.c}) row = row && (o < 0 || r.instr[o]);
    r.instr[i] = row;
  }
  for (size_t k = 0; k < stores.size(); ++k) {
    const Store& st = stores[k];
    r.store[k] = st.reduce == Op::Input && r.instr[st.value] && args[st.arg].strides[inner] == 0;
    if (st.reduce == Op::Input && !r.store[k] && r.kept[st.value] < 0 && code[st.value].dtype == args[st.arg].dtype)
      r.kept[st.value] = static_cast<int>(k);
  }
  return r;
}

bool KernelDesc::splittable() const {
  if (domain.empty() || domain[0] < 2) return false;
  for (const Store& s : stores)
    if (s.reduce != Op::Input && args[s.arg].strides[0] == 0) return false;
  return true;
}

bool KernelDesc::writes_row_total(const Store& s) const {
  if (s.reduce == Op::Input || domain.size() < 2) return false;
  const std::vector<int64_t>& st = args[static_cast<size_t>(s.arg)].strides;
  return st.back() == 0 && std::find(st.begin(), st.end() - 1, 0) == st.end() - 1;
}

void KernelDesc::block_columns(int64_t min_elements) {
  if (domain.size() < 2 || splittable() || numel(domain) < min_elements) return;
  for (const Store& s : stores)
    if (s.reduce != Op::Input && args[s.arg].strides.back() == 0) return;
  // Blocks of whole vectors (16 floats), at most 256 wide, at least 4 of them (2800 -> 25 x 112).
  const int64_t n = domain.back();
  int64_t w = 0;
  for (int64_t c = 256; c >= 16 && !w; c -= 16)
    if (n % c == 0 && n / c >= 4) w = c;
  if (!w) return;
  domain.back() = w;
  domain.insert(domain.begin(), n / w);
  for (KernelArg& a : args) a.strides.insert(a.strides.begin(), a.strides.back() * w);
}

bool supports(Op op, DType dtype) {
  switch (op) {
    case Op::Input:
    case Op::Full:
    case Op::Cast:
    case Op::Sum:
    case Op::Max: return true;
    default: return math::computes(op, dtype);
  }
}

}  // namespace rnnc::lower
