// GEMM steps, operands mapped in place with their leading dimensions. float32 goes to oneDNN's
// sgemm when libdnnl is there (Debian's libdnnl-dev), faster than Eigen on this project's shapes
// (docs/performance.md). float64 (for checking) and builds without oneDNN use Eigen, built for this
// machine's CPU unless RNNC_NATIVE=OFF (see CMakeLists.txt). bf16 operands (the compiler's bf16
// mode) go to oneDNN's matmul primitive, which sums in float32 into a float32 C: faster than
// sgemm on a CPU with avx512_bf16. Its primitives are made once per shape and layout and
// kept (per thread). Without oneDNN, bf16 operands are widened to float32 for Eigen.
//
// Threads: a large GEMM is cut into blocks of C's columns (or rows, when C is taller than wide) and
// the blocks go to the thread pool (thread_pool.h); each block is one single-threaded call. How a
// GEMM is cut depends on its shape only, never on the thread count, so every thread count computes
// the same sums in the same order and the results are bit-identical. oneDNN's own threads
// (OpenMP) are not used: they spin for a core that another process may hold.
#define EIGEN_DONT_PARALLELIZE
#include "exec/gemm.h"

#include <Eigen/Core>
#include <algorithm>
#include <chrono>
#include <memory>
#include <mutex>
#include <new>
#include <cstring>
#include <type_traits>
#include <vector>
#ifdef RNNC_HAVE_DNNL
#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl.hpp>
#include <omp.h>

#include <map>
#include <tuple>
#endif

#include "exec/gemv.h"
#include "exec/thread_pool.h"

