// A stateful LSTM learns the alphabet, after Jason Brownlee's Keras tutorial ("Understanding
// Stateful LSTM Recurrent Neural Networks"): LSTM(50), batch 1, one letter per step, the state
// carried from letter to letter through an epoch and reset at its end. Each step is truncated BPTT
// of length one: the state enters as an input, so its value carries on and no gradient flows back.
//
// Usage: alphabet [--epochs N] [--iters N] [--seed N] [--threads N] [--lr X]
#include <rnnc/rnnc.h>
#include <rnnc/cli.h>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

using namespace rnnc;
using Model = nn::CharRNN<nn::LSTMCell>;  // one-hot letters -> LSTM(50) -> Dense(26) softmax

int main(int argc, char** argv) {
  CLI::App app{"alphabet: a stateful LSTM learns A->B ... Y->Z"};
  int epochs = 300, iters = 0, threads = 0, hidden = 50;
  uint64_t seed = 7;
  double lr = 0.01;
  std::string data_path;  // accepted for uniformity with the other examples; the data is the alphabet
  app.add_option("--epochs", epochs, "passes over the alphabet")->capture_default_str()->check(cli::at_least(1));
  app.add_option("--iters", iters, "cap on training steps (0: none)")->capture_default_str()->check(cli::at_least(0));
  app.add_option("--seed", seed, "random seed")->capture_default_str();
  app.add_option("--threads", threads, "threads (0: all cores)")->capture_default_str()->check(cli::at_least(0));
  app.add_option("--lr", lr, "Adam learning rate")->capture_default_str()->check(cli::positive());
  app.add_option("--data", data_path, "ignored: the data is the alphabet");
  CLI11_PARSE(app, argc, argv);

  try {
    // The alphabet as one stream of one-letter chunks: batch 1, T 1, the state carried from letter
    // to letter and reset at the start of each pass (epoch), as Keras' stateful LSTM is.
    const std::u32string letters = U"ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    const data::Vocab vocab = data::Vocab::of(letters);
    const data::Streams alphabet(vocab.encode(letters), 1, 1);
    std::mt19937_64 rng(seed);
    Model model = Model::init(26, hidden, rng);
    optim::Optimizer opt(optim::Adam{.lr = lr});
    const nn::FitResult r = nn::fit(model, opt, alphabet, Model::loss,
                                    {.budget = {.steps = iters, .epochs = epochs},
                                     .compile = {.threads = threads},
                                     .callbacks = {[](const nn::Event& e) {
                                       if (e.chunk == 24 && (e.epoch + 1) % 50 == 0)
                                         fmt::print("epoch {}, loss {:.4f}\n", e.epoch + 1, e.loss);
                                     }}});

    // Predictions one letter at a time from a fresh state, the state carried: the accuracy over the
    // alphabet, and the chain the model predicts when fed its own predictions.
    auto next = compile(Model::next);
    auto chain = [&](int start, int n, bool teacher) {
      Model::State state = model.initial_state(1);
      std::string s(1, char('A' + start));
      int x = start, right = 0;
      for (int i = 0; i < n; ++i) {
        auto [logits, after] = next(model, state, Tensor::from({double(teacher ? start + i : x)}, {1}, DType::i32));
        state = after;
        x = nn::pick(logits, {.greedy = true}, rng);
        right += x == start + i + 1;
        s += fmt::format(" -> {}", char('A' + x));
      }
      return std::pair{s, right / double(n)};
    };
    const double accuracy = chain(0, 25, /*teacher=*/true).second;
    fmt::print("Model Accuracy: {:.2f}%\n", 100 * accuracy);
    fmt::print("from A: {}\n", chain(0, 25, false).first);
    fmt::print("from K: {}\n", chain(10, 5, false).first);
    std::vector<report::Field> summary = nn::summary_fields(r);
    summary.push_back({"accuracy", accuracy});
    fmt::print("{}\n", report::summary_line(summary));
  } catch (const std::exception& e) {
    fmt::print(stderr, "alphabet: {}\n", describe(e));
    return 1;
  }
}
