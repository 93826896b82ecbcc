// The executor: walks the schedule's steps in order. Kernels get one pointer per argument (the
// buffer's base plus the access's offset) and large ones are split across the thread pool along
// their outermost axis; GEMMs go to gemm.cpp, which shares out large ones the same way;
// library steps run the reference implementation of their node.
#include "exec/executor.h"

#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory_resource>
#include <optional>
#include <string>
#include <utility>
#include <limits>

#include "rnnc/error.h"
#include "exec/gemm.h"
#include "exec/library.h"
#include "exec/profile.h"
#include "exec/thread_pool.h"

namespace rnnc::exec {

namespace {

// Kernels smaller than this run on one thread: below it, sharing it out costs more than it saves
// (docs/performance.md).
constexpr int64_t kParallelElements = 1 << 13;
// ... and below this, only with workers still spinning from the previous parallel step (inside a
// loop): waking a sleeping one (a futex call, and an interrupt to another core on a VM) costs
// several times such a kernel (docs/performance.md).
constexpr int64_t kWakeElements = 1 << 15;
constexpr int64_t kChunksPerThread = 4;

struct Bases {
  std::byte* arena;
  std::byte* const* inputs;   // per input of the schedule
  std::byte* const* outputs;  // per output
  const std::vector<Tensor>* literals;
  const std::vector<ArenaBuffer>* buffers;
  Workspace* ws;  // its pool holds the lists of pointers below

