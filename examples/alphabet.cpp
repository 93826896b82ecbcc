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

// LSTM(50) -> Dense(26) softmax.
struct Model {
  nn::LSTMCell lstm;
  nn::Linear dense;
  RNNC_TREE(lstm, dense)
};
struct Letter {
  Leaf x, y;  // a letter and the next, i32 [1]
  RNNC_TREE(x, y)
};

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
    // One step: the letter (one-hot) and the state in; the loss, the logits and the state out.
    auto step = [V](const Model& m, const nn::LSTMState& s, const Letter& l) {
      nn::LSTMState next = m.lstm(one_hot(l.x, V), s);
      Var logits = m.dense(next.h);
      return std::pair{sum(softmax_cross_entropy(logits, l.y)), std::pair{logits, next}};
    };
    CompileOptions copt;
    copt.threads = threads;
    auto train = compile(value_and_grad(step), copt);
    auto predict = compile(step, copt);

    std::mt19937_64 rng(seed);
    const double k = 1 / std::sqrt(double(H));
    Model model{nn::LSTMCell::init(V, H, rng), {Tensor::uniform({V, H}, -k, k, rng), Tensor::zeros({V})}};
    optim::Optimizer opt(optim::Adam{.lr = lr});
    auto letter = [](int i) { return Tensor::from({double(i)}, {1}, DType::i32); };

    // Runs the alphabet from a fresh state; returns (mean loss, accuracy), training if asked.
    long steps = 0;
    double compile_s = 0;
    auto epoch = [&](bool learn) {
      nn::LSTMState state = model.lstm.initial_state(1);
      double loss = 0;
      int right = 0;
      for (int i = 0; i + 1 < V; ++i) {
        const Letter l{letter(i), letter(i + 1)};
        Tensor logits;
        if (learn) {
          const auto t0 = std::chrono::steady_clock::now();
          auto [value, out, grads] = train(model, state, l);
          if (steps++ == 0) compile_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
          opt.step(model, grads);
          loss += value.item();
          std::tie(logits, state) = out;  // the state carries on to the next letter (stateful)
        } else {
          auto [value, out] = predict(model, state, l);
          loss += value.item();
          std::tie(logits, state) = out;
        }
        right += nn::accuracy(logits, letter(i + 1)) == 1.0;
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
      nn::LSTMState state = model.lstm.initial_state(1);
      std::string s(1, letters[start]);
      int x = start;
      for (int i = 0; i < n; ++i) {
        auto [value, out] = predict(model, state, Letter{letter(x), letter(0)});
        state = out.second;
        x = nn::pick(out.first, {.greedy = true}, rng);
        s += fmt::format(" -> {}", letters[x]);
      }
      return s;
    };
    fmt::print("from A: {}\n", chain(0, 25));
    fmt::print("from K: {}\n", chain(10, 5));
    fmt::print("summary: {{\"train_loss\": {:.4f}, \"val_loss\": null, \"accuracy\": {:.4f}, \"chars_per_s\": {:.0f}, "
               "\"compile_s\": {:.3f}}}\n",
               train_loss, acc, steps / std::max(train_s - compile_s, 1e-9), compile_s);
  } catch (const std::exception& e) {
    fmt::print(stderr, "alphabet: {}\n", e.what());
    return 1;
  }
}
