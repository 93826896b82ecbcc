// Programs as bytes (lib/exec/serialize.h), what an exported model carries instead of the
// compiler: a compiled program written out and read back runs to the same bits, with loops,
// Revolve's slots, per-row lengths and library steps in it; damaged bytes are errors, never a
// crash.
#include <dlfcn.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>

#include "exec/executor.h"
#include "exec/serialize.h"
#include "rnnc/c_runtime.h"
#include "rnnc/rnnc.h"

using namespace rnnc;
using Catch::Matchers::Contains;

namespace {

template <class... T> std::vector<Tensor> flat(const T&... trees) {
  std::vector<Tensor> all;
  (
      [&] {
        for (const Tensor& t : tree::tensors(trees)) all.push_back(t);
      }(),
      ...);
  return all;
}

// Runs the compiled program's schedule again after a trip through bytes, with the same kernels,
// and returns the serialized bytes.
std::string round_trip(const Compiled& c, const std::vector<Tensor>& args) {
  const std::vector<Tensor> want = c(args);
  const std::shared_ptr<exec::Program> p = c.program();
  const std::string bytes = exec::serialize(p->schedule);
  exec::Schedule s = exec::deserialize(bytes);
  CHECK(exec::serialize(s) == bytes);
  exec::check_references(s, p->kernels.size());
  exec::Program q;
  q.schedule = std::move(s);
  q.kernels = p->kernels;
  q.threads = p->threads;
  for (int call = 0; call < 2; ++call) {
    const std::vector<Tensor> got = exec::run(q, args);
    REQUIRE(got.size() == want.size());
    for (size_t k = 0; k < got.size(); ++k) {
      INFO("output " << k);
      CHECK(max_abs_diff(got[k], want[k]) == 0);
    }
  }
  return bytes;
}

// Random characters [T, B] of a vocabulary of V and random next characters.
data::TextBatch random_text(std::mt19937_64& rng, int64_t V, int64_t T, int64_t B) {
  std::vector<double> xs, ys;
  for (int64_t i = 0; i < T * B; ++i) {
    xs.push_back(static_cast<double>(rng() % V));
    ys.push_back(static_cast<double>(rng() % V));
  }
  return {Tensor::from(xs, {T, B}, DType::i32), Tensor::from(ys, {T, B}, DType::i32)};
}

struct Seq {
  nn::Bidirectional<nn::LSTMCell> rnn;
  Leaf wy;
  RNNC_TREE(rnn, wy)
};
struct SeqBatch {
  Leaf xs, lengths;
  RNNC_TREE(xs, lengths)
};

}  // namespace

TEST_CASE("program: a character model's training step (gather, scatter_add, loops) survives bytes") {
  std::mt19937_64 rng(1);
  using Model = nn::CharRNN<nn::LSTMCell>;
  const Model m = Model::init(7, 12, rng, {.layers = 2, .embedding = 5});
  const int64_t T = 6, B = 3;
  const auto state = m.initial_state(B);
  const data::TextBatch b = random_text(rng, 7, T, B);
  auto step = compile(value_and_grad(Model::loss));
  Rng off = Rng::evaluation();
  step(m, state, b, off);
  REQUIRE(step.compiled().stats().library_calls > 0);  // the embedding's gather and its gradient's scatter_add
  REQUIRE(step.compiled().stats().loops > 0);
  round_trip(step.compiled(), flat(m, state, b));
}

