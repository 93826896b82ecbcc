// Graph passes: each rule on its own, then thousands of random graphs (and their gradients)
// run before and after the pipeline through the interpreter, with zero mismatches allowed.
#include <catch2/catch.hpp>
#include <functional>

#include <unistd.h>

#include <cstdio>

#include "helpers.h"
#include "random_graph.h"

using namespace rnnc;
using namespace rnnc::testing;

namespace {
size_t count_nodes(const std::vector<Var>& outs) { return topo_order(outs).size(); }
}  // namespace

TEST_CASE("simplify: algebraic identities") {
  Var x = input({3, 4}, DType::f64, "x");
  struct Row {
    const char* name;
    Var before, after;
  };
  std::vector<Row> rows = {
      {"x * 1 + 0", x * 1.0 + 0.0, x},
      {"1 * x - 0", 1.0 * x - 0.0, x},
      {"0 - x", 0.0 - x, -x},
      {"x / 1", x / 1.0, x},
      {"x ^ 1", pow(x, 1.0), x},
      {"x ^ 2", pow(x, 2.0), x * x},
      {"-(-x)", -(-x), x},
      {"x * -1", x * -1.0, -x},
      {"transpose of transpose", transpose(transpose(x)), x},
      {"stop_gradient", stop_gradient(x), x},
      {"sum over extent 1", sum(reshape(x, {3, 4, 1}), {2}, true), reshape(x, {3, 4, 1})},
      {"select on a constant", where(full({3, 4}, 1.0, DType::f64), x, -x), x},
      {"select of equal branches", where(x > 0.0, tanh(x), tanh(x)), tanh(x)},
      {"broadcast of a fill", broadcast_to(full({4}, 2.0, DType::f64), {3, 4}), full({3, 4}, 2.0, DType::f64)},
      {"disjoint pads add up to a concat", pad(tanh(x), {0, 0}, {0, 6}) + pad(exp(x), {0, 6}, {0, 0}),
       concat({tanh(x), full({3, 2}, 0.0, DType::f64), exp(x)}, 1)},
      {"consecutive slices concatenated are the tensor",
       concat({reshape(slice(x, 0, 0, 1), {1, 4}), slice(x, 0, 1, 3)}, 0), reshape(x, {3, 4})},
      {"reshape(a) + reshape(b)", reshape(x, {12}) + reshape(tanh(x), {12}), reshape(x + tanh(x), {12})},
  };
  for (const Row& r : rows) {
    DYNAMIC_SECTION(r.name) {
      Var got = simplify({r.before})[0];
      INFO(to_text({got}));
      CHECK(got.same(r.after));
    }
  }
  // Nothing to simplify: the same nodes come back.
  Var y = tanh(x) * x;
  CHECK(simplify({y})[0].same(y));
}

TEST_CASE("fold_constants computes constant subgraphs once") {
  Var x = input({2, 2}, DType::f64, "x");
  Var c = full({2, 2}, 2.0, DType::f64) * full({2, 2}, 3.0, DType::f64);
  Var folded = fold_constants({x + c})[0];
  REQUIRE(folded.op() == Op::Add);
  CHECK(Var(folded->inputs[1]).same(full({2, 2}, 6.0, DType::f64)));
  Var lit = constant(Tensor::from({1, 2, 3, 4}, {2, 2}, DType::f64));
  Var f2 = fold_constants({x * exp(lit)})[0];
  REQUIRE(Var(f2->inputs[1]).op() == Op::Literal);
  CHECK(Var(f2->inputs[1])->literal->at(3) == Approx(std::exp(4.0)));

  // Past max_elements: a large weight plus its broadcast bias folds (the result is no larger than
  // the weight), a view of the weight does not (it is free, and its GEMM reads the weight's own
  // layout), nor does a broadcast that would make a constant larger than any the graph holds.
  std::mt19937_64 rng(2);
  const Var W = constant(Tensor::uniform({512, 256}, -1, 1, rng, DType::f64));  // 2^17 values
  const Var b = constant(Tensor::uniform({1, 256}, -1, 1, rng, DType::f64));
  const Var y = input({512, 256}, DType::f64, "y");
  Var sum = fold_constants({y * (W + broadcast_to(b, {512, 256}))})[0];
  REQUIRE(Var(sum->inputs[1]).op() == Op::Literal);
  CHECK(Var(sum->inputs[1])->literal->at(256 + 3) == W->literal->at(256 + 3) + b->literal->at(3));
  const Var yt = input({256, 512}, DType::f64, "yt");
  CHECK(Var(fold_constants({yt * transpose(W)})[0]->inputs[1]).op() == Op::Transpose);
  const Var big = input({4, 512, 256}, DType::f64, "big");
  CHECK(Var(fold_constants({big * exp(broadcast_to(W, {4, 512, 256}))})[0]->inputs[1]).op() == Op::Exp);
}

