// The op table's run-time view and the hash-consing node store.
#include <cstring>
#include <mutex>
#include <unordered_map>
#include <unordered_set>

#include "rnnc/graph.h"

namespace rnnc {

namespace {
constexpr OpInfo kOpInfo[] = {
#define OP(E, name, arity, cls) {name, arity, OpClass::cls},
#include "rnnc/ops.def"
#undef OP
};
static_assert(std::size(kOpInfo) == kNumOps);

inline void mix(std::size_t& h, std::size_t v) { h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2); }

std::size_t hash_bytes(const void* p, std::size_t n) {
  return std::hash<std::string_view>{}(std::string_view(static_cast<const char*>(p), n));
}

std::size_t structural_hash(const Node& n) {
  std::size_t h = static_cast<std::size_t>(n.op);
  mix(h, static_cast<std::size_t>(n.dtype));
  for (int64_t d : n.shape) mix(h, std::hash<int64_t>{}(d));
  mix(h, 0xA11CE);
  for (const NodePtr& in : n.inputs) mix(h, std::hash<const Node*>{}(in.get()));
  for (int64_t v : n.ints) mix(h, std::hash<int64_t>{}(v));
  mix(h, std::hash<double>{}(n.scalar));
  mix(h, std::hash<int64_t>{}(n.uid));
  if (n.literal) mix(h, hash_bytes(n.literal->raw(), n.literal->nbytes()));
  if (n.loop) mix(h, std::hash<const Loop*>{}(n.loop.get()));
  return h;
}

bool same_literal(const std::shared_ptr<const Tensor>& a, const std::shared_ptr<const Tensor>& b) {
  if (a == b) return true;
  if (!a || !b) return false;
  return a->dtype() == b->dtype() && a->shape() == b->shape() && std::memcmp(a->raw(), b->raw(), a->nbytes()) == 0;
}

// Inputs are already interned, so comparing their pointers compares them structurally.
bool structurally_equal(const Node& a, const Node& b) {
  // Full(0.0) and Full(-0.0) compare equal as doubles but are different constants: compare bits.
  return a.op == b.op && a.dtype == b.dtype && a.shape == b.shape && a.inputs == b.inputs && a.ints == b.ints &&
         std::memcmp(&a.scalar, &b.scalar, sizeof(double)) == 0 && a.uid == b.uid && a.loop == b.loop &&
         same_literal(a.literal, b.literal);
}

struct Store {
  std::mutex mu;
  std::unordered_multimap<std::size_t, std::weak_ptr<const Node>> table;
  std::size_t sweep_at = 1024;
  uint64_t next_seq = 1;

  // Drops entries of nodes that died; amortised O(1) per insertion.
  void sweep() {
    for (auto it = table.begin(); it != table.end();) it = it->second.expired() ? table.erase(it) : std::next(it);
    sweep_at = std::max<std::size_t>(1024, 2 * table.size());
  }
};
Store& store() {
  static Store* s = new Store;  // never destroyed: nodes may outlive static destruction order
  return *s;
}
}  // namespace

const OpInfo& info(Op op) { return kOpInfo[static_cast<int>(op)]; }
std::string_view name_of(Op op) { return info(op).name; }
std::string_view name_of(OpClass c) {
  switch (c) {
    case OpClass::Elementwise: return "elementwise";
    case OpClass::Broadcast: return "broadcast";
    case OpClass::Reduction: return "reduction";
    case OpClass::MatMul: return "matmul";
    case OpClass::Movement: return "movement";
    case OpClass::Opaque: return "opaque";
  }
  return "?";
}

NodePtr intern(Node proto) {
  proto.hash = structural_hash(proto);
  Store& s = store();
  std::lock_guard lock(s.mu);
  auto [lo, hi] = s.table.equal_range(proto.hash);
  for (auto it = lo; it != hi; ++it)
    if (NodePtr live = it->second.lock(); live && structurally_equal(*live, proto)) return live;
  if (s.table.size() >= s.sweep_at) s.sweep();
  proto.seq = s.next_seq++;
  auto node = std::make_shared<const Node>(std::move(proto));
  s.table.emplace(node->hash, node);
  return node;
}

std::size_t interned_count() {
  Store& s = store();
  std::lock_guard lock(s.mu);
  std::size_t n = 0;
  for (auto& [h, w] : s.table) n += !w.expired();
  return n;
}

std::vector<NodePtr> topo_order(const std::vector<Var>& outputs) {
  // Iterative post-order DFS: recurrences unrolled for thousands of steps make deep graphs.
  std::vector<NodePtr> order;
  std::unordered_set<const Node*> seen;
  std::vector<std::pair<NodePtr, std::size_t>> stack;
  for (const Var& out : outputs) {
    if (!out.defined() || !seen.insert(out.node().get()).second) continue;
    stack.emplace_back(out.node(), 0);
    while (!stack.empty()) {
      auto& [n, next] = stack.back();
      if (next < n->inputs.size()) {
        const NodePtr& in = n->inputs[next++];
        if (seen.insert(in.get()).second) stack.emplace_back(in, 0);
      } else {
        order.push_back(n);
        stack.pop_back();
      }
    }
  }
  return order;
}

std::vector<Var> substitute(const std::vector<Var>& outputs, const std::unordered_map<const Node*, Var>& with) {
  std::unordered_map<const Node*, Var> done(with.begin(), with.end());
  std::vector<std::pair<NodePtr, std::size_t>> stack;
  auto visit = [&](const NodePtr& root) {
    if (done.count(root.get())) return;
    stack.emplace_back(root, 0);
    while (!stack.empty()) {
      auto& [n, next] = stack.back();
      if (next < n->inputs.size()) {
        const NodePtr& in = n->inputs[next++];
        if (!done.count(in.get())) stack.emplace_back(in, 0);
        continue;
      }
      bool changed = false;
      for (const NodePtr& in : n->inputs) changed |= done.at(in.get()).node() != in;
      Var v(n);
      if (changed) {
        Node copy = *n;
        for (NodePtr& in : copy.inputs) in = done.at(in.get()).node();
        v = Var(intern(std::move(copy)));
      }
      done.emplace(n.get(), v);
      stack.pop_back();
    }
  };
  std::vector<Var> result;
  for (const Var& o : outputs) {
    visit(o.node());
    result.push_back(done.at(o.node().get()));
  }
  return result;
}

}  // namespace rnnc
