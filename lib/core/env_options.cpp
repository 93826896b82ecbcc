#include "rnnc/env_options.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>

namespace rnnc {

namespace {
std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

EnvOptions read() {
  EnvOptions o;
  o.dump = env("RNNC_DUMP");
  o.profile = std::atoi(env("RNNC_PROFILE").c_str());
  o.threads = std::max(0, std::atoi(env("RNNC_THREADS").c_str()));
  o.disk_cache = env("RNNC_DISK_CACHE") != "0";
  o.bf16_force = env("RNNC_BF16") == "force";
  if (const std::string t = env("RNNC_PRETRANSPOSE"); !t.empty()) o.pretranspose = t != "0";
  namespace fs = std::filesystem;
  if (std::string d = env("RNNC_CACHE_DIR"); !d.empty())
    o.cache_dir = d;
  else if (std::string x = env("XDG_CACHE_HOME"); !x.empty())
    o.cache_dir = (fs::path(x) / "rnnc").string();
  else if (std::string h = env("HOME"); !h.empty())
    o.cache_dir = (fs::path(h) / ".cache" / "rnnc").string();
  return o;
}
}  // namespace

bool EnvOptions::dumps(std::string_view what) const {
  if (what.empty()) return false;
  size_t at = 0;
  while (at <= dump.size()) {
    const size_t comma = std::min(dump.find(',', at), dump.size());
    if (std::string_view(dump).substr(at, comma - at) == what) return true;
    at = comma + 1;
  }
  return false;
}

const EnvOptions& EnvOptions::from_environment() {
  static const EnvOptions options = read();
  return options;
}

}  // namespace rnnc
