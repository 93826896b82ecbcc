// Reporting long runs: a progress line (loss, chars/s, ETA) redrawn in place on a terminal and
// printed as plain lines otherwise, and loss curves written as CSV and drawn as an SVG chart.
#pragma once
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <optional>
#include <string>
#include <vector>

namespace rnnc::report {

class Progress {
 public:
  // total: steps planned (0: not known); chars_per_step: characters one step trains on; every: plain-line period.
  Progress(long total, long chars_per_step, long every = 100, std::FILE* out = stdout);
  void update(long step, double loss);  // step counts from 1
  void finish();                        // ends the redrawn line
  double chars_per_s() const;

 private:
  long total_, chars_, every_;
  std::FILE* out_;
  bool tty_;
  long last_ = 0;
  std::chrono::steady_clock::time_point start_, drawn_;
};

struct Point {
  long step;
  double seconds;     // since the run started
  double train, val;  // NaN where not measured
};

class LossCurve {
 public:
  void add(const Point& p) { points_.push_back(p); }
  const std::vector<Point>& points() const { return points_; }
  void write_csv(const std::filesystem::path& path) const;  // step,seconds,train_loss,val_loss
  void write_svg(const std::filesystem::path& path, const std::string& title) const;  // both losses by step
  std::string svg(const std::string& title) const;
  // A curve written by write_csv (or in its format by another program: bench/torch_quality.py);
  // an Error names the file and the line that does not read.
  static LossCurve read_csv(const std::filesystem::path& path);

 private:
  std::vector<Point> points_;
};

// A line chart as an SVG: one polyline per series, axes with ticks, a legend.
struct Series {
  std::string name;
  std::vector<std::pair<double, double>> xy;
};
std::string chart_svg(const std::string& title, const std::string& x_label, const std::string& y_label,
                      const std::vector<Series>& series);

// The last line of every example and of rnnc train: `summary: {"train_loss": 1.23, ...}`, written
// by a JSON library, so it always parses. A field without a value (nullopt: no step ran) or with a
// non-finite one is null, and "null_because" says why ({"train_loss": "nan"}).
struct Field {
  std::string name;
  std::optional<double> value;
  std::string missing_because = "not measured";  // for nullopt
};
std::string summary_line(const std::vector<Field>& fields);

}  // namespace rnnc::report
