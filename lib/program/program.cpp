// The common options and the run of a training program (program.h).
#include "rnnc/program.h"

#include <fmt/format.h>

#include "rnnc/error.h"

namespace rnnc::program {

CompileOptions Common::compile() const {
  CompileOptions c;
  c.threads = threads;
  return c;
}

void add_common(CLI::App& app, Common& o, unsigned which) {
  if (which & take::data)
    app.add_option("--data", o.data, "a text file, or a folder of .md files")->capture_default_str();
  if (which & take::steps)
    app.add_option("--steps", o.steps, "budget: optimizer steps (0: none)")
        ->capture_default_str()
        ->check(cli::at_least(0));
  if (which & take::epochs)
    app.add_option("--epochs", o.epochs, "budget: passes over the data (0: none)")
        ->capture_default_str()
        ->check(cli::at_least(0));
  if (which & take::time)
    app.add_option("--time", o.time, "budget: seconds (0: none)")->capture_default_str()->check(cli::finite(0));
  if (which & take::seq_length)
    app.add_option("--seq-length", o.seq_length, "characters per chunk or window (T)")
        ->capture_default_str()
        ->check(cli::at_least(1));
  if (which & take::seed)
    app.add_option("--seed", o.seed, "random seed")->capture_default_str()->check(cli::unsigned_integer());
  if (which & take::threads)
    app.add_option("--threads", o.threads, "threads (0: all cores)")->capture_default_str()->check(cli::at_least(0));
}

Program::Program(std::string name, std::string description, Common defaults, unsigned which)
    : name_(std::move(name)), common_(std::move(defaults)), app_(name_ + ": " + description, name_) {
  add_common(app_, common_, which);
}

int Program::run(int argc, char** argv, const std::function<void(const Common&)>& body) {
  try {
    app_.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app_.exit(e);
  }
  try {
    body(common_);
    return 0;
  } catch (const std::exception& e) {
    fmt::print(stderr, "{}: {}\n", name_, describe(e, name_));
    return 1;
  }
}

}  // namespace rnnc::program
