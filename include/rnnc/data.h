// Text for character models: UTF-8 in (a character is a code point, not a byte), a sorted
// vocabulary, encoding to i32 indices, a train/validation split, and batching as char-rnn does it
// (B parallel streams through the text, chunks of T steps, the state carried from chunk to chunk)
// or as the Keras tutorials do it (sliding windows, each predicting the character after it), and
// sequences of different lengths in buckets.
//
// Streams, Windows and Buckets are datasets as nn::fit reads them (train.h's Dataset): a pass is
// batches() batches; batch(pass, k, shard) is batch k of pass `pass` as a tree the loss takes
// (TextBatch, SequenceBatch), the pass's order drawn from the dataset's seed, and only the rows of
// `shard` (data-parallel training); carries_state says whether the recurrent state runs on from
// batch k to batch k + 1 (streams) or every batch starts from a fresh one (the loss makes it).
// Held out, a dataset is read once in order: eval_batch(k) for k < eval_batches(), weighed by
// eval_rows(k).
#pragma once
#include <algorithm>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "rnnc/tensor.h"
#include "rnnc/tree.h"

namespace rnnc::data {

// Characters [T, B] (i32, time-major; windows: [B, T]) and the characters that follow them.
struct TextBatch {
  Leaf x, y;
  RNNC_TREE(x, y)
};
// Sequences of different lengths: tokens i32 [T, B] padded past each row's length, the lengths
// i32 [B], a label per row i32 [B].
struct SequenceBatch {
  Leaf x, lengths, y;
  RNNC_TREE(x, lengths, y)
};

// Rows [rank n, (rank + 1) n) of a batch of ranks n rows: one process's share in data-parallel
// training. The batch's rows must split evenly (an Error says so).
struct Shard {
  int64_t rank = 0, ranks = 1;
  int64_t rows_of(int64_t batch, std::string_view what) const;  // n
};

// UTF-8 <-> code points. Invalid input is an Error naming the byte offset and `source`.
std::u32string decode_utf8(std::string_view bytes, std::string_view source = "text");
std::string encode_utf8(std::u32string_view text);

// A file, or every file ending in `extension` in a folder, concatenated in name order. A missing
// path, an unreadable file or no text at all is an Error naming the path.
std::string read_text(const std::filesystem::path& path, std::string_view extension = ".md");

class Vocab {
 public:
  Vocab() = default;
  // The distinct characters of `text`, sorted by code point.
  static Vocab of(std::u32string_view text);
  // From a saved vocabulary (a string of distinct characters, as chars() gives it).
  static Vocab from_chars(std::u32string_view chars);

  int size() const { return static_cast<int>(chars_.size()); }
  const std::u32string& chars() const { return chars_; }
  char32_t at(int i) const;
  // Index of c; a character the vocabulary does not know is an Error that shows it.
  int index(char32_t c) const;
  Tensor encode(std::u32string_view text) const;  // i32 [n]
  std::string decode(const std::vector<int>& indices) const;

 private:
  std::u32string chars_;
};

struct Split {
  std::u32string train, val;
};
// The last val_fraction of the text is for validation (in [0, 1)).
Split split(std::u32string_view text, double val_fraction);

// A text as the character programs read it: read_text(path) decoded, its vocabulary, and the
// last val_fraction held out (split), both parts encoded (i32 [n]).
struct Corpus {
  std::u32string text;
  Vocab vocab;
  Tensor train, val;
};
// With `vocab`, the text is encoded with it (a model's, to train on): a character it lacks is an
// error naming the character.
Corpus read_corpus(const std::filesystem::path& path, double val_fraction = 0.1, const Vocab* vocab = nullptr);

// char-rnn batching: the encoded text cut into `batch` equal streams; chunk k holds steps
// [k T, (k + 1) T) of every stream, so chunk k + 1 continues where chunk k stopped (T = length).
// As a dataset: a pass is every chunk in order, the state carried from one to the next.
class Streams {
 public:
  Streams(const Tensor& encoded, int64_t batch, int64_t length);
  int64_t chunks() const { return chunks_; }  // per pass
  int64_t batch() const { return batch_; }    // B streams
  int64_t length() const { return length_; }  // T characters per chunk
  // inputs and targets (the next characters), i32 [T, B], of the streams in `shard`.
  TextBatch chunk(int64_t k, Shard shard = {}) const;

  static constexpr bool carries_state = true;
  int64_t batches() const { return chunks_; }
  int64_t rows() const { return batch_; }
  int64_t tokens() const { return batch_ * length_; }
  TextBatch batch(int64_t, int64_t k, Shard shard = {}) const { return chunk(k, shard); }
  int64_t eval_batches() const { return chunks_; }
  TextBatch eval_batch(int64_t k) const { return chunk(k); }
  int64_t eval_rows(int64_t) const { return batch_; }

