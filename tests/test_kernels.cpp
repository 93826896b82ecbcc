// Kernels as code generation makes them: integer and cast semantics without undefined behaviour,
// concats landing strided, column blocks, the dumps, and the vectorised float32 activations at
// their extremes; each against the interpreter.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdlib>
#include <limits>
#include <sstream>

#include "helpers.h"
#include "lower/kernel.h"

using namespace rnnc;
using namespace rnnc::testing;

TEST_CASE("a float cast to i32 saturates and takes NaN to 0, compiled and interpreted (no undefined behaviour)") {
  // Found by the graph fuzzer: static_cast<int>(NaN) in the interpreter, and fptosi in kernels
  // (poison for such values), were undefined.
  for (DType t : {DType::f32, DType::f64}) {
    Function f = trace([](Var x) { return cast(x * 1.0, DType::i32); }, {Spec{{8}, t, "x"}});
    const double inf = std::numeric_limits<double>::infinity();
    const Tensor x = Tensor::from({std::nan(""), inf, -inf, 1e10, -1e10, 2.9, -2.9, 0.0}, {8}, t);
    const std::vector<double> want = {0, 2147483647, -2147483648.0, 2147483647, -2147483648.0, 2, -2, 0};
    CHECK(interpret(f, {x})[0].values() == want);
    CHECK(compile(f)({x})[0].values() == want);
  }
}

TEST_CASE("i32 add, sub, mul and neg wrap around, compiled and interpreted alike (no undefined behaviour)") {
  // Found by the graph fuzzer: 756030 * 756030 overflowed an int in the interpreter.
  Function f = trace(
      [](Var x) {
        return std::vector<Var>{x * x, x + x * 3000, -x - 2147483647};
      },
      {Spec{{3}, DType::i32, "x"}});
  const Tensor x = Tensor::from({756030, -2147483648.0, 7}, {3}, DType::i32);
  const std::vector<Tensor> want = interpret(f, {x}), got = compile(f)({x});
  auto wrapped = [](int64_t v) { return static_cast<double>(static_cast<int32_t>(static_cast<uint32_t>(v))); };
  CHECK(want[0].at(0) == wrapped(756030LL * 756030LL));
  CHECK(want[2].at(1) == wrapped(2147483648LL - 2147483647LL));
  for (size_t k = 0; k < 3; ++k) CHECK(got[k].values() == want[k].values());
}

TEST_CASE("a concat inside a concat along a later axis: its pieces land strided, or are copied") {
  // Found by recomputation (CompileOptions::memory_budget): a GEMM, a loop or a reshape of either, placed in a concat
  // along axis 0 that itself lies in a concat along the last axis, was written as if its slot were
  // contiguous.
  Function f = trace(
      [](Var a, Var b, Var z, Var q) {
        Var g = matmul(a, b);                                       // [4, 6]
        Var inner = concat({reshape(g, {8, 3}), z}, 0);             // [10, 3]: g cannot be a strided view
        Var inner2 = concat({matmul(a, slice(b, 1, 0, 3)), z}, 0);  // [6, 3]: a GEMM in a strided slot
        Var r = scan(
                    [](std::span<const Var> c, std::span<const Var> x) -> ScanStep {
                      return {{c[0] + x[0]}, {c[0] * x[0]}};
                    },
                    {slice(q, 0, 0, 1)}, {reshape(q, {10, 1, 2})})
                    .ys[0];                                               // [10, 1, 2] from a loop
        Var inner3 = concat({reshape(r, {5, 4}), slice(q, 0, 0, 5)}, 1);  // [5, 6]
        return std::vector<Var>{concat({inner, q}, 1), concat({inner2, slice(q, 0, 0, 6)}, 1),
                                concat({concat({reshape(r, {10, 2}), q}, 0), concat({q, q}, 0)}, 1), inner3};
      },
      {Spec{{4, 3}, DType::f64, "a"}, Spec{{3, 6}, DType::f64, "b"}, Spec{{2, 3}, DType::f64, "z"},
       Spec{{10, 2}, DType::f64, "q"}});
  const std::vector<Tensor> args = make_args({{{4, 3}}, {{3, 6}}, {{2, 3}}, {{10, 2}}}, 4);
  const std::vector<Tensor> want = interpret(f, args), got = compile(f)(args);
  for (size_t k = 0; k < want.size(); ++k) CHECK(max_abs_diff(got[k], want[k]) < 1e-12);
}

