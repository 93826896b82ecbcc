// Runs a shell command for the tests of programs (examples, the rnnc tool): its exit status and
// everything it printed (stdout and stderr together).
#pragma once
#include <catch2/catch.hpp>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <nlohmann/json.hpp>
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

// The program's last "summary: {...}" line, which must be valid JSON.
inline nlohmann::json summary_of(const std::string& output) {
  const size_t at = output.rfind("summary: ");
  REQUIRE(at != std::string::npos);
  const std::string line = output.substr(at + 9, output.find('\n', at) - at - 9);
  INFO(line);
  REQUIRE(nlohmann::json::accept(line));
  return nlohmann::json::parse(line);
}

}  // namespace rnnc::testing
