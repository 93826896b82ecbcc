// The quality an exported model keeps in each weight format (issue 30): the validation loss (nats
// per character) of a character LSTM checkpoint stepped one character at a time, the state
// carried, as its exported library steps it (stream_model: the same program and kernels, the same
// bits, test_export), with float32, bf16 and int8 weights. The validation text is the last
// --val-frac of the file, as `rnnc train` splits it. First the same loss computed as training
// computes it (the model over chunks of 50, the state carried): the float32 stream gives it.
//   export_quality CHECKPOINT TEXT [--val-frac 0.05] [--chars N]
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>

#include "rnnc/char_rnn.h"

using namespace rnnc;

int main(int argc, char** argv) {
  CLI::App app{"validation loss of a character LSTM stepped with float32, bf16 and int8 weights"};
  std::string checkpoint, text_file;
  double val_frac = 0.05;
  int64_t chars = 0;
  app.add_option("checkpoint", checkpoint)->required();
  app.add_option("text", text_file)->required();
  app.add_option("--val-frac", val_frac)->capture_default_str();
  app.add_option("--chars", chars, "at most this many validation characters (0: all)");
  CLI11_PARSE(app, argc, argv);
  try {
    data::Vocab vocab;
    const auto m = nn::from_checkpoint<nn::LSTMCell>(io::load(checkpoint), &vocab);
    const std::u32string text = data::decode_utf8(data::read_text(text_file), text_file);
    const Tensor ids = vocab.encode(data::split(text, val_frac).val);
    const int64_t n = chars > 0 ? std::min<int64_t>(chars + 1, ids.numel()) : ids.numel();
    using State = nn::CharRNN<nn::LSTMCell>::State;
    fmt::print("{} validation characters of {}; {} layers of {}\n", n - 1, text_file, m.rnn.layers.size(), m.hidden());
    {  // The training loss over chunks of 50 at batch 1, the state carried: what rnnc train reports.
      auto loss = compile(nn::CharRNN<nn::LSTMCell>::loss);
      Rng off = Rng::evaluation();
      State s = m.initial_state(1);
      double sum = 0;
      int64_t count = 0;
      for (int64_t t = 0; t + 51 <= n; t += 50) {
        std::vector<double> x, y;
        for (int64_t i = 0; i < 50; ++i) x.push_back(ids.at(t + i)), y.push_back(ids.at(t + i + 1));
        auto [l, next] = loss(
            m, s, data::TextBatch{Tensor::from(x, {50, 1}, DType::i32), Tensor::from(y, {50, 1}, DType::i32)}, off);
        s = next;
        sum += l.at(0) * 50;
        count += 50;
      }
      fmt::print("chunks of 50, the training loss: {:.6f} nats/char\n", sum / static_cast<double>(count));
    }
    for (const char* mode : {"f32", "bf16", "int8"}) {
      CompileOptions o;
      o.bf16 = std::string(mode) == "bf16";
      o.int8 = std::string(mode) == "int8";
      auto step = compile([&m](const State& s, const Var& c) { return nn::CharRNN<nn::LSTMCell>::next(m, s, c); }, o);
      nn::detail::CharStream stream(stream_model(step, m.initial_state(1), Tensor::zeros({1}, DType::i32)), m.vocab);
      double loss = 0;
      const auto t0 = std::chrono::steady_clock::now();
      for (int64_t t = 0; t + 1 < n; ++t) {
        const auto* l = static_cast<const float*>(stream.step(static_cast<int>(ids.at(t))).raw());
        const float top = *std::max_element(l, l + m.vocab);
        double sum = 0;
        for (int64_t v = 0; v < m.vocab; ++v) sum += std::exp(static_cast<double>(l[v] - top));
        loss += std::log(sum) + top - l[static_cast<int64_t>(ids.at(t + 1))];
      }
      const double us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
      fmt::print("{:5} val_loss {:.6f} nats/char  ({:.1f} us/char)\n", mode, loss / static_cast<double>(n - 1),
                 us / static_cast<double>(n - 1));
    }
  } catch (const std::exception& e) {
    fmt::print(stderr, "export_quality: {}\n", e.what());
    return 1;
  }
  return 0;
}