namespace rnnc::exec {

namespace {

// One matrix of an operand: row-major or column-major with a leading dimension.
template <class T, int Order> using MatMap =
    Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Order>, Eigen::Unaligned, Eigen::OuterStride<>>;

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

template <class T, int OA, int OB> void gemm_typed(const T* pa, MatLayout la, const T* pb, MatLayout lb, T* pc,
                                                   int64_t ldc, int64_t m, int64_t n, int64_t k) {
  using RM = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  MatMap<T, OA> A(pa, m, k, Eigen::OuterStride<>(la.ld));
  MatMap<T, OB> B(pb, k, n, Eigen::OuterStride<>(lb.ld));
  Eigen::Map<RM, Eigen::Unaligned, Eigen::OuterStride<>> C(pc, m, n, Eigen::OuterStride<>(ldc));
  C.noalias() = A * B;
}

template <class T> void gemm_eigen(const T* pa, MatLayout la, const T* pb, MatLayout lb, T* pc, int64_t ldc, int64_t m,
                                   int64_t n, int64_t k) {
  constexpr int R = Eigen::RowMajor, C = Eigen::ColMajor;
  if (la.row_major && lb.row_major)
    gemm_typed<T, R, R>(pa, la, pb, lb, pc, ldc, m, n, k);
  else if (la.row_major)
    gemm_typed<T, R, C>(pa, la, pb, lb, pc, ldc, m, n, k);
  else if (lb.row_major)
    gemm_typed<T, C, R>(pa, la, pb, lb, pc, ldc, m, n, k);
  else
    gemm_typed<T, C, C>(pa, la, pb, lb, pc, ldc, m, n, k);
}

#ifdef RNNC_HAVE_DNNL
// oneDNN threads through OpenMP with the calling thread's OpenMP thread count: one, set once per
// thread, so that each call runs on the thread that makes it (gemm_blocks shares the work out).
void one_openmp_thread() {
  static thread_local const bool once = (omp_set_num_threads(1), true);
  (void)once;
}
#endif

// Whether C = A B goes to gemv.h's kernels: one row of A against a B whose columns are contiguous
// (a weight W [n, k] in PyTorch's layout, B = W^T: gemv, a sampling step's product) or whose rows
// are (gemv_rows, float32 only: a batch-1 recurrent step's). From 2 rows up, with W in cache, sgemm
// is the faster (docs/performance.md). Their sums do not depend on which columns a block holds (gemm_blocks).
template <class T> bool own_kernel(int64_t m, MatLayout la, MatLayout lb) {
  if (m != 1 || !la.row_major) return false;
#if defined(__AVX512F__)
  if constexpr (std::is_same_v<T, float>) return true;
#endif
#if defined(__AVX512F__) && defined(__AVX512BF16__)
  if constexpr (std::is_same_v<T, bf16>) return !lb.row_major;
#endif
  (void)lb;
  return false;
}

// One single-threaded GEMM: C (m x n, row-major, leading dimension ldc) = A B.
template <class T> void gemm_one(const T* pa, MatLayout la, const T* pb, MatLayout lb, T* pc, int64_t ldc, int64_t m,
                                 int64_t n, int64_t k) {
  if constexpr (std::is_same_v<T, float>)
    if (own_kernel<T>(m, la, lb) &&
        (lb.row_major ? gemv_rows(pa, pb, lb.ld, pc, n, k) : gemv(pa, la.ld, pb, lb.ld, pc, ldc, m, n, k)))
      return;
#ifdef RNNC_HAVE_DNNL
  if constexpr (std::is_same_v<T, float>) {
    // Row-major sgemm: a column-major operand is the transpose of a row-major one with the same ld.
    one_openmp_thread();
    const dnnl_status_t ok = dnnl_sgemm(la.row_major ? 'N' : 'T', lb.row_major ? 'N' : 'T', m, n, k, 1.0f, pa, la.ld,
                                        pb, lb.ld, 0.0f, pc, ldc);
    if (ok == dnnl_success) return;  // else (never expected) Eigen keeps the result right
  }
#endif
  gemm_eigen(pa, la, pb, lb, pc, ldc, m, n, k);
}

// bf16 A and B, float32 C.
void gemm_one(const bf16* pa, MatLayout la, const bf16* pb, MatLayout lb, float* pc, int64_t ldc, int64_t m, int64_t n,
              int64_t k) {
  if (own_kernel<bf16>(m, la, lb) && gemv(pa, la.ld, pb, lb.ld, pc, ldc, m, n, k)) return;
#ifdef RNNC_HAVE_DNNL
  one_openmp_thread();
  using dnnl::memory;
  static thread_local dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  static thread_local dnnl::stream stream(engine);
  using Key = std::tuple<int64_t, int64_t, int64_t, bool, int64_t, bool, int64_t, int64_t>;
  struct Prim {
    memory A, B, C;  // pointed at each call's operands (set_data_handle): nothing made per call
    dnnl::matmul mm;
  };
  static thread_local std::map<Key, Prim> made;
  const Key key{m, n, k, la.row_major, la.ld, lb.row_major, lb.ld, ldc};
  auto it = made.find(key);
  if (it == made.end()) {
    auto strides = [](bool row_major, int64_t ld) { return row_major ? memory::dims{ld, 1} : memory::dims{1, ld}; };
    memory::desc a({m, k}, memory::data_type::bf16, strides(la.row_major, la.ld));
    memory::desc b({k, n}, memory::data_type::bf16, strides(lb.row_major, lb.ld));
    memory::desc c({m, n}, memory::data_type::f32, memory::dims{ldc, 1});
    dnnl::matmul mm(dnnl::matmul::primitive_desc(dnnl::matmul::desc(a, b, c), engine));
    it = made.emplace(key, Prim{memory(a, engine, nullptr), memory(b, engine, nullptr), memory(c, engine, nullptr),
                                std::move(mm)})
             .first;
  }
  Prim& p = it->second;
  p.A.set_data_handle(const_cast<bf16*>(pa));
  p.B.set_data_handle(const_cast<bf16*>(pb));
  p.C.set_data_handle(pc);
  p.mm.execute(stream, {{DNNL_ARG_SRC, p.A}, {DNNL_ARG_WEIGHTS, p.B}, {DNNL_ARG_DST, p.C}});
  stream.wait();
#else
  // Widened to float32 (exact), multiplied by Eigen.
  auto widen = [](const bf16* p, MatLayout l, int64_t rows, int64_t cols) {
    std::vector<float> w(static_cast<size_t>(rows * cols));
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < cols; ++c) w[r * cols + c] = l.row_major ? p[r * l.ld + c] : p[c * l.ld + r];
    return w;
  };
  const std::vector<float> a = widen(pa, la, m, k), b = widen(pb, lb, k, n);
  gemm_eigen(a.data(), MatLayout{true, std::max<int64_t>(k, 1)}, b.data(), MatLayout{true, std::max<int64_t>(n, 1)}, pc,
             ldc, m, n, k);
#endif
}

// GEMMs with fewer multiply-adds than this run as one call: below it, sharing out costs more than
// it saves.
constexpr int64_t kParallelMacs = int64_t{1} << 18;
// Blocks are at least this many columns (or rows), half as many only where that is what makes two
// blocks, and at most kMaxBlocks, an even count: enough for a thread that loses its
// core to leave blocks to the others, few enough that each block is still a good GEMM (narrow
// blocks made sgemm slower: docs/performance.md).
constexpr int64_t kMinBlock = 128;
constexpr int64_t kMaxBlocks = 8;

// C = A B, cut into blocks of C's columns (or rows) shared among `threads`.
template <class T, class TC> void gemm_blocks(const T* pa, MatLayout la, const T* pb, MatLayout lb, TC* pc, int64_t m,
                                              int64_t n, int64_t k, int threads) {
  const int64_t ldc = std::max<int64_t>(n, 1);
  const bool by_columns = n >= m;
  const int64_t extent = by_columns ? n : m;
  // Not a function of `threads`: sgemm's sums depend on a block's width, and the bits must not.
  int64_t blocks = 1;
  if (m * n * k >= kParallelMacs) {
    blocks = std::clamp<int64_t>(extent / kMinBlock, std::clamp<int64_t>(extent / (kMinBlock / 2), 1, 2), kMaxBlocks);
    if (blocks > 2) blocks -= blocks % 2;  // as many blocks for each of two threads
    // One block a thread for gemv.h, whatever the thread count: each block claimed costs a cache
    // line passed between cores, and one row streaming its weight is over in a few microseconds.
    if (own_kernel<T>(m, la, lb)) blocks = std::clamp<int64_t>(extent / 16, 1, std::max(threads, 1));
  }
  if (blocks == 1) return gemm_one(pa, la, pb, lb, pc, ldc, m, n, k);
  // Column blocks start on multiples of 16 floats (a cache line of C); row blocks anywhere.
  const int64_t align = by_columns ? 16 : 1;
  // gemv.h's blocks go to the same thread at every call, so each core keeps its share of W cached.
  const Sharing sharing = own_kernel<T>(m, la, lb) ? Sharing::ByThread : Sharing::Claimed;
  parallel_for(
      threads, blocks,
      [&](int64_t i) {
        const int64_t b = chunk_begin(extent, blocks, i, align), e = chunk_begin(extent, blocks, i + 1, align);
        if (b == e) return;
        if (by_columns)  // B's columns b..e: offset b in a row-major B, b rows of ld in a column-major one
          gemm_one(pa, la, pb + (lb.row_major ? b : b * lb.ld), lb, pc + b, ldc, m, e - b, k);
        else
          gemm_one(pa + (la.row_major ? b * la.ld : b), la, pb, lb, pc + b * ldc, ldc, e - b, n, k);
      },
      sharing);
}

}  // namespace

