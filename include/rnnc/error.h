// rnnc::Error — the one exception type the library throws for bad input.
// Messages name the op, the shapes involved and the user's source line, so that a mistake in a
// model is found where it was written, not deep inside the compiler.
#pragma once
#include <source_location>
#include <stdexcept>
#include <string>
#include <string_view>

namespace rnnc {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

// "file.cpp:12" — the file name without its directories, as compilers print it.
std::string where(const std::source_location& loc);

// An exception as one line for a person, for a program's top-level catch: an Error's message
// without its "rnnc: " prefix (the caller prints its own name first, once), std::bad_alloc as "out
// of memory", and any other exception named by its type with its message ("std::out_of_range:
// stod"), so nothing reaches the user as a bare "stod".
std::string describe(const std::exception& e);
// The same for a program that prints its own name first (`rnnc train: ...`): a leading
// "<name>: " of the message is left out, so the name is not said twice.
std::string describe(const std::exception& e, std::string_view name);

// Throws Error("rnnc: <op>: <message> (at file:line)").
[[noreturn]] void fail(std::string_view op, const std::string& message, const std::source_location& loc);

}  // namespace rnnc
