// Recomputation (checkpoint_loops, CompileOptions::memory_budget): with any schedule the gradients
// are the stored-everything gradients (float64 to 1e-12, float32 to 1e-6 relative), compiled ==
// interpreted, for library cells, a user's own, stacked, reversed, bidirectional and length-masked
// scans; the planned arena is within every budget compile accepts; a budget none meets throws.
#include <catch2/catch.hpp>

#include <cmath>

#include "helpers.h"
#include "exec/revolve.h"

using namespace rnnc;
using namespace rnnc::testing;

namespace {

template <class Layer> struct Problem {
  using State = decltype(std::declval<const Layer&>().initial_state(1));
  Layer layer;
  State s;  // every layer's
  Leaf xs, wy;
  RNNC_TREE(layer, s, xs, wy)
};

// An output layer over every step (h stays stored: the output layer reads it) and every final
// state in the loss, so every gradient path is exercised.
template <class Layer> auto loss_fn(bool reverse, bool with_lengths) {
  return [reverse, with_lengths](const Problem<Layer>& p, const Var& lengths, const Var& w) {
    auto [ys, last] =
        p.layer(Var(p.xs), p.s, nn::RunOptions{.lengths = with_lengths ? lengths : Var(), .reverse = reverse});
    const Shape& s = ys.shape();
    Var logits = matmul(reshape(ys, {s[0] * s[1], s[2]}), Var(p.wy));
    Var loss = sum(w * tanh(logits));
    double k = 1;
    for (const Var& v : tree::vars(last)) loss = loss + sum(v * v) * k++;
    return loss;
  };
}

template <class Layer>
void check_schedules(const Layer& layer, bool reverse, bool with_lengths, int64_t T, DType dtype) {
  std::mt19937_64 rng(7);
  const int64_t B = 3, I = 4, V = 5;
  Problem<Layer> p{layer, layer.initial_state(B), Tensor::uniform({T, B, I}, -1, 1, rng, dtype), Tensor()};
  tree::for_each(p.s, [&](const std::string&, Leaf& l) { l = Tensor::uniform(l.shape(), -0.8, 0.8, rng, dtype); });
  const int64_t H = tree::vars(layer(input({T, B, I}, dtype), p.s).first)[0].shape()[2];
  p.wy = Tensor::uniform({H, V}, -1, 1, rng, dtype);
  std::vector<double> lens;
  for (int64_t b = 0; b < B; ++b) lens.push_back(static_cast<double>(std::max<int64_t>(0, T - 4 * b)));
  const Tensor len = Tensor::from(lens, {B}, DType::i32);
  const Tensor w = Tensor::uniform({T * B, V}, -1, 1, rng, dtype);
  auto fn = loss_fn<Layer>(reverse, with_lengths);

  auto [ivalue, igrads] = interpret(value_and_grad(fn))(p, len, w);
  auto all = compile(value_and_grad(fn));
  auto [value, grads] = all(p, len, w);
  const double tol = dtype == DType::f64 ? 1e-12 : 1e-6;
  auto rel = [](const Tensor& a, const Tensor& b) {
    double scale = 1e-30;
    for (int64_t i = 0; i < b.numel(); ++i) scale = std::max(scale, std::abs(b.at(i)));
    return max_abs_diff(a, b) / scale;
  };
  for (const Checkpointing& c : {Checkpointing{{2}}, Checkpointing{{3}}, Checkpointing{{4}}, Checkpointing{{T / 2}},
                                 Checkpointing{{6, 2}}, Checkpointing{{4, 2}}, Checkpointing{{6, 3, 1}},
                                 Checkpointing{{}, 1}, Checkpointing{{}, 2}, Checkpointing{{}, 3}, Checkpointing{{}, 5},
                                 // per loop pair: the first (the last layer's) split, the next stored
                                 Checkpointing{{}, 0, {Checkpointing{{3}}, Checkpointing{}}},
                                 Checkpointing{{}, 0, {Checkpointing{{}, 3}, Checkpointing{}}}}) {
    INFO(c.str());
    CompileOptions o;
    o.checkpointing = c;
    auto f = compile(value_and_grad(fn), o);
    auto [v, g] = f(p, len, w);
    CHECK(f.compiled().stats().checkpointing == c);
    // Revolve's loops keep carries in slots and run again from them (not one-step segments that
    // keep every carry).
    if (c.slots > 0)
      CHECK(f.compiled().schedule().find("from " + std::to_string(c.slots) + " slots") != std::string::npos);
    CHECK(f.compiled().stats().loops > all.compiled().stats().loops);  // the loops were split into segments
    CHECK(std::abs(v.item() - value.item()) <= tol * std::abs(value.item()));
    const auto gs = tree::tensors(g), want = tree::tensors(grads), iwant = tree::tensors(igrads);
    for (size_t i = 0; i < gs.size(); ++i) {
      INFO("gradient " << i);
      CHECK(rel(gs[i], want[i]) <= tol);   // == stored everything
      CHECK(rel(gs[i], iwant[i]) <= tol);  // == interpreted
    }
  }
}

}  // namespace

