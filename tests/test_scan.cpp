// scan: the loop construct. A recurrence written with scan must give the values and gradients of
// the same recurrence unrolled, in the interpreter and compiled, and its graph must not grow with T.
#include <array>
#include <catch2/catch.hpp>

#include <random>
#include <sstream>

#include "compile/host.h"
#include "helpers.h"

using namespace rnnc;
using namespace rnnc::testing;

namespace {

// The library's cell `kind` (rnn_tanh, lstm, gru) over xs [T, B, I] from (h, c), its four
// weights in PyTorch's order given as Vars (the span API, underneath the trees).
std::pair<Var, nn::LSTMState> library_layer(const std::string& kind, const Var& xs, const Var& h, const Var& c,
                                            std::span<const Var> w, bool reverse = false) {
  const nn::Gates g{w[0], w[1], w[2], w[3]};
  if (kind == "lstm") return nn::run_cell(nn::LSTMCell{g}, xs, nn::LSTMState{h, c}, {.reverse = reverse});
  auto [ys, last] = kind == "gru" ? nn::run_cell(nn::GRUCell{g}, xs, nn::Hidden{h}, {.reverse = reverse})
                                  : nn::run_cell(nn::RNNCell{g}, xs, nn::Hidden{h}, {.reverse = reverse});
  return {ys, nn::LSTMState{last.h, {}}};
}
std::vector<Spec> gate_specs(const std::string& kind, int64_t I, int64_t H, DType t = DType::f32) {
  const int64_t G = (kind == "lstm" ? 4 : kind == "gru" ? 3 : 1) * H;
  return {Spec{{G, I}, t}, Spec{{G, H}, t}, Spec{{G}, t}, Spec{{G}, t}};
}

// An LSTM step written out (not the library's, so that scan is tested on its own).
std::pair<Var, Var> lstm(const Var& x, const Var& h, const Var& c, const Var& w, const Var& u, const Var& b) {
  auto g = chunk(matmul(x, transpose(w)) + matmul(h, transpose(u)) + b, 4, 1);
  Var c2 = sigmoid(g[1]) * c + sigmoid(g[0]) * tanh(g[2]);
  return {sigmoid(g[3]) * tanh(c2), c2};
}

// Inputs: xs [T, B, I], h0, c0 [B, H], w [4H, I], u [4H, H], b [4H] (PyTorch's layout). A loss over every step's
// output and the final cell state, so that gradients flow through ys and carries.
Function loss_fn(bool use_scan, bool reverse, int T, int B, int I, int H, DType t) {
  std::vector<Spec> specs = {Spec{{T, B, I}, t, "xs"}, Spec{{B, H}, t, "h0"},    Spec{{B, H}, t, "c0"},
                             Spec{{4 * H, I}, t, "w"}, Spec{{4 * H, H}, t, "u"}, Spec{{4 * H}, t, "b"}};
  return trace(
      [=](std::span<const Var> a) {
        Var xs = a[0], w = a[3], u = a[4], b = a[5];
        std::vector<Var> hs(T);
        Var c_last;
        if (use_scan) {
          Scanned s = scan(
              [&](std::span<const Var> c, std::span<const Var> x) -> ScanStep {
                auto [h2, c2] = lstm(x[0], c[0], c[1], w, u, b);
                return {{h2, c2}, {h2}};
              },
              {a[1], a[2]}, {xs}, {.reverse = reverse});
          for (int i = 0; i < T; ++i) hs[i] = reshape(slice(s.ys[0], 0, i, i + 1), {B, H});
          c_last = s.carries[1];
        } else {
          Var h = a[1], c = a[2];
          for (int k = 0; k < T; ++k) {
            const int i = reverse ? T - 1 - k : k;
            std::tie(h, c) = lstm(reshape(slice(xs, 0, i, i + 1), {B, I}), h, c, w, u, b);
            hs[i] = h;
          }
          c_last = c;
        }
        Var loss = sum(c_last * c_last);
        for (int i = 0; i < T; ++i) loss = loss + sum(hs[i] * hs[i]) * static_cast<double>(i + 1);
        return std::vector<Var>{loss, c_last};
      },
      specs);
}

std::vector<Tensor> args_for(int T, int B, int I, int H, uint64_t seed) {
  return make_args({Arg{{T, B, I}}, Arg{{B, H}}, Arg{{B, H}}, Arg{{4 * H, I}}, Arg{{4 * H, H}}, Arg{{4 * H}}}, seed);
}

double max_diff(const Tensor& a, const Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  double m = 0;
  for (int64_t i = 0; i < a.numel(); ++i) m = std::max(m, std::abs(a.at(i) - b.at(i)));
  return m;
}

}  // namespace

