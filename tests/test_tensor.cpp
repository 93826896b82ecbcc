#include <catch2/catch.hpp>
#include <rnnc/rnnc.h>

using namespace rnnc;

TEST_CASE("numel: a shape whose element count passes INT64_MAX is an error, not a wrapped number") {
  CHECK(numel({1LL << 31, 1LL << 31}) == (1LL << 62));
  CHECK(numel({}) == 1);
  CHECK_THROWS_WITH(numel({1LL << 62, 3, 0}), Catch::Contains("more elements than an int64 counts"));
  CHECK_THROWS_AS(Tensor::zeros({1LL << 40, 1LL << 40}), Error);
}

TEST_CASE("tensors hold typed row-major data") {
  Tensor t = Tensor::from({1, 2, 3, 4, 5, 6}, {2, 3}, DType::f64);
  CHECK(t.numel() == 6);
  CHECK(t.rank() == 2);
  CHECK(t.at(4) == 5.0);
  CHECK(t.data<double>()[5] == 6.0);
  CHECK_THROWS_AS(t.data<float>(), Error);
  Tensor f = t.to(DType::f32);
  CHECK(f.dtype() == DType::f32);
  CHECK(f.data<float>()[2] == 3.0f);
  Tensor v = t.reshaped({3, 2});
  v.set(0, 9);
  CHECK(t.at(0) == 9.0);  // a view shares storage
  Tensor c = t.clone();
  c.set(0, 1);
  CHECK(t.at(0) == 9.0);  // a clone does not
  CHECK(Tensor::scalar(2.5).item() == 2.5f);
  CHECK(reinterpret_cast<uintptr_t>(t.raw()) % 64 == 0);
}

TEST_CASE("bad tensor construction throws with a clear message") {
  CHECK_THROWS_WITH(Tensor::from({1, 2, 3}, {2, 2}), Catch::Contains("3 values do not fill shape [2, 2]"));
  CHECK_THROWS_WITH(Tensor(DType::f32, {2, -1}), Catch::Contains("negative extent"));
  CHECK_THROWS_WITH(Tensor::zeros({2, 2}).reshaped({3}), Catch::Contains("cannot view [2, 2] as [3]"));
  CHECK_THROWS_AS(Tensor::zeros({2}).item(), Error);
}

TEST_CASE("broadcasting follows NumPy") {
  Shape out;
  CHECK(broadcast_shapes({3, 1}, {4}, out));
  CHECK(out == Shape{3, 4});
  CHECK(broadcast_shapes({}, {2, 3}, out));
  CHECK(out == Shape{2, 3});
  CHECK(broadcast_shapes({5, 1, 3}, {4, 1}, out));
  CHECK(out == Shape{5, 4, 3});
  CHECK_FALSE(broadcast_shapes({3}, {4}, out));
}

TEST_CASE("max_abs_diff compares values and NaN/Inf positions") {
  Tensor a = Tensor::from({1, NAN, INFINITY}, {3}), b = Tensor::from({1.5, NAN, INFINITY}, {3});
  CHECK(max_abs_diff(a, b) == 0.5);
  Tensor c = Tensor::from({1, 0, INFINITY}, {3});
  CHECK(std::isnan(max_abs_diff(a, c)));
}
