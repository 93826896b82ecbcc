// A generator of random valid graphs (elementwise, broadcast, reductions, matmul, slicing,
// concat, select), for differential testing of anything that transforms or compiles graphs.
#pragma once
#include <rnnc/rnnc.h>

#include <random>

namespace rnnc::testing {

struct RandomGraph {
  Function f;
  std::vector<Tensor> args;
};

inline RandomGraph random_graph(uint64_t seed, DType dtype = DType::f64, int steps = 12) {
  std::mt19937_64 rng(seed);
  auto pick = [&](size_t n) { return static_cast<size_t>(rng() % n); };
  const std::vector<Shape> shapes = {{3, 4}, {4}, {3, 1}, {}, {1, 4}, {4, 3}};
  std::vector<Spec> specs;
  for (int i = 0; i < 3; ++i) specs.push_back(Spec{shapes[pick(shapes.size())], dtype, ""});
  TraceFn fn = [seed, steps](std::span<const Var> in) {
    std::mt19937_64 r(seed * 7919 + 1);
    auto choose = [&](size_t n) { return static_cast<size_t>(r() % n); };
    std::vector<Var> pool(in.begin(), in.end());
    auto any = [&]() { return pool[choose(pool.size())]; };
    for (int s = 0; s < steps; ++s) {
      Var x = any(), y = any(), out;
      Shape b;
      switch (choose(12)) {
        case 0: {
          switch (choose(11)) {
            case 0: out = -x; break;
            case 1: out = exp(x); break;
            case 2: out = tanh(x); break;
            case 3: out = sigmoid(x); break;
            case 4: out = relu(x); break;
            case 5: out = abs(x); break;
            case 6: out = sqrt(x); break;  // NaN for negative x: positions must agree
            case 7: out = log(x); break;
            case 8: out = hard_sigmoid(x * 4.0); break;
            case 9: out = softplus(x * 30.0); break;  // both the e^-|x| underflow and the linear tail
            default: out = sign(x); break;
          }
          break;
        }
        case 1:
        case 2:
          if (broadcast_shapes(x.shape(), y.shape(), b)) {
            switch (choose(7)) {
              case 0: out = x + y; break;
              case 1: out = x - y; break;
              case 2: out = x * y; break;
              case 3: out = x / y; break;
              case 4: out = maximum(x, y); break;
              case 5: out = minimum(x, y); break;
              default: out = pow(abs(x), y); break;
            }
          }
          break;
        case 3: out = choose(2) ? x * 1.0 + 0.0 : 1.0 * (x - 0.0) / 1.0; break;                // identities to simplify
        case 4: out = x * (full({}, 2.0, x.dtype()) * full({}, 0.5, x.dtype()) + 1.0); break;  // constants to fold
        case 5:
          if (x.rank() > 0) out = choose(2) ? sum(x, {static_cast<int64_t>(choose(x.rank()))}, choose(2)) : max(x);
          break;
        case 6:
          if (x.rank() >= 1 && y.rank() >= 1 && x.shape().back() == y.shape()[y.rank() >= 2 ? y.rank() - 2 : 0])
            out = matmul(x, y);
          break;
        case 7:
          if (x.rank() == 2) out = choose(2) ? transpose(transpose(x)) * 3.0 : transpose(x);
          break;
        case 8:
          if (x.rank() >= 1 && x.shape()[0] >= 2) out = slice(x, 0, 1, x.shape()[0]);
          break;
        case 9:
          if (x.rank() >= 1) out = concat({x, -x}, 0);
          break;
        case 10:
          if (broadcast_shapes(x.shape(), y.shape(), b)) out = where(x > y, x, y * 2.0);
          break;
        default: out = reshape(x, {-1}) - reshape(stop_gradient(x), {-1}) + reshape(-(-x), {-1}); break;
      }
      if (out.defined()) pool.push_back(out);
    }
    return std::vector<Var>{pool.back(), sum(pool[pool.size() - 2])};
  };
  RandomGraph g{trace_fn(fn, specs), {}};
  for (const Spec& s : specs) g.args.push_back(Tensor::uniform(s.shape, -2, 2, rng, dtype));
  return g;
}

// |a - b| <= tol * max(1, |a|) everywhere, with NaN and Inf in the same places.
inline bool same_values(const Tensor& a, const Tensor& b, double tol) {
  if (a.shape() != b.shape()) return false;
  for (int64_t i = 0; i < a.numel(); ++i) {
    double x = a.at(i), y = b.at(i);
    if (std::isnan(x) || std::isnan(y)) {
      if (std::isnan(x) != std::isnan(y)) return false;
    } else if (std::isinf(x) || std::isinf(y)) {
      if (x != y) return false;
    } else if (std::abs(x - y) > tol * std::max(1.0, std::abs(x))) {
      return false;
    }
  }
  return true;
}

}  // namespace rnnc::testing