TEST_CASE("program: exported kernels, built into a shared library and loaded without the JIT, give the same bits") {
  std::mt19937_64 rng(4);
  using Model = nn::CharRNN<nn::GRUCell>;
  const Model m = Model::init(6, 10, rng, {.layers = 2, .embedding = 4});
  const int64_t T = 5, B = 2;
  const auto state = m.initial_state(B);
  const data::TextBatch b = random_text(rng, 6, T, B);
  auto step = compile(value_and_grad(Model::loss));
  Rng off = Rng::evaluation();
  step(m, state, b, off);
  const std::vector<Tensor> args = flat(m, state, b);
  const std::vector<Tensor> want = step.compiled()(args);

  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("rnnc-test-export-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  const ExportedFiles x = export_program(step.compiled(), dir, "charlm");
  CHECK(x.kernels == step.compiled().stats().unique_kernels);
  CHECK_FALSE(x.cpu.empty());
  const std::filesystem::path so = dir / "libcharlm.so";
  const std::string cc = "cc -shared -fPIC -O2 -o '" + so.string() + "' '" + x.object.string() + "' '" +
                         x.table.string() + "' -lm > '" + (dir / "cc.log").string() + "' 2>&1";
  REQUIRE(std::system(cc.c_str()) == 0);
  void* lib = dlopen(so.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!lib) FAIL(dlerror());
  const auto* table = static_cast<const exec::KernelFn*>(dlsym(lib, "charlm_kernels"));
  const auto* count = static_cast<const uint64_t*>(dlsym(lib, "charlm_kernel_count"));
  REQUIRE(table != nullptr);
  REQUIRE(count != nullptr);
  REQUIRE(*count == step.compiled().program()->kernels.size());

  std::ifstream in(x.program, std::ios::binary);
  std::stringstream bytes;
  bytes << in.rdbuf();
  exec::Program q;
  q.schedule = exec::deserialize(bytes.str());
  exec::check_references(q.schedule, *count);
  q.kernels.assign(table, table + *count);
  q.threads = 2;
  CHECK(q.kernels[0] != step.compiled().program()->kernels[0]);  // the library's code, not the JIT's
  const std::vector<Tensor> got = exec::run(q, args);
  REQUIRE(got.size() == want.size());
  for (size_t k = 0; k < got.size(); ++k) {
    INFO("output " << k);
    CHECK(max_abs_diff(got[k], want[k]) == 0);
  }

  // The same through the C interface, into the caller's buffers.
  char err[512];
  const std::string blob = bytes.str();
  rnnc_program* c = rnnc_program_new(blob.data(), blob.size(), table, *count, 2, err, sizeof err);
  if (!c) FAIL(err);
  REQUIRE(rnnc_program_inputs(c) == static_cast<int>(args.size()));
  REQUIRE(rnnc_program_outputs(c) == static_cast<int>(want.size()));
  std::vector<const void*> ins;
  for (const Tensor& t : args) ins.push_back(t.raw());
  std::vector<Tensor> outs;
  std::vector<void*> out;
  for (int k = 0; k < rnnc_program_outputs(c); ++k) {
    rnnc_spec spec;
    REQUIRE(rnnc_program_output(c, k, &spec) == RNNC_OK);
    REQUIRE(spec.dtype == static_cast<int>(want[k].dtype()));
    outs.push_back(Tensor::empty(Shape(spec.shape, spec.shape + spec.rank), want[k].dtype()));
    out.push_back(outs.back().raw());
  }
  rnnc_spec spec;
  CHECK(rnnc_program_input(c, static_cast<int>(args.size()), &spec) == RNNC_ERROR);
  REQUIRE(rnnc_program_run(c, ins.data(), out.data(), err, sizeof err) == RNNC_OK);
  for (size_t k = 0; k < outs.size(); ++k) CHECK(max_abs_diff(outs[k], want[k]) == 0);
  // A bad input is an error code and a message naming the op, not a crash.
  Tensor bad_x = Tensor::full({T, B}, 99, DType::i32);
  const size_t x_at = tree::tensors(m).size() + tree::tensors(state).size();
  ins[x_at] = bad_x.raw();
  CHECK(rnnc_program_run(c, ins.data(), out.data(), err, sizeof err) == RNNC_ERROR);
  CHECK_THAT(std::string(err), Contains("index 99 is out of range"));
  rnnc_program_free(c);
  CHECK(rnnc_program_new("junk", 4, table, *count, 1, err, sizeof err) == nullptr);
  CHECK_THAT(std::string(err), Contains("rnnc: program:"));

  dlclose(lib);
  std::filesystem::remove_all(dir);
  CHECK_THROWS_WITH(export_program(step.compiled(), dir, "not a name"), Contains("'not a name' is not a C identifier"));
}

TEST_CASE("program: recomputing schedules (segments, Revolve) and per-row lengths survive bytes") {
  std::mt19937_64 rng(2);
  const int64_t T = 13, B = 3, I = 4, H = 5;
  Seq s{nn::Bidirectional<nn::LSTMCell>::init(I, H, rng, {.layers = 2}), Tensor::uniform({2 * H, 3}, -1, 1, rng)};
  const auto init = s.rnn.initial_state(B);
  const SeqBatch b{Tensor::uniform({T, B, I}, -1, 1, rng), Tensor::from({13, 9, 0}, {B}, DType::i32)};
  auto loss = [](const Seq& m, const std::vector<nn::LSTMState>& h0, const SeqBatch& x) {
    auto [ys, last] = m.rnn(Var(x.xs), h0, {.lengths = Var(x.lengths)});
    Var l = sum(tanh(matmul(ys, Var(m.wy))));
    for (const Var& v : tree::vars(last)) l = l + sum(v * v);
    return l;
  };
  for (const Checkpointing& c : {Checkpointing{}, Checkpointing{{3}}, Checkpointing{{}, 3}}) {
    INFO(c.str());
    CompileOptions o;
    o.checkpointing = c;
    auto f = compile(value_and_grad(loss), o);
    f(s, init, b);
    if (c.slots > 0) REQUIRE(f.compiled().schedule().find("slots") != std::string::npos);
    round_trip(f.compiled(), flat(s, init, b));
  }
}

TEST_CASE("program: a kernel in chunks with partial sums survives bytes") {
  std::mt19937_64 rng(12);
  const Tensor x = Tensor::uniform({70, 300}, -2, 2, rng, DType::f32);
  Function f = trace([](const Var& x) { return std::vector<Var>{sum(tanh(x), {0}), sum(x * x, {1})}; }, {spec_of(x)});
  CompileOptions o;
  o.threads = 2;
  Compiled c = compile(f, o);
  INFO(c.schedule());
  REQUIRE(c.schedule().find("chunks with partial sums") != std::string::npos);
  round_trip(c, {x});
}

TEST_CASE("program: truncated, damaged or foreign bytes are errors that say so") {
  std::mt19937_64 rng(3);
  Seq s{nn::Bidirectional<nn::LSTMCell>::init(2, 3, rng), Tensor::uniform({6, 2}, -1, 1, rng)};
  const auto init = s.rnn.initial_state(2);
  const SeqBatch b{Tensor::uniform({5, 2, 2}, -1, 1, rng), Tensor::from({5, 3}, {2}, DType::i32)};
  auto loss = [](const Seq& m, const std::vector<nn::LSTMState>& h0, const SeqBatch& x) {
    auto [ys, last] = m.rnn(Var(x.xs), h0, {.lengths = Var(x.lengths)});
    return sum(matmul(ys, Var(m.wy)));
  };
  CompileOptions o;
  o.checkpointing = Checkpointing{{}, 2};
  auto f = compile(value_and_grad(loss), o);
  f(s, init, b);
  const auto p = f.compiled().program();
  const std::string bytes = exec::serialize(p->schedule);

  CHECK_THROWS_WITH(exec::deserialize("hello"), Contains("not an rnnc program") || Contains("truncated"));
  std::string other = bytes;
  other[8] = 9;  // the version
  CHECK_THROWS_WITH(exec::deserialize(other), Contains("format version 9"));
  CHECK_THROWS_WITH(exec::deserialize(bytes + "x"), Contains("bytes after the program"));
  // Every cut is an error; every flipped byte an error or a schedule (whose references are
  // checked before a run), never a crash or a huge allocation (the sanitizer build runs this too).
  std::uniform_int_distribution<size_t> at(0, bytes.size() - 1);
  for (int i = 0; i < 300; ++i) CHECK_THROWS_AS(exec::deserialize(bytes.substr(0, at(rng))), Error);
  int parsed = 0;
  for (int i = 0; i < 3000; ++i) {
    std::string damaged = bytes;
    damaged[at(rng)] ^= static_cast<char>(1u << (rng() % 8));
    try {
      exec::check_references(exec::deserialize(damaged), p->kernels.size());
      ++parsed;
    } catch (const Error&) {}
  }
  CHECK(parsed < 3000);  // most flips land in values (offsets, strides) that parse; some do not
  exec::Schedule bad = exec::deserialize(bytes);
  CHECK_THROWS_WITH(exec::check_references(bad, 0), Contains("calls kernel 0 of 0"));
}
