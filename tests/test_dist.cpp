// The distributed layer (dist.h) and data-parallel training (nn::fit under mpirun). CTest runs
// this program alone (rank 0 of 1: every call is a no-op) and under `mpirun -np 2`, where the
// checks below see two ranks.
#include <catch2/catch.hpp>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <thread>
#include <rnnc/rnnc.h>

#include "helpers.h"
#include "rnnc/dist.h"

using namespace rnnc;
using namespace rnnc::testing;

namespace {

struct Model {
  Param w, b;
  std::vector<Param> layers;
  RNNC_TREE(w, b, layers)
};

// Rank r's model: every element r + 1 + i / 8 (so the mean over ranks is known).
Model model_of(int r, DType t) {
  auto fill = [&](Shape s) {
    Tensor x = Tensor::zeros(s, t);
    for (int64_t i = 0; i < x.numel(); ++i) x.set(i, r + 1 + static_cast<double>(i) / 8);
    return x;
  };
  return {fill({3, 4}), fill({4}), {fill({5, 2}), fill({1000})}};
}

}  // namespace

TEST_CASE("dist: rank and size", "[dist]") {
  CHECK(dist::size() >= 1);
  CHECK(dist::rank() >= 0);
  CHECK(dist::rank() < dist::size());
  CHECK(dist::is_root() == (dist::rank() == 0));
}

TEST_CASE("dist: allreduce_mean gives every rank the mean, in buckets, the same bits everywhere", "[dist]") {
  const int n = dist::size();
  for (DType t : {DType::f32, DType::f64})
    for (int64_t bucket : {dist::kBucketBytes, int64_t{64}, int64_t{1}}) {  // one bucket; several; one per element
      INFO(name_of(t) << ", buckets of " << bucket << " bytes");
      Model m = model_of(dist::rank(), t);
      const dist::ReduceStats st = dist::allreduce_mean(m, bucket);
      // The mean of r + 1 + i / 8 over r = 0..n-1 is (n + 1) / 2 + i / 8.
      const std::vector<Tensor> got = tree::tensors(m);
      for (const Tensor& x : got)
        for (int64_t i = 0; i < x.numel(); ++i) CHECK(x.at(i) == Approx((n + 1) / 2.0 + static_cast<double>(i) / 8));
      if (n > 1) {
        CHECK(st.bytes == static_cast<int64_t>((12 + 4 + 10 + 1000) * size_of(t)));
        // The leaves end to end, cut into buckets of whole elements (a leaf may span several).
        const int64_t elem = static_cast<int64_t>(size_of(t)), cap = std::max(elem, bucket / elem * elem);
        const int want = static_cast<int>((st.bytes + cap - 1) / cap);
        CHECK(st.buckets == want);
      } else {
        CHECK(st.buckets == 0);  // alone: nothing moves
      }
      dist::check_same(m, "model");  // every rank holds the same bits
    }
}

TEST_CASE("dist: OverlappedMean: buckets cut where a step came between gradients, the same bits as allreduce_mean",
          "[dist]") {
  const int n = dist::size();
  for (DType t : {DType::f32, DType::f64})
    for (int64_t bucket : {dist::kBucketBytes, int64_t{64}}) {
      INFO(name_of(t) << ", buckets of at most " << bucket << " bytes");
      dist::OverlappedMean mean(bucket);
      for (int call = 0; call < 3; ++call) {  // the first lays the buckets out, the others start them early
        INFO("call " << call);
        Model m = model_of(dist::rank() + call, t), blocking = model_of(dist::rank() + call, t);
        std::vector<Tensor> g = tree::tensors(m);
        // As a compiled step reports them: layers.1 first, a step, then layers.0 and b, a step, then w.
        mean.ready(3, g[3]);
        for (int i = 0; i < 100; ++i) {  // time for the first bucket to finish while "the backward pass runs"
          mean.progress();
          std::this_thread::sleep_for(std::chrono::microseconds(500));
        }
        mean.ready(2, g[2]);
        mean.ready(1, g[1]);
        mean.progress();  // w is never reported: finish() copies it, as the last group
        const dist::ReduceStats st = mean.finish(m);
        dist::allreduce_mean(blocking);
        const std::vector<Tensor> got = tree::tensors(m), want = tree::tensors(blocking);
        for (size_t k = 0; k < got.size(); ++k) CHECK(max_abs_diff(got[k], want[k]) == 0);
        for (int64_t i = 0; i < got[1].numel(); ++i)
          CHECK(got[1].at(i) == Approx((n + 1) / 2.0 + call + static_cast<double>(i) / 8));
        dist::check_same(m, "model");
        if (n == 1) {
          CHECK(st.buckets == 0);
          continue;
        }
        const int64_t e = static_cast<int64_t>(size_of(t));
        CHECK(st.bytes == (1000 + 10 + 4 + 12) * e);
        // Three groups (layers.1 | layers.0, b | w), each cut at the bucket size; buckets start 8-byte aligned.
        auto pieces = [&](int64_t bytes) { return static_cast<int>((bytes + bucket / 8 * 8 - 1) / (bucket / 8 * 8)); };
        CHECK(st.buckets == pieces(1000 * e) + pieces(14 * e) + pieces(12 * e));
        if (call > 0)
          CHECK(st.early_bytes >= std::min<int64_t>(1000 * e, bucket / 8 * 8));  // layers.1's first bucket, at least
        else
          CHECK(st.early_bytes == 0);  // the first call only learns the order
      }
    }
}

