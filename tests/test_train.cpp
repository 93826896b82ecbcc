// The trainer: fit over streams with validation, clipping, schedules and callbacks; resuming a run
// with dropout bit for bit; a non-finite loss stops training by name.
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "helpers.h"

using namespace rnnc;
namespace fs = std::filesystem;

namespace {
using Model = nn::CharRNN<nn::GRUCell>;

struct Setup {
  data::Vocab vocab;
  data::Streams train, val;
};
Setup setup(int B, int T) {
  const std::u32string text = data::decode_utf8(data::read_text(RNNC_TEST_CORPUS)).substr(0, 20000);
  data::Vocab vocab = data::Vocab::of(text);
  const data::Split parts = data::split(text, 0.1);
  return {vocab, data::Streams(vocab.encode(parts.train), B, T), data::Streams(vocab.encode(parts.val), 2, T)};
}
fs::path temp_dir(const std::string& name) {
  const fs::path d = fs::temp_directory_path() / ("rnnc-test-train-" + name);
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}
}  // namespace

TEST_CASE("fit: streams, validation, clipping, a schedule, keep-best with the step and loss in its name, the curve") {
  Setup d = setup(8, 16);
  std::mt19937_64 rng(1);
  Model model = Model::init(d.vocab.size(), 32, rng, {.dropout = 0.1});
  optim::Optimizer opt(optim::Adam{.lr = 1e-2});
  const fs::path dir = temp_dir("fit");
  std::vector<double> lrs;
  nn::FitResult r = nn::fit(
      model, opt, d.train, Model::loss,
      {.validation = &d.val,
       .budget = {.steps = 90},
       .clip = {.norm = 5},
       .lr = optim::cosine_lr(1e-2, 10, 90),
       .validate_every = 30,
       .describe = [&] { return nn::checkpoint(model, d.vocab); },
       .callbacks = {nn::KeepBest{(dir / "best_{step}_{val_loss}.safetensors").string()},
                     nn::LossCurve{(dir / "curve").string()}, [&](const nn::Event& e) { lrs.push_back(e.lr); }}});
  CHECK(r.steps == 90);
  // Validation ran the same loss with dropout off: the held-out streams from a fresh state.
  {
    auto evaluate = compile(Model::loss);
    Rng off = Rng::evaluation();
    Model::State s = model.initial_state(d.val.rows());
    double total = 0;
    for (int64_t k = 0; k < d.val.eval_batches(); ++k) {
      auto [l, next] = evaluate(model, s, d.val.eval_batch(k), off);
      total += l.item();
      s = next;
    }
    CHECK(r.val_loss == Approx(total / static_cast<double>(d.val.eval_batches())).epsilon(1e-12));
    Rng on(1);
    CHECK(evaluate(model, model.initial_state(2), d.val.eval_batch(0), on).first.item() !=
          evaluate(model, model.initial_state(2), d.val.eval_batch(0), off).first.item());  // dropout drew
  }
  CHECK(r.loss < std::log(d.vocab.size()) - 0.8);
  CHECK(r.best_val_loss <= r.val_loss);
  CHECK(lrs.front() == Approx(1e-3));  // warm-up
  CHECK(lrs[9] == Approx(1e-2));
  CHECK(lrs.back() < 1e-4);  // cosine to zero
  int best_files = 0;
  for (const auto& f : fs::directory_iterator(dir))
    if (f.path().filename().string().rfind("best_", 0) == 0) {
      ++best_files;
      std::mt19937_64 r1(2);
      std::u32string prime = U"T";
      CHECK(nn::sample_checkpoint(io::load(f.path()), prime, 10, {}, r1).size() >= 10);  // rnnc sample reads it
    }
  CHECK(best_files >= 1);
  std::ifstream csv(dir / "curve.csv");
  std::string header;
  std::getline(csv, header);
  CHECK(header == "step,seconds,train_loss,val_loss");
  fs::remove_all(dir);
}

