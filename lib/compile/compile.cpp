// compile(): passes -> lower (fusion) -> memory plan -> JIT -> a callable Program per shape signature.
#include "rnnc/compile.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "codegen/codegen.h"
#include "compile/built.h"
#include "compile/host.h"
#include "exec/executor.h"
#include "exec/gemm.h"
#include "exec/quantize.h"
#include "exec/revolve.h"
#include "lower/schedule.h"
#include "rnnc/error.h"
#include "rnnc/passes.h"

namespace rnnc {

namespace {

double since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

int thread_count(const CompileOptions& o) {
  if (o.threads > 0) return o.threads;
  if (o.env.threads > 0) return o.env.threads;
  return std::max(1u, std::thread::hardware_concurrency());
}

std::string signature(const std::vector<Spec>& specs) {
  std::string s;
  for (const Spec& x : specs) s += fmt::format("{}{};", name_of(x.dtype), to_string(x.shape));
  return s;
}

// The optimised graph lowered and its memory planned, for one recomputation schedule (and
// choice of gather_rows). `split` says whether the schedule found a loop pair to recompute (a
// loop over segments).
std::shared_ptr<lower::Lowered> plan(const Function& f, const CompileOptions& o, PassOptions po, CompileStats& st,
                                     bool* split = nullptr) {
  const auto t0 = std::chrono::steady_clock::now();
  const bool bf16 = po.bf16 = o.bf16 && o.optimize && bf16_pays(true, o.env.bf16_force);
  po.pretranspose = transposed_copy_pays(o.env);
  const Checkpointing& c = po.checkpointing;
  const Function g = o.optimize ? optimize(f, o.env, po) : f;
  st.pass_seconds += since(t0);
  const std::vector<NodePtr> order = topo_order(g.outputs);
  st.nodes = static_cast<int>(order.size());
  if (split)
    *split = std::any_of(order.begin(), order.end(),
                         [](const NodePtr& n) { return n->op == Op::Scan && n->loop->segments; });
  const auto t1 = std::chrono::steady_clock::now();
  auto p = std::make_shared<lower::Lowered>(lower::lower(g.outputs, g.inputs));
  lower::plan_memory(p->schedule);
  st.lower_seconds += since(t1);
  st.checkpointing = c;
  st.bf16 = bf16;
  st.arena_bytes = p->schedule.arena_bytes;
  return p;
}

// The group of schedules c belongs to in candidates()' order, fastest first: store all (0), one,
// two and three levels of segments (1, 2, 3), Revolve (last).
size_t schedule_group(const Checkpointing& c) { return c.slots > 0 ? 100 : c.every.size(); }

// The plans for a memory budget, fastest first: storing every step (with a character model's
// input rows gathered in the loop, then gathered before it, which lets the loops reuse that
// buffer: gather_rows), then recomputation over one level of segments from long to short (each
// recomputes the forward pass once; longer segments run larger GEMMs), then two levels. s segments
// of T / s steps leave fewer than s steps over, which are stored.
std::vector<PassOptions> candidates(int64_t T) {
  std::vector<Checkpointing> all{{}};
  std::vector<int64_t> counts;  // segments: 2, 3, 4, 6, 8, 12, ...
  for (int64_t s = 2; s <= T / 2; s = s % 3 == 0 ? s / 3 * 4 : s / 2 * 3) counts.push_back(s);
  int64_t last = 0;
  for (int64_t s : counts)
    if (const int64_t k = T / s; k != last && k >= 1) all.push_back({{last = k}});
  for (int64_t s : counts) {
    const int64_t k1 = T / s;
    if (k1 < 8 || T / k1 < 2) continue;
    const int64_t k2 = std::max<int64_t>(2, static_cast<int64_t>(std::sqrt(static_cast<double>(k1))));
    if (k1 / k2 >= 2) all.push_back({{k1, k2}});
  }
  // Three levels: each step recomputed at most three times, for the least memory. The inner
  // segments grow as the cube root of the outer ones, so that each level holds about as many
  // checkpoints as the others.
  for (int64_t s : counts) {
    const int64_t k1 = T / s;
    if (k1 < 27 || T / k1 < 2) continue;
    const int64_t k3 = std::max<int64_t>(2, std::llround(std::cbrt(static_cast<double>(k1))));
    const int64_t k2 = k3 * k3;
    if (k1 / k2 >= 2 && k2 / k3 >= 2) all.push_back({{k1, k2, k3}});
  }
  // Revolve, last: the fewest slots with which each step runs again at most r times, r = 2, 3, 4,
  // 6, ... (revolve.h): fewer carries kept than any level of segments, each step's values
  // recomputed one step at a time.
  int last_slots = static_cast<int>(std::min<int64_t>(T, 1 << 20));
  for (int64_t r : {2, 3, 4, 6, 8, 12, 16, 24, 32}) {
    int S = 1;
    while (S < last_slots && exec::revolve_steps(S, r) < T) ++S;
    if (S >= 2 && S < last_slots) all.push_back(Checkpointing{{}, last_slots = S});
  }
  std::vector<PassOptions> plans(all.size() + 1);  // gathers_in_loops in the first only
  for (size_t i = 0; i < all.size(); ++i) {
    plans[i + 1].checkpointing = all[i];
    plans[i + 1].gathers_in_loops = false;
  }
  return plans;
}

int64_t longest_loop(const Function& f) {
  int64_t T = 0;
  for (const NodePtr& n : topo_order(f.outputs))
    if (n->op == Op::Scan) T = std::max(T, n->loop->length);
  return T;
}

// The search for the fastest plan within CompileOptions::memory_budget: over the schedules of
// candidates(), fastest first, then per loop pair a faster schedule where the plan still fits.
class BudgetSearch {
 public:
  BudgetSearch(const Function& f, const CompileOptions& o, CompileStats& st) : f_(f), o_(o), st_(st) {}

