// `rnnc train`: char-rnn's train.lua as a verb of the tool, on nn::fit and nn::CharRNN.
#pragma once
#include <rnnc/program.h>

#include <cstdint>
#include <set>
#include <string>

namespace rnnc::tool {

// The defaults are the recipe that reached the lowest validation loss on tiny Shakespeare in ten
// minutes on two cores (docs/performance.md, "Quality per minute"): a 2-layer LSTM 384, dropout
// 0.4, 32 streams of 100 characters, Adam 2e-3 annealed over the second half of the budget,
// bfloat16 GEMMs where they pay.
struct TrainOptions {
  // --data (empty: the corpus), --steps, --epochs, --time, --seq-length, --seed, --threads
  program::Common common{.data = "", .seq_length = 100, .seed = 123};
  std::string cell = "lstm";  // lstm, gru, rnn (tanh), rnn_relu
  int layers = 2, hidden = 384, embedding = 0;
  double dropout = 0.4;
  int batch = 32;
  std::string optimizer = "adam";  // adam, rmsprop, adagrad, sgd
  double lr = 2e-3;
  // The last fraction of the budget (steps, passes or seconds), over which the rate falls from lr to
  // 0 along a cosine (optim::budget_lr); 0: lr throughout.
  double anneal = 0.5;
  double clip = 5;  // gradients clipped to [-clip, clip] (char-rnn's grad_clip); 0: off
  double val_frac = 0.05;
  int64_t validate_every = 0;  // steps (0: about ten times over the run, or every 200)
  std::string save = "cv";
  std::string resume;
  std::string init;          // a character model's checkpoint to start from (its cell, sizes and vocabulary)
  double memory_budget = 0;  // MB for the step's intermediate values (0: no limit; recomputes to fit)
  bool overlap = true;       // under mpirun: average gradients while the backward pass runs (FitOptions::overlap)
  bool bf16 = true;          // GEMM operands in bfloat16, summed in float32, where the CPU runs them faster
                             // (CompileOptions::bf16, measured at the first compile); --no-bf16: float32
  // The options given on the command line ("--lr", ...): a resumed run takes --lr, not the
  // checkpoint's; --init takes the model's sizes from its checkpoint unless they are given.
  std::set<std::string> given;
};

// Trains and writes SAVE/best.safetensors, SAVE/last.safetensors and SAVE/loss.{csv,svg}; returns
// the exit status (errors are printed).
int train(const TrainOptions& o);

}  // namespace rnnc::tool
