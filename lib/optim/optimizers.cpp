// The optimizers' updates, written as graph functions (PyTorch's formulas, per parameter p with
// gradient g at step t; scalars that change with t are 0-d inputs, so one compiled function serves
// every step).
#include <fmt/format.h>

#include <cmath>

#include "rnnc/error.h"
#include "rnnc/optim.h"

namespace rnnc::optim {

namespace {

template <class... F> struct overloaded : F... { using F::operator()...; };
template <class... F> overloaded(F...) -> overloaded<F...>;

// One parameter's update: returns the new parameter and the new slots. `s` are the step scalars.
struct Update {
  Var p;
  std::vector<Var> slots;
};

Update update(const Config& c, const Var& p, Var g, const std::vector<Var>& slot, std::span<const Var> s) {
  return std::visit(overloaded{
                        [&](const SGD& o) -> Update {
                          if (o.weight_decay != 0) g = g + o.weight_decay * p;
                          if (o.momentum == 0) return {p - s[0] * g, {}};
                          // buf = momentum buf + (1 - dampening) g, and buf = g at the first step: s[1], s[2]
                          // are momentum * (t > 1) and (t > 1 ? 1 - dampening : 1).
                          Var buf = s[1] * slot[0] + s[2] * g;
                          Var d = o.nesterov ? g + o.momentum * buf : buf;
                          return {p - s[0] * d, {buf}};
                        },
                        [&](const Adagrad& o) -> Update {
                          if (o.weight_decay != 0) g = g + o.weight_decay * p;
                          Var sum = slot[0] + g * g;
                          return {p - s[0] * g / (sqrt(sum) + o.eps), {sum}};  // s[0] = lr / (1 + (t - 1) lr_decay)
                        },
                        [&](const RMSprop& o) -> Update {
                          if (o.weight_decay != 0) g = g + o.weight_decay * p;
                          std::vector<Var> out;
                          Var sq = o.alpha * slot[0] + (1.0 - o.alpha) * g * g;
                          out.push_back(sq);
                          Var avg;
                          size_t k = 1;
                          if (o.centered) {
                            Var ga = o.alpha * slot[k++] + (1.0 - o.alpha) * g;
                            out.push_back(ga);
                            avg = sqrt(sq - ga * ga) + o.eps;
                          } else {
                            avg = sqrt(sq) + o.eps;
                          }
                          if (o.momentum > 0) {
                            Var buf = o.momentum * slot[k] + g / avg;
                            out.push_back(buf);
                            return {p - s[0] * buf, out};
                          }
                          return {p - s[0] * g / avg, out};
                        },
                        [&](const Adam& o) -> Update {
                          if (o.weight_decay != 0) g = g + o.weight_decay * p;
                          Var m = o.beta1 * slot[0] + (1.0 - o.beta1) * g;
                          Var v = o.beta2 * slot[1] + (1.0 - o.beta2) * g * g;
                          // s[0] = lr / (1 - beta1^t), s[1] = 1 / sqrt(1 - beta2^t)
                          return {p - s[0] * m / (sqrt(v) * s[1] + o.eps), {m, v}};
                        },
                    },
                    c);
}

}  // namespace

Optimizer::Optimizer(Config config, CompileOptions compile)
    : config_(std::move(config)), compile_(std::move(compile)) {}

void Optimizer::set_compile_options(const CompileOptions& compile) {
  compile_ = compile;
  signature_.clear();  // the next step compiles the update again (its kernels come from the cache)
}

std::vector<std::string> Optimizer::slot_names() const {
  return std::visit(overloaded{
                        [](const SGD& o) -> std::vector<std::string> {
                          if (o.momentum == 0) return {};
                          return {"momentum_buffer"};
                        },
                        [](const Adagrad&) -> std::vector<std::string> { return {"sum"}; },
                        [](const RMSprop& o) {
                          std::vector<std::string> n = {"square_avg"};
                          if (o.centered) n.push_back("grad_avg");
                          if (o.momentum > 0) n.push_back("momentum_buffer");
                          return n;
                        },
                        [](const Adam&) -> std::vector<std::string> {
                          return {"exp_avg", "exp_avg_sq"};
                        },
                    },
                    config_);
}

double Optimizer::lr() const {
  return std::visit([](const auto& o) { return o.lr; }, config_);
}

void Optimizer::set_lr(double lr) {
  std::visit([&](auto& o) { o.lr = lr; }, config_);
}

void Optimizer::build(const std::vector<Tensor>& params) {
  const size_t n = params.size(), k = slot_names().size();
  const DType t = params.empty() ? DType::f32 : params[0].dtype();
  std::vector<Spec> specs;
  for (const Tensor& p : params) specs.push_back(spec_of(p, "param"));
  for (const Tensor& p : params) specs.push_back(spec_of(p, "grad"));
  for (size_t s = 0; s < k; ++s)
    for (const Tensor& p : params) specs.push_back(spec_of(p, slot_names()[s]));
  for (int i = 0; i < 3; ++i) specs.push_back(Spec{{}, t, "scalar"});
  const Config config = config_;
  Function f = trace(
      [n, k, config](std::span<const Var> a) {
        std::vector<Var> ps, slots_out;
        std::vector<std::vector<Var>> new_slots(k);
        for (size_t i = 0; i < n; ++i) {
          std::vector<Var> slot;
          for (size_t s = 0; s < k; ++s) slot.push_back(a[2 * n + s * n + i]);
          Update u = update(config, a[i], a[n + i], slot, a.subspan(2 * n + k * n));
          ps.push_back(u.p);
          for (size_t s = 0; s < k; ++s) new_slots[s].push_back(u.slots[s]);
        }
        for (auto& v : new_slots) ps.insert(ps.end(), v.begin(), v.end());
        return ps;
      },
      specs);
  update_ = compile(f, compile_);
  if (slots_.size() != k) {
    const double init =
        std::holds_alternative<Adagrad>(config_) ? std::get<Adagrad>(config_).initial_accumulator_value : 0;
    slots_.assign(k, {});
    for (auto& slot : slots_)
      for (const Tensor& p : params) slot.push_back(Tensor::full(p.shape(), init, p.dtype()));
  }
}

void Optimizer::step(std::vector<Tensor>& params, const std::vector<Tensor>& grads) {
  if (params.size() != grads.size())
    throw Error(fmt::format("rnnc: optimizer: {} parameters but {} gradients", params.size(), grads.size()));
  std::string sig;
  for (size_t i = 0; i < params.size(); ++i) {
    if (params[i].shape() != grads[i].shape() || params[i].dtype() != grads[i].dtype())
      throw Error(fmt::format("rnnc: optimizer: parameter {} is {}{} but its gradient is {}{}",
                              i < names_.size() ? "'" + names_[i] + "'" : std::to_string(i), name_of(params[i].dtype()),
                              to_string(params[i].shape()), name_of(grads[i].dtype()), to_string(grads[i].shape())));
    sig += name_of(params[i].dtype());  // (no fmt here: this runs at every step)
    for (int64_t d : params[i].shape()) sig += std::to_string(d) + ',';
    sig += ';';
  }
  if (sig != signature_) {
    if (!signature_.empty() && t_ > 0) throw Error("rnnc: optimizer: the parameters changed shape between steps");
    build(params);
    signature_ = sig;
  }
  ++t_;
  const double t = static_cast<double>(t_);
  double s[3] = {0, 0, 0};
  std::visit(overloaded{
                 [&](const SGD& o) {
                   s[0] = o.lr;
                   s[1] = t_ > 1 ? o.momentum : 0;
                   s[2] = t_ > 1 ? 1 - o.dampening : 1;
                 },
                 [&](const Adagrad& o) { s[0] = o.lr / (1 + (t - 1) * o.lr_decay); },
                 [&](const RMSprop& o) { s[0] = o.lr; },
                 [&](const Adam& o) {
                   s[0] = o.lr / (1 - std::pow(o.beta1, t));
                   s[1] = 1 / std::sqrt(1 - std::pow(o.beta2, t));
                 },
             },
             config_);
  const DType dt = params.empty() ? DType::f32 : params[0].dtype();
  std::vector<Tensor> args = params;
  args.insert(args.end(), grads.begin(), grads.end());
  for (const auto& slot : slots_) args.insert(args.end(), slot.begin(), slot.end());
  for (double x : s) args.push_back(Tensor::scalar(x, dt));
  std::vector<Tensor> out = update_(args);
  const size_t n = params.size();
  for (size_t i = 0; i < n; ++i) params[i] = out[i];
  for (size_t k = 0; k < slots_.size(); ++k)
    for (size_t i = 0; i < n; ++i) slots_[k][i] = out[n + k * n + i];
}

std::vector<std::pair<std::string, Tensor>> Optimizer::state() const {
  std::vector<std::pair<std::string, Tensor>> out;
  const std::vector<std::string> names = slot_names();
  for (size_t k = 0; k < slots_.size(); ++k)
    for (size_t i = 0; i < slots_[k].size(); ++i)
      out.push_back({fmt::format("{}.{}", names[k], i < names_.size() ? names_[i] : std::to_string(i)), slots_[k][i]});
  return out;
}

void Optimizer::load_state(const std::vector<std::pair<std::string, Tensor>>& state, int64_t steps) {
  const std::vector<std::string> names = slot_names();
  std::vector<std::vector<Tensor>> slots(names.size());
  for (const auto& [key, value] : state) {
    // "<slot>.<parameter>": the parameter by its path (trees) or its index.
    const size_t dot = key.find('.');
    size_t k = 0;
    while (k < names.size() && names[k] != key.substr(0, dot)) ++k;
    if (dot == std::string::npos || k == names.size())
      throw Error(fmt::format("rnnc: optimizer: unknown state entry '{}'", key));
    const std::string param = key.substr(dot + 1);
    size_t i = 0;
    if (!names_.empty()) {
      while (i < names_.size() && names_[i] != param) ++i;
      if (i == names_.size()) throw Error(fmt::format("rnnc: optimizer: state entry '{}' names no parameter", key));
    } else if (param.empty() || param.find_first_not_of("0123456789") != std::string::npos) {
      throw Error(fmt::format("rnnc: optimizer: state entry '{}' names no parameter", key));
    } else {
      i = std::stoul(param);
    }
    if (slots[k].size() <= i) slots[k].resize(i + 1);
    slots[k][i] = value.clone();
  }
  if (!names_.empty())
    for (auto& slot : slots) slot.resize(std::max(slot.size(), names_.size()));
  for (size_t k = 0; k < slots.size(); ++k)
    for (size_t i = 0; i < slots[k].size(); ++i)
      if (!slots[k][i].defined())
        throw Error(fmt::format("rnnc: optimizer: state '{}.{}' is missing", names[k],
                                i < names_.size() ? names_[i] : std::to_string(i)));
  slots_ = std::move(slots);
  t_ = steps;
}

double step_decay(double lr0, int64_t epoch, int64_t step_size, double gamma) {
  if (step_size <= 0) throw Error("rnnc: step_decay: step_size must be positive");
  return lr0 * std::pow(gamma, static_cast<double>(epoch / step_size));
}

}  // namespace rnnc::optim
