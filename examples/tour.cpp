// The README's tour, compiled and run by the tests; the README shows the code between the
// "tour" markers, and a test checks that it is the same text.
#include <rnnc/rnnc.h>

#include <iostream>

using namespace rnnc;

// [tour]
// A cell of your own: named parameters and one step of math (PyTorch's layout, W [out, in]).
// Autodiff derives its backward pass; compile() fuses it into LLVM kernels.
struct MyRNN {
  Param weight_ih, weight_hh, bias;
  RNNC_TREE(weight_ih, weight_hh, bias)

  static MyRNN init(int64_t in, int64_t hidden, std::mt19937_64& rng, DType t = DType::f32) {
    return {Tensor::uniform({hidden, in}, -0.1, 0.1, rng, t), Tensor::uniform({hidden, hidden}, -0.1, 0.1, rng, t),
            Tensor::zeros({hidden}, t)};
  }
  nn::Hidden initial_state(int64_t batch) const { return {Tensor::zeros({batch, weight_hh.shape()[0]})}; }
  nn::Hidden operator()(const Var& x, const nn::Hidden& s) const {  // h' = tanh(W x + U h + b)
    return {tanh(matmul(x, transpose(weight_ih)) + matmul(s.h, transpose(weight_hh)) + bias)};
  }
};

// A model is a tree of parts; every leaf has a path, "rnn.layers.0.weight_ih", for checkpoints,
// optimizer state and errors.
struct Model {
  nn::RNN<MyRNN> rnn;  // any cell over a sequence, as one scan (traced once, however long)
  nn::Linear head;
  RNNC_TREE(rnn, head)
};
struct Batch {
  Leaf x, y;  // characters [T, B] and the characters after them
  RNNC_TREE(x, y)
};

int main() {
  const std::u32string text = data::decode_utf8(data::read_text(RNNC_DEFAULT_CORPUS));
  const data::Vocab vocab = data::Vocab::of(text);
  const int V = vocab.size(), H = 64, T = 16, B = 8;
  const data::Streams streams(vocab.encode(text), B, T);  // B streams of T-character chunks

  std::mt19937_64 rng(0);
  Model model{nn::RNN<MyRNN>::init(V, H, rng), nn::Linear::init(H, V, rng)};
  auto loss = [V](const Model& m, const std::vector<nn::Hidden>& state, const Batch& b) {
    auto [hs, next] = m.rnn(one_hot(b.x, V), state);  // [T, B, H] and the final state
    Var logits = m.head(reshape(hs, {-1, hs.shape()[2]}));
    return std::pair{mean(softmax_cross_entropy(logits, reshape(b.y, {-1}))), next};
  };
  auto step = compile(value_and_grad(loss));  // BPTT, optimised, fused, JIT-compiled at the first call
  optim::Optimizer opt(optim::Adam{.lr = 5e-3});
  auto state = model.rnn.initial_state(B);
  double first = 0, last = 0;
  for (int64_t k = 0; k < std::min<int64_t>(streams.chunks(), 120); ++k) {  // truncated BPTT
    auto [x, y] = streams.chunk(k);
    auto [l, next, grads] = step(model, state, Batch{x, y});  // grads is a Model
    state = next;                                             // the state carries on; the gradient stops
    opt.step(model, grads);
    (k == 0 ? first : last) = l.item();
  }
  std::cout << "loss " << first << " -> " << last << " nats/char; " << step.compiled().stats().str() << "\n";

  // Sampling: one character per call, the state carried, temperature 0.7.
  auto one = compile([V](const Model& m, const std::vector<nn::Hidden>& s, const Var& c) {
    auto [h, next] = m.rnn(one_hot(reshape(c, {1, 1}), V), s);
    return std::pair{reshape(m.head(reshape(h, {1, -1})), {V}), next};
  });
  auto next_char = [&](const std::vector<nn::Hidden>& s, int c) {
    return one(model, s, Tensor::from({double(c)}, {1}, DType::i32));
  };
  const std::vector<int> ids =
      nn::generate(next_char, model.rnn.initial_state(1), {vocab.index(U'T')}, 80, {.temperature = 0.7}, rng);
  std::cout << "sample: T" << vocab.decode(ids) << "\n";
  // [/tour]
  return last < first - 0.5 ? 0 : 1;
}
