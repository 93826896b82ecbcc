// A 3-layer LSTM text generator trained sequence to sequence: a prediction at every step, as in
// the Keras/char-rnn text generators (LSTM(700) x 3, dropout between layers). Training runs over
// B parallel streams of the text in chunks of T characters; the state carries from chunk to chunk
// (truncated BPTT) and restarts with each pass over the text. The best weights by validation loss
// are kept; `rnnc sample` can read them.
//
// Usage: text_generator [--data FILE|DIR] [--iters N] [--epochs N] [--seed N] [--threads N] [--hidden H]
#include <rnnc/rnnc.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cmath>
#include <fmt/format.h>

using namespace rnnc;

int main(int argc, char** argv) {
  CLI::App app{"text_generator: 3-layer LSTM, sequence to sequence, truncated BPTT over streams"};
  std::string data_path = RNNC_DEFAULT_CORPUS, save = "text_generator.best.safetensors";
  int iters = 100, epochs = 5, threads = 0, hidden = 700, layers = 3, steps = 100, batch = 12, generate = 300;
  uint64_t seed = 1;
  app.add_option("--data", data_path, "text file, or a folder of .md files")->capture_default_str();
  app.add_option("--iters", iters, "cap on training steps")->capture_default_str();
  app.add_option("--epochs", epochs, "validation and checkpoint points over the run")->capture_default_str();
  app.add_option("--seed", seed, "random seed")->capture_default_str();
  app.add_option("--threads", threads, "threads (0: all cores)")->capture_default_str();
  app.add_option("--hidden", hidden, "units per layer")->capture_default_str();
  app.add_option("--layers", layers, "stacked LSTM layers")->capture_default_str();
  app.add_option("--steps", steps, "characters per chunk (T)")->capture_default_str();
  app.add_option("--batch", batch, "parallel streams (B)")->capture_default_str();
  app.add_option("--generate", generate, "characters to generate at the end")->capture_default_str();
  app.add_option("--save", save, "where the best weights go")->capture_default_str();
  std::string curve = "text_generator.loss";
  app.add_option("--curve", curve, "loss curve: writes PREFIX.csv and PREFIX.svg")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  try {
    const std::u32string text = data::decode_utf8(data::read_text(data_path), data_path);
    const data::Vocab vocab = data::Vocab::of(text);
    const data::Split parts = data::split(text, 0.1);
    const data::Streams train(vocab.encode(parts.train), batch, steps), val(vocab.encode(parts.val), 1, steps);

    // Characters one-hot -> `layers` stacked LSTMs with dropout 0.2 after each -> dense softmax,
    // a loss at every step (many-to-many).
    std::mt19937_64 rng(seed);
    using Model = nn::CharRNN<nn::LSTMCell>;
    Model model = Model::init(vocab.size(), hidden, rng, {.layers = layers, .dropout = 0.2});
    CompileOptions copt;
    copt.threads = threads;
    auto step = compile(value_and_grad(Model::loss_with_dropout), copt);
    auto evaluate = compile(Model::loss, copt);
    fmt::print("{} characters, {} distinct; {} chunks of {} x {} per pass\n", text.size(), vocab.size(), train.chunks(),
               steps, batch);

    // Validation: the held-out text as one stream, the state carried through it.
    auto validate = [&] {
      Model::State state = model.initial_state(1);
      double total = 0;
      for (int64_t k = 0; k < val.chunks(); ++k) {
        auto [x, y] = val.chunk(k);
        auto [loss, next] = evaluate(model, state, nn::TextBatch{x, y});
        total += loss.item();
        state = next;
      }
      return total / static_cast<double>(val.chunks());
    };

    optim::Optimizer opt(optim::Adam{.lr = 2e-3});
    io::KeepBest best(save);
    Rng dropout_rng(seed);
    Model::State state = model.initial_state(batch);
    const int every = std::max(1, iters / std::max(1, epochs));
    double train_loss = 0, val_loss = 0, compile_s = 0;
    report::Progress progress(iters, long(steps) * batch, every);  // one line, redrawn on a terminal
    report::LossCurve losses;
    const auto t1 = std::chrono::steady_clock::now();
    for (int it = 0; it < iters; ++it) {
      const int64_t k = it % train.chunks();
      if (k == 0) state = model.initial_state(batch);  // a new pass over the text starts from scratch
      auto [x, y] = train.chunk(k);
      auto [loss, next, grads] = step(model, state, nn::TextBatch{x, y}, dropout_rng);
      if (it == 0) {
        compile_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
        fmt::print("{}\n", step.compiled().stats().str());
      }
      train_loss = loss.item();
      state = next;  // carried; no gradient crosses
      optim::clip_by_global_norm(grads, 5.0);
      opt.step(model, grads);
      progress.update(it + 1, train_loss);
      if ((it + 1) % every == 0 || it + 1 == iters) {
        val_loss = validate();
        const bool saved = best.offer(val_loss, nn::checkpoint(model, vocab));
        progress.finish();
        fmt::print("step {}: loss {:.4f} ({:.2f} bits/char), val_loss {:.4f}{}\n", it + 1, train_loss,
                   nn::bits_per_char(train_loss), val_loss, saved ? " (best so far: saved)" : "");
        losses.add(it + 1, train_loss, val_loss);
      } else {
        losses.add(it + 1, train_loss);
      }
    }
    losses.write_csv(curve + ".csv");
    losses.write_svg(curve + ".svg", fmt::format("{}-layer LSTM {}, T={}, B={}", layers, hidden, steps, batch));
    fmt::print("loss curve: {0}.csv, {0}.svg\n", curve);
    const double train_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count() - compile_s;
    const Model gen = nn::from_checkpoint<nn::LSTMCell>(io::load(save));
    fmt::print("----- {} characters from the best weights, temperature 0.8:\n{}\n", generate,
               nn::sample(gen, vocab, U"The ", generate, {.temperature = 0.8}, rng));
    fmt::print("summary: {{\"train_loss\": {:.4f}, \"val_loss\": {:.4f}, \"chars_per_s\": {:.0f}, \"compile_s\": {:.3f}}}\n",
               train_loss, best.best(), double(iters) * steps * batch / std::max(train_s, 1e-9), compile_s);
  } catch (const std::exception& e) {
    fmt::print(stderr, "text_generator: {}\n", e.what());
    return 1;
  }
}
