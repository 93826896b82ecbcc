// Exported streaming models (rnnc/export.h, rnnc/c_runtime.h): a character model's step leaves as
// a C library that, loaded without the compiler, steps to the compiled step's bits; streams are
// independent, step from many threads at once and allocate nothing after their first step; a bad
// image or input is an error code with a message.
#include <dlfcn.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <new>
#include <random>
#include <thread>

#include "exec/executor.h"
#include "exec/serialize.h"
#include "rnnc/c_runtime.h"
#include "rnnc/export.h"
#include "rnnc/rnnc.h"

// Allocations made by the thread that counts (operator new in all its forms).
namespace {
thread_local bool counting = false;
thread_local int64_t allocations = 0;
void* counted(std::size_t n, std::size_t align) {
  if (counting) ++allocations;
  void* p = align > alignof(std::max_align_t) ? std::aligned_alloc(align, (n + align - 1) / align * align)
                                              : std::malloc(n ? n : 1);
  if (!p) throw std::bad_alloc();
  return p;
}
}  // namespace
void* operator new(std::size_t n) { return counted(n, 0); }
void* operator new[](std::size_t n) { return counted(n, 0); }
void* operator new(std::size_t n, std::align_val_t a) { return counted(n, static_cast<std::size_t>(a)); }
void* operator new[](std::size_t n, std::align_val_t a) { return counted(n, static_cast<std::size_t>(a)); }
// The nothrow forms too: a sanitizer's run time replaces each form, and memory from its operator new
// must not reach this file's operator delete.
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  try {
    return counted(n, 0);
  } catch (...) {
    return nullptr;
  }
}
void* operator new[](std::size_t n, const std::nothrow_t& t) noexcept { return operator new(n, t); }
void* operator new(std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  try {
    return counted(n, static_cast<std::size_t>(a));
  } catch (...) {
    return nullptr;
  }
}
void* operator new[](std::size_t n, std::align_val_t a, const std::nothrow_t& t) noexcept {
  return operator new(n, a, t);
}
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }

using namespace rnnc;
using Catch::Matchers::Contains;

