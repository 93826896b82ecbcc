// OverlappedMean (dist.h): gradients averaged in buckets that start as soon as the backward pass
// has finished them. One buffer holds every float gradient end to end, in the order the first call
// finished them; the buckets are byte ranges of it.
//
// Each bucket is reduced by a ring of non-blocking sends and receives between neighbours (the
// allreduce of Baidu's ring, Horovod and NCCL), on buffers allocated once, moved on by progress()
// between the compiled step's steps: N - 1 stages of reduce-scatter, after which rank r holds the
// whole sum of segment r + 1, then N - 1 stages that pass the sums round. Each segment's sum is
// added up by one rank in a fixed order, ((x_j + x_j+1) + x_j+2) + ..., and copied to the others:
// every rank gets the same bits, whatever the timing. (OpenMPI's own MPI_Iallreduce allocates its
// temporary buffers at every call: 40 MB of fresh pages a step cost more than the overlap saved.)
#include <algorithm>
#include <chrono>
#include <cstring>

#include <fmt/format.h>

#include "rnnc/dist.h"
#include "rnnc/error.h"
#include "dist/world.h"

namespace rnnc::dist {

using namespace detail;
using Clock = std::chrono::steady_clock;

struct OverlappedMean::State {
  int64_t cap = kBucketBytes;
  // What the first call saw: the leaves in the order they were finished, and for each the number
  // of between-step calls before it (a new number: a step ran in between).
  std::vector<int> order;
  std::vector<int64_t> group_of;
  int64_t group = 0;
  bool cut = false;  // the buckets are laid out

  struct Leaf {
    int64_t at = -1, bytes = 0;  // in the buffer; -1: not reduced (not a float)
    std::vector<int> buckets;    // that it overlaps
    bool here = false;           // copied in during this call
  };
  struct Bucket {
    int64_t begin = 0, end = 0;
    DType dtype = DType::f32;
    int leaves = 0, waiting = 0;  // leaves overlapping it; of those, not copied in this call
    int stage = -1;               // of the ring: -1 not started, 2 (N - 1) done
    MPI_Request reqs[2] = {MPI_REQUEST_NULL, MPI_REQUEST_NULL};
    std::vector<std::byte> incoming;  // a segment from the left neighbour (reduce-scatter)
  };
  std::vector<Leaf> leaves;
  std::vector<Bucket> buckets;
  std::vector<std::byte> buffer;
  MPI_Comm comm = MPI_COMM_NULL;  // a duplicate of MPI_COMM_WORLD: its messages match nothing else
  int started = 0, finished = 0;  // buckets started and known finished in this call (prefixes)
  double seconds = 0;             // in MPI during this call
  int64_t early = 0;
  Clock::time_point last_test{};

  int stages() const { return 2 * (size() - 1); }
  // Segment i of a bucket of n elements: [n i / N, n (i + 1) / N).
  static int64_t seg(int64_t n, int i) { return n * i / size(); }

  // Posts the receive and the send of the bucket's current stage.
  void post(Bucket& b, int index) {
    const int N = size(), r = rank(), s = b.stage;
    const int64_t elem = static_cast<int64_t>(size_of(b.dtype)), n = (b.end - b.begin) / elem;
    const bool scatter = s < N - 1;
    const int t = scatter ? s : s - (N - 1);
    const int send = scatter ? (r - s + N) % N : (r + 1 - t + 2 * N) % N;
    const int recv = scatter ? (r - s - 1 + 2 * N) % N : (r - t + N) % N;
    std::byte* data = buffer.data() + b.begin;
    std::byte* into = scatter ? b.incoming.data() : data + seg(n, recv) * elem;
    check(MPI_Irecv(into, static_cast<int>(seg(n, recv + 1) - seg(n, recv)), mpi_type(b.dtype), (r - 1 + N) % N, index,
                    comm, &b.reqs[0]),
          "MPI_Irecv");
    check(MPI_Isend(data + seg(n, send) * elem, static_cast<int>(seg(n, send + 1) - seg(n, send)), mpi_type(b.dtype),
                    (r + 1) % N, index, comm, &b.reqs[1]),
          "MPI_Isend");
  }

