// ONNX export (rnnc/onnx.h): every library cell (1 and 2 layers, one and both directions, with and
// without lengths), user cells, and a streaming character model export, pass ONNX's checker and
// shape inference (export_onnx runs them), and onnxruntime (tests/onnx/run.mjs, Node.js) computes
// what rnnc computes, to 1e-5 relative. Without Node or onnxruntime-node (scripts/setup.sh installs
// it from npm) the runtime comparisons are skipped, and say so.
#include <catch2/catch.hpp>
#include <unistd.h>

#include <fmt/format.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <onnx/onnx_pb.h>

#include "../examples/modern_cells.h"
#include "helpers.h"
#include "onnx_runtime.h"

using namespace rnnc;
using Catch::Matchers::Contains;
namespace fs = std::filesystem;
using testing::Batch;
using testing::check_with_onnxruntime;
using testing::Job;
using testing::named;
using testing::temp_dir;

namespace {

// A stack of library cells over a batch of sequences: (model, state, batch) -> (ys, last states).
// `op`: the ONNX operator each layer and direction should become (a library cell's own, or Scan).
template <class Stack>
Job sequence_job(const std::string& what, const Stack& m, bool lengths, const fs::path& dir, const std::string& op) {
  constexpr int64_t T = 7, B = 3, I = 5;
  std::mt19937_64 rng(11);
  const Batch batch{Tensor::uniform({T, B, I}, -1, 1, rng), Tensor::from({7, 3, 5}, {B}, DType::i32)};
  auto f = compile([lengths](const Stack& s, const std::vector<typename Stack::State>& init, const Batch& b) {
    return s(b.xs, init, {.lengths = lengths ? Var(b.lengths) : Var()});
  });
  // A state that is not zero, so that the initial state's path is checked too.
  std::vector<typename Stack::State> init = m.initial_state(B);
  std::vector<Tensor> values = tree::tensors(init);
  for (Tensor& t : values) t = Tensor::uniform(t.shape(), -0.5, 0.5, rng);
  init = tree::replace(init, values);
  const fs::path file = dir / (what + ".onnx");
  const OnnxModel x = export_onnx(f, m, init, batch, file);
  CHECK(x.initializers.size() == tree::tensors(m).size());
  {
    INFO(what);
    CHECK(x.operators.count(op) == 1);
    CHECK(x.operators.at(op) == static_cast<int>(m.initial_state(1).size()));  // one per layer and direction
    if (op != "Scan") CHECK(x.operators.count("Scan") == 0);
  }
  auto [ys, last] = f(m, init, batch);
  Job j{what, file, named(init, "state"), named(ys, "output")};
  for (auto& p : named(batch, "input")) j.inputs.push_back(p);
  for (auto& p : named(last, "next_state")) j.expected.push_back(p);
  return j;
}

}  // namespace