TEST_CASE("optimize shrinks autodiff's output and keeps its values") {
  std::vector<Tensor> args = make_args({{{4, 8}}, {{8, 8}}, {{8}}}, 5);
  Function f = trace(
      [](Var x, Var w, Var b) {
        Var h = x;
        for (int t = 0; t < 5; ++t) h = tanh(matmul(h, w) + b);
        return sum(h * h);
      },
      specs_of(args));
  Function g = value_and_grad(f);
  Function o = optimize(g);
  INFO(count_nodes(g.outputs) << " -> " << count_nodes(o.outputs));
  CHECK(count_nodes(o.outputs) < count_nodes(g.outputs));
  auto a = interpret(g, args), b = interpret(o, args);
  for (size_t i = 0; i < a.size(); ++i) CHECK(same_values(a[i], b[i], 1e-12));
}

TEST_CASE("differential: random graphs and their gradients agree before and after the pipeline") {
  int mismatches = 0, graphs = 0, with_grad = 0;
  for (uint64_t seed = 1; seed <= 2000; ++seed) {
    RandomGraph rg = random_graph(seed);
    Function o = optimize(rg.f);
    auto a = interpret(rg.f, rg.args), b = interpret(o, rg.args);
    ++graphs;
    for (size_t i = 0; i < a.size(); ++i)
      if (!same_values(a[i], b[i], 1e-12)) {
        ++mismatches;
        UNSCOPED_INFO("seed " << seed << " output " << i << "\n" << to_text(rg.f) << "optimized:\n" << to_text(o));
      }
    // The scalar second output differentiates; compare its gradient graph too.
    Function scalar{rg.f.inputs, {rg.f.outputs[1]}, {}};
    Function g = grad(scalar);
    auto ga = interpret(g, rg.args), gb = interpret(optimize(g), rg.args);
    ++with_grad;
    for (size_t i = 0; i < ga.size(); ++i)
      if (!same_values(ga[i], gb[i], 1e-12)) {
        ++mismatches;
        UNSCOPED_INFO("gradient, seed " << seed << " input " << i);
      }
  }
  INFO(graphs << " graphs, " << with_grad << " gradient graphs");
  CHECK(mismatches == 0);
}

TEST_CASE("dump passes (RNNC_DUMP=passes) prints the graph after each pass") {
  Function f = trace([](Var x) { return x * 1.0; }, {Spec{{2}, DType::f32, "x"}});
  Function o;
  EnvOptions env;
  env.dump = "passes";
  const std::string text = capture_stderr([&] { o = optimize(f, env); });
  CHECK_THAT(text, Catch::Contains("// after simplify: 1 nodes"));
  CHECK_THAT(text, Catch::Contains("// after fold_constants"));
  CHECK_THAT(text, Catch::Contains("input() \"x\" : f32[2]"));
  CHECK(o.outputs[0].same(o.inputs[0]));
}

TEST_CASE("merge_sums: the weight gradient of T steps is one GEMM, two-term sums stay") {
  Var w = input({4, 5}, DType::f64, "w");
  std::vector<Var> xs, ds;
  for (int t = 0; t < 4; ++t) {
    xs.push_back(input({3, 4}, DType::f64, "x"));
    ds.push_back(input({3, 5}, DType::f64, "d"));
  }
  Var two = matmul(xs[0], w) + matmul(xs[1], w);
  CHECK(merge_sums({two})[0].same(two));
  Var dw = matmul(transpose(xs[0]), ds[0]);
  for (int t = 1; t < 4; ++t) dw = dw + matmul(transpose(xs[t]), ds[t]);
  Var merged = merge_sums({dw})[0];
  INFO(to_text({merged}));
  REQUIRE(merged.op() == Op::MatMul);
  CHECK(Var(merged->inputs[0]).op() == Op::Transpose);  // [x_1; ...; x_4]^T, not four transposes
  CHECK(Var(merged->inputs[1]).op() == Op::Concat);
  Var db = sum(ds[0] + ds[1] + ds[2], {0}, true);
  Var mdb = merge_sums({db})[0];
  REQUIRE(mdb.op() == Op::Sum);
  CHECK(Var(mdb->inputs[0]).op() == Op::Concat);
  // Same values.
  std::vector<Var> ins = xs;
  ins.insert(ins.end(), ds.begin(), ds.end());
  std::mt19937_64 rng(4);
  std::vector<Tensor> args;
  for (const Var& v : ins) args.push_back(Tensor::uniform(v.shape(), -1, 1, rng, DType::f64));
  CHECK(max_abs_diff(evaluate({dw}, ins, args)[0], evaluate({merged}, ins, args)[0]) < 1e-12);
  CHECK(max_abs_diff(evaluate({db}, ins, args)[0], evaluate({mdb}, ins, args)[0]) < 1e-12);
}

