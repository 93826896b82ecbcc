// Revolve's schedule (revolve.h), made by its recursion: to reverse steps [a, b) with c_a at hand
// and kept in slot d, and S slots from d on, run to a split point m, keep c_m in slot d + 1,
// reverse [m, b) with the S - 1 slots above, then take c_a back and reverse [a, m) with S. With
// one slot left, each position is reached from a again. The split minimises m + t(l - m, S - 1) +
// t(m, S) for the optimal cost t (revolve_cost), a convex function of m.
#include "exec/revolve.h"

#include <algorithm>
#include <cmath>

namespace rnnc::exec {

namespace {

constexpr int64_t kHuge = int64_t{1} << 60;

// C(n, k), saturating at kHuge.
int64_t binomial(int64_t n, int64_t k) {
  if (k < 0 || k > n) return 0;
  k = std::min(k, n - k);
  double v = 1;
  for (int64_t i = 1; i <= k; ++i) {
    v = v * static_cast<double>(n - k + i) / static_cast<double>(i);
    if (v >= static_cast<double>(kHuge)) return kHuge;
  }
  return std::llround(v);
}

int64_t beta(int S, int64_t r) { return r < 0 ? 0 : binomial(S + r, S); }

// Where to split l steps with S >= 2 slots: the split's length m.
int64_t split(int64_t l, int S) {
  auto cost = [&](int64_t m) { return m + revolve_cost(l - m, S - 1) + revolve_cost(m, S); };
  int64_t lo = 1, hi = l - 1;
  while (lo < hi) {  // the first m from which the cost stops falling
    const int64_t m = lo + (hi - lo) / 2;
    if (cost(m + 1) >= cost(m))
      hi = m;
    else
      lo = m + 1;
  }
  return lo;
}

class Builder {
 public:
  Builder(int64_t T, int S) {
    s_.steps = T;
    s_.slots = S;
    s_.kept.assign(static_cast<size_t>(T), -1);
    s_.back.resize(static_cast<size_t>(T));
    keep(0);
    reverse(0, T, 0, S);
  }
  RevolveSchedule take() { return std::move(s_); }

 private:
  void reverse(int64_t a, int64_t b, int d, int S) {
    const int64_t l = b - a;
    if (l == 1) return turn();
    if (S == 1) {
      for (int64_t t = b - 1; t >= a; --t) {
        if (t != b - 1) restore(d, a);
        advance(t);
        turn();
      }
      return;
    }
    const int64_t m = a + split(l, S);
    advance(m);
    keep(d + 1);
    reverse(m, b, d + 1, S - 1);
    restore(d, a);
    reverse(a, m, d, S);
  }

  void advance(int64_t to) {
    if (!sweeping_) s_.rerun += to - at_;
    at_ = to;
  }
  void keep(int slot) {
    if (sweeping_)
      s_.kept[at_] = slot;
    else
      next_.copies.emplace_back(at_, slot);
  }
  void restore(int slot, int64_t pos) {
    next_ = {slot, pos, {}};
    at_ = pos;
  }
  // The backward step for the position at hand. A copy of that carry just made is never read:
  // the step takes the carry directly, and the next one restores an earlier slot.
  void turn() {
    if (sweeping_) {
      if (at_ > 0) s_.kept[at_] = -1;
      sweeping_ = false;
    } else {
      if (!next_.copies.empty() && next_.copies.back().first == at_) next_.copies.pop_back();
      s_.back[at_] = next_;
    }
    next_ = {};
  }

  RevolveSchedule s_;
  bool sweeping_ = true;  // the forward pass: what it keeps costs nothing more
  int64_t at_ = 0;        // the position of the carry at hand
  RevolveSchedule::Back next_;
};

}  // namespace

int64_t revolve_steps(int S, int64_t r) { return beta(S, r); }

int64_t revolve_cost(int64_t l, int S) {
  if (l <= 1) return 0;
  if (S <= 1) return l * (l - 1) / 2;
  int64_t r = 0;
  while (beta(S, r) < l) ++r;
  return r * l - beta(S + 1, r - 1);
}

RevolveSchedule revolve(int64_t T, int S) { return Builder(T, std::max(S, 1)).take(); }

}  // namespace rnnc::exec