namespace {
// Every library cell: RNN tanh and relu, LSTM, GRU, bidirectional LSTM and GRU, 1 and 2 layers,
// with and without lengths, each checked to export as one ONNX cell operator per layer and
// direction; then every user cell (MGU, minGRU, a layer-normalised LSTM, S6) as Scan.
std::vector<Job> library_cells(const fs::path& dir) {
  std::vector<Job> jobs;
  std::mt19937_64 rng(3);
  for (int layers : {1, 2})
    for (bool lengths : {false, true}) {
      const std::string tail = fmt::format("_{}layer{}", layers, lengths ? "_lengths" : "");
      const nn::StackOptions o{.layers = layers};
      jobs.push_back(sequence_job("rnn_tanh" + tail, nn::RNN<nn::RNNCell>::init(5, 4, rng, o), lengths, dir, "RNN"));
      auto relu = nn::RNN<nn::RNNCell>::init(5, 4, rng, o);
      for (auto& c : relu.layers) c.relu = true;
      jobs.push_back(sequence_job("rnn_relu" + tail, relu, lengths, dir, "RNN"));
      jobs.push_back(sequence_job("lstm" + tail, nn::RNN<nn::LSTMCell>::init(5, 4, rng, o), lengths, dir, "LSTM"));
      jobs.push_back(sequence_job("gru" + tail, nn::RNN<nn::GRUCell>::init(5, 4, rng, o), lengths, dir, "GRU"));
      jobs.push_back(
          sequence_job("bilstm" + tail, nn::Bidirectional<nn::LSTMCell>::init(5, 4, rng, o), lengths, dir, "LSTM"));
      jobs.push_back(
          sequence_job("bigru" + tail, nn::Bidirectional<nn::GRUCell>::init(5, 4, rng, o), lengths, dir, "GRU"));
    }
  return jobs;
}

using testing::MGU;  // helpers.h: the minimal gated unit, as a user writes it

std::vector<Job> user_cells(const fs::path& dir) {
  std::vector<Job> jobs;
  std::mt19937_64 rng(5);
  for (bool lengths : {false, true}) {
    const std::string tail = lengths ? "_lengths" : "";
    jobs.push_back(sequence_job("mgu" + tail, nn::RNN<MGU>::init(5, 4, rng, {.layers = 2}), lengths, dir, "Scan"));
    jobs.push_back(
        sequence_job("mingru" + tail, nn::RNN<cells::MinGRU>::init(5, 4, rng, {.layers = 2}), lengths, dir, "Scan"));
    jobs.push_back(sequence_job("layernorm_lstm" + tail, nn::RNN<cells::LayerNormLSTM>::init(5, 4, rng, {.layers = 2}),
                                lengths, dir, "Scan"));
    jobs.push_back(sequence_job("s6" + tail, nn::RNN<cells::S6>::init(5, 4, rng), lengths, dir, "Scan"));
  }
  return jobs;
}
}  // namespace

TEST_CASE("onnx: every cell exports, passes ONNX's checker, library cells as ONNX's own operators") {
  const fs::path dir = temp_dir("export");
  CHECK(library_cells(dir).size() == 24);
  CHECK(user_cells(dir).size() == 8);
  fs::remove_all(dir);
}

TEST_CASE("onnx: onnxruntime computes what rnnc computes, library and user cells") {
  const fs::path dir = temp_dir("cells");
  std::vector<Job> jobs = library_cells(dir);
  for (Job& j : user_cells(dir)) jobs.push_back(std::move(j));
  check_with_onnxruntime(jobs, dir);
  fs::remove_all(dir);
}

TEST_CASE("onnx: a character model streams: the state out, fed back in, follows rnnc step by step") {
  using Model = nn::CharRNN<nn::LSTMCell>;
  std::mt19937_64 rng(7);
  const Model m = Model::init(6, 8, rng, {.layers = 2});
  auto step = compile([](const Model& model, const Model::State& s, const Var& c) { return Model::next(model, s, c); });
  const fs::path dir = temp_dir("stream");
  Model::State s = m.initial_state(1);
  const OnnxModel x = export_onnx(step, m, s, Tensor::from({0}, {1}, DType::i32), dir / "charlm.onnx");
  CHECK(x.inputs.front().starts_with("state."));
  CHECK(x.inputs.back() == "input");
  CHECK(x.outputs.front() == "output");
  CHECK(std::find(x.initializers.begin(), x.initializers.end(), "model.rnn.layers.0.weight_ih") !=
        x.initializers.end());
  // Five steps: each job feeds the state rnnc had before that step.
  std::vector<Job> jobs;
  for (int c : {1, 4, 2, 5, 0}) {
    const Tensor in = Tensor::from({double(c)}, {1}, DType::i32);
    auto [logits, next] = step(m, s, in);
    Job j{fmt::format("step {}", jobs.size()), dir / "charlm.onnx", named(s, "state"), named(logits, "output")};
    j.inputs.emplace_back("input", in);
    for (auto& p : named(next, "next_state")) j.expected.push_back(p);
    jobs.push_back(j);
    s = next;
  }
  check_with_onnxruntime(jobs, dir);
  fs::remove_all(dir);
}

