// Models and streams of the run time's C interface (rnnc/c_runtime.h): an exported model's image
// checked and read once, and streams that each own a state (two copies, written alternately: a
// step reads one and writes the other) and a workspace, so that they step at once without a lock.
#include <fmt/format.h>

#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "exec/c_interface.h"
#include "exec/executor.h"
#include "exec/serialize.h"
#include "rnnc/c_runtime.h"
#include "rnnc/error.h"

#ifndef RNNC_VERSION
#define RNNC_VERSION "unknown"
#endif

struct rnnc_model {
  const rnnc_model_image* image = nullptr;
  rnnc::exec::Program program;
  int states = 0;
  std::vector<rnnc::Spec> inputs, outputs, state;  // the step's, without the state; the state's
  std::vector<int64_t> state_at;                   // byte offset of each part in a copy of the state
  int64_t state_bytes = 0;
};

struct rnnc_stream {
  const rnnc_model* model = nullptr;
  rnnc::exec::Workspace workspace;
  std::unique_ptr<std::byte[]> state;  // two copies of the state; `now` is the current one
  int now = 0;
  std::vector<const void*> in;  // the program's inputs and outputs, made once
  std::vector<void*> out;
  explicit rnnc_stream(const rnnc_model* m) : model(m), workspace(m->program.schedule) {}
  std::byte* copy(int c) const { return state.get() + c * model->state_bytes; }
};

