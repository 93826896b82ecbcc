// RNNC_PROFILE's table (profile.h).
#include "exec/profile.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <mutex>
#include <utility>

namespace rnnc::exec {

namespace {

// Programs compiled with EnvOptions::profile (RNNC_PROFILE=1) add their wall time per kind of step
// (GEMMs and kernels inside loops counted apart) here; it is printed when the process exits.
// profile 2: every step on its own line (those of loop bodies by their place in the body, the
// bodies of all loops together). A program's first two calls are counted apart,
// as a whole: they fault in the pages of the arena and of fresh outputs (the third call gets the
// first's outputs back, see executor.cpp's run()), which in a VM would swamp the rest.
struct Profile {
  std::mutex mu;
  std::map<std::string, std::pair<double, int64_t>> time;  // seconds, count
  ~Profile() {
    if (time.empty()) return;
    double total = 0;
    for (const auto& [k, v] : time)
      total +=
          (k.find("loop") != std::string::npos && k.find("in loops") == std::string::npos) || k.starts_with("first two")
              ? 0
              : v.first;
    std::string s =
        "rnnc profile (RNNC_PROFILE): wall time by step kind, from each compiled function's third call on "
        "(the first two fault their memory in, counted apart) (% of the time outside loops plus the time of the "
        "steps inside them)\n";
    for (const auto& [k, v] : time)
      s +=
          fmt::format("  {:22} {:9.3f} s {:10} calls {:9.2f} us/call{}\n", k, v.first, v.second,
                      1e6 * v.first / std::max<int64_t>(v.second, 1), fmt::format("  {:5.1f}%", 100 * v.first / total));
    std::fputs(s.c_str(), stderr);
  }
};
Profile& profile() {
  static Profile p;
  return p;
}

}  // namespace

void profile_add(const std::string& key, double seconds) {
  Profile& p = profile();
  std::lock_guard lock(p.mu);
  auto& [sec, n] = p.time[key];
  sec += seconds;
  ++n;
}

}  // namespace rnnc::exec
