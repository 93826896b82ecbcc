// The program's small helpers.
#include "exec/program.h"

#include <fmt/format.h>

namespace rnnc::exec {

bool Access::contiguous() const { return strides == strides_of(shape) || numel(shape) <= 1; }

std::string str(const BufferRef& b) {
  switch (b.space) {
    case Space::Arena: return fmt::format("b{}", b.index);
    case Space::Input: return fmt::format("in{}", b.index);
    case Space::Output: return fmt::format("out{}", b.index);
    case Space::Literal: return fmt::format("lit{}", b.index);
  }
  return "?";
}

std::string str(const Access& a) {
  std::string s = str(a.buf);
  if (a.offset) s += fmt::format("+{}", a.offset);
  if (!a.contiguous()) s += fmt::format(" strides {}", to_string(Shape(a.strides)));
  return s;
}

}  // namespace rnnc::exec
