// A stateful LSTM learns the alphabet, after Jason Brownlee's Keras tutorial ("Understanding
// Stateful LSTM Recurrent Neural Networks"): LSTM(50), batch 1, one letter per step, the state
// carried from letter to letter through an epoch and reset at its end. Each step is truncated BPTT
// of length one: the state enters as an input, so its value carries on and no gradient flows back.
//
// Usage: alphabet [--epochs N] [--steps N] [--seed N] [--threads N] [--lr X]
#include <rnnc/program.h>
#include <rnnc/rnnc.h>

#include <fmt/format.h>

using namespace rnnc;
using Model = nn::CharRNN<nn::LSTMCell>;  // one-hot letters -> LSTM(50) -> Dense(26) softmax

// Letters one at a time from a fresh state, the state carried: the chain of letters the model
// predicts (fed the alphabet, or its own predictions), and how many of them are right.
template <class Next> std::pair<std::string, double> chain(const Next& next, const Model& model, int start, int n,
                                                           bool teacher, std::mt19937_64& rng) {
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
  return {s, right / double(n)};
}

int main(int argc, char** argv) {
  program::Program p("alphabet", "a stateful LSTM learns A->B ... Y->Z", {.epochs = 300, .seed = 7},
                     program::take::budget | program::take::seed | program::take::threads);
  double lr = 0.01;
  p.option("--lr", lr, "Adam learning rate")->check(cli::positive());
  return p.run(argc, argv, [&](const program::Common& o) {
    // The alphabet as one stream of one-letter chunks: batch 1, T 1, the state carried from letter
    // to letter and reset at the start of each pass (epoch), as Keras' stateful LSTM is.
    const std::u32string letters = U"ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    const data::Streams alphabet(data::Vocab::of(letters).encode(letters), 1, 1);
    std::mt19937_64 rng(o.seed);
    Model model = Model::init(26, 50, rng);
    optim::Optimizer opt(optim::Adam{.lr = lr});
    auto every_50 = [](const nn::Event& e) {
      if (e.chunk == 24 && (e.epoch + 1) % 50 == 0) fmt::print("epoch {}, loss {:.4f}\n", e.epoch + 1, e.loss);
    };
    const nn::FitResult r = nn::fit(model, opt, alphabet, Model::loss, o.fit<data::Streams>({.callbacks = {every_50}}));

    auto next = compile(Model::next);
    const double accuracy = chain(next, model, 0, 25, /*teacher=*/true, rng).second;
    fmt::print("Model Accuracy: {:.2f}%\n", 100 * accuracy);
    fmt::print("from A: {}\n", chain(next, model, 0, 25, false, rng).first);
    fmt::print("from K: {}\n", chain(next, model, 10, 5, false, rng).first);
    std::vector<report::Field> summary = nn::summary_fields(r);
    summary.push_back({"accuracy", accuracy});
    fmt::print("{}\n", report::summary_line(summary));
  });
}