namespace {

using rnnc::exec::report;
using rnnc::exec::spec_of;

int64_t bytes_of(const rnnc::Spec& s) { return rnnc::numel(s.shape) * static_cast<int64_t>(rnnc::size_of(s.dtype)); }

// Whether this CPU has a feature by the name LLVM and GCC give it (those a kernel or the run time
// may use; a name not listed here is not checked).
bool cpu_has(std::string_view f, bool& known) {
  known = true;
#define RNNC_FEATURE(name) \
  if (f == name) return __builtin_cpu_supports(name);
  RNNC_FEATURE("sse4.2")
  RNNC_FEATURE("avx") RNNC_FEATURE("avx2") RNNC_FEATURE("fma") RNNC_FEATURE("f16c") RNNC_FEATURE("bmi")
      RNNC_FEATURE("bmi2") RNNC_FEATURE("avx512f") RNNC_FEATURE("avx512bw") RNNC_FEATURE("avx512vl")
          RNNC_FEATURE("avx512dq") RNNC_FEATURE("avx512cd") RNNC_FEATURE("avx512vnni") RNNC_FEATURE("avx512bf16")
              RNNC_FEATURE("avx512vbmi") RNNC_FEATURE("avx512vbmi2") RNNC_FEATURE("avx512ifma")
                  RNNC_FEATURE("avx512vpopcntdq") RNNC_FEATURE("avx512bitalg") RNNC_FEATURE("avx512fp16")
                      RNNC_FEATURE("avxvnni") RNNC_FEATURE("gfni") RNNC_FEATURE("vpclmulqdq") RNNC_FEATURE("vaes")
                          RNNC_FEATURE("amx-tile") RNNC_FEATURE("amx-bf16") RNNC_FEATURE("amx-int8")
#undef RNNC_FEATURE
                              known = false;
  return true;
}

void check_cpu(const rnnc_model_image& im) {
  std::string missing;
  std::string_view all = im.features ? im.features : "";
  while (!all.empty()) {
    const size_t comma = all.find(',');
    const std::string_view f = all.substr(0, comma);
    all = comma == std::string_view::npos ? std::string_view() : all.substr(comma + 1);
    bool known = false;
    if (!f.empty() && !cpu_has(f, known)) missing += (missing.empty() ? "" : ", ") + std::string(f);
  }
  if (!missing.empty())
    throw rnnc::Error(
        fmt::format("rnnc: model: exported for {} and this CPU lacks {}: export it again on this machine "
                    "(or on one of its kind)",
                    im.cpu ? im.cpu : "another CPU", missing));
}

std::unique_ptr<rnnc_model> read(const rnnc_model_image* im, int threads) {
  if (!im) throw rnnc::Error("rnnc: model: no image");
  if (im->format != RNNC_MODEL_FORMAT)
    throw rnnc::Error(
        fmt::format("rnnc: model: exported in format {} by rnnc {}, this run time (rnnc {}) reads format {}",
                    im->format, im->version ? im->version : "?", RNNC_VERSION, RNNC_MODEL_FORMAT));
  check_cpu(*im);
  if (!im->program || (im->kernel_count > 0 && !im->kernels))
    throw rnnc::Error("rnnc: model: no program or no kernels");
  auto m = std::make_unique<rnnc_model>();
  m->image = im;
  rnnc::exec::Program& p = m->program;
  p.schedule = rnnc::exec::deserialize(std::string_view(static_cast<const char*>(im->program), im->program_size));
  rnnc::exec::check_references(p.schedule, static_cast<size_t>(im->kernel_count));
  p.kernels.assign(im->kernels, im->kernels + im->kernel_count);
  p.threads = threads > 0 ? threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));

  // The state: the first `states` inputs, written back by the last `states` outputs.
  const auto& in = p.schedule.inputs;
  const auto& out = p.schedule.outputs;
  const size_t S = static_cast<size_t>(std::max(im->states, 0));
  if (im->states < 0 || S > in.size() || S > out.size())
    throw rnnc::Error(fmt::format("rnnc: model: {} state parts, but the program has {} inputs and {} outputs",
                                  im->states, in.size(), out.size()));
  m->states = static_cast<int>(S);
  m->state.assign(in.begin(), in.begin() + static_cast<std::ptrdiff_t>(S));
  m->inputs.assign(in.begin() + static_cast<std::ptrdiff_t>(S), in.end());
  m->outputs.assign(out.begin(), out.end() - static_cast<std::ptrdiff_t>(S));
  for (size_t i = 0; i < S; ++i) {
    const rnnc::Spec& next = out[out.size() - S + i];
    if (next.shape != m->state[i].shape || next.dtype != m->state[i].dtype)
      throw rnnc::Error(fmt::format("rnnc: model: state part {} ('{}') is {}{} but the step returns {}{}", i,
                                    m->state[i].name, rnnc::name_of(m->state[i].dtype),
                                    rnnc::to_string(m->state[i].shape), rnnc::name_of(next.dtype),
                                    rnnc::to_string(next.shape)));
    m->state_at.push_back(m->state_bytes);
    m->state_bytes += (bytes_of(m->state[i]) + 63) / 64 * 64;  // each part on its own cache lines
  }
  int64_t initial = 0;
  for (const rnnc::Spec& s : m->state) initial += bytes_of(s);
  if (im->initial_state_size != static_cast<uint64_t>(initial) || (initial > 0 && !im->initial_state))
    throw rnnc::Error(
        fmt::format("rnnc: model: the initial state has {} bytes, its parts take {}", im->initial_state_size, initial));
  return m;
}

}  // namespace

