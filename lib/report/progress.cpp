#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>

#include "rnnc/report.h"

namespace rnnc::report {

Progress::Progress(long total, long chars_per_step, long every, std::FILE* out)
    : total_(total),
      chars_(chars_per_step),
      every_(std::max(1L, every)),
      out_(out),
      tty_(::isatty(::fileno(out)) != 0),
      start_(std::chrono::steady_clock::now()),
      drawn_(start_) {}

double Progress::chars_per_s() const {
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  return s > 0 ? static_cast<double>(last_) * chars_ / s : 0;
}

void Progress::update(long step, double loss) {
  last_ = step;
  const bool plain_due = !tty_ && (step % every_ == 0 || step == total_);
  if (!tty_ && !plain_due) return;  // nothing to print: no clock, no formatting
  const auto now = std::chrono::steady_clock::now();
  // Redraw at most ten times a second.
  if (tty_ && step != total_ && std::chrono::duration<double>(now - drawn_).count() < 0.1) return;
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const double eta = step > 0 ? elapsed / step * static_cast<double>(total_ - step) : 0;
  // Without a planned number of steps (a budget in time, say) there is no total and no ETA.
  const std::string line =
      total_ > 0 ? fmt::format("step {}/{}  loss {:.4f}  {:.0f} chars/s  ETA {:02}:{:02}", step, total_, loss,
                               chars_per_s(), static_cast<long>(eta) / 60, static_cast<long>(eta) % 60)
                 : fmt::format("step {}  loss {:.4f}  {:.0f} chars/s", step, loss, chars_per_s());
  if (tty_) {
    drawn_ = now;
    fmt::print(out_, "\r\x1b[K{}", line);
    std::fflush(out_);
  } else {
    fmt::print(out_, "{}\n", line);
  }
}

void Progress::finish() {
  if (tty_) fmt::print(out_, "\n");
}

}  // namespace rnnc::report