TEST_CASE("fit: a resumed run continues the uninterrupted one bit for bit (dropout on, mid-pass)") {
  Setup d = setup(4, 8);
  REQUIRE(d.train.chunks() % 25 != 0);  // the checkpoint falls inside a pass: the carried state matters
  const fs::path dir = temp_dir("resume");
  auto run = [&](int64_t steps, const fs::path& resume) {
    std::mt19937_64 rng(3);
    Model model = Model::init(d.vocab.size(), 16, rng, {.layers = 2, .dropout = 0.3});
    optim::Optimizer opt(optim::Adam{.lr = 5e-3});
    const nn::FitResult r = nn::fit(model, opt, d.train, Model::loss,
                                    {.budget = {.steps = steps},
                                     .clip = {.value = 1},
                                     .lr = optim::step_lr(5e-3, 10, 0.7),
                                     .seed = 11,
                                     .resume = resume,
                                     .callbacks = {nn::KeepLast{(dir / "last_{step}.safetensors").string(), 25}}});
    if (!resume.empty()) CHECK(r.first_step == 25);
    if (steps <= 25) CHECK(!nn::summary_fields(r)[0].value);  // nothing ran: no training loss reported
    return tree::tensors(model);
  };
  const std::vector<Tensor> straight = run(40, {});
  REQUIRE(fs::exists(dir / "last_25.safetensors"));
  const std::vector<Tensor> resumed = run(40, dir / "last_25.safetensors");
  REQUIRE(straight.size() == resumed.size());
  for (std::size_t i = 0; i < straight.size(); ++i) CHECK(max_abs_diff(straight[i], resumed[i]) == 0);
  run(25, dir / "last_25.safetensors");  // already there: no step
  // Training state read as strictly as the command line: a wrong field is named, never used.
  for (const auto& [key, value] : std::vector<std::pair<std::string, std::string>>{{"train.step", "-5"},
                                                                                   {"train.step", "nan"},
                                                                                   {"train.step", "1e30"},
                                                                                   {"train.step", "12x"},
                                                                                   {"train.rng_seed", "abc"},
                                                                                   {"train.lr", "nan"},
                                                                                   {"train.lr", "inf"},
                                                                                   {"train.optim_steps", "-3"}}) {
    io::Checkpoint c = io::load(dir / "last_25.safetensors");
    c.metadata[key] = value;
    io::save(dir / "tampered.safetensors", c);
    std::mt19937_64 rng(3);
    Model model = Model::init(d.vocab.size(), 16, rng, {.layers = 2, .dropout = 0.3});
    optim::Optimizer opt(optim::Adam{});
    CHECK_THROWS_WITH(
        nn::fit(model, opt, d.train, Model::loss, {.budget = {.steps = 30}, .resume = dir / "tampered.safetensors"}),
        Catch::Contains("metadata '" + key + "' = '" + value + "' is not"));
  }
  // A checkpoint of another model is refused by name before anything changes.
  std::mt19937_64 rng(3);
  auto other = nn::CharRNN<nn::GRUCell>::init(d.vocab.size(), 24, rng);
  optim::Optimizer opt(optim::Adam{});
  CHECK_THROWS_WITH(
      nn::fit(other, opt, d.train, Model::loss, {.budget = {.steps = 1}, .resume = dir / "last_25.safetensors"}),
      Catch::Contains("'rnn.layers.0.weight_ih' is f32[48,") && Catch::Contains("the model expects f32[72,"));
  fs::remove_all(dir);
}

TEST_CASE("budget_lr: held, then a cosine to 0 at the budget's end") {
  const optim::Schedule lr = optim::budget_lr(2e-3, 0.5);
  const auto [done, want] = GENERATE(table<double, double>(
      {{0.0, 2e-3}, {0.5, 2e-3}, {0.625, 1e-3 * (1 + std::cos(M_PI / 4))}, {0.75, 1e-3}, {1.0, 0.0}, {1.5, 0.0}}));
  CHECK(lr({.step = 7, .done = done}) == Approx(want).margin(1e-15));
  CHECK(optim::budget_lr(1.0, 0)({.done = 0.5}) == Approx(0.5));  // hold 0: the cosine over the whole budget
  CHECK_THROWS_WITH(optim::budget_lr(1.0, 1), Catch::Contains("hold 1 is not in [0, 1)"));
}

