// Text generation with an LSTM, after the Keras tutorials (Chollet's lstm_text_generation.py and
// Brownlee's "Text Generation With LSTM Recurrent Neural Networks"): windows of 100 characters,
// each labelled with the character after it; LSTM(256), dropout, a dense softmax; Adam; the
// weights with the best validation loss kept; then 400 generated characters from a random seed
// window, greedy and with temperature. The window primes the state one character at a time, and
// generation carries the state on: one step per new character.
//
// Usage: char_lstm [--data PATH] [--steps N] [--seq-length W] [--hidden H] [--batch B] [--save FILE] ...
#include <rnnc/program.h>
#include <rnnc/rnnc.h>

#include <fmt/format.h>

using namespace rnnc;
using Model = nn::CharRNN<nn::LSTMCell>;

int main(int argc, char** argv) {
  program::Program p("char_lstm", "a Keras-style character LSTM: windows -> the next character",
                     {.steps = 300, .seq_length = 100}, program::take::training | program::take::seq_length);
  int hidden = 256, batch = 64, generate = 400, validate_every = 100;
  std::string save = "char_lstm.best.safetensors";
  p.option("--hidden", hidden, "LSTM units")->check(cli::at_least(1));
  p.option("--batch", batch, "windows per step")->check(cli::at_least(1));
  p.option("--validate-every", validate_every, "steps between validations (and checkpoints)")->check(cli::at_least(1));
  p.option("--generate", generate, "characters to generate at the end")->check(cli::at_least(0));
  p.option("--save", save, "where the best weights go");
  return p.run(argc, argv, [&](const program::Common& o) {
    // The text, its sorted vocabulary, 90% for training and 10% for validation, in windows.
    const data::Corpus text = data::read_corpus(o.data);
    const data::Windows train(text.train, o.seq_length, {.batch = batch, .seed = o.seed}),
        val(text.val, o.seq_length, {.step = 5, .batch = batch});
    fmt::print("{} characters, {} distinct; {} training windows\n", text.text.size(), text.vocab.size(), train.count());

    // One-hot characters -> LSTM(hidden) -> dropout 0.2 -> dense softmax; Adam; the loss of the
    // character after each window (many-to-one, a fresh state per window).
    std::mt19937_64 rng(o.seed);
    Model model = Model::init(text.vocab.size(), hidden, rng, {.dropout = 0.2});
    optim::Optimizer opt(optim::Adam{.lr = 2e-3});
    const nn::FitResult r = nn::fit(model, opt, train, Model::window_loss,
                                    o.fit(val, {.validate_every = validate_every,
                                                .val_batches = 8,
                                                .describe = [&] { return nn::checkpoint(model, text.vocab); },
                                                .callbacks = {nn::ProgressLine{}, nn::KeepBest{save}}}));

    // Generate from the best weights, primed with a random window of the text.
    const Model best = nn::from_checkpoint<nn::LSTMCell>(io::load(save));
    const size_t at = std::uniform_int_distribution<size_t>(0, text.text.size() - o.seq_length - 1)(rng);
    const std::u32string prime = text.text.substr(at, o.seq_length);
    fmt::print("----- seed: \"{}\"\n", data::encode_utf8(prime));
    for (double temperature : {0.0, 0.5, 1.0})
      fmt::print("----- temperature {}{}\n{}\n", temperature, temperature == 0 ? " (greedy)" : "",
                 nn::sample(best, text.vocab, prime, generate, {.temperature = temperature}, rng));
    fmt::print("{}\n", report::summary_line(nn::summary_fields(r)));
  });
}
