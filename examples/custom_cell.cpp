// Your own recurrent cell, in ten lines: the minimal gated unit (Zhou et al., 2016). rnnc derives
// its gradient (checked here against finite differences) and fuses its elementwise work into LLVM
// kernels, exactly as for the library's LSTM, whose speed is printed beside it.
//
// Usage: custom_cell [--data FILE|DIR] [--iters N] [--seed N] [--threads N]
#include <rnnc/rnnc.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <fmt/format.h>

using namespace rnnc;

// ---- the cell: one forget gate f decides how much of h to replace by a candidate.
//   f  = sigmoid([x, h] Wf + bf)
//   h~ = tanh(x Wh + (f * h) Uh + bh)
//   h' = (1 - f) h + f h~
// w = {Wf [I + H, H], Wh [I, H], Uh [H, H], bf [H], bh [H]}
Var mgu(const Var& x, const Var& h, std::span<const Var> w) {
  Var f = sigmoid(matmul(concat({x, h}, 1), w[0]) + w[3]);
  Var candidate = tanh(matmul(x, w[1]) + matmul(f * h, w[2]) + w[4]);
  return (1.0 - f) * h + f * candidate;
}

std::vector<Spec> mgu_specs(int64_t I, int64_t H, DType t = DType::f32) {
  return {Spec{{I + H, H}, t, "Wf"}, Spec{{I, H}, t, "Wh"}, Spec{{H, H}, t, "Uh"}, Spec{{H}, t, "bf"}, Spec{{H}, t, "bh"}};
}

// ---- a character model around any cell: one-hot input, the cell scanned over T steps (nn::recur),
// a dense softmax at every step.
// Inputs: the cell's weights, dense w [V, H], b [V], h0 (and c0 for an LSTM), inputs/targets [T, B].
using CellFn = std::function<nn::State(const Var& x, const nn::State& s, std::span<const Var> w)>;

Function char_model(const CellFn& cell, std::vector<Spec> specs, bool lstm, int V, int H, int T, int B, DType t) {
  const size_t nw = specs.size();
  specs.push_back(Spec{{V, H}, t, "dense.weight"});
  specs.push_back(Spec{{V}, t, "dense.bias"});
  specs.push_back(Spec{{B, H}, t, "h0"});
  if (lstm) specs.push_back(Spec{{B, H}, t, "c0"});
  specs.push_back(Spec{{T, B}, DType::i32, "inputs"});
  specs.push_back(Spec{{T, B}, DType::i32, "targets"});
  return trace(
      [=](std::span<const Var> a) {
        size_t k = nw + 2;
        nn::State s{a[k++], {}};
        if (lstm) s.c = a[k++];
        // The cell scanned over the T steps (traced once), a dense softmax over every step's output.
        auto [hs, last] = nn::recur([&](const Var& x, const nn::State& st) { return cell(x, st, a.subspan(0, nw)); },
                                    one_hot(a[k], V, t), s);
        Var logits = nn::linear(reshape(hs, {T * B, H}), a[nw], a[nw + 1]);
        Var loss = mean(softmax_cross_entropy(logits, reshape(a[k + 1], {T * B})));
        s = last;
        std::vector<Var> out = {loss, s.h};
        if (lstm) out.push_back(s.c);
        return out;
      },
      specs);
}

