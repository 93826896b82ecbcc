// The compiler against the reference interpreter: every op of the table (and its gradient),
// thousands of random graphs, fusion decisions, the kernel cache, errors and threads.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <iostream>
#include <sstream>

#include "op_table.h"
#include "random_graph.h"

using namespace rnnc;
using namespace rnnc::testing;

namespace {

std::vector<Tensor> to_dtype(const std::vector<Tensor>& args, DType t) {
  std::vector<Tensor> out;
  for (const Tensor& a : args) out.push_back(is_float(a.dtype()) ? a.to(t) : a);
  return out;
}

// Compiles f and checks every output against the interpreter.
void check_compiled(const Function& f, const std::vector<Tensor>& args, double tol, const std::string& what) {
  Compiled c = compile(f);
  std::vector<Tensor> got = c(args), want = interpret(f, args);
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    INFO(what << ", output " << i << "\ncompiled: " << got[i].str() << "\ninterpreted: " << want[i].str() << "\n"
              << c.schedule());
    CHECK(got[i].dtype() == want[i].dtype());
    CHECK(same_values(got[i], want[i], tol));
  }
}

// sum(y * y) of a row: a scalar whose gradient exercises the row's backward ops.
Function row_loss_grad(const Row& row, const std::vector<Tensor>& args, DType t) {
  std::vector<int> wrt;
  for (size_t i = 0; i < args.size(); ++i)
    if (is_float(args[i].dtype())) wrt.push_back(static_cast<int>(i));
  Function loss = trace_fn(
      [&](Args x) {
        Var y = row.fn(x);
        return std::vector<Var>{sum(y * y)};
      },
      specs_of(args, t));
  return value_and_grad(loss, wrt);
}

}  // namespace

TEST_CASE("every op-table row and its gradient: compiled equals interpreted, float32 and float64") {
  uint64_t seed = 500;
  for (const Row& row : op_rows()) {
    DYNAMIC_SECTION(row.name) {
      const std::vector<Tensor> args64 = make_args(row.args, seed++);
      for (DType t : {DType::f64, DType::f32}) {
        const double tol = t == DType::f64 ? 1e-12 : 2e-5;
        const std::vector<Tensor> args = to_dtype(args64, t);
        Function f = trace_fn([&](Args x) { return std::vector<Var>{row.fn(x)}; }, specs_of(args, t));
        check_compiled(f, args, tol, std::string(name_of(t)) + " forward");
        check_compiled(row_loss_grad(row, args, t), args, tol, std::string(name_of(t)) + " gradient");
      }
    }
  }
}

// Random graphs and their gradients, compiled vs interpreted (NaN and Inf included), seeds
// [first, last] of one dtype: 5,000 graphs in four shards, so that CTest spreads them over cores.
// float64 kernels call libm for transcendentals, so agreement is to rounding; float32 kernels use
// our own vectorised exp/log/tanh, so they get a float32 tolerance.
static void differential(DType t, uint64_t first, uint64_t last) {
  const double tol = t == DType::f64 ? 1e-9 : 1e-4;
  int mismatches = 0, graphs = 0, in_passes = 0;
  for (uint64_t seed = first; seed <= last; ++seed) {
    RandomGraph rg = random_graph(seed, t);
    Function scalar{rg.f.inputs, {rg.f.outputs[1]}, rg.f.source};
    for (const Function& f : {rg.f, value_and_grad(scalar)}) {
      ++graphs;
      Compiled c = compile(f);
      in_passes += c.schedule().find("passes over rows") != std::string::npos;
      std::vector<Tensor> got = c(rg.args), want = interpret(f, rg.args);
      for (size_t i = 0; i < got.size(); ++i)
        if (!same_values(got[i], want[i], tol)) {
          ++mismatches;
          std::cerr << name_of(t) << " seed " << seed << " output " << i << "\n"
                    << to_text(f) << "compiled " << got[i].str() << "\ninterpreted " << want[i].str() << "\n"
                    << compile(f).schedule();
        }
    }
  }
  INFO(graphs << " graphs, " << in_passes << " with kernels in passes over rows");
  CHECK(graphs == static_cast<int>(2 * (last - first + 1)));
  CHECK(in_passes >= 10);  // the row passes are among what is compared
  CHECK(mismatches == 0);
}