 private:
  Tensor text_;
  int64_t batch_, length_, stream_len_, chunks_;
};

// Held-out text as streams for validation: `batch` of them (the training batch, as char-rnn splits
// its validation text), or as many as the text has room for, one at the least.
Streams held_out(const Tensor& encoded, int64_t batch, int64_t length);

// Keras batching: windows of `length` characters every `step` characters, each labelled with the
// character that follows it. As a dataset: batches of `batch` windows, a pass's order shuffled from
// (seed, pass) (the last partial batch left out); held out, the full batches in order.
struct WindowOptions {
  int64_t step = 1;
  int64_t batch = 32;
  uint64_t seed = 0;
};
class Windows {
 public:
  Windows(const Tensor& encoded, int64_t length, WindowOptions o = {});
  int64_t count() const { return count_; }
  int64_t length() const { return length_; }
  // inputs i32 [n, length] and targets i32 [n] for the windows numbered in `which`.
  TextBatch windows(const std::vector<int64_t>& which) const;

  static constexpr bool carries_state = false;
  int64_t batches() const { return count_ / batch_; }
  int64_t rows() const { return batch_; }
  int64_t tokens() const { return batch_ * length_; }
  TextBatch batch(int64_t pass, int64_t k, Shard shard = {}) const;
  int64_t eval_batches() const { return count_ / batch_; }
  TextBatch eval_batch(int64_t k) const;
  int64_t eval_rows(int64_t) const { return batch_; }

 private:
  Tensor text_;
  int64_t length_, step_, count_, batch_;
  uint64_t seed_;
  // The order of the pass last asked for (drawn once per pass, not per batch).
  mutable std::shared_ptr<std::pair<int64_t, std::vector<int64_t>>> order_;
};

// 0 .. count-1 in the order of pass `epoch`, shuffled from (seed, epoch): the same order on
// every platform.
std::vector<int64_t> shuffled(int64_t count, uint64_t seed, int64_t epoch);

// Sequences of different lengths in batches of similar lengths (tf.data's
// bucket_by_sequence_length, torchtext's BucketIterator), each sequence with a label (a class).
// A pass shuffles the sequences, orders them by length rounded up to `multiple` (the order within a
// rounded length stays shuffled), cuts that order into batches of `batch` (the last partial batch
// is left out) and shuffles the batches, all drawn from (seed, pass). A batch is padded to its
// longest sequence rounded up to `multiple`, so a compiled step sees few distinct shapes: lengths
// 1..200 with multiple 8 give 25. Held out, every sequence once, ordered by length.
struct BucketOptions {
  int64_t batch = 32;
  int64_t multiple = 8;
  int32_t pad = 0;  // fills past each length
  uint64_t seed = 0;
};
class Buckets {
 public:
  // Empty sequences are allowed (length 0); a label per sequence.
  Buckets(std::vector<std::vector<int32_t>> sequences, std::vector<int32_t> labels, BucketOptions o = {});
  int64_t count() const { return static_cast<int64_t>(seqs_.size()); }
  // The sequences of each batch of pass `pass`.
  std::vector<std::vector<int64_t>> pass(int64_t pass) const;
  // Every sequence once, ordered by length, in batches of `batch` (the last one may be smaller).
  std::vector<std::vector<int64_t>> in_order() const;
  // The sequences numbered in `which`: x [T, n] padded to the longest rounded up, lengths, labels.
  SequenceBatch sequences(const std::vector<int64_t>& which) const;

  static constexpr bool carries_state = false;
  int64_t batches() const { return count() / o_.batch; }
  int64_t rows() const { return o_.batch; }
  int64_t tokens() const { return tokens_ * o_.batch / count(); }  // real steps in an average batch
  SequenceBatch batch(int64_t pass, int64_t k, Shard shard = {}) const;
  int64_t eval_batches() const { return (count() + o_.batch - 1) / o_.batch; }
  SequenceBatch eval_batch(int64_t k) const;
  int64_t eval_rows(int64_t k) const { return std::min(o_.batch, count() - k * o_.batch); }

 private:
  std::vector<std::vector<int32_t>> seqs_;
  std::vector<int32_t> labels_;
  BucketOptions o_;
  int64_t tokens_ = 0;
  int64_t rounded(int64_t i) const;
  mutable std::shared_ptr<std::pair<int64_t, std::vector<std::vector<int64_t>>>> pass_;
  mutable std::shared_ptr<std::vector<std::vector<int64_t>>> in_order_;
};

}  // namespace rnnc::data