TEST_CASE("batch_gemms: independent products with a shared weight become one GEMM, a recurrence does not") {
  Var w = input({4, 5}, DType::f64, "w"), u = input({5, 5}, DType::f64, "u"), h0 = input({2, 5}, DType::f64, "h0");
  std::vector<Var> xs;
  for (int t = 0; t < 4; ++t) xs.push_back(input({2, 4}, DType::f64, "x"));
  Var h = h0;
  for (int t = 0; t < 4; ++t) h = tanh(matmul(xs[t], w) + matmul(h, u));
  auto count = [](const Var& v) {
    int n = 0;
    for (const NodePtr& p : topo_order({v})) n += p->op == Op::MatMul;
    return n;
  };
  CHECK(count(h) == 8);
  Var b = batch_gemms({h})[0];
  INFO(to_text({b}));
  CHECK(count(b) == 5);  // one for x_t w (all steps), four for the recurrence h u
  std::vector<Var> ins = {w, u, h0};
  ins.insert(ins.end(), xs.begin(), xs.end());
  std::mt19937_64 rng(6);
  std::vector<Tensor> args;
  for (const Var& v : ins) args.push_back(Tensor::uniform(v.shape(), -1, 1, rng, DType::f64));
  CHECK(max_abs_diff(evaluate({h}, ins, args)[0], evaluate({b}, ins, args)[0]) < 1e-12);
  // Column layout (min-char-rnn's W x_t): the shared operand on the left.
  Var c = full({5, 1}, 0.0, DType::f64);
  std::vector<Var> cols;
  for (int t = 0; t < 3; ++t) cols.push_back(input({4, 1}, DType::f64, "col"));
  Var wt = input({5, 4}, DType::f64, "wt");
  for (const Var& x : cols) c = c + matmul(wt, x) * 2.0;
  CHECK(count(batch_gemms({c})[0]) == 1);
}

TEST_CASE("one_hot_gemms: a GEMM with a one-hot operand becomes a gather or a scatter_add, with the same values") {
  const int64_t V = 7, N = 5;
  Var idx = input({3, 4}, DType::i32, "idx");   // M = 12 rows, reshaped from [3, 4]
  Var idx_few = input({4}, DType::i32, "few");  // M = 4 < V rows
  Var w = input({V, N}, DType::f64, "w"), w_t = input({N, V}, DType::f64, "w_t"), g = input({12, N}, DType::f64, "g");
  Var rows = reshape(one_hot(idx, V, DType::f64), {12, V});
  Var few = one_hot(idx_few, V, DType::f64);
  std::mt19937_64 init(9);
  const Var w_c = constant(Tensor::uniform({N, V}, -1, 1, init, DType::f64));  // a sampling step's captured weight
  struct Row {
    const char* name;
    Var before;
    Op becomes;  // the op at the top (under a transpose, for the last row), or MatMul when kept
  };
  const std::vector<Row> table = {
      {"one_hot(i) W", matmul(rows, w), Op::Gather},
      {"one_hot(i) W^T, at least V rows: W^T copied, then picked", matmul(rows, transpose(w_t)), Op::Gather},
      {"one_hot(i) W^T, fewer than V rows: the GEMM stays", matmul(few, transpose(w_t)), Op::MatMul},
      {"one_hot(i) W, fewer than V rows", matmul(few, w), Op::Gather},
      {"one_hot(i) W^T, fewer than V rows, W a constant: W^T copied once, now", matmul(few, transpose(w_c)),
       Op::Gather},
      {"one_hot(i)^T G (the weight gradient)", matmul(transpose(rows), g), Op::ScatterAdd},
      {"G^T one_hot(i) (the gradient of W^T)", matmul(transpose(g), rows), Op::ScatterAdd},
  };
  std::mt19937_64 rng(8);
  const Tensor i12 = Tensor::from({0, 6, 3, 3, 1, 0, 5, 6, 2, 2, 4, 6}, {3, 4}, DType::i32);
  const Tensor i4 = Tensor::from({6, 0, 6, 2}, {4}, DType::i32);
  for (const Row& r : table) {
    DYNAMIC_SECTION(r.name) {
      Var got = one_hot_gemms({r.before})[0];
      INFO(to_text({got}));
      CHECK((got.op() == Op::Transpose ? Var(got->inputs[0]).op() : got.op()) == r.becomes);
      const Function before{{idx, idx_few, w, w_t, g}, {r.before}, {}}, after{{idx, idx_few, w, w_t, g}, {got}, {}};
      const std::vector<Tensor> a = {i12, i4, Tensor::uniform({V, N}, -1, 1, rng, DType::f64),
                                     Tensor::uniform({N, V}, -1, 1, rng, DType::f64),
                                     Tensor::uniform({12, N}, -1, 1, rng, DType::f64)};
      const Tensor want = interpret(before, a)[0];
      CHECK(max_abs_diff(interpret(after, a)[0], want) < 1e-15);
      CHECK(max_abs_diff(compile(before)(a)[0], want) < 1e-15);  // the pipeline runs the pass
    }
  }
}

