// min-char-rnn, after Andrej Karpathy's tutorial: a vanilla RNN language model over characters,
// trained with Adagrad on chunks of 25 characters, the hidden state carried from chunk to chunk
// (truncated BPTT), gradients clipped to [-5, 5], and 200 sampled characters every 100 iterations.
//
// The model is written once, as math; rnnc differentiates it (the backward pass of the tutorial is
// derived automatically) and runs it. Usage: min_char_rnn [--data FILE|DIR] [--iters N] [--seed N]
#include <rnnc/rnnc.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fmt/format.h>
#include <functional>

using namespace rnnc;

#ifndef RNNC_DEFAULT_CORPUS
#define RNNC_DEFAULT_CORPUS "docs"
#endif

// ---- the model, in the tutorial's column-vector layout
struct Params {
  Var Wxh, Whh, Why, bh, by;
};

// One step: h = tanh(Wxh x + Whh h + bh), logits y = Why h + by.
std::pair<Var, Var> rnn_step(const Params& p, const Var& x, const Var& h) {
  Var h_next = tanh(matmul(p.Wxh, x) + matmul(p.Whh, h) + p.bh);
  return {h_next, matmul(p.Why, h_next) + p.by};
}

int main(int argc, char** argv) {
  CLI::App app{"min-char-rnn: a character-level vanilla RNN trained with Adagrad (after Karpathy)"};
  std::string data_path = RNNC_DEFAULT_CORPUS;
  int iters = 5000, hidden = 100, seq_length = 25, sample_every = 100, sample_chars = 200;
  bool interpret_only = false;
  uint64_t seed = 1;
  double lr = 0.1;
  app.add_option("--data", data_path, "text file, or a folder of .md files")->capture_default_str();
  app.add_option("--iters", iters, "training iterations")->capture_default_str();
  app.add_option("--seed", seed, "random seed")->capture_default_str();
  int threads = 0, epochs = 0;
  app.add_option("--threads", threads, "threads (0: all cores)")->capture_default_str();
  app.add_option("--epochs", epochs, "passes over the text (0: bounded by --iters only)")->capture_default_str();
  app.add_option("--hidden", hidden, "hidden units")->capture_default_str();
  app.add_option("--seq-length", seq_length, "characters per chunk (BPTT truncation)")->capture_default_str();
  app.add_option("--lr", lr, "Adagrad learning rate")->capture_default_str();
  app.add_option("--sample-every", sample_every, "iterations between samples (0: never)")->capture_default_str();
  app.add_flag("--interpret", interpret_only, "run through the reference interpreter instead of compiling");
  CLI11_PARSE(app, argc, argv);

  try {
    // A character is a code point; the vocabulary is the text's characters, sorted.
    const std::u32string text = data::decode_utf8(data::read_text(data_path), data_path);
    const data::Vocab vocab = data::Vocab::of(text);
    const Tensor encoded = vocab.encode(text);
    const int32_t* ix = encoded.data<int32_t>();
    const int V = vocab.size(), H = hidden, T = seq_length;
    if (static_cast<int>(text.size()) < T + 1) throw std::runtime_error("the text is shorter than one chunk");
    fmt::print("data has {} characters, {} unique.\n", text.size(), V);

    // Parameters: N(0, 0.01) weights, zero biases, as in the tutorial.
    std::mt19937_64 rng(seed);
    std::vector<Tensor> params = {Tensor::normal({H, V}, 0, 0.01, rng), Tensor::normal({H, H}, 0, 0.01, rng),
                                  Tensor::normal({V, H}, 0, 0.01, rng), Tensor::zeros({H, 1}), Tensor::zeros({V, 1})};
    std::vector<Spec> specs = {{{H, V}}, {{H, H}}, {{V, H}}, {{H, 1}}, {{V, 1}}, {{H, 1}, DType::f32, "hprev"},
                               {{T}, DType::i32, "inputs"}, {{T}, DType::i32, "targets"}};

    // The loss over one chunk; the final hidden state is an auxiliary output carried to the next chunk.
    auto t0 = std::chrono::steady_clock::now();
    Function loss_fn = trace([T, V](std::span<const Var> a) {
      Params p{a[0], a[1], a[2], a[3], a[4]};
      Var h = a[5], xs = one_hot(a[6], V), loss = full({}, 0.0);
      for (int t = 0; t < T; ++t) {
        auto [h_next, y] = rnn_step(p, transpose(slice(xs, 0, t, t + 1)), h);
        h = h_next;
        loss = loss + sum(softmax_cross_entropy(transpose(y), slice(a[7], 0, t, t + 1)));
      }
      return std::vector<Var>{loss, h};
    }, specs);
    Function train_step = value_and_grad(loss_fn, {0, 1, 2, 3, 4}, /*has_aux=*/true);  // loss, h, 5 gradients
    Function sample_step = trace([V](std::span<const Var> a) {
      auto [h, y] = rnn_step(Params{a[0], a[1], a[2], a[3], a[4]}, transpose(one_hot(a[6], V)), a[5]);
      return std::vector<Var>{reshape(y, {V}), h};  // logits; nn::generate draws from their softmax
    }, {specs[0], specs[1], specs[2], specs[3], specs[4], specs[5], Spec{{1}, DType::i32, "x"}});
    // Compiled: the graph optimised, its elementwise work fused into LLVM kernels. --interpret runs
    // the same functions through the reference interpreter instead (slower; for comparison).
    std::function<std::vector<Tensor>(const std::vector<Tensor>&)> run_train, run_sample;
    int kernels_compiled = 0;
    if (interpret_only) {
      run_train = [&](const std::vector<Tensor>& a) { return interpret(train_step, a); };
      run_sample = [&](const std::vector<Tensor>& a) { return interpret(sample_step, a); };
    } else {
      CompileOptions copt;
      copt.threads = threads;
      Compiled train = compile(train_step, copt), sampler = compile(sample_step, copt);
      kernels_compiled = train.stats().compiled_kernels + sampler.stats().compiled_kernels;
      fmt::print("{}\n", train.stats().str());
      run_train = train;
      run_sample = sampler;
    }
    const double compile_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

    // Karpathy's sampling: feed a character, draw the next from the softmax, feed it back; the
    // hidden state carries from step to step.
    nn::StepFn one_step = [&](const std::vector<Tensor>& state, int x) {
      std::vector<Tensor> args = params;
      args.push_back(state[0]);
      args.push_back(Tensor::from({double(x)}, {1}, DType::i32));
      std::vector<Tensor> r = run_sample(args);
      return std::pair<Tensor, std::vector<Tensor>>{r[0], {r[1]}};
    };
    auto sample = [&](const Tensor& h, int seed_ix, int n) {
      std::vector<int> ids = nn::generate(one_step, {h}, {seed_ix}, n, {}, rng);
      return vocab.decode(ids);
    };

    std::vector<Tensor> mem;  // Adagrad memory
    for (const Tensor& p : params) mem.push_back(Tensor::zeros(p.shape()));
    double smooth_loss = -std::log(1.0 / V) * T;
    Tensor hprev = Tensor::zeros({H, 1});
    size_t p = 0;
    auto train_start = std::chrono::steady_clock::now();
    long chars_seen = 0;
    std::vector<double> recent;  // per-character losses of the last 100 iterations
    int passes = 0;
    for (int n = 0; n < iters; ++n) {
      if (p + T + 1 > text.size()) {  // end of the text: reset the memory and go from the start
        hprev = Tensor::zeros({H, 1});
        p = 0;
        if (epochs > 0 && ++passes >= epochs) break;
      }
      Tensor inputs(DType::i32, {T}), targets(DType::i32, {T});
      for (int t = 0; t < T; ++t) inputs.set(t, ix[p + t]), targets.set(t, ix[p + t + 1]);
      if (sample_every > 0 && n % sample_every == 0)
        fmt::print("----\n {} \n----\n", sample(hprev, ix[p], sample_chars));

      std::vector<Tensor> args = params;
      args.insert(args.end(), {hprev, inputs, targets});
      std::vector<Tensor> out = run_train(args);
      const double loss = out[0].item();
      hprev = out[1];  // the state carries on; its gradient stopped at the chunk boundary
      smooth_loss = smooth_loss * 0.999 + loss * 0.001;
      recent.push_back(loss / T);
      if (recent.size() > 100) recent.erase(recent.begin());
      if (n % 100 == 0) fmt::print("iter {}, loss: {:f}\n", n, smooth_loss);

      // Adagrad with gradients clipped to [-5, 5]: mem += g^2; param -= lr g / sqrt(mem + 1e-8)
      for (size_t k = 0; k < params.size(); ++k) {
        float* w = params[k].data<float>();
        float* m = mem[k].data<float>();
        const float* g = out[2 + k].data<float>();
        for (int64_t i = 0; i < params[k].numel(); ++i) {
          float gi = std::clamp(g[i], -5.0f, 5.0f);
          m[i] += gi * gi;
          w[i] -= static_cast<float>(lr) * gi / std::sqrt(m[i] + 1e-8f);
        }
      }
      p += T;
      chars_seen += T;
    }
    const double train_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - train_start).count();
    // train_loss: mean nats per character over the last 100 iterations.
    double train_loss = 0;
    for (double l : recent) train_loss += l / static_cast<double>(recent.size());
    fmt::print("summary: {{\"train_loss\": {:.4f}, \"val_loss\": null, \"chars_per_s\": {:.0f}, \"compile_s\": {:.3f}, "
               "\"kernels_compiled\": {}}}\n",
               train_loss, chars_seen / std::max(train_s, 1e-9), compile_s, kernels_compiled);
  } catch (const std::exception& e) {
    fmt::print(stderr, "min_char_rnn: {}\n", e.what());
    return 1;
  }
}
