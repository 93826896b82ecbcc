// Text for character models: UTF-8 in (a character is a code point, not a byte), a sorted
// vocabulary, encoding to i32 indices, a train/validation split, and batching as char-rnn does it
// (B parallel streams through the text, chunks of T steps, the state carried from chunk to chunk)
// or as the Keras tutorials do it (sliding windows, each predicting the character after it).
#pragma once
#include <filesystem>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "rnnc/tensor.h"

namespace rnnc::data {

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

// char-rnn batching: the encoded text cut into `batch` equal streams; chunk k holds steps
// [k T, (k + 1) T) of every stream, so chunk k + 1 continues where chunk k stopped.
class Streams {
 public:
  Streams(const Tensor& encoded, int64_t batch, int64_t steps);
  int64_t chunks() const { return chunks_; }  // per epoch
  int64_t batch() const { return batch_; }    // B streams
  int64_t steps() const { return steps_; }    // T characters per chunk
  // inputs and targets (the next characters), i32 [T, B].
  std::pair<Tensor, Tensor> chunk(int64_t k) const;
  // For data-parallel training: streams [rank B / ranks, (rank + 1) B / ranks) of these, so that
  // the shards' chunks side by side are this chunk. B must divide evenly.
  Streams shard(int64_t rank, int64_t ranks) const;

 private:
  Tensor text_;
  int64_t batch_, steps_, stream_len_, chunks_;
  int64_t first_ = 0;  // this shard's first stream
};

// Keras batching: windows of `length` characters every `step` characters, each labelled with the
// character that follows it.
class Windows {
 public:
  Windows(const Tensor& encoded, int64_t length, int64_t step = 1);
  int64_t count() const { return count_; }
  int64_t length() const { return length_; }
  // inputs i32 [n, length] and targets i32 [n] for the windows numbered in `which`.
  std::pair<Tensor, Tensor> batch(const std::vector<int64_t>& which) const;

 private:
  Tensor text_;
  int64_t length_, step_, count_;
};

// 0 .. count-1 in the order of pass `epoch`, shuffled from (seed, epoch): the same order on
// every platform.
std::vector<int64_t> shuffled(int64_t count, uint64_t seed, int64_t epoch);

// Sequences of different lengths in batches of similar lengths (tf.data's
// bucket_by_sequence_length, torchtext's BucketIterator), each sequence with a label (a class).
// A pass shuffles the sequences, orders them by length rounded up to `multiple` (the order within a
// rounded length stays shuffled), cuts that order into batches of `batch` (the last partial batch
// is left out) and shuffles the batches. A batch is padded to its longest sequence rounded up to
// `multiple`, so a compiled step sees few distinct shapes: lengths 1..200 with multiple 8 give 25.
class Buckets {
 public:
  // Empty sequences are allowed (length 0); a label per sequence; pad fills past each length.
  Buckets(std::vector<std::vector<int32_t>> sequences, std::vector<int32_t> labels, int64_t batch,
          int64_t multiple = 8, int32_t pad = 0);
  int64_t count() const { return static_cast<int64_t>(seqs_.size()); }
  int64_t batch_size() const { return batch_; }
  int64_t batches() const { return count() / batch_; }  // per pass
  int64_t tokens() const { return tokens_; }             // real steps in all sequences
  // The sequences of each batch of pass `epoch`, drawn from (seed, epoch).
  std::vector<std::vector<int64_t>> pass(uint64_t seed, int64_t epoch) const;
  // Every sequence once, ordered by length, in batches of `batch` (the last one may be smaller):
  // for evaluation.
  std::vector<std::vector<int64_t>> in_order() const;
  struct Batch {
    Tensor x;        // i32 [T, B], time-major, `pad` past each length
    Tensor lengths;  // i32 [B]
    Tensor y;        // i32 [B], the labels
  };
  Batch batch(const std::vector<int64_t>& which) const;

 private:
  std::vector<std::vector<int32_t>> seqs_;
  std::vector<int32_t> labels_;
  int64_t batch_, multiple_, tokens_ = 0;
  int32_t pad_;
  int64_t rounded(int64_t i) const;
};

}  // namespace rnnc::data
