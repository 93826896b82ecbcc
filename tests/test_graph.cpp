// The IR: hash-consing, shape inference and its errors, printing.
#include <catch2/catch.hpp>
#include <rnnc/rnnc.h>

#include <string>

using namespace rnnc;
using Catch::Contains;

TEST_CASE("structurally equal subgraphs are one node") {
  Var x = input({4, 8}, DType::f32, "x"), w = input({8, 3}, DType::f32, "w");
  Var a = tanh(matmul(x, w)) + 1.0;
  Var b = tanh(matmul(x, w)) + 1.0;
  CHECK(a.same(b));
  CHECK_FALSE(tanh(matmul(x, w)).same(sigmoid(matmul(x, w))));
  // Inputs are distinct even with equal types; constants are equal by value.
  Var y = input({4, 8}, DType::f32, "x");
  CHECK_FALSE(x.same(y));
  CHECK(full({2}, 3.0).same(full({2}, 3.0)));
  CHECK_FALSE(full({2}, 0.0).same(full({2}, -0.0)));
  CHECK(constant(Tensor::from({1, 2}, {2})).same(constant(Tensor::from({1, 2}, {2}))));
  CHECK_FALSE(constant(Tensor::from({1, 2}, {2})).same(constant(Tensor::from({1, 3}, {2}))));
}

TEST_CASE("dead nodes leave the store") {
  Var x = input({16}, DType::f32, "x");
  std::size_t before = interned_count();
  {
    Var t = x;
    for (int i = 0; i < 100; ++i) t = tanh(t) * 2.0;
    CHECK(interned_count() >= before + 200);
  }
  CHECK(interned_count() <= before + 1);
}

TEST_CASE("shapes are inferred") {
  Var x = input({2, 3, 4}), v = input({4});
  CHECK((x + v).shape() == Shape{2, 3, 4});
  CHECK(sum(x, {1}).shape() == Shape{2, 4});
  CHECK(sum(x, {1}, true).shape() == Shape{2, 1, 4});
  CHECK(sum(x).shape() == Shape{});
  CHECK(matmul(x, input({4, 5})).shape() == Shape{2, 3, 5});
  CHECK(matmul(input({3}), input({3, 5})).shape() == Shape{5});
  CHECK(reshape(x, {-1, 4}).shape() == Shape{6, 4});
  CHECK(transpose(x, {2, 0, 1}).shape() == Shape{4, 2, 3});
  CHECK(slice(x, -1, 1, 3).shape() == Shape{2, 3, 2});
  CHECK(concat({x, x}, 1).shape() == Shape{2, 6, 4});
  CHECK(chunk(x, 2, 2)[1].shape() == Shape{2, 3, 2});
  CHECK(gather(input({10, 7}), input({2, 5}, DType::i32)).shape() == Shape{2, 5, 7});
  CHECK(one_hot(input({6}, DType::i32), 9).shape() == Shape{6, 9});
  CHECK(softmax_cross_entropy(input({6, 9}), input({6}, DType::i32)).shape() == Shape{6});
  CHECK((x < 0.0).dtype() == DType::f32);
}

