// Training as Keras' Model.fit and char-rnn's train.lua do it, over any model tree.
//
//   auto model = nn::CharRNN<nn::LSTMCell>::init(vocab.size(), 128, rng, {.layers = 2, .dropout = 0.2});
//   optim::Optimizer opt(optim::Adam{.lr = 2e-3});
//   nn::fit(model, opt, train_streams, &val_streams, nn::Losses{Model::loss_with_dropout, Model::loss},
//           {.budget = {.seconds = 60}, .clip = {.norm = 5}, .validate_every = 200},
//           {nn::ProgressLine{}, nn::KeepBest{"cv/best_{step}_{val_loss}.safetensors"}, nn::EarlyStopping{5}});
//
// Streams are char-rnn's stateful truncated BPTT: the state is carried from chunk to chunk and
// reset at the start of each pass; validation runs the held-out streams from a fresh state,
// carried through them. Each step is one compiled value_and_grad call, the optimizer's compiled
// update, and what the callbacks do.
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
  int64_t step = 0;     // steps done, counting from 1
  int64_t epoch = 0;    // passes started, counting from 0
  int64_t chunk = 0;    // the chunk of the pass this step trained on
  int64_t steps_total = 0;  // the budget in steps, or 0
  double loss = 0;      // this step's training loss
  double val_loss = std::numeric_limits<double>::quiet_NaN();  // when validated at this step
  double best_val_loss = std::numeric_limits<double>::infinity();
  double lr = 0;
  double seconds = 0;   // since fit started
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

template <class Train, class Eval> struct Losses {
  Train train;  // (model, state, batch, Rng&) -> (loss, next state)
  Eval eval;    // (model, state, batch) -> (loss, next state)
};
template <class Train, class Eval> Losses(Train, Eval) -> Losses<Train, Eval>;

struct FitOptions {
  Budget budget{};
  Clip clip{};
  optim::Schedule lr{};         // empty: the optimizer's own, unchanged (optim.h: step_lr, cosine_lr)
  int64_t validate_every = 0;   // steps; 0: once at the end (when there is validation data)
  int64_t val_chunks = 0;       // validation chunks per validation (0: all)
  uint64_t seed = 0;            // the Rng for dropout
  // A run whose loss passes `diverge` times the first step's loss has diverged (a learning rate
  // far too high): fit stops with an error naming the step, as for a non-finite loss. 0: off.
  double diverge = 10;
  std::filesystem::path resume{};  // a checkpoint written by KeepLast or KeepBest
  CompileOptions compile{};     // for the step, the evaluation and the optimizer's update
                                // (memory_budget: the step's, which recomputes, and the
                                // evaluation's, the least plan there when none fits)
  // Under mpirun (dist.h): each rank trains on its share of every batch (B / ranks streams,
  // windows or sequences), the gradients averaged over ranks before each update; rank 0 alone
  // validates and runs the callbacks (progress, checkpoints). false: every rank trains alone.
  bool distributed = true;
  // Data-parallel: start averaging each bucket of gradients while the backward pass still runs
  // (dist::OverlappedMean); false: all of them once the step has run (dist::allreduce_mean). The
  // same bits either way.
  bool overlap = true;
  // Adds what the model needs to come back from a checkpoint (configuration, vocabulary) to the
  // checkpoint of its parameters; default: the parameters by path.
  std::function<io::Checkpoint()> describe{};
};

struct FitResult {
  int64_t steps = 0, epochs = 0;
  double loss = 0;  // the last step's
  double val_loss = std::numeric_limits<double>::quiet_NaN();  // the last validation's
  double best_val_loss = std::numeric_limits<double>::infinity();
  double seconds = 0, chars_per_s = 0, compile_seconds = 0;
  // Data-parallel runs: the gradient bytes each rank reduces per step, and the time spent in
  // those reductions (waiting for the slowest rank included).
  int64_t allreduce_bytes = 0;
  double allreduce_seconds = 0;
  int64_t allreduce_early_bytes = 0;  // of all steps: reduced while the backward pass still ran (overlap)
};

