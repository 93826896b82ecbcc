// safetensors reading and writing, with every check the format allows.
#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "rnnc/checkpoint.h"
#include "rnnc/data.h"
#include "rnnc/error.h"

namespace rnnc::io {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

const char* dtype_name(DType t) {
  switch (t) {
    case DType::f32: return "F32";
    case DType::f64: return "F64";
    case DType::i32: return "I32";
    case DType::bf16: return "BF16";
    case DType::i8: return "I8";
  }
  return "?";
}

[[noreturn]] void bad(const fs::path& p, const std::string& what) {
  throw Error(fmt::format("rnnc: checkpoint '{}': {}", p.string(), what));
}

// The temporary a save writes before renaming it over `path`: `.<name>.tmp<pid>-<n>`, n counting
// this process's saves, so two threads (or two saves in one thread) never share one.
fs::path temporary_for(const fs::path& path) {
  static std::atomic<uint64_t> saves{0};
  const fs::path dir = path.has_parent_path() ? path.parent_path() : fs::path(".");
  return dir / fmt::format(".{}.tmp{}-{}", path.filename().string(), ::getpid(), saves++);
}

// Removes the temporaries of `path` left by processes that no longer run (a save killed between
// creating its temporary and renaming it). Those of running processes, this one included, may
// be saves in progress and stay.
void remove_stale_temporaries(const fs::path& path) {
  const fs::path dir = path.has_parent_path() ? path.parent_path() : fs::path(".");
  const std::string prefix = fmt::format(".{}.tmp", path.filename().string());
  std::error_code ec;
  for (const fs::directory_entry& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name.rfind(prefix, 0) != 0) continue;
    const std::string rest = name.substr(prefix.size());
    const std::string digits = rest.substr(0, rest.find('-'));
    if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos || digits.size() > 9) continue;
    const pid_t pid = static_cast<pid_t>(std::stol(digits));
    if (pid == ::getpid() || ::kill(pid, 0) == 0 || errno != ESRCH) continue;
    fs::remove(e.path(), ec);  // another save may have removed it first
  }
}

void write_all(int fd, const void* data, size_t n, const fs::path& p) {
  const char* c = static_cast<const char*>(data);
  while (n > 0) {
    ssize_t w = ::write(fd, c, n);
    if (w <= 0) bad(p, std::string("write failed: ") + std::strerror(errno));
    c += w;
    n -= static_cast<size_t>(w);
  }
}

}  // namespace

const Tensor& Checkpoint::tensor(const std::string& name) const {
  for (const auto& [n, t] : tensors)
    if (n == name) return t;
  throw Error(fmt::format("rnnc: checkpoint: no tensor named '{}'", name));
}

bool Checkpoint::has(const std::string& name) const {
  return std::any_of(tensors.begin(), tensors.end(), [&](const auto& e) { return e.first == name; });
}

std::vector<Tensor> Checkpoint::matching(const std::vector<std::string>& names, const std::vector<Tensor>& like) const {
  std::vector<Tensor> out;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (!has(names[i]))
      throw Error(fmt::format("rnnc: checkpoint: no tensor named '{}' (expected {}{}); the model was left unchanged",
                              names[i], name_of(like[i].dtype()), to_string(like[i].shape())));
    const Tensor& t = tensor(names[i]);
    if (t.dtype() != like[i].dtype() || t.shape() != like[i].shape())
      throw Error(fmt::format(
          "rnnc: checkpoint: '{}' is {}{} in the file, the model expects {}{}; the model was left "
          "unchanged",
          names[i], name_of(t.dtype()), to_string(t.shape()), name_of(like[i].dtype()), to_string(like[i].shape())));
  }
  for (const std::string& n : names) out.push_back(tensor(n).clone());
  return out;
}

const std::string& Checkpoint::meta(const std::string& key) const {
  auto it = metadata.find(key);
  if (it == metadata.end()) throw Error(fmt::format("rnnc: checkpoint: no metadata '{}'", key));
  return it->second;
}

