// Every example runs on a small budget and its loss must fall below a stated bound.
#include <catch2/catch.hpp>

#include "run_command.h"

#include <array>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <cstdio>
#include <regex>
#include <string>

using rnnc::testing::Run;
using rnnc::testing::run;

namespace {

double summary_value(const std::string& output, const std::string& key) {
  const nlohmann::json s = rnnc::testing::summary_of(output);
  INFO(s.dump());
  REQUIRE(s.contains(key));
  REQUIRE(s[key].is_number());
  return s[key].get<double>();
}
}  // namespace

TEST_CASE("min_char_rnn learns the default corpus") {
  Run r = run(std::string(MIN_CHAR_RNN) + " --data " RNNC_TEST_CORPUS " --steps 5000 --sample-every 2500 --seed 3");
  INFO(r.output);
  REQUIRE(r.status == 0);
  CHECK(r.output.find("iter 4900, loss:") != std::string::npos);
  CHECK(r.output.find("----") != std::string::npos);  // samples were printed
  // Uniform guessing costs ln V nats per character (V = the test corpus's distinct characters,
  // about 87: 4.47). 5000 Adagrad iterations (about a second) reach 2.4-2.6; the bound is stated
  // against uniform guessing and leaves room.
  std::smatch m;
  REQUIRE(std::regex_search(r.output, m, std::regex("data has [0-9]+ characters, ([0-9]+) unique")));
  const double uniform = std::log(std::stod(m[1]));
  CHECK(summary_value(r.output, "train_loss") < uniform - 1.6);
  CHECK(summary_value(r.output, "chars_per_s") > 0);
}

TEST_CASE("the examples refuse bad options, say why a summary value is missing, and stop a diverging run") {
  const std::string mcr = std::string(MIN_CHAR_RNN) + " --sample-every 0 ";
  // No iterations: still a JSON summary, the loss null with the reason (it said 0 before).
  Run none = run(mcr + "--steps 0");
  INFO(none.output);
  CHECK(none.status == 0);
  const nlohmann::json s = rnnc::testing::summary_of(none.output);
  CHECK(s["train_loss"].is_null());
  CHECK(s["null_because"]["train_loss"] == "no iterations");
  CHECK(s["chars_per_s"].is_null());
  for (const char* bad : {"--steps -5", "--seed -1", "--seed 99999999999999999999", "--seed ''", "--lr nan", "--lr inf",
                          "--lr 0", "--seq-length 0", "--hidden 0", "--threads -3"}) {
    Run r = run(mcr + bad);
    INFO(bad << "\n" << r.output);
    CHECK(r.status != 0);
    CHECK(r.output.find("summary:") == std::string::npos);
  }
  // A learning rate that blows the loss up: stopped at the step it happened, non-zero exit.
  Run wild = run(mcr + "--steps 200 --lr 1e30");
  INFO(wild.output);
  CHECK(wild.status != 0);
  CHECK(wild.output.find("diverged") != std::string::npos);
  CHECK(wild.output.find("the loss of step") != std::string::npos);
  // text_generator --steps 0 failed loading a checkpoint it had never written.
  Run tg = run(std::string(EXAMPLES_DIR) + "/text_generator --steps 0");
  CHECK(tg.status != 0);
  CHECK(tg.output.find("the budget is empty") != std::string::npos);
  CHECK(tg.output.find("checkpoint") == std::string::npos);
  // An option a program does not use is not on its command line.
  Run ignored = run(std::string(EXAMPLES_DIR) + "/alphabet --data x");
  CHECK(ignored.status != 0);
  CHECK(ignored.output.find("--data") != std::string::npos);
}

TEST_CASE("min_char_rnn reports a missing data file clearly") {
  Run r = run(std::string(MIN_CHAR_RNN) + " --data /nonexistent/input.txt --steps 1");
  CHECK(r.status != 0);
  CHECK(r.output.find("cannot open data file '/nonexistent/input.txt'") != std::string::npos);
}

TEST_CASE("min_char_rnn: the compiled run matches the interpreter, and a second process loads its kernels from disk") {
  char dir[] = "/tmp/rnnc-cache-XXXXXX";
  REQUIRE(mkdtemp(dir) != nullptr);
  const std::string env = std::string("RNNC_CACHE_DIR=") + dir + " ";
  // Few iterations: Adagrad's first steps are nearly sign(g) lr, so rounding differences in tiny
  // gradients grow into visibly different runs after a few dozen iterations.
  const std::string cmd = std::string(MIN_CHAR_RNN) + " --steps 5 --sample-every 0 --seed 5";
  Run first = run(env + cmd), second = run(env + cmd), interpreted = run(cmd + " --interpret");
  INFO(first.output << second.output << interpreted.output);
  REQUIRE(first.status == 0);
  REQUIRE(second.status == 0);
  CHECK(summary_value(first.output, "kernels_compiled") > 0);    // a fresh cache: LLVM ran
  CHECK(summary_value(second.output, "kernels_compiled") == 0);  // every kernel came from disk
  CHECK(summary_value(first.output, "train_loss") == summary_value(second.output, "train_loss"));
  // The compiled kernels and the interpreter agree closely.
  CHECK(std::abs(summary_value(first.output, "train_loss") - summary_value(interpreted.output, "train_loss")) < 1e-3);
  std::filesystem::remove_all(dir);
}