TEST_CASE("scan: values and gradients equal the unrolled recurrence", "[scan]") {
  const int T = 5, B = 3, I = 4, H = 3;
  for (bool reverse : {false, true}) {
    INFO("reverse " << reverse);
    auto args = args_for(T, B, I, H, 7);
    Function unrolled = value_and_grad(loss_fn(false, reverse, T, B, I, H, DType::f64), {}, true);
    Function looped = value_and_grad(loss_fn(true, reverse, T, B, I, H, DType::f64), {}, true);
    auto want = interpret(unrolled, args);
    auto got = interpret(looped, args);
    REQUIRE(got.size() == want.size());
    for (size_t k = 0; k < got.size(); ++k) {
      INFO("output " << k);
      CHECK(max_diff(got[k], want[k]) < 1e-12);
    }
  }
}

TEST_CASE("scan: gradcheck in float64 through carries, ys and captured weights", "[scan]") {
  const int T = 4, B = 2, I = 3, H = 2;
  Function f = loss_fn(true, false, T, B, I, H, DType::f64);
  Function scalar;
  scalar.inputs = f.inputs;
  scalar.outputs = {f.outputs[0]};
  GradcheckReport r = gradcheck(scalar, args_for(T, B, I, H, 3));
  INFO(r.str());
  CHECK(r.ok);
}

TEST_CASE("scan: the graph does not grow with T", "[scan]") {
  auto nodes = [](int T) {
    Function g = value_and_grad(loss_fn(true, false, T, 2, 3, 2, DType::f32), {}, true);
    // The loss still has a term per step; the loop itself is traced once.
    size_t scans = 0;
    for (const NodePtr& n : topo_order(g.outputs)) scans += n->op == Op::Scan;
    return scans;
  };
  CHECK(nodes(10) == nodes(40));
}

TEST_CASE("scan: errors name the problem and the line", "[scan]") {
  Var h = input({2, 3}), xs = input({5, 2, 4}), ys = input({4, 2, 4});
  auto same = [](std::span<const Var> c, std::span<const Var>) -> ScanStep { return {{c[0]}, {}}; };
  auto wrong = [](std::span<const Var> c, std::span<const Var>) -> ScanStep { return {{sum(c[0], {1})}, {}}; };
  CHECK_THROWS_WITH(scan(same, {h}, {xs, ys}),
                    Catch::Contains("sequence 1 has 4 steps") && Catch::Contains("test_scan.cpp"));
  CHECK_THROWS_WITH(scan(wrong, {h}, {xs}), Catch::Contains("carry 0 enters as f32[2, 3]"));
  CHECK_THROWS_WITH(scan(same, {h}, {}), Catch::Contains("length must be given"));
  CHECK(scan(same, {h}, {}, {.length = 3}).carries[0].shape() == Shape{2, 3});
}

TEST_CASE("scan: compiled loops equal the interpreter, forward and backward", "[scan][compile]") {
  const int T = 6, B = 4, I = 5, H = 3;
  for (DType t : {DType::f64, DType::f32})
    for (bool reverse : {false, true}) {
      INFO(name_of(t) << " reverse " << reverse);
      Function f = value_and_grad(loss_fn(true, reverse, T, B, I, H, t), {}, true);
      std::vector<Tensor> args;
      for (const Tensor& a : args_for(T, B, I, H, 11)) args.push_back(a.to(t));
      auto want = interpret(f, args);
      Compiled c = compile(f);
      auto got = c(args);
      INFO(c.stats().str());
      CHECK(c.stats().loops == 2);  // the forward loop (run once) and the reverse loop
      CHECK(c.stats().library_calls == 0);
      for (size_t k = 0; k < got.size(); ++k) {
        INFO("output " << k);
        CHECK(max_diff(got[k], want[k]) < (t == DType::f64 ? 1e-11 : 2e-4));
      }
      auto again = c(args);  // the arena and the loops' scratch are reused
      for (size_t k = 0; k < got.size(); ++k) CHECK(max_diff(again[k], got[k]) == 0);
    }
}

