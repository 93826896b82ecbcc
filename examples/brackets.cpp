// A bidirectional LSTM classifies strings of brackets of lengths 1 to 200 as balanced or not: a
// sequence classifier on sequences of different lengths, which it generates itself. Half are
// balanced; of the rest, half are hard negatives (as many '(' as ')', in an order that goes below
// zero somewhere) and half have unequal counts. Batches group strings of similar lengths
// (data::Buckets); each row runs exactly its own length (the forward cell stops at its last
// bracket, the backward cell starts there), so padding changes nothing. (The padding is '(': a
// model that read it would call every padded balanced string unbalanced.) The classifier reads both
// directions' final states.
//
// Usage: brackets [--steps N] [--time S] [--hidden H] [--train N] [--test N] [--max-length N]
//                 [--batch B] [--lr X] [--seed N] [--threads N]
#include <rnnc/program.h>
#include <rnnc/rnnc.h>

#include <fmt/format.h>

#include <algorithm>

using namespace rnnc;

namespace {

// One string and whether it is balanced; tokens '(' = 0, ')' = 1.
struct Example {
  std::vector<int32_t> tokens;
  int32_t balanced = 0;
};

bool is_balanced(const std::vector<int32_t>& s) {
  int depth = 0;
  for (int32_t c : s)
    if ((depth += c == 0 ? 1 : -1) < 0) return false;
  return depth == 0;
}

// Balanced: a random walk that never goes below zero and ends at zero (an even length n).
std::vector<int32_t> balanced(int n, std::mt19937_64& rng) {
  std::vector<int32_t> s;
  int open = 0, close = 0;
  while (static_cast<int>(s.size()) < n) {
    const bool can_open = open < n / 2, can_close = close < open;
    const bool up = can_open && (!can_close || rng() % 2 == 0);
    s.push_back(up ? 0 : 1);
    (up ? open : close)++;
  }
  return s;
}

Example make_example(int max_length, std::mt19937_64& rng) {
  const int kind = static_cast<int>(rng() % 4);  // 0, 1: balanced; 2: right counts, wrong order; 3: unequal counts
  if (kind < 2) {
    const int n = 2 * (1 + static_cast<int>(rng() % static_cast<uint64_t>(max_length / 2)));
    return {balanced(n, rng), 1};
  }
  for (;;) {
    const int n = 1 + static_cast<int>(rng() % static_cast<uint64_t>(max_length));
    std::vector<int32_t> s(static_cast<std::size_t>(n));
    if (kind == 2 && n % 2 == 0) {
      for (int i = 0; i < n; ++i) s[static_cast<std::size_t>(i)] = i < n / 2 ? 0 : 1;
      std::shuffle(s.begin(), s.end(), rng);
    } else {
      for (int32_t& c : s) c = static_cast<int32_t>(rng() % 2);
    }
    if (!is_balanced(s)) return {s, 0};
  }
}

data::Buckets make_set(int count, int max_length, int64_t batch, uint64_t seed, std::mt19937_64& rng) {
  std::vector<std::vector<int32_t>> seqs;
  std::vector<int32_t> labels;
  for (int i = 0; i < count; ++i) {
    Example e = make_example(max_length, rng);
    seqs.push_back(std::move(e.tokens));
    labels.push_back(e.balanced);
  }
  return data::Buckets(std::move(seqs), std::move(labels), {.batch = batch, .multiple = 8, .seed = seed});
}

// one-hot brackets -> bidirectional LSTM -> [forward final h; backward final h] -> Dense(2).
struct Classifier {
  nn::Bidirectional<nn::LSTMCell> rnn;
  nn::Linear head;
  RNNC_TREE(rnn, head)

  static Classifier init(int64_t hidden, std::mt19937_64& rng) {
    return {nn::Bidirectional<nn::LSTMCell>::init(2, hidden, rng), nn::Linear::init(2 * hidden, 2, rng)};
  }
  Var logits(const data::SequenceBatch& b) const {
    const int64_t B = b.x.shape()[1];
    auto [ys, last] = rnn(one_hot(b.x, 2), rnn.initial_state(B), {.lengths = b.lengths});
    return head(concat({Var(last[0].h), Var(last[1].h)}, -1));
  }
  static Var loss(const Classifier& m, const data::SequenceBatch& b) {
    return mean(softmax_cross_entropy(m.logits(b), b.y));
  }
  static Var predict(const Classifier& m, const data::SequenceBatch& b) { return m.logits(b); }
};

}  // namespace

// The fraction of `set` the model classifies right, every string once.
template <class Predict> double accuracy(const Predict& predict, const Classifier& model, const data::Buckets& set) {
  double right = 0;
  for (int64_t k = 0; k < set.eval_batches(); ++k) {
    const data::SequenceBatch b = set.eval_batch(k);
    right += nn::accuracy(predict(model, b), b.y.tensor()) * static_cast<double>(set.eval_rows(k));
  }
  return right / static_cast<double>(set.count());
}

int main(int argc, char** argv) {
  program::Program p("brackets", "a bidirectional LSTM tells balanced strings of brackets from unbalanced ones",
                     {.time = 60}, program::take::budget | program::take::seed | program::take::threads);
  int hidden = 32, train_count = 20000, test_count = 2000, max_length = 200;
  int64_t batch = 32;
  double lr = 3e-3;
  p.option("--hidden", hidden, "LSTM units per direction")->check(cli::at_least(1));
  p.option("--train", train_count, "training strings")->check(cli::at_least(1));
  p.option("--test", test_count, "held-out strings")->check(cli::at_least(1));
  p.option("--max-length", max_length, "longest string")->check(cli::at_least(2));
  p.option("--batch", batch, "strings per batch")->check(cli::at_least(1));
  p.option("--lr", lr, "Adam learning rate")->check(cli::positive());
  return p.run(argc, argv, [&](const program::Common& o) {
    std::mt19937_64 rng(o.seed);
    const data::Buckets train = make_set(train_count, max_length, batch, o.seed, rng);
    const data::Buckets test = make_set(test_count, max_length, batch, o.seed, rng);
    Classifier model = Classifier::init(hidden, rng);
    optim::Optimizer opt(optim::Adam{.lr = lr});
    fmt::print("{} training strings, {} held out, lengths 1..{}, batches of {} by length\n", train.count(),
               test.count(), max_length, batch);
    const nn::FitResult r =
        nn::fit(model, opt, train, Classifier::loss,
                o.fit(test, {.clip = {.norm = 5}, .validate_every = 200, .callbacks = {nn::ProgressLine{}}}));
    const double held_out = accuracy(compile(Classifier::predict, o.compile()), model, test);
    fmt::print("held-out accuracy: {:.4f}\n", held_out);
    std::vector<report::Field> summary = nn::summary_fields(r);
    summary.push_back({"accuracy", held_out});
    fmt::print("{}\n", report::summary_line(summary));
  });
}