TEST_CASE("differential: random graphs in float64 (seeds 1-750)") { differential(DType::f64, 1, 750); }
TEST_CASE("differential: random graphs in float64 (seeds 751-1500)") { differential(DType::f64, 751, 1500); }
TEST_CASE("differential: random graphs in float32 (seeds 1-500)") { differential(DType::f32, 1, 500); }
TEST_CASE("differential: random graphs in float32 (seeds 501-1000)") { differential(DType::f32, 501, 1000); }

TEST_CASE("fusion: graphs that should become one kernel do") {
  struct Case {
    const char* name;
    std::function<std::vector<Var>(Args)> fn;
    std::vector<Spec> specs;
    int kernels, gemms;
  };
  std::vector<Case> cases = {
      {"elementwise chain with broadcasts",
       [](Args x) { return std::vector<Var>{sigmoid(x[0] * x[1] + 1.0) * tanh(x[0] - x[2])}; },
       {Spec{{8, 16}}, Spec{{16}}, Spec{{8, 1}}},
       1,
       0},
      {"chain ending in a full reduction",
       [](Args x) { return std::vector<Var>{sum(square(tanh(x[0]) * x[1]))}; },
       {Spec{{8, 16}}, Spec{{8, 16}}},
       1,
       0},
      {"vanilla RNN step: tanh(x W + h U + b)",
       [](Args x) { return std::vector<Var>{tanh(matmul(x[0], x[1]) + matmul(x[2], x[3]) + x[4])}; },
       {Spec{{4, 8}}, Spec{{8, 16}}, Spec{{4, 16}}, Spec{{16, 16}}, Spec{{16}}},
       1,
       2},
      {"LSTM cell update from its four gates",
       [](Args x) {
         Var c = sigmoid(x[1]) * x[0] + sigmoid(x[2]) * tanh(x[3]);
         return std::vector<Var>{c, sigmoid(x[4]) * tanh(c)};
       },
       {Spec{{4, 8}}, Spec{{4, 8}}, Spec{{4, 8}}, Spec{{4, 8}}, Spec{{4, 8}}},
       1,
       0},
  };
  // Row reductions and the work around them: one kernel that runs each row in passes.
  const auto layer_norm = [](Args x) {
    Var d = x[0] - mean(x[0], {1}, true);
    return std::vector<Var>{d / sqrt(mean(d * d, {1}, true) + 1e-5) * x[1]};
  };
  cases.push_back({"layer norm over the rows", layer_norm, {Spec{{8, 16}}, Spec{{16}}}, 1, 0});
  cases.push_back({"softmax over the rows",
                   [](Args x) {
                     Var e = exp(x[0] - max(x[0], {1}, true));
                     return std::vector<Var>{e / sum(e, {1}, true)};
                   },
                   {Spec{{8, 16}}},
                   1,
                   0});
  // Negative control: a reduction along the outer axis cannot finish inside a row.
  cases.push_back({"normalised over the columns: not in passes",
                   [](Args x) { return std::vector<Var>{x[0] - mean(x[0], {0}, true)}; },
                   {Spec{{8, 16}}},
                   3,  // the column sums, the means, the difference
                   0});
  for (const Case& c : cases) {
    DYNAMIC_SECTION(c.name) {
      Function f = trace_fn(c.fn, c.specs);
      Compiled k = compile(f);
      INFO(k.schedule());
      CHECK(k.stats().kernels == c.kernels);
      CHECK(k.stats().gemms == c.gemms);
      CHECK(k.stats().library_calls == 0);
    }
  }
  SECTION("the backward pass of a dense tanh layer: one kernel, the bias gradient reduced inside it") {
    Function f = trace([](Var x, Var w, Var b) { return sum(tanh(matmul(x, w) + b)); },
                       {Spec{{32, 8}}, Spec{{8, 16}}, Spec{{16}}});
    Compiled k = compile(grad(f, {1, 2}));
    INFO(k.schedule());
    // gemm (forward), one kernel: tanh' and the bias reduction, gemm (weight gradient).
    CHECK(k.stats().gemms == 2);
    CHECK(k.stats().kernels == 1);
  }
}

