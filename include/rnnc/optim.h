// Optimizers with PyTorch's formulas and defaults (torch.optim.SGD, Adagrad, RMSprop, Adam), and
// gradient clipping. Each optimizer's update is a graph function over all parameters at once,
// compiled like everything else: one fused kernel per parameter, no per-element C++ loop.
//
//   optim::Optimizer opt(optim::Adam{.lr = 2e-3});
//   opt.step(params, grads);   // params are replaced by their updated values
#pragma once
#include <functional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "rnnc/compile.h"
#include "rnnc/tensor.h"
#include "rnnc/tree.h"

namespace rnnc::optim {

struct SGD {
  double lr = 0.01, momentum = 0, dampening = 0, weight_decay = 0;
  bool nesterov = false;
};
struct Adagrad {
  double lr = 0.01, lr_decay = 0, weight_decay = 0, initial_accumulator_value = 0, eps = 1e-10;
};
struct RMSprop {
  double lr = 0.01, alpha = 0.99, eps = 1e-8, weight_decay = 0, momentum = 0;
  bool centered = false;
};
struct Adam {
  double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0;
};
using Config = std::variant<SGD, Adagrad, RMSprop, Adam>;

class Optimizer {
 public:
  // `compile` is how the update is compiled (its threads); nn::fit sets it to FitOptions::compile.
  explicit Optimizer(Config config, CompileOptions compile = {});

  // One update of every parameter from its gradient (same shapes, in the same order each call).
  void step(std::vector<Tensor>& params, const std::vector<Tensor>& grads);
  // The same over a tree of parameters and the tree of its gradients (value_and_grad's grads);
  // the state is then named by leaf path ("exp_avg.rnn.layers.1.weight_ih").
  template <class T> void step(T& params, const T& grads) {
    std::vector<Tensor> p = tree::tensors(params);
    if (names_.size() != p.size()) names_ = tree::paths(params);
    step(p, tree::tensors(grads));
    tree::assign(params, std::move(p));
  }

  int64_t steps() const { return t_; }
  double lr() const;
  void set_lr(double lr);  // for schedules
  const Config& config() const { return config_; }
  void set_compile_options(const CompileOptions& compile);

  // The per-parameter state (named as PyTorch's state_dict names it, e.g. "exp_avg.3") and the
  // step count, for checkpoints; load_state restores both.
  std::vector<std::pair<std::string, Tensor>> state() const;
  void load_state(const std::vector<std::pair<std::string, Tensor>>& state, int64_t steps);
  // For a tree of parameters: the state named by the tree's paths.
  template <class T>
  void load_state(const T& params, const std::vector<std::pair<std::string, Tensor>>& state, int64_t steps) {
    names_ = tree::paths(params);
    load_state(state, steps);
  }

 private:
  std::vector<std::string> slot_names() const;
  void build(const std::vector<Tensor>& params);

  Config config_;
  CompileOptions compile_;
  int64_t t_ = 0;
  std::vector<std::vector<Tensor>> slots_;  // [slot kind][parameter]
  Compiled update_;
  std::string signature_;
  std::vector<std::string> names_;  // the parameters' paths, when stepped with trees
};

// How far a run has gone, for a learning-rate schedule: the step (counted from 0) and the fraction
// of the run's budget spent before it (nn::fit: the largest of its steps', passes' and seconds'
// fractions, in [0, 1]).
struct Progress {
  int64_t step = 0;
  double done = 0;
};
// Learning rate as a function of the progress, for nn::fit.
using Schedule = std::function<double(const Progress&)>;
Schedule constant_lr(double lr);
// torch.optim.lr_scheduler.StepLR over steps: lr0 * gamma^floor(step / every).
Schedule step_lr(double lr0, int64_t every, double gamma);
// Linear warm-up over `warmup` steps, then cosine decay to `min_lr` at `total` steps.
Schedule cosine_lr(double lr0, int64_t warmup, int64_t total, double min_lr = 0);
// Budgeted training (Li et al., ICLR 2020): lr0 until `hold` of the budget is spent, then a cosine
// to 0 at its end, whether the budget is steps, passes or seconds (rnnc train's schedule: a run
// of --time 600 anneals over its last minutes, as one of --steps N over its last steps).
Schedule budget_lr(double lr0, double hold);

// Step decay (torch.optim.lr_scheduler.StepLR): lr0 * gamma^floor(epoch / step_size).
double step_decay(double lr0, int64_t epoch, int64_t step_size, double gamma);

// Clips every gradient element to [lo, hi] (torch.nn.utils.clip_grad_value_; min-char-rnn's [-5, 5]).
void clip_by_value(std::vector<Tensor>& grads, double lo, double hi);

// Scales the gradients so that their global L2 norm is at most max_norm (clip_grad_norm_), and
// returns the norm before clipping. A non-finite norm is an error naming the parameter whose
// gradient holds a NaN or an infinity (names[i], or its index); the gradients are left unchanged.
double clip_by_global_norm(std::vector<Tensor>& grads, double max_norm, const std::vector<std::string>& names = {});

// The same over trees of gradients (in place), errors naming the leaf's path.
template <class T> void clip_by_value(T& grads, double lo, double hi) {
  std::vector<Tensor> g = tree::tensors(grads);
  clip_by_value(g, lo, hi);
}
template <class T> double clip_by_global_norm(T& grads, double max_norm) {
  std::vector<Tensor> g = tree::tensors(grads);
  return clip_by_global_norm(g, max_norm, tree::paths(grads));
}

}  // namespace rnnc::optim