TEST_CASE("alphabet: a stateful LSTM reaches 100% on A->B ... Y->Z") {
  Run r = run(std::string(EXAMPLES_DIR) + "/alphabet --epochs 60 --seed 7");
  INFO(r.output);
  REQUIRE(r.status == 0);
  CHECK(r.output.find("Model Accuracy: 100.00%") != std::string::npos);
  CHECK(r.output.find("from K: K -> L -> M -> N -> O -> P") != std::string::npos);
  CHECK(summary_value(r.output, "accuracy") == 1.0);
  CHECK(summary_value(r.output, "train_loss") < 0.05);
}

TEST_CASE("brackets: a bidirectional LSTM tells balanced bracket strings (lengths 1..200) from unbalanced") {
  // 500 steps (about 3 s here); the default run (60 s) reaches 0.9995.
  Run r = run(std::string(EXAMPLES_DIR) + "/brackets --steps 500 --train 4000 --test 1000 --seed 1");
  INFO(r.output);
  REQUIRE(r.status == 0);
  CHECK(r.output.find("held-out accuracy") != std::string::npos);
  CHECK(summary_value(r.output, "accuracy") >= 0.9);
  CHECK(summary_value(r.output, "val_loss") < 0.3);
}

TEST_CASE("custom_cell: the minimal gated unit gradchecks, trains, and is timed beside the LSTM") {
  Run r = run(std::string(EXAMPLES_DIR) + "/custom_cell --data " RNNC_TEST_CORPUS " --steps 150 --seed 1");
  INFO(r.output);
  REQUIRE(r.status == 0);
  CHECK(r.output.find("gradcheck passed") != std::string::npos);
  CHECK(r.output.find("lstm") != std::string::npos);
  // 150 Adam steps over 32 x 32 characters: well below uniform guessing (ln 87 = 4.47).
  CHECK(summary_value(r.output, "train_loss") < 3.0);
  CHECK(summary_value(r.output, "chars_per_s") > 0);
}

TEST_CASE("modern_cells: minGRU, minLSTM, IndRNN, QRNN, LRU and S6 train beside the LSTM") {
  Run r = run(std::string(EXAMPLES_DIR) + "/modern_cells --data " RNNC_TEST_CORPUS
                                          " --steps 100 --hidden 64 --seed 1 --threads 2");
  INFO(r.output);
  REQUIRE(r.status == 0);
  // Each cell learns: 100 Adam steps of 32 x 64 characters take it well below uniform guessing
  // (ln 87 = 4.47 nats/char).
  for (const char* cell : {"minGRU", "minLSTM", "IndRNN", "QRNN", "LRU", "S6", "LN-LSTM", "LSTM"}) {
    INFO(cell);
    const std::string line = std::string(cell) + " ";  // a line of its own ("LSTM " is in "minLSTM ")
    const size_t at = r.output.rfind(line, 0) == 0 ? 0 : r.output.find("\n" + line);
    REQUIRE(at != std::string::npos);
    const size_t v = r.output.find("val_loss ", at);
    REQUIRE(v != std::string::npos);
    CHECK(std::stod(r.output.substr(v + 9)) < 3.5);
  }
  CHECK(summary_value(r.output, "chars_per_s") > 0);
}

TEST_CASE("gradcheck: RNN, LSTM and GRU training steps agree with finite differences") {
  Run r = run(std::string(EXAMPLES_DIR) + "/gradcheck --seed 2");
  INFO(r.output);
  CHECK(r.status == 0);
  CHECK(r.output.find("gradcheck passed for every cell") != std::string::npos);
  CHECK(r.output.find("gru        rnn.layers.0.weight_hh") != std::string::npos);
  CHECK(r.output.find("lstm       state.0.c") != std::string::npos);
}

