// rnnc::Error — the one exception type the library throws for bad input.
// Messages name the op, the shapes involved and the user's source line, so that a mistake in a
// model is found where it was written, not deep inside the compiler.
#pragma once
#include <source_location>
#include <stdexcept>
#include <string>

namespace rnnc {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

// "file.cpp:12" — the file name without its directories, as compilers print it.
std::string where(const std::source_location& loc);

// Throws Error("rnnc: <op>: <message> (at file:line)").
[[noreturn]] void fail(std::string_view op, const std::string& message,
                       const std::source_location& loc);

}  // namespace rnnc
