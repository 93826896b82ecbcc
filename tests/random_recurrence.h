// A generator of random recurrences: a scan over xs [T, B, H] whose step is drawn from the shapes
// the loop lowerings tell apart (docs/architecture.md, "Lower"): lane by lane (minGRU, IndRNN, a
// linear scan: lanes apart, time-fused from 5 steps on), through a GEMM (an RNN), with a
// reduction across each row's lanes (a norm: rows apart, so lanes apart from batch 2 on), with
// invariant work in the step (an LRU's decay), with a
// second carry that only accumulates or that only holds the step's output (a QRNN's h: no step
// reads it, so its adjoint is zero throughout); forward or reverse. For differential testing of the loop
// passes and lowerings against the interpreter.
#pragma once
#include <rnnc/rnnc.h>

#include <random>
#include <string>

namespace rnnc::testing {

struct RandomRecurrence {
  // (xs, h0, w, v) -> {stacked outputs, a scalar loss over them and the carries, [the output
  // carry's last value, outside the loss]}
  Function f;
  std::vector<Tensor> args;
  std::string kind;  // what the step was drawn as, for messages
};

inline RandomRecurrence random_recurrence(uint64_t seed, DType dtype = DType::f64) {
  std::mt19937_64 rng(seed);
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<uint64_t>(n)); };
  const int64_t T = 5 + pick(4), B = 1 + pick(3), H = 1 + pick(5);
  const int step = pick(6), input = pick(3), out = pick(3);
  const bool reverse = pick(3) == 0;
  const int extra = pick(3);  // a second carry: none, accumulating, holding the output
  static const char* steps[] = {"gated (minGRU)", "lane weights (IndRNN)", "linear scan",
                                "GEMM (RNN)",     "norm across lanes",     "invariant decay (LRU)"};
  RandomRecurrence r;
  static const char* extras[] = {"", ", accumulating", ", output carried"};
  r.kind = std::string(steps[step]) + (reverse ? ", reverse" : "") + extras[extra];
  const std::vector<Spec> specs = {Spec{{T, B, H}, dtype, "xs"}, Spec{{B, H}, dtype, "h0"}, Spec{{H, H}, dtype, "w"},
                                   Spec{{H}, dtype, "v"}};
  TraceFn fn = [=](std::span<const Var> a) {
    const Var w = a[2], v = a[3];
    auto drive = [&](const Var& x) {  // the step's input term: work on x_t that can leave the loop
      switch (input) {
        case 0: return x;
        case 1: return tanh(x * 1.5);
        default: return x * v + 0.25;
      }
    };
    Scanned s = scan(
        [&](std::span<const Var> c, std::span<const Var> xs) -> ScanStep {
          const Var h = c[0], x = xs[0], in = drive(x);
          Var next;
          switch (step) {
            case 0: {
              Var z = sigmoid(x);
              next = (1.0 - z) * h + z * tanh(in);
              break;
            }
            case 1: next = tanh(in + v * h); break;
            case 2: next = sigmoid(in) * h + x * 0.5; break;
            case 3: next = tanh(in + matmul(h, w)); break;
            case 4: {
              Var d = h - mean(h, {1}, true);
              next = tanh(in + d / sqrt(mean(d * d, {1}, true) + 1e-3));
              break;
            }
            default: next = exp(-exp(v)) * h + sqrt(1.0 - exp(-2.0 * exp(v))) * in; break;
          }
          Var y = out == 0 ? next : out == 1 ? next * x : sigmoid(next) + in;
          std::vector<Var> carries{next};
          if (extra == 1) carries.push_back(c[1] + next * y);
          if (extra == 2) carries.push_back(y);
          return {carries, {y}};
        },
        extra > 0 ? std::vector<Var>{a[1], a[1] * 0.0} : std::vector<Var>{a[1]}, {a[0]}, {.reverse = reverse});
    Var loss = sum(s.ys[0] * s.ys[0]) + sum(s.carries[0] * a[1]);
    if (extra == 1) loss = loss + sum(s.carries[1]);
    if (extra == 2) return std::vector<Var>{s.ys[0], loss, s.carries[1]};
    return std::vector<Var>{s.ys[0], loss};
  };
  r.f = trace_fn(fn, specs);
  for (const Spec& sp : specs) r.args.push_back(Tensor::uniform(sp.shape, -1.5, 1.5, rng, dtype));
  return r;
}

}  // namespace rnnc::testing
