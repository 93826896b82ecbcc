// Data: UTF-8, vocabulary, streams, windows and length buckets, and the errors a user meets.
#include <catch2/catch.hpp>
#include <rnnc/rnnc.h>

#include <filesystem>
#include <fstream>
#include <set>

using namespace rnnc;
using namespace rnnc::data;

TEST_CASE("a character is a code point: UTF-8 decodes and encodes back") {
  const std::string s = "na\xc3\xafve \xe2\x82\xac \xf0\x9f\x99\x82";  // naïve € 🙂
  std::u32string t = decode_utf8(s);
  CHECK(t.size() == 9);
  CHECK(t[2] == U'\u00ef');
  CHECK(t[8] == U'\U0001F642');
  CHECK(encode_utf8(t) == s);
  CHECK_THROWS_WITH(decode_utf8("ab\xc3", "input.txt"), Catch::Contains("input.txt: invalid UTF-8 at byte 2"));
  CHECK_THROWS_WITH(decode_utf8("a\xe2\x28\xa1"), Catch::Contains("invalid UTF-8 at byte 1"));
  // Found by the text fuzzer: an overlong form ("\xc0\xaf" for '/') was decoded; so were surrogates
  // and code points past U+10FFFF. None is well-formed UTF-8, and none encodes back to itself.
  for (const char* bad : {"\xc0\xaf", "\xe0\x80\xaf", "\xf0\x80\x80\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80"})
    CHECK_THROWS_WITH(decode_utf8(std::string("x") + bad), Catch::Contains("invalid UTF-8 at byte 1"));
  CHECK(decode_utf8("\xf4\x8f\xbf\xbf") == std::u32string(1, 0x10FFFF));
  CHECK(decode_utf8("\xed\x9f\xbf") == std::u32string(1, 0xD7FF));
}

TEST_CASE("the vocabulary is sorted, encoding round-trips, unknown characters are named") {
  Vocab v = Vocab::of(U"hello, world");
  CHECK(encode_utf8(v.chars()) == " ,dehlorw");
  Tensor e = v.encode(U"low");
  CHECK(e.dtype() == DType::i32);
  CHECK(v.decode({static_cast<int>(e.at(0)), static_cast<int>(e.at(1)), static_cast<int>(e.at(2))}) == "low");
  CHECK_THROWS_WITH(v.encode(U"hex"), Catch::Contains("'x' (U+0078) is not in the model's vocabulary"));
  CHECK(Vocab::from_chars(v.chars()).chars() == v.chars());
  CHECK_THROWS(Vocab::from_chars(U"aa"));
}

TEST_CASE("files: missing, empty and folders") {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / "rnnc-test-data";
  fs::remove_all(dir);
  fs::create_directories(dir);
  CHECK_THROWS_WITH(read_text(dir / "nope.txt"),
                    Catch::Contains("cannot open data file") && Catch::Contains("nope.txt"));
  std::ofstream(dir / "empty.txt").close();
  CHECK_THROWS_WITH(read_text(dir / "empty.txt"), Catch::Contains("no text in"));
  std::ofstream(dir / "b.md") << "second";
  std::ofstream(dir / "a.md") << "first ";
  CHECK(read_text(dir) == "first second");  // .md files in name order
  fs::remove_all(dir);
}

TEST_CASE("streams: B parallel streams, chunk k+1 continues chunk k, targets are the next characters") {
  std::vector<double> v;
  for (int i = 0; i < 20; ++i) v.push_back(i);
  Streams s(Tensor::from(v, {20}, DType::i32), 2, 3);  // streams 0..9 and 10..19
  CHECK(s.chunks() == 3);                              // (10 - 1) / 3
  const Tensor in0 = s.chunk(0).x.tensor(), tg0 = s.chunk(0).y.tensor(), in1 = s.chunk(1).x.tensor();
  CHECK(in0.shape() == Shape{3, 2});
  CHECK(in0.values() == std::vector<double>{0, 10, 1, 11, 2, 12});
  CHECK(tg0.values() == std::vector<double>{1, 11, 2, 12, 3, 13});
  CHECK(in1.values() == std::vector<double>{3, 13, 4, 14, 5, 15});
  CHECK_THROWS(s.chunk(3));
  CHECK_THROWS_WITH(Streams(Tensor::from(v, {20}, DType::i32), 8, 3), Catch::Contains("too few"));
  // As a dataset: every chunk in order, the state carried; a shard is its rank's streams.
  CHECK(Streams::carries_state);
  CHECK(s.batches() == 3);
  CHECK(s.tokens() == 6);
  CHECK(s.batch(7, 1, {}).x.tensor().values() == in1.values());  // any pass: the same order
  CHECK(s.batch(0, 0, {.rank = 1, .ranks = 2}).x.tensor().values() == std::vector<double>{10, 11, 12});
  CHECK(s.eval_batches() == 3);
  CHECK(s.eval_batch(1).y.tensor().values() == std::vector<double>{4, 14, 5, 15, 6, 16});
  CHECK_THROWS_WITH(s.chunk(0, {.rank = 0, .ranks = 3}), Catch::Contains("a batch of 2 does not split over 3 ranks"));
}