void save(const fs::path& path, const Checkpoint& c) {
  json header = json::object();
  size_t offset = 0;
  for (const auto& [name, t] : c.tensors) {
    if (name == "__metadata__") bad(path, "'__metadata__' cannot name a tensor");
    if (header.contains(name)) bad(path, fmt::format("two tensors are named '{}'", name));
    header[name] = {
        {"dtype", dtype_name(t.dtype())}, {"shape", t.shape()}, {"data_offsets", {offset, offset + t.nbytes()}}};
    offset += t.nbytes();
  }
  if (!c.metadata.empty()) header["__metadata__"] = c.metadata;
  std::string h = header.dump();
  h.append((8 - h.size() % 8) % 8, ' ');  // data starts 8-byte aligned
  uint64_t n = h.size();
  unsigned char len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>(n >> (8 * i));  // little-endian

  const fs::path dir = path.has_parent_path() ? path.parent_path() : fs::path(".");
  remove_stale_temporaries(path);
  const fs::path tmp = temporary_for(path);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) bad(path, fmt::format("cannot create '{}': {}", tmp.string(), std::strerror(errno)));
  try {
    write_all(fd, len, 8, path);
    write_all(fd, h.data(), h.size(), path);
    for (const auto& [name, t] : c.tensors) write_all(fd, t.raw(), t.nbytes(), path);
    if (::fsync(fd) != 0) bad(path, std::string("fsync failed: ") + std::strerror(errno));
  } catch (...) {
    ::close(fd);
    ::unlink(tmp.c_str());
    throw;
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    bad(path, std::string("rename failed: ") + std::strerror(errno));
  }
  // Make the rename itself durable.
  if (int d = ::open(dir.c_str(), O_RDONLY); d >= 0) {
    ::fsync(d);
    ::close(d);
  }
}

Checkpoint load(const fs::path& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) bad(path, "it is a folder, not a checkpoint file");
  std::ifstream in(path, std::ios::binary);
  if (!in) bad(path, "cannot open it");
  std::stringstream ss;
  ss << in.rdbuf();
  return parse(ss.str(), path);
}

