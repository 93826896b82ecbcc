// Memory planning: one arena per compiled graph, sized once.
//
// Buffers are placed in step order: a buffer is allocated (first fit, 64-byte aligned) when the
// step that first writes it runs and freed after the last step that reads it, so buffers whose
// lifetimes do not overlap share memory. A step's outputs are allocated before its inputs are
// freed, so a kernel never writes memory it reads (its pointers are noalias).
#include <algorithm>
#include <map>

#include "passes/schedule.h"

namespace rnnc::sched {

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

void plan_memory(Schedule& s) {
  const size_t n = s.buffers.size();
  std::vector<int> first(n, -1), last(n, -1);
  for (size_t i = 0; i < s.steps.size(); ++i) {
    for (int b : s.steps[i].writes) {
      if (first[b] < 0) first[b] = static_cast<int>(i);
      last[b] = std::max(last[b], static_cast<int>(i));
    }
    for (int b : s.steps[i].reads) last[b] = std::max(last[b], static_cast<int>(i));
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

}  // namespace rnnc::sched