TEST_CASE("recompute: every schedule gives the stored-everything gradients", "[recompute]") {
  std::mt19937_64 rng(3);
  // T = 13: segments of 2, 3, 4 and 6 leave a remainder; {6, 2} and {4, 2} nest a second level,
  // {6, 3, 1} a third.
  SECTION("LSTM, 2 layers, float64") {
    check_schedules(nn::RNN<nn::LSTMCell>::init(4, 5, rng, {.layers = 2}, DType::f64), false, false, 13, DType::f64);
  }
  SECTION("GRU, reversed, float64") {
    check_schedules(nn::RNN<nn::GRUCell>::init(4, 5, rng, {}, DType::f64), true, false, 13, DType::f64);
  }
  SECTION("a user's own cell, float64") {
    check_schedules(nn::RNN<Leaky>::init(4, 5, rng, {.layers = 2}, DType::f64), false, false, 12, DType::f64);
  }
  SECTION("bidirectional LSTM with lengths, float64") {
    check_schedules(nn::Bidirectional<nn::LSTMCell>::init(4, 3, rng, {.layers = 2}, DType::f64), false, true, 13,
                    DType::f64);
  }
  SECTION("LSTM, float32") {
    check_schedules(nn::RNN<nn::LSTMCell>::init(4, 5, rng, {.layers = 2}, DType::f32), false, false, 16, DType::f32);
  }
}

namespace {

// h_{t+1} = tanh(x_t W + h_t U), loss = sum_t sum(h_t^2) / 2 + sum(h_T): a scan as a plain Function.
Function rnn_loss(int64_t T, int64_t B, int64_t I, int64_t H) {
  Var xs = input({T, B, I}, DType::f64, "xs"), h0 = input({B, H}, DType::f64, "h0");
  Var w = input({I, H}, DType::f64, "w"), u = input({H, H}, DType::f64, "u");
  Scanned r = scan(
      [&](std::span<const Var> c, std::span<const Var> x) -> ScanStep {
        Var h = tanh(matmul(x[0], w) + matmul(c[0], u));
        return {{h}, {h}};
      },
      {h0}, {xs});
  Var loss = sum(r.ys[0] * r.ys[0]) * 0.5 + sum(r.carries[0]);
  Function f;
  f.inputs = {xs, h0, w, u};
  f.outputs = {loss};
  return f;
}

}  // namespace