TEST_CASE("char_lstm: windows -> next character, keeps the best weights, rnnc sample reads them") {
  char dir[] = "/tmp/rnnc-charlstm-XXXXXX";
  REQUIRE(mkdtemp(dir) != nullptr);
  const std::string ckpt = std::string(dir) + "/best.safetensors";
  Run r = run(std::string(EXAMPLES_DIR) +
              "/char_lstm --data " RNNC_TEST_CORPUS
              " --steps 60 --validate-every 20 --hidden 128 --seq-length 40 --batch 32 --generate 60 "
              "--seed 2 --save " +
              ckpt);
  INFO(r.output);
  REQUIRE(r.status == 0);
  CHECK(r.output.find("(best so far)") != std::string::npos);
  CHECK(std::filesystem::exists(ckpt));
  CHECK(r.output.find("----- temperature 0.5") != std::string::npos);
  // 60 Adam steps of 32 windows: below uniform guessing (ln 87 = 4.47), about 3.3 nats per character.
  CHECK(summary_value(r.output, "val_loss") < 3.8);
  CHECK(summary_value(r.output, "train_loss") < 3.9);

  Run s = run(std::string(RNNC_TOOL) + " sample " + ckpt + " --length 50 --prime 'The ' --seed 3 --temperature 0.7");
  INFO(s.output);
  CHECK(s.status == 0);
  CHECK(s.output.rfind("The ", 0) == 0);
  CHECK(s.output.size() >= 4 + 50);  // the prime, then 50 characters (some may take several bytes)
  Run g1 = run(std::string(RNNC_TOOL) + " sample " + ckpt + " -n 30 --greedy --prime abc");
  Run g2 = run(std::string(RNNC_TOOL) + " sample " + ckpt + " -n 30 --greedy --prime abc --seed 9");
  CHECK(g1.output == g2.output);  // greedy ignores the seed

  Run unknown = run(std::string(RNNC_TOOL) + " sample " + ckpt + " --prime '\xe2\x98\x83'");  // a snowman
  CHECK(unknown.status != 0);
  CHECK(unknown.output.find("not in the model's vocabulary") != std::string::npos);
  std::ofstream(std::string(dir) + "/bad.safetensors") << "abc";
  Run bad = run(std::string(RNNC_TOOL) + " sample " + std::string(dir) + "/bad.safetensors");
  CHECK(bad.status != 0);
  CHECK(bad.output.find("shorter than the 8-byte header length") != std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST_CASE("simple_rnn: SimpleRNN(128) on 10-character windows with RMSprop, a sample after each iteration") {
  Run r = run(std::string(EXAMPLES_DIR) + "/simple_rnn --data " RNNC_TEST_CORPUS
                                          " --steps 300 --sample-every 100 --seed 1");
  INFO(r.output);
  REQUIRE(r.status == 0);
  CHECK(r.output.find("iteration 3 (step 300)") != std::string::npos);
  CHECK(r.output.find("\" -> \"") != std::string::npos);  // generated text after an iteration
  // 300 RMSprop steps of 128 windows on the fixed test corpus: about 2.7 nats per character in
  // training (uniform: 4.47); the bounds leave room.
  CHECK(summary_value(r.output, "train_loss") < 3.2);
  CHECK(summary_value(r.output, "val_loss") < 3.6);
}

TEST_CASE("text_generator: a 3-layer LSTM trained sequence to sequence over streams") {
  char dir[] = "/tmp/rnnc-textgen-XXXXXX";
  REQUIRE(mkdtemp(dir) != nullptr);
  Run r = run(std::string(EXAMPLES_DIR) +
              "/text_generator --data " RNNC_TEST_CORPUS
              " --steps 80 --validate-every 40 --hidden 64 --seq-length 25 --batch 16 "
              "--generate 40 --save " +
              std::string(dir) + "/tg.safetensors --curve " + std::string(dir) + "/curve");
  INFO(r.output);
  REQUIRE(r.status == 0);
  CHECK(r.output.find("(best so far)") != std::string::npos);
  // 80 steps is a short run for three layers: clearly below uniform guessing (4.47), about 3.35.
  CHECK(summary_value(r.output, "val_loss") < 3.7);
  CHECK(std::filesystem::file_size(std::string(dir) + "/curve.csv") > 80 * 6);  // a row per step
  CHECK(std::filesystem::exists(std::string(dir) + "/curve.svg"));
  std::filesystem::remove_all(dir);
}

TEST_CASE("the README's tour is examples/tour.cpp, word for word") {
  auto read = [](const std::string& path) {
    std::ifstream in(path);
    REQUIRE(in);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  const std::string tour = read(std::string(SOURCE_DIR) + "/examples/tour.cpp");
  const std::string readme = read(std::string(SOURCE_DIR) + "/README.md");
  const size_t a = tour.find("// [tour]\n"), b = tour.find("  // [/tour]\n");
  REQUIRE(a != std::string::npos);
  REQUIRE(b != std::string::npos);
  const std::string code = tour.substr(a + 10, b - a - 10);
  CHECK(code.size() > 1000);
  CHECK(readme.find("```cpp\n" + code + "```") != std::string::npos);
}
