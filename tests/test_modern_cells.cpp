// The cells of examples/modern_cells.h (minGRU, minLSTM, IndRNN, QRNN, LRU, S6, a layer-normalised
// LSTM), written as a user
// writes them: each one's gradient against finite differences in float64, and compiled ==
// interpreted on a character model's loss and every gradient.
#include <catch2/catch.hpp>

#include <set>
#include <type_traits>

#include "../examples/modern_cells.h"
#include "exec/executor.h"
#include "helpers.h"

using namespace rnnc;

namespace {

template <class Cell> struct Case {
  using Model = nn::CharRNN<Cell>;
  std::mt19937_64 rng{11};
  Model model = Model::init(5, 4, rng, {.layers = 2}, DType::f64);
  data::TextBatch batch{Tensor::from({0, 3, 1, 4, 2, 2, 1, 0}, {4, 2}, DType::i32),
                        Tensor::from({3, 1, 4, 2, 2, 0, 0, 3}, {4, 2}, DType::i32)};
};

// A compiled training step's loss, last state and gradients against the interpreter's.
template <class State, class Grads> void same_to_1e12(const Tensor& value, const State& last, const Grads& grads,
                                                      const Tensor& ivalue, const State& ilast, const Grads& igrads) {
  CHECK(std::abs(value.item() - ivalue.item()) < 1e-12);
  const std::vector<Tensor> g = tree::tensors(grads), ig = tree::tensors(igrads);
  REQUIRE(g.size() == ig.size());
  for (size_t i = 0; i < g.size(); ++i) {
    INFO("gradient " << tree::paths(grads)[i]);
    CHECK(max_abs_diff(g[i], ig[i]) < 1e-12);
  }
  const std::vector<Tensor> l = tree::tensors(last), il = tree::tensors(ilast);
  for (size_t i = 0; i < l.size(); ++i) CHECK(max_abs_diff(l[i], il[i]) < 1e-12);
}

}  // namespace

TEMPLATE_TEST_CASE("modern cells: gradients match finite differences in float64", "", cells::MinGRU, cells::MinLSTM,
                   cells::IndRNN, cells::QRNN, cells::LRU, cells::S6, cells::LayerNormLSTM) {
  Case<TestType> c;
  Rng off = Rng::evaluation();
  auto [f, args] = compile(Case<TestType>::Model::loss).function(c.model, c.model.initial_state(2), c.batch, off);
  const GradcheckReport r = gradcheck(f, args);
  INFO(r.str());
  CHECK(r.ok);
}

TEMPLATE_TEST_CASE("modern cells: compiled == interpreted, the loss and every gradient", "", cells::MinGRU,
                   cells::MinLSTM, cells::IndRNN, cells::QRNN, cells::LRU, cells::S6, cells::LayerNormLSTM) {
  Case<TestType> c;
  using Model = typename Case<TestType>::Model;
  // A state that is not zero, so that the recurrence is exercised from the first step.
  auto s0 = c.model.initial_state(2);
  tree::for_each(s0,
                 [&](const std::string&, Leaf& l) { l = Tensor::uniform(l.shape(), -0.5, 0.5, c.rng, DType::f64); });
  Rng off = Rng::evaluation();
  auto [value, last, grads] = compile(value_and_grad(Model::loss))(c.model, s0, c.batch, off);
  auto [ivalue, ilast, igrads] = interpret(value_and_grad(Model::loss))(c.model, s0, c.batch, off);
  same_to_1e12(value, last, grads, ivalue, ilast, igrads);
}

namespace {

// GEMM steps inside loop bodies, at any depth, in a compiled program.
int gemms_in_loops(const exec::Schedule& s, bool inside = false) {
  int n = 0;
  for (const exec::Step& st : s.steps) {
    if (st.kind == exec::Step::Kind::Gemm && inside) ++n;
    if (st.kind == exec::Step::Kind::Loop) n += gemms_in_loops(*st.loop->body, true);
  }
  return n;
}

template <class Cell> int gemms_in_training_loops() {
  std::mt19937_64 rng(3);
  using Model = nn::CharRNN<Cell>;
  const Model m = Model::init(7, 16, rng, {.layers = 2});
  const data::TextBatch b{Tensor::zeros({12, 3}, DType::i32), Tensor::zeros({12, 3}, DType::i32)};
  Rng off = Rng::evaluation();
  auto step = compile(value_and_grad(Model::loss));
  return gemms_in_loops(step.compiled_for(m, m.initial_state(3), b, off).program()->schedule);
}

}  // namespace

