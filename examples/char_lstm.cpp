// Text generation with an LSTM, after the Keras tutorials (Chollet's lstm_text_generation.py and
// Brownlee's "Text Generation With LSTM Recurrent Neural Networks"): windows of 100 characters,
// each labelled with the character after it; LSTM(256), dropout, a dense softmax; Adam; the
// weights with the best validation loss kept; then 400 generated characters from a random seed
// window, greedy and with temperature. The window primes the state one character at a time, and
// generation carries the state on: one step per new character.
//
// Usage: char_lstm [--data FILE|DIR] [--iters N] [--epochs N] [--seed N] [--threads N] [--save FILE]
#include <rnnc/rnnc.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cmath>
#include <fmt/format.h>

using namespace rnnc;

int main(int argc, char** argv) {
  CLI::App app{"char_lstm: Keras-style character LSTM, windows -> next character"};
  std::string data_path = RNNC_DEFAULT_CORPUS, save = "char_lstm.best.safetensors";
  int iters = 300, epochs = 3, threads = 0, window = 100, hidden = 256, batch = 64, generate = 400;
  uint64_t seed = 1;
  app.add_option("--data", data_path, "text file, or a folder of .md files")->capture_default_str();
  app.add_option("--iters", iters, "cap on training steps")->capture_default_str();
  app.add_option("--epochs", epochs, "validation and checkpoint points over the run")->capture_default_str();
  app.add_option("--seed", seed, "random seed")->capture_default_str();
  app.add_option("--threads", threads, "threads (0: all cores)")->capture_default_str();
  app.add_option("--window", window, "characters per window")->capture_default_str();
  app.add_option("--hidden", hidden, "LSTM units")->capture_default_str();
  app.add_option("--batch", batch, "windows per step")->capture_default_str();
  app.add_option("--generate", generate, "characters to generate at the end")->capture_default_str();
  app.add_option("--save", save, "where the best weights go")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  try {
    // Data: the text, its sorted vocabulary, 90% for training and 10% for validation.
    const std::u32string text = data::decode_utf8(data::read_text(data_path), data_path);
    const data::Vocab vocab = data::Vocab::of(text);
    const data::Split parts = data::split(text, 0.1);
    const data::Windows train(vocab.encode(parts.train), window, 1), val(vocab.encode(parts.val), window, 5);
    fmt::print("{} characters, {} distinct; {} training windows, {} validation windows\n", text.size(), vocab.size(),
               train.count(), val.count());

    // The model: one-hot characters -> LSTM(hidden) -> dropout 0.2 -> dense softmax.
    std::mt19937_64 rng(seed);
    using Model = nn::CharRNN<nn::LSTMCell>;
    Model model = Model::init(vocab.size(), hidden, rng, {.dropout = 0.2});
    // Many-to-one: only the prediction after the last character of each window counts; a fresh
    // state per window.
    auto loss_of = [](const Model& m, const nn::TextBatch& b, Rng* rng) {  // b.x [B, window], b.y [B]
      auto [logits, state] = m(transpose(b.x), m.initial_state(b.x.shape()[0]), rng);
      Var last = squeeze(slice(logits, 0, -1, logits.shape()[0]), 0);  // [B, V]
      return mean(softmax_cross_entropy(last, b.y));
    };
    CompileOptions copt;
    copt.threads = threads;
    auto train_step = compile(value_and_grad([&](const Model& m, const nn::TextBatch& b, Rng& r) { return loss_of(m, b, &r); }), copt);
    auto eval_step = compile([&](const Model& m, const nn::TextBatch& b) { return loss_of(m, b, nullptr); }, copt);

    optim::Optimizer opt(optim::Adam{.lr = 2e-3});
    io::KeepBest best(save);
    auto batch_of = [&](const data::Windows& w, auto&& which) { auto [x, y] = w.batch(which); return nn::TextBatch{x, y}; };
    auto validate = [&] {
      double total = 0;
      int n = 0;
      for (int64_t start = 0; start + batch <= val.count() && n < 8; start += batch, ++n) {
        std::vector<int64_t> which(batch);
        for (int i = 0; i < batch; ++i) which[i] = start + i;
        total += eval_step(model, batch_of(val, which)).item();
      }
      return n ? total / n : std::nan("");
    };

    Rng dropout_rng(seed);
    std::uniform_int_distribution<int64_t> any(0, train.count() - 1);
    double train_loss = 0, val_loss = std::nan(""), compile_s = 0;
    const int every = std::max(1, iters / std::max(1, epochs));
    report::Progress progress(iters, long(batch) * window, every);  // redrawn in place on a terminal
    const auto t1 = std::chrono::steady_clock::now();
    for (int it = 1; it <= iters; ++it) {
      std::vector<int64_t> which(batch);
      for (auto& w : which) w = any(rng);
      auto [loss, grads] = train_step(model, batch_of(train, which), dropout_rng);
      if (it == 1) {
        compile_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
        fmt::print("{}\n", train_step.compiled().stats().str());
      }
      train_loss = loss.item();
      opt.step(model, grads);
      progress.update(it, train_loss);
      if (it % every == 0 || it == iters) {
        progress.finish();
        val_loss = validate();
        const bool saved = best.offer(val_loss, nn::checkpoint(model, vocab));
        fmt::print("step {}: loss {:.4f}, val_loss {:.4f}{}\n", it, train_loss, val_loss,
                   saved ? fmt::format(" (improved, saved to {})", save) : "");
      }
    }
    const double train_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count() - compile_s;

    if (!std::isfinite(best.best())) io::save(save, nn::checkpoint(model, vocab));  // no validation text: keep the last
    // Generate from the best weights.
    const Model gen = nn::from_checkpoint<nn::LSTMCell>(io::load(save));
    const int64_t start = std::uniform_int_distribution<int64_t>(0, text.size() - window - 1)(rng);
    const std::u32string seed_text = text.substr(start, window);
    fmt::print("----- seed: \"{}\"\n", data::encode_utf8(seed_text));
    for (double temperature : {0.0, 0.5, 1.0}) {
      fmt::print("----- temperature {}{}\n", temperature, temperature == 0 ? " (greedy)" : "");
      fmt::print("{}\n", nn::sample(gen, vocab, seed_text, generate, {.temperature = temperature}, rng));
    }
    fmt::print("summary: {{\"train_loss\": {:.4f}, \"val_loss\": {:.4f}, \"chars_per_s\": {:.0f}, \"compile_s\": {:.3f}}}\n",
               train_loss, best.best(), double(iters) * batch * window / std::max(train_s, 1e-9), compile_s);
  } catch (const std::exception& e) {
    fmt::print(stderr, "char_lstm: {}\n", e.what());
    return 1;
  }
}