TEST_CASE("passes over rows: layer norms and softmaxes, forward and backward, equal the interpreter") {
  using Fn = std::function<Var(Args)>;
  const std::vector<std::pair<const char*, Fn>> fns = {
      {"layer norm",
       [](Args x) {
         const int64_t last = x[0].rank() - 1;
         Var d = x[0] - mean(x[0], {last}, true);
         return d / sqrt(mean(d * d, {last}, true) + 1e-5) * x[1];
       }},
      {"log softmax",
       [](Args x) {
         const int64_t last = x[0].rank() - 1;
         Var z = x[0] * x[1] - max(x[0] * x[1], {last}, true);
         return z - log(sum(exp(z), {last}, true));
       }},
      {"rms norm of a tanh, then a sigmoid gate",
       [](Args x) {
         const int64_t last = x[0].rank() - 1;
         Var t = tanh(x[0]);
         return sigmoid(x[0]) * t / sqrt(mean(t * t, {last}, true) + 1e-6) * x[1];
       }},
      {"a readout without keepdims, gated, spread back",
       [](Args x) {
         // s and g are one value per row of rank one less than the rows' kernel (S6's y).
         const int64_t last = x[0].rank() - 1;
         Var s = sum(tanh(x[0]) * x[1], {last});
         Var g = sigmoid(s) + s * s;
         return x[0] * unsqueeze(g, last);
       }},
  };
  // Rows of a matrix, of a [T, B, H] sequence, one row (batch 1: a kernel of one axis), and rows
  // too long for the kernel's stack (values kept across passes in a buffer of the domain instead).
  const std::vector<Shape> shapes = {{6, 40}, {3, 4, 24}, {1, 33}, {2, 9000}};
  uint64_t seed = 71;
  int kept_in_rows = 0;  // schedules with values kept across passes on the kernel's stack
  auto count_kept = [&](const std::string& schedule, const Shape& shape, DType t) {
    const bool on_stack = schedule.find("-> row") != std::string::npos;
    if (shape.back() * static_cast<int64_t>(size_of(t)) > (64 << 10)) CHECK_FALSE(on_stack);
    kept_in_rows += on_stack;
  };
  for (const auto& [name, fn] : fns)
    for (const Shape& shape : shapes) {
      DYNAMIC_SECTION(name << " over " << to_string(shape)) {
        std::mt19937_64 rng(seed++);
        const std::vector<Tensor> args64 = {Tensor::uniform(shape, -2, 2, rng, DType::f64),
                                            Tensor::uniform({shape.back()}, 0.5, 1.5, rng, DType::f64)};
        for (DType t : {DType::f64, DType::f32}) {
          // (A row's totals, summed in another order than the interpreter's, differ by up to about
          // n rounding errors for n terms.)
          const double tol = (t == DType::f64 ? 1e-12 : 2e-5) * std::max<double>(1, shape.back() / 100.0);
          const std::vector<Tensor> args = to_dtype(args64, t);
          Function f = trace_fn([&](Args x) { return std::vector<Var>{fn(x)}; }, specs_of(args, t));
          const std::string schedule = compile(f).schedule();
          INFO(schedule);
          CHECK(schedule.find("passes over rows") != std::string::npos);  // the lowering is chosen
          count_kept(schedule, shape, t);
          check_compiled(f, args, tol, std::string(name_of(t)) + " forward");
          Function loss = trace_fn(
              [&](Args x) {
                Var y = fn(x);
                return std::vector<Var>{sum(y * y * x[1])};
              },
              specs_of(args, t));
          count_kept(compile(value_and_grad(loss)).schedule(), shape, t);
          check_compiled(value_and_grad(loss), args, tol, std::string(name_of(t)) + " gradient");
        }
        // Each gradient keeps a value for a later pass (a section runs alone: these are its own).
        if (shape.back() < 1000) CHECK(kept_in_rows >= 2);
      }
    }
}

