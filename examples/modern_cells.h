// The recurrent cells the field writes now, each a struct of named parameters and a few lines of
// math (x [B, I] in, the next state out), as any user would write them: rnnc derives their
// gradients and compiles them. What they share: every matrix reads x only, so the recurrence is
// elementwise in the state (h' = a(x) * h + b(x) for most), which is what lets a compiler take the
// GEMMs out of the time loop.
#pragma once
#include <rnnc/rnnc.h>

#include <cmath>
#include <random>

namespace cells {

using rnnc::DType;
using rnnc::Param;
using rnnc::Tensor;
using rnnc::Var;
namespace nn = rnnc::nn;

inline Tensor uniform(rnnc::Shape s, double lo, double hi, std::mt19937_64& rng, DType t) {
  return Tensor::uniform(std::move(s), lo, hi, rng, t);
}

// minGRU (Feng et al. 2024, "Were RNNs all we needed?"): z = sigmoid(W_z x), h~ = W_h x,
// h' = (1 - z) h + z h~.
struct MinGRU {
  nn::Linear z, candidate;
  RNNC_TREE(z, candidate)
  static MinGRU init(int64_t in, int64_t H, std::mt19937_64& rng, DType t = DType::f32) {
    return {nn::Linear::init(in, H, rng, t), nn::Linear::init(in, H, rng, t)};
  }
  nn::Hidden initial_state(int64_t B) const { return {Tensor::zeros({B, z.weight.shape()[0]}, z.weight.dtype())}; }
  nn::Hidden operator()(const Var& x, const nn::Hidden& s) const {
    Var gate = sigmoid(z(x));
    return {(1.0 - gate) * s.h + gate * candidate(x)};
  }
};

// minLSTM (same paper): forget and input gates from x, normalised to sum to one;
// h' = f / (f + i) h + i / (f + i) h~.
struct MinLSTM {
  nn::Linear f, i, candidate;
  RNNC_TREE(f, i, candidate)
  static MinLSTM init(int64_t in, int64_t H, std::mt19937_64& rng, DType t = DType::f32) {
    return {nn::Linear::init(in, H, rng, t), nn::Linear::init(in, H, rng, t), nn::Linear::init(in, H, rng, t)};
  }
  nn::Hidden initial_state(int64_t B) const { return {Tensor::zeros({B, f.weight.shape()[0]}, f.weight.dtype())}; }
  nn::Hidden operator()(const Var& x, const nn::Hidden& s) const {
    Var fx = sigmoid(f(x)), ix = sigmoid(i(x));
    return {(fx * s.h + ix * candidate(x)) / (fx + ix)};
  }
};

// IndRNN (Li et al. 2018): each unit recurs on itself only, h' = relu(W x + u * h + b).
struct IndRNN {
  nn::Linear input;
  Param u;  // [H], the recurrent weights, in (0, 1)
  RNNC_TREE(input, u)
  static IndRNN init(int64_t in, int64_t H, std::mt19937_64& rng, DType t = DType::f32) {
    return {nn::Linear::init(in, H, rng, t), uniform({H}, 0, 1, rng, t)};
  }
  nn::Hidden initial_state(int64_t B) const { return {Tensor::zeros({B, u.shape()[0]}, u.dtype())}; }
  nn::Hidden operator()(const Var& x, const nn::Hidden& s) const { return {relu(input(x) + u * s.h)}; }
};

// QRNN's fo-pooling (Bradbury et al. 2016), window 1: z = tanh(W_z x), f = sigmoid(W_f x),
// o = sigmoid(W_o x); c' = f c + (1 - f) z, h' = o c'.
struct QRNN {
  nn::Linear z, f, o;
  RNNC_TREE(z, f, o)
  static QRNN init(int64_t in, int64_t H, std::mt19937_64& rng, DType t = DType::f32) {
    return {nn::Linear::init(in, H, rng, t), nn::Linear::init(in, H, rng, t), nn::Linear::init(in, H, rng, t)};
  }
  nn::LSTMState initial_state(int64_t B) const {
    const Tensor zero = Tensor::zeros({B, z.weight.shape()[0]}, z.weight.dtype());
    return {zero, zero};
  }
  nn::LSTMState operator()(const Var& x, const nn::LSTMState& s) const {
    Var forget = sigmoid(f(x));
    Var c = forget * s.c + (1.0 - forget) * tanh(z(x));
    return {sigmoid(o(x)) * c, c};
  }
};

// LRU with a real diagonal (Orvieto et al. 2023): lambda = exp(-exp(nu)) in (0, 1),
// h' = lambda h + sqrt(1 - lambda^2) (B x).
struct LRU {
  nn::Linear input;
  Param nu;  // [H]
  RNNC_TREE(input, nu)
  static LRU init(int64_t in, int64_t H, std::mt19937_64& rng, DType t = DType::f32) {
    return {nn::Linear::init(in, H, rng, t), uniform({H}, -4, 0, rng, t)};  // lambda in (0.37, 0.98)
  }
  nn::Hidden initial_state(int64_t B) const { return {Tensor::zeros({B, nu.shape()[0]}, nu.dtype())}; }
  nn::Hidden operator()(const Var& x, const nn::Hidden& s) const {
    Var lambda = exp(-exp(Var(nu)));
    return {lambda * s.h + sqrt(1.0 - lambda * lambda) * input(x)};
  }
};

// The selective scan of Mamba (S6; Gu and Dao 2023): a state of N per channel, D channels,
// dt = softplus(W_dt x), A = -exp(A_log) [D, N], B_t = W_B x, C_t = W_C x [N]:
// h' = exp(dt A) h + dt u B_t (u = W_u x), y = C_t h' + skip u.
struct S6State {
  rnnc::Leaf h, y;  // h [B, D, N]; y [B, D], the step's output
  RNNC_TREE(h, y)
};
struct S6 {
  nn::Linear u, dt, B, C;
  Param A_log, skip;  // [D, N], [D]
  RNNC_TREE(u, dt, B, C, A_log, skip)
  static S6 init(int64_t in, int64_t D, std::mt19937_64& rng, DType t = DType::f32, int64_t N = 16) {
    return {nn::Linear::init(in, D, rng, t), nn::Linear::init(in, D, rng, t), nn::Linear::init(in, N, rng, t),
            nn::Linear::init(in, N, rng, t), uniform({D, N}, -1, 1, rng, t),  uniform({D}, -1, 1, rng, t)};
  }
  S6State initial_state(int64_t batch) const {
    const int64_t D = A_log.shape()[0], N = A_log.shape()[1];
    return {Tensor::zeros({batch, D, N}, A_log.dtype()), Tensor::zeros({batch, D}, A_log.dtype())};
  }
  Var output(const S6State& s) const { return s.y; }
  S6State operator()(const Var& x, const S6State& s) const {
    Var ux = u(x), step = softplus(dt(x));                               // [B, D]
    Var decay = exp(unsqueeze(step, 2) * -exp(Var(A_log)));              // [B, D, N]
    Var h = decay * s.h + unsqueeze(step * ux, 2) * unsqueeze(B(x), 1);  // [B, D, N]
    return {h, sum(h * unsqueeze(C(x), 1), {2}) + Var(skip) * ux};
  }
};

// A layer-normalised LSTM (Ba et al. 2016): the gates' two products normalised over their 4H
// units, and the cell before its tanh over H, each with a learned gain.
struct LayerNormLSTM {
  Param weight_ih, weight_hh, bias, gain_ih, gain_hh, gain_c, shift_c;
  RNNC_TREE(weight_ih, weight_hh, bias, gain_ih, gain_hh, gain_c, shift_c)
  static LayerNormLSTM init(int64_t in, int64_t H, std::mt19937_64& rng, DType t = DType::f32) {
    const double k = 1 / std::sqrt(static_cast<double>(H));
    return {uniform({4 * H, in}, -k, k, rng, t),
            uniform({4 * H, H}, -k, k, rng, t),
            Tensor::zeros({4 * H}, t),
            Tensor::full({4 * H}, 1.0, t),
            Tensor::full({4 * H}, 1.0, t),
            Tensor::full({H}, 1.0, t),
            Tensor::zeros({H}, t)};
  }
  nn::LSTMState initial_state(int64_t B) const {
    const Tensor zero = Tensor::zeros({B, weight_hh.shape()[1]}, weight_hh.dtype());
    return {zero, zero};
  }
  static Var norm(const Var& x, const Var& gain) {  // over the last axis
    Var d = x - mean(x, {1}, true);
    return d / sqrt(mean(d * d, {1}, true) + 1e-5) * gain;
  }
  nn::LSTMState operator()(const Var& x, const nn::LSTMState& s) const {
    auto g = chunk(
        norm(matmul(x, transpose(weight_ih)), gain_ih) + norm(matmul(s.h, transpose(weight_hh)), gain_hh) + Var(bias),
        4, 1);
    Var c = sigmoid(g[1]) * s.c + sigmoid(g[0]) * tanh(g[2]);
    return {sigmoid(g[3]) * tanh(norm(c, gain_c) + Var(shift_c)), c};
  }
};

}  // namespace cells
