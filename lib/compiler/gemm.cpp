// GEMM steps, operands mapped in place with their leading dimensions. float32 goes to oneDNN's
// sgemm when libdnnl is there (Debian's libdnnl-dev): measured on this project's shapes with 2
// threads it runs at 1.3-2.6x Eigen's speed ([12x700]x[700x2800]: 357 vs 136 GFLOP/s;
// [128x256]x[256x1024]: 318 vs 199; the merged weight gradient [700x1200]x[1200x2800]: 386 vs 246).
// float64 (for checking) and builds without oneDNN use Eigen, built for this machine's CPU unless
// RNNC_NATIVE=OFF (see CMakeLists.txt).
#include "compiler/gemm.h"

#include <Eigen/Core>
#include <cstring>
#ifdef RNNC_HAVE_DNNL
#include <oneapi/dnnl/dnnl.h>
#endif

namespace rnnc::exec {

namespace {

using sched::Access;

// One matrix of an operand: row-major or column-major with a leading dimension.
template <class T, int Order>
using MatMap = Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Order>, Eigen::Unaligned,
                          Eigen::OuterStride<>>;

struct MatLayout {
  bool row_major;
  int64_t ld;
};

MatLayout layout(const Access& a) {
  const size_t r = a.shape.size();
  const int64_t rows = a.shape[r - 2], cols = a.shape[r - 1], sr = a.strides[r - 2], sc = a.strides[r - 1];
  if ((sc == 1 || cols == 1) && (sr >= cols || rows == 1)) return {true, std::max(sr, cols)};
  return {false, std::max(sc, rows)};
}

template <class T, int OA, int OB>
void gemm_typed(const T* pa, MatLayout la, const T* pb, MatLayout lb, T* pc, int64_t m, int64_t n, int64_t k) {
  using RM = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  MatMap<T, OA> A(pa, m, k, Eigen::OuterStride<>(la.ld));
  MatMap<T, OB> B(pb, k, n, Eigen::OuterStride<>(lb.ld));
  Eigen::Map<RM> C(pc, m, n);
  C.noalias() = A * B;
}

template <class T>
void gemm_one(const T* pa, MatLayout la, const T* pb, MatLayout lb, T* pc, int64_t m, int64_t n, int64_t k) {
  constexpr int R = Eigen::RowMajor, C = Eigen::ColMajor;
  if (la.row_major && lb.row_major) gemm_typed<T, R, R>(pa, la, pb, lb, pc, m, n, k);
  else if (la.row_major) gemm_typed<T, R, C>(pa, la, pb, lb, pc, m, n, k);
  else if (lb.row_major) gemm_typed<T, C, R>(pa, la, pb, lb, pc, m, n, k);
  else gemm_typed<T, C, C>(pa, la, pb, lb, pc, m, n, k);
}

#ifdef RNNC_HAVE_DNNL
// Row-major sgemm: a column-major operand is the transpose of a row-major one with the same ld.
template <>
void gemm_one<float>(const float* pa, MatLayout la, const float* pb, MatLayout lb, float* pc, int64_t m, int64_t n,
                     int64_t k) {
  if (dnnl_sgemm(la.row_major ? 'N' : 'T', lb.row_major ? 'N' : 'T', m, n, k, 1.0f, pa, la.ld, pb, lb.ld, 0.0f, pc,
                 std::max<int64_t>(n, 1)) == dnnl_success)
    return;
  constexpr int R = Eigen::RowMajor, C = Eigen::ColMajor;  // never expected; keep the result right
  if (la.row_major && lb.row_major) gemm_typed<float, R, R>(pa, la, pb, lb, pc, m, n, k);
  else if (la.row_major) gemm_typed<float, R, C>(pa, la, pb, lb, pc, m, n, k);
  else if (lb.row_major) gemm_typed<float, C, R>(pa, la, pb, lb, pc, m, n, k);
  else gemm_typed<float, C, C>(pa, la, pb, lb, pc, m, n, k);
}
#endif

}  // namespace

void run_gemm(const sched::GemmStep& g, std::byte* A, std::byte* B, std::byte* C) {
  const size_t r = g.c.shape.size();
  const int64_t m = g.c.shape[r - 2], n = g.c.shape[r - 1], k = g.a.shape[r - 1];
  const MatLayout la = layout(g.a), lb = layout(g.b);
  const Shape batch(g.c.shape.begin(), g.c.shape.end() - 2);
  const int64_t count = numel(batch);
  const int64_t es = static_cast<int64_t>(size_of(g.c.dtype));
  std::vector<int64_t> idx(batch.size(), 0);
  int64_t oa = 0, ob = 0, oc = 0;  // element offsets of the current batch entry
  for (int64_t i = 0; i < count; ++i) {
    if (k == 0) {
      std::memset(C + oc * es, 0, static_cast<size_t>(m * n * es));
    } else if (g.c.dtype == DType::f32) {
      gemm_one(reinterpret_cast<const float*>(A) + oa, la, reinterpret_cast<const float*>(B) + ob, lb,
               reinterpret_cast<float*>(C) + oc, m, n, k);
    } else {
      gemm_one(reinterpret_cast<const double*>(A) + oa, la, reinterpret_cast<const double*>(B) + ob, lb,
               reinterpret_cast<double*>(C) + oc, m, n, k);
    }
    for (size_t d = batch.size(); d-- > 0;) {  // odometer over the batch axes
      oa += g.a.strides[d];
      ob += g.b.strides[d];
      oc += g.c.strides[d];
      if (++idx[d] < batch[d]) break;
      oa -= g.a.strides[d] * batch[d];
      ob -= g.b.strides[d] * batch[d];
      oc -= g.c.strides[d] * batch[d];
      idx[d] = 0;
    }
  }
}


}  // namespace rnnc::exec
