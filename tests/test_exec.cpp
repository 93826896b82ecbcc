// The run time alone (lib/exec): programs written by hand, with kernels in plain C++, run by the
// executor with nothing of the compiler linked (this test links rnnc::exec and rnnc::core only:
// a symbol of the graph, the autodiff or LLVM would not link). What an exported model runs on.
#include <algorithm>
#include <array>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <vector>

#include "exec/executor.h"
#include "exec/library.h"
#include "exec/quantize.h"
#include "exec/serialize.h"
#include "rnnc/error.h"

using namespace rnnc;
using namespace rnnc::exec;
using Catch::Matchers::Contains;

namespace {

Access home(BufferRef b, DType t, Shape s) { return Access{b, t, s, 0, strides_of(s)}; }
BufferRef arena(int i) { return {Space::Arena, i}; }
BufferRef input(int i) { return {Space::Input, i}; }
BufferRef output(int i) { return {Space::Output, i}; }

// Kernels as code generation would make them: args[i] at argument i's first element, the outer
// axis over [begin, end).
void tanh_rows(void* const* args, int64_t begin, int64_t end) {  // [R, 2]: out = tanh(in)
  const auto* in = static_cast<const float*>(args[0]);
  auto* out = static_cast<float*>(args[1]);
  for (int64_t i = begin * 2; i < end * 2; ++i) out[i] = std::tanh(in[i]);
}
void column_sum(void* const* args, int64_t begin, int64_t end) {  // [R, 2] -> [2], added into
  const auto* in = static_cast<const float*>(args[0]);
  auto* out = static_cast<float*>(args[1]);
  for (int64_t r = begin; r < end; ++r)
    for (int c = 0; c < 2; ++c) out[c] += in[r * 2 + c];
}
void add2(void* const* args, int64_t begin, int64_t end) {  // out = a + b, [2]
  const auto* a = static_cast<const float*>(args[0]);
  const auto* b = static_cast<const float*>(args[1]);
  auto* out = static_cast<float*>(args[2]);
  for (int64_t i = begin; i < end; ++i) out[i] = a[i] + b[i];
}

// A kernel step; one that reduces along its outer axis (has fills, here) is not shared by threads.
Step kernel(int index, std::vector<Access> args, int64_t outer, int64_t points, std::vector<Fill> fills = {}) {
  Step st{Step::Kind::Kernel, {}, {}, {}, {}, {}, {}};
  const bool splittable = fills.empty();
  st.kernel = KernelStep{index, std::move(args), std::move(fills), outer, points, splittable};
  return st;
}

Tensor floats(Shape s, std::vector<float> v) {
  Tensor t = Tensor::empty(s, DType::f32);
  std::memcpy(t.raw(), v.data(), v.size() * sizeof(float));
  return t;
}
Tensor ints(Shape s, std::vector<int32_t> v) {
  Tensor t = Tensor::empty(s, DType::i32);
  std::memcpy(t.raw(), v.data(), v.size() * sizeof(int32_t));
  return t;
}

// rows = gather(table, idx) [2, 3]; y = tanh(rows W) [2, 2]; s = sum of y's rows [2].
void embed_project(Program& p) {
  Schedule& s = p.schedule;
  s.inputs = {{{4, 3}, DType::f32, "table"}, {{2}, DType::i32, "idx"}, {{3, 2}, DType::f32, "W"}};
  s.outputs = {{{2, 2}, DType::f32, ""}, {{2}, DType::f32, ""}};
  s.buffers = {{2 * 3 * 4, -1}, {2 * 2 * 4, -1}};
  s.buffers[0].offset = 0;
  s.buffers[1].offset = 64;
  s.arena_bytes = 128;
  Step gather{Step::Kind::Library, {}, {}, {}, {}, {}, {0}};
  gather.library = LibraryStep{Routine::Gather,
                               {},
                               "model.cpp:3",
                               {home(input(0), DType::f32, {4, 3}), home(input(1), DType::i32, {2})},
                               home(arena(0), DType::f32, {2, 3})};
  Step gemm{Step::Kind::Gemm, {}, {}, {}, {}, {0}, {1}};
  gemm.gemm = GemmStep{
      home(arena(0), DType::f32, {2, 3}), home(input(2), DType::f32, {3, 2}), home(arena(1), DType::f32, {2, 2}), {}};
  s.steps = {gather, gemm, kernel(0, {home(arena(1), DType::f32, {2, 2}), home(output(0), DType::f32, {2, 2})}, 2, 4),
             kernel(1, {home(output(0), DType::f32, {2, 2}), home(output(1), DType::f32, {2})}, 2, 4,
                    {Fill{Fill::Identity::Zero, 1, 2}})};
  p.kernels = {tanh_rows, column_sum};
}

}  // namespace