TEST_CASE(
    "one_hot_gemms: a bias gradient, the sum of rows a scatter_add also reads, sums the scatter's table instead") {
  // The input projection's weight gradient one_hot(i)^T G becomes scatter_add(i, G); the bias
  // gradient sum(G) over all rows is then the sum of the table's V rows: G is read once.
  const int64_t V = 5, N = 6;
  struct Row {
    const char* name;
    int64_t t, b;    // G is [t, b, N], its rows reshaped to [t b, N] for the scatter
    bool rewritten;  // more rows than the table's V
  };
  for (const Row& r : {Row{"12 rows of G, a table of 5", 3, 4, true}, Row{"4 rows, no fewer to add", 1, 4, false}}) {
    DYNAMIC_SECTION(r.name) {
      const int64_t M = r.t * r.b;
      Var idx = input({M}, DType::i32, "idx"), g = input({r.t, r.b, N}, DType::f64, "g");
      Var rows = one_hot(idx, V, DType::f64), g2 = reshape(g, {M, N});
      const Var dw = matmul(transpose(rows), g2), db = sum(g, {0, 1});
      const std::vector<Var> got = one_hot_gemms({dw, db});
      INFO(to_text(got));
      REQUIRE(got[0].op() == Op::ScatterAdd);
      int sums_of_g = 0;  // sums that still read G's M rows
      for (const NodePtr& n : topo_order(got))
        if (n->op == Op::Sum && numel(n->inputs[0]->shape) == M * N) ++sums_of_g;
      CHECK(sums_of_g == (r.rewritten ? 0 : 1));
      std::mt19937_64 rng(3);
      Tensor i(DType::i32, {M});
      for (int64_t k = 0; k < M; ++k) i.set(k, static_cast<double>(rng() % V));
      const std::vector<Tensor> a = {i, Tensor::uniform({r.t, r.b, N}, -1, 1, rng, DType::f64)};
      const Function before{{idx, g}, {dw, db}, {}}, after{{idx, g}, got, {}};
      const std::vector<Tensor> want = interpret(before, a), have = interpret(after, a), compiled = compile(before)(a);
      for (size_t k = 0; k < 2; ++k) {
        CHECK(max_abs_diff(have[k], want[k]) < 1e-14);
        CHECK(max_abs_diff(compiled[k], want[k]) < 1e-14);
      }
    }
  }
}

namespace {
struct CharLstm {
  nn::RNN<nn::LSTMCell> rnn;
  nn::Linear out;
  RNNC_TREE(rnn, out)
};

// A 1-layer character LSTM's training step (loss and gradients, float64) and its arguments.
std::pair<Function, std::vector<Tensor>> char_lstm_step(int64_t V, int64_t H, int64_t T, int64_t B, uint64_t seed) {
  std::mt19937_64 rng(seed);
  CharLstm m{nn::RNN<nn::LSTMCell>::init(V, H, rng, {}, DType::f64), nn::Linear::init(H, V, rng, DType::f64)};
  auto loss = [=](const CharLstm& p, const Var& x, const Var& y) {
    auto [hs, last] = p.rnn(one_hot(x, V, DType::f64), p.rnn.initial_state(B));
    return mean(softmax_cross_entropy(p.out(reshape(hs, {T * B, H})), reshape(y, {-1})));
  };
  Tensor x(DType::i32, {T, B}), y(DType::i32, {T, B});
  for (int64_t i = 0; i < x.numel(); ++i)
    x.set(i, static_cast<double>(rng() % V)), y.set(i, static_cast<double>(rng() % V));
  auto [fn, args] = compile(loss).function(m, x, y);
  return {value_and_grad(fn), args};
}
}  // namespace

