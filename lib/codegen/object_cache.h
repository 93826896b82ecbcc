// The on-disk kernel cache's files (jit.cpp): a relocatable object for this machine, then a
// 16-byte trailer, a magic word and the xxh3 hash of the object. Nothing a file holds is trusted
// until these checks say so: a damaged or foreign file is a miss, compiled again and replaced.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>

namespace rnnc::codegen {

constexpr size_t kMaxCachedObject = size_t{1} << 30;

// The object in a cache file's bytes, or why there is none (`why` empty: `object` is good).
struct CachedObject {
  std::string_view object;  // into the bytes given
  std::string why;
};

// Checks the size, the trailer and the hash, then reads the object through every section,
// symbol and relocation LLVM's linker will read: an ELF relocatable object of this machine's
// architecture.
CachedObject read_cached_object(std::string_view bytes);

// The bytes of a cache file that holds `object`.
std::string cached_object_file(std::string_view object);

}  // namespace rnnc::codegen