TEST_CASE("exec: a hand-written program runs a library routine, a GEMM and kernels without the compiler") {
  Program p;
  embed_project(p);
  const Tensor table = floats({4, 3}, {0, 0, 0, 1, 2, 3, -1, 0.5f, 2, 0.25f, -2, 1});
  const Tensor W = floats({3, 2}, {0.5f, -1, 0.25f, 0.1f, -0.3f, 0.2f});
  for (int call = 0; call < 3; ++call) {  // the third call reuses the first call's outputs
    const std::vector<Tensor> out = run(p, {table, ints({2}, {2, 1}), W});
    float sum[2] = {0, 0};
    const int rows[2] = {2, 1};
    for (int i = 0; i < 2; ++i)
      for (int j = 0; j < 2; ++j) {
        double v = 0;
        for (int k = 0; k < 3; ++k) v += table.data<float>()[rows[i] * 3 + k] * W.data<float>()[k * 2 + j];
        CHECK(out[0].data<float>()[i * 2 + j] == Approx(std::tanh(v)).epsilon(1e-6));
        sum[j] += out[0].data<float>()[i * 2 + j];
      }
    CHECK(out[1].data<float>()[0] == Approx(sum[0]).epsilon(1e-6));  // pre-filled with 0 at every call
    CHECK(out[1].data<float>()[1] == Approx(sum[1]).epsilon(1e-6));
  }
}

TEST_CASE("exec: bad arguments and bad indices are errors that name the input or the op and the line") {
  Program p;
  embed_project(p);
  const Tensor table = Tensor::zeros({4, 3}), W = Tensor::zeros({3, 2});
  CHECK_THROWS_WITH(run(p, {table, ints({2}, {0, 7}), W}),
                    Contains("gather: index 7 is out of range [0, 4)") && Contains("model.cpp:3"));
  CHECK_THROWS_WITH(run(p, {table, ints({3}, {0, 1, 2}), W}), Contains("input 1 ('idx') expects i32[2], got i32[3]"));
  CHECK_THROWS_WITH(run(p, {table, W}), Contains("takes 3 inputs, 2 were given"));
}

TEST_CASE("exec: a loop step runs its body T times over a carry and a sequence") {
  // h_{t+1} = h_t + x_t over T = 5 steps of [2]: the result is h_0 plus the column sums of xs.
  auto body = std::make_shared<Schedule>();
  body->inputs = {{{2}, DType::f32, "h"}, {{2}, DType::f32, "x"}};
  body->outputs = {{{2}, DType::f32, ""}};
  body->steps = {kernel(
      0, {home(input(0), DType::f32, {2}), home(input(1), DType::f32, {2}), home(output(0), DType::f32, {2})}, 2, 2)};
  Program p;
  p.kernels = {add2};
  Schedule& s = p.schedule;
  s.inputs = {{{2}, DType::f32, "h0"}, {{5, 2}, DType::f32, "xs"}};
  s.outputs = {{{2}, DType::f32, ""}};
  auto loop = std::make_shared<LoopStep>();
  loop->body = body;
  loop->length = 5;
  loop->carries = 1;
  loop->xs = 1;
  loop->bindings = {home(input(0), DType::f32, {2}), home(input(1), DType::f32, {5, 2})};
  loop->results = {home(output(0), DType::f32, {2})};
  loop->scratch = home(arena(0), DType::f32, {1});
  loop->carry_at[0] = {0};
  loop->carry_at[1] = {64};
  loop->unused_at = {-1};
  loop->history = {Access{BufferRef{Space::Arena, -1}, DType::f32, {}, 0, {}}};
  loop->body_output = {0};
  loop->binding_step = {0, 2};
  loop->result_step = {0};
  loop->staged_at = {-1};
  s.buffers = {{128, 0}};
  s.arena_bytes = 128;
  Step st{Step::Kind::Loop, {}, {}, {}, loop, {}, {0}};
  s.steps = {st};
  for (bool reverse : {false, true}) {
    loop->reverse = reverse;  // a sum: the same either way
    const std::vector<Tensor> out = run(p, {floats({2}, {1, -1}), floats({5, 2}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10})});
    CHECK(out[0].data<float>()[0] == 26);
    CHECK(out[0].data<float>()[1] == 29);
  }
}

