// Memory planning: one arena per compiled graph, sized once.
//
// A buffer lives from the step that first writes it to the last step that reads it (both
// included), and buffers whose lifetimes do not overlap share memory. A step's outputs and inputs
// are alive together at that step, so a kernel never writes memory it reads (its pointers are
// noalias).
#include <algorithm>
#include <map>

#include "lower/schedule.h"

namespace rnnc::lower {

namespace {

constexpr int64_t kAlign = 64;

class FreeList {
 public:
  int64_t allocate(int64_t bytes) {
    bytes = (bytes + kAlign - 1) / kAlign * kAlign;
    for (auto it = free_.begin(); it != free_.end(); ++it) {
      if (it->second < bytes) continue;
      const int64_t at = it->first, size = it->second;
      free_.erase(it);
      if (size > bytes) free_[at + bytes] = size - bytes;
      return at;
    }
    // Grow the arena, reusing a free block that ends at the top.
    int64_t at = top_;
    if (!free_.empty()) {
      auto last = std::prev(free_.end());
      if (last->first + last->second == top_) {
        at = last->first;
        free_.erase(last);
      }
    }
    top_ = at + bytes;
    return at;
  }
  void release(int64_t at, int64_t bytes) {
    bytes = (bytes + kAlign - 1) / kAlign * kAlign;
    auto it = free_.emplace(at, bytes).first;
    if (auto next = std::next(it); next != free_.end() && at + it->second == next->first) {
      it->second += next->second;
      free_.erase(next);
    }
    if (it != free_.begin()) {
      auto prev = std::prev(it);
      if (prev->first + prev->second == it->first) {
        prev->second += it->second;
        free_.erase(it);
      }
    }
  }
  int64_t top() const { return top_; }

 private:
  std::map<int64_t, int64_t> free_;  // offset -> size
  int64_t top_ = 0;
};

}  // namespace

void plan_memory(exec::Schedule& s) {
  const size_t n = s.buffers.size();
  std::vector<int> first(n, -1), last(n, -1);
  for (size_t i = 0; i < s.steps.size(); ++i) {
    for (int b : s.steps[i].writes) {
      if (first[b] < 0) first[b] = static_cast<int>(i);
      last[b] = std::max(last[b], static_cast<int>(i));
    }
    for (int b : s.steps[i].reads) last[b] = std::max(last[b], static_cast<int>(i));
  }
  // Offline placement: buffers in a chosen order, each at the lowest offset that no buffer alive
  // at the same time occupies (so a small buffer born in a large one's hole cannot push the next
  // large buffer to the top of the arena). Quadratic, so very long unrolled schedules fall back
  // to first fit in step order.
  constexpr size_t kGreedyLimit = 4096;
  std::vector<int> placed_order;
  for (size_t b = 0; b < n; ++b)
    if (first[b] >= 0) placed_order.push_back(static_cast<int>(b));
  if (placed_order.size() <= kGreedyLimit) {
    auto bytes = [&](int b) { return (std::max<int64_t>(s.buffers[b].bytes, 1) + kAlign - 1) / kAlign * kAlign; };
    // Places buffers in the given order, each at the lowest offset free during its lifetime.
    auto place = [&](const std::vector<int>& order, std::vector<int64_t>& offset) {
      std::vector<int> placed;
      int64_t top = 0;
      std::vector<std::pair<int64_t, int64_t>> taken;  // [offset, end) of live-overlapping buffers
      for (int b : order) {
        taken.clear();
        for (int q : placed)
          if (first[q] <= last[b] && first[b] <= last[q]) taken.emplace_back(offset[q], offset[q] + bytes(q));
        std::sort(taken.begin(), taken.end());
        int64_t at = 0;
        for (const auto& [lo, hi] : taken) {
          if (at + bytes(b) <= lo) break;
          at = std::max(at, hi);
        }
        offset[b] = at;
        top = std::max(top, at + bytes(b));
        placed.push_back(b);
      }
      return top;
    };
    // Three orders, the smallest arena wins: largest first; largest footprint (bytes x steps alive)
    // first; longest-lived first, which keeps what backpropagation saves together and lets the
    // short-lived large buffers (a projection before the loop, the gate gradients after it) share
    // the space above it.
    std::vector<int> by_size = placed_order, by_area = placed_order;
    std::stable_sort(by_size.begin(), by_size.end(), [&](int a, int b) { return bytes(a) > bytes(b); });
    auto area = [&](int b) { return static_cast<double>(bytes(b)) * (last[b] - first[b] + 1); };
    std::stable_sort(by_area.begin(), by_area.end(), [&](int a, int b) { return area(a) > area(b); });
    std::vector<int> by_life = placed_order;
    std::stable_sort(by_life.begin(), by_life.end(), [&](int a, int b) {
      return last[a] - first[a] != last[b] - first[b] ? last[a] - first[a] > last[b] - first[b] : bytes(a) > bytes(b);
    });
    std::vector<int64_t> best;
    s.arena_bytes = -1;
    for (const std::vector<int>* order : {&by_size, &by_area, &by_life}) {
      std::vector<int64_t> offset(n, -1);
      const int64_t top = place(*order, offset);
      if (s.arena_bytes < 0 || top < s.arena_bytes) {
        s.arena_bytes = top;
        best = std::move(offset);
      }
    }
    for (int b : placed_order) s.buffers[b].offset = best[b];
    return;
  }
  std::vector<std::vector<int>> born(s.steps.size()), dies(s.steps.size());
  for (size_t b = 0; b < n; ++b) {
    if (first[b] < 0) continue;  // never written: a value kept in registers
    born[first[b]].push_back(static_cast<int>(b));
    dies[last[b]].push_back(static_cast<int>(b));
  }
  FreeList fl;
  for (size_t i = 0; i < s.steps.size(); ++i) {
    for (int b : born[i]) s.buffers[b].offset = fl.allocate(std::max<int64_t>(s.buffers[b].bytes, 1));
    for (int b : dies[i]) fl.release(s.buffers[b].offset, std::max<int64_t>(s.buffers[b].bytes, 1));
  }
  s.arena_bytes = fl.top();
}

}  // namespace rnnc::lower