TEST_CASE("transposed operands reach the GEMM as strides, not copies") {
  Function f = trace([](Var a, Var b) { return matmul(transpose(a), transpose(b)); }, {Spec{{5, 3}}, Spec{{4, 5}}});
  Compiled k = compile(f);
  INFO(k.schedule());
  CHECK(k.stats().gemms == 1);
  CHECK(k.stats().kernels == 0);
  std::mt19937_64 rng(3);
  std::vector<Tensor> args = {Tensor::uniform({5, 3}, -1, 1, rng), Tensor::uniform({4, 5}, -1, 1, rng)};
  CHECK(max_abs_diff(k(args)[0], interpret(f, args)[0]) < 1e-6);
}

TEST_CASE("the kernel cache: an unrolled recurrence compiles a fixed number of kernels, whatever T") {
  auto unrolled = [](int T) {
    return trace(
        [T](Var x, Var w, Var u, Var h0) {
          Var h = h0, loss = full({}, 0.0);
          for (int t = 0; t < T; ++t) {
            h = tanh(matmul(x, w) + matmul(h, u));
            loss = loss + sum(h * h);
          }
          return loss;
        },
        {Spec{{4, 6}}, Spec{{6, 8}}, Spec{{8, 8}}, Spec{{4, 8}}});
  };
  Compiled c10 = compile(value_and_grad(unrolled(10)));
  Compiled c40 = compile(value_and_grad(unrolled(40)));
  INFO(c10.stats().str() << "\n" << c40.stats().str());
  CHECK(c40.stats().kernels > 3 * c10.stats().kernels);             // the work grows with T...
  CHECK(c40.stats().unique_kernels == c10.stats().unique_kernels);  // ...the distinct kernels do not
  Compiled c80 = compile(value_and_grad(unrolled(80)));
  CHECK(c80.stats().unique_kernels == c40.stats().unique_kernels);
  // Only the kernels that sum T terms (the loss, and the gradients of the weights shared by every
  // step) differ with T; the per-step kernels were all compiled for T=40.
  CHECK(c80.stats().compiled_kernels + c80.stats().disk_hits <= 3);
}

TEST_CASE("compiled functions: errors name the input, new shapes compile again") {
  Function f =
      trace([](Var x, Var y) { return tanh(x) * y; }, {Spec{{2, 3}, DType::f32, "x"}, Spec{{3}, DType::f32, "y"}});
  Compiled c = compile(f);
  std::mt19937_64 rng(5);
  Tensor x = Tensor::uniform({2, 3}, -1, 1, rng), y = Tensor::uniform({3}, -1, 1, rng);
  CHECK_THROWS_WITH(c({x}), Catch::Contains("takes 2 inputs, 1 were given"));
  CHECK_THROWS_WITH(c({x, y.to(DType::f64)}),
                    Catch::Contains("input 1 ('y')") && Catch::Contains("f32[3]") && Catch::Contains("f64[3]"));
  // Other shapes: the function is traced and compiled again for them.
  Tensor x2 = Tensor::uniform({5, 4}, -1, 1, rng), y2 = Tensor::uniform({4}, -1, 1, rng);
  CHECK(max_abs_diff(c({x2, y2})[0], interpret(f.retrace({spec_of(x2), spec_of(y2)}), {x2, y2})[0]) < 1e-6);
  CHECK(max_abs_diff(c({x, y})[0], interpret(f, {x, y})[0]) < 1e-6);
  // Outputs are fresh tensors: a second call does not overwrite the first one's results.
  Tensor first = c({x, y})[0].clone(), kept = c({x, y})[0];
  c({Tensor::full({2, 3}, 0.5), y});
  CHECK(max_abs_diff(first, kept) == 0);
  // An output the caller dropped is recycled by the next call (no fresh allocation).
  const void* dropped = c({x, y})[0].raw();
  CHECK(c({x, y})[0].raw() == dropped);
}

