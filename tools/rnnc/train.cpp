#include "train.h"

#include <fmt/format.h>
#include <rnnc/rnnc.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "run.h"

namespace rnnc::tool {

namespace fs = std::filesystem;

namespace {

optim::Optimizer make_optimizer(const std::string& name, double lr) {
  if (name == "adam") return optim::Optimizer(optim::Adam{.lr = lr});
  if (name == "rmsprop") return optim::Optimizer(optim::RMSprop{.lr = lr});
  if (name == "adagrad") return optim::Optimizer(optim::Adagrad{.lr = lr});
  if (name == "sgd") return optim::Optimizer(optim::SGD{.lr = lr});
  throw Error(fmt::format("--optimizer: '{}' is not one of adam, rmsprop, adagrad, sgd", name));
}

// Refuses a model whose weights, gradients and Adam's two moments (4 float32 copies) would not fit
// in this machine's memory, naming the options.
void check_model_size(const TrainOptions& o, int vocab) {
  const long double gates = o.cell == "lstm"  ? 4
                            : o.cell == "gru" ? 3
                                              : 1,
                    H = o.hidden, V = vocab, E = o.embedding, in0 = o.embedding > 0 ? E : V;
  const long double params =
      gates * H * (in0 + H + 2) + (o.layers - 1.0L) * gates * H * (2 * H + 2) + V * H + V + E * V;
  const long double bytes = 16 * params;
  const long double memory = static_cast<long double>(::sysconf(_SC_PHYS_PAGES)) * ::sysconf(_SC_PAGESIZE);
  if (bytes > memory)
    throw Error(
        fmt::format("--layers {} --hidden {}: about {:.3g} parameters, {:.3g} GB with their gradients and "
                    "optimizer state, more than this machine's {:.3g} GB of memory",
                    o.layers, o.hidden, static_cast<double>(params), static_cast<double>(bytes / 1e9),
                    static_cast<double>(memory / 1e9)));
}

// Under mpirun: every rank trains with the same options on the same text, or every rank stops with
// an error naming the option that differs (ranks that disagreed trained silently to a meaningless
// model, or waited for each other forever).
void agree_on_options(const TrainOptions& o, const std::string& digest, const data::Vocab& vocab) {
  if (dist::size() == 1) return;
  std::vector<std::string> names;
  std::vector<Tensor> values;
  auto add = [&](const std::string& name, double v) {
    names.push_back(name);
    values.push_back(Tensor::scalar(v, DType::f64));
  };
  auto add_text = [&](const std::string& name, std::string_view text) {  // a 64-bit FNV-1a hash, exactly
    const uint64_t h = fnv1a(text);
    add(name, static_cast<double>(h >> 32));
    add(name, static_cast<double>(h & 0xffffffffu));
  };
  add_text("--data (the text)", digest);
  add_text("--data (the vocabulary)", data::encode_utf8(vocab.chars()));
  add_text("--cell", o.cell);
  add_text("--optimizer", o.optimizer);
  add_text("--resume", o.resume);
  add_text("--init", o.init);
  for (const auto& [name, v] :
       std::vector<std::pair<const char*, double>>{{"--steps", static_cast<double>(o.common.steps)},
                                                   {"--epochs", static_cast<double>(o.common.epochs)},
                                                   {"--time", o.common.time},
                                                   {"--seq-length", static_cast<double>(o.common.seq_length)},
                                                   {"--seed", static_cast<double>(o.common.seed)},
                                                   {"--layers", o.layers},
                                                   {"--hidden", o.hidden},
                                                   {"--embedding", o.embedding},
                                                   {"--dropout", o.dropout},
                                                   {"--batch", o.batch},
                                                   {"--lr", o.lr},
                                                   {"--anneal", o.anneal},
                                                   {"--clip", o.clip},
                                                   {"--val-frac", o.val_frac},
                                                   {"--validate-every", static_cast<double>(o.validate_every)},
                                                   {"--memory-budget", o.memory_budget},
                                                   {"--bf16", o.bf16 ? 1.0 : 0.0},
                                                   {"--no-overlap", o.overlap ? 0.0 : 1.0}})
    add(name, v);
  dist::check_same(values, names);
}

// The folder checkpoints go to, created, and checked writable before any step is trained.
fs::path writable_folder(const std::string& save) {
  if (save.empty()) throw Error("--save: give a folder for the checkpoints");
  const fs::path dir = save;
  std::error_code ec;
  if (fs::exists(dir, ec) && !fs::is_directory(dir, ec))
    throw Error(fmt::format("--save: '{}' is a file, not a folder", save));
  fs::create_directories(dir, ec);
  if (ec) throw Error(fmt::format("--save: cannot create '{}': {}", save, ec.message()));
  const fs::path probe = dir / fmt::format(".rnnc-write-test-{}", ::getpid());
  if (!std::ofstream(probe)) throw Error(fmt::format("--save: '{}' is not writable", save));
  fs::remove(probe, ec);
  return dir;
}

// --init: the model's cell and sizes are its checkpoint's; one given on the command line must
// agree. Returns the checkpoint's vocabulary, which the text is read with.
data::Vocab take_model_of(const io::Checkpoint& c, TrainOptions& o) {
  const nn::detail::CharRNNConfig cfg = nn::detail::char_rnn_config(c);
  if (o.cell == "rnn") o.cell = "rnn_tanh";  // --cell's other name for it
  auto take = [&](const char* flag, auto& option, const auto& value) {
    if (o.given.count(flag) && option != value)
      throw Error(
          fmt::format("--init: '{}' holds a {}-layer {} of {} units (embedding {}); {} {} disagrees (leave "
                      "it out: the checkpoint decides)",
                      o.init, cfg.layers, cfg.cell, cfg.hidden, cfg.embedding, flag, option));
    option = value;
  };
  take("--cell", o.cell, cfg.cell);
  take("--layers", o.layers, cfg.layers);
  take("--hidden", o.hidden, static_cast<int>(cfg.hidden));
  take("--embedding", o.embedding, cfg.embedding);
  return cfg.vocab;
}

// The learning rate a checkpoint's run started from (metadata train.lr0), or, from a run that did
// not write it, the rate it had when it was saved.
double first_rate(const io::Checkpoint& c) {
  const std::string key = c.metadata.count("train.lr0") ? "train.lr0" : "train.lr";
  const std::string& v = c.meta(key);
  try {
    std::size_t used = 0;
    const double lr = std::stod(v, &used);
    if (used == v.size() && std::isfinite(lr) && lr > 0) return lr;
  } catch (const std::exception&) {}
  throw Error(fmt::format("--resume: metadata '{}' = '{}' is not a learning rate (positive)", key, v));
}

template <class Cell> int train_as(const TrainOptions& o, const data::Vocab& vocab, const std::string& digest,
                                   const data::Streams& train, const data::Streams* val, const io::Checkpoint* init) {
  using Model = nn::CharRNN<Cell>;
  std::mt19937_64 rng(o.common.seed);
  Model model =
      Model::init(vocab.size(), o.hidden, rng, {.layers = o.layers, .embedding = o.embedding, .dropout = o.dropout});
  if constexpr (std::is_same_v<Cell, nn::RNNCell>)
    for (auto& l : model.rnn.layers) l.relu = o.cell == "rnn_relu";
  if (init) {  // its weights (every name, shape and dtype checked); dropout is this run's
    model = nn::from_checkpoint<Cell>(*init);
    model.rnn.dropout = o.dropout;
  }
  // The schedule starts from --lr; a resumed run without --lr, from the rate its run started with.
  double lr0 = o.lr;
  if (!o.resume.empty()) {  // the same model and the same text, or an error that says which differs
    const io::Checkpoint c = io::load(o.resume);
    if (!o.given.count("--lr")) lr0 = first_rate(c);
    const nn::detail::CharRNNConfig cfg = nn::detail::char_rnn_config(c);
    if (cfg.vocab.chars() != vocab.chars())
      throw Error(fmt::format("--resume: '{}' was trained on another text ({} distinct characters, this one has {})",
                              o.resume, cfg.vocab.size(), vocab.size()));
    if (c.metadata.count("data.digest") && c.meta("data.digest") != digest)
      throw Error(
          fmt::format("--resume: '{}' was trained on another text (its digest {}, this one's {}), of the "
                      "same characters",
                      o.resume, c.meta("data.digest"), digest));
    if (cfg.cell != nn::cell_name(model.rnn.layers.at(0)))
      throw Error(fmt::format("--resume: '{}' holds a '{}' model, not '{}' (--cell)", o.resume, cfg.cell,
                              nn::cell_name(model.rnn.layers.at(0))));
  }
  optim::Optimizer opt = make_optimizer(o.optimizer, o.lr);
  const fs::path dir = writable_folder(o.save);
  nn::FitOptions<data::Streams> fo;
  fo.validation = val;
  fo.budget = o.common.budget();
  fo.clip = {.value = o.clip};
  fo.validate_every = o.validate_every > 0 ? o.validate_every
                      : o.common.steps > 0 ? std::max<int64_t>(1, o.common.steps / 10)
                                           : 200;
  fo.seed = o.common.seed;
  fo.resume = o.resume;
  fo.lr = o.anneal > 0 ? optim::budget_lr(lr0, 1 - o.anneal) : optim::constant_lr(lr0);
  fo.compile = o.common.compile();
  fo.compile.memory_budget = static_cast<int64_t>(o.memory_budget * 1e6);
  fo.compile.bf16 = o.bf16;
  fo.overlap = o.overlap;
  fo.describe = [&] {
    io::Checkpoint c = nn::checkpoint(model, vocab);
    c.metadata["data"] = o.common.data;
    c.metadata["data.digest"] = digest;
    c.metadata["train.lr0"] = fmt::format("{}", lr0);
    return c;
  };
  if (dist::is_root())
    fmt::print(
        "{} model: {} layers of {} {} units{}, {} parameters; {} characters in the vocabulary{}\n", o.cell, o.layers,
        o.hidden, o.cell, o.embedding ? fmt::format(", embedding {}", o.embedding) : "",
        [&] {
          int64_t n = 0;
          for (const Tensor& t : tree::tensors(model)) n += t.numel();
          return n;
        }(),
        vocab.size(), init ? fmt::format("; weights from {}", o.init) : "");
  if (dist::is_root())  // the whole recipe, as options: what ran, to run again or to give another framework
    fmt::print(
        "options: --cell {} --layers {} --hidden {} --embedding {} --dropout {} --batch {} --seq-length {} "
        "--optimizer {} --lr {} --anneal {} --clip {} --val-frac {} --seed {}{}\n",
        o.cell, o.layers, o.hidden, o.embedding, o.dropout, o.batch, o.common.seq_length, o.optimizer, lr0, o.anneal,
        o.clip, o.val_frac, o.common.seed, o.bf16 ? " --bf16" : " --no-bf16");
  fo.callbacks = {nn::ProgressLine{}, nn::KeepBest{(dir / "best.safetensors").string()},
                  nn::KeepLast{(dir / "last.safetensors").string()},
                  nn::LossCurve{(dir / "loss").string(), "rnnc train: " + o.cell}};
  nn::FitResult r = nn::fit(model, opt, train, Model::loss, fo);
  if (!dist::is_root()) return 0;  // under mpirun, rank 0 alone reports and writes (nn::fit)
  if (dist::size() > 1)
    fmt::print(
        "{} ranks, {} streams each; {:.2f} MB of gradients averaged per step, {:.1f} ms per step in the allreduce "
        "({:.1f}% of the run){}\n",
        dist::size(), o.batch / dist::size(), static_cast<double>(r.allreduce_bytes) / 1e6,
        r.steps ? 1e3 * r.allreduce_seconds / static_cast<double>(r.steps) : 0.0,
        r.seconds > 0 ? 100 * r.allreduce_seconds / r.seconds : 0.0,
        o.overlap ? fmt::format("; overlapped with the backward pass: {:.1f}% of the bytes",
                                r.steps && r.allreduce_bytes
                                    ? 100.0 * static_cast<double>(r.allreduce_early_bytes) /
                                          (static_cast<double>(r.allreduce_bytes) * static_cast<double>(r.steps))
                                    : 0.0)
                  : std::string("; not overlapped (--no-overlap)"));
  if (r.steps == r.first_step) {
    fmt::print("nothing to train: '{}' is at step {} already (--steps {}); nothing written\n", o.resume, r.steps,
               o.common.steps);
  } else {
    const bool best = std::isfinite(r.best_val_loss);  // KeepBest wrote at a validation
    fmt::print("saved {}{}/last.safetensors, {}/loss.csv, {}/loss.svg\n",
               best ? fmt::format("{}/best.safetensors (best val_loss {:.4f}), ", o.save, r.best_val_loss) : "", o.save,
               o.save, o.save);
    fmt::print("sample: rnnc sample {}/{}.safetensors\n", o.save, best ? "best" : "last");
  }
  fmt::print("{}\n", report::summary_line(nn::summary_fields(r)));
  return 0;
}

}  // namespace

int train(const TrainOptions& options) {
  try {
    TrainOptions o = options;
    if (o.common.steps <= 0 && o.common.epochs <= 0 && o.common.time <= 0)
      throw Error("give a budget: --steps N, --epochs N or --time SECONDS");
    if (o.layers < 1 || o.hidden < 1 || o.common.seq_length < 1 || o.batch < 1 || o.embedding < 0)
      throw Error("--layers, --hidden, --seq-length and --batch must be positive, --embedding not negative");
    if (o.dropout < 0 || o.dropout >= 1) throw Error(fmt::format("--dropout {} is not in [0, 1)", o.dropout));
    if (o.val_frac < 0 || o.val_frac >= 1) throw Error(fmt::format("--val-frac {} is not in [0, 1)", o.val_frac));
    std::optional<io::Checkpoint> init;
    std::optional<data::Vocab> init_vocab;
    if (!o.init.empty()) {
      if (!o.resume.empty())
        throw Error(
            "--init and --resume: one or the other (--resume continues a run; --init starts a new one from a "
            "model's weights)");
      init = io::load(o.init);
      init_vocab = take_model_of(*init, o);
    }
    const std::string path = o.common.data.empty() ? find_layout().corpus_dir : o.common.data;
    const data::Corpus text = [&] {
      try {
        return data::read_corpus(path, o.val_frac, init_vocab ? &*init_vocab : nullptr);
      } catch (const Error& e) {  // a character the model does not know
        if (!init) throw;
        throw Error(fmt::format("--init '{}': the text '{}' does not fit the model: {}", o.init, path, e.what()));
      }
    }();
    const data::Vocab& vocab = text.vocab;
    check_model_size(o, vocab.size());  // before the model is made (--layers 2147483647 allocated 5.7 GB first)
    // What a resumed run checks it trains on: the length and an FNV-1a hash of the text.
    const std::string digest = fmt::format("{}:{:016x}", text.text.size(), fnv1a(data::encode_utf8(text.text)));
    agree_on_options(o, digest, vocab);  // under mpirun, before any rank trains
    if (text.train.numel() < int64_t(o.batch) * o.common.seq_length + 1)
      throw Error(fmt::format("'{}' has {} training characters, fewer than one batch of {} x {}", path,
                              text.train.numel(), o.batch, o.common.seq_length));
    const data::Streams train(text.train, o.batch, o.common.seq_length);
    std::optional<data::Streams> val;
    if (text.val.numel() > o.common.seq_length + 1) val.emplace(data::held_out(text.val, o.batch, o.common.seq_length));
    if (dist::is_root())
      fmt::print("{}: {} characters, {} for training ({} chunks of {} x {} per pass), {} for validation\n", path,
                 text.text.size(), text.train.numel(), train.chunks(), o.batch, o.common.seq_length, text.val.numel());
    const data::Streams* v = val ? &*val : nullptr;
    const io::Checkpoint* from = init ? &*init : nullptr;
    if (o.cell == "lstm") return train_as<nn::LSTMCell>(o, vocab, digest, train, v, from);
    if (o.cell == "gru") return train_as<nn::GRUCell>(o, vocab, digest, train, v, from);
    if (o.cell == "rnn" || o.cell == "rnn_tanh" || o.cell == "rnn_relu")
      return train_as<nn::RNNCell>(o, vocab, digest, train, v, from);
    throw Error(fmt::format("--cell: '{}' is not one of lstm, gru, rnn, rnn_relu", o.cell));
  } catch (const std::exception& e) {
    fmt::print(stderr, "rnnc train: {}\n", describe(e, "train"));
    return 1;
  }
}

}  // namespace rnnc::tool
