// The README's tour, compiled and run by the tests so that it stays true.
#include <rnnc/rnnc.h>

#include <iostream>

using namespace rnnc;

// A cell is an ordinary function of Vars: here, a vanilla RNN written out (the library has LSTM
// and GRU too). Autodiff derives its backward pass; compile() fuses it into LLVM kernels.
Var my_cell(const Var& x, const Var& h, std::span<const Var> w) {
  return tanh(matmul(x, w[0]) + matmul(h, w[1]) + w[2]);
}

int main() {
  // Text -> a vocabulary -> B parallel streams of chunks of T characters.
  const std::u32string text = data::decode_utf8(data::read_text(RNNC_DEFAULT_CORPUS));
  const data::Vocab vocab = data::Vocab::of(text);
  const int V = vocab.size(), H = 64, T = 16, B = 8;
  const data::Streams streams(vocab.encode(text), B, T);

  // The training step: the cell scanned over T steps from a carried state (the graph holds it
  // once), a softmax over the next character at every step.
  Function loss = trace([&](std::span<const Var> a) {  // a: Wx, Wh, b, Wy, by, h0, inputs, targets
    Scanned r = scan([&](std::span<const Var> h, std::span<const Var> x) -> ScanStep {
      Var h1 = my_cell(x[0], h[0], a.subspan(0, 3));
      return {{h1}, {h1}};                                 // the next state; this step's output
    }, {a[5]}, {one_hot(a[6], V)});                        // h0; inputs [T, B] -> one-hot [T, B, V]
    Var logits = matmul(reshape(r.ys[0], {T * B, H}), a[3]) + a[4];
    return std::vector<Var>{mean(softmax_cross_entropy(logits, reshape(a[7], {T * B}))), r.carries[0]};
  }, {Spec{{V, H}}, Spec{{H, H}}, Spec{{H}}, Spec{{H, V}}, Spec{{V}}, Spec{{B, H}}, Spec{{T, B}, DType::i32},
      Spec{{T, B}, DType::i32}});
  Compiled step = compile(value_and_grad(loss, {0, 1, 2, 3, 4}, /*has_aux=*/true));  // BPTT, fused

  std::mt19937_64 rng(0);
  std::vector<Tensor> w = {Tensor::uniform({V, H}, -0.1, 0.1, rng), Tensor::uniform({H, H}, -0.1, 0.1, rng),
                           Tensor::zeros({H}), Tensor::uniform({H, V}, -0.1, 0.1, rng), Tensor::zeros({V})};
  optim::Optimizer opt(optim::Adam{.lr = 5e-3});
  Tensor h = Tensor::zeros({B, H});
  double first = 0, last = 0;
  for (int64_t k = 0; k < std::min<int64_t>(streams.chunks(), 120); ++k) {
    auto [x, y] = streams.chunk(k);
    std::vector<Tensor> args = w;
    args.insert(args.end(), {h, x, y});
    std::vector<Tensor> out = step(args);  // loss, final state, 5 gradients
    h = out[1];                            // the state carries on; the gradient stops at the chunk
    opt.step(w, std::vector<Tensor>(out.begin() + 2, out.end()));
    (k == 0 ? first : last) = out[0].item();
  }
  std::cout << "loss " << first << " -> " << last << " nats/char; " << step.stats().str() << "\n";

  // Sampling: one step per character, the state carried, temperature 0.7.
  Function one = trace([&](std::span<const Var> a) {
    Var h1 = my_cell(one_hot(a[6], V), a[5], a.subspan(0, 3));
    return std::vector<Var>{reshape(matmul(h1, a[3]) + a[4], {V}), h1};
  }, {Spec{{V, H}}, Spec{{H, H}}, Spec{{H}}, Spec{{H, V}}, Spec{{V}}, Spec{{1, H}}, Spec{{1}, DType::i32}});
  Compiled sampler = compile(one);
  nn::StepFn next = [&](const std::vector<Tensor>& s, int c) {
    std::vector<Tensor> args = w;
    args.insert(args.end(), {s[0], Tensor::from({double(c)}, {1}, DType::i32)});
    std::vector<Tensor> r = sampler(args);
    return std::pair<Tensor, std::vector<Tensor>>{r[0], {r[1]}};
  };
  std::cout << "sample: T" << vocab.decode(nn::generate(next, {Tensor::zeros({1, H})}, {vocab.index(U'T')}, 80,
                                                          {.temperature = 0.7}, rng))
            << "\n";
  return last < first - 0.5 ? 0 : 1;
}
