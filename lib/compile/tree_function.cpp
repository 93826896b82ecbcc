// Functions over trees (tree_function.h): the part that does not depend on the user's types —
// one program per shape signature, the structure checks that name a leaf, and the Rng's draws.
#include "rnnc/tree_function.h"

#include <fmt/format.h>

#include <unordered_set>

#include "rnnc/autodiff.h"
#include "rnnc/interpreter.h"

namespace rnnc {

// ---- Rng: counter-based (splitmix64 of seed, draw, request and element), so any draw of any
// request can be computed on its own, in any order, and a resumed run draws what the
// uninterrupted one would have.
namespace {
uint64_t mix(uint64_t z) {
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
}  // namespace

Var Rng::uniform(const Shape& shape, DType dtype, Loc loc) {
  if (!training_)
    fail("rng.uniform", "this Rng is for evaluation (Rng::evaluation()) and draws nothing; test rng.training()", loc);
  if (!recorder_)
    fail("rng.uniform", "only inside a function traced by compile() or interpret(), with the Rng as its argument", loc);
  Var v = input(shape, dtype, fmt::format("rng.{}", recorder_->size()), loc);
  recorder_->push_back(v);
  return v;
}

namespace {
// Element i of a tensor of `shape` is element global(i) of the whole batch's tensor.
Tensor draw_values(uint64_t seed, uint64_t draw, std::size_t k, const Shape& shape, DType dtype, int axis, int64_t rank,
                   int64_t ranks) {
  Tensor t = Tensor::empty(shape, dtype);
  const uint64_t key = mix(mix(mix(seed) ^ draw) ^ k);
  const int64_t n = t.numel();
  const bool sharded = axis >= 0 && axis < static_cast<int>(shape.size()) && ranks > 1;
  int64_t inner = 1;
  for (std::size_t d = sharded ? static_cast<std::size_t>(axis) + 1 : shape.size(); d < shape.size(); ++d)
    inner *= shape[d];
  const int64_t rows = sharded ? shape[static_cast<std::size_t>(axis)] : 1;
  auto global = [&](int64_t i) {  // i = (outer, row, in) locally -> (outer, rank rows + row, in) globally
    if (!sharded) return i;
    const int64_t in = i % inner, row = (i / inner) % rows, outer = i / (inner * rows);
    return (outer * ranks * rows + rank * rows + row) * inner + in;
  };
  constexpr double scale = 1.0 / 9007199254740992.0;  // 2^-53
  if (dtype == DType::f32) {
    float* p = t.data<float>();
    for (int64_t i = 0; i < n; ++i)
      p[i] = static_cast<float>((mix(key + static_cast<uint64_t>(global(i))) >> 40) * (1.0 / 16777216.0));
  } else {
    for (int64_t i = 0; i < n; ++i) t.set(i, (mix(key + static_cast<uint64_t>(global(i))) >> 11) * scale);
  }
  return t;
}
}  // namespace

Tensor Rng::values(uint64_t seed, uint64_t draw, std::size_t k, const Shape& shape, DType dtype) {
  return draw_values(seed, draw, k, shape, dtype, -1, 0, 1);
}

Tensor Rng::values(std::size_t k, const Shape& shape, DType dtype) const {
  return draw_values(seed_, draws_, k, shape, dtype, shard_axis_, shard_rank_, shard_ranks_);
}

namespace detail {

struct Programs::Program {
  std::vector<Shape> shapes;  // of the leaves: the signature
  bool training = true;       // with the Rng's mode
  Function f;
  Compiled compiled;
  std::vector<Var> random;              // Rng requests (inputs after the leaves)
  std::vector<std::size_t> zero_grads;  // positions among the gradients of non-floating leaves
  std::vector<int> wrt;                 // the differentiated leaves, one per gradient output
  std::shared_ptr<const void> structure;
};

// The first leaf whose dtype, or (in the differentiated first argument) shape, differs from the
// first trace's; -1 when none does.
static int changed_leaf(const std::vector<Tensor>& leaves, const std::vector<DType>& dtypes,
                        const std::vector<Shape>& param_shapes) {
  for (std::size_t i = 0; i < leaves.size(); ++i)
    if (leaves[i].dtype() != dtypes[i] || (i < param_shapes.size() && leaves[i].shape() != param_shapes[i]))
      return static_cast<int>(i);
  return -1;
}

int Programs::find(const std::vector<Tensor>& leaves, bool training) const {
  if (programs_.empty()) return -1;
  if (leaves.size() != dtypes_.size() || changed_leaf(leaves, dtypes_, param_shapes_) >= 0) return -2;
  for (std::size_t p = 0; p < programs_.size(); ++p) {
    const std::vector<Shape>& s = programs_[p]->shapes;
    bool same = programs_[p]->training == training;
    for (std::size_t i = 0; i < leaves.size() && same; ++i) same = leaves[i].shape() == s[i];
    if (same) return static_cast<int>(p);
  }
  return -1;
}

void Programs::explain(const std::vector<Tensor>& leaves, const std::vector<std::string>& now) const {
  if (leaves.size() != dtypes_.size()) {
    std::size_t i = 0;
    while (i < now.size() && i < paths_.size() && now[i] == paths_[i]) ++i;
    throw Error(
        i < now.size()
            ? fmt::format("rnnc: compiled function: the trees changed since it was traced: leaf '{}' is new{}", now[i],
                          i < paths_.size() ? fmt::format(" (where '{}' was)", paths_[i]) : "")
            : fmt::format("rnnc: compiled function: the trees changed since it was traced: leaf '{}' is missing",
                          paths_[i]));
  }
  if (const int i = changed_leaf(leaves, dtypes_, param_shapes_); i >= 0) {
    const bool param = static_cast<std::size_t>(i) < param_shapes_.size();
    throw Error(fmt::format("rnnc: compiled function: leaf '{}' was {}{} when traced, is {}{}", paths_[i],
                            name_of(dtypes_[i]), param ? to_string(param_shapes_[i]) : std::string(),
                            name_of(leaves[i].dtype()), param ? to_string(leaves[i].shape()) : std::string()));
  }
  throw Error("rnnc: compiled function: the trees changed since it was traced");
}

int Programs::add(TracedCall call, std::shared_ptr<const void> structure, const std::vector<Tensor>& leaves,
                  bool training) {
  auto P = std::make_shared<Program>();
  P->training = training;
  for (const Tensor& t : leaves) P->shapes.push_back(t.shape());
  if (programs_.empty()) {
    for (const Var& v : call.inputs) paths_.push_back(v->name), dtypes_.push_back(v.dtype());
    for (int i = 0; i < call.params; ++i) param_shapes_.push_back(call.inputs[i].shape());
  }
  Function f;
  f.inputs = call.inputs;
  f.inputs.insert(f.inputs.end(), call.random.begin(), call.random.end());
  f.outputs = call.outputs;
  if (transform_ != Transform::None) {
    const Var& loss = call.outputs.at(0);
    if (loss.numel() != 1 || !is_float(loss.dtype()))
      throw Error(fmt::format("rnnc: value_and_grad: the loss must be one floating-point number, not {}{}",
                              name_of(loss.dtype()), to_string(loss.shape())));
    // Every differentiated leaf must reach the loss: one that does not usually means the function
    // computed with a tree it captured instead of the one it was given.
    std::unordered_set<const Node*> reached;
    for (const NodePtr& n : topo_order({loss})) reached.insert(n.get());
    std::vector<int> wrt;
    for (int i = 0; i < call.params; ++i) {
      const Var& in = call.inputs[i];
      if (!is_float(in.dtype())) {
        P->zero_grads.push_back(i);
        continue;
      }
      if (!reached.count(in.node().get()))
        throw Error(
            fmt::format("rnnc: value_and_grad: the loss does not depend on leaf '{}' of the differentiated "
                        "tree (did the function use a tree it captured instead of its argument?)",
                        in->name));
      wrt.push_back(i);
    }
    if (wrt.empty())
      throw Error("rnnc: value_and_grad: the first argument has no floating-point leaves to differentiate");
    f = transform_ == Transform::Grad ? grad(f, wrt) : value_and_grad(f, wrt, /*has_aux=*/true);
    P->wrt = wrt;
  }
  P->f = f;
  P->random = call.random;
  P->structure = std::move(structure);
  if (!interpret_) P->compiled = compile(f, options_);
  programs_.push_back(std::move(P));
  return static_cast<int>(programs_.size()) - 1;
}

std::vector<Tensor> Programs::run(int program, std::vector<Tensor> args, const Rng* rng, const CallHooks& hooks) const {
  const Program& P = *programs_.at(program);
  if (!P.random.empty() && !rng)
    throw Error("rnnc: compiled function: it draws random numbers (rng.uniform) but was called without an Rng");
  for (std::size_t k = 0; k < P.random.size(); ++k)
    args.push_back(rng->values(k, P.random[k].shape(), P.random[k].dtype()));
  // The gradients are the last outputs, one per differentiated leaf.
  const int first_grad = static_cast<int>(P.f.outputs.size() - P.wrt.size());
  RunHooks run_hooks{nullptr, hooks.between_steps};
  if (hooks.gradient_ready)
    run_hooks.ready = [&](int k, const Tensor& v) {
      if (k >= first_grad) hooks.gradient_ready(P.wrt[static_cast<std::size_t>(k - first_grad)], v);
    };
  std::vector<Tensor> out;
  if (interpret_) {
    out = interpret(P.f, args);
    if (run_hooks.ready)
      for (std::size_t k = 0; k < out.size(); ++k) run_hooks.ready(static_cast<int>(k), out[k]);
  } else {
    out = P.compiled(args, run_hooks);
  }
  if (!P.zero_grads.empty()) {  // non-floating leaves of the first argument get zero "gradients"
    const std::size_t first = out.size() - (param_shapes_.size() - P.zero_grads.size());
    for (std::size_t i : P.zero_grads)
      out.insert(out.begin() + first + i, Tensor::zeros(args[i].shape(), args[i].dtype()));
  }
  return out;
}

const void* Programs::structure(int program) const { return programs_.at(program)->structure.get(); }
static void check_program(int program, int count) {
  if (program < 0 || program >= count)
    throw Error(count == 0
                    ? "rnnc: compile: nothing is traced yet: a tree function is traced and compiled at its first "
                      "call (signatures() counts them)"
                    : fmt::format("rnnc: compile: program {} of {} (signatures() counts them)", program, count));
}
const Function& Programs::function(int program) const {
  check_program(program, count());
  return programs_[program]->f;
}
const Compiled& Programs::compiled(int program) const {
  check_program(program, count());
  return programs_[program]->compiled;
}
int Programs::count() const { return static_cast<int>(programs_.size()); }

}  // namespace detail
}  // namespace rnnc