TEST_CASE("threads: a kernel split across threads gives the same result as one thread") {
  Function f = trace([](Var x, Var b) { return sigmoid(x * 2.0 + b) * tanh(x); }, {Spec{{512, 256}}, Spec{{256}}});
  std::mt19937_64 rng(9);
  std::vector<Tensor> args = {Tensor::uniform({512, 256}, -3, 3, rng), Tensor::uniform({256}, -1, 1, rng)};
  CompileOptions one, two;
  one.threads = 1;
  two.threads = 2;
  CHECK(max_abs_diff(compile(f, one)(args)[0], compile(f, two)(args)[0]) == 0);
  CHECK(max_abs_diff(compile(f, two)(args)[0], interpret(f, args)[0]) < 1e-6);
}

TEST_CASE("threads: a kernel reducing along its outer axis runs in chunks with partial sums, same bits on 1, 2, 4") {
  // Column sums and maxima (along the outer axis) beside row sums (along the inner one, so that no
  // column blocks can be cut): the kernel is cut into chunks of rows, each with its own copy of
  // the column results, added in chunk order. A NaN in one chunk's rows reaches the max.
  std::mt19937_64 rng(9);
  for (DType t : {DType::f64, DType::f32}) {
    Tensor x = Tensor::uniform({70, 300}, -2, 2, rng, t);
    x.set(50 * 300 + 7, std::nan(""));
    const Tensor w = Tensor::uniform({300}, -1, 1, rng, t);
    Function f = trace(
        [](const Var& x, const Var& w) {
          Var y = tanh(x) * w;
          return std::vector<Var>{sum(y, {0}), max(y, {0}), sum(y * y, {1})};
        },
        {spec_of(x), spec_of(w)});
    const std::vector<Tensor> want = interpret(f, {x, w});
    std::vector<std::vector<Tensor>> got;
    for (int threads : {1, 2, 4}) {
      CompileOptions o;
      o.threads = threads;
      Compiled c = compile(f, o);
      INFO(c.schedule());
      CHECK(c.schedule().find("4 chunks with partial sums") != std::string::npos);
      got.push_back(c({x, w}));
    }
    for (size_t k = 0; k < want.size(); ++k) {
      INFO(name_of(t) << " output " << k);
      CHECK(same_values(got[0][k], want[k], t == DType::f64 ? 1e-12 : 2e-5));
      CHECK(max_abs_diff(got[1][k], got[0][k]) == 0);
      CHECK(max_abs_diff(got[2][k], got[0][k]) == 0);
    }
    CHECK(std::isnan(got[1][1].at(7)));
  }
}

TEST_CASE("threads: GEMMs shared out by rows or columns give the same bits on 1, 2 and 4 threads") {
  // A large GEMM is cut into blocks by its shape alone (exec/gemm.cpp), so every thread count
  // computes the same sums in the same order.
  struct Case {
    const char* what;
    Shape a, b;
    bool transpose_b;
  };
  const Case cases[] = {
      {"wide: column blocks", {64, 256}, {256, 1000}, false},
      {"wide, B transposed in place", {64, 256}, {1000, 256}, true},
      {"tall: row blocks", {700, 300}, {300, 200}, false},
      {"long k", {96, 2000}, {2000, 160}, false},
      {"batched", {3, 64, 200}, {3, 200, 300}, false},
      {"one row (gemv.h), long k", {1, 4000}, {4000, 300}, false},
      {"one row, fewer columns than a vector, long k", {1, 40000}, {40000, 8}, false},
      {"one row, B transposed in place", {1, 4000}, {300, 4000}, true},
  };
  for (const Case& c : cases)
    for (DType t : {DType::f32, DType::f64}) {
      INFO(c.what << ", " << name_of(t));
      const bool tb = c.transpose_b;
      Function f = trace([tb](Var a, Var b) { return matmul(a, tb ? transpose(b) : b); },
                         {Spec{c.a, t, "a"}, Spec{c.b, t, "b"}});
      std::mt19937_64 rng(4);
      const std::vector<Tensor> args = {Tensor::uniform(c.a, -1, 1, rng, t), Tensor::uniform(c.b, -1, 1, rng, t)};
      const Tensor one = compile(f, {.threads = 1})(args)[0];
      CHECK(max_abs_diff(compile(f, {.threads = 2})(args)[0], one) == 0);
      CHECK(max_abs_diff(compile(f, {.threads = 4})(args)[0], one) == 0);
      CHECK(max_abs_diff(one, interpret(f, args)[0]) < (t == DType::f32 ? 1e-3 : 1e-10));
    }
}