TEST_CASE("dist: broadcast makes every rank's tree rank 0's", "[dist]") {
  Model m = model_of(dist::rank(), DType::f32);
  dist::broadcast(m);
  const std::vector<Tensor> want = tree::tensors(model_of(0, DType::f32)), got = tree::tensors(m);
  for (size_t k = 0; k < got.size(); ++k) CHECK(max_abs_diff(got[k], want[k]) == 0);
}

TEST_CASE("dist: a leaf that differs between ranks is named on every rank", "[dist]") {
  Model m = model_of(0, DType::f32);
  CHECK_NOTHROW(dist::check_same(m, "model"));
  if (dist::rank() == 1) m.layers[1].tensor().set(7, 42.0);
  if (dist::size() > 1)
    CHECK_THROWS_WITH(dist::check_same(m, "model"),
                      Catch::Contains("'model.layers.1' differs between ranks: rank(s) 1"));
  else
    CHECK_NOTHROW(dist::check_same(m, "model"));
}

TEST_CASE("dist: ranks that pass other leaves are an error on every rank, not a hang", "[dist]") {
  Model m = model_of(dist::rank(), DType::f32);
  if (dist::rank() == 1) m.layers.pop_back();
  if (dist::size() > 1)
    CHECK_THROWS_WITH(dist::allreduce_mean(m), Catch::Contains("rank(s) 1 pass other leaves"));
  else
    CHECK_NOTHROW(dist::allreduce_mean(m));
}

namespace {

using CharModel = nn::CharRNN<nn::LSTMCell>;

// 20000 characters of words drawn by a fixed generator: a text of its own, so that an edit of the
// project's docs (which this once read) cannot move the float32 comparison below.
std::u32string fixed_text() {
  static const char* const words[] = {"the",   "loss",    "of", "a",    "step",  "gradient", "through", "time", "and",
                                      "state", "carried", "to", "next", "chunk", "with",     "weights", "in",   "rows"};
  std::mt19937 g(11);
  std::string s;
  while (s.size() < 20000) {
    s += words[g() % std::size(words)];
    s += g() % 9 == 0 ? ".\n" : " ";
  }
  return data::decode_utf8(s.substr(0, 20000));
}

// A 2-layer character LSTM trained on streams of fixed_text(): steps with B streams.
// Each rank starts from its own seed (fit broadcasts rank 0's parameters) unless `same_start`.
CharModel train_chars(DType t, int64_t B, int64_t steps, bool distributed, const std::filesystem::path& keep_last = {},
                      const std::filesystem::path& resume = {}, bool same_start = false, double dropout = 0,
                      bool overlap = true) {
  const std::u32string text = fixed_text();
  const data::Vocab vocab = data::Vocab::of(text);
  const data::Streams streams(vocab.encode(text), B, 16);
  std::mt19937_64 rng(dist::rank() == 0 || same_start ? 3 : 4);
  CharModel m = CharModel::init(vocab.size(), 32, rng, {.layers = 2, .dropout = dropout}, t);
  optim::Optimizer opt(optim::Adam{.lr = 3e-3});
  std::vector<nn::Callback> callbacks;
  if (!keep_last.empty()) callbacks.push_back(nn::KeepLast{keep_last.string(), 5});
  nn::fit(m, opt, streams, CharModel::loss,
          {.budget = {.steps = steps},
           .clip = {.norm = 5},
           .resume = resume,
           .distributed = distributed,
           .overlap = overlap,
           .callbacks = callbacks});
  return m;
}

// The largest difference of a parameter, relative to the parameter's largest element.
double max_rel_diff(const CharModel& a, const CharModel& b) {
  double worst = 0;
  const std::vector<Tensor> x = tree::tensors(a), y = tree::tensors(b);
  for (size_t k = 0; k < x.size(); ++k) {
    double scale = 0;
    for (int64_t i = 0; i < y[k].numel(); ++i) scale = std::max(scale, std::abs(y[k].at(i)));
    worst = std::max(worst, max_abs_diff(x[k], y[k]) / scale);
  }
  return worst;
}

}  // namespace

