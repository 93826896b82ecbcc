// A SimpleRNN on Alice in Wonderland, after the Keras tutorials: windows of 10 characters, each
// predicting the next; SimpleRNN(128), a dense softmax, RMSprop; after each iteration (a pass of
// --steps-per-iteration batches) a line of text generated from a random window of the data.
// (Without the book to hand, it reads the project's own docs; give it alice.txt with --data.)
//
// Usage: simple_rnn [--data FILE|DIR] [--iters N] [--epochs N] [--seed N] [--threads N]
#include <rnnc/rnnc.h>
#include <rnnc/cli.h>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

using namespace rnnc;

int main(int argc, char** argv) {
  CLI::App app{"simple_rnn: SimpleRNN(128) on 10-character windows, RMSprop, generation after each iteration"};
  std::string data_path = RNNC_DEFAULT_CORPUS;
  int iters = 1000, epochs = 10, threads = 0, window = 10, hidden = 128, batch = 128, generate = 80;
  uint64_t seed = 1;
  app.add_option("--data", data_path, "text file, or a folder of .md files")->capture_default_str();
  app.add_option("--iters", iters, "cap on training steps")->capture_default_str()->check(cli::at_least(1));
  app.add_option("--epochs", epochs, "iterations: a sample is printed after each")->capture_default_str()->check(cli::at_least(1));
  app.add_option("--seed", seed, "random seed")->capture_default_str();
  app.add_option("--threads", threads, "threads (0: all cores)")->capture_default_str()->check(cli::at_least(0));
  app.add_option("--hidden", hidden, "units")->capture_default_str()->check(cli::at_least(1));
  app.add_option("--generate", generate, "characters generated after each iteration")->capture_default_str()->check(cli::at_least(0));
  CLI11_PARSE(app, argc, argv);

  try {
    const std::u32string text = data::decode_utf8(data::read_text(data_path), data_path);
    const data::Vocab vocab = data::Vocab::of(text);
    const data::Split parts = data::split(text, 0.1);
    const data::Windows train(vocab.encode(parts.train), window, {.batch = batch, .seed = seed}),
        val(vocab.encode(parts.val), window, {.batch = batch});

    // One-hot characters -> SimpleRNN(hidden, tanh) -> dense softmax on the last step of each
    // window (many-to-one), from a fresh state per window; RMSprop.
    std::mt19937_64 rng(seed);
    using Model = nn::CharRNN<nn::RNNCell>;
    Model model = Model::init(vocab.size(), hidden, rng);
    optim::Optimizer opt(optim::RMSprop{.lr = 1e-3});
    const int per_iteration = std::max(1, iters / std::max(1, epochs));
    // After each iteration, a line generated from a random window of the text.
    auto sample_line = [&](const nn::Event& e) {
      if (!e.validated) return;
      const std::u32string seed_text = text.substr(std::uniform_int_distribution<size_t>(0, text.size() - window - 1)(rng), window);
      std::string sample = nn::sample(model, vocab, seed_text, generate, {}, rng);
      for (char& c : sample) c = c == '\n' ? ' ' : c;
      fmt::print("iteration {} (step {}): loss {:.4f}, val_loss {:.4f}\n  \"{}\" -> \"{}\"\n", e.step / per_iteration,
                 e.step, e.loss, e.val_loss, data::encode_utf8(seed_text), sample);
    };
    const nn::FitResult r = nn::fit(model, opt, train, Model::window_loss,
                                    {.validation = &val, .budget = {.steps = iters}, .validate_every = per_iteration,
                                     .val_batches = 1, .seed = seed, .compile = {.threads = threads},
                                     .callbacks = {sample_line}});
    fmt::print("{}\n", report::summary_line(nn::summary_fields(r)));
  } catch (const std::exception& e) {
    fmt::print(stderr, "simple_rnn: {}\n", describe(e));
    return 1;
  }
}