TEST_CASE("exec: library routines (scatter_add, one_hot, sequence_mask, pad) write their whole output") {
  auto run1 = [](LibraryStep l, std::vector<const std::byte*> in, Tensor out) {
    std::memset(out.raw(), 0x7f, out.nbytes());  // garbage: every element must be written
    run_routine(l, in, static_cast<std::byte*>(out.raw()));
    return out;
  };
  auto bytes = [](const Tensor& t) { return static_cast<const std::byte*>(t.raw()); };
  auto values = [](const Tensor& t) {
    std::vector<float> v(static_cast<size_t>(t.numel()));
    std::memcpy(v.data(), t.raw(), t.nbytes());
    return v;
  };
  const Tensor idx = ints({3}, {2, 0, 2});
  SECTION("scatter_add adds rows at their indices, repeats too") {
    const Tensor rows = floats({3, 2}, {1, 2, 3, 4, 5, 6});
    LibraryStep l{Routine::ScatterAdd,
                  {},
                  "x.cpp:1",
                  {home(input(0), DType::i32, {3}), home(input(1), DType::f32, {3, 2})},
                  home(output(0), DType::f32, {4, 2})};
    CHECK(values(run1(l, {bytes(idx), bytes(rows)}, Tensor::empty({4, 2}, DType::f32))) ==
          std::vector<float>{3, 4, 0, 0, 6, 8, 0, 0});
  }
  SECTION("one_hot") {
    LibraryStep l{
        Routine::OneHot, {}, "x.cpp:1", {home(input(0), DType::i32, {3})}, home(output(0), DType::f32, {3, 3})};
    CHECK(values(run1(l, {bytes(idx)}, Tensor::empty({3, 3}, DType::f32))) ==
          std::vector<float>{0, 0, 1, 1, 0, 0, 0, 0, 1});
    l.out.shape = {3, 2};
    CHECK_THROWS_WITH(run1(l, {bytes(idx)}, Tensor::empty({3, 2}, DType::f32)),
                      Contains("one_hot: index 2 is out of range [0, 2) (at x.cpp:1)"));
  }
  SECTION("sequence_mask") {
    const Tensor lengths = ints({2}, {3, 1});
    LibraryStep l{
        Routine::SequenceMask, {}, "x.cpp:1", {home(input(0), DType::i32, {2})}, home(output(0), DType::f32, {3, 2})};
    CHECK(values(run1(l, {bytes(lengths)}, Tensor::empty({3, 2}, DType::f32))) == std::vector<float>{1, 1, 1, 0, 1, 0});
    const Tensor bad = ints({2}, {3, 4});
    CHECK_THROWS_WITH(run1(l, {bytes(bad)}, Tensor::empty({3, 2}, DType::f32)),
                      Contains("sequence_mask: lengths[1] = 4 is outside [0, 3] (at x.cpp:1)"));
  }
  SECTION("pad") {
    const Tensor x = floats({2, 2}, {1, 2, 3, 4});
    LibraryStep l{
        Routine::Pad, {1, 0}, "x.cpp:1", {home(input(0), DType::f32, {2, 2})}, home(output(0), DType::f32, {4, 3})};
    CHECK(values(run1(l, {bytes(x)}, Tensor::empty({4, 3}, DType::f32))) ==
          std::vector<float>{0, 0, 0, 1, 2, 0, 3, 4, 0, 0, 0, 0});
  }
}

