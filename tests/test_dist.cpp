// The distributed layer (dist.h). CTest runs this program alone (rank 0 of 1: every call is a
// no-op) and under `mpirun -np 2`, where the checks below see two ranks.
#include <catch2/catch.hpp>

#include "helpers.h"
#include "rnnc/dist.h"

using namespace rnnc;
using namespace rnnc::testing;

namespace {

struct Model {
  Param w, b;
  std::vector<Param> layers;
  RNNC_TREE(w, b, layers)
};

// Rank r's model: every element r + 1 + i / 8 (so the mean over ranks is known).
Model model_of(int r, DType t) {
  auto fill = [&](Shape s) {
    Tensor x = Tensor::zeros(s, t);
    for (int64_t i = 0; i < x.numel(); ++i) x.set(i, r + 1 + static_cast<double>(i) / 8);
    return x;
  };
  return {fill({3, 4}), fill({4}), {fill({5, 2}), fill({1000})}};
}

}  // namespace

TEST_CASE("dist: rank and size", "[dist]") {
  CHECK(dist::size() >= 1);
  CHECK(dist::rank() >= 0);
  CHECK(dist::rank() < dist::size());
  CHECK(dist::is_root() == (dist::rank() == 0));
}

TEST_CASE("dist: allreduce_mean gives every rank the mean, in buckets, the same bits everywhere", "[dist]") {
  const int n = dist::size();
  for (DType t : {DType::f32, DType::f64})
    for (int64_t bucket : {dist::kBucketBytes, int64_t{64}, int64_t{1}}) {  // one bucket; several; one per leaf
      INFO(name_of(t) << ", buckets of " << bucket << " bytes");
      Model m = model_of(dist::rank(), t);
      const dist::ReduceStats st = dist::allreduce_mean(m, bucket);
      // The mean of r + 1 + i / 8 over r = 0..n-1 is (n + 1) / 2 + i / 8.
      const std::vector<Tensor> got = tree::tensors(m);
      for (const Tensor& x : got)
        for (int64_t i = 0; i < x.numel(); ++i) CHECK(x.at(i) == Approx((n + 1) / 2.0 + static_cast<double>(i) / 8));
      if (n > 1) {
        CHECK(st.bytes == static_cast<int64_t>((12 + 4 + 10 + 1000) * size_of(t)));
        // 64 bytes hold w and b together in float32 (48 + 16), nothing together in float64.
        const int want = bucket == dist::kBucketBytes ? 1 : bucket == 64 && t == DType::f32 ? 3 : 4;
        CHECK(st.buckets == want);
      } else {
        CHECK(st.buckets == 0);  // alone: nothing moves
      }
      dist::check_same(m, "model");  // every rank holds the same bits
    }
}

TEST_CASE("dist: broadcast makes every rank's tree rank 0's", "[dist]") {
  Model m = model_of(dist::rank(), DType::f32);
  dist::broadcast(m);
  const std::vector<Tensor> want = tree::tensors(model_of(0, DType::f32)), got = tree::tensors(m);
  for (size_t k = 0; k < got.size(); ++k) CHECK(max_abs_diff(got[k], want[k]) == 0);
}

TEST_CASE("dist: a leaf that differs between ranks is named on every rank", "[dist]") {
  Model m = model_of(0, DType::f32);
  CHECK_NOTHROW(dist::check_same(m, "model"));
  if (dist::rank() == 1) m.layers[1].tensor().set(7, 42.0);
  if (dist::size() > 1)
    CHECK_THROWS_WITH(dist::check_same(m, "model"), Catch::Contains("'model.layers.1' differs between ranks: rank(s) 1"));
  else
    CHECK_NOTHROW(dist::check_same(m, "model"));
}

TEST_CASE("dist: ranks that pass other leaves are an error on every rank, not a hang", "[dist]") {
  Model m = model_of(dist::rank(), DType::f32);
  if (dist::rank() == 1) m.layers.pop_back();
  if (dist::size() > 1)
    CHECK_THROWS_WITH(dist::allreduce_mean(m), Catch::Contains("rank(s) 1 pass other leaves"));
  else
    CHECK_NOTHROW(dist::allreduce_mean(m));
}
