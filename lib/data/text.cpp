#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "rnnc/data.h"
#include "rnnc/error.h"

namespace rnnc::data {

namespace fs = std::filesystem;

std::u32string decode_utf8(std::string_view s, std::string_view source) {
  std::u32string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    const int n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    bool ok = n > 0 && i + n <= s.size();
    char32_t cp = n == 1 ? c : c & (0x7f >> n);
    for (int k = 1; ok && k < n; ++k) {
      const unsigned char d = static_cast<unsigned char>(s[i + k]);
      ok = (d >> 6) == 2;
      cp = (cp << 6) | (d & 0x3f);
    }
    // The shortest form only (an overlong "\xc0\xaf" is not '/'), no UTF-16 surrogates, nothing
    // past U+10FFFF: what the Unicode standard calls well-formed, and what encode_utf8 writes.
    static constexpr char32_t least[] = {0, 0, 0x80, 0x800, 0x10000};
    ok = ok && cp >= least[n] && cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF);
    if (!ok) throw Error(fmt::format("rnnc: {}: invalid UTF-8 at byte {}", source, i));
    out.push_back(cp);
    i += n;
  }
  return out;
}

std::string encode_utf8(std::u32string_view text) {
  std::string s;
  for (char32_t c : text) {
    if (c < 0x80) {
      s += static_cast<char>(c);
    } else if (c < 0x800) {
      s += static_cast<char>(0xc0 | (c >> 6));
      s += static_cast<char>(0x80 | (c & 0x3f));
    } else if (c < 0x10000) {
      s += static_cast<char>(0xe0 | (c >> 12));
      s += static_cast<char>(0x80 | ((c >> 6) & 0x3f));
      s += static_cast<char>(0x80 | (c & 0x3f));
    } else {
      s += static_cast<char>(0xf0 | (c >> 18));
      s += static_cast<char>(0x80 | ((c >> 12) & 0x3f));
      s += static_cast<char>(0x80 | ((c >> 6) & 0x3f));
      s += static_cast<char>(0x80 | (c & 0x3f));
    }
  }
  return s;
}

std::string read_text(const fs::path& path, std::string_view extension) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw Error(fmt::format("rnnc: cannot open data file '{}': no such file", path.string()));
  std::vector<fs::path> files;
  if (fs::is_directory(path)) {
    for (const auto& e : fs::directory_iterator(path))
      if (e.path().extension() == extension) files.push_back(e.path());
    std::sort(files.begin(), files.end());
  } else {
    files.push_back(path);
  }
  // Regular files only, of a bounded size, checked before reading: /dev/zero or a FIFO would be read
  // until memory ran out.
  constexpr std::uintmax_t most = std::uintmax_t{1} << 31;  // 2 GiB of text in all
  std::uintmax_t total = 0;
  for (const fs::path& f : files) {
    if (!fs::is_regular_file(f, ec))
      throw Error(fmt::format("rnnc: data file '{}' is not a regular file (a device, a pipe?)", f.string()));
    total += fs::file_size(f, ec);
    if (ec || total > most)
      throw Error(fmt::format("rnnc: data '{}' holds more than {} bytes of text", path.string(), most));
  }
  std::string text;
  text.reserve(static_cast<std::size_t>(total));
  for (const fs::path& f : files) {
    std::ifstream in(f, std::ios::binary);
    if (!in) throw Error(fmt::format("rnnc: cannot open data file '{}'", f.string()));
    std::stringstream ss;
    ss << in.rdbuf();
    text += ss.str();
  }
  if (text.empty()) throw Error(fmt::format("rnnc: no text in '{}'", path.string()));
  return text;
}

Vocab Vocab::of(std::u32string_view text) {
  std::u32string chars(text);
  std::sort(chars.begin(), chars.end());
  chars.erase(std::unique(chars.begin(), chars.end()), chars.end());
  Vocab v;
  v.chars_ = std::move(chars);
  return v;
}

Vocab Vocab::from_chars(std::u32string_view chars) {
  Vocab v = of(chars);
  if (v.chars_.size() != chars.size()) throw Error("rnnc: Vocab::from_chars: repeated characters");
  return v;
}

char32_t Vocab::at(int i) const {
  if (i < 0 || i >= size()) throw Error(fmt::format("rnnc: vocabulary: index {} is out of range [0, {})", i, size()));
  return chars_[i];
}

int Vocab::index(char32_t c) const {
  auto it = std::lower_bound(chars_.begin(), chars_.end(), c);
  if (it == chars_.end() || *it != c)
    throw Error(fmt::format("rnnc: vocabulary: the character '{}' (U+{:04X}) is not in the model's vocabulary of {}",
                            encode_utf8(std::u32string(1, c)), static_cast<uint32_t>(c), size()));
  return static_cast<int>(it - chars_.begin());
}

Tensor Vocab::encode(std::u32string_view text) const {
  Tensor t(DType::i32, {static_cast<int64_t>(text.size())});
  int32_t* p = t.data<int32_t>();
  for (size_t i = 0; i < text.size(); ++i) p[i] = index(text[i]);
  return t;
}