namespace {

using Model = nn::CharRNN<nn::LSTMCell>;
using State = Model::State;
constexpr int64_t V = 11, H = 16;

Model small_model() {
  std::mt19937_64 rng(7);
  return Model::init(V, H, rng, {.layers = 2});
}

// The model's sampling step, its weights captured (constants of the program).
auto step_of(const Model& m) {
  return compile([&m](const State& s, const Var& c) { return Model::next(m, s, c); });
}

Tensor char_tensor(int c) { return Tensor::from({double(c)}, {1}, DType::i32); }

std::filesystem::path temp_dir(const std::string& what) {
  const auto dir = std::filesystem::temp_directory_path() / ("rnnc-test-" + what + "-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  return dir;
}

// The characters the test feeds: a fixed pseudo-random walk over the vocabulary.
int char_at(int t) { return static_cast<int>((t * 7 + t / 5) % V); }

// An image of a compiled step for the run time, in this process (the JIT's kernels).
struct InProcess {
  std::string program, state;
  std::vector<rnnc_kernel_fn> kernels;
  rnnc_model_image image{};
  InProcess(const Compiled& c, const State& s0, const char* features = "") {
    const auto p = c.program();
    program = exec::serialize(p->schedule);
    kernels.assign(p->kernels.begin(), p->kernels.end());
    for (const Tensor& t : tree::tensors(s0)) state.append(static_cast<const char*>(t.raw()), t.numel() * 4);
    image = rnnc_model_image{RNNC_MODEL_FORMAT,
                             "test",
                             "host",
                             features,
                             program.data(),
                             program.size(),
                             kernels.data(),
                             kernels.size(),
                             static_cast<int>(tree::tensors(s0).size()),
                             state.data(),
                             state.size(),
                             nullptr,
                             0,
                             nullptr,
                             0,
                             nullptr,
                             0};
  }
};

// An exported library's C interface, loaded with dlopen.
struct Library {
  void* lib = nullptr;
  void* (*model_new)(int, char*, size_t) = nullptr;
  void* (*state_new)(const void*, char*, size_t) = nullptr;
  int (*step)(const void*, void*, const int32_t*, float*, char*, size_t) = nullptr;
  void (*state_reset)(void*) = nullptr;
  void (*state_free)(void*) = nullptr;
  void (*model_free)(void*) = nullptr;
  const char* (*metadata)(const void*, const char*) = nullptr;

  Library(const std::filesystem::path& so, const std::string& name) {
    lib = dlopen(so.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!lib) FAIL(dlerror());
    bind(model_new, name + "_new");
    bind(state_new, name + "_state_new");
    bind(step, name + "_step");
    bind(state_reset, name + "_state_reset");
    bind(state_free, name + "_state_free");
    bind(model_free, name + "_free");
    bind(metadata, name + "_metadata");
  }
  ~Library() { dlclose(lib); }
  template <class F> void bind(F& f, const std::string& symbol) {
    void* p = dlsym(lib, symbol.c_str());
    if (!p) FAIL("no symbol " << symbol);
    f = reinterpret_cast<F>(p);
  }
};

}  // namespace

TEST_CASE("export: a character model's step, built as a C library and loaded without the JIT, steps to the same bits") {
  const Model m = small_model();
  auto step = step_of(m);
  const State s0 = m.initial_state(1);
  const auto dir = temp_dir("export-stream");
  ExportOptions o;
  o.name = "charlm";
  o.metadata["vocab"] = "abc\"\\?\n";
  const ExportedModel x = export_stream(step, s0, char_tensor(0), dir, o);
  for (const auto& f :
       {x.header, x.source, x.object, x.static_library, x.shared_library, x.runtime_library, x.cmake_config})
    CHECK(std::filesystem::exists(f));
  CHECK(x.kernels > 0);
  CHECK_FALSE(x.features.empty());

  Library so(x.shared_library, "charlm");
  auto model_new = so.model_new;
  auto state_new = so.state_new;
  auto model_step = so.step;
  auto state_reset = so.state_reset;
  auto state_free = so.state_free;
  auto model_free = so.model_free;
  auto metadata = so.metadata;
  CHECK(dlsym(so.lib, "rnnc_model_new") == nullptr);  // the run time stays inside the library

  char err[512] = "";
  void* model = model_new(2, err, sizeof err);
  if (!model) FAIL(err);
  CHECK(std::string(metadata(model, "vocab")) == "abc\"\\?\n");
  CHECK(metadata(model, "nothing") == nullptr);
  void* a = state_new(model, err, sizeof err);
  void* b = state_new(model, err, sizeof err);
  REQUIRE(a);
  REQUIRE(b);

  // 1,000 steps, bit for bit; stream b steps alongside on other characters and disturbs nothing.
  State s = s0;
  std::vector<float> y(V), yb(V);
  int mismatches = 0;
  for (int t = 0; t < 1000; ++t) {
    auto [logits, next] = step(s, char_tensor(char_at(t)));
    s = next;
    const int32_t c = char_at(t), cb = (c + 3) % V;
    REQUIRE(model_step(model, a, &c, y.data(), err, sizeof err) == 0);
    REQUIRE(model_step(model, b, &cb, yb.data(), err, sizeof err) == 0);
    for (int64_t v = 0; v < V; ++v) mismatches += y[v] != logits.at(v);
  }
  CHECK(mismatches == 0);
  // A reset stream starts over: its first step is the first step again.
  state_reset(a);
  const int32_t c0 = char_at(0);
  REQUIRE(model_step(model, a, &c0, y.data(), err, sizeof err) == 0);
  const Tensor first = step(s0, char_tensor(c0)).first;
  for (int64_t v = 0; v < V; ++v) CHECK(y[v] == first.at(v));
  // A character out of the vocabulary: an error code and a message naming the op.
  const int32_t bad = 99;
  CHECK(model_step(model, a, &bad, y.data(), err, sizeof err) != 0);
  CHECK_THAT(std::string(err), Contains("out of range"));
  state_free(a);
  state_free(b);
  model_free(model);
  std::filesystem::remove_all(dir);
}

TEST_CASE("export: int8 weights: the library steps to the in-process int8 step's bits, near float32's logits") {
  const Model m = small_model();
  CompileOptions o;
  o.int8 = true;
  auto step = compile([&m](const State& s, const Var& c) { return Model::next(m, s, c); }, o);
  auto f32 = step_of(m);
  const State s0 = m.initial_state(1);
  const auto dir = temp_dir("export-int8");
  ExportOptions eo;
  eo.name = "q8";
  const ExportedModel x = export_stream(step, s0, char_tensor(0), dir, eo);
  REQUIRE(step.compiled_for(s0, char_tensor(0)).stats().int8_gemms >= 3);  // W_hh of both layers, W_ih above, the head
  Library so(x.shared_library, "q8");
  char err[512] = "";
  void* model = so.model_new(1, err, sizeof err);
  if (!model) FAIL(err);
  void* stream = so.state_new(model, err, sizeof err);
  State s = s0, sf = s0;
  std::vector<float> y(V);
  int mismatches = 0;
  double worst = 0, largest = 0;
  for (int t = 0; t < 300; ++t) {
    const int32_t c = char_at(t);
    auto [logits, next] = step(s, char_tensor(c));
    auto [exact, next_f] = f32(sf, char_tensor(c));
    s = next;
    sf = next_f;
    REQUIRE(so.step(model, stream, &c, y.data(), err, sizeof err) == 0);
    for (int64_t v = 0; v < V; ++v) {
      mismatches += y[v] != logits.at(v);
      worst = std::max(worst, std::fabs(logits.at(v) - exact.at(v)));
      largest = std::max(largest, std::fabs(exact.at(v)));
    }
  }
  CHECK(mismatches == 0);
  CHECK(worst < 0.05 * largest);  // int8 is an approximation: within 5% of the largest logit over 300 steps
  CHECK(worst > 0);
  so.state_free(stream);
  so.model_free(model);
  std::filesystem::remove_all(dir);
}

TEST_CASE("export: the step's state must come back as it went in") {
  const Model m = small_model();
  auto bad = compile([&m](const State& s, const Var& c) {
    auto [logits, next] = Model::next(m, s, c);
    next.pop_back();
    return std::pair{logits, next};
  });
  CHECK_THROWS_WITH(export_stream(bad, m.initial_state(1), char_tensor(0), temp_dir("export-bad")),
                    Contains("returns a state of 2 leaves for one of 4"));
  auto step = step_of(m);
  ExportOptions o;
  o.name = "no name";
  CHECK_THROWS_WITH(export_stream(step, m.initial_state(1), char_tensor(0), temp_dir("export-bad"), o),
                    Contains("'no name' is not a C identifier"));
}

TEST_CASE("export: streams step from many threads at once, allocating nothing after their first step") {
  const Model m = small_model();
  auto step = step_of(m);
  const State s0 = m.initial_state(1);
  step(s0, char_tensor(0));
  InProcess in(step.compiled_for(s0, char_tensor(0)), s0);
  char err[512] = "";
  rnnc_model* model = rnnc_model_new(&in.image, 1, err, sizeof err);
  if (!model) FAIL(err);
  REQUIRE(rnnc_model_inputs(model) == 1);
  REQUIRE(rnnc_model_outputs(model) == 1);
  REQUIRE(rnnc_model_states(model) == 4);  // (h, c) of 2 layers
  rnnc_spec spec;
  REQUIRE(rnnc_model_output(model, 0, &spec) == RNNC_OK);
  CHECK(spec.rank == 2);
  CHECK((spec.shape[0] == 1 && spec.shape[1] == V));
  CHECK(rnnc_model_state(model, 4, &spec) == RNNC_ERROR);

  // What each stream should see: stream k reads characters char_at(t + k).
  constexpr int kStreams = 4, kSteps = 200;
  std::vector<std::vector<float>> want(kStreams);
  for (int k = 0; k < kStreams; ++k) {
    State s = s0;
    for (int t = 0; t < kSteps; ++t) {
      auto [logits, next] = step(s, char_tensor(char_at(t + k)));
      s = next;
      for (int64_t v = 0; v < V; ++v) want[k].push_back(logits.at(v));
    }
  }
  std::vector<int64_t> allocated(kStreams, -1), wrong(kStreams, 0);
  std::vector<std::thread> threads;
  for (int k = 0; k < kStreams; ++k)
    threads.emplace_back([&, k] {
      char e[256];
      rnnc_stream* s = rnnc_stream_new(model, e, sizeof e);
      if (!s) return;
      std::vector<float> y(V);
      void* out[] = {y.data()};
      for (int t = 0; t < kSteps; ++t) {
        const int32_t c = char_at(t + k);
        const void* in[] = {&c};
        if (t == 1) {
          counting = true;
          allocations = 0;
        }
        if (rnnc_stream_step(model, s, in, out, e, sizeof e) != RNNC_OK) ++wrong[k];
        for (int64_t v = 0; v < V; ++v) wrong[k] += y[v] != want[k][t * V + v];
      }
      counting = false;
      allocated[k] = allocations;
      rnnc_stream_free(s);
    });
  for (auto& t : threads) t.join();
  for (int k = 0; k < kStreams; ++k) {
    INFO("stream " << k);
    CHECK(wrong[k] == 0);
  }
  for (int k = 0; k < kStreams; ++k) {
    INFO("stream " << k);
    CHECK(allocated[k] == 0);
  }
  rnnc_model_free(model);
}

namespace {
// Whether y is want to float32's rounding (a batched step sums in another order than one stream's).
bool close(float y, float want) { return std::fabs(y - want) <= 1e-5f * (1 + std::fabs(want)); }
std::string slurp(const std::filesystem::path& f) {
  std::ifstream in(f);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}
}  // namespace

TEST_CASE("export: a batch steps streams as each would step alone, allocating nothing after its first call") {
  const Model m = small_model();
  auto step = step_of(m);
  const State s0 = m.initial_state(1);
  constexpr int kBatch = 8, kSteps = 40;
  const std::shared_ptr<rnnc_model> model = stream_model(step, s0, char_tensor(0), 1, kBatch);
  REQUIRE(rnnc_model_batch(model.get()) == kBatch);
  char err[512] = "";
  rnnc_batch* batch = rnnc_batch_new(model.get(), err, sizeof err);
  if (!batch) FAIL(err);

  // Stream k reads char_at(t + 3k); each alone gives what it should see.
  std::vector<std::vector<float>> want(kBatch);
  for (int k = 0; k < kBatch; ++k) {
    State s = s0;
    for (int t = 0; t < kSteps; ++t) {
      auto [logits, next] = step(s, char_tensor(char_at(t + 3 * k)));
      s = next;
      for (int64_t v = 0; v < V; ++v) want[k].push_back(logits.at(v));
    }
  }
  // Odd steps batch all 8 (the caller's buffers in place), even steps the first 5 (staged) and
  // the other 3 step alone: a stream moves on the same way by either call.
  std::vector<rnnc_stream*> streams;
  for (int k = 0; k < kBatch; ++k) streams.push_back(rnnc_stream_new(model.get(), err, sizeof err));
  std::vector<int32_t> x(kBatch);
  std::vector<float> y(kBatch * V);
  int wrong = 0;
  int64_t allocated = 0;
  for (int t = 0; t < kSteps; ++t) {
    for (int k = 0; k < kBatch; ++k) x[k] = char_at(t + 3 * k);
    const int n = t % 2 ? kBatch : 5;
    const void* in[] = {x.data()};
    void* out[] = {y.data()};
    counting = t >= 2;  // after the first call of each size
    allocations = 0;
    REQUIRE(rnnc_batch_step(batch, streams.data(), n, in, out, err, sizeof err) == RNNC_OK);
    for (int k = n; k < kBatch; ++k) {
      const void* one_in[] = {&x[k]};
      void* one_out[] = {&y[k * V]};
      REQUIRE(rnnc_stream_step(model.get(), streams[k], one_in, one_out, err, sizeof err) == RNNC_OK);
    }
    counting = false;
    allocated += allocations;
    for (int k = 0; k < kBatch; ++k)
      for (int64_t v = 0; v < V; ++v) wrong += !close(y[k * V + v], want[k][t * V + v]);
  }
  CHECK(wrong == 0);
  CHECK(allocated == 0);

  // Misuse: an error code naming what is wrong; no stream moves.
  const void* in[] = {x.data()};
  void* out[] = {y.data()};
  CHECK(rnnc_batch_step(batch, streams.data(), 0, in, out, err, sizeof err) == RNNC_ERROR);
  CHECK_THAT(std::string(err), Contains("0 streams, the batched step takes 1 to 8"));
  CHECK(rnnc_batch_step(batch, streams.data(), 9, in, out, err, sizeof err) == RNNC_ERROR);
  std::vector<rnnc_stream*> twice = {streams[0], streams[1], streams[0]};
  CHECK(rnnc_batch_step(batch, twice.data(), 3, in, out, err, sizeof err) == RNNC_ERROR);
  CHECK_THAT(std::string(err), Contains("streams 0 and 2 are the same"));
  const std::shared_ptr<rnnc_model> single = stream_model(step, s0, char_tensor(0), 1);
  CHECK(rnnc_model_batch(single.get()) == 0);
  CHECK(rnnc_batch_new(single.get(), err, sizeof err) == nullptr);
  CHECK_THAT(std::string(err), Contains("exported without a batched step"));
  rnnc_stream* other = rnnc_stream_new(single.get(), err, sizeof err);
  std::vector<rnnc_stream*> mixed = {streams[0], other};
  CHECK(rnnc_batch_step(batch, mixed.data(), 2, in, out, err, sizeof err) == RNNC_ERROR);
  CHECK_THAT(std::string(err), Contains("stream 1 is NULL or of another model"));
  rnnc_stream_free(other);
  for (rnnc_stream* s : streams) rnnc_stream_free(s);
  rnnc_batch_free(batch);
}

TEST_CASE("export: the library's batched step gives the in-process batch's bits") {
  const Model m = small_model();
  auto step = step_of(m);
  const State s0 = m.initial_state(1);
  constexpr int kBatch = 4;
  const auto dir = temp_dir("export-many");
  const ExportedModel x = export_stream(step, s0, char_tensor(0), dir, {.name = "many", .metadata = {}, .batch = kBatch});
  CHECK_THAT(slurp(x.header), Contains("many_batch_size = 4"));
  Library so(x.shared_library, "many");
  void* (*batch_new)(const void*, char*, size_t) = nullptr;
  void (*batch_free)(void*) = nullptr;
  int (*step_many)(void*, void* const*, int, const int32_t*, float*, char*, size_t) = nullptr;
  so.bind(batch_new, "many_batch_new");
  so.bind(batch_free, "many_batch_free");
  so.bind(step_many, "many_step_many");
  char err[512] = "";
  void* model = so.model_new(1, err, sizeof err);
  if (!model) FAIL(err);
  void* batch = batch_new(model, err, sizeof err);
  if (!batch) FAIL(err);
  std::vector<void*> states;
  for (int k = 0; k < kBatch; ++k) states.push_back(so.state_new(model, err, sizeof err));

  const std::shared_ptr<rnnc_model> here = stream_model(step, s0, char_tensor(0), 1, kBatch);
  rnnc_batch* here_batch = rnnc_batch_new(here.get(), err, sizeof err);
  std::vector<rnnc_stream*> here_streams;
  for (int k = 0; k < kBatch; ++k) here_streams.push_back(rnnc_stream_new(here.get(), err, sizeof err));
  std::vector<int32_t> c(kBatch);
  std::vector<float> y(kBatch * V), want(kBatch * V);
  int mismatches = 0;
  for (int t = 0; t < 100; ++t) {
    const int n = t % 3 ? kBatch : 3;
    for (int k = 0; k < kBatch; ++k) c[k] = char_at(t + 5 * k);
    REQUIRE(step_many(batch, states.data(), n, c.data(), y.data(), err, sizeof err) == 0);
    const void* in[] = {c.data()};
    void* out[] = {want.data()};
    REQUIRE(rnnc_batch_step(here_batch, here_streams.data(), n, in, out, err, sizeof err) == RNNC_OK);
    for (int64_t i = 0; i < n * V; ++i) mismatches += y[i] != want[i];
  }
  CHECK(mismatches == 0);
  for (void* s : states) so.state_free(s);
  for (rnnc_stream* s : here_streams) rnnc_stream_free(s);
  rnnc_batch_free(here_batch);
  batch_free(batch);
  so.model_free(model);

  // A step whose output has no row per stream cannot be batched: export says which output.
  auto pooled = compile([&m](const State& s, const Var& ch) {
    auto [logits, next] = Model::next(m, s, ch);
    return std::pair{sum(logits, {0}), next};
  });
  CHECK_THROWS_WITH(export_stream(pooled, s0, char_tensor(0), dir, {.name = "many", .metadata = {}, .batch = kBatch}),
                    Contains("'output' is f32[11] for one stream and f32[11] for 4"));
  std::filesystem::remove_all(dir);
}

TEST_CASE("export: an image for another CPU or another run time is refused with the reason") {
  const Model m = small_model();
  auto step = step_of(m);
  const State s0 = m.initial_state(1);
  step(s0, char_tensor(0));
  const Compiled& c = step.compiled_for(s0, char_tensor(0));
  char err[512] = "";
  {
    InProcess in(c, s0, "avx2,amx-int8");
    if (!__builtin_cpu_supports("amx-int8")) {
      CHECK(rnnc_model_new(&in.image, 1, err, sizeof err) == nullptr);
      CHECK_THAT(std::string(err), Contains("this CPU lacks amx-int8"));
    }
  }
  {
    InProcess in(c, s0);
    in.image.format = RNNC_MODEL_FORMAT + 1;
    CHECK(rnnc_model_new(&in.image, 1, err, sizeof err) == nullptr);
    CHECK_THAT(std::string(err), Contains("this run time"));
  }
  {
    InProcess in(c, s0);
    in.image.initial_state_size -= 4;
    CHECK(rnnc_model_new(&in.image, 1, err, sizeof err) == nullptr);
    CHECK_THAT(std::string(err), Contains("the initial state has"));
  }
  {
    InProcess in(c, s0);
    in.image.states = 6;
    CHECK(rnnc_model_new(&in.image, 1, err, sizeof err) == nullptr);
    CHECK_THAT(std::string(err), Contains("6 state parts"));
  }
  {
    InProcess in(c, s0);
    in.image.states = 5;  // the logits taken for a state part
    CHECK(rnnc_model_new(&in.image, 1, err, sizeof err) == nullptr);
    CHECK_THAT(std::string(err), Contains("is f32[1, 16] but the step returns f32[1, 11]"));
  }
  {
    InProcess in(c, s0);
    in.program[3] ^= 0x5a;
    CHECK(rnnc_model_new(&in.image, 1, err, sizeof err) == nullptr);
    CHECK_THAT(std::string(err), Contains("rnnc: program:"));
  }
  CHECK(rnnc_model_new(nullptr, 1, err, sizeof err) == nullptr);
}