TEST_CASE("recompute: the checkpointed gradient graph agrees with finite differences", "[recompute]") {
  const int64_t T = 11, B = 2, I = 3, H = 4;
  const Function f = rnn_loss(T, B, I, H);
  const std::vector<Tensor> args = make_args({{{T, B, I}}, {{B, H}}, {{I, H}}, {{H, H}}}, 9);
  Function g = grad(f);
  Function ck = g;
  ck.outputs = checkpoint_loops(merge_loops(g.outputs), Checkpointing{{3}});
  // The rewrite happened: a loop over segments stands where the backward loop was.
  bool segmented = false;
  for (const NodePtr& n : topo_order(ck.outputs)) segmented |= n->op == Op::Scan && n->loop->segments;
  REQUIRE(segmented);
  const std::vector<Tensor> want = interpret(g, args), got = interpret(ck, args);
  REQUIRE(got.size() == want.size());
  // The same ops in the same order: the interpreter gives the same bits.
  for (size_t i = 0; i < got.size(); ++i) CHECK(max_abs_diff(got[i], want[i]) == 0);
  // Central differences of the loss along every element of w and u.
  const double eps = 1e-6;
  for (int k : {2, 3})
    for (int64_t e = 0; e < args[k].numel(); ++e) {
      std::vector<Tensor> plus = args, minus = args;
      plus[k] = args[k].clone();
      minus[k] = args[k].clone();
      plus[k].set(e, args[k].at(e) + eps);
      minus[k].set(e, args[k].at(e) - eps);
      const double numeric = (interpret(f, plus)[0].item() - interpret(f, minus)[0].item()) / (2 * eps);
      CHECK(std::abs(got[k].at(e) - numeric) <= 1e-7 * (1 + std::abs(numeric)));
    }
  // Compiled with the schedule == interpreted.
  CompileOptions o;
  o.checkpointing = Checkpointing{{3}};
  const std::vector<Tensor> compiled = compile(g, o)(args);
  for (size_t i = 0; i < got.size(); ++i) CHECK(max_abs_diff(compiled[i], want[i]) < 1e-12);
}