// The summary line's fields of a run (report::summary_line): train_loss (the last step's),
// val_loss (the best validation's), chars_per_s, compile_s, steps; null where there was no step
// or no validation.
std::vector<report::Field> summary_fields(const FitResult& r);

// For a training loop of one's own (fit calls it after every step): throws an Error naming the
// step when the loss is not finite (and the op that first made a non-finite value, from
// diagnose(), which may rerun the step in the reference interpreter; may be empty) or when it has
// passed `factor` times the first step's loss `first` (NaN: not known yet; factor 0: off).
void check_loss(double loss, int64_t step, double first, double factor,
                const std::function<std::string()>& diagnose = {});

namespace detail {
// The step's bookkeeping that does not depend on the model's type.
struct Loop {
  const FitOptions& o;
  int64_t chunks_per_epoch;
  int64_t chars_per_step;
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
  double first_loss = std::numeric_limits<double>::quiet_NaN();  // of this run's first step
  bool done(int64_t step) const;  // the budget is spent
  double seconds() const;
};
// Adds the optimizer state ("optim.exp_avg.<path>"), the carried state ("train.state.<path>") and
// the counters (metadata "train.*") to a checkpoint of the parameters.
void add_training_state(io::Checkpoint& c, const optim::Optimizer& opt, const Rng& rng, int64_t step,
                        double best_val, const std::vector<std::pair<std::string, Tensor>>& state);
struct Resumed {
  int64_t step = 0, optim_steps = 0;
  double best_val = std::numeric_limits<double>::infinity(), lr = 0;
  uint64_t seed = 0, draws = 0;
  std::vector<std::pair<std::string, Tensor>> optim;
};
Resumed read_training_state(const io::Checkpoint& c);
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
}  // namespace detail