TEST_CASE("EnvOptions: the dump list names whole words, CompileOptions starts from the environment") {
  EnvOptions e;
  e.dump = "groups,llvm";
  CHECK(e.dumps("groups"));
  CHECK(e.dumps("llvm"));
  CHECK_FALSE(e.dumps("group"));
  CHECK_FALSE(e.dumps("dot"));
  CHECK_FALSE(EnvOptions{}.dumps(""));
  CHECK(CompileOptions{}.env.dump == EnvOptions::from_environment().dump);
}

TEST_CASE(
    "transposes run in tiles (emit.cpp): every shape, split across threads or not, equals the interpreter bit for "
    "bit") {
  // Sizes on and off the 32-point tiles, and a domain too small to tile; the sum keeps a second,
  // contiguous argument in the kernel.
  for (auto [r, c] : {std::pair<int64_t, int64_t>{32, 32}, {33, 70}, {100, 37}, {700, 96}, {31, 200}}) {
    INFO(r << " x " << c);
    Function f = trace([](Var w, Var b) { return transpose(w, {1, 0}) * 2.0 + b; }, {Spec{{r, c}}, Spec{{c, r}}});
    std::mt19937_64 rng(static_cast<uint64_t>(r * c));
    const std::vector<Tensor> args = {Tensor::uniform({r, c}, -1, 1, rng), Tensor::uniform({c, r}, -1, 1, rng)};
    const Tensor want = interpret(f, args)[0];
    for (int threads : {1, 2}) {
      CompileOptions o;
      o.threads = threads;
      o.env.dump = "llvm";
      o.env.disk_cache = false;
      std::vector<Tensor> got;
      const std::string ir = capture_stderr([&] { got = compile(f, o)(args); });
      CHECK(max_abs_diff(got[0], want) == 0);
      if (threads == 1)  // (the second compile finds the kernel in the process's cache: no IR)
        CHECK((ir.find("tile0") != std::string::npos) == (r >= 32 && c >= 32));  // tiled when both axes hold a tile
    }
  }
}

TEST_CASE("block_columns: a kernel reducing along its outer axis is cut into column blocks threads can share") {
  using lower::KernelDesc;
  // A column sum of [6400, 768] (the GRU 256's bias gradient): in, out (reduced along axis 0).
  auto column_sum = [](Shape domain, std::vector<int64_t> out_strides) {
    KernelDesc d;
    d.domain = domain;
    d.args = {{DType::f32, {domain[1], 1}}, {DType::f32, out_strides}};
    d.code = {{.op = Op::Input, .arg = 0}};
    d.stores = {{.value = 0, .arg = 1, .reduce = Op::Sum}};
    return d;
  };
  KernelDesc d = column_sum({6400, 768}, {0, 1});
  REQUIRE_FALSE(d.splittable());
  d.block_columns(1 << 15);
  CHECK(d.domain == Shape{4, 6400, 192});  // blocks of at most 256, at least 4 of them
  CHECK(d.args[0].strides == std::vector<int64_t>{192, 768, 1});
  CHECK(d.args[1].strides == std::vector<int64_t>{192, 0, 1});
  CHECK(d.splittable());
  KernelDesc odd = column_sum({2000, 2800}, {0, 1});
  odd.block_columns(1 << 15);
  CHECK(odd.domain == Shape{25, 2000, 112});
  struct Kept {
    const char* why;
    KernelDesc d;
  };
  for (const Kept& k : {Kept{"a row sum (reduces along the inner axis)", column_sum({6400, 768}, {1, 0})},
                        Kept{"too few points", column_sum({40, 768}, {0, 1})},
                        Kept{"no block of whole vectors", column_sum({6400, 65}, {0, 1})},
                        Kept{"fewer than 4 blocks", column_sum({6400, 48}, {0, 1})}}) {
    INFO(k.why);
    KernelDesc same = k.d;
    same.block_columns(1 << 15);
    CHECK(same.domain == k.d.domain);
  }
  // End to end: a bias gradient's column sum, and a sum over two outer axes, the same bits on 1
  // and 2 threads (each sum runs over the same rows in the same order) and the interpreter's value.
  for (auto [shape, axes] : {std::pair<Shape, std::vector<int64_t>>{{1000, 256}, {0}}, {{10, 100, 768}, {0, 1}}}) {
    INFO(to_string(shape));
    Function f = trace([axes](Var g) { return sum(g, axes); }, {Spec{shape}});
    std::mt19937_64 rng(7);
    const std::vector<Tensor> args = {Tensor::uniform(shape, -1, 1, rng)};
    const Tensor one = compile(f, {.threads = 1})(args)[0];
    CHECK(max_abs_diff(compile(f, {.threads = 2})(args)[0], one) == 0);
    CHECK(max_abs_diff(one, interpret(f, args)[0]) < 1e-3);
  }
}