extern "C" {

rnnc_model* rnnc_model_new(const rnnc_model_image* image, int threads, char* err, size_t err_size) {
  try {
    return read(image, threads).release();
  } catch (const std::exception& e) {
    report(err, err_size, e.what());
    return nullptr;
  }
}

void rnnc_model_free(rnnc_model* m) { delete m; }

int rnnc_model_inputs(const rnnc_model* m) { return m ? static_cast<int>(m->inputs.size()) : 0; }
int rnnc_model_outputs(const rnnc_model* m) { return m ? static_cast<int>(m->outputs.size()) : 0; }
int rnnc_model_states(const rnnc_model* m) { return m ? m->states : 0; }
int rnnc_model_input(const rnnc_model* m, int i, rnnc_spec* spec) {
  return m ? spec_of(m->inputs, i, spec) : RNNC_ERROR;
}
int rnnc_model_output(const rnnc_model* m, int i, rnnc_spec* spec) {
  return m ? spec_of(m->outputs, i, spec) : RNNC_ERROR;
}
int rnnc_model_state(const rnnc_model* m, int i, rnnc_spec* spec) {
  return m ? spec_of(m->state, i, spec) : RNNC_ERROR;
}

const char* rnnc_model_metadata(const rnnc_model* m, const char* key) {
  if (!m || !key || !m->image->metadata) return nullptr;
  for (const char* const* kv = m->image->metadata; kv[0] && kv[1]; kv += 2)
    if (std::strcmp(kv[0], key) == 0) return kv[1];
  return nullptr;
}

rnnc_stream* rnnc_stream_new(const rnnc_model* m, char* err, size_t err_size) {
  try {
    if (!m) throw rnnc::Error("rnnc: stream: NULL model");
    auto s = std::make_unique<rnnc_stream>(m);
    s->state = std::make_unique<std::byte[]>(static_cast<size_t>(2 * m->state_bytes));
    s->in.resize(m->program.schedule.inputs.size());
    s->out.resize(m->program.schedule.outputs.size());
    rnnc_stream_reset(s.get());
    return s.release();
  } catch (const std::exception& e) {
    report(err, err_size, e.what());
    return nullptr;
  }
}

void rnnc_stream_free(rnnc_stream* s) { delete s; }

void rnnc_stream_reset(rnnc_stream* s) {
  if (!s) return;
  const rnnc_model& m = *s->model;
  s->now = 0;
  const auto* from = static_cast<const std::byte*>(m.image->initial_state);
  for (int i = 0; i < m.states; ++i) {
    const int64_t n = bytes_of(m.state[static_cast<size_t>(i)]);
    std::memcpy(s->copy(0) + m.state_at[static_cast<size_t>(i)], from, static_cast<size_t>(n));
    from += n;
  }
}

void* rnnc_stream_state(rnnc_stream* s, int i) {
  if (!s || i < 0 || i >= s->model->states) return nullptr;
  return s->copy(s->now) + s->model->state_at[static_cast<size_t>(i)];
}

int rnnc_stream_step(const rnnc_model* m, rnnc_stream* s, const void* const* inputs, void* const* outputs, char* err,
                     size_t err_size) {
  try {
    if (!m || !s) throw rnnc::Error("rnnc: stream: NULL model or stream");
    if (s->model != m) throw rnnc::Error("rnnc: stream: made for another model");
    if ((!inputs && !m->inputs.empty()) || (!outputs && !m->outputs.empty()))
      throw rnnc::Error("rnnc: stream: NULL inputs or outputs");
    const size_t S = static_cast<size_t>(m->states), I = m->inputs.size(), O = m->outputs.size();
    for (size_t i = 0; i < I; ++i) {
      if (!inputs[i] && rnnc::numel(m->inputs[i].shape) > 0)
        throw rnnc::Error(fmt::format("rnnc: stream: input {} ('{}') is NULL", i, m->inputs[i].name));
      s->in[S + i] = inputs[i];
    }
    for (size_t k = 0; k < O; ++k) {
      if (!outputs[k] && rnnc::numel(m->outputs[k].shape) > 0)
        throw rnnc::Error(fmt::format("rnnc: stream: output {} is NULL", k));
      s->out[k] = outputs[k];
    }
    for (size_t i = 0; i < S; ++i) {
      s->in[i] = s->copy(s->now) + m->state_at[i];
      s->out[O + i] = s->copy(1 - s->now) + m->state_at[i];
    }
    rnnc::exec::run_into(m->program, s->workspace, s->in.data(), s->out.data());
    s->now = 1 - s->now;
    return RNNC_OK;
  } catch (const std::exception& e) {
    report(err, err_size, e.what());
    return RNNC_ERROR;
  }
}

}  // extern "C"
