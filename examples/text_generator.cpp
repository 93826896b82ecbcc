// A 3-layer LSTM text generator trained sequence to sequence: a prediction at every step, as in
// the Keras/char-rnn text generators (LSTM(700) x 3, dropout between layers). Training runs over
// B parallel streams of the text in chunks of T characters; the state carries from chunk to chunk
// (truncated BPTT) and restarts with each pass over the text. The best weights by validation loss
// are kept; `rnnc sample` can read them.
//
// Usage: text_generator [--data PATH] [--steps N] [--seq-length T] [--batch B] [--hidden H] ...
#include <rnnc/program.h>
#include <rnnc/rnnc.h>

#include <fmt/format.h>

using namespace rnnc;
using Model = nn::CharRNN<nn::LSTMCell>;

int main(int argc, char** argv) {
  program::Program p("text_generator", "a 3-layer LSTM, sequence to sequence, truncated BPTT over streams",
                     {.steps = 100, .seq_length = 100}, program::take::training | program::take::seq_length);
  int hidden = 700, layers = 3, batch = 12, generate = 300, validate_every = 20;
  std::string save = "text_generator.best.safetensors", curve = "text_generator.loss";
  p.option("--hidden", hidden, "units per layer")->check(cli::at_least(1));
  p.option("--layers", layers, "stacked LSTM layers")->check(cli::at_least(1));
  p.option("--batch", batch, "parallel streams (B)")->check(cli::at_least(1));
  p.option("--validate-every", validate_every, "steps between validations (and checkpoints)")->check(cli::at_least(1));
  p.option("--generate", generate, "characters to generate at the end")->check(cli::at_least(0));
  p.option("--save", save, "where the best weights go");
  p.option("--curve", curve, "the loss curve: writes PREFIX.csv and PREFIX.svg");
  return p.run(argc, argv, [&](const program::Common& o) {
    const data::Corpus text = data::read_corpus(o.data);
    const data::Streams train(text.train, batch, o.seq_length), val = data::held_out(text.val, batch, o.seq_length);
    fmt::print("{} characters, {} distinct; {} chunks of {} x {} per pass\n", text.text.size(), text.vocab.size(),
               train.chunks(), o.seq_length, batch);

    // Characters one-hot -> `layers` stacked LSTMs with dropout 0.2 after each -> dense softmax, a
    // loss at every step (many-to-many); Adam, gradients clipped to a global norm of 5.
    std::mt19937_64 rng(o.seed);
    Model model = Model::init(text.vocab.size(), hidden, rng, {.layers = layers, .dropout = 0.2});
    optim::Optimizer opt(optim::Adam{.lr = 2e-3});
    const std::string title = fmt::format("{}-layer LSTM {}, T={}, B={}", layers, hidden, o.seq_length, batch);
    const nn::FitResult r =
        nn::fit(model, opt, train, Model::loss,
                o.fit(val, {.clip = {.norm = 5},
                            .validate_every = validate_every,
                            .describe = [&] { return nn::checkpoint(model, text.vocab); },
                            .callbacks = {nn::ProgressLine{}, nn::KeepBest{save}, nn::LossCurve{curve, title}}}));
    fmt::print("loss curve: {0}.csv, {0}.svg\n", curve);

    const Model best = nn::from_checkpoint<nn::LSTMCell>(io::load(save));
    fmt::print("----- {} characters from the best weights, temperature 0.8:\n{}\n", generate,
               nn::sample(best, text.vocab, U"The ", generate, {.temperature = 0.8}, rng));
    fmt::print("{}\n", report::summary_line(nn::summary_fields(r)));
  });
}
