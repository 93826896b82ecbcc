// Models and streams of the run time's C interface (rnnc/c_runtime.h): an exported model's image
// checked and read once, and streams that each own a state (two copies, written alternately: a
// step reads one and writes the other) and a workspace, so that they step at once without a lock.
#include <fmt/format.h>

#include <atomic>
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
  // The batched step (batch > 0): the same inputs and outputs with a leading axis of `batch`.
  int batch = 0;
  rnnc::exec::Program batch_program;
};

// A batch's memory: the batched program's workspace and each of its inputs and outputs for
// `batch` rows (the states gathered into, the inputs and outputs of fewer streams staged in).
struct rnnc_batch {
  const rnnc_model* model = nullptr;
  rnnc::exec::Workspace workspace;
  std::vector<std::unique_ptr<std::byte[]>> in_rows, out_rows;
  std::vector<const void*> in;
  std::vector<void*> out;
  explicit rnnc_batch(const rnnc_model* m) : model(m), workspace(m->batch_program.schedule) {}
};

struct rnnc_stream {
  const rnnc_model* model = nullptr;
  rnnc::exec::Workspace workspace;
  std::unique_ptr<std::byte[]> state;  // two copies of the state; `now` is the current one
  int now = 0;
  // The batch call that took this stream last (calls are numbered across the process) and its row
  // there: a stream given twice is seen in one pass.
  uint64_t batch_call = 0;
  int batch_row = 0;
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
  RNNC_FEATURE("avx")
  RNNC_FEATURE("avx2")
  RNNC_FEATURE("fma") RNNC_FEATURE("f16c") RNNC_FEATURE("bmi") RNNC_FEATURE("bmi2") RNNC_FEATURE("avx512f")
      RNNC_FEATURE("avx512bw") RNNC_FEATURE("avx512vl") RNNC_FEATURE("avx512dq") RNNC_FEATURE("avx512cd")
          RNNC_FEATURE("avx512vnni") RNNC_FEATURE("avx512bf16") RNNC_FEATURE("avx512vbmi") RNNC_FEATURE("avx512vbmi2")
              RNNC_FEATURE("avx512ifma") RNNC_FEATURE("avx512vpopcntdq") RNNC_FEATURE("avx512bitalg")
                  RNNC_FEATURE("avx512fp16") RNNC_FEATURE("avxvnni") RNNC_FEATURE("gfni") RNNC_FEATURE("vpclmulqdq")
                      RNNC_FEATURE("vaes") RNNC_FEATURE("amx-tile") RNNC_FEATURE("amx-bf16") RNNC_FEATURE("amx-int8")
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

// The batched step: each of its inputs and outputs the step's with a leading axis of 1 made B.
void read_batch(const rnnc_model_image& im, rnnc_model& m) {
  if (im.batch == 0) return;
  if (im.batch < 0 || !im.batch_program || (im.batch_kernel_count > 0 && !im.batch_kernels))
    throw rnnc::Error(fmt::format("rnnc: model: a batched step for {} streams without its program", im.batch));
  rnnc::exec::Program& p = m.batch_program;
  p.schedule =
      rnnc::exec::deserialize(std::string_view(static_cast<const char*>(im.batch_program), im.batch_program_size));
  rnnc::exec::check_references(p.schedule, static_cast<size_t>(im.batch_kernel_count));
  p.kernels.assign(im.batch_kernels, im.batch_kernels + im.batch_kernel_count);
  p.threads = m.program.threads;
  auto check = [&](const std::vector<rnnc::Spec>& one, const std::vector<rnnc::Spec>& many, const char* what) {
    if (one.size() != many.size())
      throw rnnc::Error(
          fmt::format("rnnc: model: the batched step has {} {}s, the step {}", many.size(), what, one.size()));
    for (size_t i = 0; i < one.size(); ++i) {
      rnnc::Shape want = one[i].shape;
      const bool ok = !want.empty() && want[0] == 1;
      if (ok) want[0] = im.batch;
      if (!ok || many[i].shape != want || many[i].dtype != one[i].dtype)
        throw rnnc::Error(
            fmt::format("rnnc: model: {} {} ('{}') is {}{} in the step and {}{} in the batched step of "
                        "{} streams (a batched step adds rows to a leading axis of 1)",
                        what, i, one[i].name, rnnc::name_of(one[i].dtype), rnnc::to_string(one[i].shape),
                        rnnc::name_of(many[i].dtype), rnnc::to_string(many[i].shape), im.batch));
    }
  };
  check(m.program.schedule.inputs, p.schedule.inputs, "input");
  check(m.program.schedule.outputs, p.schedule.outputs, "output");
  m.batch = im.batch;
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
  read_batch(*im, *m);
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

int rnnc_model_batch(const rnnc_model* m) { return m ? m->batch : 0; }

rnnc_batch* rnnc_batch_new(const rnnc_model* m, char* err, size_t err_size) {
  try {
    if (!m) throw rnnc::Error("rnnc: batch: NULL model");
    if (m->batch == 0)
      throw rnnc::Error("rnnc: batch: the model was exported without a batched step (export it with a batch size)");
    auto b = std::make_unique<rnnc_batch>(m);
    for (const rnnc::Spec& s : m->batch_program.schedule.inputs)
      b->in_rows.push_back(std::make_unique<std::byte[]>(static_cast<size_t>(bytes_of(s))));
    for (const rnnc::Spec& s : m->batch_program.schedule.outputs)
      b->out_rows.push_back(std::make_unique<std::byte[]>(static_cast<size_t>(bytes_of(s))));
    b->in.resize(b->in_rows.size());
    b->out.resize(b->out_rows.size());
    return b.release();
  } catch (const std::exception& e) {
    report(err, err_size, e.what());
    return nullptr;
  }
}

void rnnc_batch_free(rnnc_batch* b) { delete b; }

int rnnc_batch_step(rnnc_batch* b, rnnc_stream* const* streams, int n, const void* const* inputs, void* const* outputs,
                    char* err, size_t err_size) {
  try {
    if (!b || !streams) throw rnnc::Error("rnnc: batch: NULL batch or streams");
    const rnnc_model& m = *b->model;
    if (n < 1 || n > m.batch)
      throw rnnc::Error(fmt::format("rnnc: batch: {} streams, the batched step takes 1 to {}", n, m.batch));
    if ((!inputs && !m.inputs.empty()) || (!outputs && !m.outputs.empty()))
      throw rnnc::Error("rnnc: batch: NULL inputs or outputs");
    static std::atomic<uint64_t> calls{0};
    const uint64_t call = ++calls;
    for (int j = 0; j < n; ++j) {
      rnnc_stream* s = streams[j];
      if (!s || s->model != &m) throw rnnc::Error(fmt::format("rnnc: batch: stream {} is NULL or of another model", j));
      if (s->batch_call == call)
        throw rnnc::Error(fmt::format("rnnc: batch: streams {} and {} are the same", s->batch_row, j));
      s->batch_call = call;
      s->batch_row = j;
    }
    const size_t S = static_cast<size_t>(m.states), I = m.inputs.size(), O = m.outputs.size();
    const auto rows = static_cast<size_t>(n);
    // Inputs and outputs: the caller's own buffers when they hold all B rows, else staged.
    for (size_t i = 0; i < I; ++i) {
      const auto row = static_cast<size_t>(bytes_of(m.inputs[i]));
      if (!inputs[i] && row > 0)
        throw rnnc::Error(fmt::format("rnnc: batch: input {} ('{}') is NULL", i, m.inputs[i].name));
      if (n == m.batch) {
        b->in[S + i] = inputs[i];
      } else {
        if (row > 0) std::memcpy(b->in_rows[S + i].get(), inputs[i], rows * row);
        b->in[S + i] = b->in_rows[S + i].get();
      }
    }
    for (size_t k = 0; k < O; ++k) {
      if (!outputs[k] && bytes_of(m.outputs[k]) > 0)
        throw rnnc::Error(fmt::format("rnnc: batch: output {} is NULL", k));
      b->out[k] = n == m.batch ? outputs[k] : b->out_rows[k].get();
    }
    // The states, gathered row by row.
    for (size_t i = 0; i < S; ++i) {
      const auto row = static_cast<size_t>(bytes_of(m.state[i]));
      for (size_t j = 0; j < rows; ++j)
        std::memcpy(b->in_rows[i].get() + j * row, streams[j]->copy(streams[j]->now) + m.state_at[i], row);
      b->in[i] = b->in_rows[i].get();
      b->out[O + i] = b->out_rows[O + i].get();
    }
    rnnc::exec::run_into(m.batch_program, b->workspace, b->in.data(), b->out.data());
    for (size_t k = 0; k < O; ++k)
      if (n < m.batch && bytes_of(m.outputs[k]) > 0)
        std::memcpy(outputs[k], b->out_rows[k].get(), rows * static_cast<size_t>(bytes_of(m.outputs[k])));
    for (size_t i = 0; i < S; ++i) {
      const auto row = static_cast<size_t>(bytes_of(m.state[i]));
      for (size_t j = 0; j < rows; ++j)
        std::memcpy(streams[j]->copy(1 - streams[j]->now) + m.state_at[i], b->out_rows[O + i].get() + j * row, row);
    }
    for (size_t j = 0; j < rows; ++j) streams[j]->now = 1 - streams[j]->now;
    return RNNC_OK;
  } catch (const std::exception& e) {
    report(err, err_size, e.what());
    return RNNC_ERROR;
  }
}

}  // extern "C"
