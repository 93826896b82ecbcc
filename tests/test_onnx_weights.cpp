// Weights exported small (OnnxOptions::weights): a character LSTM in bfloat16 and in int8 per row
// is a smaller file that onnxruntime runs to what rnnc computes on the weights so rounded, and that
// import_onnx reads back as float32 weights under the model's paths (fold_weights.cpp).
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>

#include "helpers.h"
#include "onnx_runtime.h"

using namespace rnnc;
namespace fs = std::filesystem;
using testing::Job;
using testing::named;

namespace {

using Model = nn::CharRNN<nn::LSTMCell>;

// The model with its weight matrices rounded as `format` stores them: bfloat16, or int8 per row
// (round(w / s), s = max |row| / 127 in float32), read back to float32.
Model rounded(const Model& m, OnnxWeights format) {
  std::vector<Tensor> leaves = tree::tensors(m);
  for (Tensor& w : leaves) {
    if (w.rank() != 2) continue;
    if (format == OnnxWeights::bf16) {
      w = w.to(DType::bf16).to(DType::f32);
      continue;
    }
    const int64_t rows = w.shape()[0], cols = w.shape()[1];
    std::vector<double> v = w.values();
    for (int64_t r = 0; r < rows; ++r) {
      double top = 0;
      for (int64_t c = 0; c < cols; ++c) top = std::max(top, std::abs(v[static_cast<size_t>(r * cols + c)]));
      const float s = top > 0 ? static_cast<float>(top / 127) : 1.0F;
      for (int64_t c = 0; c < cols; ++c) {
        double& x = v[static_cast<size_t>(r * cols + c)];
        x = static_cast<float>(std::nearbyint(x / s) * s);
      }
    }
    w = Tensor::from(v, w.shape());
  }
  return tree::replace(m, leaves);
}

}  // namespace

TEST_CASE("onnx weights: bf16 and int8 files are smaller, run in onnxruntime and import as weights") {
  std::mt19937_64 rng(21);
  const Model m = Model::init(11, 48, rng, {.layers = 2});
  auto chunk = compile([](const Model& model, const Model::State& s, const Var& ids) { return model(ids, s); });
  const fs::path dir = testing::temp_dir("weights");
  Model::State s = m.initial_state(2);
  std::vector<Tensor> values = tree::tensors(s);
  for (Tensor& t : values) t = Tensor::uniform(t.shape(), -0.5, 0.5, rng);
  s = tree::replace(s, values);
  const Tensor ids = Tensor::from({1, 4, 2, 5, 0, 3, 10, 7}, {4, 2}, DType::i32);

  std::vector<Job> jobs;
  std::map<OnnxWeights, size_t> bytes;
  for (OnnxWeights format : {OnnxWeights::f32, OnnxWeights::bf16, OnnxWeights::int8}) {
    const char* name = format == OnnxWeights::f32 ? "f32" : format == OnnxWeights::bf16 ? "bf16" : "int8";
    INFO(name);
    OnnxOptions o;
    o.weights = format;
    const fs::path file = dir / (std::string(name) + ".onnx");
    const OnnxModel x = export_onnx(chunk, m, s, ids, file, o);
    bytes[format] = x.text.size();
    CHECK(x.operators.count("DequantizeLinear") == (format == OnnxWeights::int8 ? 1U : 0U));
    // What rnnc computes on the weights as stored, which onnxruntime must compute from the file.
    const Model as_stored = format == OnnxWeights::f32 ? m : rounded(m, format);
    auto [logits, last] = chunk(as_stored, s, ids);
    Job j{name, file, named(s, "state"), named(logits, "output")};
    j.inputs.emplace_back("input", ids);
    for (auto& p : named(last, "next_state")) j.expected.push_back(p);
    jobs.push_back(j);

    // Read back: float32 weights under the model's paths, as stored, and nothing else.
    const OnnxGraph g = import_onnx(file);
    const std::vector<std::string> paths = tree::paths(m);
    const std::vector<Tensor> want = tree::tensors(as_stored);
    REQUIRE(g.weights.size() == paths.size());
    for (size_t i = 0; i < paths.size(); ++i) {
      INFO(paths[i]);
      REQUIRE(g.weights.count(paths[i]) == 1);
      CHECK(g.weights.at(paths[i]).tensor().dtype() == DType::f32);
      CHECK(g.weights.at(paths[i]).tensor().values() == want[i].values());
    }
  }
  // Weight matrices are most of the bytes: bf16 about half, int8 about a quarter (plus scales).
  CHECK(bytes[OnnxWeights::bf16] < bytes[OnnxWeights::f32] * 6 / 10);
  CHECK(bytes[OnnxWeights::int8] < bytes[OnnxWeights::f32] * 4 / 10);
  // float32 and bf16 files to 1e-5. The int8 file's states too (its LSTM operators read the
  // dequantized weights), but its logits only to 1%: onnxruntime fuses a DequantizeLinear feeding a
  // MatMul into an int8 matrix product (its QDQ optimisation), rounding the activations to int8 as
  // well, as rnnc's own int8 mode does (0.26% here).
  testing::check_with_onnxruntime({jobs[0], jobs[1]}, dir);
  Job int8_states = jobs[2], int8_logits = jobs[2];
  int8_states.expected.erase(int8_states.expected.begin());  // "output" first
  int8_logits.expected.resize(1);
  testing::check_with_onnxruntime({int8_states}, dir);
  testing::check_with_onnxruntime({int8_logits}, dir, 1e-2);
  fs::remove_all(dir);
}
