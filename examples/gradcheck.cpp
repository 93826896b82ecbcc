// Whole training steps, checked: for a vanilla RNN, an LSTM and a GRU, the gradient of a
// character model's loss over several time steps (with the incoming state as an input, as in
// truncated BPTT) is compared with central finite differences in float64, parameter by parameter.
//
// Usage: gradcheck [--seed N] [--seq-length T] [--hidden H]
#include <rnnc/program.h>
#include <rnnc/rnnc.h>

#include <fmt/format.h>

using namespace rnnc;

// The training loss of a character model around the cell (one-hot in, the cell over T steps from
// an incoming state, a dense softmax out: nn::CharRNN), at a random point; a line per parameter.
template <class Cell> bool check(const char* name, int64_t T, int64_t H, uint64_t seed) {
  const int V = 7, B = 3;
  std::mt19937_64 rng(seed);
  auto model = nn::CharRNN<Cell>::init(V, H, rng, {}, DType::f64);
  auto state = model.initial_state(B);
  tree::for_each(state, [&](const std::string&, Leaf& l) { l = Tensor::uniform({B, H}, -0.6, 0.6, rng, DType::f64); });
  Tensor x(DType::i32, {T, B}), y(DType::i32, {T, B});
  for (int64_t i = 0; i < x.numel(); ++i) x.set(i, double(rng() % V)), y.set(i, double(rng() % V));
  Rng off = Rng::evaluation();
  auto [f, args] = compile(nn::CharRNN<Cell>::loss).function(model, state, data::TextBatch{x, y}, off);
  GradcheckReport r = gradcheck(f, args);
  for (const InputCheck& in : r.inputs)
    fmt::print("{:10} {:24} {:>8} {:>14.3g}{}\n", name, in.name, in.probes, in.max_rel_error, in.ok ? "" : "  FAILED");
  return r.ok;
}

int main(int argc, char** argv) {
  program::Program p("gradcheck", "autodiff vs finite differences for RNN, LSTM and GRU training steps",
                     {.seq_length = 5}, program::take::seed | program::take::seq_length);
  int H = 6;
  p.option("--hidden", H, "hidden units")->check(cli::at_least(1));
  bool all_ok = true;
  const int status = p.run(argc, argv, [&](const program::Common& o) {
    fmt::print("{:10} {:24} {:>8} {:>14}\n", "cell", "parameter", "probes", "worst rel err");
    all_ok = check<nn::RNNCell>("rnn_tanh", o.seq_length, H, o.seed) &
             check<nn::LSTMCell>("lstm", o.seq_length, H, o.seed) & check<nn::GRUCell>("gru", o.seq_length, H, o.seed);
    fmt::print("{}\n", all_ok ? "gradcheck passed for every cell" : "gradcheck FAILED");
    fmt::print("{}\n", report::summary_line({{"train_loss", std::nullopt, "nothing is trained"},
                                             {"val_loss", std::nullopt, "nothing is trained"},
                                             {"chars_per_s", std::nullopt, "nothing is trained"},
                                             {"compile_s", 0.0},
                                             {"ok", all_ok ? 1.0 : 0.0}}));
  });
  return status != 0 ? status : all_ok ? 0 : 1;
}