namespace {
// The benchmark cells (bench/models.h) at small sizes, in PyTorch's layout: W [G H, I], U [G H, H].
std::pair<Var, Var> lstm_cell(const Var& x, const Var& h, const Var& c, const Var& W, const Var& U, const Var& b) {
  auto g = chunk(matmul(x, transpose(W)) + matmul(h, transpose(U)) + b, 4, 1);
  Var c_next = sigmoid(g[1]) * c + sigmoid(g[0]) * tanh(g[2]);
  return {sigmoid(g[3]) * tanh(c_next), c_next};
}
Var gru_cell(const Var& x, const Var& h, const Var& W, const Var& U, const Var& bx, const Var& bh) {
  auto gx = chunk(matmul(x, transpose(W)) + bx, 3, 1);
  auto gh = chunk(matmul(h, transpose(U)) + bh, 3, 1);
  Var r = sigmoid(gx[0] + gh[0]), z = sigmoid(gx[1] + gh[1]);
  return (1.0 - z) * tanh(gx[2] + r * gh[2]) + z * h;
}
constexpr int T = 6, B = 3, H = 4, I = 5;
Function lstm_seq(DType t) {
  return trace(
      [](std::span<const Var> a) {
        Var h = a[1], c = a[2], loss = full({}, 0.0);
        for (int s = 0; s < T; ++s) {
          std::tie(h, c) = lstm_cell(reshape(slice(a[0], 0, s, s + 1), {B, I}), h, c, a[3], a[4], a[5]);
          loss = loss + sum(h * h);
        }
        return std::vector<Var>{loss, h, c};
      },
      {Spec{{T, B, I}, t}, Spec{{B, H}, t}, Spec{{B, H}, t}, Spec{{4 * H, I}, t}, Spec{{4 * H, H}, t},
       Spec{{4 * H}, t}});
}
Function gru_seq(DType t) {
  return trace(
      [](std::span<const Var> a) {
        Var h = a[1], loss = full({}, 0.0);
        for (int s = 0; s < T; ++s) {
          h = gru_cell(reshape(slice(a[0], 0, s, s + 1), {B, I}), h, a[2], a[3], a[4], a[5]);
          loss = loss + sum(h * h);
        }
        return std::vector<Var>{loss, h};
      },
      {Spec{{T, B, I}, t}, Spec{{B, H}, t}, Spec{{3 * H, I}, t}, Spec{{3 * H, H}, t}, Spec{{3 * H}, t},
       Spec{{3 * H}, t}});
}
}  // namespace

