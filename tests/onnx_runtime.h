// What the ONNX tests share: a scratch folder, and onnxruntime (tests/onnx/run.mjs, through Node.js)
// running models on given inputs, its outputs compared with what rnnc computed. Without Node or
// onnxruntime-node (scripts/setup.sh installs it from npm) the comparisons are skipped, and say so.
#pragma once
#include <catch2/catch.hpp>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "rnnc/onnx.h"
#include "rnnc/rnnc.h"
#include "run_command.h"

namespace rnnc::testing {

namespace fs = std::filesystem;

inline fs::path temp_dir(const std::string& what) {
  const fs::path dir = fs::temp_directory_path() / ("rnnc-test-onnx-" + what + "-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

// onnxruntime through Node, if installed: the reason it cannot run, or "".
inline std::string runtime_missing() {
  const fs::path modules = fs::path(RNNC_ONNX_RUNNER).parent_path() / "node_modules" / "onnxruntime-node";
  if (run("node --version").status != 0) return "Node.js is not installed";
  if (!fs::exists(modules / "package.json"))
    return "onnxruntime-node is not installed in tests/onnx (scripts/setup.sh installs it from npm)";
  return "";
}

// One model to run: its file, its inputs by name, and what rnnc computed for its outputs.
struct Job {
  std::string what;
  fs::path model;
  std::vector<std::pair<std::string, Tensor>> inputs, expected;
};

inline nlohmann::json to_json(const Tensor& t) {
  const char* type = t.dtype() == DType::f32 ? "float32" : t.dtype() == DType::f64 ? "float64" : "int32";
  return {{"type", type}, {"dims", t.shape()}, {"data", t.values()}};
}

// Runs every job in one onnxruntime process; checks each output against rnnc's to `tolerance`
// relative (of the output's largest magnitude). Skips, saying why, without the runtime.
inline void check_with_onnxruntime(const std::vector<Job>& jobs, const fs::path& dir, double tolerance = 1e-5) {
  if (const std::string why = runtime_missing(); !why.empty()) {
    WARN("SKIPPED: onnxruntime comparison: " << why);
    return;
  }
  nlohmann::json list = nlohmann::json::array();
  for (const Job& j : jobs) {
    nlohmann::json in = nlohmann::json::object();
    for (const auto& [name, t] : j.inputs) in[name] = to_json(t);
    list.push_back({{"model", j.model.string()}, {"inputs", in}});
  }
  const fs::path file = dir / "jobs.json";
  std::ofstream(file) << list.dump();
  const testing::Run r = run("node " + std::string(RNNC_ONNX_RUNNER) + " " + file.string());
  INFO(r.output.substr(0, 2000));
  REQUIRE(r.status == 0);
  const nlohmann::json results = nlohmann::json::parse(r.output);
  REQUIRE(results.size() == jobs.size());
  for (size_t k = 0; k < jobs.size(); ++k) {
    for (const auto& [name, want] : jobs[k].expected) {
      INFO(jobs[k].what << ": output " << name);
      REQUIRE(results[k].contains(name));
      const auto& got = results[k][name];
      CHECK(got["dims"].get<std::vector<int64_t>>() == want.shape());
      const std::vector<double> w = want.values(), g = got["data"].get<std::vector<double>>();
      REQUIRE(g.size() == w.size());
      double scale = 1e-30, worst = 0;
      for (double v : w) scale = std::max(scale, std::abs(v));
      for (size_t i = 0; i < w.size(); ++i) worst = std::max(worst, std::abs(g[i] - w[i]) / scale);
      CHECK(worst <= tolerance);
    }
  }
}

// A job's inputs in the order an imported graph takes them (OnnxGraph::inputs).
inline std::vector<Tensor> inputs_in_order(const OnnxGraph& g, const Job& j) {
  std::vector<Tensor> in;
  for (const Spec& spec : g.inputs)
    for (const auto& [name, t] : j.inputs)
      if (name == spec.name) in.push_back(t);
  REQUIRE(in.size() == g.inputs.size());
  return in;
}

// A sequence and each row's length.
struct Batch {
  Leaf xs, lengths;
  RNNC_TREE(xs, lengths)
};

// A tree's tensors by path (onnxruntime's input and output names).
template <class T> std::vector<std::pair<std::string, Tensor>> named(const T& tree, const std::string& prefix) {
  std::vector<std::pair<std::string, Tensor>> out;
  const std::vector<Tensor> ts = tree::tensors(tree);
  const std::vector<std::string> ps = tree::paths(tree, prefix);
  for (size_t i = 0; i < ts.size(); ++i) out.emplace_back(ps[i], ts[i]);
  return out;
}

}  // namespace rnnc::testing
