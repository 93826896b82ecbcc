// Tensor: a dense row-major array on the host with a dtype and a static shape.
// Copies share storage (like torch.Tensor); clone() makes an independent copy.
#pragma once
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "rnnc/dtype.h"
#include "rnnc/shape.h"

namespace rnnc {

class Tensor {
 public:
  Tensor() = default;
  Tensor(DType dtype, Shape shape);  // zero-filled

  static Tensor zeros(const Shape& shape, DType dtype = DType::f32);
  // Uninitialised (for results that are about to be overwritten).
  static Tensor empty(const Shape& shape, DType dtype = DType::f32);
  // A tensor over memory owned by someone else, who keeps it alive (the executor's arena).
  static Tensor wrap(void* data, const Shape& shape, DType dtype);
  static Tensor full(const Shape& shape, double value, DType dtype = DType::f32);
  static Tensor scalar(double value, DType dtype = DType::f32);
  // Values in row-major order; their count must equal the shape's element count.
  static Tensor from(const std::vector<double>& values, const Shape& shape, DType dtype = DType::f32);
  static Tensor uniform(const Shape& shape, double lo, double hi, std::mt19937_64& rng, DType dtype = DType::f32);
  static Tensor normal(const Shape& shape, double mean, double stddev, std::mt19937_64& rng, DType dtype = DType::f32);

  bool defined() const { return storage_ != nullptr; }
  // Whether this handle is the only one on its storage (the executor recycles such outputs).
  bool sole_owner() const { return storage_.use_count() == 1; }
  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  int rank() const { return static_cast<int>(shape_.size()); }
  int64_t numel() const { return numel_; }
  std::size_t nbytes() const { return static_cast<std::size_t>(numel_) * size_of(dtype_); }

  // Typed access; throws when T does not match the dtype.
  template <class T> T* data();
  template <class T> const T* data() const;
  void* raw() { return storage_.get(); }
  const void* raw() const { return storage_.get(); }

  // Element i (row-major) as double, whatever the dtype.
  double at(int64_t i) const;
  void set(int64_t i, double v);
  double item() const;  // the single element of a one-element tensor
  std::vector<double> values() const;

  Tensor to(DType dtype) const;  // converted copy (or *this when already that dtype)
  Tensor clone() const;
  Tensor reshaped(const Shape& shape) const;  // shares storage

  std::string str(int max_elements = 64) const;

 private:
  Tensor(DType dtype, Shape shape, bool zero);

  DType dtype_ = DType::f32;
  Shape shape_;
  int64_t numel_ = 0;
  std::shared_ptr<std::byte[]> storage_;
};

// Largest |a - b| over all elements (shapes must match); NaN when positions of NaN differ.
double max_abs_diff(const Tensor& a, const Tensor& b);

// The type of a tensor (a function's input, a program's output): shape, dtype, optional name.
struct Spec {
  Shape shape{};
  DType dtype = DType::f32;
  std::string name{};
};
inline Spec spec_of(const Tensor& t, std::string name = "") { return Spec{t.shape(), t.dtype(), std::move(name)}; }

}  // namespace rnnc