  std::byte* base(const BufferRef& b) const {
    switch (b.space) {
      case Space::Arena: return arena + (*buffers)[b.index].offset;
      case Space::Input: return inputs[b.index];
      case Space::Output: return outputs[b.index];
      case Space::Literal: return static_cast<std::byte*>(const_cast<void*>((*literals)[b.index].raw()));
    }
    return nullptr;
  }
  std::byte* ptr(const Access& a) const { return base(a.buf) + a.offset * static_cast<int64_t>(size_of(a.dtype)); }
};

template <class T> void fill(void* p, int64_t n, Fill::Identity id) {
  T v = id == Fill::Identity::Zero             ? T(0)
        : std::numeric_limits<T>::has_infinity ? -std::numeric_limits<T>::infinity()
                                               : std::numeric_limits<T>::lowest();
  std::fill_n(static_cast<T*>(p), n, v);
}

void fill_any(DType t, void* p, int64_t n, Fill::Identity id) {
  switch (t) {
    case DType::f32: fill<float>(p, n, id); break;
    case DType::f64: fill<double>(p, n, id); break;
    case DType::i32: fill<int32_t>(p, n, id); break;
    case DType::bf16:
    case DType::i8: throw Error("rnnc: executor: a reduction into " + std::string(name_of(t)));
  }
}

// dest (+)= each of `copies` consecutive copies of n elements, in order; max propagates NaN as
// the kernels do.
template <class T> void add_copies(T* dest, const T* copies, int64_t n, int64_t copies_count, Fill::Identity id) {
  for (int64_t c = 0; c < copies_count; ++c)
    for (int64_t i = 0; i < n; ++i) {
      const T v = copies[c * n + i];
      if (id == Fill::Identity::Zero && std::is_integral_v<T>)  // wrapping, as the kernels' i32 adds
        dest[i] = static_cast<T>(static_cast<uint32_t>(dest[i]) + static_cast<uint32_t>(v));
      else if (id == Fill::Identity::Zero)
        dest[i] += v;
      else if (v != v || v > dest[i])  // (v != v: NaN)
        dest[i] = v;
    }
}

// A kernel whose stores reduce along its outermost axis, in KernelStep::chunks with partial sums.
void run_partials(const KernelStep& k, KernelFn fn, const Bases& b, int threads, std::pmr::vector<void*>& ptrs) {
  const size_t nargs = k.args.size();
  const int64_t chunks = k.chunks, outer = k.outer;
  ptrs.resize(nargs * static_cast<size_t>(chunks));
  for (int64_t c = 1; c < chunks; ++c) std::copy_n(ptrs.begin(), nargs, ptrs.begin() + c * static_cast<int64_t>(nargs));
  for (const Partial& q : k.partials) {
    const Fill& f = k.fills[static_cast<size_t>(q.fill)];
    std::byte* copies = b.ptr(q.copies);
    const int64_t bytes = f.count * static_cast<int64_t>(size_of(q.copies.dtype));
    fill_any(q.copies.dtype, copies, (chunks - 1) * f.count, f.identity);
    for (int64_t c = 1; c < chunks; ++c) ptrs[c * static_cast<int64_t>(nargs) + f.arg] = copies + (c - 1) * bytes;
  }
  void* const* args = ptrs.data();
  auto chunk = [&](int64_t c) {
    fn(args + c * static_cast<int64_t>(nargs), chunk_begin(outer, chunks, c), chunk_begin(outer, chunks, c + 1));
  };
  if (threads > 1 && k.points >= kParallelElements && (k.points >= kWakeElements || workers_awake()))
    parallel_for(threads, chunks, chunk);
  else
    for (int64_t c = 0; c < chunks; ++c) chunk(c);
  for (const Partial& q : k.partials) {
    const Fill& f = k.fills[static_cast<size_t>(q.fill)];
    void* dest = ptrs[static_cast<size_t>(f.arg)];
    const std::byte* copies = b.ptr(q.copies);
    switch (q.copies.dtype) {
      case DType::f32:
        add_copies(static_cast<float*>(dest), reinterpret_cast<const float*>(copies), f.count, chunks - 1, f.identity);
        break;
      case DType::f64:
        add_copies(static_cast<double*>(dest), reinterpret_cast<const double*>(copies), f.count, chunks - 1,
                   f.identity);
        break;
      case DType::i32:
        add_copies(static_cast<int32_t*>(dest), reinterpret_cast<const int32_t*>(copies), f.count, chunks - 1,
                   f.identity);
        break;
      default: throw Error("rnnc: executor: a partial sum of " + std::string(name_of(q.copies.dtype)));
    }
  }
}

void run_kernel(const KernelStep& k, KernelFn fn, const Bases& b, int threads, std::pmr::vector<void*>& ptrs) {
  ptrs.resize(k.args.size());
  for (size_t a = 0; a < k.args.size(); ++a) ptrs[a] = b.ptr(k.args[a]);
  for (const Fill& f : k.fills) fill_any(k.args[f.arg].dtype, ptrs[f.arg], f.count, f.identity);
  const int64_t n = k.points, outer = k.outer;
  if (n == 0) return;
  if (!k.partials.empty()) return run_partials(k, fn, b, threads, ptrs);
  if (threads > 1 && n >= kParallelElements && (n >= kWakeElements || workers_awake()) && k.splittable) {
    // Several chunks per thread, claimed one at a time: a thread whose core is taken by another
    // process leaves its share to the others (thread_pool.h).
    const int64_t chunks = std::min<int64_t>(int64_t{threads} * kChunksPerThread, outer);
    void* const* args = ptrs.data();
    parallel_for(threads, chunks,
                 [&](int64_t c) { fn(args, chunk_begin(outer, chunks, c), chunk_begin(outer, chunks, c + 1)); });
  } else {
    fn(ptrs.data(), 0, outer);
  }
}

void run_library(const LibraryStep& l, const Bases& b) {
  std::array<const std::byte*, 2> in{};
  for (size_t i = 0; i < l.inputs.size() && i < in.size(); ++i) in[i] = b.ptr(l.inputs[i]);
  run_routine(l, std::span(in.data(), l.inputs.size()), b.ptr(l.out));
}

// What a call reports while it runs (RunHooks), with the outputs it reports.
struct Listener {
  const RunHooks* hooks = nullptr;
  std::vector<Tensor>* outputs = nullptr;
  const std::vector<std::vector<int>>* final_after = nullptr;  // per top-level step
};

void run_steps(const Schedule& s, const Bases& b, const Program& p, int depth, const Listener& ls);

int64_t bytes_of(const Spec& s) { return numel(s.shape) * static_cast<int64_t>(size_of(s.dtype)); }

// The pointers of a loop's body (its schedule's inputs and outputs) and its arena, the scratch
// buffer. Invariants are set once; carries, sequences and stacked outputs per step.
struct Frame {
  const LoopStep& l;
  const Bases& outer;
  std::byte* scratch;
  std::pmr::vector<std::byte*> in, out;
  Bases b;