TEST_CASE("modern cells: every GEMM leaves the loops, forward and backward (the LSTM's recurrent one stays)") {
  // Their matrices read x only: the projections, the gates kept for the backward pass (a GEMM merged
  // with others, batch_gemms) and the weight gradients are each one GEMM over all steps.
  CHECK(gemms_in_training_loops<cells::MinGRU>() == 0);
  CHECK(gemms_in_training_loops<cells::MinLSTM>() == 0);
  CHECK(gemms_in_training_loops<cells::IndRNN>() == 0);
  CHECK(gemms_in_training_loops<cells::QRNN>() == 0);
  CHECK(gemms_in_training_loops<cells::LRU>() == 0);
  CHECK(gemms_in_training_loops<nn::LSTMCell>() > 0);  // h W_hh: the check sees a GEMM where there is one
}

namespace {

// A training step of a 2-layer character model around the cell, compiled on `threads` threads:
// its loss, final state and gradients, and how many of its loops run lanes apart.
template <class Cell> std::pair<std::vector<Tensor>, int> train_step(int threads, int64_t hidden, int64_t batch) {
  std::mt19937_64 rng(5);
  using Model = nn::CharRNN<Cell>;
  const Model m = Model::init(9, hidden, rng, {.layers = 2});
  std::mt19937_64 draw(6);
  auto ids = [&] {
    std::vector<double> v(static_cast<size_t>(24 * batch));
    for (double& x : v) x = static_cast<double>(draw() % 9);
    return Tensor::from(v, {24, batch}, DType::i32);
  };
  const data::TextBatch b{ids(), ids()};
  Rng off = Rng::evaluation();
  CompileOptions o;
  o.threads = threads;
  auto step = compile(value_and_grad(Model::loss), o);
  auto [value, last, grads] = step(m, m.initial_state(batch), b, off);
  std::vector<Tensor> out{value};
  for (const Tensor& t : tree::tensors(last)) out.push_back(t);
  for (const Tensor& t : tree::tensors(grads)) out.push_back(t);
  return {out, step.compiled().stats().lanes_apart_loops};
}

}  // namespace

TEMPLATE_TEST_CASE("modern cells: loops whose lanes are apart run them on threads through all steps, same bits", "",
                   cells::MinGRU, cells::MinLSTM, cells::IndRNN, cells::QRNN, cells::LRU, cells::S6) {
  // (The LRU's only since its decay exp(-exp(nu)), invariant, is computed before the loop: hoisted
  // invariant work, hoist_loops.)
  // B x H = 4 x 512 lanes: enough for the executor to share them out (its kLanesApartPoints).
  const auto [one, n1] = train_step<TestType>(1, 512, 4);
  const auto [two, n2] = train_step<TestType>(2, 512, 4);
  CHECK(n1 == n2);
  CHECK(n2 >= 2);  // a forward and a backward loop at least
  REQUIRE(one.size() == two.size());
  for (size_t i = 0; i < one.size(); ++i) {
    INFO("output " << i);
    CHECK(max_abs_diff(one[i], two[i]) == 0);
  }
}

