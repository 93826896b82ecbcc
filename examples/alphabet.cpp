// A stateful LSTM learns the alphabet, after Jason Brownlee's Keras tutorial ("Understanding
// Stateful LSTM Recurrent Neural Networks"): LSTM(50), batch 1, one letter per step, the state
// carried from letter to letter through an epoch and reset at its end. Each step is truncated BPTT
// of length one: the state enters as an input, so its value carries on and no gradient flows back.
//
// Usage: alphabet [--epochs N] [--iters N] [--seed N] [--threads N] [--lr X]
#include <rnnc/rnnc.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cmath>
#include <fmt/format.h>

using namespace rnnc;

int main(int argc, char** argv) {
  CLI::App app{"alphabet: a stateful LSTM learns A->B ... Y->Z"};
  int epochs = 300, iters = 0, threads = 0, hidden = 50;
  uint64_t seed = 7;
  double lr = 0.01;
  std::string data_path;  // accepted for uniformity with the other examples; the data is the alphabet
  app.add_option("--epochs", epochs, "passes over the alphabet")->capture_default_str();
  app.add_option("--iters", iters, "cap on training steps (0: none)")->capture_default_str();
  app.add_option("--seed", seed, "random seed")->capture_default_str();
  app.add_option("--threads", threads, "threads (0: all cores)")->capture_default_str();
  app.add_option("--lr", lr, "Adam learning rate")->capture_default_str();
  app.add_option("--data", data_path, "ignored: the data is the alphabet");
  CLI11_PARSE(app, argc, argv);

  try {
    const std::string letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    const int V = 26, H = hidden;
    // One step: the letter (one-hot), the state in; the loss, the logits and the state out.
    std::vector<Spec> specs = nn::weight_specs(nn::Cell::LSTM, V, H);
    specs.push_back(Spec{{V, H}, DType::f32, "dense.weight"});
    specs.push_back(Spec{{V}, DType::f32, "dense.bias"});
    specs.push_back(Spec{{1, H}, DType::f32, "h"});
    specs.push_back(Spec{{1, H}, DType::f32, "c"});
    specs.push_back(Spec{{1}, DType::i32, "x"});
    specs.push_back(Spec{{1}, DType::i32, "y"});
    Function step = trace(
        [V](std::span<const Var> a) {
          nn::State s = nn::lstm_cell(one_hot(a[8], V), {a[6], a[7]}, nn::weights(a.subspan(0, 4)));
          Var logits = nn::linear(s.h, a[4], a[5]);
          return std::vector<Var>{sum(softmax_cross_entropy(logits, a[9])), logits, s.h, s.c};
        },
        specs);
    const auto t0 = std::chrono::steady_clock::now();
    CompileOptions copt;
    copt.threads = threads;
    Compiled train = compile(value_and_grad(step, {0, 1, 2, 3, 4, 5}, /*has_aux=*/true), copt);
    Compiled predict = compile(step, copt);
    const double compile_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

    std::mt19937_64 rng(seed);
    std::vector<Tensor> params = nn::init_weights(nn::Cell::LSTM, V, H, rng);
    const double k = 1 / std::sqrt(double(H));
    params.push_back(Tensor::uniform({V, H}, -k, k, rng));
    params.push_back(Tensor::zeros({V}));
    optim::Optimizer opt(optim::Adam{.lr = lr});
    auto letter = [](int i) { return Tensor::from({double(i)}, {1}, DType::i32); };

    // Runs the alphabet from a fresh state; returns (mean loss, accuracy), training if asked.
    long steps = 0;
    auto epoch = [&](bool learn) {
      Tensor h = Tensor::zeros({1, H}), c = Tensor::zeros({1, H});
      double loss = 0;
      int right = 0;
      for (int i = 0; i + 1 < V; ++i) {
        std::vector<Tensor> args = params;
        args.insert(args.end(), {h, c, letter(i), letter(i + 1)});
        std::vector<Tensor> out = learn ? train(args) : predict(args);
        loss += out[0].item();
        right += nn::accuracy(out[1], letter(i + 1)) == 1.0;
        h = out[2];
        c = out[3];  // carried to the next letter (stateful)
        if (learn) {
          opt.step(params, std::vector<Tensor>(out.begin() + 4, out.end()));
          ++steps;
        }
      }
      return std::pair<double, double>{loss / (V - 1), right / double(V - 1)};
    };

    const auto t1 = std::chrono::steady_clock::now();
    double train_loss = 0;
    for (int e = 0; e < epochs && (iters == 0 || steps < iters); ++e) {
      train_loss = epoch(true).first;  // the state is reset at the start of every epoch
      if ((e + 1) % 50 == 0) fmt::print("epoch {}, loss {:.4f}\n", e + 1, train_loss);
    }
    const double train_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
    const auto [loss, acc] = epoch(false);
    fmt::print("Model Accuracy: {:.2f}%\n", 100 * acc);

    // The chain the model predicts, feeding each prediction back, from a fresh state.
    auto chain = [&](int start, int n) {
      Tensor h = Tensor::zeros({1, H}), c = Tensor::zeros({1, H});
      std::string s(1, letters[start]);
      int x = start;
      for (int i = 0; i < n; ++i) {
        std::vector<Tensor> args = params;
        args.insert(args.end(), {h, c, letter(x), letter(0)});
        std::vector<Tensor> out = predict(args);
        h = out[2];
        c = out[3];
        x = nn::pick(out[1], {.greedy = true}, rng);
        s += fmt::format(" -> {}", letters[x]);
      }
      return s;
    };
    fmt::print("from A: {}\n", chain(0, 25));
    fmt::print("from K: {}\n", chain(10, 5));
    fmt::print("summary: {{\"train_loss\": {:.4f}, \"val_loss\": null, \"accuracy\": {:.4f}, \"chars_per_s\": {:.0f}, "
               "\"compile_s\": {:.3f}}}\n",
               train_loss, acc, steps / std::max(train_s, 1e-9), compile_s);
  } catch (const std::exception& e) {
    fmt::print(stderr, "alphabet: {}\n", e.what());
    return 1;
  }
}