TEST_CASE("dist: ranks with B / N streams each train to the parameters of one process with B streams", "[dist]") {
  // Dropout on: each rank draws the masks of its own streams, as one process draws them for all.
  for (DType t : {DType::f64, DType::f32}) {
    INFO(name_of(t) << " on " << dist::size() << " rank(s)");
    const CharModel together = train_chars(t, 4, 20, true, {}, {}, false, 0.25),
                    alone = train_chars(t, 4, 20, false, {}, {}, true, 0.25);
    const double diff = max_rel_diff(together, alone);
    INFO("largest relative difference " << diff);
    // float64 is the exact check. In float32 the ranks' sums over B / N streams round otherwise than
    // one process's over B, and 20 Adam steps (g / sqrt(v)) amplify it: 6.6e-6 on this text, 1.8e-5
    // on the docs it read before; a gradient averaged wrongly is off by ~1e-1.
    CHECK(diff < (t == DType::f64 ? 1e-12 : 1e-4));
    CHECK((dist::size() > 1 || diff == 0));
    dist::check_same(together, "model");  // and every rank holds the same bits
  }
}

TEST_CASE("dist: averaging while the backward pass runs trains to the same bits as averaging after it", "[dist]") {
  for (DType t : {DType::f64, DType::f32}) {
    INFO(name_of(t) << " on " << dist::size() << " rank(s)");
    const CharModel overlapped = train_chars(t, 4, 10, true, {}, {}, false, 0.25, true),
                    after = train_chars(t, 4, 10, true, {}, {}, false, 0.25, false);
    CHECK(max_rel_diff(overlapped, after) == 0);
  }
}

TEST_CASE("dist: a checkpoint written by rank 0 resumes the run bit for bit, with all ranks' streams", "[dist]") {
  // One file per number of ranks: CTest runs "dist: 1 rank" and "dist: 2 ranks" side by side, and
  // one run resuming from the other's checkpoint is the same run but not the same bits.
  const std::filesystem::path file =
      std::filesystem::temp_directory_path() / ("rnnc-test-dist-last-" + std::to_string(dist::size()) + ".safetensors");
  const CharModel straight = train_chars(DType::f64, 4, 12, true);
  train_chars(DType::f64, 4, 6, true, file);  // rank 0 writes the state of every rank's streams
  dist::barrier();
  const CharModel resumed = train_chars(DType::f64, 4, 12, true, {}, file);
  CHECK(max_rel_diff(resumed, straight) == 0);
  // The same checkpoint in one process (all 4 streams on one rank) continues the same run.
  const CharModel alone = train_chars(DType::f64, 4, 12, false, {}, file, true);
  CHECK(max_rel_diff(alone, straight) < 1e-12);
}

TEST_CASE("dist: a rank whose model has other parameters is caught when fit starts", "[dist]") {
  const std::u32string text = U"abcdefghijklmnopqrstuvwxyz abcdefghijklmnopqrstuvwxyz abcdefghijklmnopqrstuvwxyz";
  const data::Vocab vocab = data::Vocab::of(text);
  const data::Streams streams(vocab.encode(text), 2, 8);
  std::mt19937_64 rng(3);
  CharModel m = CharModel::init(vocab.size(), dist::rank() == 1 ? 9 : 8, rng);  // rank 1: 9 units, not 8
  optim::Optimizer opt(optim::Adam{});
  auto run = [&] { nn::fit(m, opt, streams, CharModel::loss, {.budget = {.steps = 2}}); };
  if (dist::size() > 1)
    CHECK_THROWS_WITH(run(), Catch::Contains("rank(s) 1 pass other leaves"));
  else
    CHECK_NOTHROW(run());
}

