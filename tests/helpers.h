// Test helpers: deterministic random inputs drawn from domains that keep away from kinks.
#pragma once
#include <rnnc/rnnc.h>

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <random>
#include <string>

namespace rnnc::testing {

// A cell the library does not have, written as a user would: the minimal gated unit (Zhou et al.
// 2016), f = sigmoid(W_f x + U_f h + b_f), h~ = tanh(W_h x + U_h (f h) + b_h), h' = (1 - f) h + f h~,
// with the gate's weights for x and h apart (examples/custom_cell.cpp keeps them as one matrix
// over [x, h]; the two graphs differ, the math does not).
struct MGU {
  Param Wf, Uf, bf, Wh, Uh, bh;  // W [out, in]
  RNNC_TREE(Wf, Uf, bf, Wh, Uh, bh)
  static MGU init(int64_t I, int64_t H, std::mt19937_64& rng, DType t = DType::f32) {
    auto u = [&](Shape s) { return Tensor::uniform(s, -0.17, 0.17, rng, t); };
    return {u({H, I}), u({H, H}), u({H}), u({H, I}), u({H, H}), u({H})};
  }
  nn::Hidden initial_state(int64_t batch) const { return {Tensor::zeros({batch, Uh.shape()[0]}, Uh.dtype())}; }
  nn::Hidden operator()(const Var& x, const nn::Hidden& s) const {
    Var f = sigmoid(nn::linear(x, Wf, bf) + matmul(s.h, transpose(Uf)));
    Var candidate = tanh(nn::linear(x, Wh, bh) + matmul(f * s.h, transpose(Uh)));
    return {(1.0 - f) * s.h + f * candidate};
  }
};

enum class Domain {
  Any,       // uniform in [-1, 1]
  Positive,  // uniform in [0.5, 2] (log, sqrt, pow base)
  NonZero,   // |x| in [0.3, 1.5] with a random sign (abs, relu, sign)
  Distinct,  // all elements of all Distinct inputs differ by >= 0.05 (max, maximum, minimum)
  Mask,      // 0 or 1 (select conditions)
  Index,     // i32 in [0, index_limit)
  Wide,      // |x| in [0.1, 2.3] or [2.7, 8], random sign: both sides of hard_sigmoid's kinks at +-2.5
};

struct Arg {
  Shape shape;
  Domain domain = Domain::Any;
  int index_limit = 0;
};

inline std::vector<Tensor> make_args(const std::vector<Arg>& specs, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0, 1);
  // A shuffled pool of well separated values for Distinct inputs.
  std::vector<double> pool;
  for (int i = -60; i <= 60; ++i) pool.push_back(i * 0.05 + 0.01);
  std::shuffle(pool.begin(), pool.end(), rng);
  size_t next = 0;
  std::vector<Tensor> args;
  for (const Arg& a : specs) {
    Tensor t(a.domain == Domain::Index ? DType::i32 : DType::f64, a.shape);
    for (int64_t i = 0; i < t.numel(); ++i) {
      double v = 0;
      switch (a.domain) {
        case Domain::Any: v = 2 * u(rng) - 1; break;
        case Domain::Positive: v = 0.5 + 1.5 * u(rng); break;
        case Domain::NonZero: v = (u(rng) < 0.5 ? -1 : 1) * (0.3 + 1.2 * u(rng)); break;
        case Domain::Distinct: v = pool.at(next++); break;
        case Domain::Mask: v = u(rng) < 0.5 ? 0 : 1; break;
        case Domain::Index: v = static_cast<int>(u(rng) * a.index_limit); break;
        case Domain::Wide: v = (u(rng) < 0.5 ? -1 : 1) * (i % 2 ? 0.1 + 2.2 * u(rng) : 2.7 + 5.3 * u(rng)); break;
      }
      t.set(i, v);
    }
    args.push_back(t);
  }
  return args;
}

inline std::vector<Spec> specs_of(const std::vector<Tensor>& args, DType floats = DType::f64) {
  std::vector<Spec> s;
  for (const Tensor& t : args) s.push_back(Spec{t.shape(), is_float(t.dtype()) ? floats : t.dtype(), ""});
  return s;
}

// Runs fn with stderr (fd 2) captured in a temporary file; returns what was printed.
inline std::string capture_stderr(const std::function<void()>& fn) {
  std::FILE* capture = std::tmpfile();
  if (!capture) throw std::runtime_error("tmpfile failed");
  std::fflush(stderr);
  int saved = dup(2);
  dup2(fileno(capture), 2);
  try {
    fn();
  } catch (...) {
    std::fflush(stderr);
    dup2(saved, 2);
    close(saved);
    std::fclose(capture);
    throw;
  }
  std::fflush(stderr);
  dup2(saved, 2);
  close(saved);
  std::rewind(capture);
  std::string text;
  for (int c; (c = std::fgetc(capture)) != EOF;) text += static_cast<char>(c);
  std::fclose(capture);
  return text;
}

// A cell of one's own (for tests of user cells): h' = f h + (1 - f) tanh(h U), f = sigmoid(x W + b).
struct Leaky {
  Param w, u, b;
  RNNC_TREE(w, u, b)
  static Leaky init(int64_t input, int64_t hidden, std::mt19937_64& rng, DType dtype) {
    return {Tensor::uniform({input, hidden}, -0.5, 0.5, rng, dtype),
            Tensor::uniform({hidden, hidden}, -0.5, 0.5, rng, dtype), Tensor::uniform({hidden}, -0.5, 0.5, rng, dtype)};
  }
  nn::Hidden initial_state(int64_t batch) const { return {Tensor::zeros({batch, u.shape()[0]}, u.dtype())}; }
  nn::Hidden operator()(const Var& x, const nn::Hidden& s) const {
    Var f = sigmoid(matmul(x, w) + b);
    return {f * s.h + (1.0 - f) * tanh(matmul(Var(s.h), u))};
  }
};

}  // namespace rnnc::testing