TEST_CASE("recompute: the plan fits every budget compile accepts", "[recompute]") {
  std::mt19937_64 rng(5);
  const int64_t T = 96, B = 4, I = 6, V = 5;
  using Layer = nn::RNN<nn::LSTMCell>;
  Problem<Layer> p{Layer::init(I, 16, rng, {.layers = 2}),
                   {},
                   Tensor::uniform({T, B, I}, -1, 1, rng),
                   Tensor::uniform({16, V}, -1, 1, rng)};
  p.s = p.layer.initial_state(B);
  const Tensor len = Tensor::zeros({B}, DType::i32), w = Tensor::uniform({T * B, V}, -1, 1, rng);
  auto fn = loss_fn<Layer>(false, false);
  auto all = compile(value_and_grad(fn));
  auto [v0, g0] = all(p, len, w);
  const int64_t stored = all.compiled().stats().arena_bytes;
  CHECK(all.compiled().stats().checkpointing.stores_all());
  CHECK(all.compiled().stats().loops == 4);  // per layer: forward, backward
  CompileOptions every12;
  every12.checkpointing = Checkpointing{{12}};
  auto seg = compile(value_and_grad(fn), every12);
  seg(p, len, w);
  // Per layer: F' holding F over 12 steps, R' holding F again and R over 12 steps.
  CHECK(seg.compiled().stats().loops == 10);
  CHECK(seg.compiled().stats().arena_bytes < stored / 2);

  // The loss, and every gradient within 1e-6 of its largest element, as stored-everything's.
  auto as_stored = [&](const Tensor& v, const auto& g) {
    CHECK(std::abs(v.item() - v0.item()) <= 1e-6 * std::abs(v0.item()));
    const auto gs = tree::tensors(g), want = tree::tensors(g0);
    for (size_t i = 0; i < gs.size(); ++i) {
      double scale = 0;
      for (int64_t e = 0; e < want[i].numel(); ++e) scale = std::max(scale, std::abs(want[i].at(e)));
      CHECK(max_abs_diff(gs[i], want[i]) <= 1e-6 * scale);
    }
  };
  int64_t last = stored + 1;
  for (double share : {1.0, 0.6, 0.45}) {
    INFO("budget " << share << " of store-all's " << stored << " bytes");
    CompileOptions o;
    o.memory_budget = static_cast<int64_t>(share * static_cast<double>(stored));
    auto f = compile(value_and_grad(fn), o);
    auto [v, g] = f(p, len, w);
    const CompileStats& st = f.compiled().stats();
    CHECK(st.arena_bytes <= o.memory_budget);
    CHECK(st.arena_bytes <= last);
    last = st.arena_bytes;
    if (share == 1.0)
      CHECK(st.checkpointing.stores_all());  // store-all fits: nothing recomputed
    else
      CHECK(!st.checkpointing.stores_all());
    // At 45% the layers' pairs get different segments (every 32 and 48 steps here: the peak is
    // where one layer's values are alive).
    if (share == 0.45) CHECK(st.checkpointing.pairs.size() == 2);
    as_stored(v, g);
  }
  // A budget only Revolve's fewest slots meet: chosen, within it, the same gradients.
  CompileOptions two;
  two.checkpointing = Checkpointing{{}, 2};
  auto revolve2 = compile(value_and_grad(fn), two);
  revolve2(p, len, w);
  {
    CompileOptions o;
    o.memory_budget = revolve2.compiled().stats().arena_bytes;
    auto f = compile(value_and_grad(fn), o);
    auto [v, g] = f(p, len, w);
    const CompileStats& st = f.compiled().stats();
    INFO(st.str());
    CHECK(st.arena_bytes <= o.memory_budget);
    // Revolve, for one pair at least (the other may get a faster schedule that still fits)
    bool revolve = st.checkpointing.slots > 0;
    for (const Checkpointing& pair : st.checkpointing.pairs) revolve |= pair.slots > 0;
    CHECK(revolve);
    as_stored(v, g);
  }
  // A budget nothing meets names the smallest plan.
  CompileOptions o;
  o.memory_budget = 1024;
  try {
    compile(value_and_grad(fn), o)(p, len, w);
    FAIL("a budget of 1 KiB was accepted");
  } catch (const Error& e) {
    const std::string msg = e.what();
    CHECK(msg.find("memory_budget of 1024 bytes") != std::string::npos);
    CHECK(msg.find("smallest plan reached needs") != std::string::npos);
    INFO(msg);
    CHECK(msg.find("(Revolve) in") != std::string::npos);  // the least memory: Revolve's fewest slots
  }
  // A function without a gradient (the forward pass alone) has no loop to recompute: it says so,
  // after planning store-all and the plan with its per-step work in the loops.
  auto forward = [](const Problem<Layer>& q, const Var& lengths, const Var& w) {
    return loss_fn<Layer>(false, false)(q, lengths, w);
  };
  try {
    compile(forward, o)(p, len, w);
    FAIL("a budget of 1 KiB was accepted for the forward pass");
  } catch (const Error& e) {
    const std::string msg = e.what();
    CHECK(msg.find("memory_budget of 1024 bytes") != std::string::npos);
    CHECK(msg.find("no forward and backward loop pair") != std::string::npos);
  }
  // least_if_over_budget (nn::fit's evaluations): the least plan instead of the error, and it says so.
  CompileOptions least = o;
  least.least_if_over_budget = true;
  auto step_least = compile(value_and_grad(fn), least);
  auto [vl, gl] = step_least(p, len, w);
  CHECK_FALSE(step_least.compiled().stats().within_budget);
  CHECK(step_least.compiled().stats().checkpointing.slots > 0);
  CHECK(step_least.compiled().stats().str().find("over memory_budget") != std::string::npos);
  CHECK(std::abs(vl.item() - v0.item()) <= 1e-6 * std::abs(v0.item()));
  auto fwd_least = compile(forward, least);
  CHECK(std::abs(fwd_least(p, len, w).item() - v0.item()) <= 1e-6 * std::abs(v0.item()));
  CHECK_FALSE(fwd_least.compiled().stats().within_budget);
  CHECK(fwd_least.compiled().stats().steps_in_loops);
  CompileOptions roomy;
  roomy.memory_budget = stored;
  auto fwd = compile(forward, roomy);
  CHECK(std::abs(fwd(p, len, w).item() - v0.item()) <= 1e-6 * std::abs(v0.item()));
  CHECK(fwd.compiled().stats().plans_tried == 1);
  CHECK(fwd.compiled().stats().within_budget);
}