  std::shared_ptr<lower::Lowered> run() {
    st_.plans_tried = 0;
    search_schedules();
    st_.within_budget = best_ <= o_.memory_budget;
    if (st_.within_budget && !best_c_.stores_all() && !best_in_loops_) mix_pairs();
    if (!st_.within_budget && !o_.least_if_over_budget)
      throw Error(
          fmt::format("rnnc: compile: memory_budget of {} bytes ({:.1f} MiB) cannot be met: the smallest "
                      "plan reached needs {} bytes ({:.1f} MiB), with {}",
                      o_.memory_budget, mib(o_.memory_budget), best_, mib(best_), best_c_.str()));
    st_.checkpointing = best_c_;  // a plan that fits is the first to (and the least)
    st_.steps_in_loops = best_in_loops_;
    st_.arena_bytes = best_;
    return best_p_;
  }

 private:
  static double mib(int64_t bytes) { return static_cast<double>(bytes) / (1 << 20); }

  std::shared_ptr<lower::Lowered> plan_logged(const PassOptions& po, const std::string& what, bool* split = nullptr) {
    auto q = plan(f_, o_, po, st_, split);
    ++st_.plans_tried;
    if (o_.env.dumps("memory"))
      fmt::print(stderr, "// memory_budget {}: {} plans {} bytes\n", o_.memory_budget, what, q->schedule.arena_bytes);
    return q;
  }

  void take(const std::shared_ptr<lower::Lowered>& q, const Checkpointing& c, bool in_loops) {
    best_ = q->schedule.arena_bytes;
    best_c_ = c;
    best_p_ = q;
    best_in_loops_ = in_loops;
  }

  // The schedules, fastest first, until one fits. Past the least memory of one level of
  // segments, shorter segments only need more: go on to the next level.
  void search_schedules() {
    size_t level = 0;
    int64_t level_least = -1;
    bool level_done = false;
    for (const PassOptions& po : candidates(longest_loop(f_))) {
      const Checkpointing& c = po.checkpointing;
      const size_t group = schedule_group(c);
      if (group != level) {
        level = group;
        level_least = -1;
        level_done = false;
      }
      if (level_done) continue;
      bool split = false;
      auto q = plan_logged(po, c.str() + (po.gathers_in_loops ? " (rows gathered in the loops)" : ""), &split);
      const int64_t bytes = q->schedule.arena_bytes;
      if (bytes > o_.memory_budget) {
        auto [least, fresh] = group_least_.try_emplace(group, c, bytes);
        if (!fresh && bytes < least->second.second) least->second = {c, bytes};
        before_chosen_ = c;
      }
      if (!c.stores_all() && !split) {
        nothing_to_recompute(po);
        return;
      }
      if (best_ < 0 || bytes < best_) take(q, c, false);
      if (bytes <= o_.memory_budget) return;
      level_done = level_least >= 0 && bytes > level_least * 3 / 2;
      if (level_least < 0 || bytes < level_least) level_least = bytes;
    }
  }

  // No backward loop to recompute: the plan moved the per-step work into the loops where it could
  // (checkpoint_loops.cpp), and every other schedule plans the same. With nothing stacked to
  // reuse, gathering a step's rows in the loop takes least memory too.
  void nothing_to_recompute(PassOptions po) {
    po.gathers_in_loops = true;
    auto q = plan_logged(po, "the per-step work in the loops (rows gathered in the loops)");
    if (q->schedule.arena_bytes < best_ || best_ < 0) take(q, {}, true);
    if (best_ <= o_.memory_budget || o_.least_if_over_budget) return;
    throw Error(
        fmt::format("rnnc: compile: memory_budget of {} bytes ({:.1f} MiB) cannot be met: the least "
                    "plan needs {} bytes ({:.1f} MiB) with the per-step work moved into the loops, and "
                    "the function has no forward and backward loop pair (the gradient of a scan) whose "
                    "steps could be recomputed",
                    o_.memory_budget, mib(o_.memory_budget), best_, mib(best_)));
  }