  // The current stage has arrived: a reduce-scatter stage adds the neighbour's partial sums.
  void complete(Bucket& b) {
    const int N = size(), s = b.stage;
    if (s >= N - 1) return;
    const int recv = (rank() - s - 1 + 2 * N) % N;
    const int64_t elem = static_cast<int64_t>(size_of(b.dtype)), n = (b.end - b.begin) / elem;
    const int64_t from = seg(n, recv), count = seg(n, recv + 1) - from;
    std::byte* data = buffer.data() + b.begin + from * elem;
    if (b.dtype == DType::f32) {
      float* x = reinterpret_cast<float*>(data);
      const float* y = reinterpret_cast<const float*>(b.incoming.data());
      for (int64_t e = 0; e < count; ++e) x[e] += y[e];
    } else {
      double* x = reinterpret_cast<double*>(data);
      const double* y = reinterpret_cast<const double*>(b.incoming.data());
      for (int64_t e = 0; e < count; ++e) x[e] += y[e];
    }
  }

  // Moves a bucket's ring on as far as its messages have arrived; waits for them when `block`.
  // True when it is done.
  bool advance(int index, bool block) {
    Bucket& b = buckets[static_cast<size_t>(index)];
    while (b.stage < stages()) {
      if (b.stage >= 0) {
        if (block) {
          check(MPI_Waitall(2, b.reqs, MPI_STATUSES_IGNORE), "MPI_Waitall");
        } else {
          int flag = 0;
          check(MPI_Testall(2, b.reqs, &flag, MPI_STATUSES_IGNORE), "MPI_Testall");
          if (!flag) return false;
        }
        complete(b);
      }
      if (++b.stage < stages()) post(b, index);
    }
    return true;
  }

  void start_ready() {
    while (started < static_cast<int>(buckets.size()) && buckets[static_cast<size_t>(started)].waiting == 0)
      advance(started++, false);
  }

  // Moves every bucket in flight on; counts those done (a prefix) as early when asked.
  void test(bool count_early) {
    bool prefix = true;
    for (int k = finished; k < started; ++k) {
      const bool done = advance(k, false);
      if (done && prefix) {
        if (count_early) early += buckets[static_cast<size_t>(k)].end - buckets[static_cast<size_t>(k)].begin;
        ++finished;
      }
      prefix = prefix && done;
    }
  }

  void copy_in(int leaf, const Tensor& t) {
    Leaf& l = leaves.at(static_cast<size_t>(leaf));
    if (l.at < 0 || l.here) return;
    if (static_cast<int64_t>(t.nbytes()) != l.bytes)
      throw Error(fmt::format("rnnc: dist: OverlappedMean: gradient {} has {} bytes, {} when the buckets were cut",
                              leaf, t.nbytes(), l.bytes));
    std::memcpy(buffer.data() + l.at, t.raw(), static_cast<size_t>(l.bytes));
    l.here = true;
    for (int b : l.buckets) --buckets[static_cast<size_t>(b)].waiting;
  }

  // Lays the float leaves out in the order the first call finished them (any it did not report
  // last, in tree order) and cuts the buckets; every rank must cut the same.
  void lay_out(const std::vector<Tensor>& grads) {
    check_layout(grads, "OverlappedMean");
    std::vector<int> seq;
    std::vector<int64_t> seq_group;
    std::vector<bool> seen(grads.size(), false);
    for (size_t k = 0; k < order.size(); ++k)
      if (order[k] >= 0 && order[k] < static_cast<int>(grads.size()) && !seen[static_cast<size_t>(order[k])]) {
        seen[static_cast<size_t>(order[k])] = true;
        seq.push_back(order[k]);
        seq_group.push_back(group_of[k]);
      }
    for (size_t i = 0; i < grads.size(); ++i)
      if (!seen[i]) seq.push_back(static_cast<int>(i)), seq_group.push_back(group + 1);
    leaves.assign(grads.size(), Leaf{});
    buckets.clear();
    int64_t pos = 0;
    auto close = [&] {
      if (!buckets.empty() && buckets.back().end < 0) {
        buckets.back().end = pos;
        pos = (pos + 7) / 8 * 8;  // the next bucket starts aligned for any dtype
      }
    };
    int64_t last_group = -1;
    for (size_t k = 0; k < seq.size(); ++k) {
      const Tensor& t = grads[static_cast<size_t>(seq[k])];
      if (!t.defined() || !is_float(t.dtype()) || t.nbytes() == 0) continue;
      Leaf& l = leaves[static_cast<size_t>(seq[k])];
      if (!buckets.empty() && buckets.back().end < 0 &&
          (seq_group[k] != last_group || buckets.back().dtype != t.dtype()))
        close();
      last_group = seq_group[k];
      l.at = pos;
      l.bytes = static_cast<int64_t>(t.nbytes());
      for (int64_t left = l.bytes; left > 0;) {
        if (buckets.empty() || buckets.back().end >= 0) {
          Bucket fresh;
          fresh.begin = pos;
          fresh.end = -1;
          fresh.dtype = t.dtype();
          buckets.push_back(std::move(fresh));
        }
        Bucket& b = buckets.back();
        const int64_t take = std::min(left, cap - (pos - b.begin));
        pos += take;
        left -= take;
        ++b.leaves;
        l.buckets.push_back(static_cast<int>(buckets.size()) - 1);
        if (pos - b.begin == cap) close();
      }
    }
    close();
    buffer.resize(static_cast<size_t>(pos));
    if (buckets.size() > 32767)
      throw Error("rnnc: dist: OverlappedMean: more than 32767 buckets (MPI's least tag bound)");
    for (Bucket& b : buckets) b.incoming.resize(static_cast<size_t>((b.end - b.begin) / size() + 8));
    if (comm == MPI_COMM_NULL) {
      check(MPI_Comm_dup(MPI_COMM_WORLD, &comm), "MPI_Comm_dup");
      MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN);
    }
    uint64_t h = hash(nullptr, 0);
    for (size_t i = 0; i < leaves.size(); ++i) h = hash(&leaves[i].at, sizeof(int64_t), h);
    for (const Bucket& b : buckets) h = hash(&b.end, sizeof(int64_t), h);
    const std::string bad = differing(gather_all(h));
    if (!bad.empty())
      throw Error(
          fmt::format("rnnc: dist: OverlappedMean: rank(s) {} cut other buckets than rank 0 (their gradients "
                      "were finished in another order)",
                      bad));
    cut = true;
  }

