// Per-machine GEMM timings (measurements.h): one JSON object of figures by name, in
// cache_dir/host/, named by the CPU LLVM compiles for, its features and rnnc's version (a new
// version may time differently). Written whole to a temporary file and renamed over the old one, so
// that a reader never sees half of it; two processes adding figures at once may lose one of them,
// which the next process measures again. A file that does not parse is measured over.
#include "compile/measurements.h"

#include <fmt/format.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>

#include "codegen/codegen.h"
#include "rnnc/env_options.h"

namespace rnnc::measurements {

namespace fs = std::filesystem;

namespace {

struct Kept {
  std::mutex mu;
  bool read = false;
  std::map<std::string, double> figures;
};
Kept& kept() {
  static Kept k;
  return k;
}

std::string machine() {
  std::string features;
  for (const std::string& f : codegen::host_features()) features += f + ",";
  return fmt::format("{} {} {}", codegen::host_cpu(), features, RNNC_VERSION);
}

// The figures in the file (none where it is missing, does not parse or is another machine's);
// those not in `figures` are added to it.
void read(std::map<std::string, double>& figures, const std::string& path) {
  if (path.empty()) return;
  std::ifstream in(path);
  if (!in) return;
  const nlohmann::json j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("figures") || !j["figures"].is_object() || j.value("machine", "") != machine())
    return;
  for (const auto& [key, value] : j["figures"].items())
    if (value.is_number() && value.get<double>() > 0) figures.try_emplace(key, value.get<double>());
}

// The file, with what other processes added to it since it was read.
void write(Kept& k, const std::string& path) {
  if (path.empty()) return;
  read(k.figures, path);
  std::error_code e;
  fs::create_directories(fs::path(path).parent_path(), e);
  const std::string tmp = fmt::format("{}.{}.tmp", path, ::getpid());
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << nlohmann::json{{"machine", machine()}, {"figures", k.figures}}.dump(2) << "\n";
    if (!out.flush()) return (void)fs::remove(tmp, e);
  }
  fs::rename(tmp, path, e);
  if (e) fs::remove(tmp, e);
}

}  // namespace

std::string file() {
  const EnvOptions& env = EnvOptions::from_environment();
  if (!env.disk_cache || env.cache_dir.empty()) return "";
  return (fs::path(env.cache_dir) / "host" /
          fmt::format("{}-{:016x}.json", codegen::host_cpu(), std::hash<std::string>{}(machine())))
      .string();
}

double remembered(const std::string& key, const std::function<double()>& measure) {
  Kept& k = kept();
  std::lock_guard lock(k.mu);
  const std::string path = file();
  if (!k.read) read(k.figures, path), k.read = true;
  if (auto it = k.figures.find(key); it != k.figures.end()) return it->second;
  const double figure = measure();
  k.figures[key] = figure;
  write(k, path);
  return figure;
}

}  // namespace rnnc::measurements
