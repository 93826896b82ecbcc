// What compile() keeps per compiled function (internal to lib/compile): each shape signature's
// run-time program and the lowering it came from.
#pragma once
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "exec/executor.h"
#include "lower/schedule.h"
#include "rnnc/compile.h"

namespace rnnc {

// A program and how the compiler made it (for dumps and export).
struct Built {
  std::shared_ptr<exec::Program> program;
  std::shared_ptr<const lower::Lowered> lowered;
};

struct Compiled::Impl {
  Function f;
  CompileOptions options;
  std::mutex mu;
  std::map<std::string, Built> programs;
  Built latest;
  CompileStats stats;

  // The program for these input specs, traced again and compiled at the first call with them.
  Built get(const std::vector<Spec>& specs);
};

// The latest program of c, and its lowering.
Built built(const Compiled& c);

}  // namespace rnnc
