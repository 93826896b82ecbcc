// Open axes in ONNX files (OnnxOptions::dynamic_axes, OnnxGraph::dynamic_axes): a model exported
// once at example sizes runs at other batch sizes and lengths in onnxruntime and in rnnc's import,
// computing what rnnc computes at those sizes; a size written into the graph is refused, naming
// the node and the user's line.
#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <filesystem>
#include <onnx/onnx_pb.h>

#include "../examples/modern_cells.h"
#include "helpers.h"
#include "onnx_runtime.h"

using namespace rnnc;
using Catch::Matchers::Contains;
namespace fs = std::filesystem;
using testing::Batch;
using testing::Job;
using testing::named;

namespace {

Batch batch_of(int64_t T, int64_t B, std::mt19937_64& rng) {
  std::vector<double> lengths;
  for (int64_t b = 0; b < B; ++b) lengths.push_back(static_cast<double>(1 + (b * 5 + 3) % T));
  return {Tensor::uniform({T, B, 5}, -1, 1, rng), Tensor::from(lengths, {B}, DType::i32)};
}

// The symbolic names of a value's dimensions in the file ("" where fixed).
std::vector<std::string> dims(const onnx::ModelProto& m, const std::string& name) {
  for (const auto* list : {&m.graph().input(), &m.graph().output()})
    for (const auto& v : *list)
      if (v.name() == name) {
        std::vector<std::string> out;
        for (const auto& d : v.type().tensor_type().shape().dim()) out.push_back(d.dim_param());
        return out;
      }
  FAIL("no value " << name);
  return {};
}

// A stack over a batch, exported at T 7, B 3 with time and batch open, then run at other sizes by
// onnxruntime (jobs) and by rnnc's import of the file, each against rnnc at that size.
template <class Stack>
std::vector<Job> open_jobs(const std::string& what, const Stack& m, bool lengths, const fs::path& dir) {
  auto f = compile([lengths](const Stack& s, const std::vector<typename Stack::State>& init, const Batch& b) {
    return s(b.xs, init, {.lengths = lengths ? Var(b.lengths) : Var()});
  });
  std::mt19937_64 rng(13);
  OnnxOptions o;
  o.dynamic_axes["input.xs"] = {{0, "time"}, {1, "batch"}};
  o.dynamic_axes["input.lengths"] = {{0, "batch"}};
  for (const std::string& path : tree::paths(m.initial_state(1), "state")) o.dynamic_axes[path] = {{0, "batch"}};
  const fs::path file = dir / (what + ".onnx");
  const OnnxModel x = export_onnx(f, m, m.initial_state(3), batch_of(7, 3, rng), file, o);
  onnx::ModelProto proto;
  REQUIRE(proto.ParseFromString(x.text));
  CHECK(dims(proto, "input.xs") == std::vector<std::string>{"time", "batch", ""});
  CHECK(dims(proto, "state.0.h") == std::vector<std::string>{"batch", ""});
  CHECK(dims(proto, "output") == std::vector<std::string>{"time", "batch", ""});
  CHECK(dims(proto, "next_state.0.h") == std::vector<std::string>{"batch", ""});

  const OnnxGraph g = import_onnx(file);
  CHECK(g.dynamic_axes.at("input.xs").at(1) == "batch");
  auto imported = compile([&g](const OnnxGraph::Weights& w, const std::vector<Var>& in) { return g(w, in); });
  std::vector<Job> jobs;
  for (auto [T, B] : {std::pair{4, 5}, std::pair{9, 1}, std::pair{7, 3}}) {
    std::vector<typename Stack::State> init = m.initial_state(B);
    std::vector<Tensor> values = tree::tensors(init);
    for (Tensor& t : values) t = Tensor::uniform(t.shape(), -0.5, 0.5, rng);
    init = tree::replace(init, values);
    const Batch batch = batch_of(T, B, rng);
    auto [ys, last] = f(m, init, batch);
    Job j{fmt::format("{} at T {} B {}", what, T, B), file, named(init, "state"), named(ys, "output")};
    for (auto& p : named(batch, "input")) j.inputs.push_back(p);
    for (auto& p : named(last, "next_state")) j.expected.push_back(p);
    // The import, at this size.
    const std::vector<Tensor> got = imported(g.weights, testing::inputs_in_order(g, j));
    REQUIRE(got.size() == j.expected.size());
    for (size_t k = 0; k < got.size(); ++k) {
      INFO(j.what << ": " << j.expected[k].first);
      REQUIRE(got[k].shape() == j.expected[k].second.shape());
      const std::vector<double> a = got[k].values(), b = j.expected[k].second.values();
      for (size_t i = 0; i < a.size(); ++i) CHECK(std::abs(a[i] - b[i]) <= 1e-6);
    }
    jobs.push_back(std::move(j));
  }
  return jobs;
}

}  // namespace