int main(int argc, char** argv) {
  CLI::App app{"custom_cell: a minimal gated unit in ten lines, checked, trained and timed beside the LSTM"};
  std::string data_path = RNNC_DEFAULT_CORPUS;
  int iters = 300, threads = 0, epochs = 0;
  uint64_t seed = 1;
  app.add_option("--data", data_path, "text file, or a folder of .md files")->capture_default_str();
  app.add_option("--iters", iters, "training steps per model")->capture_default_str();
  app.add_option("--epochs", epochs, "ignored (the run is bounded by --iters)");
  app.add_option("--seed", seed, "random seed")->capture_default_str();
  app.add_option("--threads", threads, "threads (0: all cores)")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  try {
    const CellFn mgu_cell = [](const Var& x, const nn::State& s, std::span<const Var> w) {
      return nn::State{mgu(x, s.h, w), {}};
    };
    const CellFn lstm_cell = [](const Var& x, const nn::State& s, std::span<const Var> w) {
      return nn::lstm_cell(x, s, nn::weights(w));
    };

    // 1. Its gradient against finite differences, in float64, on a small model.
    {
      Function f = char_model(mgu_cell, mgu_specs(5, 4, DType::f64), false, 5, 4, 3, 2, DType::f64);
      std::mt19937_64 rng(seed);
      std::vector<Tensor> args;
      for (const Spec& s : f.input_specs())
        args.push_back(s.dtype == DType::i32 ? Tensor::from({0, 3, 1, 4, 2, 2}, s.shape, DType::i32)
                                             : Tensor::uniform(s.shape, -0.5, 0.5, rng, s.dtype));
      GradcheckReport r = gradcheck(f, args);
      fmt::print("{}", r.str());
      if (!r.ok) return 1;
    }

    // 2. Train it, and the library's LSTM, on the same text, the same way.
    const std::u32string text = data::decode_utf8(data::read_text(data_path), data_path);
    const data::Vocab vocab = data::Vocab::of(text);
    const int V = vocab.size(), H = 128, T = 32, B = 32;
    const data::Streams streams(vocab.encode(text), B, T);
    CompileOptions copt;
    copt.threads = threads;
    double mgu_loss = 0, mgu_speed = 0, compile_s = 0;
    for (const bool lstm : {false, true}) {
      std::mt19937_64 rng(seed);
      std::vector<Spec> specs = lstm ? nn::weight_specs(nn::Cell::LSTM, V, H) : mgu_specs(V, H);
      const auto t0 = std::chrono::steady_clock::now();
      Function model = char_model(lstm ? lstm_cell : mgu_cell, specs, lstm, V, H, T, B, DType::f32);
      std::vector<int> wrt;
      for (size_t i = 0; i < specs.size() + 2; ++i) wrt.push_back(static_cast<int>(i));
      Compiled step = compile(value_and_grad(model, wrt, /*has_aux=*/true), copt);
      compile_s += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      std::vector<Tensor> params;
      for (const Spec& s : specs) params.push_back(Tensor::uniform(s.shape, -0.09, 0.09, rng));
      params.push_back(Tensor::uniform({V, H}, -0.09, 0.09, rng));
      params.push_back(Tensor::zeros({V}));
      std::vector<Tensor> state(lstm ? 2 : 1, Tensor::zeros({B, H}));
      optim::Optimizer opt(optim::Adam{.lr = 3e-3});
      double loss = 0;
      const auto t1 = std::chrono::steady_clock::now();
      for (int it = 0; it < iters; ++it) {
        const int64_t k = it % streams.chunks();
        if (k == 0) state.assign(state.size(), Tensor::zeros({B, H}));
        auto [in, tg] = streams.chunk(k);
        std::vector<Tensor> args = params;
        args.insert(args.end(), state.begin(), state.end());
        args.push_back(in);
        args.push_back(tg);
        std::vector<Tensor> out = step(args);
        loss = out[0].item();
        for (size_t i = 0; i < state.size(); ++i) state[i] = out[1 + i];
        opt.step(params, std::vector<Tensor>(out.begin() + 1 + state.size(), out.end()));
      }
      const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
      const double speed = double(iters) * T * B / std::max(secs, 1e-9);
      fmt::print("{:5} {} kernels/step: loss {:.3f} nats/char after {} steps, {:.0f} chars/s\n", lstm ? "lstm" : "mgu",
                 step.stats().kernels, loss, iters, speed);
      if (!lstm) mgu_loss = loss, mgu_speed = speed;
    }
    fmt::print("summary: {{\"train_loss\": {:.4f}, \"val_loss\": null, \"chars_per_s\": {:.0f}, \"compile_s\": {:.3f}}}\n",
               mgu_loss, mgu_speed, compile_s);
  } catch (const std::exception& e) {
    fmt::print(stderr, "custom_cell: {}\n", e.what());
    return 1;
  }
}
