// The op table as test rows: every primitive (and the composites) with inputs drawn from domains
// that keep away from kinks. Used by the gradient checks and by the compiler's tests.
#pragma once
#include <functional>
#include <span>

#include "helpers.h"

namespace rnnc::testing {

using Args = std::span<const Var>;

struct Row {
  const char* name;
  std::vector<Arg> args;
  std::function<Var(Args)> fn;
  std::vector<Op> covers;  // primitives this row exercises with a gradient
};

// clang-format off: a row a line
inline const std::vector<Row>& op_rows() {
  using D = Domain;
  static const std::vector<Row> table = {
      // unary elementwise
      {"neg", {{{3, 4}}}, [](Args x) { return -x[0]; }, {Op::Neg}},
      {"exp", {{{3, 4}}}, [](Args x) { return exp(x[0]); }, {Op::Exp}},
      {"log", {{{3, 4}, D::Positive}}, [](Args x) { return log(x[0]); }, {Op::Log}},
      {"tanh", {{{3, 4}}}, [](Args x) { return tanh(x[0]); }, {Op::Tanh}},
      {"sigmoid", {{{3, 4}}}, [](Args x) { return sigmoid(x[0]); }, {Op::Sigmoid}},
      {"relu", {{{3, 4}, D::NonZero}}, [](Args x) { return relu(x[0]); }, {Op::Relu}},
      {"sqrt", {{{3, 4}, D::Positive}}, [](Args x) { return sqrt(x[0]); }, {Op::Sqrt}},
      {"abs", {{{3, 4}, D::NonZero}}, [](Args x) { return abs(x[0]); }, {Op::Abs}},
      {"hard_sigmoid", {{{3, 4}, D::Wide}}, [](Args x) { return hard_sigmoid(x[0]); }, {Op::HardSigmoid}},
      {"softplus", {{{3, 4}, D::Wide}}, [](Args x) { return softplus(x[0]); }, {Op::Softplus}},
      {"sign (zero gradient)", {{{5}, D::NonZero}}, [](Args x) { return sign(x[0]) * x[0]; }, {Op::Sign}},
      {"square", {{{4}}}, [](Args x) { return square(x[0]); }, {}},
      {"tanh 0-d", {{{}}}, [](Args x) { return tanh(x[0]); }, {}},
      {"cast f64->f32->f64",
       {{{3}}},
       [](Args x) { return cast(cast(x[0] * 0.5, DType::f32), x[0].dtype()); },
       {Op::Cast}},
      // binary elementwise
      {"add", {{{3, 4}}, {{3, 4}}}, [](Args x) { return x[0] + x[1]; }, {Op::Add}},
      {"sub", {{{3, 4}}, {{3, 4}}}, [](Args x) { return x[0] - x[1]; }, {Op::Sub}},
      {"mul", {{{3, 4}}, {{3, 4}}}, [](Args x) { return x[0] * x[1]; }, {Op::Mul}},
      {"div", {{{3, 4}}, {{3, 4}, D::Positive}}, [](Args x) { return x[0] / x[1]; }, {Op::Div}},
      {"pow", {{{3, 4}, D::Positive}, {{3, 4}}}, [](Args x) { return pow(x[0], x[1]); }, {Op::Pow}},
      {"maximum",
       {{{3, 4}, D::Distinct}, {{3, 4}, D::Distinct}},
       [](Args x) { return maximum(x[0], x[1]); },
       {Op::Maximum}},
      {"minimum",
       {{{3, 4}, D::Distinct}, {{3, 4}, D::Distinct}},
       [](Args x) { return minimum(x[0], x[1]); },
       {Op::Minimum}},
      {"add broadcast [3,1]+[4]", {{{3, 1}}, {{4}}}, [](Args x) { return x[0] + x[1]; }, {Op::BroadcastTo}},
      {"mul broadcast [2,1,3]*[4,1]", {{{2, 1, 3}}, {{4, 1}}}, [](Args x) { return x[0] * x[1]; }, {}},
      {"div by 0-d", {{{2, 3}}, {{}, D::Positive}}, [](Args x) { return x[0] / x[1]; }, {}},
      {"scalar operands",
       {{{2, 3}, D::Positive}},
       [](Args x) { return 2.0 * x[0] - 1.0 / x[0] + pow(x[0], 3.0); },
       {Op::Full}},
      {"0-d times 0-d", {{{}}, {{}}}, [](Args x) { return x[0] * x[1]; }, {}},
      {"comparisons (zero gradient)",
       {{{6}, D::Distinct}, {{6}, D::Distinct}},
       [](Args x) {
         return (x[0] < x[1]) + (x[0] <= x[1]) + (x[0] > x[1]) + (x[0] >= x[1]) + equal(x[0], x[1]) +
                not_equal(x[0], x[1]) + x[0];
       },
       {Op::Less, Op::LessEqual, Op::Greater, Op::GreaterEqual, Op::Equal, Op::NotEqual}},
      {"where", {{{3, 4}, D::Mask}, {{3, 4}}, {{4}}}, [](Args x) { return where(x[0], x[1], x[2]); }, {Op::Select}},
      {"where on a comparison", {{{5}, D::NonZero}}, [](Args x) { return where(x[0] > 0.0, x[0] * x[0], -x[0]); }, {}},
      // reductions
      {"sum all", {{{3, 4}}}, [](Args x) { return sum(x[0]); }, {Op::Sum}},
      {"sum axis 1", {{{3, 4}}}, [](Args x) { return sum(x[0], {1}); }, {}},
      {"sum axes 0,2 keepdims",
       {{{2, 3, 4}}},
       [](Args x) {
         return sum(x[0], {0, 2}, true);
       },
       {}},
      {"sum of 0-d", {{{}}}, [](Args x) { return sum(x[0]) * 3.0; }, {}},
      {"mean axis -1", {{{3, 4}}}, [](Args x) { return mean(x[0], {-1}); }, {}},
      {"max axis 0", {{{3, 4}, D::Distinct}}, [](Args x) { return max(x[0], {0}); }, {Op::Max}},
      {"max all", {{{2, 3, 2}, D::Distinct}}, [](Args x) { return max(x[0]); }, {}},
      {"min axis 1 keepdims", {{{3, 4}, D::Distinct}}, [](Args x) { return min(x[0], {1}, true); }, {}},
      // matmul
      {"matmul", {{{3, 4}}, {{4, 5}}}, [](Args x) { return matmul(x[0], x[1]); }, {Op::MatMul}},
      {"matmul batched", {{{2, 3, 4}}, {{2, 4, 2}}}, [](Args x) { return matmul(x[0], x[1]); }, {}},
      {"matmul broadcast batch", {{{2, 3, 4}}, {{4, 2}}}, [](Args x) { return matmul(x[0], x[1]); }, {}},
      {"matmul vector", {{{4}}, {{4, 3}}}, [](Args x) { return matmul(x[0], x[1]); }, {}},
      {"matmul vector . vector", {{{4}}, {{4}}}, [](Args x) { return matmul(x[0], x[1]); }, {}},
      // data movement
      {"reshape",
       {{{3, 4}}},
       [](Args x) {
         return reshape(x[0], {2, -1}) * 2.0;
       },
       {Op::Reshape}},
      {"transpose",
       {{{2, 3, 4}}},
       [](Args x) {
         return transpose(x[0], {2, 0, 1}) * 2.0;
       },
       {Op::Transpose}},
      {"transpose last two", {{{3, 4}}}, [](Args x) { return transpose(x[0]); }, {}},
      {"broadcast_to",
       {{{3, 1}}},
       [](Args x) {
         return broadcast_to(x[0], {2, 3, 4});
       },
       {}},
      {"slice", {{{4, 5}}}, [](Args x) { return slice(x[0], 1, 1, -1); }, {Op::Slice}},
      {"pad",
       {{{2, 3}}},
       [](Args x) {
         return pad(x[0], {1, 0}, {2, 1});
       },
       {Op::Pad}},
      {"concat",
       {{{2, 3}}, {{2, 1}}, {{2, 2}}},
       [](Args x) {
         return concat({x[0], x[1], x[2]}, 1);
       },
       {Op::Concat}},
      {"concat reuses an operand",
       {{{2, 3}}},
       [](Args x) {
         return concat({x[0], tanh(x[0])}, 0);
       },
       {}},
      {"split",
       {{{5, 2}}},
       [](Args x) {
         auto p = split(x[0], {2, 3});
         return sum(p[0]) * sum(p[1]);
       },
       {}},
      {"chunk",
       {{{2, 6}}},
       [](Args x) {
         auto p = chunk(x[0], 3, 1);
         return p[0] * p[1] + p[2];
       },
       {}},
      {"squeeze/unsqueeze", {{{3, 1}}}, [](Args x) { return unsqueeze(squeeze(x[0], 1), 0) * 3.0; }, {}},
      // indexing
      {"gather (embedding)",
       {{{5, 3}}, {{2, 4}, D::Index, 5}},
       [](Args x) { return gather(x[0], x[1]); },
       {Op::Gather}},
      {"scatter_add",
       {{{6, 3}}, {{6}, D::Index, 4}},
       [](Args x) {
         return scatter_add(x[1], x[0], {4, 3});
       },
       {Op::ScatterAdd}},
      {"one_hot",
       {{{4, 3}}, {{4}, D::Index, 3}},
       [](Args x) { return one_hot(x[1], 3, x[0].dtype()) * x[0]; },
       {Op::OneHot}},
      // loops: an RNN over 3 steps (ys stacked, the final carry added in), forward and reversed
      {"scan",
       {{{3, 2, 4}}, {{2, 3}}, {{4, 3}}, {{3, 3}}},
       [](Args x) {
         Scanned s = scan(
             [&](std::span<const Var> c, std::span<const Var> xt) -> ScanStep {
               Var h = tanh(matmul(xt[0], x[2]) + matmul(c[0], x[3]));
               return {{h}, {h * h}};
             },
             {x[1]}, {x[0]});
         return s.ys[0] + s.carries[0];
       },
       {Op::Scan}},
      {"scan reversed, two sequences",
       {{{3, 2, 4}}, {{3, 2, 3}}, {{2, 3}}, {{4, 3}}},
       [](Args x) {
         Scanned s = scan(
             [&](std::span<const Var> c, std::span<const Var> xt) -> ScanStep {
               return {{sigmoid(matmul(xt[0], x[3]) + c[0] * xt[1])}, {c[0]}};
             },
             {x[2]}, {x[0], x[1]}, {.reverse = true});
         return s.ys[0] * 2.0 + s.carries[0];
       },
       {Op::Scan}},
      {"scan with lengths in [0, T], reversed",
       {{{3, 4, 2}}, {{4, 3}}, {{2, 3}}, {{3, 3}}, {{4}, D::Index, 4}},
       [](Args x) {
         Scanned s = scan(
             [&](std::span<const Var> c, std::span<const Var> xt) -> ScanStep {
               return {{tanh(matmul(xt[0], x[2]) + matmul(c[0], x[3]))}, {c[0] * 2.0}};
             },
             {x[1]}, {x[0]}, {.reverse = true, .lengths = x[4]});
         return s.ys[0] + s.carries[0];
       },
       {}},
      {"sequence_mask",
       {{{4, 3}}, {{3}, D::Index, 5}},
       [](Args x) { return sequence_mask(x[1], 4, x[0].dtype()) * x[0]; },
       {Op::SequenceMask}},
      // stable composites
      {"logsumexp", {{{3, 4}}}, [](Args x) { return logsumexp(x[0]); }, {}},
      {"logsumexp axes 0,1 keepdims",
       {{{2, 3, 2}}},
       [](Args x) {
         return logsumexp(x[0], {0, 1}, true);
       },
       {}},
      {"softmax", {{{3, 4}}}, [](Args x) { return softmax(x[0]); }, {}},
      {"softmax axis 0", {{{3, 4}}}, [](Args x) { return softmax(x[0], 0); }, {}},
      {"log_softmax", {{{3, 4}}}, [](Args x) { return log_softmax(x[0]); }, {}},
      {"softmax_cross_entropy",
       {{{4, 5}}, {{4}, D::Index, 5}},
       [](Args x) { return softmax_cross_entropy(x[0], x[1]); },
       {}},
      {"constant",
       {{{2, 2}}},
       [](Args x) { return x[0] * constant(Tensor::from({1, 2, 3, 4}, {2, 2}, x[0].dtype())); },
       {Op::Literal}},
  };
  return table;
}
// clang-format on

}  // namespace rnnc::testing
