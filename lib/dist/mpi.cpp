// The distributed layer over MPI (dist.h). MPI is initialised on first use, and only under a
// launcher (mpirun sets OMPI_COMM_WORLD_SIZE, other launchers PMI_SIZE or PMIX_RANK); a plain
// process is rank 0 of 1 and never touches MPI. Errors come back as codes (MPI_ERRORS_RETURN) and
// become Errors naming the call and the rank.
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include <fmt/format.h>

#include "rnnc/dist.h"
#include "rnnc/error.h"
#include "dist/world.h"

namespace rnnc::dist {

namespace detail {

namespace {
bool launched() { return std::getenv("OMPI_COMM_WORLD_SIZE") || std::getenv("PMI_SIZE") || std::getenv("PMIX_RANK"); }

}  // namespace

const World& world() {
  static World w;
  static std::once_flag once;
  std::call_once(once, [] {
    if (!launched()) return;
    int ready = 0;
    MPI_Initialized(&ready);
    if (!ready) {
      int provided = 0;
      // Only the thread that calls rnnc's dist functions uses MPI; the thread pool never does.
      if (MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
        throw Error("rnnc: dist: MPI_Init_thread failed");
      std::atexit([] {
        int done = 0;
        MPI_Finalized(&done);
        if (!done) MPI_Finalize();
      });
    }
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &w.rank);
    MPI_Comm_size(MPI_COMM_WORLD, &w.size);
    w.mpi = true;
  });
  return w;
}

void check(int code, const char* call) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int n = 0;
  MPI_Error_string(code, text, &n);
  throw Error(fmt::format("rnnc: dist: {} failed on rank {}: {}", call, world().rank,
                          std::string(text, static_cast<size_t>(n))));
}

uint64_t hash(const void* p, size_t n, uint64_t h) {
  const auto* b = static_cast<const unsigned char*>(p);
  for (size_t i = 0; i < n; ++i) h = (h ^ b[i]) * 1099511628211ull;
  return h;
}

std::vector<uint64_t> gather_all(uint64_t v) {
  std::vector<uint64_t> all(static_cast<size_t>(world().size));
  check(MPI_Allgather(&v, 1, MPI_UINT64_T, all.data(), 1, MPI_UINT64_T, MPI_COMM_WORLD), "MPI_Allgather");
  return all;
}

std::string differing(const std::vector<uint64_t>& all) {
  std::string s;
  for (size_t r = 1; r < all.size(); ++r)
    if (all[r] != all[0]) s += (s.empty() ? "" : ", ") + std::to_string(r);
  return s;
}

void check_layout(const std::vector<Tensor>& ts, const char* who) {
  uint64_t h = hash(nullptr, 0);
  for (const Tensor& t : ts) {
    const int d = t.defined() ? static_cast<int>(t.dtype()) : -1;
    h = hash(&d, sizeof d, h);
    if (t.defined())
      for (int64_t e : t.shape()) h = hash(&e, sizeof e, h);
    h = hash("|", 1, h);
  }
  const std::vector<uint64_t> all = gather_all(h);
  const std::string bad = differing(all);
  if (!bad.empty())
    throw Error(
        fmt::format("rnnc: dist: {}: rank(s) {} pass other leaves (count, shapes or dtypes) than rank 0 "
                    "({} leaves here, on rank {})",
                    who, bad, ts.size(), world().rank));
}

void copy_scaled(void* to, const void* from, int64_t bytes, DType dt, double scale) {
  if (dt == DType::f32) {
    const float* src = static_cast<const float*>(from);
    float* dst = static_cast<float*>(to);
    for (int64_t e = 0; e < bytes / 4; ++e) dst[e] = static_cast<float>(src[e] * scale);
  } else {
    const double* src = static_cast<const double*>(from);
    double* dst = static_cast<double*>(to);
    for (int64_t e = 0; e < bytes / 8; ++e) dst[e] = src[e] * scale;
  }
}

MPI_Datatype mpi_type(DType t) {
  switch (t) {
    case DType::f32: return MPI_FLOAT;
    case DType::f64: return MPI_DOUBLE;
    case DType::i32: return MPI_INT32_T;
    case DType::bf16: return MPI_UINT16_T;  // moved, never summed (gradients are f32 or f64)
    case DType::i8: return MPI_INT8_T;
  }
  return MPI_BYTE;
}

}  // namespace detail

using namespace detail;

bool built_with_mpi() { return true; }
int rank() { return world().rank; }
int size() { return world().size; }