  Frame(const LoopStep& loop, const Bases& o)
      : l(loop),
        outer(o),
        scratch(o.ptr(loop.scratch)),
        in(loop.body->inputs.size(), o.ws->pool()),
        out(loop.body->outputs.size(), o.ws->pool()),
        b{scratch, in.data(), out.data(), &loop.body->literals, &loop.body->buffers, o.ws} {
    for (size_t i = l.carries + l.xs; i < in.size(); ++i) in[i] = outer.ptr(l.bindings[i]);
  }
  Frame(const Frame&) = delete;
  Frame& operator=(const Frame&) = delete;

  int64_t carry_bytes(int c) const { return bytes_of(l.body->inputs[c]); }
  // Step t's slices of the sequences.
  void sequences_at(int64_t t) {
    for (int j = 0; j < l.xs; ++j) {
      const Access& x = l.bindings[l.carries + j];
      in[l.carries + j] = outer.ptr(x) + t * l.binding_step[l.carries + j] * static_cast<int64_t>(size_of(x.dtype));
    }
  }
  // Step t's slices of the stacked outputs (a scratch place for those nothing reads, and for
  // those written to the slots of a sequence once the step has read it).
  void stacked_at(int64_t t) {
    for (size_t k = l.carries; k < l.results.size(); ++k) {
      const int o = l.body_output[k];
      if (o < 0) continue;  // held by a carry's history
      const Access& r = l.results[k];
      out[o] = r.buf.index < 0       ? scratch + l.unused_at[k]
               : l.staged_at[k] >= 0 ? scratch + l.staged_at[k]
                                     : outer.ptr(r) + t * l.result_step[k] * static_cast<int64_t>(size_of(r.dtype));
    }
  }
  void run(const Program& p, int depth, const Listener& ls) { run_steps(*l.body, b, p, depth + 1, ls); }
};

// Revolve's slot s of carry c.
std::byte* slot(const RevolveStep& r, const Bases& outer, int c, int s) {
  const Access& a = r.slots[c];
  return outer.ptr(a) + s * numel(Shape(a.shape.begin() + 1, a.shape.end())) * static_cast<int64_t>(size_of(a.dtype));
}

// The loop running back over a Revolve forward loop gets, before its step for position i (in the
// forward loop's order), the carries c_i: from a slot, running the forward loop's body on from it
// (its stacked outputs to a scratch place), keeping carries in slots on the way (revolve.h).
class Replay {
 public:
  Replay(const RevolveStep& r, const Bases& outer, const Program& p, int depth, const Listener& ls)
      : r_(r), f_(*r.forward, outer), work_(outer.ptr(r.work)), p_(p), depth_(depth), ls_(ls) {
    for (size_t k = f_.l.carries; k < f_.l.results.size(); ++k)
      if (const int o = f_.l.body_output[k]; o >= 0) f_.out[o] = work_ + r.ys_at[k];
  }
  void bring(int64_t i) {
    const LoopStep& F = f_.l;
    if (i == F.length - 1) {  // the forward pass left it
      hand_ = 0;
      return;
    }
    const RevolveSchedule::Back& b = r_.schedule.back[i];
    for (int c = 0; c < F.carries; ++c) std::memcpy(carry(1, c), slot(r_, f_.outer, c, b.restore), f_.carry_bytes(c));
    int at = 1;
    size_t next = 0;
    for (int64_t q = b.from; q < i; ++q) {  // step q: c_q -> c_{q+1}
      for (int c = 0; c < F.carries; ++c) {
        f_.in[c] = carry(at, c);
        f_.out[c] = carry(3 - at, c);
      }
      f_.sequences_at(F.reverse ? F.length - 1 - q : q);
      f_.run(p_, depth_, ls_);
      at = 3 - at;
      if (next < b.copies.size() && b.copies[next].first == q + 1) {
        for (int c = 0; c < F.carries; ++c)
          std::memcpy(slot(r_, f_.outer, c, b.copies[next].second), carry(at, c), f_.carry_bytes(c));
        ++next;
      }
    }
    hand_ = at;
  }
  // Carry c of the position brought.
  std::byte* at_hand(int c) const { return carry(hand_, c); }

 private:
  std::byte* carry(int copy, int c) const { return work_ + r_.carry_at[copy][c]; }

