// A 3-layer LSTM text generator trained sequence to sequence: a prediction at every step, as in
// the Keras/char-rnn text generators (LSTM(700) x 3, dropout between layers). Training runs over
// B parallel streams of the text in chunks of T characters; the state carries from chunk to chunk
// (truncated BPTT) and restarts with each pass over the text. The best weights by validation loss
// are kept; `rnnc sample` can read them.
//
// Usage: text_generator [--data FILE|DIR] [--iters N] [--epochs N] [--seed N] [--threads N] [--hidden H]
#include <rnnc/rnnc.h>
#include <rnnc/cli.h>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

using namespace rnnc;

int main(int argc, char** argv) {
  CLI::App app{"text_generator: 3-layer LSTM, sequence to sequence, truncated BPTT over streams"};
  std::string data_path = RNNC_DEFAULT_CORPUS, save = "text_generator.best.safetensors";
  int iters = 100, epochs = 5, threads = 0, hidden = 700, layers = 3, steps = 100, batch = 12, generate = 300;
  uint64_t seed = 1;
  app.add_option("--data", data_path, "text file, or a folder of .md files")->capture_default_str();
  app.add_option("--iters", iters, "cap on training steps")->capture_default_str()->check(cli::at_least(1));
  app.add_option("--epochs", epochs, "validation and checkpoint points over the run")->capture_default_str()->check(cli::at_least(1));
  app.add_option("--seed", seed, "random seed")->capture_default_str();
  app.add_option("--threads", threads, "threads (0: all cores)")->capture_default_str()->check(cli::at_least(0));
  app.add_option("--hidden", hidden, "units per layer")->capture_default_str()->check(cli::at_least(1));
  app.add_option("--layers", layers, "stacked LSTM layers")->capture_default_str()->check(cli::at_least(1));
  app.add_option("--steps", steps, "characters per chunk (T)")->capture_default_str()->check(cli::at_least(1));
  app.add_option("--batch", batch, "parallel streams (B)")->capture_default_str()->check(cli::at_least(1));
  app.add_option("--generate", generate, "characters to generate at the end")->capture_default_str()->check(cli::at_least(0));
  app.add_option("--save", save, "where the best weights go")->capture_default_str();
  std::string curve = "text_generator.loss";
  app.add_option("--curve", curve, "loss curve: writes PREFIX.csv and PREFIX.svg")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  try {
    const std::u32string text = data::decode_utf8(data::read_text(data_path), data_path);
    const data::Vocab vocab = data::Vocab::of(text);
    const data::Split parts = data::split(text, 0.1);
    const data::Streams train(vocab.encode(parts.train), batch, steps), val(vocab.encode(parts.val), 1, steps);
    fmt::print("{} characters, {} distinct; {} chunks of {} x {} per pass\n", text.size(), vocab.size(), train.chunks(),
               steps, batch);

    // Characters one-hot -> `layers` stacked LSTMs with dropout 0.2 after each -> dense softmax, a
    // loss at every step (many-to-many); Adam, gradients clipped to a global norm of 5.
    std::mt19937_64 rng(seed);
    using Model = nn::CharRNN<nn::LSTMCell>;
    Model model = Model::init(vocab.size(), hidden, rng, {.layers = layers, .dropout = 0.2});
    optim::Optimizer opt(optim::Adam{.lr = 2e-3});
    const nn::FitResult r = nn::fit(
        model, opt, train, Model::loss,
        {.validation = &val, .budget = {.steps = iters}, .clip = {.norm = 5},
         .validate_every = std::max(1, iters / std::max(1, epochs)), .seed = seed, .compile = {.threads = threads},
         .describe = [&] { return nn::checkpoint(model, vocab); },
         .callbacks = {nn::ProgressLine{}, nn::KeepBest{save},
                       nn::LossCurve{curve, fmt::format("{}-layer LSTM {}, T={}, B={}", layers, hidden, steps, batch)}}});
    fmt::print("loss curve: {0}.csv, {0}.svg\n", curve);

    const Model best = nn::from_checkpoint<nn::LSTMCell>(io::load(save));
    fmt::print("----- {} characters from the best weights, temperature 0.8:\n{}\n", generate,
               nn::sample(best, vocab, U"The ", generate, {.temperature = 0.8}, rng));
    fmt::print("{}\n", report::summary_line(nn::summary_fields(r)));
  } catch (const std::exception& e) {
    fmt::print(stderr, "text_generator: {}\n", describe(e));
    return 1;
  }
}