TEST_CASE("scan: per-step outputs narrower than the input projection, reshaped after the loop", "[scan][compile]") {
  // min-char-rnn's shape: the loop's logits y_t [1, V] may be stored in the slots of the hoisted
  // input projection [T, 1, H] (H > V), which leaves them strided; the reshape after the loop must
  // not read them as contiguous.
  const int V = 5, H = 64, T = 3;
  std::mt19937_64 rng(3);
  std::vector<Tensor> args{
      Tensor::normal({H, V}, 0, 0.3, rng, DType::f64), Tensor::normal({H, H}, 0, 0.3, rng, DType::f64),
      Tensor::normal({V, H}, 0, 0.3, rng, DType::f64), Tensor::uniform({1, H}, -0.5, 0.5, rng, DType::f64),
      Tensor::from({1, 4, 2}, {T}, DType::i32),        Tensor::from({4, 2, 0}, {T}, DType::i32),
      Tensor::normal({V}, 0, 0.3, rng, DType::f64)};
  std::vector<Spec> specs;
  for (const Tensor& a : args) specs.push_back(spec_of(a));
  Function f = trace(
      [&](std::span<const Var> a) {
        Scanned r = scan(
            [&](std::span<const Var> c, std::span<const Var> x) -> ScanStep {
              Var h = tanh(matmul(x[0], transpose(a[0])) + matmul(c[0], transpose(a[1])));
              return {{h}, {matmul(h, transpose(a[2])) + a[6]}};  // a kernel writes y_t, strided
            },
            {a[3]}, {one_hot(reshape(a[4], {-1, 1}), V, DType::f64)});
        return std::vector<Var>{sum(softmax_cross_entropy(reshape(r.ys[0], {-1, V}), a[5])), r.carries[0]};
      },
      specs);
  for (const Function& g : {f, value_and_grad(f, {0, 1, 2, 6}, true)}) {
    const auto want = interpret(g, args), got = compile(g)(args);
    for (size_t k = 0; k < got.size(); ++k) CHECK(max_abs_diff(got[k], want[k]) < 1e-11);
  }
}

TEST_CASE("scan: library layers keep only the recurrent GEMM in their loops", "[scan][compile]") {
  // What the fastest RNN code does by hand, found by the compiler in the loops autodiff builds:
  // the input projection of all steps is one GEMM before the loop, the input gradient one after it,
  // each weight gradient one GEMM over all T steps (K = T * B), the bias gradient one reduction.
  const int T = 7, B = 4, I = 5, H = 3;
  for (std::string cell : {"rnn_tanh", "lstm", "gru"}) {
    DYNAMIC_SECTION(cell) {
      const bool lstm = cell == "lstm";
      std::vector<Spec> specs = {Spec{{T, B, I}, DType::f64}, Spec{{B, H}, DType::f64}, Spec{{B, H}, DType::f64}};
      for (const Spec& s : gate_specs(cell, I, H, DType::f64)) specs.push_back(s);
      Function f = trace(
          [&](std::span<const Var> a) {
            auto [ys, last] = library_layer(cell, a[0], a[1], a[2], a.subspan(3, 4));
            Var loss = sum(ys * ys) + (lstm ? sum(last.c) : sum(a[2] * 0.0));
            return std::vector<Var>{loss, last.h};
          },
          specs);
      Function g = value_and_grad(f, {}, true);
      std::mt19937_64 rng(5);
      std::vector<Tensor> args;
      for (const Spec& s : g.input_specs()) args.push_back(Tensor::uniform(s.shape, -0.5, 0.5, rng, s.dtype));
      auto want = interpret(g, args);
      Compiled c = compile(g);
      auto got = c(args);
      for (size_t k = 0; k < got.size(); ++k) CHECK(max_diff(got[k], want[k]) < 1e-11);
      INFO(c.schedule());
      CHECK(c.stats().loops == 2);
      CHECK(c.stats().library_calls == 0);
      // One recurrent GEMM in each loop, then the input projection, the input gradient and the two
      // weight gradients outside.
      CHECK(c.stats().gemms == 6);
      if (cell != "gru") {
        // Per step, forward and backward: the recurrent GEMM and ONE fused kernel (for the LSTM the
        // gate kernel reads the pre-activation's four blocks in place).
        const std::string sched = c.schedule();
        size_t bodies = 0;
        for (size_t at = sched.find("| schedule: 2 steps (1 kernels)"); at != std::string::npos;
             at = sched.find("| schedule: 2 steps (1 kernels)", at + 1))
          ++bodies;
        CHECK(bodies == 2);
      }
      for (int rows : {I, H}) {
        std::ostringstream gemm;
        gemm << ", " << T * B << "] x [" << T * B << ", " << rows << "])";  // [G, T B] x [T B, rows]
        CHECK_THAT(c.schedule(), Catch::Contains(gemm.str()));
      }
    }
  }
}