void run_gemm(const GemmStep& g, std::byte* A, std::byte* B, std::byte* C, const std::byte* scale, int threads) {
  const size_t r = g.c.shape.size();
  const int64_t m = g.c.shape[r - 2], n = g.c.shape[r - 1], k = g.a.shape[r - 1];
  const MatLayout la = layout(g.a);
  if (g.b.dtype == DType::i8) {  // 2-D, B column-major with ld a multiple of 64 (quantize.cpp)
    const auto* s = reinterpret_cast<const float*>(scale);
    return gemm_q8(reinterpret_cast<const float*>(A), la.ld, reinterpret_cast<const int8_t*>(B), g.b.strides[1], s,
                   s + n, reinterpret_cast<float*>(C), std::max<int64_t>(n, 1), m, n, k, threads);
  }
  const MatLayout lb = layout(g.b);
  const Shape batch(g.c.shape.begin(), g.c.shape.end() - 2);
  const int64_t count = numel(batch);
  const int64_t es = static_cast<int64_t>(size_of(g.c.dtype));
  std::vector<int64_t> idx(batch.size(), 0);
  int64_t oa = 0, ob = 0, oc = 0;  // element offsets of the current batch entry
  for (int64_t i = 0; i < count; ++i) {
    if (k == 0) {
      std::memset(C + oc * es, 0, static_cast<size_t>(m * n * es));
    } else if (g.a.dtype == DType::bf16) {
      gemm_blocks(reinterpret_cast<const bf16*>(A) + oa, la, reinterpret_cast<const bf16*>(B) + ob, lb,
                  reinterpret_cast<float*>(C) + oc, m, n, k, threads);
    } else if (g.c.dtype == DType::f32) {
      gemm_blocks(reinterpret_cast<const float*>(A) + oa, la, reinterpret_cast<const float*>(B) + ob, lb,
                  reinterpret_cast<float*>(C) + oc, m, n, k, threads);
    } else {
      gemm_blocks(reinterpret_cast<const double*>(A) + oa, la, reinterpret_cast<const double*>(B) + ob, lb,
                  reinterpret_cast<double*>(C) + oc, m, n, k, threads);
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

const char* gemm_library() {
#ifdef RNNC_HAVE_DNNL
  return "oneDNN sgemm (small M: rnnc's own GEMV)";
#else
  return "Eigen (small M: rnnc's own GEMV)";
#endif
}

// The probes below time one GEMM two ways on one thread, once per process (and shape).
namespace {

Access probe_access(DType t, Shape shape, std::vector<int64_t> strides) {
  Access x;
  x.dtype = t, x.shape = std::move(shape), x.strides = std::move(strides);
  return x;
}

// 64-byte aligned, as the arena's buffers are, and filled with small finite values as float32 and
// as bfloat16 alike.
std::shared_ptr<std::byte[]> probe_buffer(int64_t bytes) {
  auto* p = static_cast<std::byte*>(::operator new[](static_cast<size_t>(bytes), std::align_val_t{64}));
  for (int64_t i = 0; i < bytes; ++i) p[i] = std::byte(i % 7 + 60);
  return std::shared_ptr<std::byte[]>(p, [](std::byte* q) { ::operator delete[](q, std::align_val_t{64}); });
}

// A GEMM [m, k] x [k, n] with B as W^T of a weight W [n, k] (column-major), or row-major (the
// weight transposed once beforehand).
GemmStep probe_gemm(DType t, int64_t m, int64_t k, int64_t n, bool b_row_major) {
  GemmStep g;
  g.a = probe_access(t, {m, k}, {k, 1});
  g.b = b_row_major ? probe_access(t, {k, n}, {n, 1}) : probe_access(t, {k, n}, {1, k});
  g.c = probe_access(DType::f32, {m, n}, {n, 1});
  return g;
}

// Seconds of the fastest of five calls of g on fresh operands (after a first, which makes oneDNN's
// primitive and faults the memory in).
double fastest_call(const GemmStep& g) {
  const int64_t m = g.a.shape[0], k = g.a.shape[1], n = g.b.shape[1];
  const auto a = probe_buffer(m * k * size_of(g.a.dtype));
  const auto b = probe_buffer(k * n * size_of(g.b.dtype));
  const auto c = probe_buffer(m * n * size_of(g.c.dtype));
  double fastest = 1e30;
  for (int r = 0; r < 6; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    run_gemm(g, a.get(), b.get(), c.get(), nullptr, 1);
    const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (r > 0) fastest = std::min(fastest, sec);
  }
  return fastest;
}

}  // namespace

std::array<int64_t, 3> transposed_copy_probe(int64_t m, int64_t k, int64_t n) {
  // A GEMM under 2 MFLOP takes a few microseconds, too few to time apart from a VM's noise (the
  // more so beside other processes), and a decision that flipped from process to process would
  // compile different programs from the same model: it reads its weight in place (1.0, no copy).
  // Those over 256 MFLOP, too long to time, follow a recurrent layer's shape.
  m = std::clamp<int64_t>(m, 1, 128);
  const double flops = 2.0 * static_cast<double>(m) * static_cast<double>(k) * static_cast<double>(n);
  if (flops < 2e6) return {0, 0, 0};
  if (flops > 256e6) return {128, 256, 1024};
  return {m, k, n};
}

double transposed_copy_speedup(int64_t m, int64_t k, int64_t n) {
  const auto probe = transposed_copy_probe(m, k, n);
  if (probe[0] == 0) return 1.0;
  std::tie(m, k, n) = std::tuple{probe[0], probe[1], probe[2]};
  static std::mutex mu;
  static std::map<std::tuple<int64_t, int64_t, int64_t>, double> measured;
  std::lock_guard lock(mu);
  auto [it, fresh] = measured.try_emplace({m, k, n}, 0.0);
  if (fresh)
    it->second =
        fastest_call(probe_gemm(DType::f32, m, k, n, false)) / fastest_call(probe_gemm(DType::f32, m, k, n, true));
  return it->second;
}

double bf16_gemm_speedup() {
  static const double speedup = fastest_call(probe_gemm(DType::f32, 128, 256, 1024, false)) /
                                fastest_call(probe_gemm(DType::bf16, 128, 256, 1024, false));
  return speedup;
}

}  // namespace rnnc::exec