TEST_CASE(
    "BPTT through LSTM and GRU sequences: compiled equals interpreted, projections and weight gradients as one GEMM "
    "each") {
  for (DType t : {DType::f64, DType::f32}) {
    for (const auto& [name, f] : {std::pair{"lstm", lstm_seq(t)}, std::pair{"gru", gru_seq(t)}}) {
      DYNAMIC_SECTION(name << " " << name_of(t)) {
        Function g = value_and_grad(f, {}, true);  // loss, final state (aux), gradients of every input
        std::mt19937_64 rng(11);
        std::vector<Tensor> args;
        for (const Spec& s : g.input_specs()) args.push_back(Tensor::uniform(s.shape, -0.5, 0.5, rng, s.dtype));
        check_compiled(g, args, t == DType::f64 ? 1e-12 : 1e-5, name);
        Compiled c = compile(g);
        INFO(c.schedule());
        // Per step only the recurrent GEMMs: h_{t-1} U forward and dg_t U backward (the first step's
        // gives the h0 gradient). The input projection of all steps is one GEMM before the
        // recurrence, the input gradient one after it, and each weight gradient one GEMM.
        CHECK(c.stats().gemms == 2 * T + 4);
        CHECK(c.stats().library_calls == 0);
        // The weight gradients: one GEMM each over all T steps (K = T * B).
        for (int rows : {I, H}) {
          std::ostringstream gemm;
          gemm << "[" << rows << ", " << T * B << "] x [" << T * B << ", ";
          CHECK_THAT(c.schedule(), Catch::Contains(gemm.str()));
        }
      }
    }
  }
}

TEST_CASE("min-char-rnn's training step (one_hot, column layout, softmax cross-entropy): compiled equals interpreted") {
  constexpr int V = 7, Hd = 5, Tn = 4;
  for (DType t : {DType::f64, DType::f32}) {
    Function loss_fn = trace(
        [](std::span<const Var> a) {
          Var h = a[5], xs = one_hot(a[6], V, a[0].dtype()), loss = full({}, 0.0);
          for (int s = 0; s < Tn; ++s) {
            h = tanh(matmul(a[0], transpose(slice(xs, 0, s, s + 1))) + matmul(a[1], h) + a[3]);
            Var y = matmul(a[2], h) + a[4];
            loss = loss + sum(softmax_cross_entropy(transpose(y), slice(a[7], 0, s, s + 1)));
          }
          return std::vector<Var>{loss, h};
        },
        {Spec{{Hd, V}, t}, Spec{{Hd, Hd}, t}, Spec{{V, Hd}, t}, Spec{{Hd, 1}, t}, Spec{{V, 1}, t}, Spec{{Hd, 1}, t},
         Spec{{Tn}, DType::i32}, Spec{{Tn}, DType::i32}});
    Function g = value_and_grad(loss_fn, {0, 1, 2, 3, 4}, true);
    std::mt19937_64 rng(2);
    std::vector<Tensor> args;
    for (int i = 0; i < 6; ++i) args.push_back(Tensor::uniform(g.input_specs()[i].shape, -0.5, 0.5, rng, t));
    args.push_back(Tensor::from({1, 3, 0, 6}, {Tn}, DType::i32));
    args.push_back(Tensor::from({3, 0, 6, 2}, {Tn}, DType::i32));
    check_compiled(g, args, t == DType::f64 ? 1e-12 : 1e-5, std::string(name_of(t)));
  }
}

TEST_CASE("the compiled graph as Graphviz DOT, each fused kernel a box around its nodes") {
  Function f = trace([](Var x, Var w, Var b) { return tanh(matmul(x, w) + b) * 2.0; },
                     {Spec{{4, 8}}, Spec{{8, 16}}, Spec{{16}}});
  Compiled c = compile(f);
  const std::string dot = c.dot();
  INFO(dot);
  CHECK(dot.rfind("digraph rnnc {", 0) == 0);
  size_t clusters = 0;
  for (size_t at = 0; (at = dot.find("subgraph cluster_", at)) != std::string::npos; ++at) ++clusters;
  CHECK(clusters == static_cast<size_t>(c.stats().kernels));
  // tanh, add and mul sit inside the kernel's box; the matmul (a GEMM) outside it.
  const size_t open = dot.find("subgraph cluster_"), close = dot.find("  }\n", open);
  REQUIRE(close != std::string::npos);
  const std::string box = dot.substr(open, close - open);
  CHECK(box.find("tanh") != std::string::npos);
  CHECK(box.find("mul") != std::string::npos);
  CHECK(box.find("matmul") == std::string::npos);
  CHECK(dot.find("matmul [4, 16]") != std::string::npos);
  CHECK(dot.find(" -> ") != std::string::npos);
}