TEST_CASE("scan: a long loop gets its transposed recurrent weight copied once before it, a short one reads it in place",
          "[scan][compile]") {
  // The copy pays for itself over many steps (sgemm is faster with B as stored), not in the
  // one-step loops of sampling, a character at a time, where it was 86% of each call.
  const int B = 3, H = 24;
  for (int T : {1, 16}) {
    DYNAMIC_SECTION("T " << T) {
      Function f = trace(
          [&](std::span<const Var> a) {
            Scanned s = scan(
                [&](std::span<const Var> c, std::span<const Var> x) -> ScanStep {
                  Var h = tanh(x[0] + matmul(c[0], transpose(a[2])));
                  return {{h}, {h}};
                },
                {a[1]}, {a[0]});
            return std::vector<Var>{s.ys[0], s.carries[0]};
          },
          {Spec{{T, B, H}, DType::f64}, Spec{{B, H}, DType::f64}, Spec{{H, H}, DType::f64, "w_hh"}});
      std::mt19937_64 rng(3);
      std::vector<Tensor> args;
      for (const Spec& sp : f.input_specs()) args.push_back(Tensor::uniform(sp.shape, -0.5, 0.5, rng, sp.dtype));
      Compiled c = compile(f);
      const auto want = interpret(f, args), got = c(args);
      for (size_t k = 0; k < got.size(); ++k) CHECK(max_diff(got[k], want[k]) < 1e-12);
      INFO(c.schedule());
      // Where it pays on this CPU for this shape (measured once: on Zen 3 the copy made sgemm slower).
      const bool pays = rnnc::transposed_copy_speedup(B, H, H) >= 1.1;  // as kept for this machine
      const bool copied = c.schedule().find("kernel  domain [24, 24]") != std::string::npos;
      CHECK(copied == (T >= 8 && pays));
      // Either way, hoist_loops does what it is told, asking about the GEMM's shape [B, H] x [H, H].
      for (bool pretranspose : {false, true}) {
        PassOptions po;
        std::vector<std::array<int64_t, 3>> asked;
        po.pretranspose = [&](int64_t m, int64_t k, int64_t n) {
          asked.push_back({m, k, n});
          return pretranspose;
        };
        int copies = 0;
        for (const NodePtr& n : topo_order(optimize(f, EnvOptions{}, po).outputs))
          if (n->op == Op::Scan)
            for (const Var& in : n->loop->inputs) copies += in->name == "transposed";
        CHECK((copies > 0) == (T >= 8 && pretranspose));
        if (T >= 8) CHECK(!asked.empty());  // (once each time the pipeline runs hoist_loops)
        for (const auto& shape : asked) CHECK(shape == std::array<int64_t, 3>{B, H, H});
      }
    }
  }
}

TEST_CASE("scan: compile time does not grow with T", "[scan][compile]") {
  auto nodes = [](int T) {
    std::vector<Spec> specs = {Spec{{T, 2, 3}}, Spec{{2, 4}}, Spec{{2, 4}}};
    for (const Spec& s : gate_specs("lstm", 3, 4)) specs.push_back(s);
    Function f = trace(
        [](std::span<const Var> a) {
          auto [ys, last] = library_layer("lstm", a[0], a[1], a[2], a.subspan(3, 4));
          return sum(ys);
        },
        specs);
    Compiled c = compile(value_and_grad(f));
    return std::pair{c.stats().nodes, c.stats().steps};
  };
  CHECK(nodes(10) == nodes(1000));
}

