// min-char-rnn, after Andrej Karpathy's tutorial: a vanilla RNN language model over characters,
// trained with Adagrad on chunks of 25 characters, the hidden state carried from chunk to chunk
// (truncated BPTT), gradients clipped to [-5, 5], and 200 sampled characters every 100 iterations.
//
// The model is written once, as math; rnnc differentiates it (the backward pass of the tutorial is
// derived automatically) and runs it. Usage: min_char_rnn [--data PATH] [--steps N] [--seed N] ...
#include <rnnc/program.h>
#include <rnnc/rnnc.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fmt/format.h>

using namespace rnnc;

// ---- the model: the tutorial's math, in PyTorch's layout (W [out, in]; x and h are rows [1, n])
//   h_t = tanh(Wxh x_t + Whh h_{t-1} + bh)     ->  h = tanh(x Wxh^T + h Whh^T + bh)
//   y_t = Why h_t + by                          ->  y = h Why^T + by
//   p_t = softmax(y_t), loss = sum_t -log p_t[target_t]
struct RNN {
  Param Wxh, Whh, Why, bh, by;
  RNNC_TREE(Wxh, Whh, Why, bh, by)

  // One step: the next hidden state and the logits of the next character.
  std::pair<Var, Var> step(const Var& x, const Var& h) const {
    Var h_next = tanh(matmul(x, transpose(Wxh)) + matmul(h, transpose(Whh)) + bh);
    return {h_next, matmul(h_next, transpose(Why)) + by};
  }
};
struct Chunk {
  Leaf inputs, targets;  // T characters, and the T characters after them
  RNNC_TREE(inputs, targets)
};

