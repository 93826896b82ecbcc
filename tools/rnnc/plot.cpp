#include "plot.h"

#include <fmt/format.h>
#include <rnnc/error.h>
#include <rnnc/report.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>

namespace rnnc::tool {

namespace fs = std::filesystem;

int plot(const PlotOptions& o) {
  if (o.x != "seconds" && o.x != "step") throw Error(fmt::format("--x: '{}' is not seconds or step", o.x));
  if (o.y != "val_loss" && o.y != "train_loss")
    throw Error(fmt::format("--y: '{}' is not val_loss or train_loss", o.y));
  if (!o.labels.empty() && o.labels.size() != o.runs.size())
    throw Error(fmt::format("--label: {} labels for {} runs (one each, or none)", o.labels.size(), o.runs.size()));
  std::vector<report::Series> series;
  for (size_t i = 0; i < o.runs.size(); ++i) {
    const fs::path given = o.runs[i], csv = fs::is_directory(given) ? given / "loss.csv" : given;
    const report::LossCurve c = report::LossCurve::read_csv(csv);
    const std::string name = !o.labels.empty()         ? o.labels[i]
                             : fs::is_directory(given) ? given.filename().string()
                                                       : csv.parent_path().filename().string();
    report::Series s{name.empty() ? csv.string() : name, {}};
    const report::Point* best = nullptr;
    for (const report::Point& p : c.points()) {
      const double y = o.y == "val_loss" ? p.val : p.train;
      if (std::isnan(y)) continue;
      s.xy.emplace_back(o.x == "seconds" ? p.seconds : static_cast<double>(p.step), y);
      if (!best || y < (o.y == "val_loss" ? best->val : best->train)) best = &p;
    }
    if (!best)
      throw Error(fmt::format("'{}' holds no {} (a run without validation has no val_loss)", csv.string(), o.y));
    fmt::print("{}: lowest {} {:.4f} at step {}, {:.0f} s ({} points)\n", s.name, o.y,
               o.y == "val_loss" ? best->val : best->train, best->step, best->seconds, s.xy.size());
    series.push_back(std::move(s));
  }
  const std::string y_label = (o.y == "val_loss" ? "validation" : "training") + std::string(" loss (nats/char)");
  const std::string svg = report::chart_svg(o.title.empty() ? y_label + " by " + o.x : o.title,
                                            o.x == "seconds" ? "seconds" : "step", y_label, series);
  std::ofstream out(o.out, std::ios::binary);
  if (!(out << svg) || !out.flush()) throw Error(fmt::format("cannot write '{}'", o.out));
  fmt::print("wrote {}\n", o.out);
  return 0;
}

}  // namespace rnnc::tool
