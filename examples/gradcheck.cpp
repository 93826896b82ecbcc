// Whole training steps, checked: for a vanilla RNN, an LSTM and a GRU, the gradient of a
// character model's loss over several time steps (with the incoming state as an input, as in
// truncated BPTT) is compared with central finite differences in float64, parameter by parameter.
//
// Usage: gradcheck [--seed N] [--steps T] [--hidden H]
#include <rnnc/rnnc.h>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

using namespace rnnc;

int main(int argc, char** argv) {
  CLI::App app{"gradcheck: autodiff vs finite differences for RNN, LSTM and GRU training steps"};
  uint64_t seed = 1;
  int T = 5, H = 6, iters = 0, threads = 0;
  std::string data_path;
  app.add_option("--seed", seed, "random seed")->capture_default_str();
  app.add_option("--steps", T, "time steps per chunk")->capture_default_str();
  app.add_option("--hidden", H, "hidden units")->capture_default_str();
  app.add_option("--iters", iters, "ignored (nothing is trained)");
  app.add_option("--threads", threads, "ignored (the check runs the interpreter)");
  app.add_option("--data", data_path, "ignored (random data)");
  CLI11_PARSE(app, argc, argv);

  const int V = 7, B = 3;
  bool all_ok = true;
  fmt::print("{:10} {:14} {:>8} {:>14}\n", "cell", "parameter", "probes", "worst rel err");
  for (nn::Cell cell : {nn::Cell::RNNTanh, nn::Cell::LSTM, nn::Cell::GRU}) {
    const bool lstm = cell == nn::Cell::LSTM;
    std::vector<Spec> specs = nn::weight_specs(cell, V, H, 0, DType::f64);
    specs.push_back(Spec{{V, H}, DType::f64, "dense.weight"});
    specs.push_back(Spec{{V}, DType::f64, "dense.bias"});
    specs.push_back(Spec{{B, H}, DType::f64, "h0"});
    if (lstm) specs.push_back(Spec{{B, H}, DType::f64, "c0"});
    specs.push_back(Spec{{T, B}, DType::i32, "inputs"});
    specs.push_back(Spec{{T, B}, DType::i32, "targets"});
    // The training loss: mean cross-entropy of next-character predictions over T steps.
    Function loss = trace(
        [&](std::span<const Var> a) {
          nn::Weights w = nn::weights(a.subspan(0, 4));
          size_t k = 6;
          nn::State s{a[k++], {}};
          if (lstm) s.c = a[k++];
          Var xs = one_hot(a[k], V, DType::f64), total = full({}, 0.0);
          for (int t = 0; t < T; ++t) {
            s = nn::step(cell, reshape(slice(xs, 0, t, t + 1), {B, V}), s, w);
            Var logits = nn::linear(s.h, a[4], a[5]);
            total = total + mean(softmax_cross_entropy(logits, reshape(slice(a[k + 1], 0, t, t + 1), {B})));
          }
          return total * (1.0 / T);
        },
        specs);
    std::mt19937_64 rng(seed);
    std::vector<Tensor> args;
    for (const Spec& s : specs) {
      if (s.dtype == DType::i32) {
        Tensor ix(DType::i32, s.shape);
        for (int64_t i = 0; i < ix.numel(); ++i) ix.set(i, static_cast<double>(rng() % V));
        args.push_back(ix);
      } else {
        args.push_back(Tensor::uniform(s.shape, -0.6, 0.6, rng, DType::f64));
      }
    }
    GradcheckReport r = gradcheck(loss, args);
    for (const InputCheck& in : r.inputs)
      fmt::print("{:10} {:14} {:>8} {:>14.3g}{}\n", nn::name_of(cell), in.name, in.probes, in.max_rel_error,
                 in.ok ? "" : "  FAILED");
    all_ok &= r.ok;
  }
  fmt::print("{}\n", all_ok ? "gradcheck passed for every cell" : "gradcheck FAILED");
  fmt::print("summary: {{\"train_loss\": null, \"val_loss\": null, \"chars_per_s\": null, \"compile_s\": 0, "
             "\"ok\": {}}}\n",
             all_ok ? "true" : "false");
  return all_ok ? 0 : 1;
}