TEST_CASE("onnx: what ONNX cannot hold is an error naming the op or the leaf") {
  std::mt19937_64 rng(1);
  const fs::path dir = temp_dir("errors");
  auto f = compile([](const Var& x, const Var& y) { return std::pair{cast(x, DType::bf16), y}; });
  CHECK_THROWS_WITH(export_onnx(f, Tensor::zeros({2}), Tensor::zeros({2}), dir / "a.onnx"),
                    Contains("cast at test_onnx.cpp:") && Contains("bf16"));
  auto g = compile([](const Var& x, const Var& y) { return std::pair{x, y}; });
  CHECK_THROWS_WITH(export_onnx(g, Tensor::zeros({2}, DType::bf16), Tensor::zeros({2}), dir / "b.onnx"),
                    Contains("'state' is bf16"));
  auto h = compile([](const Var& x, const Var& y) { return std::pair{x, y}; });
  OnnxOptions newer;
  newer.opset = 18;
  CHECK_THROWS_WITH(export_onnx(h, Tensor::zeros({2}), Tensor::zeros({2}), dir / "c.onnx", newer),
                    Contains("opset 18"));
  CHECK_THROWS_WITH(export_onnx(h, Tensor::zeros({2}), Tensor::zeros({2}), dir / "no" / "such" / "d.onnx"),
                    Contains("cannot write"));
  fs::remove_all(dir);
}

namespace {
// Bit-equal tensors.
bool same_bits(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.dtype() == b.dtype() && std::memcmp(a.raw(), b.raw(), a.nbytes()) == 0;
}
double max_difference(const Tensor& a, const Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  const std::vector<double> x = a.values(), y = b.values();
  double worst = 0;
  for (size_t i = 0; i < x.size(); ++i) worst = std::max(worst, std::abs(x[i] - y[i]));
  return worst;
}
}  // namespace

TEST_CASE("onnx: import reads an export back: the same weights, outputs, a second export, and it trains") {
  using Model = nn::CharRNN<nn::LSTMCell>;
  std::mt19937_64 rng(9);
  const Model m = Model::init(6, 8, rng, {.layers = 2});
  auto chunk = compile([](const Model& model, const Model::State& s, const Var& ids) { return model(ids, s); });
  const fs::path dir = temp_dir("import");
  Model::State s = m.initial_state(2);
  std::vector<Tensor> values = tree::tensors(s);
  for (Tensor& t : values) t = Tensor::uniform(t.shape(), -0.5, 0.5, rng);
  s = tree::replace(s, values);
  const Tensor ids = Tensor::from({1, 4, 2, 5, 0, 3, 3, 1}, {4, 2}, DType::i32);
  export_onnx(chunk, m, s, ids, dir / "a.onnx");

  const OnnxGraph g = import_onnx(dir / "a.onnx");
  // The weights under the model's own paths, bit for bit.
  const std::vector<std::string> paths = tree::paths(m);
  const std::vector<Tensor> weights = tree::tensors(m);
  REQUIRE(g.weights.size() == paths.size());
  for (size_t i = 0; i < paths.size(); ++i) {
    INFO(paths[i]);
    REQUIRE(g.weights.count(paths[i]) == 1);
    CHECK(same_bits(g.weights.at(paths[i]).tensor(), weights[i]));
  }
  REQUIRE(g.inputs.size() == 5);  // 2 layers x (h, c), then the ids
  CHECK(g.inputs.back().name == "input");

  // The imported graph computes what the model computes.
  auto f = compile([&g](const OnnxGraph::Weights& w, const std::vector<Var>& in) { return g(w, in); });
  std::vector<Tensor> in = tree::tensors(s);
  in.push_back(ids);
  const std::vector<Tensor> got = f(g.weights, in);
  auto [logits, last] = chunk(m, s, ids);
  std::vector<Tensor> want{logits};
  for (const Tensor& t : tree::tensors(last)) want.push_back(t);
  REQUIRE(got.size() == want.size());
  for (size_t k = 0; k < want.size(); ++k) CHECK(max_difference(got[k], want[k]) <= 1e-6);

  // Exported again from the imported graph: the same weights, bit for bit.
  auto again = compile([&g](const OnnxGraph::Weights& w, const std::vector<Var>& state, const Var& x) {
    std::vector<Var> all = state;
    all.push_back(x);
    std::vector<Var> out = g(w, all);
    return std::pair{out[0], std::vector<Var>(out.begin() + 1, out.end())};
  });
  export_onnx(again, g.weights, tree::tensors(s), ids, dir / "b.onnx");
  const OnnxGraph h = import_onnx(dir / "b.onnx");
  REQUIRE(h.weights.size() == g.weights.size());
  for (const auto& [key, leaf] : g.weights) {
    INFO(key);
    REQUIRE(h.weights.count(key) == 1);
    CHECK(same_bits(h.weights.at(key).tensor(), leaf.tensor()));
  }
  CHECK(h.metadata.empty());

  // It trains: gradients for every weight, and a step of SGD lowers the loss.
  auto loss = [&g](const OnnxGraph::Weights& w, const std::vector<Var>& x) {
    const Var out = g(w, x)[0];
    return mean(square(out - 0.5));
  };
  auto step = compile(value_and_grad(loss));
  auto [l0, grads] = step(g.weights, in);
  REQUIRE(grads.size() == g.weights.size());
  OnnxGraph::Weights w = g.weights;
  for (auto& [key, leaf] : w) {
    const std::vector<double> v = leaf.tensor().values(), d = grads.at(key).tensor().values();
    std::vector<double> next(v.size());
    for (size_t i = 0; i < v.size(); ++i) next[i] = v[i] - 0.5 * d[i];
    leaf = Tensor::from(next, leaf.tensor().shape());
  }
  auto [l1, unused] = step(w, in);
  CHECK(l1.item() < l0.item());
  fs::remove_all(dir);
}

