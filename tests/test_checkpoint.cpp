// safetensors checkpoints: exact round trips, atomic writes, keep-best, bit-for-bit resume, and a
// file for every way the format can be broken.
#include <catch2/catch.hpp>
#include <rnnc/rnnc.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

using namespace rnnc;
namespace fs = std::filesystem;

namespace {

fs::path temp_dir(const std::string& name) {
  fs::path d = fs::temp_directory_path() / ("rnnc-test-" + name);
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

// A safetensors file from a header text and raw data bytes.
fs::path raw_file(const fs::path& dir, const std::string& name, const std::string& header, const std::string& data,
                  int64_t claimed_length = -1) {
  const uint64_t n = claimed_length >= 0 ? static_cast<uint64_t>(claimed_length) : header.size();
  std::string bytes;
  for (int i = 0; i < 8; ++i) bytes += static_cast<char>((n >> (8 * i)) & 0xff);
  bytes += header + data;
  fs::path p = dir / name;
  std::ofstream(p, std::ios::binary) << bytes;
  return p;
}

}  // namespace

TEST_CASE("checkpoints round-trip exactly, in file order, with metadata") {
  const fs::path dir = temp_dir("ckpt");
  std::mt19937_64 rng(1);
  io::Checkpoint c;
  c.add("weight_ih_l0", Tensor::uniform({8, 3}, -1, 1, rng));
  c.add("b", Tensor::uniform({5}, -1, 1, rng, DType::f64));
  c.add("a.idx", Tensor::from({1, -2, 3}, {3}, DType::i32));
  c.add("scalar", Tensor::scalar(2.5));
  c.add("empty", Tensor::zeros({0, 4}));
  c.metadata = {{"vocab", "abc\xc3\xaf"}, {"step", "42"}, {"rng", io::rng_state(rng)}};
  io::save(dir / "model.safetensors", c);
  io::Checkpoint d = io::load(dir / "model.safetensors");
  REQUIRE(d.tensors.size() == c.tensors.size());
  for (size_t i = 0; i < c.tensors.size(); ++i) {
    CHECK(d.tensors[i].first == c.tensors[i].first);
    CHECK(d.tensors[i].second.dtype() == c.tensors[i].second.dtype());
    CHECK(max_abs_diff(d.tensors[i].second, c.tensors[i].second) == 0);
  }
  CHECK(d.metadata == c.metadata);
  std::mt19937_64 again = io::rng_from_state(d.meta("rng"));
  CHECK(again() == rng());
  // Atomic: nothing but the file is left in the folder, and overwriting works.
  io::save(dir / "model.safetensors", c);
  CHECK(std::distance(fs::directory_iterator(dir), fs::directory_iterator{}) == 1);
  CHECK_THROWS_WITH(d.tensor("nope"), Catch::Contains("no tensor named 'nope'"));
  // The data starts 8-byte aligned, as the reference implementation writes it.
  std::ifstream in(dir / "model.safetensors", std::ios::binary);
  unsigned char len[8];
  in.read(reinterpret_cast<char*>(len), 8);
  CHECK(len[0] % 8 == 0);
  fs::remove_all(dir);
}

TEST_CASE("malformed checkpoints are rejected, each with its own message") {
  const fs::path dir = temp_dir("bad");
  const std::string f32x2 = R"("dtype":"F32","shape":[2])";
  struct Bad {
    const char* name;
    fs::path file;
    const char* message;
  };
  const std::vector<Bad> cases = {
      {"shorter than 8 bytes",
       [&] {
         fs::path p = dir / "short";
         std::ofstream(p) << "abc";
         return p;
       }(),
       "shorter than the 8-byte header length"},
      {"header length past the end", raw_file(dir, "long", "{}", "", 1000), "runs past the end of the file"},
      {"header not UTF-8", raw_file(dir, "utf8", "{\"\xff\xfe\":1}", ""), "not valid UTF-8"},
      {"header not JSON", raw_file(dir, "json", "{\"a\":", ""), "not JSON"},
      {"header not an object", raw_file(dir, "array", "[1,2]", ""), "not a JSON object"},
      {"unknown dtype", raw_file(dir, "dtype", R"({"a":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}})", "1234"),
       "unknown dtype 'F16'"},
      {"offsets out of range", raw_file(dir, "range", "{\"a\":{" + f32x2 + R"(,"data_offsets":[0,8]}})", "1234"),
       "out of range"},
      {"overlapping tensors",
       raw_file(dir, "overlap",
                "{\"a\":{" + f32x2 + R"(,"data_offsets":[0,8]},"b":{)" + f32x2 + R"(,"data_offsets":[4,12]}})",
                "123456789012"),
       "overlaps"},
      {"a hole between tensors",
       raw_file(dir, "hole",
                "{\"a\":{" + f32x2 + R"(,"data_offsets":[0,8]},"b":{)" + f32x2 + R"(,"data_offsets":[12,20]}})",
                "12345678901234567890"),
       "hole of 4 bytes"},
      {"bytes after the last tensor",
       raw_file(dir, "tail", "{\"a\":{" + f32x2 + R"(,"data_offsets":[0,8]}})", "123456789"), "belong to none"},
      {"size not shape x dtype",
       raw_file(dir, "size", R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", "12345678"), "needs 12"},
      {"shape overflow",
       raw_file(dir, "overflow", R"({"a":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,8]}})",
                "12345678"),
       "overflows"},
      // No element, but 2^62 * 3 passes INT64_MAX on the way (the product of the others does not wrap a uint64).
      {"shape overflow before a zero extent",
       raw_file(dir, "overflow0", R"({"a":{"dtype":"F32","shape":[4611686018427387904,3,0],"data_offsets":[0,0]}})",
                ""),
       "overflows"},
  };
  for (const Bad& b : cases) {
    DYNAMIC_SECTION(b.name) { CHECK_THROWS_WITH(io::load(b.file), Catch::Contains(b.message)); }
  }
  fs::remove_all(dir);
}

TEST_CASE("keep-best writes only when the monitored loss improves") {
  const fs::path dir = temp_dir("best");
  io::KeepBest best(dir / "best.safetensors");
  auto ck = [](double v) {
    io::Checkpoint c;
    c.add("w", Tensor::scalar(v));
    return c;
  };
  CHECK(best.offer(3.0, ck(3)));
  CHECK(best.offer(2.5, ck(2.5)));
  CHECK_FALSE(best.offer(2.7, ck(2.7)));
  CHECK(best.best() == 2.5);
  CHECK(io::load(dir / "best.safetensors").tensor("w").item() == 2.5);
  fs::remove_all(dir);
}

namespace {
struct Net {
  nn::GRUCell gru;
  nn::Linear out;
  RNNC_TREE(gru, out)
};
}  // namespace

TEST_CASE("resuming from a checkpoint continues the run bit for bit") {
  // A GRU with dropout on its input (drawn from the run's Rng) trained with Adam.
  constexpr int V = 6, H = 8, T = 5;
  auto loss = [](const Net& m, const Var& seq, Rng& rng) {
    Var xs = nn::dropout(one_hot(reshape(slice(seq, 0, 0, T - 1), {T - 1, 1}), V), 0.2, rng);  // [T-1, 1, V]
    auto [hs, last] = nn::run_cell(m.gru, xs, m.gru.initial_state(1));
    return sum(softmax_cross_entropy(m.out(reshape(hs, {T - 1, H})), slice(seq, 0, 1, T)));
  };
  auto step = compile(value_and_grad(loss));
  const Tensor seq = Tensor::from({0, 1, 2, 3, 4}, {T}, DType::i32);
  struct Run {
    Net params;
    optim::Optimizer opt{optim::Adam{.lr = 0.05}};
    Rng rng{9};
  };
  auto train = [&](Run& r, int steps) {
    for (int i = 0; i < steps; ++i) {
      auto [l, grads] = step(r.params, seq, r.rng);
      r.opt.step(r.params, grads);
    }
  };
  Run a;
  std::mt19937_64 init(4);
  a.params = {nn::GRUCell::init(V, H, init), nn::Linear::init(H, V, init)};
  train(a, 5);
  // Save everything the run depends on.
  const fs::path dir = temp_dir("resume");
  io::Checkpoint c;
  c.add_tree(a.params, "model");
  for (const auto& [name, t] : a.opt.state()) c.add("optim." + name, t);
  c.metadata = {{"step", std::to_string(a.opt.steps())},
                {"rng.seed", std::to_string(a.rng.seed())},
                {"rng.draws", std::to_string(a.rng.draws())}};
  io::save(dir / "run.safetensors", c);
  CHECK(c.has("optim.exp_avg_sq.gru.weight_hh"));
  train(a, 5);  // the uninterrupted run

  io::Checkpoint d = io::load(dir / "run.safetensors");
  Run b;
  std::mt19937_64 other(99);
  b.params = {nn::GRUCell::init(V, H, other), nn::Linear::init(H, V, other)};  // overwritten by the file
  d.load_tree(b.params, "model");
  std::vector<std::pair<std::string, Tensor>> st;
  for (const auto& [name, t] : d.tensors)
    if (name.rfind("optim.", 0) == 0) st.emplace_back(name.substr(6), t);
  b.opt.load_state(b.params, st, std::stoll(d.meta("step")));
  b.rng = Rng(std::stoull(d.meta("rng.seed")));
  b.rng.set_draws(std::stoull(d.meta("rng.draws")));
  train(b, 5);
  for (size_t i = 0; i < tree::size(a.params); ++i)
    CHECK(max_abs_diff(tree::tensors(a.params)[i], tree::tensors(b.params)[i]) == 0);
  fs::remove_all(dir);
}

TEST_CASE("a character model saves its configuration and vocabulary, and comes back without its source") {
  const fs::path dir = temp_dir("charmodel");
  data::Vocab vocab = data::Vocab::of(U"hello w\u00f6rld");
  std::mt19937_64 rng(3);
  using Model = nn::CharRNN<nn::GRUCell>;
  Model m = Model::init(vocab.size(), 8, rng, {.layers = 2, .embedding = 4, .dropout = 0.1});
  io::save(dir / "m.safetensors", nn::checkpoint(m, vocab));
  const io::Checkpoint file = io::load(dir / "m.safetensors");
  CHECK(file.has("embedding.weight"));
  CHECK(file.has("rnn.layers.1.weight_hh"));
  CHECK(file.meta("cell") == "gru");
  data::Vocab back_vocab;
  Model back = nn::from_checkpoint<nn::GRUCell>(file, &back_vocab);
  CHECK(back.rnn.layers.size() == 2);
  CHECK(back.rnn.dropout == 0.1);
  CHECK(back.embedding->weight.shape() == Shape{vocab.size(), 4});
  CHECK(back_vocab.chars() == vocab.chars());
  REQUIRE(tree::size(back) == tree::size(m));
  for (size_t i = 0; i < tree::size(m); ++i) CHECK(max_abs_diff(tree::tensors(back)[i], tree::tensors(m)[i]) == 0);
  std::mt19937_64 r1(5), r2(5);
  std::u32string prime = U"he";
  CHECK(nn::sample(m, vocab, U"he", 20, {}, r1) == nn::sample_checkpoint(file, prime, 20, {}, r2));  // same text
  io::Checkpoint plain;
  plain.add("w", Tensor::scalar(1));
  CHECK_THROWS_WITH(nn::from_checkpoint<nn::GRUCell>(plain), Catch::Contains("not an rnnc character model"));
  CHECK_THROWS_WITH(nn::from_checkpoint<nn::LSTMCell>(file), Catch::Contains("holds a 'gru' model, not 'lstm'"));
  io::Checkpoint wrong = file;
  wrong.tensors[1].second = Tensor::zeros({2, 2});
  CHECK_THROWS_WITH(nn::from_checkpoint<nn::GRUCell>(wrong),
                    Catch::Contains("is f32[2, 2] in the file, the model expects"));
  fs::remove_all(dir);
}

namespace {
template <class Cell> io::Checkpoint char_file(int embedding) {
  std::mt19937_64 rng(1);
  const data::Vocab vocab = data::Vocab::of(U"abcdefg");
  return nn::checkpoint(nn::CharRNN<Cell>::init(vocab.size(), 6, rng, {.layers = 2, .embedding = embedding}), vocab);
}
}  // namespace

TEST_CASE("a character model's metadata is checked against its tensors before anything is allocated") {
  for (int e : {0, 3}) {
    for (io::Checkpoint c : {char_file<nn::RNNCell>(e), char_file<nn::LSTMCell>(e), char_file<nn::GRUCell>(e)}) {
      INFO(c.meta("cell") << " embedding " << e);
      std::u32string prime = U"a";
      std::mt19937_64 rng(0);
      CHECK_NOTHROW(nn::sample_checkpoint(c, prime, 3, {}, rng));
      // One unit more, or one layer more, than the tensors hold: the tensor that differs is named.
      io::Checkpoint wider = c, deeper = c, huge = c;
      wider.metadata["hidden"] = "7";
      deeper.metadata["layers"] = "3";
      CHECK_THROWS_WITH(nn::sample_checkpoint(wider, prime, 3, {}, rng),
                        Catch::Contains("in the file, the model expects"));
      CHECK_THROWS_WITH(nn::sample_checkpoint(deeper, prime, 3, {}, rng),
                        Catch::Contains("no tensor named 'rnn.layers.2."));
      // Far more than the file holds: refused from the metadata alone, before any allocation
      // (it took 6 GB and 30 s, or ended in std::bad_alloc).
      huge.metadata["hidden"] = "100000";
      CHECK_THROWS_WITH(nn::sample_checkpoint(huge, prime, 3, {}, rng),
                        Catch::Contains("does not describe the tensors"));
    }
  }
  io::Checkpoint c = char_file<nn::LSTMCell>(0);
  std::u32string prime = U"a";
  std::mt19937_64 rng(0);
  for (const char* d : {"abc", "1e999", "nan", "1.5", "-0.1", ""}) {
    io::Checkpoint bad = c;
    bad.metadata["dropout"] = d;
    CHECK_THROWS_WITH(nn::sample_checkpoint(bad, prime, 3, {}, rng), Catch::Contains("'dropout'"));
  }
  for (const char* layers : {"0", "99999999999999999999", "x", "1048577"}) {
    io::Checkpoint bad = c;
    bad.metadata["layers"] = layers;
    CHECK_THROWS_WITH(nn::sample_checkpoint(bad, prime, 3, {}, rng), Catch::Contains("'layers'"));
  }
}

namespace {
// Version v of a checkpoint: w = v everywhere (n float64s), b = -v, metadata version = v.
io::Checkpoint numbered(int v, int64_t n) {
  io::Checkpoint c;
  c.add("w", Tensor::full({n}, v, DType::f64));
  c.add("b", Tensor::full({3}, -v, DType::f64));
  c.metadata["version"] = std::to_string(v);
  return c;
}
// Files in dir besides m.safetensors (temporaries left behind).
int stray_files(const fs::path& dir) {
  int n = 0;
  for (const auto& e : fs::directory_iterator(dir)) n += e.path().filename().string() != "m.safetensors";
  return n;
}
}  // namespace

TEST_CASE("a save removes the temporaries that killed saves left, and keeps those of live processes") {
  const fs::path dir = temp_dir("stale");
  const fs::path path = dir / "m.safetensors";
  // A pid that is certainly not running: a child that has exited and been reaped.
  const pid_t dead = fork();
  if (dead == 0) _exit(0);
  REQUIRE(dead > 0);
  waitpid(dead, nullptr, 0);
  const fs::path stale_old = dir / (".m.safetensors.tmp" + std::to_string(dead));  // the earlier naming
  const fs::path stale = dir / (".m.safetensors.tmp" + std::to_string(dead) + "-7");
  const fs::path live =
      dir / (".m.safetensors.tmp" + std::to_string(getppid()) + "-0");                // a save in progress elsewhere
  const fs::path other = dir / (".n.safetensors.tmp" + std::to_string(dead) + "-0");  // another file's
  for (const fs::path& p : {stale_old, stale, live, other}) std::ofstream(p) << "half";
  io::Checkpoint c;
  c.add("w", Tensor::scalar(1));
  io::save(path, c);
  CHECK_FALSE(fs::exists(stale_old));
  CHECK_FALSE(fs::exists(stale));
  CHECK(fs::exists(live));
  CHECK(fs::exists(other));
  CHECK(io::load(path).tensor("w").at(0) == 1);
  fs::remove_all(dir);
}

TEST_CASE("two threads saving to one path while a third loads it: every save succeeds, every load is whole") {
  const fs::path dir = temp_dir("threads");
  const fs::path path = dir / "m.safetensors";
  auto version = [](int v) { return numbered(v, 4096); };
  io::save(path, version(0));
  std::atomic<int> failed_saves{0}, bad_loads{0}, loads{0};
  std::atomic<bool> done{false};
  auto writer = [&](int base) {
    for (int i = 0; i < 60; ++i) {
      try {
        io::save(path, version(base + i));
      } catch (const Error&) {
        ++failed_saves;
      }
    }
  };
  std::thread reader([&] {
    while (!done) {
      try {
        const io::Checkpoint c = io::load(path);
        const double v = std::stod(c.meta("version"));
        const Tensor& w = c.tensor("w");
        for (int64_t k = 0; k < w.numel(); ++k)
          if (w.at(k) != v) {
            ++bad_loads;
            break;
          }
      } catch (const std::exception&) {
        ++bad_loads;
      }
      ++loads;
    }
  });
  std::thread a(writer, 1000), b(writer, 2000);
  a.join();
  b.join();
  done = true;
  reader.join();
  INFO(loads << " loads");
  CHECK(failed_saves == 0);
  CHECK(bad_loads == 0);
  CHECK(stray_files(dir) == 0);
  fs::remove_all(dir);
}

TEST_CASE(
    "crash safety: a process saving checkpoints, SIGKILLed 100 times at random moments, always leaves one that loads "
    "whole") {
  const fs::path dir = temp_dir("kill");
  const fs::path path = dir / "m.safetensors";
  auto version = [](int v) { return numbered(v, 1 << 15); };  // 256 KB: a save takes long enough to be cut
  std::mt19937_64 rng(7);
  io::save(path, version(0));
  int next = 1, kills_mid_run = 0, newer = 0;
  for (int kill = 0; kill < 100; ++kill) {
    const int first = next;
    const pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) {  // saves versions first, first + 1, ... until it is killed
      for (int v = first;; ++v) io::save(path, version(v));
    }
    if (kill % 10 == 0)  // every tenth kill comes after a finished save, however slow the machine
      for (int waited = 0; waited < 20000; ++waited) {
        usleep(1000);
        try {
          if (std::stoi(io::load(path).meta("version")) >= first) break;
        } catch (const std::exception&) {
          FAIL("a load during a save failed");
        }
      }
    usleep(static_cast<useconds_t>(200 + rng() % 30000));
    ::kill(child, SIGKILL);
    int status = 0;
    waitpid(child, &status, 0);
    kills_mid_run += WIFSIGNALED(status);
    next = first + 1000000;                   // the next child's versions are distinguishable
    const io::Checkpoint c = io::load(path);  // never half a file
    const int v = std::stoi(c.meta("version"));
    newer += v >= first;  // the child finished a save before it was killed
    CHECK(c.tensor("w").at(12345) == v);
    CHECK(c.tensor("b").at(2) == -v);
  }
  CHECK(kills_mid_run == 100);
  CHECK(newer >= 10);  // kills that came after a finished save: every tenth at least (most, unloaded)
  // The temporaries the killed saves left are removed by the next save.
  io::save(path, version(-1));
  CHECK(stray_files(dir) == 0);
  fs::remove_all(dir);
}