TEST_CASE("scan: nested loops and integer carries", "[scan]") {
  // An outer loop over 3 chunks whose body scans 4 steps: a two-level recurrence. Also an i32
  // carry (a step counter) that takes no gradient and a loop with no sequences (length given).
  auto model = [](bool nested) {
    return trace(
        [nested](std::span<const Var> a) {  // xs [3, 4, 2, 3], h0 [2, 3], u [3, 3]
          Var xs = a[0], u = a[2];
          auto cell = [&](const Var& x, const Var& h) { return tanh(x + matmul(h, u)); };
          Var h = a[1];
          if (nested) {
            Scanned outer = scan(
                [&](std::span<const Var> c, std::span<const Var> chunk) -> ScanStep {
                  Scanned inner = scan(
                      [&](std::span<const Var> ci, std::span<const Var> x) -> ScanStep {
                        return {{cell(x[0], ci[0]), ci[1] + 1.0}, {}};
                      },
                      {c[0], c[1]}, {chunk[0]});
                  return {{inner.carries[0], inner.carries[1]}, {sum(inner.carries[0])}};
                },
                {h, full({}, 0.0, DType::i32)}, {xs});
            Scanned counted = scan(
                [&](std::span<const Var> c, std::span<const Var>) -> ScanStep {
                  return {{c[0] * 0.5}, {}};
                },
                {outer.carries[0]}, {}, {.length = 2});
            return std::vector<Var>{sum(counted.carries[0]) + sum(outer.ys[0]), cast(outer.carries[1], DType::f64)};
          }
          Var total = full({}, 0.0, DType::f64);
          for (int k = 0; k < 3; ++k) {
            for (int t = 0; t < 4; ++t) h = cell(reshape(slice(slice(xs, 0, k, k + 1), 1, t, t + 1), {2, 3}), h);
            total = total + sum(h);
          }
          return std::vector<Var>{sum(h * 0.25) + total, full({}, 12.0, DType::f64)};
        },
        {Spec{{3, 4, 2, 3}, DType::f64}, Spec{{2, 3}, DType::f64}, Spec{{3, 3}, DType::f64}});
  };
  auto args = make_args({Arg{{3, 4, 2, 3}}, Arg{{2, 3}}, Arg{{3, 3}}}, 21);
  Function want_f = value_and_grad(model(false), {}, true), got_f = value_and_grad(model(true), {}, true);
  auto want = interpret(want_f, args), got = interpret(got_f, args);
  for (size_t k = 0; k < want.size(); ++k) CHECK(max_diff(got[k], want[k]) < 1e-12);
  auto compiled = compile(got_f)(args);
  for (size_t k = 0; k < want.size(); ++k) CHECK(max_diff(compiled[k], want[k]) < 1e-12);
  Function m = model(true), scalar;
  scalar.inputs = m.inputs;
  scalar.outputs = {m.outputs[0]};
  GradcheckReport r = gradcheck(scalar, args);
  INFO(r.str());
  CHECK(r.ok);
}

TEST_CASE("scan: a reversed layer is the layer over the reversed sequence (bidirectional RNNs)", "[scan]") {
  const int T = 5, B = 2, I = 3, H = 4;
  std::vector<Spec> specs = {Spec{{T, B, I}, DType::f64}, Spec{{B, H}, DType::f64}};
  for (const Spec& s : gate_specs("gru", I, H, DType::f64)) specs.push_back(s);
  auto flip = [](const Var& x) {  // x[T-1], ..., x[0]
    std::vector<Var> rows;
    for (int64_t t = x.shape()[0] - 1; t >= 0; --t) rows.push_back(slice(x, 0, t, t + 1));
    return concat(rows, 0);
  };
  Function f = trace(
      [&](std::span<const Var> a) {
        auto w = a.subspan(2, 4);
        auto [back, last_b] = library_layer("gru", a[0], a[1], Var(), w, /*reverse=*/true);
        auto [fwd, last_f] = library_layer("gru", flip(a[0]), a[1], Var(), w);
        return std::vector<Var>{back, flip(fwd), last_b.h, last_f.h};
      },
      specs);
  auto args = make_args({Arg{{T, B, I}}, Arg{{B, H}}, Arg{{3 * H, I}}, Arg{{3 * H, H}}, Arg{{3 * H}}, Arg{{3 * H}}}, 4);
  for (const auto& out : {interpret(f, args), compile(f)(args)}) {
    CHECK(max_diff(out[0], out[1]) < 1e-12);
    CHECK(max_diff(out[2], out[3]) < 1e-12);
  }
}

