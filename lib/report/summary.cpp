#include <cmath>
#include <nlohmann/json.hpp>

#include "rnnc/report.h"

namespace rnnc::report {

std::string summary_line(const std::vector<Field>& fields) {
  nlohmann::ordered_json j = nlohmann::ordered_json::object(), why = nlohmann::ordered_json::object();
  for (const Field& f : fields) {
    if (!f.value) {
      j[f.name] = nullptr;
      why[f.name] = f.missing_because;
    } else if (!std::isfinite(*f.value)) {
      j[f.name] = nullptr;
      why[f.name] = std::isnan(*f.value) ? "nan" : *f.value > 0 ? "inf" : "-inf";
    } else if (*f.value == std::floor(*f.value) && std::abs(*f.value) < 9e15) {
      j[f.name] = static_cast<int64_t>(*f.value);  // counts print as integers
    } else {
      j[f.name] = std::round(*f.value * 1e6) / 1e6;  // losses and rates: six decimals are plenty
    }
  }
  if (!why.empty()) j["null_because"] = why;
  return "summary: " + j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace rnnc::report
