#include "rnnc/tensor.h"

#include <fmt/format.h>

#include <cmath>
#include <limits>
#include <cstring>

#include "rnnc/error.h"

namespace rnnc {

namespace {
// Calls f with a typed pointer to the tensor's elements.
template <class F> decltype(auto) visit(DType t, void* p, F&& f) {
  switch (t) {
    case DType::f32: return f(static_cast<float*>(p));
    case DType::f64: return f(static_cast<double*>(p));
    case DType::i32: return f(static_cast<int32_t*>(p));
    case DType::bf16: return f(static_cast<bf16*>(p));
    case DType::i8: return f(static_cast<int8_t*>(p));
  }
  throw Error("rnnc: tensor: bad dtype");
}

void check_shape(const Shape& shape, const char* who) {
  for (int64_t d : shape)
    if (d < 0) throw Error(fmt::format("rnnc: {}: negative extent in shape {}", who, to_string(shape)));
}
}  // namespace

Tensor::Tensor(DType dtype, Shape shape) : Tensor(dtype, std::move(shape), true) {}

Tensor::Tensor(DType dtype, Shape shape, bool zero) : dtype_(dtype), shape_(std::move(shape)) {
  check_shape(shape_, "Tensor");
  numel_ = rnnc::numel(shape_);
  // 64-byte alignment suits AVX-512 loads in the compiled kernels.
  size_t bytes = std::max<size_t>(nbytes(), 1);
  bytes = (bytes + 63) / 64 * 64;
  auto* p = static_cast<std::byte*>(::operator new[](bytes, std::align_val_t{64}));
  if (zero) std::memset(p, 0, bytes);
  storage_ = std::shared_ptr<std::byte[]>(p, [](std::byte* q) { ::operator delete[](q, std::align_val_t{64}); });
}

Tensor Tensor::zeros(const Shape& shape, DType dtype) { return Tensor(dtype, shape); }

Tensor Tensor::empty(const Shape& shape, DType dtype) { return Tensor(dtype, shape, false); }

Tensor Tensor::wrap(void* data, const Shape& shape, DType dtype) {
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = shape;
  t.numel_ = rnnc::numel(shape);
  // Aliasing constructor with no owner: the caller keeps the memory alive.
  t.storage_ = std::shared_ptr<std::byte[]>(std::shared_ptr<std::byte[]>(), static_cast<std::byte*>(data));
  return t;
}

Tensor Tensor::full(const Shape& shape, double value, DType dtype) {
  Tensor t(dtype, shape);
  visit(dtype, t.raw(), [&](auto* p) {
    using T = std::remove_pointer_t<decltype(p)>;
    std::fill(p, p + t.numel(), static_cast<T>(value));
  });
  return t;
}

Tensor Tensor::scalar(double value, DType dtype) { return full({}, value, dtype); }

Tensor Tensor::from(const std::vector<double>& values, const Shape& shape, DType dtype) {
  Tensor t(dtype, shape);
  if (static_cast<int64_t>(values.size()) != t.numel())
    throw Error(fmt::format("rnnc: Tensor::from: {} values do not fill shape {} ({} elements)", values.size(),
                            to_string(shape), t.numel()));
  for (int64_t i = 0; i < t.numel(); ++i) t.set(i, values[i]);
  return t;
}

Tensor Tensor::uniform(const Shape& shape, double lo, double hi, std::mt19937_64& rng, DType dtype) {
  Tensor t(dtype, shape);
  std::uniform_real_distribution<double> d(lo, hi);
  for (int64_t i = 0; i < t.numel(); ++i) t.set(i, d(rng));
  return t;
}

Tensor Tensor::normal(const Shape& shape, double mean, double stddev, std::mt19937_64& rng, DType dtype) {
  Tensor t(dtype, shape);
  std::normal_distribution<double> d(mean, stddev);
  for (int64_t i = 0; i < t.numel(); ++i) t.set(i, d(rng));
  return t;
}

template <class T> static constexpr DType dtype_of() {
  if constexpr (std::is_same_v<T, float>)
    return DType::f32;
  else if constexpr (std::is_same_v<T, double>)
    return DType::f64;
  else if constexpr (std::is_same_v<T, bf16>)
    return DType::bf16;
  else
    return DType::i32;
}

template <class T> T* Tensor::data() {
  if (dtype_of<T>() != dtype_)
    throw Error(fmt::format("rnnc: tensor: asked for {} data of a {} tensor", name_of(dtype_of<T>()), name_of(dtype_)));
  return reinterpret_cast<T*>(storage_.get());
}
template <class T> const T* Tensor::data() const { return const_cast<Tensor*>(this)->data<T>(); }
template float* Tensor::data<float>();
template double* Tensor::data<double>();
template int32_t* Tensor::data<int32_t>();
template const float* Tensor::data<float>() const;
template const double* Tensor::data<double>() const;
template const int32_t* Tensor::data<int32_t>() const;
template bf16* Tensor::data<bf16>();
template const bf16* Tensor::data<bf16>() const;

double Tensor::at(int64_t i) const {
  return visit(dtype_, storage_.get(), [&](auto* p) { return static_cast<double>(p[i]); });
}

void Tensor::set(int64_t i, double v) {
  visit(dtype_, storage_.get(), [&](auto* p) {
    using T = std::remove_pointer_t<decltype(p)>;
    if constexpr (std::is_integral_v<T>) {
      // A float outside the integer range (or NaN) has no integer value, and converting it is
      // undefined behaviour in C++: saturate, and NaN gives 0 (LLVM's fptosi.sat, which the
      // compiled cast uses too). Found by the graph fuzzer.
      constexpr double lo = std::numeric_limits<T>::min(), hi = std::numeric_limits<T>::max();
      p[i] = std::isnan(v) ? T(0)
             : v <= lo     ? std::numeric_limits<T>::min()
             : v >= hi     ? std::numeric_limits<T>::max()
                           : static_cast<T>(v);
    } else {
      p[i] = static_cast<T>(v);
    }
  });
}

double Tensor::item() const {
  if (numel_ != 1) throw Error(fmt::format("rnnc: tensor: item() of a tensor of shape {}", to_string(shape_)));
  return at(0);
}

std::vector<double> Tensor::values() const {
  std::vector<double> v(numel_);
  for (int64_t i = 0; i < numel_; ++i) v[i] = at(i);
  return v;
}

Tensor Tensor::to(DType dtype) const {
  if (dtype == dtype_) return *this;
  Tensor t(dtype, shape_);
  for (int64_t i = 0; i < numel_; ++i) t.set(i, at(i));
  return t;
}

Tensor Tensor::clone() const {
  Tensor t(dtype_, shape_);
  if (nbytes()) std::memcpy(t.raw(), raw(), nbytes());
  return t;
}

Tensor Tensor::reshaped(const Shape& shape) const {
  check_shape(shape, "Tensor::reshaped");
  if (rnnc::numel(shape) != numel_)
    throw Error(fmt::format("rnnc: Tensor::reshaped: cannot view {} as {}", to_string(shape_), to_string(shape)));
  Tensor t = *this;
  t.shape_ = shape;
  return t;
}

std::string Tensor::str(int max_elements) const {
  std::string s = fmt::format("{}{} [", name_of(dtype_), to_string(shape_));
  for (int64_t i = 0; i < numel_ && i < max_elements; ++i) s += fmt::format("{}{:.6g}", i ? ", " : "", at(i));
  if (numel_ > max_elements) s += ", ...";
  return s + "]";
}

double max_abs_diff(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape())
    throw Error(fmt::format("rnnc: max_abs_diff: shapes {} and {} differ", to_string(a.shape()), to_string(b.shape())));
  double worst = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    double x = a.at(i), y = b.at(i);
    if (std::isnan(x) || std::isnan(y)) {
      if (std::isnan(x) != std::isnan(y)) return std::nan("");
      continue;
    }
    if (std::isinf(x) || std::isinf(y)) {
      if (x != y) return std::nan("");
      continue;
    }
    worst = std::max(worst, std::abs(x - y));
  }
  return worst;
}

}  // namespace rnnc
