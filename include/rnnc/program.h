// What every training program shares (the examples, and `rnnc train`): the common options, one
// meaning each, and one way to run and report errors.
//
//   int main(int argc, char** argv) {
//     program::Program p("char_lstm", "a Keras-style character LSTM", {.steps = 300, .seq_length = 100},
//                        program::take::training | program::take::seq_length);
//     int hidden = 256;
//     p.option("--hidden", hidden, "LSTM units")->check(cli::at_least(1));
//     return p.run(argc, argv, [&](const program::Common& o) { ... });
//   }
//
// A program takes only the options it uses: one it would ignore is not on its command line.
#pragma once
#include <CLI/CLI.hpp>

#include <cstdint>
#include <functional>
#include <string>

#include "rnnc/cli.h"
#include "rnnc/compile.h"
#include "rnnc/train.h"

#ifndef RNNC_DEFAULT_CORPUS
#define RNNC_DEFAULT_CORPUS "docs"
#endif

namespace rnnc::program {

struct Common {
  std::string data = RNNC_DEFAULT_CORPUS;  // --data: a text file, or a folder of .md files
  int64_t steps = 0;                       // --steps: optimizer steps
  int64_t epochs = 0;                      // --epochs: passes over the data
  double time = 0;                         // --time: seconds
  int64_t seq_length = 0;                  // --seq-length: characters per chunk or window (T)
  uint64_t seed = 1;                       // --seed: initialisation, dropout, the data's order, sampling
  int threads = 0;                         // --threads: 0: all cores
  // Whichever of steps, epochs and time comes first ends the run.
  nn::Budget budget() const { return {.steps = steps, .epochs = epochs, .seconds = time}; }
  CompileOptions compile() const;
  // A program's fit options with what the common options decide (budget, seed, compile) filled
  // in: `nn::fit(model, opt, train, loss, o.fit(val, {.validate_every = 100}))`, and with no
  // validation data `o.fit<data::Streams>({...})`.
  template <class D> nn::FitOptions<D> fit(nn::FitOptions<D> f = {}) const {
    f.budget = budget();
    f.seed = seed;
    f.compile = compile();
    return f;
  }
  template <class D> nn::FitOptions<D> fit(const D& validation, nn::FitOptions<D> f = {}) const {
    f.validation = &validation;
    return fit(std::move(f));
  }
};

// Which of the common options a program takes.
namespace take {
constexpr unsigned data = 1u << 0, steps = 1u << 1, epochs = 1u << 2, time = 1u << 3, seq_length = 1u << 4,
                   seed = 1u << 5, threads = 1u << 6;
constexpr unsigned budget = steps | epochs | time;
constexpr unsigned training = data | budget | seed | threads;
}  // namespace take

// Adds the options in `which` to `app` (a program's, or a subcommand's), bound to the fields of
// `o`, their defaults shown; negative counts and non-finite times are refused as they parse.
void add_common(CLI::App& app, Common& o, unsigned which);

class Program {
 public:
  Program(std::string name, std::string description, Common defaults = {}, unsigned which = take::training);
  // A program's own option (its default shown).
  template <class T> CLI::Option* option(const std::string& flags, T& value, const std::string& help) {
    return app_.add_option(flags, value, help)->capture_default_str();
  }
  CLI::App& app() { return app_; }
  // Parses the command line and runs `body` with the common options: --help, --version and a bad
  // option end it as CLI11 does (a message, exit 105 for an error); an exception from `body`
  // prints "NAME: what went wrong" and exits 1; otherwise 0.
  int run(int argc, char** argv, const std::function<void(const Common&)>& body);

 private:
  std::string name_;
  Common common_;
  CLI::App app_;
};

}  // namespace rnnc::program