  // Per loop pair: the memory peak is where some pairs' values are alive, not all. Each pair in
  // turn takes a faster schedule where the plan still fits: store everything, the least memory of
  // each faster group of schedules, the schedule planned just before the one chosen, fastest first.
  void mix_pairs() {
    const size_t chosen_group = schedule_group(best_c_);
    std::vector<Checkpointing> faster{Checkpointing{}};
    for (const auto& [group, least] : group_least_)
      if (group > 0 && group < chosen_group) faster.push_back(least.first);
    if (before_chosen_ != best_c_ && !before_chosen_.stores_all() &&
        std::find(faster.begin(), faster.end(), before_chosen_) == faster.end())
      faster.push_back(before_chosen_);
    const int pairs = loop_pairs(merge_loops(f_.outputs));
    if (pairs <= 1) return;
    // The list covers every pair.
    Checkpointing mixed{
        {}, 0, std::vector<Checkpointing>(static_cast<size_t>(pairs), Checkpointing{best_c_.every, best_c_.slots, {}})};
    for (int i = 0; i < pairs; ++i)
      for (const Checkpointing& quicker : faster) {
        Checkpointing trial = mixed;
        trial.pairs[i] = quicker;
        PassOptions po;
        po.checkpointing = trial;
        po.gathers_in_loops = false;
        auto q = plan_logged(po, trial.str());
        if (q->schedule.arena_bytes > o_.memory_budget) continue;
        mixed = trial;
        take(q, trial, false);
        break;
      }
  }

