// The threads that share out one step of a compiled program: a kernel's outer axis, a GEMM's rows or
// columns. Made for a machine that is not ours alone: OpenMP's fork-join splits a step
// into one fixed share per thread and then spins until every share is done, so when another
// process holds a core, the thread that lost it holds up the others for a whole time slice, at
// every step. Here a step is cut into more chunks than threads and each thread claims chunks one at
// a time, the caller too: a thread that is late (asleep, or its core taken) leaves its chunks to
// the others and is not waited for. Idle workers spin for a few microseconds, then sleep.
#pragma once
#include <cstdint>
#include <type_traits>
#include <utility>

namespace rnnc::exec {

using ChunkFn = void (*)(void* context, int64_t chunk);

// Runs fn(context, i) for every i in [0, chunks) on the calling thread and at most threads - 1
// workers, and returns when all have run. fn must not throw. One call at a time has the workers:
// a call made while another runs (from another thread, or from inside a chunk) runs all its chunks
// on its own thread.
//
// Sharing::ByThread (at most kMaxByThread chunks): chunk i runs on thread i (the caller is thread
// 0, worker w thread w + 1) whenever that thread is awake to take it; a thread done with its own
// takes any left. For a GEMV whose weight is too large for one core's cache but whose halves fit
// in each core's: each core reads the same rows at every step, from its own cache.
enum class Sharing { Claimed, ByThread };
constexpr int64_t kMaxByThread = 16;
void parallel_for(int threads, int64_t chunks, ChunkFn fn, void* context, Sharing sharing = Sharing::Claimed);

template <class F> void parallel_for(int threads, int64_t chunks, F&& body, Sharing sharing = Sharing::Claimed) {
  using Body = std::remove_reference_t<F>;
  parallel_for(
      threads, chunks, [](void* c, int64_t i) { (*static_cast<Body*>(c))(i); },
      const_cast<void*>(static_cast<const void*>(&body)), sharing);
}

namespace detail {
// The chunk thread `slot` claims next in a job's state word (thread_pool.cpp), and the word that
// claims it; chunk -1 when none is left.
std::pair<int64_t, uint64_t> next_claim(uint64_t state, bool by_thread, int slot);
constexpr uint64_t job_state(uint32_t epoch, int64_t chunks, int64_t claims) {
  return uint64_t{epoch} << 32 | uint64_t(chunks) << 16 | uint64_t(claims);
}
}  // namespace detail

// Whether the workers are spinning, waiting for work (they sleep after a few microseconds idle):
// sharing out a small job is worth it only then. A hint, read without a lock.
bool workers_awake();

// [begin, end) of chunk i when n items are cut into `chunks` nearly equal chunks, each a multiple
// of `align` items but the last.
inline int64_t chunk_begin(int64_t n, int64_t chunks, int64_t i, int64_t align = 1) {
  const int64_t units = (n + align - 1) / align;
  const int64_t b = units * i / chunks * align;
  return b < n ? b : n;
}

}  // namespace rnnc::exec
