// A SimpleRNN on Alice in Wonderland, after the Keras tutorials: windows of 10 characters, each
// predicting the next; SimpleRNN(128), a dense softmax, RMSprop; after each iteration (every
// --sample-every steps) the validation loss and a line of text generated from a random window.
// (Without the book to hand, it reads the project's own docs; give it alice.txt with --data.)
//
// Usage: simple_rnn [--data PATH] [--steps N] [--seq-length W] [--sample-every N] [--seed N] ...
#include <rnnc/program.h>
#include <rnnc/rnnc.h>

#include <fmt/format.h>

using namespace rnnc;
using Model = nn::CharRNN<nn::RNNCell>;  // one-hot characters -> SimpleRNN(hidden, tanh) -> dense softmax

int main(int argc, char** argv) {
  int hidden = 128, batch = 128, generate = 80, sample_every = 100;
  program::Program p("simple_rnn", "SimpleRNN(128) on 10-character windows, RMSprop, a sample after each iteration",
                     {.steps = 1000, .seq_length = 10}, program::take::training | program::take::seq_length);
  p.option("--sample-every", sample_every, "steps per iteration: a validation and a sample after each")
      ->check(cli::at_least(1));
  p.option("--hidden", hidden, "units")->check(cli::at_least(1));
  p.option("--generate", generate, "characters generated after each iteration")->check(cli::at_least(0));
  return p.run(argc, argv, [&](const program::Common& o) {
    const data::Corpus text = data::read_corpus(o.data);
    const data::Windows train(text.train, o.seq_length, {.batch = batch, .seed = o.seed}),
        val(text.val, o.seq_length, {.batch = batch});

    // One-hot characters -> SimpleRNN(hidden, tanh) -> dense softmax on the last step of each
    // window (many-to-one), from a fresh state per window; RMSprop.
    std::mt19937_64 rng(o.seed);
    Model model = Model::init(text.vocab.size(), hidden, rng);
    optim::Optimizer opt(optim::RMSprop{.lr = 1e-3});
    auto sample_line = [&](const nn::Event& e) {  // after each iteration, from a random window
      if (!e.validated) return;
      const size_t at = std::uniform_int_distribution<size_t>(0, text.text.size() - o.seq_length - 1)(rng);
      const std::u32string prime = text.text.substr(at, o.seq_length);
      std::string line = nn::sample(model, text.vocab, prime, generate, {}, rng);
      std::replace(line.begin(), line.end(), '\n', ' ');
      fmt::print("iteration {} (step {}): loss {:.4f}, val_loss {:.4f}\n  \"{}\" -> \"{}\"\n", e.step / sample_every,
                 e.step, e.loss, e.val_loss, data::encode_utf8(prime), line);
    };
    const nn::FitResult r =
        nn::fit(model, opt, train, Model::window_loss,
                o.fit(val, {.validate_every = sample_every, .val_batches = 1, .callbacks = {sample_line}}));
    fmt::print("{}\n", report::summary_line(nn::summary_fields(r)));
  });
}