TEST_CASE("windows and the train/validation split") {
  std::vector<double> v;
  for (int i = 0; i < 10; ++i) v.push_back(i);
  Windows w(Tensor::from(v, {10}, DType::i32), 4, {.step = 2, .batch = 1});
  CHECK(w.count() == 3);  // windows at 0, 2, 4 (each needs one more character)
  const TextBatch b = w.windows({2, 0});
  CHECK(b.x.tensor().values() == std::vector<double>{4, 5, 6, 7, 0, 1, 2, 3});
  CHECK(b.y.tensor().values() == std::vector<double>{8, 4});
  // As a dataset: each pass every window once, in an order drawn from (seed, pass); held out,
  // in order.
  CHECK(!Windows::carries_state);
  CHECK(w.batches() == 3);
  for (int64_t pass : {0, 1, 2}) {
    std::set<double> seen;
    for (int64_t k = 0; k < 3; ++k) seen.insert(w.batch(pass, k).y.tensor().at(0));
    CHECK(seen == std::set<double>{4, 6, 8});
  }
  CHECK(w.eval_batch(2).y.tensor().values() == std::vector<double>{8});
  Windows pairs(Tensor::from(v, {10}, DType::i32), 2, {.batch = 4, .seed = 3});  // 8 windows, 2 batches
  CHECK(pairs.batches() == 2);
  const Tensor whole = pairs.batch(1, 1).y.tensor(), half = pairs.batch(1, 1, {.rank = 1, .ranks = 2}).y.tensor();
  CHECK(half.values() == std::vector<double>{whole.at(2), whole.at(3)});  // rank 1's rows of the same batch
  CHECK_THROWS_WITH(Windows(Tensor::from(v, {10}, DType::i32), 4, {.batch = 9}),
                    Catch::Contains("fewer than one batch of 9"));
  Split sp = split(U"abcdefghij", 0.2);
  CHECK(sp.train == U"abcdefgh");
  CHECK(sp.val == U"ij");
  CHECK_THROWS(split(U"abc", 1.0));
}

TEST_CASE("buckets: batches of similar lengths, padded to a multiple, every sequence once per pass") {
  // 10 sequences of lengths 0..9 (sequence i is i copies of i + 1), labels i % 3; batches of 3.
  std::vector<std::vector<int32_t>> seqs;
  std::vector<int32_t> labels;
  for (int i = 0; i < 10; ++i) {
    seqs.push_back(std::vector<int32_t>(static_cast<std::size_t>(i), i + 1));
    labels.push_back(i % 3);
  }
  Buckets b(seqs, labels, {.batch = 3, .multiple = 4, .pad = -1, .seed = 5});
  CHECK(b.count() == 10);
  CHECK(b.batches() == 3);           // the last partial batch is left out of a pass
  CHECK(b.tokens() == 45 * 3 / 10);  // an average batch's real steps
  for (int64_t epoch : {0, 1}) {
    std::vector<std::vector<int64_t>> pass = b.pass(epoch);
    REQUIRE(pass.size() == 3);
    std::set<int64_t> seen;
    for (const auto& which : pass) {
      CHECK(which.size() == 3);
      seen.insert(which.begin(), which.end());
      // Similar lengths: a batch spans at most two rounded lengths (multiple 4: 0, 4, 8, 12).
      int64_t lo = 100, hi = 0;
      for (int64_t i : which) lo = std::min(lo, (i + 3) / 4), hi = std::max(hi, (i + 3) / 4);
      CHECK(hi - lo <= 1);
    }
    CHECK(seen.size() == 9);
  }
  CHECK(b.pass(0) == b.pass(0));  // drawn from (seed, pass)
  CHECK(b.pass(0) != Buckets(seqs, labels, {.batch = 3, .multiple = 4, .pad = -1, .seed = 6}).pass(0));
  // A batch: time-major, padded to the longest rounded up to 4, lengths and labels per row.
  const SequenceBatch x = b.sequences({5, 2, 0});
  CHECK(x.x.shape() == Shape{8, 3});
  CHECK(x.lengths.tensor().values() == std::vector<double>{5, 2, 0});
  CHECK(x.y.tensor().values() == std::vector<double>{2, 2, 0});
  CHECK(x.x.tensor().values() ==
        std::vector<double>{6, 3, -1, 6, 3, -1, 6, -1, -1, 6, -1, -1, 6, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1});
  CHECK(b.sequences({0}).x.shape() == Shape{1, 1});  // empty sequences still get one (padding) step
  // The dataset's batch k of a pass is the pass's k-th list of sequences.
  CHECK(b.batch(1, 2).lengths.tensor().values() == b.sequences(b.pass(1)[2]).lengths.tensor().values());
  // Evaluation order: every sequence once, by length, the last batch partial.
  std::vector<std::vector<int64_t>> all = b.in_order();
  CHECK(all.size() == 4);
  CHECK(all.back().size() == 1);
  CHECK(b.eval_batches() == 4);
  CHECK(b.eval_rows(3) == 1);
  CHECK(b.eval_batch(3).y.shape() == Shape{1});
  CHECK_THROWS_WITH(Buckets(seqs, {1, 2}, {.batch = 3}), Catch::Contains("2 labels for 10 sequences"));
  CHECK_THROWS_WITH(Buckets(seqs, labels, {.batch = 11}), Catch::Contains("fewer than one batch of 11"));
}
