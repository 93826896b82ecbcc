// The recurrent steps the benchmarks measure, written as a user would: PyTorch's formulas and
// weight layouts (LSTM gates i, f, g, o; GRU gates r, z, n with the reset gate applied after the
// recurrent product), a sum of the outputs as the loss.
#pragma once
#include <rnnc/rnnc.h>

namespace rnnc::bench {

// W [G H, I], U [G H, H]: PyTorch's weight_ih and weight_hh.
inline std::pair<Var, Var> lstm_cell(const Var& x, const Var& h, const Var& c, const Var& W, const Var& U,
                                     const Var& b) {
  auto g = chunk(matmul(x, transpose(W)) + matmul(h, transpose(U)) + b, 4, 1);
  Var c_next = sigmoid(g[1]) * c + sigmoid(g[0]) * tanh(g[2]);
  return {sigmoid(g[3]) * tanh(c_next), c_next};
}

inline Var gru_cell(const Var& x, const Var& h, const Var& W, const Var& U, const Var& bx, const Var& bh) {
  auto gx = chunk(matmul(x, transpose(W)) + bx, 3, 1);
  auto gh = chunk(matmul(h, transpose(U)) + bh, 3, 1);
  Var r = sigmoid(gx[0] + gh[0]), z = sigmoid(gx[1] + gh[1]);
  Var n = tanh(gx[2] + r * gh[2]);
  return (1.0 - z) * n + z * h;
}

// sum of h_T over a sequence of T steps; inputs x [T, B, I], h0, c0, W, U, b. As one scan (the
// graph holds the cell once), or unrolled: a C++ loop that traces T cells.
inline Function lstm_loss(int T, int B, int H, int I, bool unrolled = false) {
  std::vector<Spec> specs = {{{T, B, I}}, {{B, H}}, {{B, H}}, {{4 * H, I}}, {{4 * H, H}}, {{4 * H}}};
  return trace(
      [T, B, I, unrolled](std::span<const Var> a) {
        if (!unrolled) {
          Scanned s = scan(
              [&](std::span<const Var> c, std::span<const Var> x) -> ScanStep {
                auto [h, cn] = lstm_cell(x[0], c[0], c[1], a[3], a[4], a[5]);
                return {{h, cn}, {}};
              },
              {a[1], a[2]}, {a[0]});
          return sum(s.carries[0]);
        }
        Var h = a[1], c = a[2];
        for (int t = 0; t < T; ++t)
          std::tie(h, c) = lstm_cell(reshape(slice(a[0], 0, t, t + 1), {B, I}), h, c, a[3], a[4], a[5]);
        return sum(h);
      },
      specs);
}

// inputs x [T, B, I], h0, W, U, bx, bh.
inline Function gru_loss(int T, int B, int H, int I, bool unrolled = false) {
  std::vector<Spec> specs = {{{T, B, I}}, {{B, H}}, {{3 * H, I}}, {{3 * H, H}}, {{3 * H}}, {{3 * H}}};
  return trace(
      [T, B, I, unrolled](std::span<const Var> a) {
        if (!unrolled) {
          Scanned s = scan(
              [&](std::span<const Var> c, std::span<const Var> x) -> ScanStep {
                return {{gru_cell(x[0], c[0], a[2], a[3], a[4], a[5])}, {}};
              },
              {a[1]}, {a[0]});
          return sum(s.carries[0]);
        }
        Var h = a[1];
        for (int t = 0; t < T; ++t) h = gru_cell(reshape(slice(a[0], 0, t, t + 1), {B, I}), h, a[2], a[3], a[4], a[5]);
        return sum(h);
      },
      specs);
}

inline std::vector<Tensor> random_args(const Function& f, uint64_t seed = 0) {
  std::mt19937_64 rng(seed);
  std::vector<Tensor> args;
  for (const Spec& s : f.input_specs()) args.push_back(Tensor::uniform(s.shape, -0.1, 0.1, rng, s.dtype));
  return args;
}

}  // namespace rnnc::bench
