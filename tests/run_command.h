// Runs a shell command for the tests of programs (examples, the rnnc tool): its exit status and
// everything it printed (stdout and stderr together).
#pragma once
#include <catch2/catch.hpp>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <string>

namespace rnnc::testing {

struct Run {
  int status;
  std::string output;
};

inline Run run(const std::string& command) {
  std::string out;
  FILE* p = popen((command + " 2>&1").c_str(), "r");
  REQUIRE(p != nullptr);
  std::array<char, 4096> buf{};
  while (size_t n = fread(buf.data(), 1, buf.size(), p)) out.append(buf.data(), n);
  const int status = pclose(p);
  return {WEXITSTATUS(status), out};
}

}  // namespace rnnc::testing