TEST_CASE("dist: ranks with other settings are an error on every rank, naming the setting", "[dist]") {
  const std::u32string text = fixed_text();
  const data::Vocab vocab = data::Vocab::of(text);
  std::mt19937_64 rng(3);
  CharModel m = CharModel::init(vocab.size(), 8, rng);
  optim::Optimizer opt(optim::Adam{});
  const bool other = dist::rank() == 1;
  auto steps = [&] {  // 50 steps here, 60 on rank 1: it would wait at step 51 forever
    nn::fit(m, opt, data::Streams(vocab.encode(text), 4, 8), CharModel::loss, {.budget = {.steps = other ? 60 : 50}});
  };
  auto length = [&] {  // a text of another length: other chunks per pass
    nn::fit(m, opt, data::Streams(vocab.encode(text.substr(0, other ? 10000 : 12000)), 4, 8), CharModel::loss,
            {.budget = {.epochs = 1}});
  };
  if (dist::size() > 1) {
    CHECK_THROWS_WITH(steps(), Catch::Contains("'fit: budget.steps' differs between ranks"));
    CHECK_THROWS_WITH(length(), Catch::Contains("'fit: data.batches()' differs between ranks"));
  } else {
    CHECK_NOTHROW(steps());
  }
}

TEST_CASE("dist: a time budget ends every rank after the same step, on rank 0's clock", "[dist]") {
  const std::u32string text = fixed_text();
  const data::Vocab vocab = data::Vocab::of(text);
  const data::Streams streams(vocab.encode(text), 4, 8);
  std::mt19937_64 rng(3);
  CharModel m = CharModel::init(vocab.size(), 16, rng);
  optim::Optimizer opt(optim::Adam{});
  // Rank 1 starts its clock 100 ms after rank 0: on its own clock it would go on for steps after
  // rank 0 stopped, waiting in a collective rank 0 never joins.
  for (int run = 0; run < 3; ++run) {
    if (dist::rank() == 1) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    const nn::FitResult r = nn::fit(m, opt, streams, CharModel::loss, {.budget = {.seconds = 0.3}});
    std::vector<Tensor> steps{Tensor::scalar(static_cast<double>(r.steps), DType::f64)};
    dist::check_same(steps, {"steps"});
  }
}

// Run by CTest as its own job ("dist: a killed rank ends the job"), hidden from the others: rank 1
// is killed (SIGKILL) in the middle of a long run, once rank 0 has written a checkpoint; mpirun
// must end the job, naming the rank, instead of leaving rank 0 waiting in an allreduce.
const std::filesystem::path killed_run = std::filesystem::temp_directory_path() / "rnnc-test-dist-killed.safetensors";

TEST_CASE("dist: a rank killed mid-run", "[.killed]") {
  if (dist::rank() == 0) std::filesystem::remove(killed_run);
  dist::barrier();
  if (dist::rank() == 1)
    std::thread([] {
      while (!std::filesystem::exists(killed_run)) std::this_thread::sleep_for(std::chrono::milliseconds(20));
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
      std::raise(SIGKILL);
    }).detach();
  train_chars(DType::f32, 4, 1000000, true, killed_run);
  FAIL("the run outlived its killed rank");
}

// Then ("dist: resume after a killed rank"): the killed run's last checkpoint loads and the run
// continues on 2 ranks for 5 more steps, every rank holding the same parameters.
TEST_CASE("dist: resume after a killed rank", "[.resume_killed]") {
  REQUIRE(std::filesystem::exists(killed_run));
  const int64_t step = nn::detail::read_training_state(io::load(killed_run)).step;
  CHECK(step >= 5);
  const CharModel m = train_chars(DType::f32, 4, step + 5, true, {}, killed_run);
  for (const Tensor& t : tree::tensors(m))
    for (int64_t i = 0; i < t.numel(); ++i) REQUIRE(std::isfinite(t.at(i)));
  dist::check_same(m, "model");
}

// Run by CTest as its own job ("dist: a rank that throws ends the job"): rank 1's step throws;
// fit ends the whole job naming the rank and the error, instead of leaving rank 0 waiting.
TEST_CASE("dist: a rank that throws", "[.throws]") {
  const std::u32string text = U"abcdefghijklmnopqrstuvwxyz abcdefghijklmnopqrstuvwxyz abcdefghijklmnopqrstuvwxyz";
  const data::Vocab vocab = data::Vocab::of(text);
  const data::Streams streams(vocab.encode(text), 2, 8);
  std::mt19937_64 rng(3);
  CharModel m = CharModel::init(vocab.size(), 8, rng);
  optim::Optimizer opt(optim::Adam{});
  auto train = [](const CharModel& model, const CharModel::State& s, const data::TextBatch& b, Rng& r) {
    if (dist::rank() == 1) throw Error("rnnc: a deliberate error on rank 1");
    return CharModel::loss(model, s, b, r);
  };
  nn::fit(m, opt, streams, train, {.budget = {.steps = 1000}});
  FAIL("the run outlived the rank that threw");
}
