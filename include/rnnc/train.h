// Training as Keras' Model.fit and char-rnn's train.lua do it, over any model tree.
//
//   auto model = nn::CharRNN<nn::LSTMCell>::init(vocab.size(), 128, rng, {.layers = 2, .dropout = 0.2});
//   optim::Optimizer opt(optim::Adam{.lr = 2e-3});
//   nn::fit(model, opt, train_streams, Model::loss,
//           {.validation = &val_streams, .budget = {.seconds = 60}, .clip = {.norm = 5}, .validate_every = 200,
//            .callbacks = {nn::ProgressLine{}, nn::KeepBest{"cv/best_{step}_{val_loss}.safetensors"}}});
//
// The data is any Dataset (below; data.h's Streams, Windows and Buckets are three). Where it
// carries the state (char-rnn's stateful truncated BPTT over streams), the loss is (model, state,
// batch, Rng&) -> (loss, next state): the state runs on from batch to batch, no gradient crossing
// between them, and starts fresh at every pass; validation runs the held-out data from a fresh
// state, carried through it. Otherwise the loss is (model, batch, Rng&) -> loss. The Rng (dropout)
// may be left out of a loss that draws nothing; validation calls the same loss with an
// Rng::evaluation(), so dropout is off there. Each step is one compiled value_and_grad call, the
// optimizer's compiled update, and what the callbacks do.
//
// A checkpoint (KeepBest, KeepLast) holds what a run depends on: the parameters (by
// path, plus whatever `describe` adds, e.g. a CharRNN's configuration and vocabulary, so that
// `rnnc sample` reads it), the optimizer state, the Rng's draws, the carried state, the step and
// the data position. Options::resume continues such a run bit for bit.
#pragma once
#include <cmath>
#include <filesystem>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "rnnc/checkpoint.h"
#include "rnnc/data.h"
#include "rnnc/dist.h"
#include "rnnc/interpreter.h"
#include "rnnc/nn.h"
#include "rnnc/optim.h"
#include "rnnc/report.h"
#include "rnnc/tree_function.h"

