// rnnc: the command-line tool.
//   rnnc run FILE.cpp [-- ARGS...]   compile a model file against the library (cached) and run it
//   rnnc train [...]                  train a character model (char-rnn's train.lua)
//   rnnc sample CHECKPOINT [...]     text from a saved character model
//   rnnc export CHECKPOINT --out DIR a saved character model as a C library (rnnc/export.h)
//   rnnc export CHECKPOINT --onnx F  ... or as an ONNX model (rnnc/onnx.h)
//   rnnc import MODEL.onnx --out F    an ONNX character model (rnnc's, PyTorch's) as a checkpoint
//   rnnc plot RUN... -o F.svg          runs' loss curves on one chart, against seconds or steps
//   rnnc info                         this CPU and what rnnc chooses on it (GEMM paths, bf16, int8)
//   rnnc --version
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <rnnc/char_rnn.h>
#include <rnnc/cli.h>
#include <rnnc/compile.h>
#include <rnnc/error.h>
#include <rnnc/onnx.h>

#include <fstream>
#include <iterator>
#include <optional>
#include <set>

#include "build_info.h"
#include "plot.h"
#include "run.h"
#include "train.h"

int main(int argc, char** argv) {
  CLI::App app{"rnnc: recurrent networks in C++, differentiated and compiled"};
  app.set_version_flag("--version", std::string("rnnc ") + RNNC_VERSION_STRING);
  app.require_subcommand(1);

  rnnc::tool::RunOptions run;
  CLI::App* run_cmd = app.add_subcommand("run", "compile FILE.cpp against rnnc (cached by content) and run it");
  run_cmd->add_option("file", run.file, "the C++ file (a main() that uses <rnnc/rnnc.h>)")->required();
  run_cmd->add_option("args", run.args, "arguments for the program, after --");
  run_cmd->add_flag("--rebuild", run.rebuild, "compile even if a cached binary exists");
  run_cmd->add_flag("-v,--verbose", run.verbose, "print the compile command");
  run_cmd->set_version_flag("--version", std::string("rnnc run ") + RNNC_VERSION_STRING);

  rnnc::tool::TrainOptions tr;
  CLI::App* train_cmd = app.add_subcommand("train", "train a character model on a text (char-rnn's train.lua)");
  rnnc::program::add_common(*train_cmd, tr.common, rnnc::program::take::training | rnnc::program::take::seq_length);
  train_cmd->add_option("--cell", tr.cell, "lstm, gru, rnn or rnn_relu")->capture_default_str();
  train_cmd->add_option("--layers", tr.layers, "stacked layers")->capture_default_str()->check(rnnc::cli::at_least(1));
  train_cmd->add_option("--hidden", tr.hidden, "units per layer (char-rnn's rnn_size)")
      ->capture_default_str()
      ->check(rnnc::cli::at_least(1));
  train_cmd->add_option("--embedding", tr.embedding, "embedding size (0: one-hot input)")
      ->capture_default_str()
      ->check(rnnc::cli::at_least(0));
  train_cmd->add_option("--dropout", tr.dropout, "dropout after each layer while training")
      ->capture_default_str()
      ->check(rnnc::cli::finite(0, 0.99));
  train_cmd->add_option("--batch", tr.batch, "parallel streams")->capture_default_str()->check(rnnc::cli::at_least(1));
  train_cmd->add_option("--optimizer", tr.optimizer, "adam, rmsprop, adagrad or sgd")->capture_default_str();
  train_cmd->add_option("--lr", tr.lr, "learning rate")->capture_default_str()->check(rnnc::cli::positive());
  train_cmd
      ->add_option("--anneal", tr.anneal,
                   "the last fraction of the budget, over which the learning rate falls to 0 along a cosine (0: "
                   "constant)")
      ->capture_default_str()
      ->check(rnnc::cli::finite(0, 1));
  train_cmd->add_option("--clip", tr.clip, "clip gradients to [-X, X] (0: off)")
      ->capture_default_str()
      ->check(rnnc::cli::finite(0));
  train_cmd->add_option("--val-frac", tr.val_frac, "fraction of the text held out for validation")
      ->capture_default_str()
      ->check(rnnc::cli::finite(0, 0.5));
  train_cmd
      ->add_option("--validate-every", tr.validate_every, "steps between validations (0: a tenth of --steps, or 200)")
      ->check(rnnc::cli::at_least(0));
  train_cmd->add_option("--save", tr.save, "folder for best.safetensors, last.safetensors and loss.csv/.svg")
      ->capture_default_str();
  train_cmd->add_option("--resume", tr.resume, "continue the run a checkpoint (last.safetensors) saved");
  train_cmd->add_option("--init", tr.init,
                        "start from a character model's checkpoint (rnnc train's, or rnnc import's): its weights, "
                        "cell, sizes and vocabulary; a new run, its own optimizer (char-rnn's -init_from)");
  train_cmd
      ->add_option("--memory-budget", tr.memory_budget,
                   "MB for the step's intermediate values: recompute to fit (0: no limit)")
      ->capture_default_str()
      ->check(rnnc::cli::finite(0, 1e12));
  train_cmd->add_flag("--bf16,!--no-bf16", tr.bf16,
                      "mixed precision (the default): GEMM operands in bfloat16, summed in float32, on a CPU where "
                      "they run at least 1.1x float32's (measured once); --no-bf16: float32 throughout");
  train_cmd->add_flag("!--no-overlap", tr.overlap,
                      "under mpirun: average the gradients once the backward pass has ended, instead of while it runs");
  train_cmd->set_version_flag("--version", std::string("rnnc train ") + RNNC_VERSION_STRING);

  std::string checkpoint, prime;
  int length = 500, top_k = 0;
  double temperature = 1.0;
  uint64_t seed = 0;
  bool greedy = false, sample_bf16 = false, sample_int8 = false;
  CLI::App* sample_cmd =
      app.add_subcommand("sample", "print text from a saved character model (nn::checkpoint of a CharRNN)");
  sample_cmd->add_option("checkpoint", checkpoint, "the .safetensors file")->required();
  sample_cmd->add_option("-n,--length", length, "characters to generate")
      ->capture_default_str()
      ->check(rnnc::cli::at_least(0));
  sample_cmd->add_option("-t,--temperature", temperature, "softmax temperature (0: greedy)")
      ->capture_default_str()
      ->check(rnnc::cli::finite(0));
  sample_cmd->add_option("-k,--top-k", top_k, "draw among the k most likely characters (0: all)")
      ->capture_default_str()
      ->check(rnnc::cli::at_least(0));
  sample_cmd->add_option("-p,--prime", prime, "text to start from (default: a random character)");
  sample_cmd->add_option("-s,--seed", seed, "random seed")->capture_default_str()->check(rnnc::cli::unsigned_integer());
  sample_cmd->add_flag("-g,--greedy", greedy, "always the most likely character");
  sample_cmd->add_flag("--bf16", sample_bf16,
                       "the weights in bfloat16, summed in float32 (half the bytes read per character)");
  sample_cmd->add_flag("--int8", sample_int8, "the weights in int8 per output channel (a quarter of the bytes)")
      ->excludes("--bf16");
  sample_cmd->set_version_flag("--version", std::string("rnnc sample ") + RNNC_VERSION_STRING);

  std::string export_checkpoint, export_dir, export_name = "model", export_onnx;
  bool export_bf16 = false, export_int8 = false;
  int export_batch = 0, export_steps = 1;
  CLI::App* export_cmd = app.add_subcommand(
      "export", "a saved character model as a C library (its step, streaming, without rnnc or LLVM), or as ONNX");
  export_cmd->add_option("checkpoint", export_checkpoint, "the .safetensors file")->required();
  CLI::Option* out_opt = export_cmd->add_option("-o,--out", export_dir, "the folder to write (created)");
  export_cmd
      ->add_option("--onnx", export_onnx,
                   "write an ONNX model to this file instead: (state, ids int32 [T, B]) -> (logits, next state), "
                   "the cell as ONNX's own LSTM/GRU/RNN")
      ->excludes(out_opt);
  export_cmd->add_option("--seq-length", export_steps, "with --onnx: T, the characters per call (default: any)")
      ->check(CLI::Range(1, 1 << 20));
  export_cmd->add_option("--name", export_name, "prefix of its files and C symbols")->capture_default_str();
  export_cmd->add_flag("--bf16", export_bf16,
                       "the weights in bfloat16, summed in float32 (half the bytes read per step)");
  export_cmd->add_flag("--int8", export_int8, "the weights in int8 per output channel (a quarter of the bytes)")
      ->excludes("--bf16");
  export_cmd
      ->add_option("--batch", export_batch,
                   "also a batched step for up to this many streams at once (NAME_step_many, for a server); with "
                   "--onnx: B, the streams per call (default: any)")
      ->check(CLI::Range(0, 4096));
  export_cmd->set_version_flag("--version", std::string("rnnc export ") + RNNC_VERSION_STRING);

  std::string import_file, import_out, import_vocab;
  CLI::App* import_cmd = app.add_subcommand(
      "import",
      "an ONNX character model (rnnc's export, or PyTorch's Embedding + LSTM/GRU/RNN + Linear) as a checkpoint");
  import_cmd->add_option("model", import_file, "the .onnx file")->required();
  import_cmd->add_option("-o,--out", import_out, "the checkpoint to write (.safetensors)")->required();
  import_cmd->add_option("--vocab", import_vocab,
                         "a UTF-8 file of the model's characters in id order (the model's own metadata otherwise)");
  import_cmd->set_version_flag("--version", std::string("rnnc import ") + RNNC_VERSION_STRING);

  rnnc::tool::PlotOptions pl;
  CLI::App* plot_cmd =
      app.add_subcommand("plot", "runs' loss curves (rnnc train's loss.csv) on one chart, against seconds or steps");
  plot_cmd->add_option("runs", pl.runs, "loss.csv files, or rnnc train --save folders")->required();
  plot_cmd->add_option("-o,--out", pl.out, "the SVG file to write")->required();
  plot_cmd->add_option("--label", pl.labels, "a name per run, in order (default: its folder's)");
  plot_cmd->add_option("--x", pl.x, "seconds or step")->capture_default_str();
  plot_cmd->add_option("--y", pl.y, "val_loss or train_loss")->capture_default_str();
  plot_cmd->add_option("--title", pl.title, "the chart's title");
  plot_cmd->set_version_flag("--version", std::string("rnnc plot ") + RNNC_VERSION_STRING);

  CLI::App* info_cmd = app.add_subcommand(
      "info", "this CPU and what rnnc chooses on it: the GEMMs' paths, bf16, int8 (measured, a few milliseconds)");
  info_cmd->set_version_flag("--version", std::string("rnnc info ") + RNNC_VERSION_STRING);

  // CLI11 would take an unknown verb for a stray argument and say only that a verb is required.
  if (argc > 1 && argv[1][0] != '-' &&
      !std::set<std::string>{"run", "train", "sample", "export", "import", "plot", "info"}.count(argv[1])) {
    fmt::print(stderr,
               "rnnc: '{}' is not a verb; the verbs are run, train, sample, export, import, plot and info (rnnc "
               "--help)\n",
               argv[1]);
    return 2;
  }
  CLI11_PARSE(app, argc, argv);
  try {
    if (*run_cmd) return rnnc::tool::run(run);
    if (*plot_cmd) return rnnc::tool::plot(pl);
    if (*info_cmd) {
      const rnnc::HostInfo h = rnnc::host_info();
      const auto yes = [](bool b) { return b ? "used" : "not used"; };
      fmt::print("rnnc {}\n", RNNC_VERSION_STRING);
      fmt::print("cpu:            {}\n", h.cpu.empty() ? "unknown" : h.cpu);
      fmt::print("kernels for:    {} ({})\n", h.llvm_cpu, fmt::join(h.features, " "));
      fmt::print("threads:        {} (RNNC_THREADS)\n", h.threads);
      fmt::print("float32 GEMMs:  {}\n", h.gemm);
      fmt::print("a loop's weight copied transposed before it (per GEMM shape, RNNC_PRETRANSPOSE):\n");
      for (const auto& p : h.pretranspose)
        fmt::print("  [{}, {}] x [{}, {}]: {:.2f}x reading it transposed, {}\n", p.m, p.k, p.k, p.n, p.speedup,
                   yes(p.used));
      if (h.bf16_speedup > 0)
        fmt::print("bf16 mode:      {} (bfloat16 GEMMs at {:.2f}x float32's; used from 1.10x, RNNC_BF16=force)\n",
                   yes(h.bf16), h.bf16_speedup);
      else
        fmt::print("bf16 mode:      {} (no avx512bf16: float32 GEMMs)\n", yes(h.bf16));
      fmt::print("int8 weights:   {}\n", h.int8);
      fmt::print("timings kept:   {}\n", h.measurements.empty() ? "no (each process times them)" : h.measurements);
      return 0;
    }
    if (*train_cmd) {
      for (const CLI::Option* opt : train_cmd->get_options())
        if (opt->count() > 0) tr.given.insert(opt->get_name());
      return rnnc::tool::train(tr);
    }
    if (*sample_cmd) {
      std::mt19937_64 rng(seed);
      std::u32string p = rnnc::data::decode_utf8(prime, "--prime");
      const std::string text = rnnc::nn::sample_checkpoint(
          rnnc::io::load(checkpoint), p, length,
          {.temperature = temperature, .top_k = top_k, .greedy = greedy, .bf16 = sample_bf16, .int8 = sample_int8},
          rng);
      fmt::print("{}{}\n", rnnc::data::encode_utf8(p), text);
      return 0;
    }
    if (*import_cmd) {
      std::optional<rnnc::data::Vocab> vocab;
      if (!import_vocab.empty()) {
        std::ifstream in(import_vocab, std::ios::binary);
        if (!in) throw rnnc::Error("cannot read the vocabulary '" + import_vocab + "'");
        const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        vocab = rnnc::data::Vocab::from_chars(rnnc::data::decode_utf8(bytes, "--vocab"));
      }
      const rnnc::io::Checkpoint c = rnnc::nn::import_checkpoint_onnx(import_file, vocab ? &*vocab : nullptr);
      rnnc::io::save(import_out, c);
      fmt::print("rnnc import: {} ({} model: {} layers of {}, {} characters){}\n", import_out, c.meta("cell"),
                 c.meta("layers"), c.meta("hidden"), rnnc::data::decode_utf8(c.meta("vocab"), "vocab").size(),
                 "; rnnc sample " + import_out + " reads it");
      return 0;
    }
    if (*export_cmd && !export_onnx.empty()) {
      if (export_cmd->count("--name")) throw rnnc::Error("--name is for the C library; --onnx names its file");
      // T and B open (symbolic in the file) unless given.
      const rnnc::OnnxModel x =
          rnnc::nn::export_checkpoint_onnx(rnnc::io::load(export_checkpoint), export_onnx,
                                           export_cmd->count("--seq-length") ? export_steps : 0, export_batch,
                                           export_int8   ? rnnc::OnnxWeights::int8
                                           : export_bf16 ? rnnc::OnnxWeights::bf16
                                                         : rnnc::OnnxWeights::f32);
      std::string ops;
      for (const auto& [op, n] : x.operators)
        if (op != "Identity") ops += fmt::format("{}{} {}", ops.empty() ? "" : ", ", n, op);
      const std::string T = export_cmd->count("--seq-length") ? std::to_string(export_steps) : "any",
                        B = export_batch ? std::to_string(export_batch) : "any";
      const char* weights = export_int8 ? "int8" : export_bf16 ? "bf16" : "float32";
      fmt::print("rnnc export: {} (ONNX opset 17; T {}, B {}; weights {}; {} bytes; inputs {}; outputs {}; {})\n",
                 export_onnx, T, B, weights, x.text.size(), fmt::join(x.inputs, " "), fmt::join(x.outputs, " "), ops);
      return 0;
    }
    if (*export_cmd && export_dir.empty()) throw rnnc::Error("--out DIR (a C library) or --onnx FILE is needed");
    if (*export_cmd && export_cmd->count("--seq-length"))
      throw rnnc::Error("--seq-length is for --onnx (the C library steps one character at a time)");
    if (*export_cmd) {
      rnnc::ExportOptions o;
      o.name = export_name;
      o.batch = export_batch;
      const rnnc::ExportedModel x = rnnc::nn::export_checkpoint(rnnc::io::load(export_checkpoint), export_dir, o,
                                                                {.bf16 = export_bf16, .int8 = export_int8});
      fmt::print(
          "rnnc export: {} ({} kernels, for {}): {}, {}, {} (run time from {})\n"
          "  build against it: cc app.c -I {} {} -Wl,-rpath,{}  (see {} for the C interface)\n",
          export_dir, x.kernels, x.cpu, x.header.filename().string(), x.shared_library.filename().string(),
          x.static_library.filename().string(), x.runtime_source.string(), export_dir, x.shared_library.string(),
          export_dir, x.header.string());
      return 0;
    }
  } catch (const std::exception& e) {
    const std::string verb = *run_cmd      ? "run"
                             : *train_cmd  ? "train"
                             : *export_cmd ? "export"
                             : *import_cmd ? "import"
                             : *plot_cmd   ? "plot"
                                           : "sample";
    fmt::print(stderr, "rnnc {}: {}\n", verb, rnnc::describe(e, verb));
    return 1;
  }
  return 0;
}
