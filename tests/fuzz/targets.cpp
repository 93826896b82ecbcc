#include "targets.h"

#include <cmath>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "codegen/object_cache.h"
#include "exec/serialize.h"
#include "rnnc/autodiff.h"
#include "rnnc/checkpoint.h"
#include "rnnc/data.h"
#include "rnnc/interpreter.h"
#include "rnnc/ops.h"
#include "rnnc/train.h"

namespace rnnc::fuzz {

namespace {

// The input as a stream of choices; past its end every choice is 0.
struct Choices {
  const uint8_t* p;
  size_t n, at = 0;
  uint8_t next() { return at < n ? p[at++] : 0; }
  bool done() const { return at >= n; }
  int64_t small() { return static_cast<int8_t>(next()) % 6; }  // -5..5: attributes, in range or not
};

// A property a target checks: its failure is a bug, reported as a crash.
void require(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

void checkpoint(const uint8_t* data, size_t size) {
  try {
    const io::Checkpoint c = io::parse(std::string_view(reinterpret_cast<const char*>(data), size));
    double sum = 0;
    for (const auto& [name, t] : c.tensors)
      for (int64_t i = 0; i < t.numel(); ++i) sum += t.at(i);  // every element is readable
    (void)sum;
    // The trainer's reader of its metadata (resume): what it accepts is in range.
    const nn::detail::Resumed r = nn::detail::read_training_state(c);
    require(r.step >= 0 && r.optim_steps >= 0 && std::isfinite(r.lr) && r.lr >= 0 && !std::isnan(r.best_val));
  } catch (const Error&) {}
}

void text(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  std::u32string t;
  try {
    t = data::decode_utf8(bytes);
  } catch (const Error&) {
    return;
  }
  require(data::encode_utf8(t) == bytes);  // valid UTF-8 round-trips exactly
  const data::Vocab v = data::Vocab::of(t);
  const Tensor ids = v.encode(t);
  std::vector<int> idx;
  for (int64_t i = 0; i < ids.numel(); ++i) idx.push_back(static_cast<int>(ids.at(i)));
  require(v.decode(idx) == bytes);
  try {
    const data::Vocab w = data::Vocab::from_chars(t);  // an Error when t repeats a character
    require(w.size() == static_cast<int>(t.size()));
  } catch (const Error&) {}
}

void graph(const uint8_t* data, size_t size) {
  Choices c{data, size};
  const DType dtypes[] = {DType::f32, DType::f64, DType::i32};
  std::vector<Var> inputs, pool;
  const int n_inputs = 1 + c.next() % 3;
  for (int i = 0; i < n_inputs; ++i) {
    Shape shape(c.next() % 4);
    for (int64_t& e : shape) e = c.next() % 5;
    std::string name = "x";
    name += std::to_string(i);
    inputs.push_back(input(shape, dtypes[c.next() % 3], name));
  }
  pool = inputs;
  for (int step = 0; step < 12 && !c.done(); ++step) {
    const Var x = pool[c.next() % pool.size()], y = pool[c.next() % pool.size()];
    const int64_t a = c.small(), b = c.small(), d = c.small();
    Var out;
    try {
      switch (c.next() % 30) {
        case 0: out = -x; break;
        case 1: out = exp(x); break;
        case 2: out = log(x); break;
        case 3: out = tanh(x); break;
        case 4: out = sigmoid(x); break;
        case 5: out = relu(x); break;
        case 6: out = sqrt(x); break;
        case 7: out = hard_sigmoid(x); break;
        case 8: out = softplus(x); break;
        case 9: out = sign(x) + abs(x); break;
        case 10: out = x + y; break;
        case 11: out = x * y - y; break;
        case 12: out = x / y; break;
        case 13: out = pow(x, y); break;
        case 14: out = maximum(x, y) + minimum(x, y); break;
        case 15: out = where(x < y, x, y); break;
        case 16: out = matmul(x, y); break;
        case 17: out = reshape(x, {a, b}); break;
        case 18: out = transpose(x, {a, b, d}); break;
        case 19: out = slice(x, a, b, d); break;
        case 20: out = concat({x, y}, a); break;
        case 21: out = sum(x, {a}, b > 0); break;
        case 22: out = max(x, {a, b}); break;
        case 23: out = cast(x, dtypes[c.next() % 3]); break;
        case 24: out = broadcast_to(x, {a, b}); break;
        case 25: out = pad(x, {a, b}, {d, a}); break;
        case 26: out = gather(x, y); break;
        case 27: out = one_hot(y, a); break;
        case 28: out = mean(x, {a}); break;
        default: out = softmax(x, a); break;
      }
    } catch (const Error&) {
      continue;  // refused with a message: fine
    }
    if (out.numel() > 4096) continue;  // repeated gathers grow 5^k: a legal graph, but not this fuzzer's business
    pool.push_back(out);
  }
  // Run it, and its gradient when it has one, on small values (indices stay in range mostly).
  std::vector<Tensor> args;
  for (const Var& in : inputs) {
    Tensor t(in.dtype(), in.shape());
    for (int64_t i = 0; i < t.numel(); ++i)
      t.set(i, static_cast<double>(c.next() % 4) - (in.dtype() == DType::i32 ? 0 : 1.5));
    args.push_back(t);
  }
  const Var last = pool.back();
  try {
    interpret(Function{inputs, {last}, {}}, args);
    if (is_float(last.dtype())) {
      const Function g = grad(Function{inputs, {sum(cast(last, DType::f64))}, {}});
      interpret(g, args);
    }
  } catch (const Error&) {}
}

void program(const uint8_t* data, size_t size) {
  try {
    const exec::Schedule s = exec::deserialize(std::string_view(reinterpret_cast<const char*>(data), size));
    exec::check_references(s, 64);
    for (const Tensor& t : s.literals)
      for (int64_t i = 0; i < t.numel(); ++i) (void)t.at(i);  // every literal is whole
  } catch (const Error&) {}
}

void kernel_cache(const uint8_t* data, size_t size) {
  if (size == 0) return;
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  const std::string file = data[0] % 2 ? codegen::cached_object_file(rest) : std::string(rest);
  const codegen::CachedObject c = codegen::read_cached_object(file);
  require(c.why.empty() ? !c.object.empty() : c.object.empty());
  if (c.why.empty()) require(codegen::read_cached_object(codegen::cached_object_file(c.object)).why.empty());
}

}  // namespace rnnc::fuzz