TEST_CASE("onnx: import reads a user cell's Scan back and computes what the cell computes") {
  std::mt19937_64 rng(4);
  const fs::path dir = temp_dir("import-scan");
  for (bool lengths : {false, true}) {
    INFO("lengths " << lengths);
    const auto m = nn::RNN<cells::MinGRU>::init(5, 4, rng, {.layers = 2});
    const Job j = sequence_job("mingru", m, lengths, dir, "Scan");
    const OnnxGraph g = import_onnx(j.model);
    auto f = compile([&g](const OnnxGraph::Weights& w, const std::vector<Var>& in) { return g(w, in); });
    const std::vector<Tensor> got = f(g.weights, testing::inputs_in_order(g, j));
    REQUIRE(got.size() == j.expected.size());
    for (size_t k = 0; k < got.size(); ++k) CHECK(max_difference(got[k], j.expected[k].second) <= 1e-6);
  }
  fs::remove_all(dir);
}

TEST_CASE("onnx: import names what it cannot read: the operator and its node, a missing file") {
  CHECK_THROWS_WITH(import_onnx("/no/such/model.onnx"), Contains("cannot read '/no/such/model.onnx'"));
  const fs::path dir = temp_dir("import-bad");
  std::ofstream(dir / "junk.onnx") << "not a model";
  CHECK_THROWS_WITH(import_onnx(dir / "junk.onnx"), Contains("is not an ONNX model"));
  // A graph with an operator rnnc does not read (written with ONNX's protobuf types).
  onnx::ModelProto m;
  m.set_ir_version(8);
  m.add_opset_import()->set_version(17);
  auto* g = m.mutable_graph();
  auto* n = g->add_node();
  n->set_op_type("Einsum");
  n->set_name("mix");
  n->add_input("x");
  n->add_output("y");
  for (auto* v : {g->add_input(), g->add_output()}) {
    v->set_name(v == &g->input(0) ? "x" : "y");
    auto* t = v->mutable_type()->mutable_tensor_type();
    t->set_elem_type(onnx::TensorProto::FLOAT);
    t->mutable_shape()->add_dim()->set_dim_value(3);
  }
  std::ofstream(dir / "einsum.onnx", std::ios::binary) << m.SerializeAsString();
  const OnnxGraph e = import_onnx(dir / "einsum.onnx");
  auto f = compile([&e](const OnnxGraph::Weights& w, const std::vector<Var>& in) { return e(w, in); });
  CHECK_THROWS_WITH(f(e.weights, std::vector<Tensor>{Tensor::zeros({3})}),
                    Contains("Einsum node 'mix': an operator rnnc does not read"));
  fs::remove_all(dir);
}