std::string Vocab::decode(const std::vector<int>& indices) const {
  std::u32string s;
  for (int i : indices) s.push_back(at(i));
  return encode_utf8(s);
}

Split split(std::u32string_view text, double val_fraction) {
  if (val_fraction < 0 || val_fraction >= 1)
    throw Error(fmt::format("rnnc: split: the validation fraction must be in [0, 1), got {}", val_fraction));
  const size_t n_val = static_cast<size_t>(static_cast<double>(text.size()) * val_fraction);
  return {std::u32string(text.substr(0, text.size() - n_val)), std::u32string(text.substr(text.size() - n_val))};
}

Corpus read_corpus(const std::filesystem::path& path, double val_fraction, const Vocab* vocab) {
  Corpus c;
  c.text = decode_utf8(read_text(path), path.string());
  c.vocab = vocab ? *vocab : Vocab::of(c.text);
  const Split parts = split(c.text, val_fraction);
  c.train = c.vocab.encode(parts.train);
  c.val = c.vocab.encode(parts.val);
  return c;
}

int64_t Shard::rows_of(int64_t batch, std::string_view what) const {
  if (ranks < 1 || rank < 0 || rank >= ranks || batch % ranks != 0)
    throw Error(
        fmt::format("rnnc: {}: a batch of {} does not split over {} ranks (rank {})", what, batch, ranks, rank));
  return batch / ranks;
}

Streams::Streams(const Tensor& encoded, int64_t batch, int64_t length)
    : text_(encoded), batch_(batch), length_(length) {
  if (batch < 1 || length < 1) throw Error("rnnc: Streams: batch and length must be positive");
  // Each stream needs T inputs plus one more character as the last target.
  stream_len_ = encoded.numel() / batch;
  chunks_ = stream_len_ > 0 ? (stream_len_ - 1) / length : 0;
  if (chunks_ == 0)
    throw Error(fmt::format("rnnc: Streams: {} characters are too few for {} streams of {} steps", encoded.numel(),
                            batch, length));
}

TextBatch Streams::chunk(int64_t k, Shard shard) const {
  if (k < 0 || k >= chunks_) throw Error(fmt::format("rnnc: Streams: chunk {} of {}", k, chunks_));
  const int64_t B = shard.rows_of(batch_, "Streams"), first = shard.rank * B;
  Tensor in(DType::i32, {length_, B}), tg(DType::i32, {length_, B});
  const int32_t* src = text_.data<int32_t>();
  for (int64_t t = 0; t < length_; ++t)
    for (int64_t b = 0; b < B; ++b) {
      const int64_t at = (first + b) * stream_len_ + k * length_ + t;
      in.data<int32_t>()[t * B + b] = src[at];
      tg.data<int32_t>()[t * B + b] = src[at + 1];
    }
  return {in, tg};
}

Streams held_out(const Tensor& encoded, int64_t batch, int64_t length) {
  const int64_t room = encoded.numel() / (length + 1);  // streams with a chunk of `length` each
  return Streams(encoded, std::max<int64_t>(1, std::min(batch, room)), length);
}

Windows::Windows(const Tensor& encoded, int64_t length, WindowOptions o)
    : text_(encoded), length_(length), step_(o.step), batch_(o.batch), seed_(o.seed) {
  if (length < 1 || o.step < 1 || o.batch < 1) throw Error("rnnc: Windows: length, step and batch must be positive");
  count_ = encoded.numel() > length ? (encoded.numel() - length - 1) / step_ + 1 : 0;
  if (count_ == 0)
    throw Error(fmt::format("rnnc: Windows: {} characters are too few for windows of {}", encoded.numel(), length));
  if (count_ < batch_)
    throw Error(fmt::format("rnnc: Windows: {} windows, fewer than one batch of {}", count_, batch_));
}

TextBatch Windows::windows(const std::vector<int64_t>& which) const {
  const int64_t n = static_cast<int64_t>(which.size());
  Tensor in(DType::i32, {n, length_}), tg(DType::i32, {n});
  const int32_t* src = text_.data<int32_t>();
  for (int64_t i = 0; i < n; ++i) {
    if (which[i] < 0 || which[i] >= count_)
      throw Error(fmt::format("rnnc: Windows: window {} of {}", which[i], count_));
    const int64_t at = which[i] * step_;
    std::copy_n(src + at, length_, in.data<int32_t>() + i * length_);
    tg.data<int32_t>()[i] = src[at + length_];
  }
  return {in, tg};
}

TextBatch Windows::batch(int64_t pass, int64_t k, Shard shard) const {
  if (!order_ || order_->first != pass)
    order_ = std::make_shared<std::pair<int64_t, std::vector<int64_t>>>(pass, shuffled(count_, seed_, pass));
  const int64_t share = shard.rows_of(batch_, "Windows");
  const auto first = order_->second.begin() + k * batch_ + shard.rank * share;
  return windows(std::vector<int64_t>(first, first + share));
}

TextBatch Windows::eval_batch(int64_t k) const {
  std::vector<int64_t> which(static_cast<std::size_t>(batch_));
  for (int64_t i = 0; i < batch_; ++i) which[static_cast<std::size_t>(i)] = k * batch_ + i;
  return windows(which);
}

}  // namespace rnnc::data