namespace rnnc::nn {

// Whichever limit comes first ends the run (0: no limit; at least one must be set).
struct Budget {
  int64_t steps = 0;
  int64_t epochs = 0;
  double seconds = 0;
};

// Gradient clipping: every element to [-value, value], then the global L2 norm to `norm` (0: off).
struct Clip {
  double value = 0;
  double norm = 0;
};

// What the callbacks see after every step.
struct Event {
  int64_t step = 0;                                            // steps done, counting from 1
  int64_t epoch = 0;                                           // passes started, counting from 0
  int64_t chunk = 0;                                           // the chunk of the pass this step trained on
  int64_t steps_total = 0;                                     // the budget in steps, or 0
  double loss = 0;                                             // this step's training loss
  double val_loss = std::numeric_limits<double>::quiet_NaN();  // when validated at this step
  double best_val_loss = std::numeric_limits<double>::infinity();
  double lr = 0;
  double seconds = 0;  // since fit started
  int64_t chars_per_step = 0;
  bool validated = false, last = false;
  bool* stop = nullptr;  // set *stop = true to end the run after this step
  // The whole training state as a checkpoint, built on demand.
  io::Checkpoint checkpoint() const { return (*make_checkpoint)(); }
  const std::function<io::Checkpoint()>* make_checkpoint = nullptr;
};
using Callback = std::function<void(const Event&)>;

// Keras' ModelCheckpoint(save_best_only=True): writes the checkpoint at a validation whose loss is
// the lowest so far. The path may hold {step} and {val_loss} (char-rnn's
// lm_lstm_epoch{epoch}_{val_loss}.t7), filled in with the values of that step.
struct KeepBest {
  std::string path{};
  void operator()(const Event& e) const;
};
// The latest state, every `every` steps and at the end (for resuming).
struct KeepLast {
  std::string path{};
  int64_t every = 0;  // 0: only at validations and at the end
  void operator()(const Event& e) const;
};
// Stops when the validation loss has not improved for `patience` validations.
struct EarlyStopping {
  int patience = 3;
  double min_delta = 0;
  std::shared_ptr<int> waited = std::make_shared<int>(0);
  std::shared_ptr<double> best = std::make_shared<double>(std::numeric_limits<double>::infinity());
  void operator()(const Event& e) const;
};
// The progress line (report::Progress) and a line per validation.
struct ProgressLine {
  std::FILE* out = stdout;
  std::shared_ptr<report::Progress> line{};
  void operator()(const Event& e);
};
// The loss curve as PREFIX.csv and PREFIX.svg, written at every validation and at the end.
struct LossCurve {
  std::string prefix{};
  std::string title = "training loss";
  std::shared_ptr<report::LossCurve> curve = std::make_shared<report::LossCurve>();
  void operator()(const Event& e) const;
};
// Fills {step}, {epoch} and {val_loss} in a path (val_loss with 4 decimals).
std::string fill_path(const std::string& pattern, const Event& e);

// What fit trains on (data.h's Streams, Windows and Buckets are datasets; a dataset of one's own
// has the same members): a pass is batches() batches; batch(pass, k, shard) is batch k of that pass
// as the tree the loss takes, only the rows of `shard` (data-parallel training; rows() rows in
// all, tokens() steps, for the speed); carries_state: the recurrent state runs on from batch to
// batch. Held out, eval_batch(k) for k < eval_batches(), each weighed by eval_rows(k).
template <class D>
concept Dataset = requires(const D& d, int64_t i, data::Shard shard) {
  { D::carries_state } -> std::convertible_to<bool>;
  { d.batches() } -> std::convertible_to<int64_t>;
  { d.rows() } -> std::convertible_to<int64_t>;
  { d.tokens() } -> std::convertible_to<int64_t>;
  d.batch(i, i, shard);
  { d.eval_batches() } -> std::convertible_to<int64_t>;
  d.eval_batch(i);
  { d.eval_rows(i) } -> std::convertible_to<int64_t>;
};

template <class D> struct FitOptions {
  const D* validation = nullptr;  // Keras' validation_data: held-out data of the same kind
  Budget budget{};
  Clip clip{};
  optim::Schedule lr{};        // empty: the optimizer's own (optim.h: step_lr, cosine_lr, budget_lr)
  int64_t validate_every = 0;  // steps; 0: once at the end (when there is validation data)
  int64_t val_batches = 0;     // of the validation data per validation (0: all)
  uint64_t seed = 0;           // the Rng for dropout (a dataset's order has its own seed)
  // A run whose loss passes `diverge` times the first step's loss has diverged (a learning rate
  // far too high): fit stops with an error naming the step, as for a non-finite loss. 0: off.
  double diverge = 10;
  std::filesystem::path resume{};  // a checkpoint written by KeepLast or KeepBest
  CompileOptions compile{};        // for the step, the evaluation and the optimizer's update
                                   // (memory_budget: the step's, which recomputes, and the
                                   // evaluation's, the least plan there when none fits)
  // Under mpirun (dist.h): each rank trains on its share of every batch (rows() / ranks), the
  // gradients averaged over ranks before each update; rank 0 alone validates, runs the callbacks
  // and decides when the run ends, for all ranks. false: every rank trains alone.
  bool distributed = true;
  // Data-parallel: start averaging each bucket of gradients while the backward pass still runs
  // (dist::OverlappedMean); false: all of them once the step has run (dist::allreduce_mean). The
  // same bits either way.
  bool overlap = true;
  // Adds what the model needs to come back from a checkpoint (configuration, vocabulary) to the
  // checkpoint of its parameters; default: the parameters by path.
  std::function<io::Checkpoint()> describe{};
  std::vector<Callback> callbacks{};  // after every step, in order (rank 0 only)
};

struct FitResult {
  int64_t steps = 0, epochs = 0;
  int64_t first_step = 0;  // a resumed run: the checkpoint's step (steps - first_step ran now)
  double loss = 0;         // the last step's
  double val_loss = std::numeric_limits<double>::quiet_NaN();  // the last validation's
  double best_val_loss = std::numeric_limits<double>::infinity();
  double seconds = 0, chars_per_s = 0, compile_seconds = 0;  // of the steps this run made
  // Data-parallel runs: the gradient bytes each rank reduces per step, and the time spent in
  // those reductions (waiting for the slowest rank included).
  int64_t allreduce_bytes = 0;
  double allreduce_seconds = 0;
  int64_t allreduce_early_bytes = 0;  // of all steps: reduced while the backward pass still ran (overlap)
};

// The summary line's fields of a run (report::summary_line): train_loss (the last step's),
// val_loss (the best validation's, a resumed run's included), chars_per_s, compile_s, steps; null
// where this run made no step or no validation.
std::vector<report::Field> summary_fields(const FitResult& r);

// For a training loop of one's own (fit calls it after every step): throws an Error naming the
// step when the loss is not finite (and the op that first made a non-finite value, from
// diagnose(), which may rerun the step in the reference interpreter; may be empty) or when it has
// passed `factor` times the first step's loss `first` (NaN: not known yet; factor 0: off).
void check_loss(double loss, int64_t step, double first, double factor,
                const std::function<std::string()>& diagnose = {});

namespace detail {
// The budget's clock and counters.
struct Loop {
  Budget budget;
  int64_t steps_per_epoch;
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
  bool done(int64_t step) const;     // the budget is spent
  double spent(int64_t step) const;  // the fraction of it spent after `step` steps, in [0, 1]
  double seconds() const;
};
// Adds the optimizer state ("optim.exp_avg.<path>"), the carried state ("train.state.<path>") and
// the counters (metadata "train.*") to a checkpoint of the parameters.
void add_training_state(io::Checkpoint& c, const optim::Optimizer& opt, const Rng& rng, int64_t step, double best_val,
                        const std::vector<std::pair<std::string, Tensor>>& state);
struct Resumed {
  int64_t step = 0, optim_steps = 0;
  double best_val = std::numeric_limits<double>::infinity(), lr = 0;
  uint64_t seed = 0, draws = 0;
  std::vector<std::pair<std::string, Tensor>> optim;
};
Resumed read_training_state(const io::Checkpoint& c);
// Under mpirun: every rank holds the same values, or every rank throws an Error naming the first
// that differs (dist::check_same).
void agree(const std::vector<std::pair<std::string, double>>& settings);
// The evaluation runs no backward loop: under a memory budget its per-step work moves into its
// loops (CompileOptions::memory_budget), and where even that does not fit, it runs the least plan
// rather than end the run at its first validation.
inline CompileOptions for_evaluation(CompileOptions c) {
  c.least_if_over_budget = true;
  return c;
}
// The optimizer's update has no loops: the budget is the step's.
inline CompileOptions without_budget(CompileOptions c) {
  c.memory_budget = 0;
  return c;
}

// The step again, in the reference interpreter, with the random draws it used (the same Rng, one
// draw back): the op that first made a non-finite value, for check_loss.
template <class Step, class... Args> std::string rerun_checked(Step& step, const Rng& rng, const Args&... args) {
  Rng same = rng;
  same.set_draws(rng.draws() - 1);
  auto [f, a] = step.function(args..., same);
  return first_non_finite(f, a);
}

template <class D> using batch_t = std::decay_t<decltype(std::declval<const D&>().batch(0, 0, data::Shard{}))>;
template <class Model> using state_t = std::decay_t<decltype(std::declval<const Model&>().initial_state(1))>;
// What a trainer carries from batch to batch: the model's state, or nothing.
struct NoState {};
template <class Model, bool carries> struct carried { using type = NoState; };
template <class Model> struct carried<Model, true> { using type = state_t<Model>; };

// The loss with the Rng last, whether or not it takes one: (model, [state,] batch, Rng&).
template <class Model, class D, class Loss> auto with_rng(Loss loss) {
  using B = batch_t<D>;
  if constexpr (D::carries_state) {
    using S = state_t<Model>;
    constexpr bool rng = std::is_invocable_v<const Loss&, const Model&, const S&, const B&, Rng&>;
    static_assert(
        rng || std::is_invocable_v<const Loss&, const Model&, const S&, const B&>,
        "rnnc: nn::fit: data that carries the state takes a loss (model, state, batch[, Rng&]) -> (loss, state)");
    return [loss](const Model& m, const S& s, const B& b, Rng& r) {
      if constexpr (rng)
        return loss(m, s, b, r);
      else
        return loss(m, s, b);
    };
  } else {
    constexpr bool rng = std::is_invocable_v<const Loss&, const Model&, const B&, Rng&>;
    static_assert(rng || std::is_invocable_v<const Loss&, const Model&, const B&>,
                  "rnnc: nn::fit: data that does not carry the state takes a loss (model, batch[, Rng&]) -> loss");
    return [loss](const Model& m, const B& b, Rng& r) {
      if constexpr (rng)
        return loss(m, b, r);
      else
        return loss(m, b);
    };
  }
}

// The same for evaluation, with an Rng that draws nothing (dropout off).
template <class Model, class D, class TrainLoss> auto eval_loss(TrainLoss loss) {
  if constexpr (D::carries_state)
    return [loss](const Model& m, const state_t<Model>& s, const batch_t<D>& b) {
      Rng off = Rng::evaluation();
      return loss(m, s, b, off);
    };
  else
    return [loss](const Model& m, const batch_t<D>& b) {
      Rng off = Rng::evaluation();
      return loss(m, b, off);
    };
}

// The model-typed half of fit: the compiled step and evaluation over one dataset, and the state
// it carries (when it does).
template <class Model, class D, class Loss> class Trainer {
 public:
  using Batch = batch_t<D>;
  Trainer(const Model& model, const D& data, Loss loss, const FitOptions<D>& o, data::Shard shard)
      : model_(model),
        data_(data),
        o_(o),
        shard_(shard),
        loss_(with_rng<Model, D>(std::move(loss))),
        step_(compile(value_and_grad(loss_), o.compile)),
        evaluate_(compile(eval_loss<Model, D>(loss_), for_evaluation(o.compile))),
        now_(fresh(shard.rows_of(data.rows(), "nn::fit"))) {}

  // Step s's loss and gradients.
  auto step(int64_t s, Rng& rng, const CallHooks& hooks) {
    const int64_t per_pass = data_.batches(), k = s % per_pass;
    batch_ = data_.batch(s / per_pass, k, shard_);
    if constexpr (D::carries_state) {
      if (k == 0) now_ = fresh(shard_.rows_of(data_.rows(), "nn::fit"));  // a pass starts afresh
      auto [loss, next, grads] = step_.call(hooks, model_, now_, batch_, rng);
      before_ = std::exchange(now_, std::move(next));  // carried; no gradient crosses the boundary
      return std::pair{loss.item(), std::move(grads)};
    } else {
      auto [loss, grads] = step_.call(hooks, model_, batch_, rng);
      return std::pair{loss.item(), std::move(grads)};
    }
  }

  // The mean loss over o.validation (its first val_batches batches when set), weighed by rows.
  double validate() {
    const D& v = *o_.validation;
    const int64_t n = o_.val_batches > 0 ? std::min(o_.val_batches, v.eval_batches()) : v.eval_batches();
    double total = 0, rows = 0;
    Carried state = fresh(v.rows());
    for (int64_t k = 0; k < n; ++k) {
      const double w = static_cast<double>(v.eval_rows(k));
      total += evaluate(state, v.eval_batch(k)) * w;
      rows += w;
    }
    return rows > 0 ? total / rows : std::numeric_limits<double>::quiet_NaN();
  }

  // The carried state by name, every rank's rows when data-parallel (a collective then).
  void save(std::vector<std::pair<std::string, Tensor>>& out) const {
    if constexpr (D::carries_state) {
      const std::vector<std::string> names = tree::paths(now_, "train.state");
      const std::vector<Tensor> values = tree::tensors(now_);
      for (std::size_t i = 0; i < names.size(); ++i)
        out.emplace_back(names[i], shard_.ranks > 1 ? dist::allgather_rows(values[i]) : values[i]);
    } else {
      (void)out;
    }
  }
  // The carried state of a checkpoint at step s (this rank's rows of it).
  void load(const io::Checkpoint& c, int64_t s) {
    if constexpr (D::carries_state) {
      if (s % data_.batches() == 0) return;  // the next pass starts afresh
      if (shard_.ranks == 1) return c.load_tree(now_, "train.state");
      auto global = model_.initial_state(data_.rows());
      c.load_tree(global, "train.state");
      std::vector<Tensor> mine;
      for (const Tensor& t : tree::tensors(global)) mine.push_back(dist::my_rows(t));
      now_ = tree::replace(global, mine);
    } else {
      (void)c, (void)s;
    }
  }
  // The op that first made a non-finite value in the last step.
  std::string diagnose(const Rng& rng) {
    if constexpr (D::carries_state)
      return rerun_checked(step_, rng, model_, before_, batch_);
    else
      return rerun_checked(step_, rng, model_, batch_);
  }

 private:
  using TrainLoss = decltype(with_rng<Model, D>(std::declval<Loss>()));
  using Carried = typename carried<Model, D::carries_state>::type;
  Carried fresh(int64_t rows) const {
    if constexpr (D::carries_state)
      return model_.initial_state(rows);
    else
      return (void)rows, NoState{};
  }
  // One held-out batch's loss, the state carried on.
  double evaluate(Carried& state, const Batch& b) {
    if constexpr (D::carries_state) {
      auto [l, next] = evaluate_(model_, state, b);
      state = std::move(next);
      return l.item();
    } else {
      return (void)state, evaluate_(model_, b).item();
    }
  }

  const Model& model_;
  const D& data_;
  const FitOptions<D>& o_;
  data::Shard shard_;
  TrainLoss loss_;
  decltype(compile(value_and_grad(std::declval<TrainLoss>()))) step_;
  decltype(compile(eval_loss<Model, D>(std::declval<TrainLoss>()))) evaluate_;
  Carried now_{}, before_{};
  Batch batch_{};
};
}  // namespace detail

// Trains `model` on `data` (a Dataset) with `loss` (see the top of this file) until the budget is
// spent or a callback stops it.
template <class Model, Dataset D, class Loss>
FitResult fit(Model& model, optim::Optimizer& opt, const D& data, Loss loss, const FitOptions<D>& o = {}) {
  opt.set_compile_options(detail::without_budget(o.compile));  // the update on the step's threads
  // Data-parallel (dist.h): the same parameters everywhere, gradients and loss averaged, rank 0
  // alone validating, calling back and deciding when to stop, for every rank.
  const bool multi = o.distributed && dist::size() > 1, root = !multi || dist::is_root();
  const bool validating = o.validation != nullptr && root;
  detail::Trainer<Model, D, Loss> trainer(model, data, std::move(loss), o,
                                          multi ? data::Shard{dist::rank(), dist::size()} : data::Shard{});
  const int64_t per_pass = data.batches();
  if (per_pass < 1) throw Error("rnnc: nn::fit: the data holds no batch");
  detail::Loop loop{o.budget, per_pass};
  Rng rng(o.seed);
  int64_t s = 0;  // steps done
  FitResult r;
  if (!o.resume.empty()) {
    const io::Checkpoint c = io::load(o.resume);
    c.load_tree(model);  // checks every name, shape and dtype first
    detail::Resumed d = detail::read_training_state(c);
    opt.load_state(model, d.optim, d.optim_steps);
    opt.set_lr(d.lr);
    rng = Rng(d.seed);
    rng.set_draws(d.draws);
    r.first_step = s = d.step;
    r.best_val_loss = d.best_val;
    trainer.load(c, s);
  }
  if (multi) {
    // The same run on every rank, or an error on every rank naming what differs (a rank that would
    // stop at another step would wait for the others forever; other settings train silently wrong).
    detail::agree({{"budget.steps", double(o.budget.steps)},
                   {"budget.epochs", double(o.budget.epochs)},
                   {"budget.seconds", o.budget.seconds},
                   {"clip.value", o.clip.value},
                   {"clip.norm", o.clip.norm},
                   {"validate_every", double(o.validate_every)},
                   {"seed", double(o.seed)},
                   {"diverge", o.diverge},
                   {"overlap", double(o.overlap)},
                   {"compile.bf16", double(o.compile.bf16)},
                   {"compile.memory_budget", double(o.compile.memory_budget)},
                   {"data.batches()", double(per_pass)},
                   {"data.rows()", double(data.rows())},
                   {"data.tokens()", double(data.tokens())},
                   {"resumed at step", double(s)}});
    dist::broadcast(model);                    // not trusted to seeds; a rank with other shapes is an error here
    rng.shard(1, dist::rank(), dist::size());  // dropout masks as one process would draw them for the whole batch
  }
  // Overlapped averaging: the step tells it of each gradient the moment it is final.
  dist::OverlappedMean overlapped;
  CallHooks hooks;
  if (multi && o.overlap)
    hooks = {[&](int leaf, const Tensor& g) { overlapped.ready(leaf, g); }, [&] { overlapped.progress(); }};
  std::vector<std::pair<std::string, Tensor>> carried;  // gathered every step when data-parallel
  const std::function<io::Checkpoint()> checkpoint = [&] {
    io::Checkpoint c = o.describe ? o.describe() : io::Checkpoint{};
    if (!o.describe) c.add_tree(model);
    if (!multi) {
      carried.clear();
      trainer.save(carried);
    }
    detail::add_training_state(c, opt, rng, s, r.best_val_loss, carried);
    return c;
  };
  // Rank 0's decision and budget spent, every rank's: on its own clock, a rank could stop a step
  // before another, or take another learning rate.
  double spent = 0;
  auto agree = [&](bool stop) {
    spent = loop.spent(s);
    if (!multi) return stop;
    std::vector<Tensor> flags{Tensor::scalar(stop ? 1 : 0, DType::f64), Tensor::scalar(spent, DType::f64)};
    dist::broadcast(flags);
    spent = flags[1].item();
    return flags[0].item() != 0;
  };
  double first_loss = std::numeric_limits<double>::quiet_NaN();
  bool stop = agree(loop.done(s));
  try {
    while (!stop) {
      if (o.lr) opt.set_lr(o.lr({.step = s, .done = spent}));
      const auto t0 = std::chrono::steady_clock::now();
      auto [loss, grads] = trainer.step(s, rng, hooks);
      if (multi) {
        const dist::ReduceStats st = o.overlap ? overlapped.finish(grads) : dist::allreduce_mean(grads);
        r.allreduce_bytes = st.bytes;
        r.allreduce_seconds += st.seconds;
        r.allreduce_early_bytes += st.early_bytes;
        std::vector<Tensor> l{Tensor::scalar(loss, DType::f64)};
        dist::allreduce_mean(l);
        loss = l[0].item();
      }
      if (r.compile_seconds == 0)  // the first call of this run traced and compiled the step
        r.compile_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      r.loss = loss;
      if (!std::isfinite(first_loss)) first_loss = loss;
      check_loss(loss, s + 1, first_loss, o.diverge, [&] { return trainer.diagnose(rng); });
      if (o.clip.value > 0) optim::clip_by_value(grads, -o.clip.value, o.clip.value);
      if (o.clip.norm > 0) optim::clip_by_global_norm(grads, o.clip.norm);
      opt.step(model, grads);
      ++s;
      Event e;
      e.step = s;
      e.epoch = (s - 1) / per_pass;
      e.chunk = (s - 1) % per_pass;
      e.steps_total = o.budget.steps;
      e.loss = loss;
      e.lr = opt.lr();
      e.chars_per_step = data.tokens();
      e.last = loop.done(s);
      const bool due = o.validate_every > 0 && s % o.validate_every == 0;
      if (validating && (due || e.last)) {
        r.val_loss = e.val_loss = trainer.validate();
        r.best_val_loss = std::min(r.best_val_loss, r.val_loss);
        e.validated = true;
      }
      e.best_val_loss = r.best_val_loss;
      e.seconds = loop.seconds();
      e.make_checkpoint = &checkpoint;
      e.stop = &stop;
      if (multi) {
        carried.clear();
        trainer.save(carried);  // collective: every rank's streams' state, gathered
      }
      if (root)
        for (const Callback& cb : o.callbacks) cb(e);
      stop = agree(stop || e.last);
    }
  } catch (const std::exception& err) {
    if (multi) dist::abort_job(describe(err));  // the other ranks would wait for this one forever
    throw;
  }
  r.steps = s;
  r.epochs = (s + per_pass - 1) / per_pass;
  r.seconds = loop.seconds();
  const double run_s = r.seconds - r.compile_seconds;
  r.chars_per_s = run_s > 0 && s > r.first_step
                      ? static_cast<double>(data.tokens()) * static_cast<double>(s - r.first_step) / run_s
                      : 0;
  return r;
}

}  // namespace rnnc::nn
