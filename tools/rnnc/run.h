// `rnnc run FILE.cpp [-- ARGS]`: compile a user's model file against the library and run it.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace rnnc::tool {

struct RunOptions {
  std::string file;
  std::vector<std::string> args;  // passed to the program
  bool rebuild = false;           // ignore the cached binary
  bool verbose = false;           // print the compile command
};

// Where the library is: the build tree this tool was built in, or an installation around it.
struct Layout {
  std::string include_dir, lib_dir, corpus_dir;
};
Layout find_layout();

// Compiles (unless a binary for this exact source, command and library is cached) and runs the
// file; returns only on failure (the program replaces this process), with the exit status.
int run(const RunOptions& o);

// The cache directory: $RNNC_CACHE_DIR, else $XDG_CACHE_HOME/rnnc, else ~/.cache/rnnc.
std::string cache_dir();

// FNV-1a, 64 bits: a stable hash (of what a cached binary depends on, of a training text).
uint64_t fnv1a(std::string_view s, uint64_t h = 1469598103934665603ull);

}  // namespace rnnc::tool
