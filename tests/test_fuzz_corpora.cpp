// The fuzzers' corpora (tests/fuzz/corpus), replayed through the same targets by every build:
// what libFuzzer once found stays fixed. A target may throw rnnc::Error and nothing else.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "fuzz/targets.h"
#include "rnnc/error.h"

namespace fs = std::filesystem;

TEST_CASE("fuzz corpora: every input of every target runs without a crash or a foreign exception") {
  struct Target {
    const char* name;
    void (*run)(const uint8_t*, size_t);
  };
  for (const Target& t : {Target{"checkpoint", rnnc::fuzz::checkpoint}, Target{"text", rnnc::fuzz::text},
                          Target{"graph", rnnc::fuzz::graph}, Target{"program", rnnc::fuzz::program},
                          Target{"kernel_cache", rnnc::fuzz::kernel_cache}}) {
    const fs::path dir = fs::path(RNNC_FUZZ_CORPUS) / t.name;
    REQUIRE(fs::is_directory(dir));
    int inputs = 0;
    for (const fs::directory_entry& e : fs::directory_iterator(dir)) {
      std::ifstream in(e.path(), std::ios::binary);
      const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      INFO(t.name << ": " << e.path().filename().string());
      CHECK_NOTHROW(t.run(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
      ++inputs;
    }
    INFO(t.name);
    CHECK(inputs >= 5);
  }
}
