#include "rnnc/error.h"

#include <fmt/format.h>

#include <new>
#include <system_error>

namespace rnnc {

std::string where(const std::source_location& loc) {
  std::string_view file = loc.file_name();
  if (auto slash = file.find_last_of('/'); slash != std::string_view::npos) file.remove_prefix(slash + 1);
  if (file.empty()) return "unknown location";
  return fmt::format("{}:{}", file, loc.line());
}

std::string describe(const std::exception& e) {
  std::string_view what = e.what();
  if (dynamic_cast<const Error*>(&e)) {
    if (what.rfind("rnnc: ", 0) == 0) what.remove_prefix(6);
    return std::string(what);
  }
  if (dynamic_cast<const std::bad_alloc*>(&e)) return "out of memory (std::bad_alloc)";
  const char* type = dynamic_cast<const std::invalid_argument*>(&e) ? "std::invalid_argument"
                     : dynamic_cast<const std::out_of_range*>(&e)   ? "std::out_of_range"
                     : dynamic_cast<const std::system_error*>(&e)   ? "std::system_error"
                                                                    : "unexpected exception";
  return fmt::format("{}: {} (a bug in rnnc if the input was fine; please report it)", type, what);
}

std::string describe(const std::exception& e, std::string_view name) {
  std::string message = describe(e);
  if (!name.empty() && message.size() > name.size() + 1 && message.compare(0, name.size(), name) == 0 &&
      message.compare(name.size(), 2, ": ") == 0)
    message.erase(0, name.size() + 2);
  return message;
}

void fail(std::string_view op, const std::string& message, const std::source_location& loc) {
  throw Error(fmt::format("rnnc: {}: {} (at {})", op, message, where(loc)));
}

}  // namespace rnnc