TEST_CASE(
    "gather_rows: a character LSTM's input rows are gathered with the bias folded in, in the loop or before it, with "
    "the same values") {
  const int64_t V = 7, H = 8, T = 10, B = 12;  // T B >= V: one_hot_gemms gathers
  const auto [vg, args] = char_lstm_step(V, H, T, B, 4);
  const std::vector<Tensor> want = interpret(vg, args);
  for (bool in_loops : {true, false}) {
    DYNAMIC_SECTION((in_loops ? "in the loop" : "before the loop")) {
      PassOptions po;
      po.gathers_in_loops = in_loops;
      const Function g = optimize(vg, EnvOptions{}, po);
      // Rows of [T B, 4H] gathered outside the loops (from the table plus the bias) or none; a
      // loop body gathers [B, 4H]; no bias is added to [T, B, 4H] values.
      int outside = 0, inside = 0, big_adds = 0;
      for (const NodePtr& n : topo_order(g.outputs)) {
        if (n->op == Op::Gather) {
          ++outside;
          CHECK(n->shape == Shape{T * B, 4 * H});
          CHECK(n->inputs[0]->op == Op::Add);  // W^T + b, [V, 4H]
        }
        if (n->op == Op::Add && n->shape == Shape{T, B, 4 * H}) ++big_adds;
        if (n->op == Op::Scan)
          for (const NodePtr& b : topo_order(n->loop->outputs))
            if (b->op == Op::Gather && b->shape == Shape{B, 4 * H}) ++inside;
      }
      INFO(to_text(g));
      CHECK(outside == (in_loops ? 0 : 1));
      CHECK((inside > 0) == in_loops);
      CHECK(big_adds == 0);
      const std::vector<Tensor> got = compile(g)(args);
      REQUIRE(got.size() == want.size());
      for (size_t i = 0; i < got.size(); ++i) CHECK(max_abs_diff(got[i], want[i]) < 1e-12);
    }
  }
  // Gathering in the loop is the fastest plan and needs more memory: a budget just below it stores
  // every step with the rows gathered before the loop (the second plan), recomputing nothing.
  Compiled fastest = compile(vg);
  fastest(args);
  CompileOptions o;
  o.memory_budget = fastest.stats().arena_bytes - 1;
  Compiled lean = compile(vg, o);
  const std::vector<Tensor> got = lean(args);
  CHECK(lean.stats().plans_tried == 2);
  CHECK(lean.stats().checkpointing.stores_all());
  CHECK(lean.stats().arena_bytes < fastest.stats().arena_bytes);
  for (size_t i = 0; i < got.size(); ++i) CHECK(max_abs_diff(got[i], want[i]) < 1e-12);
}

TEST_CASE(
    "hoist_loops: a transposed weight a gather or an inner loop reads is transposed once, before the outermost loop") {
  // In recomputed segments (loops of loops), a character LSTM's input rows are gathered a step at a
  // time from W_ih^T, and each segment's loop reads W_hh^T: copies the lowering made every step.
  const auto [vg, args] = char_lstm_step(7, 6, 16, 8, 5);  // B >= V: a step's one-hot product is a gather
  const std::vector<Tensor> want = interpret(vg, args);
  for (const Checkpointing& c : {Checkpointing{{8}}, Checkpointing{{8, 4}}}) {  // segments of 8 steps pretranspose
    INFO(c.str());
    PassOptions po;
    po.checkpointing = c;
    po.gathers_in_loops = false;
    const Function g = optimize(vg, EnvOptions{}, po);
    int copied = 0, loops = 0;
    std::function<void(const std::vector<Var>&, int)> walk = [&](const std::vector<Var>& outs, int depth) {
      for (const NodePtr& n : topo_order(outs)) {
        if (depth > 0 && (n->op == Op::Gather || n->op == Op::Scan))
          for (const NodePtr& in : n->inputs) copied += in->op == Op::Transpose;
        if (n->op == Op::Scan) ++loops, walk(n->loop->outputs, depth + 1);
      }
    };
    walk(g.outputs, 0);
    INFO(to_text(g));
    CHECK(loops > 2);  // the segments' loops of loops are there
    CHECK(copied == 0);
    const std::vector<Tensor> got = compile(g)(args);
    REQUIRE(got.size() == want.size());
    for (size_t i = 0; i < got.size(); ++i) CHECK(max_abs_diff(got[i], want[i]) < 1e-12);
  }
}