TEST_CASE("row totals: stored whole, without a fill, and one value per row stays in its row's kernel") {
  using lower::KernelDesc;
  KernelDesc d;
  d.domain = {8, 256, 16};
  d.args = {{DType::f32, {4096, 16, 1}}, {DType::f32, {256, 1, 0}}, {DType::f32, {16, 0, 1}}};
  d.code = {{.op = Op::Input, .arg = 0}};
  CHECK(d.writes_row_total({.value = 0, .arg = 1, .reduce = Op::Sum}));        // over N only
  CHECK_FALSE(d.writes_row_total({.value = 0, .arg = 2, .reduce = Op::Sum}));  // over D and N
  CHECK_FALSE(d.writes_row_total({.value = 0, .arg = 1, .reduce = Op::Input}));
  // S6's readout: y = sum(h * C, {2}) + u, h [B, D, N]: the sum without keepdims is [B, D], one
  // value per row of the [B, D, N] kernel, and so is y: one kernel. Called twice on the same
  // arena, the totals are the same (stored, not added to the last call's).
  Function f = trace([](Var h, Var c, Var u) { return sum(h * c, {2}) + u * u; },
                     {Spec{{3, 5, 16}}, Spec{{3, 1, 16}}, Spec{{3, 5}}});
  std::mt19937_64 rng(5);
  const std::vector<Tensor> args = {Tensor::uniform({3, 5, 16}, -1, 1, rng), Tensor::uniform({3, 1, 16}, -1, 1, rng),
                                    Tensor::uniform({3, 5}, -1, 1, rng)};
  Compiled k = compile(f);
  INFO(k.schedule());
  CHECK(k.stats().kernels == 1);
  const Tensor want = interpret(f, args)[0];
  for (int call = 0; call < 2; ++call) CHECK(max_abs_diff(k(args)[0], want) < 1e-6);
}

TEST_CASE("a value returned twice is stored twice by the kernel computing it, not copied after") {
  // (A loop body whose step value is two carries, or a carry and a stacked output, stays one
  // kernel so: test_random_loops' "output carried" recurrences run time-fused.)
  Function f = trace_fn(
      [](std::span<const Var> a) {
        Var y = tanh(a[0]) * a[0];
        return std::vector<Var>{y, exp(a[0]), y};
      },
      {Spec{{4, 7}}});
  std::mt19937_64 rng(2);
  const std::vector<Tensor> args = {Tensor::uniform({4, 7}, -1, 1, rng)};
  Compiled k = compile(f);
  INFO(k.schedule());
  CHECK(k.stats().kernels == 1);
  const std::vector<Tensor> got = k(args), want = interpret(f, args);
  for (size_t i = 0; i < got.size(); ++i) CHECK(max_abs_diff(got[i], want[i]) < 1e-6);
  CHECK(max_abs_diff(got[0], got[2]) == 0);
}

TEST_CASE("shapes equal but for extent-1 axes are the same points: one kernel") {
  // The LRU's backward step at batch 1: a [1, H] product, its per-step batch sum a reshape to
  // [H], and the work on it with [H] parameters: one kernel, so the loop runs lanes apart. And
  // a [3, 1] value beside a [1, 3] one (a transpose of it), each point its own element.
  struct Case {
    const char* what;
    std::function<Var(Var, Var)> fn;
    Shape x, y;
  };
  const std::vector<Case> cases = {
      {"[1, H] and [H]", [](Var x, Var v) { return exp(-exp(v)) * reshape(tanh(x) * x, {16}) + v; }, {1, 16}, {16}},
      {"[3, 1] and [1, 3]", [](Var x, Var y) { return transpose(sigmoid(x) * 3.0) + y * y; }, {3, 1}, {1, 3}},
  };
  for (const Case& c : cases) {
    INFO(c.what);
    std::mt19937_64 rng(9);
    const std::vector<Tensor> args = {Tensor::uniform(c.x, -1, 1, rng, DType::f64),
                                      Tensor::uniform(c.y, -1, 1, rng, DType::f64)};
    Function f = trace(c.fn, {Spec{c.x, DType::f64}, Spec{c.y, DType::f64}});
    Compiled k = compile(f);
    INFO(k.schedule());
    CHECK(k.stats().kernels == 1);
    CHECK(max_abs_diff(k(args)[0], interpret(f, args)[0]) < 1e-12);
  }
}

