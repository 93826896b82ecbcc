// Whole training steps, checked: for a vanilla RNN, an LSTM and a GRU, the gradient of a
// character model's loss over several time steps (with the incoming state as an input, as in
// truncated BPTT) is compared with central finite differences in float64, parameter by parameter.
//
// Usage: gradcheck [--seed N] [--steps T] [--hidden H]
#include <rnnc/rnnc.h>
#include <rnnc/cli.h>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

using namespace rnnc;

int main(int argc, char** argv) {
  CLI::App app{"gradcheck: autodiff vs finite differences for RNN, LSTM and GRU training steps"};
  uint64_t seed = 1;
  int T = 5, H = 6, iters = 0, threads = 0;
  std::string data_path;
  app.add_option("--seed", seed, "random seed")->capture_default_str();
  app.add_option("--steps", T, "time steps per chunk")->capture_default_str()->check(cli::at_least(1));
  app.add_option("--hidden", H, "hidden units")->capture_default_str()->check(cli::at_least(1));
  app.add_option("--iters", iters, "ignored (nothing is trained)");
  app.add_option("--threads", threads, "ignored (the check runs the interpreter)");
  app.add_option("--data", data_path, "ignored (random data)");
  CLI11_PARSE(app, argc, argv);

  const int V = 7, B = 3;
  bool all_ok = true;
  fmt::print("{:10} {:24} {:>8} {:>14}\n", "cell", "parameter", "probes", "worst rel err");
  // The training loss of a character model around the cell (one-hot in, the cell over T steps
  // from an incoming state, a dense softmax out: nn::CharRNN), at a random point.
  auto check = [&]<class Cell>(const char* name) {
    std::mt19937_64 rng(seed);
    auto model = nn::CharRNN<Cell>::init(V, H, rng, {}, DType::f64);
    auto state = model.initial_state(B);
    tree::for_each(state, [&](const std::string&, Leaf& l) { l = Tensor::uniform({B, H}, -0.6, 0.6, rng, DType::f64); });
    Tensor x(DType::i32, {T, B}), y(DType::i32, {T, B});
    for (int64_t i = 0; i < x.numel(); ++i) x.set(i, double(rng() % V)), y.set(i, double(rng() % V));
    Rng off = Rng::evaluation();
    auto [f, args] = compile(nn::CharRNN<Cell>::loss).function(model, state, data::TextBatch{x, y}, off);
    GradcheckReport r = gradcheck(f, args);
    for (const InputCheck& in : r.inputs)
      fmt::print("{:10} {:24} {:>8} {:>14.3g}{}\n", name, in.name, in.probes, in.max_rel_error, in.ok ? "" : "  FAILED");
    all_ok &= r.ok;
  };
  check.operator()<nn::RNNCell>("rnn_tanh");
  check.operator()<nn::LSTMCell>("lstm");
  check.operator()<nn::GRUCell>("gru");
  fmt::print("{}\n", all_ok ? "gradcheck passed for every cell" : "gradcheck FAILED");
  fmt::print("{}\n", report::summary_line({{"train_loss", std::nullopt, "nothing is trained"},
                                           {"val_loss", std::nullopt, "nothing is trained"},
                                           {"chars_per_s", std::nullopt, "nothing is trained"},
                                           {"compile_s", 0.0},
                                           {"ok", all_ok ? 1.0 : 0.0}}));
  return all_ok ? 0 : 1;
}
