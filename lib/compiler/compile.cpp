// compile(): passes -> lower (fusion) -> memory plan -> JIT -> a callable Program per shape signature.
#include "rnnc/compile.h"

#include <fmt/format.h>

#include <chrono>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <map>
#include <set>
#include <thread>

#include "codegen/codegen.h"
#include "rnnc/error.h"
#include "rnnc/passes.h"
#include "compiler/executor.h"

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

std::shared_ptr<exec::Program> build(const Function& f, const CompileOptions& o, CompileStats& st) {
  const auto t0 = std::chrono::steady_clock::now();
  const Function g = o.optimize ? optimize(f, o.env) : f;
  st.pass_seconds = since(t0);
  st.nodes = static_cast<int>(topo_order(g.outputs).size());

  const auto t1 = std::chrono::steady_clock::now();
  auto p = std::make_shared<exec::Program>();
  p->schedule = sched::lower(g.outputs, g.inputs);
  sched::plan_memory(p->schedule);
  st.lower_seconds = since(t1);

  // Kernels of the schedule and of every loop body in it, compiled together.
  std::vector<const codegen::KernelDesc*> descs;
  std::vector<std::pair<sched::Schedule*, size_t>> at;
  std::set<std::string> unique;
  std::function<void(sched::Schedule&)> collect = [&](sched::Schedule& s) {
    s.kernels.assign(s.steps.size(), nullptr);
    for (size_t i = 0; i < s.steps.size(); ++i) {
      sched::Step& step = s.steps[i];
      if (step.kind == sched::Step::Kind::Kernel) {
        descs.push_back(&step.kernel.desc);
        at.emplace_back(&s, i);
      }
      if (step.kind == sched::Step::Kind::Loop) collect(*step.loop->body);
      st.gemms += step.kind == sched::Step::Kind::Gemm;
      st.library_calls += step.kind == sched::Step::Kind::Library;
      st.loops += step.kind == sched::Step::Kind::Loop;
      st.steps += step.kind != sched::Step::Kind::Loop;
    }
  };
  collect(p->schedule);
  codegen::JitStats js;
  std::vector<codegen::KernelFn> fns = codegen::get_kernels(descs, o.env, &js);
  for (size_t k = 0; k < at.size(); ++k) at[k].first->kernels[at[k].second] = fns[k];
  for (const auto* d : descs) unique.insert(d->key());

  p->threads = thread_count(o);
  p->profile = o.env.profile;
  exec::prepare(*p);

  st.kernels = static_cast<int>(descs.size());
  st.unique_kernels = static_cast<int>(unique.size());
  st.compiled_kernels = js.compiled;
  st.disk_hits = js.disk_hits;
  st.jit_seconds = js.seconds;
  st.arena_bytes = p->schedule.arena_bytes;
  st.seconds = since(t0);
  if (o.env.dumps("groups"))
    std::cerr << "=== RNNC_DUMP groups ===\n" << p->schedule.str() << st.str() << "\n";
  if (o.env.dumps("dot"))
    std::cerr << p->schedule.dot();
  return p;
}

}  // namespace

struct Compiled::Impl {
  Function f;
  CompileOptions options;
  std::mutex mu;
  std::map<std::string, std::shared_ptr<exec::Program>> programs;
  std::shared_ptr<exec::Program> latest;
  CompileStats stats;

  std::shared_ptr<exec::Program> get(const std::vector<Spec>& specs) {
    std::lock_guard<std::mutex> lock(mu);
    const std::string sig = signature(specs);
    if (auto it = programs.find(sig); it != programs.end()) return it->second;
    Function g = f;
    if (sig != signature(f.input_specs())) {
      if (!f.source)
        throw Error(fmt::format("rnnc: compiled function: called with {} but traced for {}, and it has no source "
                                "to trace again", sig, signature(f.input_specs())));
      g = f.retrace(specs);
    }
    CompileStats st;
    auto p = build(g, options, st);
    programs.emplace(sig, p);
    latest = p;
    stats = st;
    return p;
  }
};

std::string CompileStats::str() const {
  return fmt::format(
      "compile: {:.3f} s (passes {:.3f}, lowering {:.3f}, jit {:.3f}); {} nodes -> {} steps: {} kernels "
      "({} distinct, {} compiled, {} from disk), {} gemms, {} library calls, {} loops; arena {:.1f} KiB",
      seconds, pass_seconds, lower_seconds, jit_seconds, nodes, steps, kernels, unique_kernels, compiled_kernels,
      disk_hits, gemms, library_calls, loops, static_cast<double>(arena_bytes) / 1024.0);
}

Compiled compile(const Function& f, const CompileOptions& options) {
  Compiled c;
  c.impl_ = std::make_shared<Compiled::Impl>();
  c.impl_->f = f;
  c.impl_->options = options;
  c.impl_->get(f.input_specs());
  return c;
}

std::vector<Tensor> Compiled::operator()(const std::vector<Tensor>& args) const {
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
  return exec::run(*impl_->get(specs), args);
}

const CompileStats& Compiled::stats() const {
  if (!impl_) throw Error("rnnc: compiled function: empty (default-constructed)");
  return impl_->stats;
}

std::string Compiled::dot() const {
  if (!impl_) throw Error("rnnc: compiled function: empty (default-constructed)");
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->latest->schedule.dot();
}

std::string Compiled::schedule() const {
  if (!impl_) throw Error("rnnc: compiled function: empty (default-constructed)");
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->latest->schedule.str();
}

}  // namespace rnnc