TEST_CASE("dump groups,llvm (RNNC_DUMP) prints the schedule and the LLVM IR") {
  // A constant no other test uses, so that its kernel is new to this process and LLVM runs.
  Function f = trace([](Var x) { return exp(x) * 1.2345678; }, {Spec{{7, 3}, DType::f32, "x"}});
  CompileOptions o;
  o.env.dump = "groups,llvm";
  o.env.disk_cache = false;
  const std::string text = capture_stderr([&] { compile(f, o); });
  CHECK_THAT(text, Catch::Contains("=== RNNC_DUMP groups ==="));
  CHECK_THAT(text, Catch::Contains("kernel  domain [21]"));
  CHECK_THAT(text, Catch::Contains("=== RNNC_DUMP llvm"));
  CHECK_THAT(text, Catch::Contains("define void @rnnc_k"));
  CHECK_THAT(text, Catch::Contains("<16 x float>") || Catch::Contains("<8 x float>"));  // vectorised
}

TEST_CASE("hard_sigmoid and softplus: vectorised float32 kernels that agree with the reference at the extremes") {
  struct Case {
    const char* name;
    Var (*fn)(const Var&, Loc);
    double scale;  // keeps each constant new to this process, so that LLVM runs and dumps
  };
  for (const Case& c : {Case{"hard_sigmoid", hard_sigmoid, 1.2345671}, Case{"softplus", softplus, 1.2345672}}) {
    DYNAMIC_SECTION(c.name) {
      Function f = trace([&](Var x) { return c.fn(x * c.scale, Loc::current()); }, {Spec{{4, 64}, DType::f32, "x"}});
      CompileOptions o;
      o.env.dump = "llvm";
      o.env.disk_cache = false;
      const std::string text = capture_stderr([&] { compile(f, o); });
      CHECK_THAT(text, Catch::Contains("<16 x float>") || Catch::Contains("<8 x float>"));
      Tensor x(DType::f32, {4, 64});
      const float special[] = {0.f,
                               -0.f,
                               1e-30f,
                               -1e-30f,
                               2.5f,
                               -2.5f,
                               20.f,
                               -20.f,
                               88.f,
                               -88.f,
                               1e4f,
                               -1e4f,
                               std::numeric_limits<float>::infinity(),
                               -std::numeric_limits<float>::infinity(),
                               std::numeric_limits<float>::quiet_NaN()};
      for (int64_t i = 0; i < x.numel(); ++i)
        x.set(i, i < 15 ? special[i] / c.scale : -40.0 + 80.0 * static_cast<double>(i) / 256.0);
      const Tensor got = compile(f)({x})[0], want = interpret(f, {x})[0];
      for (int64_t i = 0; i < x.numel(); ++i) {
        INFO("x = " << x.at(i) * c.scale);
        const double g = got.at(i), w = want.at(i);
        if (std::isnan(w))
          CHECK(std::isnan(g));
        else
          CHECK((g == w || std::abs(g - w) <= 2e-6 * std::max(1.0, std::abs(w)) + 1e-37));
      }
    }
  }
  // The reference itself, against the definitions in float64.
  Function f = trace(
      [](Var x) {
        return std::vector<Var>{hard_sigmoid(x), softplus(x)};
      },
      {Spec{{6}, DType::f64, "x"}});
  Tensor x = Tensor::from({-3.0, -2.5, 0.0, 1.0, -40.0, 40.0}, {6}, DType::f64);
  const std::vector<Tensor> y = interpret(f, {x});
  const double hs[] = {0, 0, 0.5, 0.7, 0, 1};
  for (int i = 0; i < 6; ++i) {
    CHECK(y[0].at(i) == Approx(hs[i]).margin(1e-15));
    CHECK(y[1].at(i) == Approx(std::log1p(std::exp(x.at(i)))).epsilon(1e-14));
  }
}