Checkpoint parse(std::string_view bytes, const fs::path& path) {
  if (bytes.size() < 8) bad(path, fmt::format("{} bytes is shorter than the 8-byte header length", bytes.size()));
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(bytes[i]);
  if (n > bytes.size() - 8)
    bad(path, fmt::format("the header length {} runs past the end of the file ({} bytes)", n, bytes.size()));
  const std::string_view h = bytes.substr(8, n);
  try {
    data::decode_utf8(h, "header");
  } catch (const Error&) {
    bad(path, "the header is not valid UTF-8");
  }
  json header;
  try {
    header = json::parse(h);
  } catch (const json::exception& e) {
    bad(path, fmt::format("the header is not JSON ({})", e.what()));
  }
  if (!header.is_object()) bad(path, "the header is not a JSON object");

  const uint64_t data_size = bytes.size() - 8 - n;
  const char* data = bytes.data() + 8 + n;
  Checkpoint c;
  struct Span {
    uint64_t begin, end;
    std::string name;
  };
  std::vector<Span> spans;
  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const json& e = it.value();
    if (name == "__metadata__") {
      if (!e.is_object()) bad(path, "__metadata__ is not an object");
      for (auto m = e.begin(); m != e.end(); ++m) {
        if (!m.value().is_string()) bad(path, fmt::format("metadata '{}' is not a string", m.key()));
        c.metadata[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    if (!e.is_object() || !e.contains("dtype") || !e.contains("shape") || !e.contains("data_offsets"))
      bad(path, fmt::format("tensor '{}' lacks dtype, shape or data_offsets", name));
    const std::string dt = e["dtype"].is_string() ? e["dtype"].get<std::string>() : "?";
    DType dtype;
    if (dt == "F32")
      dtype = DType::f32;
    else if (dt == "F64")
      dtype = DType::f64;
    else if (dt == "I32")
      dtype = DType::i32;
    else if (dt == "BF16")
      dtype = DType::bf16;
    else
      bad(path, fmt::format("tensor '{}' has an unknown dtype '{}' (rnnc reads F32, F64, I32, BF16)", name, dt));
    const json& sh = e["shape"];
    if (!sh.is_array()) bad(path, fmt::format("tensor '{}': shape is not an array", name));
    Shape shape;
    // Every partial product must fit an int64 (numel's type), not only the total: [2^62, 3, 0]
    // holds no element, but 2^62 * 3 is past INT64_MAX.
    int64_t count = 1;
    for (const json& d : sh) {
      if (!d.is_number_unsigned())
        bad(path, fmt::format("tensor '{}': shape holds a non-integer or negative extent", name));
      const uint64_t x = d.get<uint64_t>();
      if (x > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ||
          __builtin_mul_overflow(count, static_cast<int64_t>(x), &count))
        bad(path, fmt::format("tensor '{}': the shape {} overflows", name, sh.dump()));
      shape.push_back(static_cast<int64_t>(x));
    }
    uint64_t nbytes;
    if (__builtin_mul_overflow(static_cast<uint64_t>(count), static_cast<uint64_t>(size_of(dtype)), &nbytes))
      bad(path, fmt::format("tensor '{}': the shape {} overflows", name, sh.dump()));
    const json& off = e["data_offsets"];
    if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
      bad(path, fmt::format("tensor '{}': data_offsets is not two non-negative integers", name));
    const uint64_t b = off[0].get<uint64_t>(), en = off[1].get<uint64_t>();
    if (b > en || en > data_size)
      bad(path, fmt::format("tensor '{}': data_offsets [{}, {}] are out of range (the data holds {} bytes)", name, b,
                            en, data_size));
    if (en - b != nbytes)
      bad(path, fmt::format("tensor '{}': {} bytes of data, but {}{} needs {}", name, en - b, dt, sh.dump(), nbytes));
    Tensor t = Tensor::empty(shape, dtype);
    if (nbytes) std::memcpy(t.raw(), data + b, nbytes);
    c.add(name, t);
    spans.push_back({b, en, name});
  }
  // The tensors must tile the data exactly: no overlap, no hole.
  std::sort(spans.begin(), spans.end(), [](const Span& x, const Span& y) { return x.begin < y.begin; });
  uint64_t at = 0;
  for (const Span& s : spans) {
    if (s.begin < at) bad(path, fmt::format("tensor '{}' overlaps the tensor before it", s.name));
    if (s.begin > at) bad(path, fmt::format("a hole of {} bytes precedes tensor '{}'", s.begin - at, s.name));
    at = s.end;
  }
  if (at != data_size) bad(path, fmt::format("{} bytes after the last tensor belong to none", data_size - at));
  // File order (the header's object is sorted by name in nlohmann::json; keep the data order).
  std::vector<std::pair<std::string, Tensor>> ordered;
  for (const Span& s : spans) ordered.emplace_back(s.name, c.tensor(s.name));
  c.tensors = std::move(ordered);
  return c;
}

std::string rng_state(const std::mt19937_64& rng) {
  std::ostringstream os;
  os << rng;
  return os.str();
}

std::mt19937_64 rng_from_state(const std::string& state) {
  std::istringstream is(state);
  std::mt19937_64 rng;
  is >> rng;
  if (!is) throw Error("rnnc: checkpoint: the RNG state does not parse");
  return rng;
}

bool KeepBest::offer(double loss, const Checkpoint& c) {
  if (!(loss < best_)) return false;
  save(path_, c);
  best_ = loss;
  return true;
}

}  // namespace rnnc::io
