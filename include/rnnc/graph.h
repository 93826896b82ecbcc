// The tensor expression IR: immutable, hash-consed nodes.
//
// A Node is an op applied to input nodes, with a dtype, a static shape and op-specific attributes
// (see ops.def). Nodes are interned: building a node structurally equal to a live one returns the
// existing node, so common subexpressions are shared by construction and node identity (pointer
// equality) is structural equality. A Var is the user's handle to a node.
#pragma once
#include <cstdint>
#include <memory>
#include <source_location>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "rnnc/dtype.h"
#include "rnnc/shape.h"
#include "rnnc/tensor.h"

namespace rnnc {

enum class Op : uint8_t {
#define OP(E, name, arity, cls) E,
#include "rnnc/ops.def"
#undef OP
};
inline constexpr int kNumOps = 0
#define OP(E, name, arity, cls) +1
#include "rnnc/ops.def"
#undef OP
    ;

enum class OpClass : uint8_t { Elementwise, Broadcast, Reduction, MatMul, Movement, Opaque };
// The dtypes column of UNARY and BINARY lines: float only, or also i32.
enum class OpDTypes : uint8_t { Float, Number };

struct OpInfo {
  std::string_view name;
  int arity;  // -1: variadic
  OpClass cls;
};
const OpInfo& info(Op op);
std::string_view name_of(Op op);
std::string_view name_of(OpClass c);

struct Node;
using NodePtr = std::shared_ptr<const Node>;
struct Loop;

struct Node {
  Op op = Op::Input;
  DType dtype = DType::f32;
  Shape shape{};
  std::vector<NodePtr> inputs{};
  std::vector<int64_t> ints{};              // axes, permutation, offsets (see ops.def)
  double scalar = 0;                        // Full: the value
  std::shared_ptr<const Tensor> literal{};  // Literal: the data
  int64_t uid = 0;                          // Input: identity
  std::string name{};                       // Input: the user's name for it
  std::shared_ptr<const Loop> loop{};       // Scan: the body (identity by pointer)
  std::source_location loc{};               // where the user built it (not part of identity)
  std::size_t hash = 0;
  uint64_t seq = 0;  // creation order (not part of identity; deterministic)

  int rank() const { return static_cast<int>(shape.size()); }
};

// Returns the interned node equal to `proto` (creating it if no live node is equal).
NodePtr intern(Node proto);
// Number of live interned nodes (for tests of hash-consing).
std::size_t interned_count();

// A symbolic tensor: the handle users compute with.
class Var {
 public:
  Var() = default;
  explicit Var(NodePtr n) : node_(std::move(n)) {}

  bool defined() const { return node_ != nullptr; }
  const NodePtr& node() const { return node_; }
  const Node* operator->() const { return node_.get(); }
  DType dtype() const { return node_->dtype; }
  const Shape& shape() const { return node_->shape; }
  int rank() const { return node_->rank(); }
  int64_t numel() const { return rnnc::numel(node_->shape); }
  Op op() const { return node_->op; }
  // Identity: the same interned node.
  bool same(const Var& o) const { return node_ == o.node_; }

 private:
  NodePtr node_;
};

// Nodes reachable from `outputs`, each after its inputs.
std::vector<NodePtr> topo_order(const std::vector<Var>& outputs);

// The graph of `outputs` with the nodes of `with` replaced (keyed by the old node); everything
// that depended on them is rebuilt. Nothing below a replaced node is visited.
std::vector<Var> substitute(const std::vector<Var>& outputs, const std::unordered_map<const Node*, Var>& with);

// The body of a scan (see scan.h): a graph over its own Input nodes, run once per time step.
//   inputs:  carries (c_t), then one slice x_t per sequence, then invariants (the weights)
//   outputs: the next carries (c_{t+1}), then one y_t per stacked output
// Every output of a scan is a Scan node (op Scan, ints = {output index}) whose inputs are the
// outer values bound to `inputs`: initial carries, sequences [T, ...], invariants.
struct Loop {
  std::vector<Var> inputs, outputs;
  int carries = 0, xs = 0;
  int64_t length = 0;    // T
  bool reverse = false;  // steps run T-1, ..., 0 (ys still stacked by step)
  // A loop over segments of another loop (recomputation, passes/checkpoint_loops.cpp): its work
  // stays inside, computed a segment at a time, so hoist_loops moves nothing out of it.
  bool segments = false;
  // A loop that keeps nothing of its T steps it need not (memory_budget on a function without a
  // backward loop, checkpoint_loops.cpp): hoist_loops moves nothing out of it either.
  bool lean = false;
  // Binomial checkpointing (Revolve) with this many slots, on a loop over one-step segments and
  // the loop that runs back over them (checkpoint_loops.cpp): the first keeps the carries it
  // stacks only in the slots, the second gets them by running the first again (lower_loops.cpp).
  int revolve = 0;
  bool keeps_work_inside() const { return segments || lean; }
  int invariants() const { return static_cast<int>(inputs.size()) - carries - xs; }
  int ys() const { return static_cast<int>(outputs.size()) - carries; }
};

// One run of a loop: its body and the outer values bound to it. The Scan nodes of one loop (one
// per output) share a key; autodiff, the interpreter and the lowering all group them by it.
using LoopKey = std::pair<const Loop*, std::vector<const Node*>>;
LoopKey loop_key(const Node& scan);

}  // namespace rnnc