TEST_CASE("recompute: a character model's output layer, loss and their gradients move into the segments",
          "[recompute]") {
  // Nothing of T steps is left outside the loops: the arena shrinks with the budget far below what
  // the output layer's logits and the stacked hidden states alone would take.
  using Model = nn::CharRNN<nn::LSTMCell>;
  const int64_t V = 11, T = 240, B = 4;
  for (int layers : {1, 2}) {
    INFO(layers << " layers");
    std::mt19937_64 rng(2);
    const Model model = Model::init(V, 16, rng, {.layers = layers, .dropout = 0.25}, DType::f64);
    Tensor x(DType::i32, {T, B}), y(DType::i32, {T, B});
    for (int64_t i = 0; i < x.numel(); ++i) {
      x.set(i, static_cast<double>(rng() % V));
      y.set(i, static_cast<double>(rng() % V));
    }
    const data::TextBatch batch{x, y};
    Rng drop(7);
    auto all = compile(value_and_grad(Model::loss));
    Rng d0 = drop;
    auto [l0, s0, g0] = all(model, model.initial_state(B), batch, d0);
    const int64_t stored = all.compiled().stats().arena_bytes;
    const int64_t logits_and_h = T * B * (V + 16) * 8;  // float64
    for (const Checkpointing& c : {Checkpointing{{16}}, Checkpointing{{40, 6}}}) {
      INFO(c.str());
      CompileOptions o;
      o.checkpointing = c;
      auto f = compile(value_and_grad(Model::loss), o);
      Rng d = drop;
      auto [l, s, g] = f(model, model.initial_state(B), batch, d);
      CHECK(std::abs(l.item() - l0.item()) < 1e-12);
      const auto gs = tree::tensors(g), want = tree::tensors(g0);
      for (size_t i = 0; i < gs.size(); ++i) CHECK(max_abs_diff(gs[i], want[i]) < 1e-12);
      const auto ss = tree::tensors(s), swant = tree::tensors(s0);
      for (size_t i = 0; i < ss.size(); ++i) CHECK(max_abs_diff(ss[i], swant[i]) < 1e-12);
      // (Between two layers, h and its gradient stay stacked: each layer's pair is split alone.)
      CHECK(f.compiled().stats().arena_bytes < (layers == 1 ? logits_and_h : stored / 2));
    }
    if (layers == 1) {
      CompileOptions o;
      o.memory_budget = stored * 15 / 100;
      auto f = compile(value_and_grad(Model::loss), o);
      Rng d = drop;
      auto [l, s, g] = f(model, model.initial_state(B), batch, d);
      CHECK(f.compiled().stats().arena_bytes <= stored * 15 / 100);
      CHECK(std::abs(l.item() - l0.item()) < 1e-12);
    }
    // The evaluation (no backward loop) under a third of its fastest plan's memory: the output
    // layer and the loss move into the loops, and the input projections stay there, so nothing of
    // the T steps is kept but the hidden states between two layers.
    Rng off = Rng::evaluation();
    auto eval = compile(Model::loss);
    auto [e0, es0] = eval(model, model.initial_state(B), batch, off);
    const int64_t eval_stored = eval.compiled().stats().arena_bytes;
    CompileOptions o;
    o.memory_budget = eval_stored / 3;
    auto lean = compile(Model::loss, o);
    auto [e, es] = lean(model, model.initial_state(B), batch, off);
    const CompileStats& st = lean.compiled().stats();
    CHECK(st.steps_in_loops);
    CHECK(st.checkpointing.stores_all());
    CHECK(st.arena_bytes <= eval_stored / 3);
    const int64_t between_layers = (T + 1) * B * 16 * 8 * (layers - 1);
    CHECK(st.arena_bytes < between_layers + T * B * 8 + 64 * 1024);  // no [T, B, V] or [T, B, 4H]
    CHECK(st.str().find("per-step work in the loops") != std::string::npos);
    CHECK(std::abs(e.item() - e0.item()) < 1e-12 * std::abs(e0.item()));
    const auto ess = tree::tensors(es), ewant = tree::tensors(es0);
    for (size_t i = 0; i < ess.size(); ++i) CHECK(max_abs_diff(ess[i], ewant[i]) < 1e-12);
  }
}