int main(int argc, char** argv) {
  program::Program p("min_char_rnn", "a character-level vanilla RNN trained with Adagrad (after Karpathy)",
                     {.steps = 5000, .seq_length = 25}, program::take::training | program::take::seq_length);
  int hidden = 100, sample_every = 100, sample_chars = 200;
  bool interpret_only = false;
  double lr = 0.1;
  p.option("--hidden", hidden, "hidden units")->check(cli::at_least(1));
  p.option("--lr", lr, "Adagrad learning rate")->check(cli::positive());
  p.option("--sample-every", sample_every, "steps between samples (0: never)")->check(cli::at_least(0));
  p.app().add_flag("--interpret", interpret_only, "run through the reference interpreter instead of compiling");
  return p.run(argc, argv, [&](const program::Common& o) {
    // A character is a code point; the vocabulary is the text's characters, sorted.
    const std::u32string text = data::decode_utf8(data::read_text(o.data), o.data);
    const data::Vocab vocab = data::Vocab::of(text);
    const Tensor encoded = vocab.encode(text);
    const int32_t* ix = encoded.data<int32_t>();
    const int V = vocab.size(), H = hidden, T = static_cast<int>(o.seq_length);
    if (static_cast<int>(text.size()) < T + 1)
      throw Error(fmt::format("the text has {} characters, fewer than one chunk of {} and its target", text.size(), T));
    fmt::print("data has {} characters, {} unique.\n", text.size(), V);

    // Parameters: N(0, 0.01) weights, zero biases, as in the tutorial.
    std::mt19937_64 rng(o.seed);
    RNN model{Tensor::normal({H, V}, 0, 0.01, rng), Tensor::normal({H, H}, 0, 0.01, rng),
              Tensor::normal({V, H}, 0, 0.01, rng), Tensor::zeros({H}), Tensor::zeros({V})};

    // The loss over one chunk, the recurrence scanned over its T characters; the final hidden
    // state is the second output, carried to the next chunk.
    auto loss_fn = [V](const RNN& p, const Var& hprev, const Chunk& c) {
      auto [h, ys] = scan([&](const Var& h, const Var& x) { return p.step(x, h); }, hprev,
                          one_hot(reshape(c.inputs, {-1, 1}), V));  // [T, 1, V]
      return std::pair{sum(softmax_cross_entropy(reshape(ys, {-1, V}), c.targets)), h};
    };
    // One character in, the logits of the next out (nn::generate draws from their softmax).
    auto sample_fn = [V](const RNN& p, const Var& h, const Var& x) {
      auto [h_next, y] = p.step(one_hot(x, V), h);
      return std::pair{reshape(y, {V}), h_next};
    };
    // Compiled: the graph optimised, its elementwise work fused into LLVM kernels, at the first
    // call. --interpret runs the same functions through the reference interpreter (for comparison).
    const CompileOptions copt = o.compile();
    auto train_step = interpret_only ? interpret(value_and_grad(loss_fn)) : compile(value_and_grad(loss_fn), copt);
    auto sample_step = interpret_only ? interpret(sample_fn) : compile(sample_fn, copt);

    // Karpathy's sampling: feed a character, draw the next from the softmax, feed it back; the
    // hidden state carries from step to step.
    auto sample = [&](const Tensor& h, int seed_ix, int n) {
      auto one_step = [&](const Tensor& h, int x) {
        return sample_step(model, h, Tensor::from({double(x)}, {1}, DType::i32));
      };
      return vocab.decode(nn::generate(one_step, h, {seed_ix}, n, {}, rng));
    };

    // Adagrad (mem += g^2; param -= lr g / (sqrt(mem) + eps)), gradients clipped to [-5, 5].
    optim::Optimizer adagrad(optim::Adagrad{.lr = lr}, copt);
    double smooth_loss = -std::log(1.0 / V) * T;
    Tensor hprev = Tensor::zeros({1, H});
    double compile_s = 0, first_loss = std::nan("");
    int kernels_compiled = 0;
    size_t p = 0;
    auto train_start = std::chrono::steady_clock::now();
    long chars_seen = 0;
    std::vector<double> recent;  // per-character losses of the last 100 iterations
    int passes = 0;
    const auto started = std::chrono::steady_clock::now();
    auto spent = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count(); };
    for (int64_t n = 0; n < o.steps && !(o.time > 0 && spent() >= o.time); ++n) {
      if (p + T + 1 > text.size()) {  // end of the text: reset the memory and go from the start
        hprev = Tensor::zeros({1, H});
        p = 0;
        if (o.epochs > 0 && ++passes >= o.epochs) break;
      }
      Tensor inputs(DType::i32, {T}), targets(DType::i32, {T});
      for (int t = 0; t < T; ++t) inputs.set(t, ix[p + t]), targets.set(t, ix[p + t + 1]);
      if (sample_every > 0 && n % sample_every == 0)
        fmt::print("----\n {} \n----\n", sample(hprev, ix[p], sample_chars));

      const auto t0 = std::chrono::steady_clock::now();
      auto [loss_value, h, grads] = train_step(model, hprev, Chunk{inputs, targets});
      if (n == 0) {  // the first call traced and compiled the step
        compile_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (!interpret_only) fmt::print("{}\n", train_step.compiled().stats().str());
      }
      const double loss = loss_value.item();
      // A NaN or a loss 10x the first one: stop, naming the step (and the op that made the NaN).
      nn::check_loss(loss, n + 1, first_loss, 10, [&] {
        auto [f, args] = train_step.function(model, hprev, Chunk{inputs, targets});
        return first_non_finite(f, args);
      });
      if (n == 0) first_loss = loss;
      hprev = h;  // the state carries on; its gradient stopped at the chunk boundary
      smooth_loss = smooth_loss * 0.999 + loss * 0.001;
      recent.push_back(loss / T);
      if (recent.size() > 100) recent.erase(recent.begin());
      if (n % 100 == 0) fmt::print("iter {}, loss: {:f}\n", n, smooth_loss);
      optim::clip_by_value(grads, -5, 5);
      adagrad.step(model, grads);
      p += T;
      chars_seen += T;
    }
    const double train_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - train_start).count() - compile_s;
    if (!interpret_only)  // kernels LLVM compiled in this process (none when all came from the disk cache)
      for (const auto* f : {train_step.signatures() ? &train_step.compiled() : nullptr,
                            sample_step.signatures() ? &sample_step.compiled() : nullptr})
        kernels_compiled += f ? f->stats().compiled_kernels : 0;
    // train_loss: mean nats per character over the last 100 iterations.
    std::optional<double> train_loss, speed;
    if (!recent.empty()) {
      train_loss = 0;
      for (double l : recent) *train_loss += l / static_cast<double>(recent.size());
      speed = chars_seen / std::max(train_s, 1e-9);
    }
    fmt::print("{}\n", report::summary_line({{"train_loss", train_loss, "no iterations"},
                                             {"val_loss", std::nullopt, "no validation text"},
                                             {"chars_per_s", speed, "no iterations"},
                                             {"compile_s", compile_s},
                                             {"kernels_compiled", kernels_compiled}}));
  });
}
