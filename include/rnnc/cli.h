// Range checks for command-line options (CLI11 validators), so that a program refuses
// `--lr nan`, `--hidden 0` or `-t -1` when it parses its arguments instead of running to NaN:
//
//   app.add_option("--lr", lr)->check(rnnc::cli::positive());
//   app.add_option("--hidden", hidden)->check(rnnc::cli::at_least(1));
//
// Header-only; include it in programs that use CLI11 (Debian's libcli11-dev).
#pragma once
#include <CLI/CLI.hpp>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <string>

namespace rnnc::cli {

namespace detail {
// A validator of finite numbers for which ok(v) holds; `range` words the condition.
template <class Ok> CLI::Validator finite_if(Ok ok, const std::string& range) {
  return CLI::Validator(
      [ok, range](std::string& s) -> std::string {
        char* end = nullptr;
        const double v = std::strtod(s.c_str(), &end);
        if (s.empty() || end != s.c_str() + s.size()) return "'" + s + "' is not a number";
        if (!std::isfinite(v) || !ok(v)) return s + " is not a finite number " + range;
        return {};
      },
      "FINITE " + range);
}
}  // namespace detail

// A finite number in [lo, hi] (NaN and infinities are refused whatever the bounds).
inline CLI::Validator finite(double lo = -std::numeric_limits<double>::max(),
                             double hi = std::numeric_limits<double>::max()) {
  auto name = [](double v) {
    return std::abs(v) == std::numeric_limits<double>::max() ? std::string(v < 0 ? "-inf" : "inf")
                                                             : CLI::detail::to_string(v);
  };
  return detail::finite_if([lo, hi](double v) { return v >= lo && v <= hi; },
                           "in [" + name(lo) + ", " + name(hi) + "]");
}

// A finite number > 0.
inline CLI::Validator positive() {
  return detail::finite_if([](double v) { return v > 0; }, "> 0");
}

// An integer >= lo.
inline CLI::Validator at_least(long long lo) {
  return CLI::Validator(
      [lo](std::string& s) -> std::string {
        char* end = nullptr;
        errno = 0;
        const long long v = std::strtoll(s.c_str(), &end, 10);
        if (s.empty() || end != s.c_str() + s.size() || errno == ERANGE) return "'" + s + "' is not an integer";
        if (v < lo) return s + " is not an integer >= " + std::to_string(lo);
        return {};
      },
      "INT >= " + std::to_string(lo));
}

// An unsigned 64-bit integer, digits only (a seed): "-1", "" and 2^64 are refused, not wrapped.
inline CLI::Validator unsigned_integer() {
  return CLI::Validator(
      [](std::string& s) -> std::string {
        char* end = nullptr;
        errno = 0;
        const bool digits = !s.empty() && s.find_first_not_of("0123456789") == std::string::npos;
        if (digits) (void)std::strtoull(s.c_str(), &end, 10);
        if (!digits || errno == ERANGE) return "'" + s + "' is not an integer in [0, 2^64)";
        return {};
      },
      "UINT64");
}

}  // namespace rnnc::cli
