// A SimpleRNN on Alice in Wonderland, after the Keras tutorials: windows of 10 characters, each
// predicting the next; SimpleRNN(128), a dense softmax, RMSprop; after each iteration (a pass of
// --steps-per-iteration batches) a line of text generated from a random window of the data.
// (Without the book to hand, it reads the project's own docs; give it alice.txt with --data.)
//
// Usage: simple_rnn [--data FILE|DIR] [--iters N] [--epochs N] [--seed N] [--threads N]
#include <rnnc/rnnc.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cmath>
#include <fmt/format.h>

using namespace rnnc;

int main(int argc, char** argv) {
  CLI::App app{"simple_rnn: SimpleRNN(128) on 10-character windows, RMSprop, generation after each iteration"};
  std::string data_path = RNNC_DEFAULT_CORPUS;
  int iters = 1000, epochs = 10, threads = 0, window = 10, hidden = 128, batch = 128, generate = 80;
  uint64_t seed = 1;
  app.add_option("--data", data_path, "text file, or a folder of .md files")->capture_default_str();
  app.add_option("--iters", iters, "cap on training steps")->capture_default_str();
  app.add_option("--epochs", epochs, "iterations: a sample is printed after each")->capture_default_str();
  app.add_option("--seed", seed, "random seed")->capture_default_str();
  app.add_option("--threads", threads, "threads (0: all cores)")->capture_default_str();
  app.add_option("--hidden", hidden, "units")->capture_default_str();
  app.add_option("--generate", generate, "characters generated after each iteration")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  try {
    const std::u32string text = data::decode_utf8(data::read_text(data_path), data_path);
    const data::Vocab vocab = data::Vocab::of(text);
    const data::Split parts = data::split(text, 0.1);
    const data::Windows train(vocab.encode(parts.train), window, 1), val(vocab.encode(parts.val), window, 1);

    // One-hot characters -> SimpleRNN(hidden, tanh) -> dense softmax, on the last step of each window.
    nn::CharModel model({.cell = nn::Cell::RNNTanh, .layers = 1, .hidden = hidden}, vocab, seed);
    const size_t np = model.param_specs().size();
    std::vector<Spec> specs = model.param_specs();
    specs.push_back(Spec{{batch, window}, DType::i32, "windows"});
    specs.push_back(Spec{{batch}, DType::i32, "next"});
    Function loss = trace(
        [&](std::span<const Var> a) {
          std::vector<Var> zeros(1, full({batch, hidden}, 0.0));
          auto [logits, state] = model.forward(a.subspan(0, np), zeros, transpose(a[np]), {});
          Var last = slice(logits, 0, (window - 1) * batch, window * batch);
          return mean(softmax_cross_entropy(last, a[np + 1]));
        },
        specs);
    const auto t0 = std::chrono::steady_clock::now();
    CompileOptions copt;
    copt.threads = threads;
    std::vector<int> wrt;
    for (size_t i = 0; i < np; ++i) wrt.push_back(static_cast<int>(i));
    Compiled step = compile(value_and_grad(loss, wrt), copt);
    Compiled evaluate = compile(loss, copt);
    const double compile_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

    std::mt19937_64 rng(seed);
    optim::Optimizer opt(optim::RMSprop{.lr = 1e-3});
    std::uniform_int_distribution<int64_t> any(0, train.count() - 1), any_val(0, val.count() - 1);
    auto batch_of = [&](const data::Windows& w, std::uniform_int_distribution<int64_t>& pick) {
      std::vector<int64_t> which(batch);
      for (auto& i : which) i = pick(rng);
      return w.batch(which);
    };
    const int per_iteration = std::max(1, iters / std::max(1, epochs));
    double train_loss = 0, val_loss = 0;
    const auto t1 = std::chrono::steady_clock::now();
    for (int it = 1; it <= iters; ++it) {
      auto [x, y] = batch_of(train, any);
      std::vector<Tensor> args = model.params();
      args.push_back(x);
      args.push_back(y);
      std::vector<Tensor> out = step(args);
      train_loss = out[0].item();
      opt.step(model.params(), std::vector<Tensor>(out.begin() + 1, out.end()));
      if (it % per_iteration == 0 || it == iters) {
        auto [vx, vy] = batch_of(val, any_val);
        std::vector<Tensor> vargs = model.params();
        vargs.push_back(vx);
        vargs.push_back(vy);
        val_loss = evaluate(vargs)[0].item();
        const int64_t at = std::uniform_int_distribution<int64_t>(0, text.size() - window - 1)(rng);
        const std::u32string seed_text = text.substr(at, window);
        std::string sample = model.sample(seed_text, generate, {}, rng);
        for (char& c : sample) c = c == '\n' ? ' ' : c;
        fmt::print("iteration {} (step {}): loss {:.4f}, val_loss {:.4f}\n  \"{}\" -> \"{}\"\n", it / per_iteration, it,
                   train_loss, val_loss, data::encode_utf8(seed_text), sample);
      }
    }
    const double train_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
    fmt::print("summary: {{\"train_loss\": {:.4f}, \"val_loss\": {:.4f}, \"chars_per_s\": {:.0f}, \"compile_s\": {:.3f}}}\n",
               train_loss, val_loss, double(iters) * batch * window / std::max(train_s, 1e-9), compile_s);
  } catch (const std::exception& e) {
    fmt::print(stderr, "simple_rnn: {}\n", e.what());
    return 1;
  }
}
