// rnnc: the command-line tool.
//   rnnc run FILE.cpp [-- ARGS...]   compile a model file against the library (cached) and run it
//   rnnc --version
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "build_info.h"
#include "run.h"

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

  CLI11_PARSE(app, argc, argv);
  try {
    if (*run_cmd) return rnnc::tool::run(run);
  } catch (const std::exception& e) {
    fmt::print(stderr, "rnnc: {}\n", e.what());
    return 1;
  }
  return 0;
}