ReduceStats allreduce_mean(std::vector<Tensor>& tensors, int64_t bucket_bytes) {
  ReduceStats st;
  if (size() == 1) return st;
  const auto t0 = std::chrono::steady_clock::now();
  check_layout(tensors, "allreduce_mean");
  // One buffer for every call: a fresh one would fault its pages in again each step, slow in a VM
  // (docs/distributed.md).
  static std::vector<std::byte> bucket;
  const double scale = 1.0 / size();
  // The float tensors of a run of one dtype, end to end, cut into buckets of bucket_bytes (a large
  // tensor spans several): every rank cuts the same way, so the buckets match.
  for (size_t i = 0; i < tensors.size();) {
    if (!tensors[i].defined() || !is_float(tensors[i].dtype())) {
      ++i;
      continue;
    }
    const DType dt = tensors[i].dtype();
    const int64_t elem = static_cast<int64_t>(size_of(dt));
    const int64_t cap = std::max<int64_t>(elem, bucket_bytes / elem * elem);
    size_t j = i;
    int64_t total = 0;
    while (j < tensors.size() && tensors[j].defined() && tensors[j].dtype() == dt)
      total += static_cast<int64_t>(tensors[j++].nbytes());
    if (static_cast<int64_t>(bucket.size()) < std::min(total, cap))
      bucket.resize(static_cast<size_t>(std::min(total, cap)));
    // Bytes [from, from + n) of the run, copied between the tensors and the bucket.
    auto move = [&](int64_t from, int64_t n, bool in) {
      int64_t base = 0;
      for (size_t k = i; k < j && n > 0; ++k) {
        const int64_t size_k = static_cast<int64_t>(tensors[k].nbytes());
        if (from < base + size_k) {
          const int64_t off = from - base, len = std::min(n, size_k - off);
          std::byte* t = static_cast<std::byte*>(tensors[k].raw()) + off;
          std::byte* b = bucket.data() + (from - (from / cap) * cap);
          if (in)
            std::memcpy(b, t, static_cast<size_t>(len));
          else
            copy_scaled(t, b, len, dt, scale);
          from += len;
          n -= len;
        }
        base += size_k;
      }
    };
    for (int64_t from = 0; from < total; from += cap) {
      const int64_t n = std::min(cap, total - from);
      move(from, n, true);
      check(
          MPI_Allreduce(MPI_IN_PLACE, bucket.data(), static_cast<int>(n / elem), mpi_type(dt), MPI_SUM, MPI_COMM_WORLD),
          "MPI_Allreduce");
      move(from, n, false);
      ++st.buckets;
    }
    st.bytes += total;
    i = j;
  }
  st.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return st;
}

void broadcast(std::vector<Tensor>& tensors, int root) {
  if (size() == 1) return;
  check_layout(tensors, "broadcast");
  for (Tensor& t : tensors)
    if (t.defined() && t.nbytes() > 0)
      check(MPI_Bcast(t.raw(), static_cast<int>(t.numel()), mpi_type(t.dtype()), root, MPI_COMM_WORLD), "MPI_Bcast");
}

void check_same(const std::vector<Tensor>& tensors, const std::vector<std::string>& names) {
  if (size() == 1) return;
  check_layout(tensors, "check_same");
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i];
    const std::vector<uint64_t> all = gather_all(t.defined() ? hash(t.raw(), t.nbytes()) : 0);
    const std::string bad = differing(all);
    if (!bad.empty())
      throw Error(fmt::format("rnnc: dist: '{}' differs between ranks: rank(s) {} hold other values than rank 0",
                              i < names.size() ? names[i] : std::to_string(i), bad));
  }
}

Tensor allgather_rows(const Tensor& t) {
  if (size() == 1) return t;
  if (t.rank() < 1) throw Error("rnnc: dist: allgather_rows needs rows (a tensor of rank >= 1)");
  check_layout({t}, "allgather_rows");
  Shape s = t.shape();
  s[0] *= size();
  Tensor all(t.dtype(), s);
  check(MPI_Allgather(t.raw(), static_cast<int>(t.nbytes()), MPI_BYTE, all.raw(), static_cast<int>(t.nbytes()),
                      MPI_BYTE, MPI_COMM_WORLD),
        "MPI_Allgather");
  return all;
}

Tensor my_rows(const Tensor& all) {
  if (size() == 1) return all;
  if (all.rank() < 1 || all.shape()[0] % size() != 0)
    throw Error(
        fmt::format("rnnc: dist: {} rows do not split into {} equal shares", all.rank() ? all.shape()[0] : 0, size()));
  Shape s = all.shape();
  s[0] /= size();
  Tensor mine(all.dtype(), s);
  std::memcpy(mine.raw(), static_cast<const std::byte*>(all.raw()) + static_cast<size_t>(rank()) * mine.nbytes(),
              mine.nbytes());
  return mine;
}

void barrier() {
  if (size() > 1) check(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier");
}

void abort_job(const std::string& message) {
  std::fprintf(stderr, "rnnc: rank %d: %s\n", rank(), message.c_str());
  std::fflush(stderr);
  if (world().mpi) MPI_Abort(MPI_COMM_WORLD, 1);
  std::exit(1);
}

}  // namespace rnnc::dist