TEST_CASE("fit: the schedule sees the fraction of the budget spent, in steps, passes or seconds") {
  Setup d = setup(4, 8);
  std::mt19937_64 rng(4);
  Model model = Model::init(d.vocab.size(), 8, rng);
  optim::Optimizer opt(optim::SGD{.lr = 0});
  auto run = [&](nn::Budget b) {
    std::vector<optim::Progress> seen;
    nn::fit(model, opt, d.train, Model::loss, {.budget = b, .lr = [&](const optim::Progress& p) {
                                                 seen.push_back(p);
                                                 return 0.0;
                                               }});
    return seen;
  };
  std::vector<optim::Progress> p = run({.steps = 4});
  REQUIRE(p.size() == 4);
  for (int i = 0; i < 4; ++i) CHECK((p[i].step == i && p[i].done == Approx(i / 4.0)));
  p = run({.epochs = 2});  // two passes of chunks() steps
  const int64_t n = 2 * d.train.chunks();
  REQUIRE(int64_t(p.size()) == n);
  CHECK(p.back().done == Approx(double(n - 1) / double(n)));
  p = run({.steps = 100000000, .seconds = 1});  // the clock's fraction, the larger
  REQUIRE(p.size() > 2);
  CHECK(p.front().done == Approx(0).margin(0.2));
  CHECK(p.back().done > 0.5);
  CHECK(p.back().done < 1);
  for (size_t i = 1; i < p.size(); ++i) CHECK(p[i].done >= p[i - 1].done);
}

TEST_CASE("fit: early stopping, budgets, and a non-finite loss named by its step") {
  Setup d = setup(4, 8);
  std::mt19937_64 rng(4);
  Model model = Model::init(d.vocab.size(), 16, rng);
  optim::Optimizer frozen(optim::SGD{.lr = 0});  // nothing improves
  nn::FitResult r = nn::fit(model, frozen, d.train, Model::loss,
                            {.validation = &d.val,
                             .budget = {.steps = 1000},
                             .validate_every = 5,
                             .val_batches = 2,
                             .callbacks = {nn::EarlyStopping{2}}});
  CHECK(r.steps == 15);  // validations at 5 (best), 10 and 15 (no better: stop)
  r = nn::fit(model, frozen, d.train, Model::loss, {.budget = {.epochs = 1}});
  CHECK(r.steps == d.train.chunks());
  // Passes by division: epochs x chunks past int64's range is a budget no run reaches.
  r = nn::fit(model, frozen, d.train, Model::loss, {.budget = {.steps = 3, .epochs = int64_t(1) << 62}});
  CHECK(r.steps == 3);
  CHECK_THROWS_WITH(nn::fit(model, frozen, d.train, Model::loss, {}), Catch::Contains("the budget is empty"));
  // A loss without an Rng (no dropout) trains as well.
  auto plain = [](const Model& m, const Model::State& s, const data::TextBatch& b) {
    Rng off = Rng::evaluation();
    return Model::loss(m, s, b, off);
  };
  CHECK(nn::fit(model, frozen, d.train, plain, {.budget = {.steps = 2}}).steps == 2);
  auto infinite = [](const Model& m, const Model::State& s, const data::TextBatch& b, Rng& rng) {
    auto [l, next] = Model::loss(m, s, b, rng);
    return std::pair{l - log(l * 0.0), next};
  };
  CHECK_THROWS_WITH(nn::fit(model, frozen, d.train, infinite, {.budget = {.steps = 3}}),
                    Catch::Contains("the loss of step 1 is inf") &&
                        Catch::Contains("first non-finite value: log at test_train.cpp:"));
  // A learning rate far too high: the loss passes 10x its first value (and would go on to 1e31).
  optim::Optimizer wild(optim::SGD{.lr = 1e4});
  Model fresh = Model::init(d.vocab.size(), 16, rng);
  CHECK_THROWS_WITH(nn::fit(fresh, wild, d.train, Model::loss, {.budget = {.steps = 50}}),
                    Catch::Contains("the run diverged") && Catch::Contains("the first step's"));
}