  const RevolveStep& r_;
  Frame f_;
  std::byte* work_;
  const Program& p_;
  int depth_;
  const Listener& ls_;
  int hand_ = 0;
};

// Below this many points a loop whose lanes are apart runs its time-fused steps on one thread.
constexpr int64_t kLanesApartPoints = 1 << 10;

// Bytes of staged output r per point of the outer axis of a loop whose lanes are apart.
size_t staged_row(const LoopStep& l, size_t r) {
  const KernelStep& k = l.body->steps[0].kernel;
  return static_cast<size_t>(bytes_of(l.body->outputs[static_cast<size_t>(l.body_output[r])]) / k.outer);
}

// A loop with a time-fused kernel (LoopStep::steps_kernel): step 0 and step T-1 (which read the
// initial carries and write the results) run the body's kernel; the steps between run in one call
// of the time-fused kernel per share of lanes, its plan read off steps 1, 2 and 3 (every place is
// affine in the step, or a carry's two scratch copies taken in turn). From kLanesApartPoints
// points each thread takes shares of the outer axis through all those steps, no thread waiting for
// another between steps (thread_pool.h: a late thread's shares go to the others); below, all of it
// on this thread. False (nothing run) where the plan does not hold: then, as for T < 5, step by
// step.
template <class PointAt> bool run_time_fused(const LoopStep& l, Frame& f, const Program& p, PointAt&& point_at) {
  const KernelStep& k = l.body->steps[0].kernel;
  const size_t n = k.args.size();
  if (l.length < 5) return false;
  // (The value named: a memory_resource* would convert to void*, the element, not the allocator.)
  std::pmr::vector<std::byte*> at(3 * n, nullptr, f.outer.ws->pool());
  for (int s = 0; s < 3; ++s) {
    point_at(s + 1);
    for (size_t a = 0; a < n; ++a) at[3 * a + static_cast<size_t>(s)] = f.b.ptr(k.args[a]);
  }
  std::pmr::vector<void*> plan(3 * n + 1, nullptr, f.outer.ws->pool());
  for (size_t a = 0; a < n; ++a) {
    std::byte *p1 = at[3 * a], *p2 = at[3 * a + 1], *p3 = at[3 * a + 2];
    plan[3 * a] = p1;
    if (p2 - p1 == p3 - p2) {
      plan[3 * a + 1] = reinterpret_cast<void*>(static_cast<intptr_t>(p2 - p1));
    } else if (p3 == p1) {
      plan[3 * a + 2] = p2;
    } else {
      return false;
    }
  }
  plan[3 * n] = reinterpret_cast<void*>(static_cast<intptr_t>(l.length - 2));
  // Staged outputs (a range per share of the outer axis, lanes_apart checked): each share copies its own.
  auto slot = [&](size_t r, int64_t step) {
    const int64_t t = l.reverse ? l.length - 1 - step : step;
    return f.outer.ptr(l.results[r]) + t * l.result_step[r] * static_cast<int64_t>(size_of(l.results[r].dtype));
  };
  std::pmr::vector<size_t> staged(f.outer.ws->pool());
  for (size_t r = 0; r < l.staged_at.size(); ++r)
    if (l.staged_at[r] >= 0) {
      staged.push_back(r);
      plan.push_back(f.scratch + l.staged_at[r]);
      plan.push_back(slot(r, 1));
      plan.push_back(reinterpret_cast<void*>(static_cast<intptr_t>(slot(r, 2) - slot(r, 1))));
      plan.push_back(reinterpret_cast<void*>(staged_row(l, r)));
    }
  plan.insert(plan.begin() + static_cast<std::ptrdiff_t>(3 * n + 1),
              reinterpret_cast<void*>(static_cast<intptr_t>(staged.size())));
  std::pmr::vector<void*> first(n, nullptr, f.outer.ws->pool()), last(n, nullptr, f.outer.ws->pool());
  point_at(0);
  for (size_t a = 0; a < n; ++a) first[a] = f.b.ptr(k.args[a]);
  point_at(l.length - 1);
  for (size_t a = 0; a < n; ++a) last[a] = f.b.ptr(k.args[a]);
  const KernelFn fn = p.kernels[static_cast<size_t>(k.kernel)];
  const KernelFn steps = p.kernels[static_cast<size_t>(l.steps_kernel)];
  auto copy = [&](int64_t step, int64_t begin, int64_t end) {
    for (size_t r : staged) {
      const size_t row = staged_row(l, r), from = begin * row;
      std::memcpy(slot(r, step) + from, f.scratch + l.staged_at[r] + from, (end - begin) * row);
    }
  };
  auto share = [&](int64_t begin, int64_t end) {
    fn(first.data(), begin, end);
    copy(0, begin, end);
    steps(plan.data(), begin, end);
    fn(last.data(), begin, end);
    copy(l.length - 1, begin, end);
  };
  if (p.threads > 1 && k.points >= kLanesApartPoints) {
    const int64_t chunks = std::min<int64_t>(int64_t{p.threads} * kChunksPerThread, k.outer);
    parallel_for(p.threads, chunks,
                 [&](int64_t c) { share(chunk_begin(k.outer, chunks, c), chunk_begin(k.outer, chunks, c + 1)); });
  } else {
    share(0, k.outer);
  }
  return true;
}

// T runs of the body's schedule, with pointers moved to step t's slices and the carries
// alternating between two scratch copies (a step never writes the carry it reads).
void run_loop(const LoopStep& l, const Bases& outer, const Program& p, int depth, const Listener& ls) {
  Frame f(l, outer);
  std::pmr::vector<std::byte*> history(l.carries, nullptr, outer.ws->pool());
  for (int c = 0; c < l.carries; ++c)
    if (l.history[c].buf.index >= 0) {
      history[c] = outer.ptr(l.history[c]);
      std::memcpy(history[c], outer.ptr(l.bindings[c]), f.carry_bytes(c));  // slot 0: the initial value
    }
  // Revolve: the forward loop keeps c_i in the slots the schedule says, and c_{T-1} for the loop
  // running back; that loop has its carries brought back before each step.
  const RevolveStep* keeps = l.revolve && l.revolve->forward == &l ? l.revolve.get() : nullptr;
  std::optional<Replay> replay;
  if (l.revolve && !keeps) replay.emplace(*l.revolve, outer, p, depth, ls);
  auto keep = [&](int64_t i, int c, const std::byte* v) {
    if (const int s = keeps->schedule.kept[i]; s >= 0) std::memcpy(slot(*keeps, outer, c, s), v, f.carry_bytes(c));
    if (i == l.length - 1) std::memcpy(outer.ptr(keeps->work) + keeps->carry_at[0][c], v, f.carry_bytes(c));
  };
  if (keeps)
    for (int c = 0; c < l.carries; ++c) keep(0, c, outer.ptr(l.bindings[c]));
  // Step `step`'s pointers in the frame: its carries, its slices of the sequences and stacked outputs.
  auto point_at = [&](int64_t step) {
    const int64_t t = l.reverse ? l.length - 1 - step : step;
    const bool first = step == 0, last = step == l.length - 1;
    for (int c = 0; c < l.carries; ++c) {
      const int64_t slot = f.carry_bytes(c);
      if (history[c]) {
        f.in[c] = history[c] + t * slot;
        f.out[c] = history[c] + (t + 1) * slot;
        continue;
      }
      f.in[c] = first ? outer.ptr(l.bindings[c]) : f.scratch + l.carry_at[(step + 1) % 2][c];
      f.out[c] = last && l.results[c].buf.index >= 0 ? outer.ptr(l.results[c]) : f.scratch + l.carry_at[step % 2][c];
    }
    f.sequences_at(t);
    f.stacked_at(t);
    return t;
  };
  if (l.lanes_apart && l.steps_kernel >= 0 && !keeps && !replay && run_time_fused(l, f, p, point_at)) return;
  for (int64_t step = 0; step < l.length; ++step) {
    const int64_t t = point_at(step);
    if (replay) {  // step `step` of the loop running back is position T-1-step of the forward one
      replay->bring(l.length - 1 - step);
      for (const auto& [b, c] : l.revolve->reads) f.in[b] = replay->at_hand(c);
    }
    f.run(p, depth, ls);
    // Outputs that share the slots of a sequence: written once the step has read its slice.
    for (size_t k = l.carries; k < l.results.size(); ++k)
      if (l.staged_at[k] >= 0)
        std::memcpy(outer.ptr(l.results[k]) + t * l.result_step[k] * static_cast<int64_t>(size_of(l.results[k].dtype)),
                    f.scratch + l.staged_at[k], bytes_of(l.body->outputs[l.body_output[k]]));
    if (keeps && step + 1 < l.length)
      for (int c = 0; c < l.carries; ++c) keep(step + 1, c, f.out[c]);
  }
}

void run_steps(const Schedule& s, const Bases& b, const Program& p, int depth, const Listener& ls) {
  std::pmr::vector<void*> ptrs(b.ws->pool());
  const bool on = p.profile > 0 && b.ws->calls > 2, per_step = p.profile >= 2;
  const int threads = p.threads;
  for (size_t i = 0; i < s.steps.size(); ++i) {
    const Step& st = s.steps[i];
    const auto t0 = on ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};
    switch (st.kind) {
      case Step::Kind::Kernel: run_kernel(st.kernel, p.kernels[st.kernel.kernel], b, threads, ptrs); break;
      case Step::Kind::Gemm:
        run_gemm(st.gemm, b.ptr(st.gemm.a), b.ptr(st.gemm.b), b.ptr(st.gemm.c),
                 st.gemm.b.dtype == DType::i8 ? b.ptr(st.gemm.scale) : nullptr, threads);
        break;
      case Step::Kind::Library: run_library(st.library, b); break;
      case Step::Kind::Loop: run_loop(*st.loop, b, p, depth, ls); break;
    }
    if (ls.hooks) {
      if (depth == 0 && ls.hooks->ready)
        for (int k : (*ls.final_after)[i]) ls.hooks->ready(k, (*ls.outputs)[static_cast<size_t>(k)]);
      if (ls.hooks->between_steps) ls.hooks->between_steps();
    }
    if (on) {
      static const char* kinds[] = {"kernel", "gemm", "library", "loop (all of it)"};
      const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      std::string key =
          std::string(depth > 0 && st.kind != Step::Kind::Loop ? "in loops: " : "") + kinds[static_cast<int>(st.kind)];
      if (st.kind == Step::Kind::Loop) key = "loop (all of it)";
      if (per_step && (depth == 0 || st.kind != Step::Kind::Loop)) {
        key = fmt::format("{}step {:3} {}", depth > 0 ? "in loops: " : "", i, kinds[static_cast<int>(st.kind)]);
        if (st.kind == Step::Kind::Gemm)
          key += fmt::format(" {}x{}", to_string(st.gemm.a.shape), to_string(st.gemm.b.shape));
        if (st.kind == Step::Kind::Kernel) key += fmt::format(" {} points", st.kernel.points);
      }
      profile_add(key, dt);
    }
  }
}

// The outputs each top-level step completes: an output is final after the last step that touches
// it (written or read; a loop's bindings, results and histories included).
std::vector<std::vector<int>> final_after(const Schedule& s) {
  std::vector<int> last(s.outputs.size(), -1);
  for (size_t i = 0; i < s.steps.size(); ++i) {
    const Step& st = s.steps[i];
    auto touch = [&](const Access& a) {
      if (a.buf.space == Space::Output && a.buf.index >= 0)
        last[static_cast<size_t>(a.buf.index)] = static_cast<int>(i);
    };
    switch (st.kind) {
      case Step::Kind::Kernel:
        for (const Access& a : st.kernel.args) touch(a);
        break;
      case Step::Kind::Gemm: touch(st.gemm.a), touch(st.gemm.b), touch(st.gemm.c); break;
      case Step::Kind::Library:
        for (const Access& a : st.library.inputs) touch(a);
        touch(st.library.out);
        break;
      case Step::Kind::Loop:
        for (const auto* list : {&st.loop->bindings, &st.loop->results, &st.loop->history})
          for (const Access& a : *list) touch(a);
        touch(st.loop->scratch);
        break;
    }
  }
  // One more slot: outputs no step touches are reported after the last step.
  std::vector<std::vector<int>> at(s.steps.size() + 1);
  for (size_t k = 0; k < last.size(); ++k)
    at[last[k] >= 0 ? static_cast<size_t>(last[k]) : s.steps.size()].push_back(static_cast<int>(k));
  return at;
}

// One run in workspace w; its pool and arena are the only memory it writes besides the outputs.
void run_in(const Program& p, Workspace& w, std::byte* const* in, std::byte* const* out, const Listener& ls) {
  ++w.calls;
  const Schedule& s = p.schedule;
  const auto t0 = std::chrono::steady_clock::now();
  run_steps(s, Bases{w.arena(), in, out, &s.literals, &s.buffers, &w}, p, 0, ls);
  if (p.profile > 0 && w.calls <= 2) {  // their steps are not counted (see profile.cpp)
    const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    profile_add("first two calls (apart)", dt);
  }
}

// The program's own workspace, made at its first run (a compiled function that is never run, or
// only planned, as memory_budget does with every schedule it tries, takes no memory). p.mu held.
Workspace& own_workspace(Program& p) {
  if (!p.workspace) p.workspace = std::make_unique<Workspace>(p.schedule);
  return *p.workspace;
}

}  // namespace