namespace detail {
// The step again, in the reference interpreter, with the random draws it used (the same Rng, one
// draw back): the op that first made a non-finite value, for check_loss.
template <class Step, class... Args> std::string rerun_checked(Step& step, const Rng& rng, const Args&... args) {
  Rng same = rng;
  same.set_draws(rng.draws() - 1);
  auto [f, a] = step.function(args..., same);
  return first_non_finite(f, a);
}

// The loop every kind of data shares. step(s, rng, hooks) trains on step s's batch, calling the
// compiled step with hooks, and returns (loss, gradients); validate() returns a validation loss; save/load add and restore what the data
// carries between steps (the streams' state).
template <class Model, class Step, class Validate, class Save, class Load, class Diagnose>
FitResult run(Model& model, optim::Optimizer& opt, int64_t steps_per_epoch, int64_t chars_per_step, bool has_val,
              const FitOptions& o, std::vector<Callback>& callbacks, Step&& step, Validate&& validate, Save&& save,
              Load&& load, Diagnose&& diagnose) {
  Loop loop{o, steps_per_epoch, chars_per_step};
  opt.set_compile_options(detail::without_budget(o.compile));  // the update on the step's threads
  // Data-parallel (dist.h): the same parameters everywhere, gradients and loss averaged, rank 0
  // alone validating and calling back; its decision to stop reaches every rank.
  const bool multi = o.distributed && dist::size() > 1, root = !multi || dist::is_root();
  has_val = has_val && root;
  Rng rng(o.seed);
  int64_t s = 0;  // steps done
  FitResult r;
  if (!o.resume.empty()) {
    const io::Checkpoint c = io::load(o.resume);
    c.load_tree(model);  // checks every name, shape and dtype first
    Resumed d = read_training_state(c);
    opt.load_state(model, d.optim, d.optim_steps);
    opt.set_lr(d.lr);
    rng = Rng(d.seed);
    rng.set_draws(d.draws);
    s = d.step;
    r.best_val_loss = d.best_val;
    load(c, s);
  }
  if (multi) {
    dist::broadcast(model);  // not trusted to seeds; a rank with other shapes is an error here
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
      save(carried);
    }
    add_training_state(c, opt, rng, s, r.best_val_loss, carried);
    return c;
  };
  bool stop = false;
  try {
  while (!stop && !loop.done(s)) {
    if (o.lr) opt.set_lr(o.lr(s));
    const auto t0 = std::chrono::steady_clock::now();
    auto [loss, grads] = step(s, rng, hooks);
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
    if (!std::isfinite(loop.first_loss)) loop.first_loss = r.loss;
    check_loss(r.loss, s + 1, loop.first_loss, o.diverge, [&] { return diagnose(rng); });
    if (o.clip.value > 0) optim::clip_by_value(grads, -o.clip.value, o.clip.value);
    if (o.clip.norm > 0) optim::clip_by_global_norm(grads, o.clip.norm);
    opt.step(model, grads);
    ++s;
    Event e;
    e.step = s;
    e.epoch = (s - 1) / steps_per_epoch;
    e.chunk = (s - 1) % steps_per_epoch;
    e.steps_total = o.budget.steps;
    e.loss = r.loss;
    e.lr = opt.lr();
    e.chars_per_step = chars_per_step;
    e.last = loop.done(s);
    const bool due = o.validate_every > 0 && s % o.validate_every == 0;
    if (has_val && (due || e.last)) {
      r.val_loss = e.val_loss = validate();
      r.best_val_loss = std::min(r.best_val_loss, r.val_loss);
      e.validated = true;
    }
    e.best_val_loss = r.best_val_loss;
    e.seconds = loop.seconds();
    e.make_checkpoint = &checkpoint;
    e.stop = &stop;
    if (multi) {
      carried.clear();
      save(carried);  // collective: every rank's streams' state, gathered
    }
    if (root)
      for (Callback& cb : callbacks) cb(e);
    if (multi) {
      std::vector<Tensor> flag{Tensor::scalar(stop ? 1 : 0, DType::i32)};
      dist::broadcast(flag);
      stop = flag[0].item() != 0;
    }
  }
  } catch (const std::exception& err) {
    if (multi) dist::abort_job(describe(err));  // the other ranks would wait for this one forever
    throw;
  }
  r.steps = s;
  r.epochs = (s + steps_per_epoch - 1) / steps_per_epoch;
  r.seconds = loop.seconds();
  const double run_s = r.seconds - r.compile_seconds;
  r.chars_per_s = run_s > 0 ? static_cast<double>(chars_per_step) * static_cast<double>(s) / run_s : 0;
  return r;
}
}  // namespace detail