TEST_CASE("onnx: import reads PyTorch's and Keras' character LSTMs and computes what they computed") {
  // tests/onnx/make_torch_char_lstm.py: Embedding -> 2-layer LSTM -> Linear -> log_softmax, as
  // torch.onnx.export writes it (Gather, Slice, LSTM in ONNX's gate order, Squeeze, MatMul, ...);
  // once at fixed sizes, once with time and batch open (dynamic_axes, run here at other sizes than
  // it was traced at, through its Shape and Gather chains). tests/onnx/make_keras_style_lstm.py:
  // Keras' Embedding -> LSTM -> Dense(softmax) in the form tf2onnx writes (batch-major, Transposes
  // around the LSTM, zero states from Shape -> ConstantOfShape, open batch and time), against
  // Keras' computation in numpy.
  const fs::path data = fs::path(RNNC_TEST_DATA);
  for (const char* name : {"torch_char_lstm", "torch_char_lstm_dynamic", "keras_char_lstm"}) {
    INFO(name);
    const OnnxGraph g = import_onnx(data / (std::string(name) + ".onnx"));
    const nlohmann::json io = nlohmann::json::parse(std::ifstream(data / (std::string(name) + ".json")));
    const bool keras = std::string(name) == "keras_char_lstm";
    CHECK(g.weights.size() == (keras ? 6 : 9));  // embedding, W R B per layer, head weight and bias
    CHECK(g.dynamic_axes.empty() == (std::string(name) == "torch_char_lstm"));
    auto flat = [](const nlohmann::json& j) {
      std::vector<double> out;
      std::function<void(const nlohmann::json&)> walk = [&](const nlohmann::json& x) {
        if (x.is_array())
          for (const auto& e : x) walk(e);
        else
          out.push_back(x.get<double>());
      };
      walk(j);
      return out;
    };
    auto shape = [](const nlohmann::json& j) {  // of nested lists
      Shape s;
      for (const nlohmann::json* x = &j; x->is_array(); x = &x->front()) s.push_back(static_cast<int64_t>(x->size()));
      return s;
    };
    std::vector<Tensor> in;
    for (const Spec& s : g.inputs) in.push_back(Tensor::from(flat(io[s.name]), shape(io[s.name]), s.dtype));
    auto f = compile([&g](const OnnxGraph::Weights& w, const std::vector<Var>& x) { return g(w, x); });
    const std::vector<Tensor> got = f(g.weights, in);
    REQUIRE(got.size() == g.outputs.size());
    for (size_t k = 0; k < got.size(); ++k) {
      INFO(g.outputs[k]);
      const std::vector<double> want = flat(io[g.outputs[k]]), have = got[k].values();
      CHECK(got[k].shape() == shape(io[g.outputs[k]]));
      REQUIRE(have.size() == want.size());
      double worst = 0;
      for (size_t i = 0; i < want.size(); ++i) worst = std::max(worst, std::abs(have[i] - want[i]));
      CHECK(worst <= 1e-5);
    }
  }
}

TEST_CASE("onnx: PyTorch's character LSTM becomes a checkpoint that computes what PyTorch computed") {
  const fs::path data = fs::path(RNNC_TEST_DATA);
  const nlohmann::json io = nlohmann::json::parse(std::ifstream(data / "torch_char_lstm.json"));
  const data::Vocab vocab = data::Vocab::from_chars(U"abcdefg");
  CHECK_THROWS_WITH(nn::import_checkpoint_onnx(data / "torch_char_lstm.onnx"),
                    Contains("has no vocabulary; give its 7 characters in id order"));
  const data::Vocab six = data::Vocab::from_chars(U"abcdef");
  CHECK_THROWS_WITH(nn::import_checkpoint_onnx(data / "torch_char_lstm.onnx", &six),
                    Contains("the vocabulary has 6 characters and the model 7 outputs"));
  const io::Checkpoint c = nn::import_checkpoint_onnx(data / "torch_char_lstm.onnx", &vocab);
  CHECK(c.meta("cell") == "lstm");
  CHECK(c.meta("layers") == "2");
  using Model = nn::CharRNN<nn::LSTMCell>;
  const Model m = nn::from_checkpoint<nn::LSTMCell>(c);
  // PyTorch's h0, c0 [layers, B, H] as the model's state, one LSTMState per layer.
  auto layer = [&](const char* key, int l) {
    std::vector<double> v;
    for (const auto& row : io[key][l])
      for (const auto& x : row) v.push_back(x.get<double>());
    return Tensor::from(v, {2, 6});
  };
  Model::State s;
  for (int l = 0; l < 2; ++l) s.push_back({layer("h0", l), layer("c0", l)});
  std::vector<double> ids;
  for (const auto& row : io["ids"])
    for (const auto& x : row) ids.push_back(x.get<double>());
  auto f = compile([](const Model& model, const Model::State& st, const Var& x) {
    auto [logits, last] = model(x, st);
    return std::pair{log_softmax(logits, -1), last};
  });
  auto [logp, last] = f(m, s, Tensor::from(ids, {4, 2}, DType::i32));
  std::vector<double> want;
  for (const auto& t : io["logp"])
    for (const auto& b : t)
      for (const auto& x : b) want.push_back(x.get<double>());
  const std::vector<double> have = logp.values();
  REQUIRE(have.size() == want.size());
  double worst = 0;
  for (size_t i = 0; i < want.size(); ++i) worst = std::max(worst, std::abs(have[i] - want[i]));
  CHECK(worst <= 1e-5);
  for (int l = 0; l < 2; ++l) {
    const std::vector<double> h = last[static_cast<size_t>(l)].h.tensor().values();
    const std::vector<double> hw = layer("h", l).values();
    for (size_t i = 0; i < h.size(); ++i) CHECK(std::abs(h[i] - hw[i]) <= 1e-5);
  }
}