TEST_CASE("onnx axes: a file exported once runs at other batch sizes and lengths") {
  const fs::path dir = testing::temp_dir("axes");
  std::mt19937_64 rng(2);
  std::vector<Job> jobs;
  auto add = [&](std::vector<Job> js) {
    for (Job& j : js) jobs.push_back(std::move(j));
  };
  for (bool lengths : {false, true}) {
    const std::string tail = lengths ? "_lengths" : "";
    add(open_jobs("lstm" + tail, nn::RNN<nn::LSTMCell>::init(5, 4, rng, {.layers = 2}), lengths, dir));
    add(open_jobs("bigru" + tail, nn::Bidirectional<nn::GRUCell>::init(5, 4, rng), lengths, dir));
  }
  // User cells (a Scan each): gates sliced from one product, a bias broadcast, a row norm.
  add(open_jobs("mgu", nn::RNN<testing::MGU>::init(5, 4, rng), false, dir));
  add(open_jobs("layernorm_lstm", nn::RNN<cells::LayerNormLSTM>::init(5, 4, rng), false, dir));
  add(open_jobs("mingru", nn::RNN<cells::MinGRU>::init(5, 4, rng), false, dir));
  add(open_jobs("mingru_lengths", nn::RNN<cells::MinGRU>::init(5, 4, rng), true, dir));
  testing::check_with_onnxruntime(jobs, dir);
  fs::remove_all(dir);
}

TEST_CASE("onnx axes: a size written into the graph is refused, naming the node and the line") {
  const fs::path dir = testing::temp_dir("axes-errors");
  // Zeros made inside the step and concatenated: their batch size is a constant of the graph. (Added
  // to a value of the full shape they would be a scalar, and the axis would stay open.)
  auto inside = compile([](const Var& x, const Var& unused) {
    const Var h = full({x.shape()[0], 4}, 0.0);
    return std::pair{concat({x, h}, 1), unused};
  });
  OnnxOptions o;
  o.dynamic_axes["state"] = {{0, "batch"}};
  CHECK_THROWS_WITH(export_onnx(inside, Tensor::zeros({3, 4}), Tensor::zeros({2}), dir / "a.onnx", o),
                    Contains("dynamic axes (batch) cannot stay open") && Contains("ConstantOfShape node") &&
                        Contains("test_onnx_axes.cpp:"));
  // Names that are not inputs, axes out of range, and one name with two sizes.
  auto id = compile([](const Var& x, const Var& y) { return std::pair{x, y}; });
  OnnxOptions wrong;
  wrong.dynamic_axes["model.w"] = {{0, "batch"}};
  CHECK_THROWS_WITH(export_onnx(id, Tensor::zeros({3}), Tensor::zeros({2}), dir / "b.onnx", wrong),
                    Contains("'model.w', which is not an input") && Contains("state, input"));
  OnnxOptions out_of_range;
  out_of_range.dynamic_axes["input"] = {{1, "batch"}};
  CHECK_THROWS_WITH(export_onnx(id, Tensor::zeros({3}), Tensor::zeros({2}), dir / "c.onnx", out_of_range),
                    Contains("dynamic axis 1 of 'input' is out of range for its shape [2]"));
  OnnxOptions two_sizes;
  two_sizes.dynamic_axes["state"] = {{0, "batch"}};
  two_sizes.dynamic_axes["input"] = {{0, "batch"}};
  CHECK_THROWS_WITH(export_onnx(id, Tensor::zeros({3}), Tensor::zeros({2}), dir / "d.onnx", two_sizes),
                    Contains("the dynamic axis 'batch' has two sizes"));
  // Open at export where the step needs every input alike: the second trace fails, and says why.
  auto sum = compile([](const Var& x, const Var& y) { return std::pair{x + y, y}; });
  OnnxOptions one_side;
  one_side.dynamic_axes["state"] = {{0, "batch"}};
  CHECK_THROWS_WITH(export_onnx(sum, Tensor::zeros({3}), Tensor::zeros({3}), dir / "e.onnx", one_side),
                    Contains("with its dynamic axes longer the function does not trace"));
  fs::remove_all(dir);
}

TEST_CASE("onnx axes: an import checks open axes: one name, one size") {
  const fs::path dir = testing::temp_dir("axes-import");
  auto sum = compile([](const Var& x, const Var& y) { return std::pair{x * 2.0, y + x}; });
  OnnxOptions o;
  o.dynamic_axes["state"] = {{0, "batch"}};
  o.dynamic_axes["input"] = {{0, "batch"}};
  export_onnx(sum, Tensor::zeros({3}), Tensor::zeros({3}), dir / "sum.onnx", o);
  const OnnxGraph g = import_onnx(dir / "sum.onnx");
  CHECK(g.inputs.at(0).shape == Shape{-1});
  auto f = compile([&g](const OnnxGraph::Weights& w, const std::vector<Var>& in) { return g(w, in); });
  const std::vector<Tensor> out =
      f(g.weights, std::vector<Tensor>{Tensor::from({1, 2, 3, 4, 5}, {5}), Tensor::from({1, 1, 1, 1, 1}, {5})});
  CHECK(out.at(1).values() == std::vector<double>{2, 3, 4, 5, 6});
  CHECK_THROWS_WITH(f(g.weights, std::vector<Tensor>{Tensor::zeros({5}), Tensor::zeros({4})}),
                    Contains("the open axis 'batch' is 5 at input 'state' axis 0 but 4 at input 'input' axis 0"));
  CHECK_THROWS_WITH(f(g.weights, std::vector<Tensor>{Tensor::zeros({5, 1}), Tensor::zeros({5, 1})}),
                    Contains("input 'state' is [5, 1], the graph takes [-1] (-1: any size)"));
  fs::remove_all(dir);
}
