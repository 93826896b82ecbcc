// quantize_weights (quantize.h): a pass over a program's steps, its loops' bodies included.
#include "exec/quantize.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <set>
#include <utility>

namespace rnnc::exec {

namespace {

constexpr int64_t kAlign = 64;  // bytes of a VNNI vector: a weight row's padded length

// The literal tensor B reads and the element offset of B[0, 0] in it, or null.
struct Source {
  const Tensor* literal = nullptr;
  int64_t offset = 0;
};

// (q [N, Kp] int8, [2, N] float32: scales, then sums) of B [K, N] read through `at`.
std::pair<Tensor, Tensor> quantize(const Tensor& t, int64_t offset, const Access& b) {
  const int64_t K = b.shape[0], N = b.shape[1], Kp = (K + kAlign - 1) / kAlign * kAlign;
  const float* w = static_cast<const float*>(t.raw()) + offset;
  Tensor q = Tensor::zeros({N, Kp}, DType::i8), sc = Tensor::zeros({2, N}, DType::f32);
  auto* qp = static_cast<int8_t*>(q.raw());
  auto* sp = static_cast<float*>(sc.raw());
  for (int64_t j = 0; j < N; ++j) {
    float amax = 0;
    for (int64_t k = 0; k < K; ++k) amax = std::max(amax, std::fabs(w[k * b.strides[0] + j * b.strides[1]]));
    const float scale = amax > 0 ? amax / 127.0f : 1.0f;
    int32_t sum = 0;
    for (int64_t k = 0; k < K; ++k) {
      const float v = std::nearbyint(w[k * b.strides[0] + j * b.strides[1]] / scale);
      const auto v8 = static_cast<int8_t>(std::clamp(v, -127.0f, 127.0f));
      qp[j * Kp + k] = v8;
      sum += v8;
    }
    sp[j] = scale;
    sp[N + j] = static_cast<float>(sum);  // |sum| <= 127 K: exact in float32 below K = 132,000
  }
  return {q, sc};
}

bool row_major(const Access& a) {
  const int64_t cols = a.shape[1];
  return a.strides[1] == 1 || cols == 1;
}

// Quantizes the GEMMs of s; `outer` and `loop` resolve a body's invariants to the outer literals.
int quantize_schedule(Schedule& s, const Schedule* outer, const LoopStep* loop) {
  int changed = 0;
  for (Step& st : s.steps) {
    if (st.kind == Step::Kind::Loop) {
      if (st.loop->revolve) continue;  // training's recomputation: its loops' pointers stay as they are
      // A copy of the loop and its body: the compiler's schedule may share them with this one.
      st.loop = std::make_shared<LoopStep>(*st.loop);
      st.loop->body = std::make_shared<Schedule>(*st.loop->body);
      changed += quantize_schedule(*st.loop->body, &s, st.loop.get());
      continue;
    }
    if (st.kind != Step::Kind::Gemm) continue;
    GemmStep& g = st.gemm;
    if (g.b.dtype != DType::f32 || g.a.dtype != DType::f32 || g.b.shape.size() != 2 || !row_major(g.a)) continue;
    Source src;
    if (g.b.buf.space == Space::Literal) {
      src = {&s.literals[static_cast<size_t>(g.b.buf.index)], g.b.offset};
    } else if (g.b.buf.space == Space::Input && loop && g.b.buf.index >= loop->carries + loop->xs) {
      const Access& bound = loop->bindings[static_cast<size_t>(g.b.buf.index)];
      if (bound.buf.space == Space::Literal && outer)
        src = {&outer->literals[static_cast<size_t>(bound.buf.index)], bound.offset + g.b.offset};
    }
    if (!src.literal || src.literal->dtype() != DType::f32) continue;
    auto [q, sc] = quantize(*src.literal, src.offset, g.b);
    const int64_t K = g.b.shape[0], N = g.b.shape[1], Kp = q.shape()[1];
    s.literals.push_back(q);
    g.b = Access{{Space::Literal, static_cast<int>(s.literals.size() - 1)}, DType::i8, {K, N}, 0, {1, Kp}};
    s.literals.push_back(sc);
    g.scale = Access{{Space::Literal, static_cast<int>(s.literals.size() - 1)}, DType::f32, {2, N}, 0, {N, 1}};
    ++changed;
  }
  return changed;
}

// f(access) for every access the steps of s (not their loop bodies) make; Sched is Schedule or
// const Schedule.
template <class Sched, class F> void each_access(Sched& s, F&& f) {
  for (auto& st : s.steps) switch (st.kind) {
      case Step::Kind::Kernel:
        for (auto& a : st.kernel.args) f(a);
        break;
      case Step::Kind::Gemm:
        f(st.gemm.a), f(st.gemm.b), f(st.gemm.c);
        if (st.gemm.b.dtype == DType::i8) f(st.gemm.scale);
        break;
      case Step::Kind::Library:
        for (auto& a : st.library.inputs) f(a);
        break;
      case Step::Kind::Loop:
        for (auto& a : st.loop->bindings) f(a);
        break;
    }
}

// Drops the literals of s nothing reads, renumbering the accesses to the others.
void drop_unread(Schedule& s) {
  for (Step& st : s.steps)
    if (st.kind == Step::Kind::Loop) drop_unread(*st.loop->body);
  std::set<int> used;
  each_access(std::as_const(s), [&](const Access& a) {
    if (a.buf.space == Space::Literal) used.insert(a.buf.index);
  });
  std::vector<int> to(s.literals.size(), -1);
  std::vector<Tensor> kept;
  for (int i : used) {
    to[static_cast<size_t>(i)] = static_cast<int>(kept.size());
    kept.push_back(s.literals[static_cast<size_t>(i)]);
  }
  s.literals = std::move(kept);
  each_access(s, [&](Access& a) {
    if (a.buf.space == Space::Literal) a.buf.index = to[static_cast<size_t>(a.buf.index)];
  });
}

}  // namespace

int quantize_weights(Schedule& s) {
  const int changed = quantize_schedule(s, nullptr, nullptr);
  if (changed > 0) drop_unread(s);
  return changed;
}

}  // namespace rnnc::exec
