// Text generation with an LSTM, after the Keras tutorials (Chollet's lstm_text_generation.py and
// Brownlee's "Text Generation With LSTM Recurrent Neural Networks"): windows of 100 characters,
// each labelled with the character after it; LSTM(256), dropout, a dense softmax; Adam; the
// weights with the best validation loss kept; then 400 generated characters from a random seed
// window, greedy and with temperature. The window primes the state one character at a time, and
// generation carries the state on: one step per new character.
//
// Usage: char_lstm [--data FILE|DIR] [--iters N] [--epochs N] [--seed N] [--threads N] [--save FILE]
#include <rnnc/rnnc.h>
#include <rnnc/cli.h>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

using namespace rnnc;
using Model = nn::CharRNN<nn::LSTMCell>;

struct Flags {
  std::string data = RNNC_DEFAULT_CORPUS, save = "char_lstm.best.safetensors";
  int iters = 300, epochs = 3, threads = 0, window = 100, hidden = 256, batch = 64, generate = 400;
  uint64_t seed = 1;
};

void run(const Flags& f) {
  // Data: the text, its sorted vocabulary, 90% for training and 10% for validation.
  const std::u32string text = data::decode_utf8(data::read_text(f.data), f.data);
  const data::Vocab vocab = data::Vocab::of(text);
  const data::Split parts = data::split(text, 0.1);
  const data::Windows train(vocab.encode(parts.train), f.window, {.batch = f.batch, .seed = f.seed}),
      val(vocab.encode(parts.val), f.window, {.step = 5, .batch = f.batch});
  fmt::print("{} characters, {} distinct; {} training windows\n", text.size(), vocab.size(), train.count());

  // The model: one-hot characters -> LSTM(hidden) -> dropout 0.2 -> dense softmax; Adam; fit with
  // the loss of the character after each window (many-to-one, a fresh state per window).
  std::mt19937_64 rng(f.seed);
  Model model = Model::init(vocab.size(), f.hidden, rng, {.dropout = 0.2});
  optim::Optimizer opt(optim::Adam{.lr = 2e-3});
  const nn::FitResult r =
      nn::fit(model, opt, train, Model::window_loss,
              {.validation = &val, .budget = {.steps = f.iters},
               .validate_every = std::max(1, f.iters / std::max(1, f.epochs)), .val_batches = 8, .seed = f.seed,
               .compile = {.threads = f.threads}, .describe = [&] { return nn::checkpoint(model, vocab); },
               .callbacks = {nn::ProgressLine{}, nn::KeepBest{f.save}}});

  // Generate from the best weights, primed with a random window of the text.
  const Model best = nn::from_checkpoint<nn::LSTMCell>(io::load(f.save));
  const std::u32string seed_text =
      text.substr(std::uniform_int_distribution<size_t>(0, text.size() - f.window - 1)(rng), f.window);
  fmt::print("----- seed: \"{}\"\n", data::encode_utf8(seed_text));
  for (double temperature : {0.0, 0.5, 1.0})
    fmt::print("----- temperature {}{}\n{}\n", temperature, temperature == 0 ? " (greedy)" : "",
               nn::sample(best, vocab, seed_text, f.generate, {.temperature = temperature}, rng));
  fmt::print("{}\n", report::summary_line(nn::summary_fields(r)));
}

int main(int argc, char** argv) {
  CLI::App app{"char_lstm: Keras-style character LSTM, windows -> next character"};
  Flags f;
  app.add_option("--data", f.data, "text file, or a folder of .md files")->capture_default_str();
  app.add_option("--iters", f.iters, "training steps")->capture_default_str()->check(cli::at_least(1));
  app.add_option("--epochs", f.epochs, "validation and checkpoint points over the run")->capture_default_str()->check(cli::at_least(1));
  app.add_option("--seed", f.seed, "random seed")->capture_default_str();
  app.add_option("--threads", f.threads, "threads (0: all cores)")->capture_default_str()->check(cli::at_least(0));
  app.add_option("--window", f.window, "characters per window")->capture_default_str()->check(cli::at_least(1));
  app.add_option("--hidden", f.hidden, "LSTM units")->capture_default_str()->check(cli::at_least(1));
  app.add_option("--batch", f.batch, "windows per step")->capture_default_str()->check(cli::at_least(1));
  app.add_option("--generate", f.generate, "characters to generate at the end")->capture_default_str()->check(cli::at_least(0));
  app.add_option("--save", f.save, "where the best weights go")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  try {
    run(f);
  } catch (const std::exception& e) {
    fmt::print(stderr, "char_lstm: {}\n", describe(e));
    return 1;
  }
}
