// The trainer's parts that do not depend on the model's type (train.h): budgets, schedules, the
// training state in checkpoints, and the callbacks.
#include "rnnc/train.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>

namespace rnnc::nn {

namespace detail {

bool Loop::done(int64_t step) const {
  const Budget& b = budget;
  if (b.steps <= 0 && b.epochs <= 0 && b.seconds <= 0)
    throw Error("rnnc: nn::fit: the budget is empty: give steps, epochs or seconds");
  // Passes done, by division: epochs x steps_per_epoch may pass int64's range.
  return (b.steps > 0 && step >= b.steps) || (b.epochs > 0 && step / steps_per_epoch >= b.epochs) ||
         (b.seconds > 0 && seconds() >= b.seconds);
}

double Loop::spent(int64_t step) const {
  const Budget& b = budget;
  double f = 0;
  if (b.steps > 0) f = std::max(f, static_cast<double>(step) / static_cast<double>(b.steps));
  if (b.epochs > 0)
    f = std::max(f, static_cast<double>(step) / (static_cast<double>(steps_per_epoch) * static_cast<double>(b.epochs)));
  if (b.seconds > 0) f = std::max(f, seconds() / b.seconds);
  return std::min(f, 1.0);
}

double Loop::seconds() const { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); }

void add_training_state(io::Checkpoint& c, const optim::Optimizer& opt, const Rng& rng, int64_t step, double best_val,
                        const std::vector<std::pair<std::string, Tensor>>& state) {
  for (const auto& [name, t] : opt.state()) c.add("optim." + name, t);
  for (const auto& [name, t] : state) c.add(name, t);
  c.metadata["train.step"] = std::to_string(step);
  c.metadata["train.optim_steps"] = std::to_string(opt.steps());
  c.metadata["train.lr"] = fmt::format("{}", opt.lr());
  c.metadata["train.rng_seed"] = std::to_string(rng.seed());
  c.metadata["train.rng_draws"] = std::to_string(rng.draws());
  c.metadata["train.best_val_loss"] = fmt::format("{}", best_val);
}

void agree(const std::vector<std::pair<std::string, double>>& settings) {
  std::vector<Tensor> values;
  std::vector<std::string> names;
  for (const auto& [name, v] : settings) {
    names.push_back("fit: " + name);
    values.push_back(Tensor::scalar(v, DType::f64));
  }
  dist::check_same(values, names);
}

}  // namespace detail

std::vector<report::Field> summary_fields(const FitResult& r) {
  const bool ran = r.steps > r.first_step;
  const bool validated = ran && std::isfinite(r.best_val_loss);
  return {{"train_loss", ran ? std::optional(r.loss) : std::nullopt, "no training step"},
          {"val_loss", validated ? std::optional(r.best_val_loss) : std::nullopt,
           ran ? "no validation" : "no training step"},
          {"chars_per_s", ran ? std::optional(r.chars_per_s) : std::nullopt, "no training step"},
          {"compile_s", r.compile_seconds},
          {"steps", static_cast<double>(r.steps)}};
}

void check_loss(double loss, int64_t step, double first, double factor, const std::function<std::string()>& diagnose) {
  if (std::isfinite(loss) && factor > 0 && std::isfinite(first) && first > 0 && loss > factor * first)
    throw Error(
        fmt::format("rnnc: train: the loss of step {} is {:.4g}, more than {}x the first step's {:.4g}: the run "
                    "diverged; training stopped, the checkpoints written so far are untouched (lower the "
                    "learning rate, or clip the gradients)",
                    step, loss, factor, first));
  if (std::isfinite(loss)) return;
  std::string where;
  try {
    if (diagnose) where = diagnose();
  } catch (const std::exception& e) {
    where = std::string("(rerunning the step to find it failed: ") + e.what() + ")";
  }
  throw Error(
      fmt::format("rnnc: train: the loss of step {} is {}{}; training stopped, the checkpoints written so "
                  "far are untouched (lower the learning rate, or clip the gradients)",
                  step, loss, where.empty() ? "" : "; first non-finite value: " + where));
}

std::string fill_path(const std::string& pattern, const Event& e) {
  std::string out;
  for (std::size_t i = 0; i < pattern.size();) {
    auto field = [&](const char* name) { return pattern.compare(i, std::strlen(name), name) == 0; };
    if (field("{step}"))
      out += std::to_string(e.step), i += 6;
    else if (field("{epoch}"))
      out += std::to_string(e.epoch), i += 7;
    else if (field("{val_loss}"))
      out += fmt::format("{:.4f}", e.val_loss), i += 10;
    else
      out += pattern[i++];
  }
  return out;
}

static void save_to(const std::string& path, const Event& e) {
  const std::filesystem::path p = fill_path(path, e);
  if (p.has_parent_path()) std::filesystem::create_directories(p.parent_path());
  io::save(p, e.checkpoint());
}

void KeepBest::operator()(const Event& e) const {
  if (e.validated && e.val_loss <= e.best_val_loss) save_to(path, e);
}

void KeepLast::operator()(const Event& e) const {
  if (e.last || e.validated || (every > 0 && e.step % every == 0)) save_to(path, e);
}

void EarlyStopping::operator()(const Event& e) const {
  if (!e.validated) return;
  if (e.val_loss < *best - min_delta) {
    *best = e.val_loss;
    *waited = 0;
  } else if (++*waited >= patience) {
    *e.stop = true;
  }
}

void ProgressLine::operator()(const Event& e) {
  if (!line)
    line = std::make_shared<report::Progress>(e.steps_total > 0 ? e.steps_total : 0, e.chars_per_step, 100, out);
  line->update(e.step, e.loss);
  if (e.validated) {
    line->finish();
    fmt::print(out, "step {}: loss {:.4f}, val_loss {:.4f} ({:.2f} bits/char){}\n", e.step, e.loss, e.val_loss,
               e.val_loss / std::log(2.0), e.val_loss <= e.best_val_loss ? " (best so far)" : "");
  } else if (e.last) {
    line->finish();
  }
}

void LossCurve::operator()(const Event& e) const {
  curve->add({e.step, e.seconds, e.loss, e.validated ? e.val_loss : std::numeric_limits<double>::quiet_NaN()});
  if (e.validated || e.last) {
    curve->write_csv(prefix + ".csv");
    curve->write_svg(prefix + ".svg", title);
  }
}

}  // namespace rnnc::nn
