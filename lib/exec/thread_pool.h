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

namespace rnnc::exec {

using ChunkFn = void (*)(void* context, int64_t chunk);

// Runs fn(context, i) for every i in [0, chunks) on the calling thread and at most threads - 1
// workers, and returns when all have run. fn must not throw. One call at a time has the workers:
// a call made while another runs (from another thread, or from inside a chunk) runs all its chunks
// on its own thread.
void parallel_for(int threads, int64_t chunks, ChunkFn fn, void* context);

template <class F> void parallel_for(int threads, int64_t chunks, F&& body) {
  using Body = std::remove_reference_t<F>;
  parallel_for(
      threads, chunks, [](void* c, int64_t i) { (*static_cast<Body*>(c))(i); },
      const_cast<void*>(static_cast<const void*>(&body)));
}

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
