// A user's program against an installed rnnc: a cell of its own, trained a few steps.
#include <rnnc/rnnc.h>

#include <cstdio>

using namespace rnnc;

struct Model {
  nn::RNN<nn::GRUCell> rnn;
  nn::Linear head;
  RNNC_TREE(rnn, head)
};

int main() {
  std::mt19937_64 rng(1);
  Model m{nn::RNN<nn::GRUCell>::init(4, 8, rng), nn::Linear::init(8, 4, rng)};
  Tensor x(DType::i32, {6, 1}), y(DType::i32, {6, 1});
  for (int t = 0; t < 6; ++t) x.set(t, t % 4), y.set(t, (t + 1) % 4);
  auto loss = [](const Model& m, const Var& x, const Var& y) {
    auto [hs, last] = m.rnn(one_hot(x, 4), m.rnn.initial_state(1));
    return mean(softmax_cross_entropy(m.head(reshape(hs, {6, 8})), reshape(y, {6})));
  };
  auto step = compile(value_and_grad(loss));
  optim::Optimizer opt(optim::Adam{.lr = 0.05});
  double first = 0, last = 0;
  for (int i = 0; i < 100; ++i) {
    auto [l, grads] = step(m, x, y);
    opt.step(m, grads);
    (i == 0 ? first : last) = l.item();
  }
  std::printf("outside project: loss %.3f -> %.3f\n", first, last);
  return last < first / 4 ? 0 : 1;
}