std::vector<Tensor> run(Program& p, const std::vector<Tensor>& args, const RunHooks& hooks) {
  const Schedule& s = p.schedule;
  if (args.size() != s.inputs.size())
    throw Error(fmt::format("rnnc: compiled function: takes {} inputs, {} were given", s.inputs.size(), args.size()));
  for (size_t i = 0; i < args.size(); ++i)
    if (!args[i].defined() || args[i].shape() != s.inputs[i].shape || args[i].dtype() != s.inputs[i].dtype)
      throw Error(fmt::format("rnnc: compiled function: input {} ('{}') expects {}{}, got {}", i, s.inputs[i].name,
                              name_of(s.inputs[i].dtype), to_string(s.inputs[i].shape),
                              args[i].defined()
                                  ? fmt::format("{}{}", name_of(args[i].dtype()), to_string(args[i].shape()))
                                  : std::string("an undefined tensor")));
  std::lock_guard<std::mutex> lock(p.mu);
  // Fresh output tensors, except that an output of the previous call that nobody holds any more is
  // reused: large fresh allocations come from mmap and cost page faults on every call.
  std::vector<Tensor> outputs;
  outputs.reserve(s.outputs.size());
  p.recycled.resize(s.outputs.size());
  for (size_t k = 0; k < s.outputs.size(); ++k) {
    Tensor out;
    for (Tensor& old : p.recycled[k])
      if (!out.defined() && old.defined() && old.sole_owner()) out = old;
    outputs.push_back(out.defined() ? out : Tensor::empty(s.outputs[k].shape, s.outputs[k].dtype));
  }

  std::vector<std::byte*> in, out;
  for (const Tensor& t : args) in.push_back(static_cast<std::byte*>(const_cast<void*>(t.raw())));
  for (Tensor& t : outputs) out.push_back(static_cast<std::byte*>(t.raw()));
  Listener ls;
  if (hooks.ready || hooks.between_steps) {
    if (p.final_after.empty()) p.final_after = final_after(s);
    ls = Listener{&hooks, &outputs, &p.final_after};
  }
  run_in(p, own_workspace(p), in.data(), out.data(), ls);
  if (hooks.ready)
    for (int k : p.final_after.back()) hooks.ready(k, outputs[static_cast<size_t>(k)]);
  for (size_t k = 0; k < outputs.size(); ++k) {
    auto& r = p.recycled[k];
    if (r[0].raw() != outputs[k].raw()) r[1] = std::exchange(r[0], outputs[k]);  // newest first
  }
  return outputs;
}

void run_into(Program& p, const void* const* inputs, void* const* outputs) {
  std::lock_guard<std::mutex> lock(p.mu);
  run_into(p, own_workspace(p), inputs, outputs);
}

void run_into(const Program& p, Workspace& w, const void* const* inputs, void* const* outputs) {
  run_in(p, w, const_cast<std::byte* const*>(reinterpret_cast<const std::byte* const*>(inputs)),
         reinterpret_cast<std::byte* const*>(outputs), Listener{});
}

Workspace::Workspace(const Schedule& s)
    : arena_(static_cast<std::byte*>(
          ::operator new[](static_cast<size_t>(std::max<int64_t>(s.arena_bytes, 64)), std::align_val_t{64}))) {}

void Workspace::Free::operator()(std::byte* p) const { ::operator delete[](p, std::align_val_t{64}); }

}  // namespace rnnc::exec
