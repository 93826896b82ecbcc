// Learning-rate schedules (optim.h): functions of the step and the budget spent, for nn::fit.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "rnnc/error.h"
#include "rnnc/optim.h"

namespace rnnc::optim {

Schedule constant_lr(double lr) {
  return [lr](const Progress&) { return lr; };
}

Schedule step_lr(double lr0, int64_t every, double gamma) {
  if (every <= 0) throw Error("rnnc: optim::step_lr: every must be positive");
  return [=](const Progress& p) { return lr0 * std::pow(gamma, static_cast<double>(p.step / every)); };
}

Schedule cosine_lr(double lr0, int64_t warmup, int64_t total, double min_lr) {
  if (total <= warmup) throw Error("rnnc: optim::cosine_lr: total must exceed warmup");
  return [=](const Progress& p) {
    const int64_t step = p.step;
    if (step < warmup) return lr0 * static_cast<double>(step + 1) / static_cast<double>(warmup);
    const double t = std::min(1.0, static_cast<double>(step - warmup) / static_cast<double>(total - warmup));
    return min_lr + 0.5 * (lr0 - min_lr) * (1 + std::cos(3.14159265358979323846 * t));
  };
}

Schedule budget_lr(double lr0, double hold) {
  if (!(hold >= 0 && hold < 1)) throw Error(fmt::format("rnnc: optim::budget_lr: hold {} is not in [0, 1)", hold));
  return [=](const Progress& p) {
    const double t = std::clamp((p.done - hold) / (1 - hold), 0.0, 1.0);
    return 0.5 * lr0 * (1 + std::cos(3.14159265358979323846 * t));
  };
}

}  // namespace rnnc::optim