TEST_CASE("scan: an LSTM's training step keeps little more than what BPTT must save", "[scan][compile]") {
  // What backpropagation through time must keep per step: h, c and the four gates (6 B H floats).
  // The hoisted projection, the saved gates and the gate gradients share one [T, B, 4H] buffer
  // (slot reuse in fuse.cpp), so the arena stays within 1.5x of that.
  const int T = 64, B = 32, I = 16, H = 64;
  std::vector<Spec> specs = {Spec{{T, B, I}, DType::f64}, Spec{{B, H}, DType::f64}, Spec{{B, H}, DType::f64}};
  for (const Spec& s : gate_specs("lstm", I, H, DType::f64)) specs.push_back(s);
  Function f = trace(
      [&](std::span<const Var> a) {
        auto [ys, last] = library_layer("lstm", a[0], a[1], a[2], a.subspan(3, 4));
        return std::vector<Var>{sum(ys * ys), last.h, last.c};
      },
      specs);
  std::vector<int> params = {3, 4, 5, 6};
  Compiled c = compile(value_and_grad(f, params, true));
  const double floor = 6.0 * T * B * H * 8;  // float64
  INFO(c.stats().str() << "\n" << c.schedule());
  CHECK(c.stats().arena_bytes <= 1.5 * floor);
  // And the shared buffer gives the same numbers as the interpreter.
  std::mt19937_64 rng(3);
  std::vector<Tensor> args;
  for (const Spec& s : f.input_specs()) args.push_back(Tensor::uniform(s.shape, -0.5, 0.5, rng, DType::f64));
  auto want = interpret(value_and_grad(f, params, true), args), got = c(args);
  for (size_t k = 0; k < got.size(); ++k) CHECK(max_diff(got[k], want[k]) < 1e-10);
}

TEST_CASE("scan: random recurrent cells, compiled equals interpreted with their gradients", "[scan][compile]") {
  // Random cells over random shapes exercise what the loop compiler does to them: hoisted
  // projections (plain and transposed weights), histories (outputs that stack the carry or its
  // previous value), slot reuse, reversed loops, several carries and outputs.
  std::mt19937_64 rng(2026);
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<uint64_t>(n)); };
  for (int trial = 0; trial < 60; ++trial) {
    const int T = 1 + pick(6), B = 1 + pick(4), I = 1 + pick(5), H = 1 + pick(5);
    const bool reverse = pick(2), two_carries = pick(2), transposed = pick(2), bias = pick(2);
    const int act = pick(3), ys_mask = 1 + pick(15);
    INFO("trial " << trial << " T=" << T << " B=" << B << " I=" << I << " H=" << H << " reverse=" << reverse
                  << " two_carries=" << two_carries << " transposed=" << transposed << " act=" << act
                  << " ys=" << ys_mask);
    std::vector<Spec> specs = {Spec{{T, B, I}, DType::f64}, Spec{{B, H}, DType::f64},
                               Spec{{B, H}, DType::f64},    Spec{transposed ? Shape{H, I} : Shape{I, H}, DType::f64},
                               Spec{{H, H}, DType::f64},    Spec{{H}, DType::f64}};
    Function f = trace(
        [&](std::span<const Var> a) {
          std::vector<Var> init{a[1]};
          if (two_carries) init.push_back(a[2]);
          Scanned s = scan(
              [&](std::span<const Var> c, std::span<const Var> x) -> ScanStep {
                Var pre = matmul(x[0], transposed ? transpose(a[3]) : a[3]) + matmul(c[0], a[4]);
                if (bias) pre = pre + a[5];
                Var h = act == 0   ? tanh(pre)
                        : act == 1 ? sigmoid(pre) * c[0] + tanh(pre)
                                   : relu(pre) * 0.5 + c[0] * 0.5;
                std::vector<Var> carries{h};
                if (two_carries) carries.push_back(c[1] * sigmoid(pre) + h);
                std::vector<Var> ys;
                if (ys_mask & 1) ys.push_back(h);             // the carry: a history
                if (ys_mask & 2) ys.push_back(c[0]);          // the previous carry: the same history
                if (ys_mask & 4) ys.push_back(sigmoid(pre));  // something else
                if (ys_mask & 8) ys.push_back(pre * x[0].shape()[1]);
                return {carries, ys};
              },
              init, {a[0]}, {.reverse = reverse});
          Var loss = sum(s.carries[0] * s.carries[0]);
          if (two_carries) loss = loss + sum(s.carries[1]);
          double w = 1;
          for (const Var& y : s.ys) loss = loss + sum(y * y) * (w += 0.5);
          return std::vector<Var>{loss, s.carries[0]};
        },
        specs);
    Function g = value_and_grad(f, {}, true);
    auto args = make_args(
        {Arg{{T, B, I}}, Arg{{B, H}}, Arg{{B, H}}, Arg{transposed ? Shape{H, I} : Shape{I, H}}, Arg{{H, H}}, Arg{{H}}},
        trial);
    auto want = interpret(g, args);
    Compiled c = compile(g);
    auto got = c(args), again = c(args);
    for (size_t k = 0; k < got.size(); ++k) {
      INFO("output " << k << "\n" << c.schedule());
      CHECK(max_diff(got[k], want[k]) < 1e-10);
      CHECK(max_diff(again[k], want[k]) < 1e-10);
    }
  }
}