// Trains `model` on char-rnn streams (see the top of this file). losses.train: (model, state,
// batch, Rng&) -> (loss, next state); losses.eval: the same without the Rng.
template <class Model, class Train, class Eval>
FitResult fit(Model& model, optim::Optimizer& opt, const data::Streams& all, const data::Streams* val,
              const Losses<Train, Eval>& losses, const FitOptions& o, std::vector<Callback> callbacks = {}) {
  using State = std::decay_t<decltype(model.initial_state(1))>;
  auto step = compile(value_and_grad(losses.train), o.compile);
  auto evaluate = compile(losses.eval, detail::for_evaluation(o.compile));
  // Data-parallel: this rank's streams (the states' rows are streams, so checkpoints hold all
  // ranks' rows and resume with any number of ranks).
  const bool multi = o.distributed && dist::size() > 1;
  const data::Streams data = multi ? all.shard(dist::rank(), dist::size()) : all;
  const int64_t B = data.batch(), chunks = data.chunks();
  State state = model.initial_state(B), before = state;
  nn::TextBatch batch;
  return detail::run(
      model, opt, chunks, all.batch() * data.steps(), val != nullptr, o, callbacks,
      [&](int64_t s, Rng& rng, const CallHooks& hooks) {
        if (s % chunks == 0) state = model.initial_state(B);  // a new pass starts from scratch
        auto [x, y] = data.chunk(s % chunks);
        batch = {x, y};
        auto [loss, next, grads] = step.call(hooks, model, state, batch, rng);
        before = std::exchange(state, std::move(next));  // carried; no gradient crosses the chunk boundary
        return std::pair{loss.item(), std::move(grads)};
      },
      [&] {
        State vs = model.initial_state(val->batch());
        double total = 0;
        const int64_t n = o.val_chunks > 0 ? std::min(o.val_chunks, val->chunks()) : val->chunks();
        for (int64_t k = 0; k < n; ++k) {
          auto [x, y] = val->chunk(k);
          auto [l, next] = evaluate(model, vs, nn::TextBatch{x, y});
          total += l.item();
          vs = next;
        }
        return total / static_cast<double>(n);
      },
      [&](std::vector<std::pair<std::string, Tensor>>& out) {
        const std::vector<std::string> names = tree::paths(state, "train.state");
        const std::vector<Tensor> values = tree::tensors(state);
        for (std::size_t i = 0; i < names.size(); ++i)
          out.emplace_back(names[i], multi ? dist::allgather_rows(values[i]) : values[i]);
      },
      [&](const io::Checkpoint& c, int64_t s) {
        if (s % chunks == 0) return;
        if (!multi) return c.load_tree(state, "train.state");
        State global = model.initial_state(all.batch());
        c.load_tree(global, "train.state");
        std::vector<Tensor> mine;
        for (const Tensor& t : tree::tensors(global)) mine.push_back(dist::my_rows(t));
        state = tree::replace(global, mine);
      },
      [&](const Rng& rng) { return detail::rerun_checked(step, rng, model, before, batch); });
}

// Trains on Keras windows: each step a batch of `batch` windows, a fresh state per window (the
// loss makes it), the windows of a pass in a shuffled order drawn from (seed, pass).
// losses.train: (model, batch, Rng&) -> loss; losses.eval: (model, batch) -> loss. Validation
// runs the first val_chunks batches of `val` (all when 0).
template <class Model, class Train, class Eval>
FitResult fit(Model& model, optim::Optimizer& opt, const data::Windows& data, const data::Windows* val, int64_t batch,
              const Losses<Train, Eval>& losses, const FitOptions& o, std::vector<Callback> callbacks = {}) {
  auto step = compile(value_and_grad(losses.train), o.compile);
  auto evaluate = compile(losses.eval, detail::for_evaluation(o.compile));
  const int64_t per_epoch = data.count() / batch;
  if (per_epoch < 1)
    throw Error("rnnc: nn::fit: " + std::to_string(data.count()) + " windows, fewer than one batch of " +
                std::to_string(batch));
  std::vector<int64_t> order;
  int64_t order_epoch = -1;
  const int64_t ranks = o.distributed ? dist::size() : 1, share = batch / ranks;
  if (batch % ranks != 0)
    throw Error("rnnc: nn::fit: a batch of " + std::to_string(batch) + " does not split over " + std::to_string(ranks) + " ranks");
  auto windows = [&](int64_t s) {  // step s's windows (this rank's share); the pass's order is drawn once per pass
    if (s / per_epoch != order_epoch) order = data::shuffled(data.count(), o.seed, order_epoch = s / per_epoch);
    const auto first = order.begin() + (s % per_epoch) * batch + (ranks > 1 ? dist::rank() : 0) * share;
    return std::vector<int64_t>(first, first + share);
  };
  nn::TextBatch last;
  return detail::run(
      model, opt, per_epoch, batch * data.length(), val != nullptr, o, callbacks,
      [&](int64_t s, Rng& rng, const CallHooks& hooks) {
        auto [x, y] = data.batch(windows(s));
        last = {x, y};
        auto [loss, grads] = step.call(hooks, model, last, rng);
        return std::pair{loss.item(), std::move(grads)};
      },
      [&] {
        double total = 0;
        int64_t n = 0;
        const int64_t most = o.val_chunks > 0 ? o.val_chunks : val->count() / batch;
        for (int64_t start = 0; start + batch <= val->count() && n < most; start += batch, ++n) {
          std::vector<int64_t> which(static_cast<std::size_t>(batch));
          for (int64_t i = 0; i < batch; ++i) which[static_cast<std::size_t>(i)] = start + i;
          auto [x, y] = val->batch(which);
          total += evaluate(model, nn::TextBatch{x, y}).item();
        }
        return n ? total / static_cast<double>(n) : std::numeric_limits<double>::quiet_NaN();
      },
      [](std::vector<std::pair<std::string, Tensor>>&) {}, [](const io::Checkpoint&, int64_t) {},
      [&](const Rng& rng) { return detail::rerun_checked(step, rng, model, last); });
}