// Revolve's schedule (exec/revolve.h) against a direct search: its cost formula equals the
// fewest steps any schedule runs again, found by trying every split, and the schedule it makes
// is valid (each step brought from the slot named, holding the position named) and runs exactly
// that many steps again, besides the forward pass.
TEST_CASE("recompute: Revolve's schedule is valid and runs the fewest steps again", "[recompute]") {
  const int max_l = 120, max_s = 7;
  std::vector<std::vector<int64_t>> best(max_l + 1, std::vector<int64_t>(max_s + 1, 0));
  for (int S = 1; S <= max_s; ++S)
    for (int l = 2; l <= max_l; ++l) {
      int64_t v = int64_t{l} * (l - 1) / 2;  // one slot: each position reached from the start
      if (S > 1)
        for (int m = 1; m < l; ++m) v = std::min(v, m + best[l - m][S - 1] + best[m][S]);
      best[l][S] = v;
      INFO("l " << l << ", S " << S);
      REQUIRE(exec::revolve_cost(l, S) == v);
    }
  const int64_t T = GENERATE(2, 3, 13, 100, 1000, 10000);
  const int S = GENERATE(1, 2, 3, 5, 20);
  INFO("T " << T << ", S " << S);
  const exec::RevolveSchedule r = exec::revolve(T, S);
  std::vector<int64_t> slot(S, -1);  // the position each slot holds
  for (int64_t i = 0; i < T; ++i)
    if (r.kept[i] >= 0) {
      REQUIRE(r.kept[i] < S);
      slot[r.kept[i]] = i;
    }
  CHECK(slot[0] == 0);
  int64_t rerun = 0;
  for (int64_t i = T - 2; i >= 0; --i) {  // c_{T-1}: from the forward pass
    const auto& b = r.back[i];
    REQUIRE(b.restore >= 0);
    REQUIRE(b.restore < S);
    REQUIRE(slot[b.restore] == b.from);
    REQUIRE(b.from <= i);
    size_t next = 0;
    for (int64_t q = b.from + 1; q <= i; ++q, ++rerun)
      if (next < b.copies.size() && b.copies[next].first == q) slot[b.copies[next++].second] = q;
    CHECK(next == b.copies.size());
  }
  CHECK(rerun == r.rerun);
  CHECK(rerun == exec::revolve_cost(T, S) - (T - 1));  // the forward pass runs the first T - 1
}

TEST_CASE("recompute: a schedule that cannot be is an error naming it", "[recompute]") {
  const Function g = grad(rnn_loss(6, 2, 3, 4));
  auto message = [&](const Checkpointing& c) {
    try {
      checkpoint_loops(merge_loops(g.outputs), c);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  CHECK(message(Checkpointing{{3}, 2}).find("either segments (checkpoint every 3 steps) or Revolve's slots (2)") !=
        std::string::npos);
  CHECK(message(Checkpointing{{}, -1}).find("slots must be at least 1 (got -1)") != std::string::npos);
  CHECK(message(Checkpointing{{}, 0, {Checkpointing{{0}}}}).find("segments must be at least 1 step (got 0)") !=
        std::string::npos);
  CHECK(message(Checkpointing{{3}}) == "accepted");
}