namespace {

// The int8 GEMM's result computed here from its definition (quantize.h, gemm.h): weights per
// column, A per row, integer sums, then s_i scale_j (sum_k a'_ik q_jk).
std::vector<float> int8_reference(const std::vector<float>& a, const std::vector<float>& w, int64_t m, int64_t k,
                                  int64_t n) {
  std::vector<float> c(static_cast<size_t>(m * n));
  for (int64_t j = 0; j < n; ++j) {
    float wmax = 0;
    for (int64_t p = 0; p < k; ++p) wmax = std::max(wmax, std::fabs(w[p * n + j]));
    const float ws = wmax > 0 ? wmax / 127.0f : 1.0f;
    for (int64_t i = 0; i < m; ++i) {
      float amax = 0;
      for (int64_t p = 0; p < k; ++p) amax = std::max(amax, std::fabs(a[i * k + p]));
      const float as = amax > 0 ? amax / 127.0f : 1.0f, inv = 1.0f / as;
      int32_t sum = 0;
      for (int64_t p = 0; p < k; ++p) {
        const auto qa = static_cast<int32_t>(std::nearbyint(std::clamp(a[i * k + p] * inv, -127.0f, 127.0f)));
        const auto qw = static_cast<int32_t>(std::clamp(std::nearbyint(w[p * n + j] / ws), -127.0f, 127.0f));
        sum += qa * qw;
      }
      c[i * n + j] = as * ws * static_cast<float>(sum);
    }
  }
  return c;
}

}  // namespace

TEST_CASE("exec: int8 weights: a GEMM on a weight literal quantized per column gives its definition's bits") {
  // (m, k, n, threads): padding of K to 64, rows of A, a GEMM shared out by two threads.
  for (auto [m, k, n, threads] :
       std::vector<std::array<int64_t, 4>>{{3, 70, 37, 1}, {1, 256, 1024, 2}, {2, 64, 5, 2}}) {
    INFO("m " << m << " k " << k << " n " << n << " threads " << threads);
    std::vector<float> a(static_cast<size_t>(m * k)), w(static_cast<size_t>(k * n));
    for (size_t i = 0; i < a.size(); ++i) a[i] = std::sin(0.37f * static_cast<float>(i)) * (i % 7 == 0 ? 3.0f : 1.0f);
    for (size_t i = 0; i < w.size(); ++i) w[i] = std::cos(0.11f * static_cast<float>(i)) * 0.2f;
    Schedule s;
    s.inputs = {Spec{{m, k}, DType::f32, "a"}};
    s.outputs = {Spec{{m, n}, DType::f32, "c"}};
    s.literals = {floats({k, n}, w)};
    Step gemm{Step::Kind::Gemm, {}, {}, {}, {}, {}, {}};
    gemm.gemm = GemmStep{home(input(0), DType::f32, {m, k}),
                         home({Space::Literal, 0}, DType::f32, {k, n}),
                         home(output(0), DType::f32, {m, n}),
                         {}};
    s.steps = {gemm};
    Program f32;
    f32.schedule = s;
    f32.threads = static_cast<int>(threads);
    const Tensor exact = run(f32, {floats({m, k}, a)})[0];

    REQUIRE(quantize_weights(s) == 1);
    REQUIRE(s.literals.size() == 2);  // the float32 weights dropped: int8 and scales
    CHECK(s.literals[0].dtype() == DType::i8);
    Program q8;
    q8.schedule = s;
    q8.threads = static_cast<int>(threads);
    const Tensor got = run(q8, {floats({m, k}, a)})[0];
    const std::vector<float> want = int8_reference(a, w, m, k, n);
    int differ = 0;
    double worst = 0, scale = 0;
    for (int64_t i = 0; i < m * n; ++i) {
      differ += static_cast<const float*>(got.raw())[i] != want[static_cast<size_t>(i)];
      worst = std::max(worst, std::fabs(got.at(i) - exact.at(i)));
      scale = std::max(scale, std::fabs(exact.at(i)));
    }
    CHECK(differ == 0);
    CHECK(worst < 0.04 * scale);  // within 4% of float32's largest output (rows of A with outliers)

    // A loaded program whose int8 GEMM claims more columns than its literals hold is refused,
    // sizes near int64's range included (the product once overflowed: found by fuzz_program).
    CHECK_NOTHROW(check_references(s, 0));
    for (int64_t cols : {n + 1, int64_t{504684633242206240}, int64_t{-1}}) {
      Schedule bad = s;
      bad.steps[0].gemm.b.shape[1] = cols;
      CHECK_THROWS_WITH(check_references(bad, 0), Contains("int8 GEMM whose weights or scales are not what it reads"));
    }
  }
}