TEMPLATE_TEST_CASE("modern cells: loops that run their steps inside one kernel (T 24) == interpreted in float64", "",
                   cells::MinGRU, cells::MinLSTM, cells::IndRNN, cells::QRNN, cells::LRU, cells::S6) {
  // Every loop of these models, forward and backward, is one elementwise kernel whose steps run
  // in one call (the time-fused form, KernelDesc::steps) from 5 steps on: at batch 1 (one share on
  // one thread) and at batch 3, beside the step-by-step path at T 4 (the test above).
  using Model = nn::CharRNN<TestType>;
  for (const int64_t B : {1, 3}) {
    INFO("batch " << B);
    std::mt19937_64 rng(12);
    const Model m = Model::init(5, 6, rng, {.layers = 2}, DType::f64);
    std::vector<double> ids(static_cast<size_t>(24 * B)), next(ids.size());
    for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<double>(rng() % 5), next[i] = (i * 7) % 5;
    const data::TextBatch b{Tensor::from(ids, {24, B}, DType::i32), Tensor::from(next, {24, B}, DType::i32)};
    auto s0 = m.initial_state(B);
    tree::for_each(s0,
                   [&](const std::string&, Leaf& l) { l = Tensor::uniform(l.shape(), -0.5, 0.5, rng, DType::f64); });
    Rng off = Rng::evaluation();
    CompileOptions o;
    o.threads = 2;
    auto step = compile(value_and_grad(Model::loss), o);
    auto [value, last, grads] = step(m, s0, b, off);
    auto [ivalue, ilast, igrads] = interpret(value_and_grad(Model::loss))(m, s0, b, off);
    // Two layers, forward and backward; the LRU's backward steps are two kernels from batch 2 on
    // (a per-step sum over the batch; at batch 1 it is a reshape, [1, H] -> [H], and its work
    // joins the step's kernel), so only its forward loops run so; S6's too (its forward step, one
    // kernel, reads its state's total over N per row: y = sum(h * C, {2}) + skip u). (The QRNN's
    // backward carried the adjoint of its output carry, zero at every step, in a kernel of its
    // own: an invariant now.)
    const bool two_kernels_back =
        (std::is_same_v<TestType, cells::LRU> && B > 1) || std::is_same_v<TestType, cells::S6>;
    CHECK(step.compiled().stats().lanes_apart_loops == (two_kernels_back ? 2 : 4));
    same_to_1e12(value, last, grads, ivalue, ilast, igrads);
  }
}

TEST_CASE("modern cells: a loop whose step mixes lanes (a GEMM on the carry) is not run lanes apart") {
  CHECK(train_step<nn::LSTMCell>(2, 64, 4).second == 0);
}

TEST_CASE("modern cells: a layer-normalised LSTM's steps are a GEMM and two kernels in passes, each way") {
  // The norms' means and variances over the row stay in the kernels that read them (passes over
  // rows), and the input path's norm, norm(x_t W_ih), runs for all steps before the loop.
  std::mt19937_64 rng(3);
  using Model = nn::CharRNN<cells::LayerNormLSTM>;
  const Model m = Model::init(9, 32, rng, {.layers = 2});
  auto step = compile(value_and_grad(Model::loss));
  const std::vector<double> v(24 * 4, 1.0);
  const data::TextBatch b{Tensor::from(v, {24, 4}, DType::i32), Tensor::from(v, {24, 4}, DType::i32)};
  Rng off = Rng::evaluation();
  step(m, m.initial_state(4), b, off);
  const std::string s = step.compiled().schedule();
  INFO(s);
  int bodies = 0;
  for (size_t at = s.find("| schedule: 3 steps (2 kernels)"); at != std::string::npos;
       at = s.find("| schedule: 3 steps (2 kernels)", at + 1))
    ++bodies;
  CHECK(bodies == 4);  // two layers, forward and backward
  CHECK(s.find("3 passes over rows") != std::string::npos);
}

TEST_CASE("modern cells: S6's decay [B, D, N] is computed in its steps, its projections before the loop") {
  // Hoisted, exp(dt_t A) would be written for all T steps, [T, B, D, N], N times the size of dt
  // [T, B, D] it is made from (hoist_loops' source_size): dt is hoisted, and the loop spreads it.
  std::mt19937_64 rng(4);
  using Model = nn::CharRNN<cells::S6>;
  const Model m = Model::init(9, 8, rng, {.layers = 1});
  const std::vector<double> v(10 * 2, 1.0);
  const data::TextBatch b{Tensor::from(v, {10, 2}, DType::i32), Tensor::from(v, {10, 2}, DType::i32)};
  Rng off = Rng::evaluation();
  auto [fn, args] = compile(Model::loss).function(m, m.initial_state(2), b, off);
  const Function vg = value_and_grad(fn, {}, true);
  const Function g = optimize(vg, EnvOptions{});
  int spread = 0;
  std::set<const Loop*> loops;
  for (const NodePtr& n : topo_order(g.outputs)) {
    if (n->op == Op::Scan) loops.insert(n->loop.get());
    spread += n->op == Op::Exp && n->rank() == 4;  // [T, B, D, N] outside the loops
  }
  INFO(to_text(g));
  CHECK(loops.size() == 2);
  CHECK(spread == 0);
  const std::vector<Tensor> got = compile(vg)(args), want = interpret(vg, args);
  for (size_t i = 0; i < got.size(); ++i) CHECK(max_abs_diff(got[i], want[i]) < 1e-5);
}