TEST_CASE("a shape mismatch names the op, both shapes and the user's line") {
  Var a = input({3, 4}), b = input({5, 6}), c = input({3, 5});
  const std::string here = "test_graph.cpp:";
  // clang-format off
  int line = __LINE__; CHECK_THROWS_WITH(matmul(a, b), Contains("matmul") && Contains("[3, 4]") && Contains("[5, 6]") && Contains(here + std::to_string(line)));
  line = __LINE__; CHECK_THROWS_WITH(a + c, Contains("add") && Contains("[3, 4]") && Contains("[3, 5]") && Contains(here + std::to_string(line)));
  line = __LINE__; CHECK_THROWS_WITH(a * b, Contains("mul") && Contains(here + std::to_string(line)));
  line = __LINE__; CHECK_THROWS_WITH(reshape(a, {5}), Contains("reshape") && Contains("[3, 4]") && Contains(here + std::to_string(line)));
  // clang-format on
  CHECK_THROWS_WITH(a + input({3, 4}, DType::f64), Contains("different dtypes") && Contains("f64[3, 4]"));
  CHECK_THROWS_WITH(sum(a, {2}), Contains("sum: axis 2 is out of range for shape [3, 4]"));
  CHECK_THROWS_WITH(transpose(a, {0, 0}), Contains("not a permutation"));
  CHECK_THROWS_WITH(slice(a, 0, 2, 5), Contains("out of bounds"));
  CHECK_THROWS_WITH(concat({a, c}, 0), Contains("concat"));
  CHECK_THROWS_WITH(split(a, {1, 1}, 0), Contains("do not add up"));
  CHECK_THROWS_WITH(broadcast_to(a, {4, 4}), Contains("cannot broadcast [3, 4] to [4, 4]"));
  CHECK_THROWS_WITH(gather(a, input({2})), Contains("indices must be i32"));
  CHECK_THROWS_WITH(exp(input({2}, DType::i32)), Contains("exp: needs a floating-point operand"));
  CHECK_THROWS_WITH(tanh(Var()), Contains("undefined"));
  CHECK_THROWS_WITH(softmax_cross_entropy(a, input({4}, DType::i32)), Contains("i32 labels of shape [3]"));
}

TEST_CASE("constants from full() take the dtype of the other operand") {
  Var x = input({3}, DType::f64);
  CHECK((x + full({}, 1.0)).dtype() == DType::f64);
  CHECK((full({3}, 2.0) * x).dtype() == DType::f64);
  CHECK_THROWS_WITH(x + input({3}, DType::f32), Contains("different dtypes"));
}

TEST_CASE("tracing a C++ function gives a Function") {
  Function f =
      trace([](Var x, Var w) { return sum(tanh(matmul(x, w))); }, {Spec{{3, 4}}, Spec{{4, 5}, DType::f32, "w"}});
  REQUIRE(f.inputs.size() == 2);
  CHECK(f.inputs[0]->name == "arg0");
  CHECK(f.inputs[1]->name == "w");
  REQUIRE(f.outputs.size() == 1);
  CHECK(f.outputs[0].shape() == Shape{});
  Function g = trace([](Var x) { return std::make_tuple(x * 2.0, std::vector<Var>{x + 1.0, -x}); }, {Spec{{2}}});
  CHECK(g.outputs.size() == 3);
  CHECK_THROWS_WITH(trace([](Var x, Var) { return x; }, {Spec{{2}}}), Contains("takes 2 inputs, 1 were given"));
  Function h = f.retrace({Spec{{3, 4}, DType::f64}, Spec{{4, 5}, DType::f64}});
  CHECK(h.outputs[0].dtype() == DType::f64);
}

TEST_CASE("graphs print as text and DOT") {
  Function f = trace([](Var x, Var w) { return sum(tanh(matmul(x, w))); },
                     {Spec{{3, 4}, DType::f32, "x"}, Spec{{4, 5}, DType::f32, "w"}});
  std::string text = to_text(f);
  CHECK_THAT(text, Contains("input() \"x\" : f32[3, 4]"));
  CHECK_THAT(text, Contains("matmul(%0, %1) : f32[3, 5]"));
  CHECK_THAT(text, Contains("tanh(%2) : f32[3, 5]"));
  CHECK_THAT(text, Contains("sum(%3) {0, 1} : f32[1, 1]"));
  CHECK_THAT(text, Contains("return %5"));
  std::string dot = to_dot(f);
  CHECK_THAT(dot, Contains("digraph rnnc {"));
  CHECK_THAT(dot, Contains("n0 -> n2"));
  CHECK_THAT(dot, Contains("label=\"tanh\\nf32[3, 5]\""));
}

TEST_CASE("every op is in the table with a name, arity and class") {
  CHECK(name_of(Op::MatMul) == "matmul");
  CHECK(info(Op::Tanh).cls == OpClass::Elementwise);
  CHECK(info(Op::Sum).cls == OpClass::Reduction);
  CHECK(info(Op::BroadcastTo).cls == OpClass::Broadcast);
  CHECK(info(Op::Concat).arity == -1);
  CHECK(info(Op::Select).arity == 3);
  for (int i = 0; i < kNumOps; ++i) CHECK_FALSE(name_of(static_cast<Op>(i)).empty());
}