TEST_CASE("onnx: Keras' character LSTM in tf2onnx's form becomes a checkpoint that computes Keras' outputs") {
  const fs::path data = fs::path(RNNC_TEST_DATA);
  const nlohmann::json io = nlohmann::json::parse(std::ifstream(data / "keras_char_lstm.json"));
  const data::Vocab vocab = data::Vocab::from_chars(U"abcdefg");
  const io::Checkpoint c = nn::import_checkpoint_onnx(data / "keras_char_lstm.onnx", &vocab);
  CHECK(c.meta("cell") == "lstm");
  CHECK(c.meta("layers") == "1");
  using Model = nn::CharRNN<nn::LSTMCell>;
  const Model m = nn::from_checkpoint<nn::LSTMCell>(c);
  // Keras' ids are batch-major [B, T]; CharRNN's [T, B].
  const auto& ids = io["embedding_input"];
  const int64_t B = static_cast<int64_t>(ids.size()), T = static_cast<int64_t>(ids[0].size());
  std::vector<double> tb;
  for (int64_t t = 0; t < T; ++t)
    for (int64_t b = 0; b < B; ++b) tb.push_back(ids[static_cast<size_t>(b)][static_cast<size_t>(t)].get<double>());
  auto f = compile([](const Model& model, const Model::State& st, const Var& x) {
    auto [logits, last] = model(x, st);
    return softmax(logits, -1);
  });
  const Tensor p = f(m, m.initial_state(B), Tensor::from(tb, {T, B}, DType::i32));
  double worst = 0;
  for (int64_t t = 0; t < T; ++t)
    for (int64_t b = 0; b < B; ++b)
      for (int64_t v = 0; v < 7; ++v) {
        const double want = io["dense"][static_cast<size_t>(b)][static_cast<size_t>(t)][static_cast<size_t>(v)];
        worst = std::max(worst, std::abs(p.values()[static_cast<size_t>((t * B + b) * 7 + v)] - want));
      }
  CHECK(worst <= 1e-5);
}

TEST_CASE("onnx: onnxruntime computes what Keras computed on the tf2onnx-form file") {
  // The file itself is checked against a real runtime, so that the import is tested on a graph
  // that runs as its Keras model did.
  const fs::path data = fs::path(RNNC_TEST_DATA), dir = temp_dir("keras");
  const nlohmann::json io = nlohmann::json::parse(std::ifstream(data / "keras_char_lstm.json"));
  std::vector<double> ids, probs;
  for (const auto& row : io["embedding_input"])
    for (const auto& x : row) ids.push_back(x.get<double>());
  for (const auto& b : io["dense"])
    for (const auto& t : b)
      for (const auto& x : t) probs.push_back(x.get<double>());
  const int64_t B = static_cast<int64_t>(io["embedding_input"].size()), T = static_cast<int64_t>(ids.size()) / B;
  check_with_onnxruntime({Job{"keras",
                              data / "keras_char_lstm.onnx",
                              {{"embedding_input", Tensor::from(ids, {B, T})}},
                              {{"dense", Tensor::from(probs, {B, T, 7})}}}},
                         dir);
  fs::remove_all(dir);
}
