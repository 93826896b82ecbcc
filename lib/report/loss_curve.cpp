#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>

#include <unistd.h>

#include "rnnc/error.h"
#include "rnnc/report.h"

namespace rnnc::report {

namespace {
// Writes `text` to a temporary beside `path` and renames it over `path`: a full disk or a failed
// write leaves the previous file as it was, and is an error that says so.
void write_whole(const std::filesystem::path& path, const std::string& text) {
  const std::filesystem::path tmp = path.string() + fmt::format(".tmp{}", ::getpid());
  bool ok = false;
  {
    std::ofstream out(tmp, std::ios::binary);
    ok = static_cast<bool>(out << text) && static_cast<bool>(out.flush());
  }
  std::error_code ec;
  if (ok) std::filesystem::rename(tmp, path, ec);
  if (!ok || ec) {
    const int err = errno;
    std::filesystem::remove(tmp, ec);
    throw Error(fmt::format("rnnc: cannot write '{}': {} (the previous file, if any, is kept)", path.string(),
                            ok ? ec.message() : std::strerror(err)));
  }
}
}  // namespace

void LossCurve::add(long step, double train, double val) { points_.push_back({step, train, val}); }

void LossCurve::write_csv(const std::filesystem::path& path) const {
  std::string out = "step,train_loss,val_loss\n";
  for (const Point& p : points_)
    out += fmt::format("{},{},{}\n", p.step, std::isnan(p.train) ? "" : fmt::format("{:.6g}", p.train),
                       std::isnan(p.val) ? "" : fmt::format("{:.6g}", p.val));
  write_whole(path, out);
}

std::string LossCurve::svg(const std::string& title) const {
  const double W = 640, Hh = 400, left = 60, right = 20, top = 40, bottom = 50;
  long x0 = 0, x1 = 1;
  double y0 = std::numeric_limits<double>::infinity(), y1 = -y0;
  if (!points_.empty()) x0 = points_.front().step, x1 = std::max(points_.back().step, x0 + 1);
  for (const Point& p : points_)
    for (double v : {p.train, p.val})
      if (std::isfinite(v)) y0 = std::min(y0, v), y1 = std::max(y1, v);
  if (!std::isfinite(y0)) y0 = 0, y1 = 1;
  if (y1 - y0 < 1e-9) y1 = y0 + 1;
  auto X = [&](double s) { return left + (s - x0) / double(x1 - x0) * (W - left - right); };
  auto Y = [&](double v) { return top + (y1 - v) / (y1 - y0) * (Hh - top - bottom); };
  auto escape = [](const std::string& s) {
    std::string o;
    for (char c : s) o += c == '<' ? "&lt;" : c == '>' ? "&gt;" : c == '&' ? "&amp;" : std::string(1, c);
    return o;
  };
  std::string s = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" font-family=\"sans-serif\" "
      "font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
      "<text x=\"{}\" y=\"22\" font-size=\"15\">{}</text>\n",
      W, Hh, left, escape(title));
  // Axes with five ticks each.
  s += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\" stroke=\"black\"/>\n", left, Hh - bottom,
                   W - right);
  s += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\" stroke=\"black\"/>\n", left, top, Hh - bottom);
  for (int i = 0; i <= 4; ++i) {
    const double v = y0 + (y1 - y0) * i / 4, st = x0 + (x1 - x0) * i / 4.0;
    s += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{:.3g}</text>\n", left - 6, Y(v) + 4, v);
    s += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\" stroke=\"#ddd\"/>\n", left, Y(v), W - right);
    s += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{:.0f}</text>\n", X(st), Hh - bottom + 18, st);
  }
  s += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">step</text>\n", (left + W - right) / 2, Hh - 8);
  s += fmt::format(
      "<text x=\"14\" y=\"{}\" transform=\"rotate(-90 14 {})\" text-anchor=\"middle\">loss (nats/char)</text>\n",
      (top + Hh - bottom) / 2, (top + Hh - bottom) / 2);
  // One polyline per series.
  auto series = [&](bool val, const char* colour, const char* name, double legend_y) {
    std::string pts;
    for (const Point& p : points_) {
      const double v = val ? p.val : p.train;
      if (std::isfinite(v)) pts += fmt::format("{:.1f},{:.1f} ", X(double(p.step)), Y(v));
    }
    if (pts.empty()) return;
    s += fmt::format("<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"2\" points=\"{}\"/>\n", colour, pts);
    s += fmt::format(
        "<line x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\" stroke=\"{3}\" stroke-width=\"2\"/>"
        "<text x=\"{4}\" y=\"{5}\">{6}</text>\n",
        W - right - 130, legend_y, W - right - 110, colour, W - right - 104, legend_y + 4, name);
  };
  series(false, "#1f77b4", "training", top + 10);
  series(true, "#d62728", "validation", top + 28);
  return s + "</svg>\n";
}

void LossCurve::write_svg(const std::filesystem::path& path, const std::string& title) const {
  write_whole(path, svg(title));
}

}  // namespace rnnc::report
