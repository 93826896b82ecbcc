// The shared worker pool behind parallel_for (see thread_pool.h).
//
// A job is published as one 64-bit word, state = epoch (32 bits) | chunks (16) | claims (16),
// with its function, context and sharing beside it. Claims are the next chunk (Sharing::Claimed)
// or a mask of the chunks taken (ByThread). A thread claims a chunk by a compare-and-swap that
// moves next on by one or sets the chunk's bit; the swap fails if the word changed, in particular
// if a new job replaced the one whose function it read, so a worker that wakes late can never run
// a chunk of a job that has ended. The job ends when `done` reaches chunks; the caller waits only for chunks that have been
// claimed, never for a worker that has not woken.
#include "exec/thread_pool.h"

#include <pthread.h>
#include <sched.h>

#include <atomic>
#include <bit>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <utility>

namespace rnnc::exec {

namespace {

void pause() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

// How long an idle worker spins before it sleeps: long enough to catch the next step of a loop (a
// few microseconds apart), short enough that a worker between training steps gives its core away.
constexpr auto kSpin = std::chrono::microseconds(20);

constexpr int64_t chunks_of(uint64_t s) { return int64_t(s >> 16 & 0xffff); }
constexpr int64_t claims_of(uint64_t s) { return int64_t(s & 0xffff); }
constexpr int64_t kMaxChunks = 0xffff;

class Pool {
 public:
  bool awake() const {
    return workers_.load(std::memory_order_relaxed) > 0 && sleepers_.load(std::memory_order_relaxed) == 0;
  }

  void run(int threads, int64_t chunks, ChunkFn fn, void* ctx, Sharing sharing) {
    std::unique_lock busy(busy_, std::try_to_lock);
    if (!busy) {  // another job has the workers: this one runs here
      for (int64_t i = 0; i < chunks; ++i) fn(ctx, i);
      return;
    }
    grow(threads - 1);
    wanted_.store(threads - 1, std::memory_order_relaxed);
    fn_.store(fn, std::memory_order_relaxed);
    ctx_.store(ctx, std::memory_order_relaxed);
    by_thread_.store(sharing == Sharing::ByThread, std::memory_order_relaxed);
    done_.store(0, std::memory_order_relaxed);
    state_.store(detail::job_state(++epoch_, chunks, 0), std::memory_order_release);
    publish();
    help(0);
    // Every chunk is claimed; wait for the ones still running on workers.
    for (int spins = 0; done_.load(std::memory_order_acquire) < chunks; ++spins) {
      if (spins < 4096)
        pause();
      else
        sched_yield();  // the worker may be waiting for this core
    }
  }

 private:
  // Wakes the workers: spinning ones see wake_ move; sleeping ones are notified. A worker counts
  // itself in sleepers_ before it checks wake_ under the mutex, so either it sees the new value or
  // this sees it asleep (both are sequentially consistent), and no wake-up is lost.
  void publish() {
    wake_.fetch_add(1);
    if (sleepers_.load() > 0) {
      { std::lock_guard lock(sleep_mu_); }
      asleep_.notify_all();
    }
  }

  // Claims and runs chunks of the current job until none is left; `slot` is this thread's
  // number (0: the caller) for ByThread jobs. What is read beside the state belongs to the job the
  // swap then finds, or the swap fails.
  void help(int slot) {
    uint64_t s = state_.load(std::memory_order_acquire);
    for (;;) {
      const ChunkFn fn = fn_.load(std::memory_order_relaxed);
      void* ctx = ctx_.load(std::memory_order_relaxed);
      const auto [chunk, claimed] = detail::next_claim(s, by_thread_.load(std::memory_order_relaxed), slot);
      if (chunk < 0) return;
      if (!state_.compare_exchange_weak(s, claimed, std::memory_order_acq_rel, std::memory_order_acquire)) continue;
      fn(ctx, chunk);
      done_.fetch_add(1, std::memory_order_release);
      s = state_.load(std::memory_order_acquire);
    }
  }

  void grow(int workers) {
    for (int id = workers_.load(); id < workers; id = ++workers_) std::thread([this, id] { work(id); }).detach();
  }

  void work(int id) {
    uint32_t seen = wake_.load();
    for (;;) {
      // Spin a while for the next job, then sleep until one is published.
      const auto until = std::chrono::steady_clock::now() + kSpin;
      for (int i = 1; wake_.load(std::memory_order_acquire) == seen; ++i) {
        pause();
        if (i % 64 == 0 && std::chrono::steady_clock::now() > until) {
          std::unique_lock lock(sleep_mu_);
          sleepers_.fetch_add(1);
          asleep_.wait(lock, [&] { return wake_.load() != seen; });
          sleepers_.fetch_sub(1);
        }
      }
      seen = wake_.load();
      if (id < wanted_.load(std::memory_order_relaxed)) help(id + 1);
    }
  }

  std::mutex busy_;              // held by the caller of the running job
  std::atomic<int> workers_{0};  // started (changed under busy_, read by awake())
  uint32_t epoch_ = 0;           // under busy_
  std::atomic<uint64_t> state_{0};
  std::atomic<ChunkFn> fn_{nullptr};
  std::atomic<void*> ctx_{nullptr};
  std::atomic<bool> by_thread_{false};
  std::atomic<int64_t> done_{0};
  std::atomic<int> wanted_{0};
  std::atomic<uint32_t> wake_{0};  // moves on at each job
  std::mutex sleep_mu_;            // idle workers sleep on asleep_ until wake_ moves
  std::condition_variable asleep_;
  std::atomic<int> sleepers_{0};
};

// The pool lives as long as the process: its workers are detached and sleep when idle, and it is
// never destroyed, so no exit handler waits for them. A child made by fork() has none of the
// parent's workers (and maybe a mutex a worker held), so it starts a pool of its own.
Pool* g_pool = nullptr;

Pool& pool() {
  static const bool made = [] {
    g_pool = new Pool;
    pthread_atfork(nullptr, nullptr, [] { g_pool = new Pool; });
    return true;
  }();
  (void)made;
  return *g_pool;
}

}  // namespace

std::pair<int64_t, uint64_t> detail::next_claim(uint64_t s, bool by_thread, int slot) {
  const int64_t chunks = chunks_of(s), claims = claims_of(s);
  if (!by_thread) return claims < chunks ? std::pair{claims, s + 1} : std::pair{int64_t{-1}, s};
  const int64_t all = (int64_t{1} << chunks) - 1;
  if (claims == all) return {-1, s};
  const int64_t own = slot < chunks && !(claims >> slot & 1) ? slot : std::countr_one(static_cast<uint64_t>(claims));
  return {own, s | uint64_t{1} << own};
}

bool workers_awake() { return pool().awake(); }

void parallel_for(int threads, int64_t chunks, ChunkFn fn, void* context, Sharing sharing) {
  if (threads <= 1 || chunks <= 1 || chunks > kMaxChunks) {
    for (int64_t i = 0; i < chunks; ++i) fn(context, i);
    return;
  }
  if (sharing == Sharing::ByThread && chunks > kMaxByThread) sharing = Sharing::Claimed;
  pool().run(threads, chunks, fn, context, sharing);
}

}  // namespace rnnc::exec