  void reset() {
    for (Leaf& l : leaves) l.here = false;
    for (Bucket& b : buckets) b.waiting = b.leaves, b.stage = -1;
    started = finished = 0;
    seconds = 0;
    early = 0;
    group = 0;
    order.clear();
    group_of.clear();
  }
};

OverlappedMean::OverlappedMean(int64_t bucket_bytes) : s_(std::make_unique<State>()) {
  s_->cap = std::max<int64_t>(8, bucket_bytes / 8 * 8);  // whole elements of either float type
}

// A reduction still in flight (the step threw, and fit ends the job) keeps its buffer: freeing it
// under MPI would be worse.
OverlappedMean::~OverlappedMean() {
  if (s_ && s_->finished < s_->started) (void)s_.release();
}

void OverlappedMean::ready(int leaf, const Tensor& grad) {
  State& s = *s_;
  if (size() == 1) return;
  if (!s.cut) {  // the first call: only learn the order
    s.order.push_back(leaf);
    s.group_of.push_back(s.group);
    return;
  }
  const auto t0 = Clock::now();
  s.copy_in(leaf, grad);
  s.start_ready();
  s.seconds += std::chrono::duration<double>(Clock::now() - t0).count();
}

void OverlappedMean::progress() {
  State& s = *s_;
  if (!s.cut) {
    if (!s.order.empty() && s.group_of.back() == s.group) ++s.group;  // a step after a gradient
    return;
  }
  if (s.finished == s.started) return;
  const auto t0 = Clock::now();
  if (t0 - s.last_test < std::chrono::microseconds(20)) return;
  s.test(true);
  s.last_test = Clock::now();
  s.seconds += std::chrono::duration<double>(s.last_test - t0).count();
}

ReduceStats OverlappedMean::finish(std::vector<Tensor>& grads) {
  State& s = *s_;
  ReduceStats st;
  if (size() == 1) return st;
  const auto t0 = Clock::now();
  if (!s.cut) {
    s.lay_out(grads);
    s.reset();
  }
  if (grads.size() != s.leaves.size())
    throw Error(fmt::format("rnnc: dist: OverlappedMean: {} gradients, {} when the buckets were cut", grads.size(),
                            s.leaves.size()));
  s.test(true);  // what finished before the backward pass ended
  st.early_bytes = s.early;
  for (size_t i = 0; i < grads.size(); ++i) s.copy_in(static_cast<int>(i), grads[i]);
  s.start_ready();
  for (int k = 0; k < static_cast<int>(s.buckets.size()); ++k) s.advance(k, true);
  const double scale = 1.0 / size();
  for (size_t i = 0; i < grads.size(); ++i) {
    const State::Leaf& l = s.leaves[i];
    if (l.at >= 0) copy_scaled(grads[i].raw(), s.buffer.data() + l.at, l.bytes, grads[i].dtype(), scale);
  }
  for (const State::Bucket& b : s.buckets) st.bytes += b.end - b.begin;
  st.buckets = static_cast<int>(s.buckets.size());
  st.seconds = s.seconds + std::chrono::duration<double>(Clock::now() - t0).count();
  s.reset();
  return st;
}

}  // namespace rnnc::dist