  const Function& f_;
  const CompileOptions& o_;
  CompileStats& st_;
  int64_t best_ = -1;
  Checkpointing best_c_;
  std::shared_ptr<lower::Lowered> best_p_;  // the least plan, for least_if_over_budget
  bool best_in_loops_ = false;
  // Per group of schedules (store all, 1, 2, 3 levels, Revolve), fastest first: the schedule of
  // least memory planned, and the one planned last before the one chosen.
  std::map<size_t, std::pair<Checkpointing, int64_t>> group_least_;
  Checkpointing before_chosen_;
};

// The plan's kernels compiled (those of loop bodies too, in one module) into a run-time program.
std::shared_ptr<exec::Program> compile_kernels(const lower::Lowered& l, const CompileOptions& o, CompileStats& st) {
  std::vector<const lower::KernelDesc*> descs;
  std::set<std::string> unique;
  for (const lower::Kernel& k : l.kernels) {
    descs.push_back(&k.desc);
    unique.insert(k.desc.key());
  }
  std::function<void(const exec::Schedule&)> count = [&](const exec::Schedule& s) {
    for (const exec::Step& step : s.steps) {
      if (step.kind == exec::Step::Kind::Loop) count(*step.loop->body);
      st.gemms += step.kind == exec::Step::Kind::Gemm;
      st.library_calls += step.kind == exec::Step::Kind::Library;
      st.loops += step.kind == exec::Step::Kind::Loop;
      st.lanes_apart_loops += step.kind == exec::Step::Kind::Loop && step.loop->lanes_apart;
      st.steps += step.kind != exec::Step::Kind::Loop;
    }
  };
  count(l.schedule);
  codegen::JitStats js;
  auto program = std::make_shared<exec::Program>();
  program->kernels = codegen::get_kernels(descs, o.env, &js);
  program->schedule = l.schedule;
  if (o.int8) st.int8_gemms = exec::quantize_weights(program->schedule);
  program->threads = thread_count(o);
  program->profile = o.env.profile;
  st.kernels = static_cast<int>(descs.size());
  st.unique_kernels = static_cast<int>(unique.size());
  st.compiled_kernels = js.compiled;
  st.disk_hits = js.disk_hits;
  st.jit_seconds = js.seconds;
  return program;
}

Built build(const Function& f, const CompileOptions& o, CompileStats& st) {
  const auto t0 = std::chrono::steady_clock::now();
  std::shared_ptr<lower::Lowered> p;
  if (o.memory_budget <= 0) {
    PassOptions po;
    po.checkpointing = o.checkpointing;
    po.gathers_in_loops = o.checkpointing.stores_all();  // recomputing: memory first (gather_rows.cpp)
    p = plan(f, o, po, st);
  } else {
    p = BudgetSearch(f, o, st).run();
  }
  Built b{compile_kernels(*p, o, st), p};
  st.seconds = since(t0);
  if (o.env.dumps("groups"))
    std::cerr << "=== RNNC_DUMP groups ===\n" << lower::str(p->schedule, p->kernels) << st.str() << "\n";
  if (o.env.dumps("dot")) std::cerr << lower::dot(*p);
  return b;
}

}  // namespace

Built Compiled::Impl::get(const std::vector<Spec>& specs) {
  std::lock_guard<std::mutex> lock(mu);
  const std::string sig = signature(specs);
  if (auto it = programs.find(sig); it != programs.end()) return it->second;
  Function g = f;
  if (sig != signature(f.input_specs())) {
    if (!f.source)
      throw Error(
          fmt::format("rnnc: compiled function: called with {} but traced for {}, and it has no source "
                      "to trace again",
                      sig, signature(f.input_specs())));
    g = f.retrace(specs);
  }
  CompileStats st;
  Built b = build(g, options, st);
  latest = b;
  stats = st;
  return programs.emplace(sig, std::move(b)).first->second;
}

Built built(const Compiled& c) {
  if (!c.impl_) throw Error("rnnc: compiled function: empty (default-constructed)");
  std::lock_guard<std::mutex> lock(c.impl_->mu);
  return c.impl_->latest;
}

std::string CompileStats::str() const {
  return fmt::format(
      "compile: {:.3f} s (passes {:.3f}, lowering {:.3f}, jit {:.3f}); {} nodes -> {} steps: {} kernels "
      "({} distinct, {} compiled, {} from disk), {} gemms, {} library calls, {} loops{}; arena {:.1f} KiB{}; "
      "{}{}{}{}{}",
      seconds, pass_seconds, lower_seconds, jit_seconds, nodes, steps, kernels, unique_kernels, compiled_kernels,
      disk_hits, gemms, library_calls, loops,
      lanes_apart_loops > 0 ? fmt::format(" ({} lanes apart)", lanes_apart_loops) : "",
      static_cast<double>(arena_bytes) / 1024.0, within_budget ? "" : " (over memory_budget: the least plan)",
      checkpointing.str(), plans_tried > 1 ? fmt::format(" (of {} plans)", plans_tried) : "",
      steps_in_loops ? " (the per-step work in the loops)" : "", bf16 ? "; GEMMs in bf16" : "",
      int8_gemms > 0 ? fmt::format("; {} GEMMs on int8 weights", int8_gemms) : "");
}

Compiled compile(const Function& f, const CompileOptions& options) {
  Compiled c;
  c.impl_ = std::make_shared<Compiled::Impl>();
  c.impl_->f = f;
  c.impl_->options = options;
  c.impl_->get(f.input_specs());
  return c;
}

std::vector<Tensor> Compiled::operator()(const std::vector<Tensor>& args) const { return (*this)(args, RunHooks{}); }

std::vector<Tensor> Compiled::operator()(const std::vector<Tensor>& args, const RunHooks& hooks) const {
  if (!impl_) throw Error("rnnc: compiled function: empty (default-constructed)");
  std::vector<Spec> specs;
  specs.reserve(args.size());
  for (const Tensor& t : args) {
    if (!t.defined()) throw Error("rnnc: compiled function: an argument is an undefined tensor");
    specs.push_back(Spec{t.shape(), t.dtype(), ""});
  }
  const std::vector<Var>& in = impl_->f.inputs;
  if (specs.size() != in.size())
    throw Error(fmt::format("rnnc: compiled function: takes {} inputs, {} were given", in.size(), specs.size()));
  // New shapes trace again; a new dtype is a mistake (it would change the model's precision).
  for (size_t i = 0; i < in.size(); ++i)
    if (specs[i].dtype != in[i].dtype())
      throw Error(fmt::format("rnnc: compiled function: input {} ('{}') was traced as {}{}, got {}{}", i, in[i]->name,
                              name_of(in[i].dtype()), to_string(in[i].shape()), name_of(specs[i].dtype),
                              to_string(specs[i].shape)));
  return exec::run(*impl_->get(specs).program, args, hooks);
}

const CompileStats& Compiled::stats() const {
  if (!impl_) throw Error("rnnc: compiled function: empty (default-constructed)");
  return impl_->stats;
}

std::string Compiled::dot() const {
  if (!impl_) throw Error("rnnc: compiled function: empty (default-constructed)");
  std::lock_guard<std::mutex> lock(impl_->mu);
  return lower::dot(*impl_->latest.lowered);
}

std::shared_ptr<exec::Program> Compiled::program() const {
  if (!impl_) throw Error("rnnc: compiled function: empty (default-constructed)");
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->latest.program;
}

std::string Compiled::schedule() const {
  if (!impl_) throw Error("rnnc: compiled function: empty (default-constructed)");
  std::lock_guard<std::mutex> lock(impl_->mu);
  return lower::str(impl_->latest.lowered->schedule, impl_->latest.lowered->kernels);
}

}  // namespace rnnc