TEST_CASE("fit on Keras windows: a fresh state per window, shuffled passes, resumable bit for bit") {
  const std::u32string text = data::decode_utf8(data::read_text(RNNC_TEST_CORPUS)).substr(0, 3000);
  const data::Vocab vocab = data::Vocab::of(text);
  const data::Windows windows(vocab.encode(text), 10, {.step = 3, .batch = 16, .seed = 9});
  const fs::path dir = temp_dir("windows");
  auto run = [&](int64_t steps, const fs::path& resume, nn::FitResult* result = nullptr) {
    std::mt19937_64 rng(5);
    Model model = Model::init(vocab.size(), 16, rng, {.dropout = 0.2});
    optim::Optimizer opt(optim::RMSprop{.lr = 1e-2});
    nn::FitResult r = nn::fit(model, opt, windows, Model::window_loss,
                              {.validation = &windows,
                               .budget = {.steps = steps},
                               .validate_every = 20,
                               .val_batches = 2,
                               .seed = 9,
                               .resume = resume,
                               .callbacks = {nn::KeepLast{(dir / "w_{step}.safetensors").string(), 35}}});
    if (result) *result = r;
    return tree::tensors(model);
  };
  nn::FitResult r;
  const std::vector<Tensor> straight = run(120, {}, &r);
  CHECK(windows.count() / 16 < 120);  // several shuffled passes
  CHECK(r.epochs > 1);
  CHECK(r.best_val_loss < std::log(vocab.size()) - 0.3);
  const std::vector<Tensor> resumed = run(120, dir / "w_70.safetensors");
  for (std::size_t i = 0; i < straight.size(); ++i) CHECK(max_abs_diff(straight[i], resumed[i]) == 0);
  fs::remove_all(dir);
}

TEST_CASE("fit under a memory budget: the step recomputes within it and trains as without one") {
  Setup d = setup(4, 120);
  // What the step plans when it stores every step: the budget is a third of it.
  int64_t stored = 0;
  {
    std::mt19937_64 rng(3);
    Model model = Model::init(d.vocab.size(), 24, rng, {.dropout = 0.1});
    auto step = compile(value_and_grad(Model::loss));
    Rng drop(1);
    step(model, model.initial_state(4), d.train.chunk(0), drop);
    stored = step.compiled().stats().arena_bytes;
  }
  std::vector<double> losses[2];
  for (int budgeted : {0, 1}) {
    std::mt19937_64 rng(3);
    Model model = Model::init(d.vocab.size(), 24, rng, {.dropout = 0.1});
    optim::Optimizer opt(optim::Adam{.lr = 1e-2});
    std::vector<double>& l = losses[budgeted];
    nn::FitOptions<data::Streams> o{.validation = &d.val,
                                    .budget = {.steps = 12},
                                    .clip = {.norm = 5},
                                    .validate_every = 6,
                                    .callbacks = {[&](const nn::Event& e) { l.push_back(e.loss); }}};
    if (budgeted) o.compile.memory_budget = stored / 3;  // compile throws if no plan fits it
    nn::FitResult r = nn::fit(model, opt, d.train, Model::loss, o);
    CHECK(r.steps == 12);
  }
  REQUIRE(losses[0].size() == losses[1].size());
  for (size_t i = 0; i < losses[0].size(); ++i) CHECK(losses[1][i] == Approx(losses[0][i]).epsilon(1e-4));
}
