// A program's schedule as bytes and back: what an exported model carries instead of the compiler.
// The bytes start with a magic number and a format version; a damaged or foreign input is an Error
// naming what broke and where, never a crash.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>

#include "exec/program.h"

namespace rnnc::exec {

std::string serialize(const Schedule& s);
Schedule deserialize(std::string_view bytes);

// Throws an Error unless every buffer, input, output, literal and kernel the schedule (loop
// bodies included) refers to exists: `kernels` is the number of kernels it will be run with.
void check_references(const Schedule& s, size_t kernels);

}  // namespace rnnc::exec