// A batch of sequences of different lengths (data::Buckets): tokens i32 [T, B] padded past each
// row's length, the lengths i32 [B], a label per row i32 [B].
struct SequenceBatch {
  Leaf x, lengths, y;
  RNNC_TREE(x, lengths, y)
};

// Trains on sequences of different lengths: each step one batch of sequences of similar lengths
// (data::Buckets), a pass's batches drawn from (seed, pass). A batch of another padded length is
// another shape, traced and compiled once (Buckets rounds lengths to keep them few).
// losses.train: (model, SequenceBatch, Rng&) -> loss; losses.eval: (model, SequenceBatch) -> loss.
// Validation runs every sequence of `val` once (the first val_chunks batches when set), the loss
// weighted by batch size. chars_per_s counts real steps.
template <class Model, class Train, class Eval>
FitResult fit(Model& model, optim::Optimizer& opt, const data::Buckets& data, const data::Buckets* val,
              const Losses<Train, Eval>& losses, const FitOptions& o, std::vector<Callback> callbacks = {}) {
  auto step = compile(value_and_grad(losses.train), o.compile);
  auto evaluate = compile(losses.eval, detail::for_evaluation(o.compile));
  const int64_t per_epoch = data.batches();
  const int64_t ranks = o.distributed ? dist::size() : 1, share = data.batch_size() / ranks;
  if (data.batch_size() % ranks != 0)
    throw Error("rnnc: nn::fit: a batch of " + std::to_string(data.batch_size()) + " does not split over " +
                std::to_string(ranks) + " ranks");
  std::vector<std::vector<int64_t>> order;
  int64_t order_epoch = -1;
  SequenceBatch last;
  auto as_batch = [](const data::Buckets::Batch& b) { return SequenceBatch{b.x, b.lengths, b.y}; };
  return detail::run(
      model, opt, per_epoch, data.tokens() * data.batch_size() / data.count(), val != nullptr, o, callbacks,
      [&](int64_t s, Rng& rng, const CallHooks& hooks) {
        if (s / per_epoch != order_epoch) order = data.pass(o.seed, order_epoch = s / per_epoch);
        const std::vector<int64_t>& which = order[static_cast<std::size_t>(s % per_epoch)];
        const auto first = which.begin() + (ranks > 1 ? dist::rank() : 0) * share;
        last = as_batch(data.batch(std::vector<int64_t>(first, first + share)));
        auto [loss, grads] = step.call(hooks, model, last, rng);
        return std::pair{loss.item(), std::move(grads)};
      },
      [&] {
        double total = 0, rows = 0;
        int64_t n = 0;
        for (const std::vector<int64_t>& which : val->in_order()) {
          if (o.val_chunks > 0 && n++ >= o.val_chunks) break;
          total += evaluate(model, as_batch(val->batch(which))).item() * static_cast<double>(which.size());
          rows += static_cast<double>(which.size());
        }
        return total / rows;
      },
      [](std::vector<std::pair<std::string, Tensor>>&) {}, [](const io::Checkpoint&, int64_t) {},
      [&](const Rng& rng) { return detail::rerun_checked(step, rng, model, last); });
}

}  // namespace rnnc::nn
