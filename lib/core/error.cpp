#include "rnnc/error.h"

#include <fmt/format.h>

namespace rnnc {

std::string where(const std::source_location& loc) {
  std::string_view file = loc.file_name();
  if (auto slash = file.find_last_of('/'); slash != std::string_view::npos) file.remove_prefix(slash + 1);
  if (file.empty()) return "unknown location";
  return fmt::format("{}:{}", file, loc.line());
}

void fail(std::string_view op, const std::string& message, const std::source_location& loc) {
  throw Error(fmt::format("rnnc: {}: {} (at {})", op, message, where(loc)));
}

}  // namespace rnnc
