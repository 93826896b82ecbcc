#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <iterator>
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

void LossCurve::write_csv(const std::filesystem::path& path) const {
  auto cell = [](double v) { return std::isnan(v) ? std::string() : fmt::format("{:.6g}", v); };
  std::string out = "step,seconds,train_loss,val_loss\n";
  for (const Point& p : points_) out += fmt::format("{},{:.3f},{},{}\n", p.step, p.seconds, cell(p.train), cell(p.val));
  write_whole(path, out);
}

LossCurve LossCurve::read_csv(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw Error(fmt::format("rnnc: cannot read '{}'", path.string()));
  std::string line;
  long n = 1;
  auto bad = [&](const std::string& why) {
    return Error(
        fmt::format("rnnc: {}:{}: {} (a loss curve: step,seconds,train_loss,val_loss)", path.string(), n, why));
  };
  if (!std::getline(in, line) || line != "step,seconds,train_loss,val_loss") throw bad("not the header");
  LossCurve c;
  while (std::getline(in, line)) {
    ++n;
    std::vector<std::string> cells(1);
    for (char ch : line)
      if (ch == ',')
        cells.emplace_back();
      else
        cells.back().push_back(ch);
    if (cells.size() != 4) throw bad(fmt::format("{} cells, not 4", cells.size()));
    auto number = [&](const std::string& v, bool may_be_empty) {
      if (v.empty() && may_be_empty) return std::numeric_limits<double>::quiet_NaN();
      double x = 0;
      const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), x);
      if (v.empty() || ec != std::errc() || end != v.data() + v.size())
        throw bad(fmt::format("'{}' is not a number", v));
      return x;
    };
    const double step = number(cells[0], false);
    c.add({static_cast<long>(step), number(cells[1], false), number(cells[2], true), number(cells[3], true)});
  }
  return c;
}

std::string chart_svg(const std::string& title, const std::string& x_label, const std::string& y_label,
                      const std::vector<Series>& series) {
  static const char* colours[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"};
  const double W = 640, Hh = 400, left = 60, right = 20, top = 40, bottom = 50;
  double x0 = std::numeric_limits<double>::infinity(), x1 = -x0, y0 = x0, y1 = -x0;
  for (const Series& s : series)
    for (const auto& [x, y] : s.xy)
      if (std::isfinite(x) && std::isfinite(y))
        x0 = std::min(x0, x), x1 = std::max(x1, x), y0 = std::min(y0, y), y1 = std::max(y1, y);
  if (!std::isfinite(x0)) x0 = 0, x1 = 1, y0 = 0, y1 = 1;
  x0 = std::min(x0, 0.0);  // steps and seconds count from 0
  if (x1 - x0 < 1e-9) x1 = x0 + 1;
  if (y1 - y0 < 1e-9) y1 = y0 + 1;
  // Axes from and to multiples of a round tick (1, 2 or 5 times a power of ten), four to eight ticks.
  auto round_tick = [](double range) {
    const double rough = range / 5, power = std::pow(10.0, std::floor(std::log10(rough))), r = rough / power;
    return (r < 1.5 ? 1 : r < 3 ? 2 : r < 7 ? 5 : 10) * power;
  };
  const double dx = round_tick(x1 - x0), dy = round_tick(y1 - y0);
  x0 = std::floor(x0 / dx) * dx, x1 = std::ceil(x1 / dx) * dx;
  y0 = std::floor(y0 / dy) * dy, y1 = std::ceil(y1 / dy) * dy;
  auto X = [&](double x) { return left + (x - x0) / (x1 - x0) * (W - left - right); };
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
  // Axes, with a label and a grid line at every tick.
  s += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\" stroke=\"black\"/>\n", left, Hh - bottom,
                   W - right);
  s += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\" stroke=\"black\"/>\n", left, top, Hh - bottom);
  for (double v = y0; v <= y1 + dy / 2; v += dy) {
    s += fmt::format("<text x=\"{}\" y=\"{:.1f}\" text-anchor=\"end\">{:.3g}</text>\n", left - 6, Y(v) + 4, v);
    s += fmt::format("<line x1=\"{0}\" y1=\"{1:.1f}\" x2=\"{2}\" y2=\"{1:.1f}\" stroke=\"#ddd\"/>\n", left, Y(v),
                     W - right);
  }
  for (double x = x0; x <= x1 + dx / 2; x += dx)
    s += fmt::format("<text x=\"{:.1f}\" y=\"{}\" text-anchor=\"middle\">{:.6g}</text>\n", X(x), Hh - bottom + 18, x);
  s += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n", (left + W - right) / 2, Hh - 8,
                   escape(x_label));
  s += fmt::format("<text x=\"14\" y=\"{0}\" transform=\"rotate(-90 14 {0})\" text-anchor=\"middle\">{1}</text>\n",
                   (top + Hh - bottom) / 2, escape(y_label));
  // One polyline per series, and its line in the legend.
  double legend_y = top + 10;
  for (size_t i = 0; i < series.size(); ++i) {
    std::string pts;
    for (const auto& [x, y] : series[i].xy)
      if (std::isfinite(x) && std::isfinite(y)) pts += fmt::format("{:.1f},{:.1f} ", X(x), Y(y));
    if (pts.empty()) continue;
    const char* colour = colours[i % std::size(colours)];
    s += fmt::format("<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"2\" points=\"{}\"/>\n", colour, pts);
    s += fmt::format(
        "<line x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\" stroke=\"{3}\" stroke-width=\"2\"/>"
        "<text x=\"{4}\" y=\"{5}\">{6}</text>\n",
        W - right - 170, legend_y, W - right - 150, colour, W - right - 144, legend_y + 4, escape(series[i].name));
    legend_y += 18;
  }
  return s + "</svg>\n";
}

std::string LossCurve::svg(const std::string& title) const {
  Series train{"training", {}}, val{"validation", {}};
  for (const Point& p : points_) {
    if (!std::isnan(p.train)) train.xy.emplace_back(static_cast<double>(p.step), p.train);
    if (!std::isnan(p.val)) val.xy.emplace_back(static_cast<double>(p.step), p.val);
  }
  return chart_svg(title, "step", "loss (nats/char)", {train, val});
}

void LossCurve::write_svg(const std::filesystem::path& path, const std::string& title) const {
  write_whole(path, svg(title));
}

}  // namespace rnnc::report
