// Ahead-of-time output of a compiled function, for running it without the compiler: its kernels
// as object code and its schedule as bytes (the run time's exec::deserialize reads them back).
//
//   auto step = compile(f);  step(args);           // compiled for these shapes
//   ExportedFiles x = export_program(step, "out", "model");
//   // out/model_kernels.o: the kernels, position-independent, for this CPU (x.cpu)
//   // out/model_kernels.c: model_kernels[], the kernel each of the program's steps calls
//   // out/model_program.bin: the schedule, buffers, literals, input and output specs
#pragma once
#include <filesystem>
#include <string>

#include "rnnc/compile.h"

namespace rnnc {

struct ExportedFiles {
  std::filesystem::path object, table, program;
  int kernels = 0;  // distinct kernels in the object
  std::string cpu;  // the CPU they were compiled for (the host's)
};

// Writes the program of the compiled function's latest shape signature. `name` prefixes every
// file and symbol, so it must be a C identifier. Throws an Error naming the file it could not
// write.
ExportedFiles export_program(const Compiled& c, const std::filesystem::path& dir, const std::string& name);

}  // namespace rnnc
